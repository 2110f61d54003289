//! The affiliate portal on SQLite: the use cases `clicktrail_app::portal` over the shared
//! rows (`clicktrail_sql::portal`); links change on the single writer, and the partial unique
//! index keeps one live link per affiliate.

use clicktrail_app::run_ready;
use clicktrail_sql::Sql;
use clicktrail_store::{PortalActivity, StoreResult};
use rusqlite::Connection;

use crate::db::Lite;

pub(crate) fn link(
    conn: &Connection,
    tenant: &str,
    affiliate: &str,
    token_hash: &str,
    now: i64,
) -> StoreResult<()> {
    let rows = &mut Sql(Lite(conn));
    run_ready(clicktrail_app::portal::link(
        rows, tenant, affiliate, token_hash, now,
    ))
}

pub(crate) fn revoke(
    conn: &Connection,
    tenant: &str,
    affiliate: &str,
    now: i64,
) -> StoreResult<bool> {
    let rows = &mut Sql(Lite(conn));
    run_ready(clicktrail_app::portal::revoke(rows, tenant, affiliate, now))
}

pub(crate) fn lookup(conn: &Connection, token_hash: &str) -> StoreResult<Option<(String, String)>> {
    run_ready(clicktrail_sql::portal::lookup(&Lite(conn), token_hash))
}

pub(crate) fn activity(
    conn: &Connection,
    tenant: &str,
    affiliate: &str,
    limit: i64,
) -> StoreResult<PortalActivity> {
    let rows = &mut Sql(Lite(conn));
    run_ready(clicktrail_app::portal::activity(
        rows, tenant, affiliate, limit,
    ))
}
