//! Payouts on PostgreSQL: the use case `clicktrail_app::payout` in one transaction; payouts of
//! one affiliate are serialized by an advisory transaction lock, and `payout_lines.entry_id` is
//! the primary key: should two collectors still race for one entry, the payout is recomputed
//! from what the other committed. The report's period entries are read here too.

use clicktrail_app::payout::LedgerRow;
use clicktrail_sql::{payouts as rows, Db, Sql};
use clicktrail_store::{PayIn, PayoutOut};

use crate::db::Pg;
use crate::ops::Tx;
use crate::{Fail, PgStore};

/// The entries of the conversions created in `[from, to)` (the report's `ledger` object).
pub(crate) async fn period_entries(
    tx: &Tx<'_>,
    tenant: &str,
    from: i64,
    to: i64,
) -> Result<Vec<LedgerRow>, Fail> {
    rows::period_entries(&Pg(tx), tenant, from, to).await
}

async fn pay_once(store: &PgStore, p: &PayIn) -> Result<PayoutOut, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = clicktrail_app::payout::pay(&mut Sql(Pg(&tx)), p).await?;
    tx.commit().await?;
    Ok(out)
}

pub(crate) async fn pay(store: &PgStore, p: &PayIn) -> Result<PayoutOut, Fail> {
    let mut attempt = 0;
    loop {
        match pay_once(store, p).await {
            // a concurrent payout took an entry first: recompute
            Err(e) if Pg::is_unique_violation(&e) && attempt < 3 => attempt += 1,
            other => return other,
        }
    }
}
