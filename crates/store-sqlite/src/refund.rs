//! Refunds and operator status changes: read what the domain needs about a sale,
//! ask `clicktrail_domain::refund` / `conversion::status_change`, append the reversal. They run
//! on the writer thread, so two refunds of one sale never interleave.

use clicktrail_app::run_ready;
use clicktrail_domain::conversion::Status;
use clicktrail_sql::Sql;
use clicktrail_store::{
    ImportItem, ImportItemRow, RefundIn, RefundOut, StatusOut, StoreError, StoreResult,
};
use rusqlite::Connection;

use crate::db::Lite;

/// A refund: the use case `clicktrail_app::refund` over this connection's rows, run to
/// completion on the writer thread.
pub(crate) fn refund(conn: &Connection, r: &RefundIn) -> StoreResult<RefundOut> {
    run_ready(clicktrail_app::refund::refund(&mut Sql(Lite(conn)), r))
}

/// A status change: the use case `clicktrail_app::status` over this connection's rows.
pub(crate) fn set_status(
    conn: &Connection,
    tenant: &str,
    id: &str,
    to: Status,
    now: i64,
) -> StoreResult<StatusOut> {
    run_ready(clicktrail_app::status::set_status(
        &mut Sql(Lite(conn)),
        tenant,
        id,
        to,
        now,
    ))
}

/// Sales and refunds of one file: every row or none (a bad row fails the job, whose savepoint
/// is rolled back).
pub(crate) fn import_items(conn: &Connection, rows: &[ImportItemRow]) -> StoreResult<usize> {
    let mut errors = Vec::new();
    for row in rows {
        let r = match &row.item {
            ImportItem::Sale(s) => crate::ops::sale(conn, s).map(|_| ()),
            ImportItem::Refund(r) => refund(conn, r).map(|_| ()),
        };
        match r {
            Ok(()) => {}
            Err(StoreError::Internal(m)) => return Err(StoreError::Internal(m)),
            Err(other) => errors.push((row.line, other.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(rows.len())
    } else {
        Err(StoreError::Rows(errors))
    }
}
