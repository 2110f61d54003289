//! A file's sales and refunds (the CSV import, `clicktrail_app::import`) in one job of the
//! writer: every row or none (bad rows fail the job, whose savepoint is rolled back). Single
//! refunds and status changes run the shared use cases straight from the `Store` impl.

use clicktrail_app::run_ready;
use clicktrail_sql::Sql;
use clicktrail_store::{ImportItemRow, StoreError, StoreResult};
use rusqlite::Connection;

use crate::db::Lite;

/// Sales and refunds of one file: how many, or the bad rows as a failed job
/// ([`StoreError::Rows`]), so that nothing of the file stays.
pub(crate) fn import_items(conn: &Connection, rows: &[ImportItemRow]) -> StoreResult<usize> {
    run_ready(clicktrail_app::import::import_items(
        &mut Sql(Lite(conn)),
        rows,
    ))?
    .map_err(StoreError::Rows)
}
