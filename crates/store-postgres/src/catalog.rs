//! The catalog on PostgreSQL: a change (admin, the configuration file's apply) runs the
//! shared row operations (`clicktrail_sql::catalog`) in one transaction, serialized by the
//! lock of the version row collectors poll; the snapshot they serve from is read in one
//! read-only repeatable-read transaction.

use clicktrail_domain::catalog::Catalog;
use clicktrail_sql::Sql;
use clicktrail_store::{ChangeIn, TenantSpec};
use tokio_postgres::IsolationLevel;

use crate::db::Pg;
use crate::{Fail, PgStore};

pub(crate) async fn apply(store: &PgStore, specs: &[TenantSpec], now: i64) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    clicktrail_app::catalog::apply(&mut Sql(Pg(&tx)), specs, now).await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn change(store: &PgStore, c: &ChangeIn) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    clicktrail_app::catalog::change(&mut Sql(Pg(&tx)), c).await?;
    tx.commit().await?;
    Ok(())
}

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
