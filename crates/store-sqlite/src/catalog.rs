//! The catalog snapshot the collectors serve from, read in one read transaction (the shared
//! statements of `clicktrail_sql::catalog`). Changes run the shared use case from the `Store`
//! impl on the single writer.

use clicktrail_app::run_ready;
use clicktrail_domain::catalog::Catalog;
use clicktrail_store::StoreResult;
use rusqlite::Connection;

use crate::db::Lite;

/// One read transaction (unless the writer's batch is one already): the version and the
/// rows it describes.
pub(crate) fn load(conn: &Connection) -> StoreResult<Catalog> {
    let own = conn.is_autocommit();
    if own {
        conn.execute_batch("BEGIN")?;
    }
    let s = run_ready(clicktrail_sql::catalog::snapshot(&Lite(conn)));
    if own {
        conn.execute_batch("COMMIT")?;
    }
    clicktrail_app::snapshot::catalog(s?)
}
