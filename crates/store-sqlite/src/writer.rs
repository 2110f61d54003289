//! The single writer: one thread owns the write connection and does **group commit**. It takes
//! every pending job (up to [`MAX_BATCH`]), runs each inside its own SAVEPOINT of one
//! transaction (so one failing job does not undo the others), COMMITs with `synchronous=FULL` in
//! WAL mode (the commit is fsync'd), and only then answers each job. An HTTP answer is therefore
//! never sent before its write is durable.
//!
//! Clicks, the throughput path, run without a SAVEPOINT ([`Atomicity::Transaction`]): a
//! savepoint makes SQLite keep a copy of every page the job first touches (measured: ~20 % of
//! the store's click rate). A click's business answers (replay, reused event id) come before its
//! first write, so a click that fails after writing has hit a storage error or panicked: then the
//! whole open transaction is rolled back and every job in it answered as failed, so no part of
//! a job is ever committed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktrail_domain::dedupe::EVENT_RETENTION_SECS;
use clicktrail_store::{StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::sql_error;
use crate::wal::{WalKeeper, WalStats};

/// Most jobs committed by one transaction.
pub const MAX_BATCH: usize = 1024;

pub(crate) type Reply<T> = oneshot::Sender<StoreResult<T>>;

/// How a job's writes are kept whole.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Atomicity {
    /// In its own SAVEPOINT: a failure undoes this job alone.
    Savepoint,
    /// No savepoint: the job fails only before its first write, or else takes the whole
    /// transaction down with it (see the module doc).
    Transaction,
}

pub(crate) trait Job: Send {
    /// Runs the job; `false` when it may have left partial writes (the transaction must go).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Its write was undone after it ran (another write aborted the whole transaction).
    fn fail(&mut self, message: &str);
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

pub(crate) struct JobImpl<T, F> {
    pub(crate) atomicity: Atomicity,
    pub(crate) f: Option<F>,
    pub(crate) result: Option<StoreResult<T>>,
    pub(crate) reply: Option<Reply<T>>,
}

impl<T, F> JobImpl<T, F> {
    /// A job for `f` and the receiver of its answer.
    pub(crate) fn new(atomicity: Atomicity, f: F) -> (Self, oneshot::Receiver<StoreResult<T>>) {
        let (reply, rx) = oneshot::channel();
        let job = JobImpl {
            atomicity,
            f: Some(f),
            result: None,
            reply: Some(reply),
        };
        (job, rx)
    }
}

impl<T, F> Job for JobImpl<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else { return true };
        // a panicking write is rolled back and answered 500: the writer thread must survive
        // it, or every later write would fail while the process looks healthy
        let guarded = |f: F| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
                .unwrap_or_else(|_| Err(StoreError::Internal("write panicked".into())))
        };
        if self.atomicity == Atomicity::Transaction {
            let r = guarded(f);
            let whole = !matches!(r, Err(StoreError::Internal(_)));
            self.result = Some(r);
            return whole;
        }
        let exec = |sql: &str| {
            conn.prepare_cached(sql)
                .and_then(|mut st| st.execute([]))
                .map(|_| ())
        };
        if let Err(e) = exec("SAVEPOINT job") {
            self.result = Some(Err(sql_error(e)));
            return true;
        }
        let r = guarded(f);
        let end = if r.is_ok() {
            exec("RELEASE job")
        } else {
            exec("ROLLBACK TO job").and_then(|()| exec("RELEASE job"))
        };
        self.result = Some(match end {
            Ok(()) => r,
            Err(e) => Err(sql_error(e)),
        });
        true
    }

    fn fail(&mut self, message: &str) {
        // a job's own error stays its answer
        if !matches!(self.result, Some(Err(_))) {
            self.result = Some(Err(StoreError::Internal(message.into())));
        }
    }

    fn finish(mut self: Box<Self>, committed: Result<(), String>) {
        let result = match committed {
            Ok(()) => self
                .result
                .take()
                .unwrap_or_else(|| Err(StoreError::Internal("job did not run".into()))),
            Err(e) => Err(StoreError::Internal(format!("commit failed: {e}"))),
        };
        if let Some(tx) = self.reply.take() {
            let _ = tx.send(result);
        }
    }
}

/// Group-commit counters: `jobs / commits` is the mean batch size.
#[derive(Default)]
pub struct WriterStats {
    pub commits: AtomicU64,
    pub jobs: AtomicU64,
    pub max_batch: AtomicU64,
}

/// What the writer thread receives.
pub(crate) enum Msg {
    Job(Box<dyn Job>),
    /// Commit what is pending, empty the WAL, answer, and stop (a clean shutdown).
    Close(oneshot::Sender<()>),
}

