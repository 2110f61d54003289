//! Erasure and retention on SQLite: the use case `clicktrail_app::erasure` over the shared
//! rows (`clicktrail_sql::erase`) on this connection, and the retention settings and pruning.
//! The writer connection runs with `secure_delete` on (set at open: freed cells and pages are overwritten with zeros, so a
//! removed value is not left in a page's free space), and after an erasure commits,
//! [`empty_wal`] runs a `TRUNCATE` checkpoint so that the log, which still holds the pages as
//! they were before, is emptied before the call returns.

use std::time::Duration;

use clicktrail_app::run_ready;
use clicktrail_domain::erasure::Erased;
use clicktrail_domain::retention::{Pruned, Retention};
use clicktrail_sql::{erase as rows, Sql};
use clicktrail_store::{EraseIn, StoreError, StoreResult};
use rusqlite::Connection;

use crate::db::Lite;

/// The erasure, run to completion on the writer thread (inside its transaction).
pub(crate) fn erase(conn: &Connection, e: &EraseIn) -> StoreResult<Erased> {
    run_ready(clicktrail_app::erasure::erase(&mut Sql(Lite(conn)), e))
}

/// Empties the WAL once the erasure has committed: a `TRUNCATE` checkpoint on a connection
/// of its own, waiting for readers and the writer's next batch. SQLite answers "busy" at once
/// (without its busy handler) while another connection — the collector's background
/// checkpoint, a reader on an older snapshot — holds what the checkpoint needs, so it is
/// tried again after a pause, for up to about half a minute.
pub(crate) fn empty_wal(path: &str) -> StoreResult<()> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    for attempt in 0..120 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(250));
        }
        let (busy, _, _): (i64, i64, i64) =
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        if busy == 0 {
            return Ok(());
        }
    }
    Err(StoreError::Internal(
        "the erasure is committed, but readers kept the WAL from being emptied; it is emptied at the next checkpoint".into(),
    ))
}

// ---------------------------------------------------------------- retention

pub(crate) fn set_retention(
    conn: &Connection,
    tenant: &str,
    r: &Retention,
    now: i64,
) -> StoreResult<()> {
    run_ready(rows::set_retention(&Lite(conn), tenant, r, now))
}

pub(crate) fn retention(conn: &Connection, tenant: &str) -> StoreResult<Retention> {
    run_ready(rows::retention(&Lite(conn), tenant))
}

/// One pass over every tenant with a setting (domain `Retention::cutoffs`).
pub(crate) fn prune(conn: &Connection, now: i64) -> StoreResult<Pruned> {
    run_ready(rows::prune(&Lite(conn), now))
}
