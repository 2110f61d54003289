//! Refunds kept until their payment arrives: the use case `clicktrail_app::pending` over the
//! shared rows in one transaction (an advisory lock on the tenant and transaction id
//! serializes keeping and applying across collectors).

use clicktrail_sql::Sql;
use clicktrail_store::{PendingApplied, RefundIn, RefundOrKept};

use crate::db::Pg;
use crate::{Fail, PgStore};

pub(crate) async fn refund_or_keep(store: &PgStore, r: &RefundIn) -> Result<RefundOrKept, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = clicktrail_app::pending::refund_or_keep(&mut Sql(Pg(&tx)), r).await?;
    tx.commit().await?;
    Ok(out)
}

pub(crate) async fn apply_kept(
    store: &PgStore,
    tenant: &str,
    transaction_id: &str,
    aliases: &[String],
    now: i64,
) -> Result<PendingApplied, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = clicktrail_app::pending::apply_kept(
        &mut Sql(Pg(&tx)),
        tenant,
        transaction_id,
        aliases,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}
