//! The catalog on PostgreSQL: the version collectors poll (one statement, no transaction) and
//! the snapshot they serve from, read in one read-only repeatable-read transaction. Changes run
//! the shared use case from the `Store` impl, serialized by the lock of the version row.

use clicktrail_domain::catalog::Catalog;
use tokio_postgres::IsolationLevel;

use crate::db::Pg;
use crate::{Fail, PgStore};

/// Polled by every collector: one statement on a pooled connection, no transaction around it.
pub(crate) async fn version(store: &PgStore) -> Result<i64, Fail> {
    let client = store.pool().get().await?;
    let st = client
        .prepare_cached(clicktrail_sql::catalog::VERSION)
        .await?;
    Ok(client.query_one(&st, &[]).await?.try_get(0)?)
}

pub(crate) async fn load(store: &PgStore) -> Result<Catalog, Fail> {
    let mut client = store.pool().get().await?;
    // one snapshot: the version and the rows it describes
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let snapshot = clicktrail_sql::catalog::snapshot(&Pg(&tx)).await?;
    tx.commit().await?;
    Ok(clicktrail_app::snapshot::catalog(snapshot)?)
}
