//! A file's sales and refunds (the CSV import) in one transaction: every row or none. Single
//! refunds and status changes run the shared use cases from the `Store` impl, each in its own
//! transaction; the sale's row is locked (`FOR UPDATE`) before anything is read, so two
//! collectors refunding one sale run one after the other.

use clicktrail_sql::Sql;
use clicktrail_store::{ImportItem, ImportItemRow, StoreError};

use crate::db::Pg;
use crate::{Fail, PgStore};

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
            ImportItem::Sale(s) => clicktrail_app::sale::sale(&mut Sql(Pg(&tx)), s)
                .await
                .map(|_| ()),
            ImportItem::Refund(r) => clicktrail_app::refund::refund(&mut Sql(Pg(&tx)), r)
                .await
                .map(|_| ()),
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
