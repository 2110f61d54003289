//! Keeping the write-ahead log bounded.
//!
//! A background thread copies committed WAL frames into the database (`PASSIVE` checkpoints:
//! they never block the writer). That alone never lets the WAL *restart*: SQLite rewinds to the
//! start of the file only when a write transaction begins after a checkpoint has copied every
//! frame, and under continuous writes the writer always appends first. So the writer itself,
//! between two group commits, runs a `RESTART` checkpoint once the log holds more than
//! [`WalPolicy::truncate_bytes`] (SQLite's WAL hook tells it the log's length after every
//! commit): the background thread, which checkpoints back to back once the log passes half the
//! bound, has copied most frames by then, and pauses past the bound so that the writer gets the
//! checkpoint lock at once (measured: without that pause the rewind was held up so often that
//! the WAL reached 275 MB); the next commit writes from the start of the file again. The file keeps its
//! size (overwriting it is cheaper than growing it: measured in docs/production.md), and
//! `journal_size_limit` cuts anything beyond the bound at that rewind. A clean shutdown ends
//! with a `TRUNCATE` checkpoint, so a stopped collector leaves an empty WAL.
//!
//! A `RESTART` must wait for readers still looking at old frames (a report, a backup) and for a
//! background checkpoint in progress. The writer waits at most [`WalPolicy::busy_wait`] and then
//! goes on with the next batch, trying again after the next commit, then after a delay that
//! doubles with each failure up to [`WalPolicy::retry_after`]: a long backup lets the WAL grow,
//! it never stalls clicks. [`WalPolicy::warn_bytes`] logs a warning when the file passes it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Weak;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// The checkpoint policy (the defaults are what the collector runs with).
#[derive(Debug, Clone, Copy)]
pub struct WalPolicy {
    /// The writer rewinds the WAL between batches once the log is longer than this.
    pub truncate_bytes: u64,
    /// A warning is logged (at most once a minute) while the file is larger than this.
    pub warn_bytes: u64,
    /// Longest wait of the writer for readers of old frames before it goes on writing.
    pub busy_wait: Duration,
    /// Longest pause between tries while readers keep a checkpoint from finishing.
    pub retry_after: Duration,
    /// Pause between two background `PASSIVE` checkpoints.
    pub passive_every: Duration,
}

impl Default for WalPolicy {
    fn default() -> Self {
        WalPolicy {
            truncate_bytes: 64 << 20,
            warn_bytes: 256 << 20,
            busy_wait: Duration::from_millis(50),
            retry_after: Duration::from_secs(1),
            passive_every: Duration::from_millis(250),
        }
    }
}

impl WalPolicy {
    /// The defaults with the operator's overrides: `CLICKTRAIL_SQLITE_WAL_TRUNCATE_MB` (the
    /// truncate bound in MiB; 0 = the writer never truncates, only background checkpoints run)
    /// and `CLICKTRAIL_SQLITE_WAL_WARN_MB`. For measuring and for unusual disks; the defaults
    /// suit a collector on one machine.
    pub fn from_env() -> WalPolicy {
        let mb = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|v| v.saturating_mul(1 << 20))
        };
        let d = WalPolicy::default();
        WalPolicy {
            truncate_bytes: match mb("CLICKTRAIL_SQLITE_WAL_TRUNCATE_MB") {
                Some(0) => u64::MAX,
                Some(b) => b,
                None => d.truncate_bytes,
            },
            warn_bytes: mb("CLICKTRAIL_SQLITE_WAL_WARN_MB").unwrap_or(d.warn_bytes),
            ..d
        }
    }
}

/// What `/metrics` shows of the WAL.
#[derive(Default)]
pub struct WalStats {
    /// Frames in the log after the last commit (SQLite's WAL hook).
    pub frames: AtomicU64,
    /// Frames in the WAL not yet copied into the database, as the last checkpoint saw them.
    pub frames_behind: AtomicU64,
    /// Checkpoints that rewound the log.
    pub truncations: AtomicU64,
    /// Checkpoints that readers kept from finishing.
    pub truncations_busy: AtomicU64,
    /// The largest WAL file seen by the writer since start, in bytes.
    pub peak_bytes: AtomicU64,
}

/// The writer's side: checks the file after each commit and truncates it when due.
pub(crate) struct WalKeeper {
    path: PathBuf,
    policy: WalPolicy,
    /// Bytes one frame takes in the log (a page and its 24-byte header).
    frame_bytes: u64,
    next_try: Instant,
    /// Checkpoints in a row that could not finish.
    failures: u32,
    last_warning: Option<Instant>,
}

