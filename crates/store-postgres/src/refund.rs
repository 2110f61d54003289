//! Refunds (the use case `clicktrail_app::refund` over this backend's rows) and operator
//! status changes on PostgreSQL. The sale's row is locked (`SELECT ... FOR UPDATE`) before
//! anything is read, so two refunds of one sale (or a refund and a decline) from two
//! collectors run one after the other: both cannot pass the "left" check, and the cumulative
//! reversal is computed on what the other committed. The refund id is checked after the lock
//! and is unique in the table: a retry racing its original is answered as before, another
//! body is a 409.

use clicktrail_domain::conversion::Status;
use clicktrail_sql::Sql;
use clicktrail_store::{ImportItem, ImportItemRow, RefundIn, RefundOut, StatusOut, StoreError};

use crate::db::Pg;
use crate::ops::Tx;
use crate::{Fail, PgStore};

/// A refund inside an open transaction: the use case `clicktrail_app::refund` over this
/// transaction's rows.
async fn refund_body(tx: &Tx<'_>, r: &RefundIn) -> Result<RefundOut, Fail> {
    clicktrail_app::refund::refund(&mut Sql(Pg(tx)), r).await
}

pub(crate) async fn refund(store: &PgStore, r: &RefundIn) -> Result<RefundOut, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = refund_body(&tx, r).await?;
    tx.commit().await?;
    Ok(out)
}

pub(crate) async fn set_status(
    store: &PgStore,
    tenant: &str,
    id: &str,
    to: Status,
    now: i64,
) -> Result<StatusOut, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = set_status_body(&tx, tenant, id, to, now).await?;
    tx.commit().await?;
    Ok(out)
}

/// A status change inside an open transaction: the use case `clicktrail_app::status` over
/// this transaction's rows (the conversion's row is locked first).
pub(crate) async fn set_status_body(
    tx: &Tx<'_>,
    tenant: &str,
    id: &str,
    to: Status,
    now: i64,
) -> Result<StatusOut, Fail> {
    clicktrail_app::status::set_status(&mut Sql(Pg(tx)), tenant, id, to, now).await
}

/// Sales and refunds of one file in one transaction: every row or none.
pub(crate) async fn import_items(
    store: &PgStore,
    rows: &[ImportItemRow],
) -> Result<Result<usize, Vec<(u64, String)>>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let mut errors = Vec::new();
    for row in rows {
        let r = match &row.item {
            ImportItem::Sale(s) => crate::ops::sale_body(&tx, s).await.map(|_| ()),
            ImportItem::Refund(r) => refund_body(&tx, r).await.map(|_| ()),
        };
        match r {
            Ok(()) => {}
            Err(Fail::Store(StoreError::Internal(m))) => return Err(StoreError::Internal(m).into()),
            Err(Fail::Store(other)) => errors.push((row.line, other.to_string())),
            Err(db) => return Err(db),
        }
    }
    if errors.is_empty() {
        tx.commit().await?;
        Ok(Ok(rows.len()))
    } else {
        tx.rollback().await?;
        Ok(Err(errors))
    }
}
