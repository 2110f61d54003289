//! The admin API's tenant-scoped listings and audit lines on SQLite: the shared statements
//! (`clicktrail_sql::admin`) on the reader connection, audit lines on the writer's.

use clicktrail_app::run_ready;
use clicktrail_sql::{admin, Sql};
use clicktrail_store::{
    AffiliateRow, AuditIn, AuditRow, DiagnosticRow, EventFilter, EventRow, KeyRow, StoreResult,
};
use rusqlite::Connection;

use crate::db::Lite;

pub(crate) fn affiliates(conn: &Connection, tenant: &str) -> StoreResult<Vec<AffiliateRow>> {
    run_ready(admin::affiliates(&Lite(conn), tenant))
}

pub(crate) fn keys(conn: &Connection, tenant: &str) -> StoreResult<Vec<KeyRow>> {
    run_ready(admin::keys(&Lite(conn), tenant))
}

pub(crate) fn diagnostics(conn: &Connection, f: &EventFilter) -> StoreResult<Vec<DiagnosticRow>> {
    run_ready(admin::diagnostics(&Lite(conn), f))
}

pub(crate) fn diagnostics_count(conn: &Connection) -> StoreResult<i64> {
    run_ready(admin::diagnostics_count(&Lite(conn)))
}

pub(crate) fn recent_events(conn: &Connection, f: &EventFilter) -> StoreResult<Vec<EventRow>> {
    run_ready(clicktrail_app::admin::recent_events(
        &mut Sql(Lite(conn)),
        f,
    ))
}

pub(crate) fn audit(conn: &Connection, a: &AuditIn) -> StoreResult<()> {
    run_ready(admin::audit(&Lite(conn), a))
}

pub(crate) fn audit_log(
    conn: &Connection,
    tenant: &str,
    limit: i64,
    offset: i64,
) -> StoreResult<Vec<AuditRow>> {
    run_ready(admin::audit_log(&Lite(conn), tenant, limit, offset))
}
