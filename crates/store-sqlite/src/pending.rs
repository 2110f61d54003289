//! Refunds kept until their payment arrives: the use case `clicktrail_app::pending` over the
//! shared rows on the writer's connection (the single writer serializes keeping and applying).

use clicktrail_app::run_ready;
use clicktrail_sql::Sql;
use clicktrail_store::{PendingApplied, RefundIn, RefundOrKept, StoreResult};
use rusqlite::Connection;

use crate::db::Lite;

pub(crate) fn refund_or_keep(conn: &Connection, r: &RefundIn) -> StoreResult<RefundOrKept> {
    run_ready(clicktrail_app::pending::refund_or_keep(
        &mut Sql(Lite(conn)),
        r,
    ))
}

pub(crate) fn apply_kept(
    conn: &Connection,
    tenant: &str,
    transaction_id: &str,
    aliases: &[String],
    now: i64,
) -> StoreResult<PendingApplied> {
    run_ready(clicktrail_app::pending::apply_kept(
        &mut Sql(Lite(conn)),
        tenant,
        transaction_id,
        aliases,
        now,
    ))
}
