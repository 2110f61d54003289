//! An erasure on PostgreSQL: the shared use case `clicktrail_app::erasure` in one transaction
//! behind one advisory lock (erasures never interleave), then a plain `VACUUM` of the tables it
//! changed, so that the old row versions are reclaimed at once rather than at the next
//! autovacuum (what that does and does not remove: docs/privacy.md).

use clicktrail_domain::erasure::Erased;
use clicktrail_sql::Sql;
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
