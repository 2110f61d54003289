//! Erasure and retention on PostgreSQL: the use case `clicktrail_app::erasure` over the
//! shared rows (`clicktrail_sql::erase`) in one transaction, then a plain `VACUUM` of the tables it changed, so that the old row
//! versions are reclaimed at once rather than at the next autovacuum (what that does and does
//! not remove: docs/privacy.md). Retention settings and pruning.

use clicktrail_domain::erasure::Erased;
use clicktrail_domain::retention::{Pruned, Retention};
use clicktrail_sql::{erase as rows, Sql};
use clicktrail_store::EraseIn;

use crate::db::Pg;
use crate::ops::exec;
use crate::{Fail, PgStore};

/// The tables an erasure may change (vacuumed after it commits).
const TOUCHED: &str =
    "leads, customer_links, conversions, cids, clicks, external_links, stripe_links, events, outbox";

pub(crate) async fn erase(store: &PgStore, e: &EraseIn) -> Result<Erased, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    // one erasure at a time per installation: two erasures of linked people never interleave
    exec(&tx, "SELECT pg_advisory_xact_lock(7665421)", &[]).await?;
    let out = clicktrail_app::erasure::erase(&mut Sql(Pg(&tx)), e).await?;
    tx.commit().await?;
    Ok(out)
}

/// `VACUUM` of the tables an erasure changes (outside any transaction).
pub(crate) async fn vacuum(store: &PgStore) -> Result<(), Fail> {
    let client = store.pool().get().await?;
    client.batch_execute(&format!("VACUUM {TOUCHED}")).await?;
    Ok(())
}

// ---------------------------------------------------------------- retention

pub(crate) async fn set_retention(
    store: &PgStore,
    tenant: &str,
    r: &Retention,
    now: i64,
) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    rows::set_retention(&Pg(&tx), tenant, r, now).await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn retention(store: &PgStore, tenant: &str) -> Result<Retention, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = rows::retention(&Pg(&tx), tenant).await?;
    tx.commit().await?;
    Ok(out)
}

/// One pass over every tenant with a setting (domain `Retention::cutoffs`), one transaction.
pub(crate) async fn prune(store: &PgStore, now: i64) -> Result<Pruned, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = rows::prune(&Pg(&tx), now).await?;
    tx.commit().await?;
    Ok(out)
}