impl WalKeeper {
    pub(crate) fn new(db_path: &str, policy: WalPolicy, page_size: u64) -> WalKeeper {
        WalKeeper {
            path: wal_path(db_path),
            policy,
            frame_bytes: page_size + 24,
            next_try: Instant::now(),
            failures: 0,
            last_warning: None,
        }
    }

    /// Called by the writer thread between two group commits (no transaction open).
    pub(crate) fn after_commit(&mut self, conn: &Connection, stats: &WalStats) {
        let size = wal_bytes(&self.path);
        stats.peak_bytes.fetch_max(size, Ordering::Relaxed);
        if size > self.policy.warn_bytes
            && self
                .last_warning
                .is_none_or(|t| t.elapsed() > Duration::from_secs(60))
        {
            self.last_warning = Some(Instant::now());
            tracing::warn!(
                wal_bytes = size,
                frames_behind = stats.frames_behind.load(Ordering::Relaxed),
                "the SQLite WAL is large: a long read (a report or a backup) keeps it from being checkpointed"
            );
        }
        let log = stats
            .frames
            .load(Ordering::Relaxed)
            .saturating_mul(self.frame_bytes);
        if log <= self.policy.truncate_bytes || Instant::now() < self.next_try {
            return;
        }
        if self.checkpoint(conn, "RESTART", stats) {
            self.failures = 0;
        } else {
            // the first retry at the next commit, then 10 ms, 20 ms, … up to `retry_after`
            let delay = Duration::from_millis(10)
                .saturating_mul(1 << self.failures.min(16))
                .min(self.policy.retry_after);
            self.next_try = Instant::now()
                + if self.failures == 0 {
                    Duration::ZERO
                } else {
                    delay
                };
            self.failures = self.failures.saturating_add(1);
        }
    }

    /// A `RESTART` or `TRUNCATE` checkpoint, waiting at most `busy_wait` for readers; `true`
    /// when the log was rewound (and, for `TRUNCATE`, the file emptied).
    pub(crate) fn checkpoint(&self, conn: &Connection, mode: &str, stats: &WalStats) -> bool {
        let _ = conn.busy_timeout(self.policy.busy_wait);
        let done = checkpoint(conn, mode, stats);
        let _ = conn.busy_timeout(crate::schema::BUSY_TIMEOUT);
        let counter = if done {
            &stats.truncations
        } else {
            &stats.truncations_busy
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if done {
            stats.frames.store(0, Ordering::Relaxed);
        }
        done
    }
}

/// Runs `PRAGMA wal_checkpoint(MODE)`; `true` when it copied every frame (not busy).
fn checkpoint(conn: &Connection, mode: &str, stats: &WalStats) -> bool {
    let r: rusqlite::Result<(i64, i64, i64)> =
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        });
    match r {
        Ok((busy, log, copied)) => {
            let behind = u64::try_from(log.saturating_sub(copied)).unwrap_or(0);
            stats.frames_behind.store(behind, Ordering::Relaxed);
            busy == 0
        }
        Err(e) => {
            tracing::warn!(error = %e, mode, "WAL checkpoint failed");
            false
        }
    }
}

/// The background thread: `PASSIVE` checkpoints until the store's last handle is dropped.
/// Between half the rewind bound and the bound it checkpoints back to back, so that the writer's
/// rewind finds little left to copy; past the bound it leaves the lock to the writer.
pub(crate) fn passive_loop(
    conn: Connection,
    policy: WalPolicy,
    frame_bytes: u64,
    stats: Weak<WalStats>,
) {
    let mut pause = policy.passive_every;
    let log = |stats: &WalStats| {
        stats
            .frames
            .load(Ordering::Relaxed)
            .saturating_mul(frame_bytes)
    };
    loop {
        std::thread::sleep(pause);
        let Some(stats) = stats.upgrade() else { return };
        // past the bound the writer's rewind is due: leave it the checkpoint lock
        if log(&stats) > policy.truncate_bytes {
            pause = Duration::from_millis(5);
            continue;
        }
        checkpoint(&conn, "PASSIVE", &stats);
        pause = if log(&stats) > policy.truncate_bytes / 2 {
            Duration::from_millis(2)
        } else {
            policy.passive_every
        };
    }
}

/// The WAL file beside the database (`<db>-wal`).
pub(crate) fn wal_path(db_path: &str) -> PathBuf {
    PathBuf::from(format!("{db_path}-wal"))
}

/// The WAL file's size (0 when there is none).
pub(crate) fn wal_bytes(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
