//! The affiliate portal on PostgreSQL: the use cases `clicktrail_app::portal` over the shared
//! rows (`clicktrail_sql::portal`), in one transaction (link changes of one affiliate are
//! serialized by an advisory lock).

use clicktrail_sql::Sql;
use clicktrail_store::PortalActivity;

use crate::db::Pg;
use crate::{Fail, PgStore};

pub(crate) async fn link(
    store: &PgStore,
    tenant: &str,
    affiliate: &str,
    token_hash: &str,
    now: i64,
) -> Result<(), Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    clicktrail_app::portal::link(&mut Sql(Pg(&tx)), tenant, affiliate, token_hash, now).await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn revoke(
    store: &PgStore,
    tenant: &str,
    affiliate: &str,
    now: i64,
) -> Result<bool, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = clicktrail_app::portal::revoke(&mut Sql(Pg(&tx)), tenant, affiliate, now).await?;
    tx.commit().await?;
    Ok(out)
}

pub(crate) async fn lookup(
    store: &PgStore,
    token_hash: &str,
) -> Result<Option<(String, String)>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = clicktrail_sql::portal::lookup(&Pg(&tx), token_hash).await?;
    tx.commit().await?;
    Ok(out)
}

pub(crate) async fn activity(
    store: &PgStore,
    tenant: &str,
    affiliate: &str,
    limit: i64,
) -> Result<PortalActivity, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = clicktrail_app::portal::activity(&mut Sql(Pg(&tx)), tenant, affiliate, limit).await?;
    tx.commit().await?;
    Ok(out)
}
