//! Leads and links (`/tracking/lead`, `/api/v1/track/lead`, `/tracking/external-cid`): a
//! visitor named by a CID, a customer key or a revenue origin's external CID. An unknown CID
//! is a 404; a CID whose window has closed links the customer without crediting anyone.

use clicktrail_domain::attribution::attributes;
use clicktrail_store::{unresolved_error, ExternalLinkIn, LeadIn, OkOut, Target};

use crate::events::{once, Event};
use crate::ops::{NewLead, OpsRows};

/// The lead use case: one lead per customer key (else per CID); the customer's link is
/// kept or set.
pub async fn lead<R: OpsRows>(rows: &mut R, l: &LeadIn) -> Result<OkOut, R::Error> {
    let e = Event {
        kind: "lead",
        tenant: &l.tenant,
        id: l.event_id.as_deref(),
        now: l.now,
    };
    once(rows, e, async |rows: &mut R| {
        let mut affiliate = None;
        let mut cid = l.cid.as_ref().map(|c| c.as_str().to_string());
        if let Some(c) = &l.cid {
            let Some(rec) = rows.cid(&l.tenant, c.as_str()).await? else {
                return Err(unresolved_error(&Target::Cid(c.clone())).into());
            };
            if attributes(rec.expires_at, l.now) {
                affiliate = Some(rec.affiliate);
            }
        } else if let Some(k) = &l.customer_key {
            // no CID given: an existing link keeps its attribution
            let linked = Target::CustomerKey(k.clone());
            if let Some(r) = rows.resolve(&l.tenant, &linked).await? {
                if attributes(r.expires_at, l.now) {
                    affiliate = Some(r.affiliate);
                }
                cid = Some(r.cid.into_string());
            }
        }
        if let (Some(k), Some(c)) = (&l.customer_key, &cid) {
            rows.link_customer(&l.tenant, k, c, l.now).await?;
        }
        let row = NewLead {
            tenant: &l.tenant,
            customer_key: l.customer_key.as_deref(),
            cid: cid.as_deref(),
            affiliate: affiliate.as_deref(),
            email: l.email.as_deref(),
            source: l.source,
            now: l.now,
        };
        rows.upsert_lead(&row).await?;
        Ok(OkOut { ok: true })
    })
    .await
}

/// Links a revenue origin's external CID to a known CID (its later sales resolve through it).
pub async fn link_external<R: OpsRows>(
    rows: &mut R,
    l: &ExternalLinkIn,
) -> Result<OkOut, R::Error> {
    let e = Event {
        kind: "external_cid",
        tenant: &l.tenant,
        id: l.event_id.as_deref(),
        now: l.now,
    };
    once(rows, e, async |rows: &mut R| {
        if rows.cid(&l.tenant, l.cid.as_str()).await?.is_none() {
            return Err(unresolved_error(&Target::Cid(l.cid.clone())).into());
        }
        rows.link_external(l).await?;
        Ok(OkOut { ok: true })
    })
    .await
}
