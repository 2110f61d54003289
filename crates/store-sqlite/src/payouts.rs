//! Ledger reads and payouts: the use case `clicktrail_app::payout` over the shared rows
//! (`clicktrail_sql::payouts`); a payout and its lines are written in one job of the single
//! writer, and `payout_lines.entry_id` is the primary key, so an entry is never paid twice.

use clicktrail_app::payout::LedgerRow;
use clicktrail_app::run_ready;
use clicktrail_domain::payout::EntryView;
use clicktrail_sql::{payouts as rows, Sql};
use clicktrail_store::{PayIn, PayoutOut, StoreResult};
use rusqlite::Connection;

use crate::db::Lite;

/// Every entry of the tenant that counts, oldest first.
pub(crate) fn entries(conn: &Connection, tenant: &str) -> StoreResult<Vec<EntryView>> {
    run_ready(rows::entries(&Lite(conn), tenant))
}

/// The entries of the conversions created in `[from, to)` (the report's `ledger` object).
pub(crate) fn period_entries(
    conn: &Connection,
    tenant: &str,
    from: i64,
    to: i64,
) -> StoreResult<Vec<LedgerRow>> {
    run_ready(rows::period_entries(&Lite(conn), tenant, from, to))
}

/// A payout, on the writer thread (which serializes payouts).
pub(crate) fn pay(conn: &Connection, p: &PayIn) -> StoreResult<PayoutOut> {
    run_ready(clicktrail_app::payout::pay(&mut Sql(Lite(conn)), p))
}

pub(crate) fn payout(conn: &Connection, tenant: &str, id: i64) -> StoreResult<PayoutOut> {
    run_ready(rows::payout(&Lite(conn), tenant, id))
}
