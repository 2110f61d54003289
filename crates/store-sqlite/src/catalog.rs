//! The catalog on SQLite: a change (admin, the configuration file's apply) runs the shared
//! row operations (`clicktrail_sql::catalog`) on the single writer inside one job; the
//! snapshot the collectors serve from is read in one read transaction.

use clicktrail_app::run_ready;
use clicktrail_domain::catalog::Catalog;
use clicktrail_sql::Sql;
use clicktrail_store::{ChangeIn, StoreResult, TenantSpec};
use rusqlite::Connection;

use crate::db::Lite;

pub(crate) fn apply(conn: &Connection, specs: &[TenantSpec], now: i64) -> StoreResult<()> {
    run_ready(clicktrail_app::catalog::apply(
        &mut Sql(Lite(conn)),
        specs,
        now,
    ))
}

pub(crate) fn change(conn: &Connection, c: &ChangeIn) -> StoreResult<()> {
    run_ready(clicktrail_app::catalog::change(&mut Sql(Lite(conn)), c))
}

pub(crate) fn version(conn: &Connection) -> StoreResult<i64> {
    run_ready(clicktrail_sql::catalog::version(&Lite(conn)))
}

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
