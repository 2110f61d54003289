//! The admin API's tenant-scoped listings and audit lines on PostgreSQL: the shared
//! statements (`clicktrail_sql::admin`), each in one pooled transaction.

use clicktrail_sql::{admin, Sql};
use clicktrail_store::{
    AffiliateRow, AuditIn, AuditRow, DiagnosticRow, EventFilter, EventRow, KeyRow,
};

use crate::db::Pg;
use crate::{Fail, PgStore};

/// `$body` run on `$db` (a `Pg`) in one transaction from the pool.
macro_rules! in_tx {
    ($store:expr, |$db:ident| $body:expr) => {{
        let mut client = $store.pool().get().await?;
        let tx = client.transaction().await?;
        let $db = Pg(&tx);
        let out = $body.await?;
        tx.commit().await?;
        Ok(out)
    }};
}

pub(crate) async fn affiliates(store: &PgStore, tenant: &str) -> Result<Vec<AffiliateRow>, Fail> {
    in_tx!(store, |db| admin::affiliates(&db, tenant))
}

pub(crate) async fn keys(store: &PgStore, tenant: &str) -> Result<Vec<KeyRow>, Fail> {
    in_tx!(store, |db| admin::keys(&db, tenant))
}

pub(crate) async fn diagnostics(
    store: &PgStore,
    f: &EventFilter,
) -> Result<Vec<DiagnosticRow>, Fail> {
    in_tx!(store, |db| admin::diagnostics(&db, f))
}

pub(crate) async fn diagnostics_count(store: &PgStore) -> Result<i64, Fail> {
    in_tx!(store, |db| admin::diagnostics_count(&db))
}

pub(crate) async fn recent_events(store: &PgStore, f: &EventFilter) -> Result<Vec<EventRow>, Fail> {
    in_tx!(store, |db| clicktrail_app::admin::recent_events(
        &mut Sql(db),
        f
    ))
}

pub(crate) async fn audit(store: &PgStore, a: &AuditIn) -> Result<(), Fail> {
    in_tx!(store, |db| admin::audit(&db, a))
}

pub(crate) async fn audit_log(
    store: &PgStore,
    tenant: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<AuditRow>, Fail> {
    in_tx!(store, |db| admin::audit_log(&db, tenant, limit, offset))
}
