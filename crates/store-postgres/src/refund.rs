//! A file's sales and refunds (the CSV import, `clicktrail_app::import`) in one transaction:
//! every row or none. Single refunds and status changes run the shared use cases from the
//! `Store` impl, each in its own transaction; the sale's row is locked (`FOR UPDATE`) before
//! anything is read, so two collectors refunding one sale run one after the other.

use clicktrail_app::import::RowAnswer;
use clicktrail_sql::Sql;
use clicktrail_store::{ImportItemRow, StoreError};

use crate::db::Pg;
use crate::{Fail, PgStore};

/// A store answer is a row's (listed); a database error or an internal one aborts the import.
impl RowAnswer for Fail {
    fn into_answer(self) -> Result<StoreError, Self> {
        match self {
            Fail::Store(e) => e.into_answer().map_err(Fail::Store),
            db => Err(db),
        }
    }
}

/// Sales and refunds of one file in one transaction: committed when no row was bad, else
/// rolled back.
pub(crate) async fn import_items(
    store: &PgStore,
    rows: &[ImportItemRow],
) -> Result<Result<usize, Vec<(u64, String)>>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = clicktrail_app::import::import_items(&mut Sql(Pg(&tx)), rows).await?;
    if out.is_ok() {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(out)
}
