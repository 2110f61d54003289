//! The report on PostgreSQL: the shared grouped rows (`clicktrail_sql::report`) and the
//! period's ledger entries, pipelined in one read-only snapshot; what counts is decided by
//! `clicktrail_app::report`.

use clicktrail_domain::report::ReportRows;
use tokio_postgres::IsolationLevel;

use crate::db::Pg;
use crate::{Fail, PgStore};

pub(crate) async fn rows(
    store: &PgStore,
    tenant: &str,
    from: i64,
    to: i64,
) -> Result<ReportRows, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let db = Pg(&tx);
    let (mut s, ledger) = tokio::try_join!(
        clicktrail_sql::report::snapshot(&db, tenant, from, to),
        crate::payouts::period_entries(&tx, tenant, from, to),
    )?;
    tx.commit().await?;
    s.ledger = ledger;
    Ok(clicktrail_app::report::rows(s)?)
}
