//! A file's sales and refunds (the CSV import) in one job of the writer: every row or none (a
//! bad row fails the job, whose savepoint is rolled back). Single refunds and status changes
//! run the shared use cases straight from the `Store` impl.

use clicktrail_app::run_ready;
use clicktrail_sql::Sql;
use clicktrail_store::{ImportItem, ImportItemRow, StoreError, StoreResult};
use rusqlite::Connection;

use crate::db::Lite;

/// Sales and refunds of one file: every row or none (a bad row fails the job, whose savepoint
/// is rolled back).
pub(crate) fn import_items(conn: &Connection, rows: &[ImportItemRow]) -> StoreResult<usize> {
    let mut errors = Vec::new();
    for row in rows {
        let r = match &row.item {
            ImportItem::Sale(s) => {
                run_ready(clicktrail_app::sale::sale(&mut Sql(Lite(conn)), s)).map(|_| ())
            }
            ImportItem::Refund(r) => {
                run_ready(clicktrail_app::refund::refund(&mut Sql(Lite(conn)), r)).map(|_| ())
            }
        };
        match r {
            Ok(()) => {}
            Err(StoreError::Internal(m)) => return Err(StoreError::Internal(m)),
            Err(other) => errors.push((row.line, other.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(rows.len())
    } else {
        Err(StoreError::Rows(errors))
    }
}
