//! After an erasure: the writer connection runs with `secure_delete` on (freed cells and pages
//! are overwritten with zeros), and once the erasure commits, [`empty_wal`] runs a `TRUNCATE`
//! checkpoint so that the log, which still holds the pages as they were before, is emptied
//! before the call returns. The erasure itself is the shared use case `clicktrail_app::erasure`.

use std::time::Duration;

use clicktrail_store::{StoreError, StoreResult};
use rusqlite::Connection;

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
