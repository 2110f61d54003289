//! The tracker's diagnostics (`/tracking/diagnostic/v1`): stored once per event id, the
//! newest [`DIAGNOSTICS_CAP`] per tenant kept (an unauthenticated endpoint cannot fill the
//! disk).

use clicktrail_store::DiagnosticIn;

use crate::events::{once, Event};
use crate::ops::OpsRows;

/// Diagnostics kept per tenant (made-up tenant ids share the tenantless pool).
pub const DIAGNOSTICS_CAP: i64 = 10_000;

pub async fn diagnostic<R: OpsRows>(rows: &mut R, d: &DiagnosticIn) -> Result<(), R::Error> {
    let e = Event {
        kind: "diagnostic",
        tenant: d.tenant.as_deref().unwrap_or_default(),
        id: d.event_id.as_deref(),
        now: d.now,
    };
    once(rows, e, async |rows: &mut R| {
        rows.insert_diagnostic(d, DIAGNOSTICS_CAP).await
    })
    .await
}