/// The writer thread: group commits until the channel closes or [`Msg::Close`] arrives.
/// `wal` is `None` for an in-memory database.
pub(crate) fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<Msg>,
    stats: &WriterStats,
    mut wal: Option<(WalKeeper, Arc<WalStats>)>,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    let mut last_prune = Instant::now();
    let mut closing = None;
    while let Some(first) = rx.blocking_recv() {
        match first {
            Msg::Job(j) => batch.push(j),
            Msg::Close(reply) => closing = Some(reply),
        }
        while batch.len() < MAX_BATCH && closing.is_none() {
            match rx.try_recv() {
                Ok(Msg::Job(j)) => batch.push(j),
                Ok(Msg::Close(reply)) => closing = Some(reply),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            if let Some(reply) = closing {
                close(&conn, wal.as_ref(), reply);
                return;
            }
            continue;
        }
        let committed = match conn.execute_batch("BEGIN IMMEDIATE") {
            Err(e) => Err(e.to_string()),
            Ok(()) => {
                // first job of the open transaction
                let mut open = 0;
                for i in 0..batch.len() {
                    let whole = batch[i].run(&conn);
                    if !whole && !conn.is_autocommit() {
                        // a savepoint-free job failed after writing: undo the transaction
                        let _ = conn.execute_batch("ROLLBACK");
                    }
                    if conn.is_autocommit() {
                        // this write's error (disk full, I/O error...) made SQLite roll back the
                        // whole transaction, or it was rolled back just above: the writes before
                        // it are lost, so they are answered as failed, and the rest of the batch
                        // gets a new transaction
                        tracing::error!(lost = i - open, "a write aborted its group commit");
                        for job in &mut batch[open..=i] {
                            job.fail("rolled back by another write's storage error");
                        }
                        open = i + 1;
                        if conn.execute_batch("BEGIN IMMEDIATE").is_err() {
                            break;
                        }
                    }
                }
                if last_prune.elapsed() > Duration::from_secs(600) {
                    last_prune = Instant::now();
                    let cutoff = chrono::Utc::now().timestamp() - EVENT_RETENTION_SECS;
                    if let Err(e) =
                        conn.execute("DELETE FROM events WHERE created_at < ?1", [cutoff])
                    {
                        tracing::warn!(error = %e, "pruning old event ids failed");
                    }
                }
                match conn.execute_batch("COMMIT") {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        let _ = conn.execute_batch("ROLLBACK");
                        Err(e.to_string())
                    }
                }
            }
        };
        if let Err(e) = &committed {
            tracing::error!(error = %e, jobs = batch.len(), "group commit failed");
        }
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
        stats
            .max_batch
            .fetch_max(batch.len() as u64, Ordering::Relaxed);
        for job in batch.drain(..) {
            job.finish(committed.clone());
        }
        if let Some(reply) = closing {
            close(&conn, wal.as_ref(), reply);
            return;
        }
        if let Some((keeper, wal_stats)) = wal.as_mut() {
            keeper.after_commit(&conn, wal_stats);
        }
    }
}

/// The end of a clean shutdown: every acknowledged write is committed; the WAL is emptied
/// (the writer waits for readers here, a stopping collector has time).
fn close(conn: &Connection, wal: Option<&(WalKeeper, Arc<WalStats>)>, reply: oneshot::Sender<()>) {
    if let Some((keeper, stats)) = wal {
        let mut tries = 0;
        while !keeper.checkpoint(conn, "TRUNCATE", stats) && tries < 100 {
            tries += 1;
        }
    }
    let _ = reply.send(());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job<F>(atomicity: Atomicity, f: F) -> (Box<dyn Job>, oneshot::Receiver<StoreResult<()>>)
    where
        F: FnOnce(&Connection) -> StoreResult<()> + Send + 'static,
    {
        let (j, rx) = JobImpl::new(atomicity, f);
        (Box::new(j), rx)
    }

    fn insert(conn: &Connection, v: i64) -> StoreResult<()> {
        conn.execute("INSERT INTO t (v) VALUES (?1)", [v])
            .map(|_| ())
            .map_err(sql_error)
    }

    /// A savepoint-free job that fails after writing takes its whole transaction down (the
    /// jobs before it are answered as failed, nothing of them is kept); the jobs after it
    /// commit in a new transaction; a savepoint job's failure undoes it alone.
    #[test]
    fn a_failing_savepoint_free_job_never_leaves_partial_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (v INTEGER)")
            .expect("schema");
        let (tx, rx) = mpsc::channel(16);
        let mut answers = Vec::new();
        let jobs = [
            job(Atomicity::Savepoint, |c| insert(c, 1)),
            job(Atomicity::Savepoint, |c| {
                insert(c, 2)?;
                Err(StoreError::Invalid("x".into(), "undone alone".into()))
            }),
            job(Atomicity::Transaction, |c| insert(c, 3)),
            job(Atomicity::Transaction, |c| {
                insert(c, 4)?;
                Err(StoreError::Internal("after a write".into()))
            }),
            job(Atomicity::Transaction, |c| insert(c, 5)),
            job(Atomicity::Transaction, |c| {
                insert(c, 6)?;
                panic!("a bug after a write")
            }),
            job(Atomicity::Savepoint, |c| insert(c, 7)),
        ];
        for (j, answer) in jobs {
            tx.try_send(Msg::Job(j)).map_err(|_| "queue").expect("send");
            answers.push(answer);
        }
        drop(tx);
        // all seven are pending: they form one batch
        writer_loop(conn, rx, &WriterStats::default(), None);
        let got: Vec<bool> = answers
            .into_iter()
            .map(|mut a| a.try_recv().expect("answered").is_ok())
            .collect();
        assert_eq!(got, [false, false, false, false, false, false, true]);
        let check = Connection::open(&path).expect("reopen");
        let kept: Vec<i64> = check
            .prepare("SELECT v FROM t ORDER BY v")
            .expect("select")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("values");
        assert_eq!(kept, [7], "nothing of a failed transaction's jobs is kept");
    }
}
