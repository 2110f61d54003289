//! The report on SQLite: the shared grouped rows (`clicktrail_sql::report`) and the period's
//! ledger entries, in one read transaction; what counts is decided by
//! `clicktrail_app::report`.

use clicktrail_app::run_ready;
use clicktrail_domain::report::ReportRows;
use clicktrail_store::StoreResult;
use rusqlite::Connection;

use crate::db::Lite;

pub(crate) fn rows(conn: &Connection, tenant: &str, from: i64, to: i64) -> StoreResult<ReportRows> {
    let own = conn.is_autocommit();
    if own {
        conn.execute_batch("BEGIN")?;
    }
    let s = snapshot(conn, tenant, from, to);
    if own {
        conn.execute_batch("COMMIT")?;
    }
    Ok(clicktrail_app::report::rows(s?)?)
}

fn snapshot(
    conn: &Connection,
    tenant: &str,
    from: i64,
    to: i64,
) -> StoreResult<clicktrail_app::report::ReportSnapshot> {
    let mut s = run_ready(clicktrail_sql::report::snapshot(
        &Lite(conn),
        tenant,
        from,
        to,
    ))?;
    s.ledger = run_ready(clicktrail_sql::payouts::period_entries(
        &Lite(conn),
        tenant,
        from,
        to,
    ))?;
    Ok(s)
}
