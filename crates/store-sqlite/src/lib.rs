//! The embedded SQLite backend (the default).
//!
//! - one writer thread owns the write connection; every write is a job of a group commit
//!   ([`writer`]): many writes share one fsync'd transaction, each in its own savepoint;
//! - reads go through a separate read-only connection (WAL readers never block the writer);
//! - the schema is versioned ([`schema`]); the business rules come from `clicktrail_domain`,
//!   the transaction bodies ([`ops`]) only read what a rule needs and write what it decided.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use clicktrail_app::{self as app, run_ready};
use clicktrail_domain::conversion::Status;
use clicktrail_domain::erasure::Erased;
use clicktrail_domain::payout::EntryView;
use clicktrail_domain::report::ReportRows;
use clicktrail_domain::retention::{Pruned, Retention};
use clicktrail_domain::Catalog;
use clicktrail_sql::{self as sql, Sql};
use clicktrail_store::{
    AffiliateRow, AuditIn, AuditRow, ChangeIn, DiagnosticRow, EventFilter, EventRow, KeyRow,
};
use clicktrail_store::{
    ClickIn, ClickOut, ConversionIn, ConversionOut, DiagnosticIn, ExternalLinkIn, ImportItemRow,
    LeadIn, OkOut, PayIn, PayoutOut, PortalActivity, RefundIn, RefundOut, SaleIn, SaleOut,
    StatusOut, Store, StoreError, StoreResult, StripeEventIn, StripeOutcome, TenantSpec, WalStatus,
    WriteStats,
};
use clicktrail_store::{PendingApplied, RefundOrKept};
use db::Lite;
use rusqlite::Connection;
use tokio::sync::mpsc;

mod catalog;
mod db;
mod erase;
mod ops;
mod program;
mod refund;
mod report;
mod schema;
mod wal;
mod webhooks;
mod writer;

pub use wal::{WalPolicy, WalStats};
use writer::{Atomicity, JobImpl, Msg, WriterStats};

/// Statements kept prepared per connection: every statement of the row operations
/// (`clicktrail_sql`, ~200) and the click path stays compiled; rusqlite's default of 16 made
/// one Stripe event (~20 statements) evict the click's.
const STATEMENT_CACHE: usize = 512;

/// A rusqlite error as a store error (details logged by the HTTP layer, never shown).
pub(crate) fn sql_error(e: rusqlite::Error) -> StoreError {
    StoreError::Internal(format!("sqlite: {e}"))
}

enum Reader {
    /// In-memory databases have one connection: reads go through the writer.
    ViaWriter,
    Conn(Arc<Mutex<Connection>>),
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    tx: mpsc::Sender<Msg>,
    reader: Arc<Reader>,
    stats: Arc<WriterStats>,
    /// The background checkpoint thread stops when the last handle is dropped.
    wal: Arc<WalStats>,
    path: Arc<str>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`; `":memory:"` gives an in-memory one.
    /// The WAL policy is [`WalPolicy::from_env`].
    pub fn open(path: &str) -> anyhow::Result<SqliteStore> {
        SqliteStore::open_with(path, WalPolicy::from_env())
    }

    /// [`SqliteStore::open`] with another WAL checkpoint policy (tests use a small bound).
    pub fn open_with(path: &str, policy: WalPolicy) -> anyhow::Result<SqliteStore> {
        let memory = path == ":memory:";
        let mut conn = if memory {
            Connection::open_in_memory()?
        } else {
            if let Some(dir) = Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)?;
                }
            }
            Connection::open(path)?
        };
        schema::configure(&conn, memory)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // the writer overwrites what it frees with zeros (module `erase`; cost in docs/privacy.md)
        conn.execute_batch("PRAGMA secure_delete=ON")?;
        let version = schema::migrate(&mut conn)?;
        let known = schema::MIGRATIONS.len() as i64;
        if version > known {
            anyhow::bail!(
                "database schema version {version} is newer than this collector ({known}); upgrade the collector"
            );
        }
        let wal = Arc::new(WalStats::default());
        let (reader, keeper) = if memory {
            (Reader::ViaWriter, None)
        } else {
            // Checkpoints are ours (module `wal`), never SQLite's automatic ones inside a
            // commit; a WAL that SQLite rewinds on its own is cut back to the truncate bound.
            let limit = i64::try_from(policy.truncate_bytes).unwrap_or(-1);
            conn.execute_batch(&format!(
                "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit={limit}"
            ))?;
            // after the pragma above, which would replace it: the log's length after each commit
            let frames = wal.clone();
            conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
                let pages = u64::try_from(pages).unwrap_or(0);
                frames.frames.store(pages, Ordering::Relaxed);
                Ok(())
            }))?;
            let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            let frame_bytes = u64::try_from(page_size).unwrap_or(4096) + 24;
            let ck = Connection::open(path)?;
            ck.busy_timeout(schema::BUSY_TIMEOUT)?;
            ck.execute_batch("PRAGMA synchronous=FULL")?;
            let weak = Arc::downgrade(&wal);
            std::thread::Builder::new()
                .name("clicktrail-checkpoint".into())
                .spawn(move || wal::passive_loop(ck, policy, frame_bytes, weak))?;
            let r = Connection::open(path)?;
            r.busy_timeout(schema::BUSY_TIMEOUT)?;
            r.execute_batch("PRAGMA query_only=ON")?;
            r.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            let keeper =
                wal::WalKeeper::new(path, policy, u64::try_from(page_size).unwrap_or(4096));
            (Reader::Conn(Arc::new(Mutex::new(r))), Some(keeper))
        };
        let (tx, rx) = mpsc::channel::<Msg>(65_536);
        let stats = Arc::new(WriterStats::default());
        let st2 = stats.clone();
        let writer_wal = keeper.map(|k| (k, wal.clone()));
        std::thread::Builder::new()
            .name("clicktrail-writer".into())
            .spawn(move || writer::writer_loop(conn, rx, &st2, writer_wal))?;
        Ok(SqliteStore {
            tx,
            reader: Arc::new(reader),
            stats,
            wal,
            path: path.into(),
        })
    }

    /// A clean stop: commits every pending write, empties the WAL into the database and stops
    /// the writer (later writes fail). Idempotent.
    pub async fn close(&self) {
        let (reply, done) = tokio::sync::oneshot::channel();
        if self.tx.send(Msg::Close(reply)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// The WAL's counters (see [`WalStats`]).
    pub fn wal_stats(&self) -> &WalStats {
        &self.wal
    }

    /// The WAL file's current size in bytes (0 for an in-memory database).
    pub fn wal_bytes(&self) -> u64 {
        if &*self.path == ":memory:" {
            return 0;
        }
        wal::wal_bytes(&wal::wal_path(&self.path))
    }

    /// Runs `f` as one job of the next group commit, in its own savepoint.
    async fn exec<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.exec_as(Atomicity::Savepoint, f).await
    }

    async fn exec_as<T, F>(&self, atomicity: Atomicity, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (job, rx) = JobImpl::new(atomicity, f);
        self.tx
            .send(Msg::Job(Box::new(job)))
            .await
            .map_err(|_| StoreError::Internal("writer thread stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Internal("writer thread dropped the job".into()))?
    }

    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        match &*self.reader {
            Reader::ViaWriter => self.exec(f).await,
            Reader::Conn(c) => {
                let c = c.clone();
                tokio::task::spawn_blocking(move || {
                    let conn = c
                        .lock()
                        .map_err(|_| StoreError::Internal("reader poisoned".into()))?;
                    f(&conn)
                })
                .await
                .map_err(|e| StoreError::Internal(format!("reader task: {e}")))?
            }
        }
    }

    /// A consistent copy of the live database at `to`, safe while the collector serves:
    /// `VACUUM INTO` reads one snapshot in a read transaction on its own connection, so the
    /// writer is never blocked (the backup API would restart on every concurrent write).
    pub async fn backup(&self, to: &Path) -> StoreResult<()> {
        if &*self.path == ":memory:" {
            return Err(StoreError::Internal(
                "an in-memory database has no backup".into(),
            ));
        }
        let (from, to) = (self.path.to_string(), to.to_string_lossy().into_owned());
        tokio::task::spawn_blocking(move || {
            let conn = Connection::open(&from)?;
            conn.busy_timeout(Duration::from_secs(30))?;
            conn.execute("VACUUM INTO ?1", [&to])?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Internal(format!("backup task: {e}")))?
    }

    /// The file this store was opened on (`:memory:` for tests).
    pub fn path(&self) -> &str {
        &self.path
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn click(&self, c: ClickIn) -> StoreResult<ClickOut> {
        // every business answer of a click comes before its first write (`ops::click`)
        self.exec_as(Atomicity::Transaction, move |conn| ops::click(conn, &c))
            .await
    }

    async fn conversion(&self, c: ConversionIn) -> StoreResult<ConversionOut> {
        self.exec(move |conn| run_ready(app::conversion::conversion(&mut Sql(Lite(conn)), &c)))
            .await
    }

    async fn link_external(&self, l: ExternalLinkIn) -> StoreResult<OkOut> {
        self.exec(move |conn| run_ready(app::lead::link_external(&mut Sql(Lite(conn)), &l)))
            .await
    }

    async fn lead(&self, l: LeadIn) -> StoreResult<OkOut> {
        self.exec(move |conn| run_ready(app::lead::lead(&mut Sql(Lite(conn)), &l)))
            .await
    }

    async fn diagnostic(&self, d: DiagnosticIn) -> StoreResult<()> {
        self.exec(move |conn| run_ready(app::diagnostic::diagnostic(&mut Sql(Lite(conn)), &d)))
            .await
    }

    async fn sale(&self, s: SaleIn) -> StoreResult<SaleOut> {
        self.exec(move |conn| run_ready(app::sale::sale(&mut Sql(Lite(conn)), &s)))
            .await
    }

    async fn stripe_event(&self, e: StripeEventIn) -> StoreResult<StripeOutcome> {
        self.exec(move |conn| run_ready(app::stripe::stripe_event(&mut Sql(Lite(conn)), &e)))
            .await
    }

    async fn import_items(
        &self,
        rows: Vec<ImportItemRow>,
    ) -> StoreResult<Result<usize, Vec<(u64, String)>>> {
        match self
            .exec(move |conn| refund::import_items(conn, &rows))
            .await
        {
            Ok(n) => Ok(Ok(n)),
            Err(StoreError::Rows(rows)) => Ok(Err(rows)),
            Err(e) => Err(e),
        }
    }

    async fn report(&self, tenant: &str, from: i64, to: i64) -> StoreResult<ReportRows> {
        let tenant = tenant.to_string();
        self.read(move |conn| report::rows(conn, &tenant, from, to))
            .await
    }

    async fn refund(&self, r: RefundIn) -> StoreResult<RefundOut> {
        self.exec(move |conn| run_ready(app::refund::refund(&mut Sql(Lite(conn)), &r)))
            .await
    }

    async fn set_conversion_status(
        &self,
        tenant: &str,
        id: &str,
        status: Status,
        now: i64,
    ) -> StoreResult<StatusOut> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.exec(move |conn| {
            run_ready(app::status::set_status(
                &mut Sql(Lite(conn)),
                &tenant,
                &id,
                status,
                now,
            ))
        })
        .await
    }

    async fn ledger_entries(&self, tenant: &str) -> StoreResult<Vec<EntryView>> {
        let tenant = tenant.to_string();
        self.read(move |conn| run_ready(sql::payouts::entries(&Lite(conn), &tenant)))
            .await
    }

    async fn pay(&self, p: PayIn) -> StoreResult<PayoutOut> {
        self.exec(move |conn| run_ready(app::payout::pay(&mut Sql(Lite(conn)), &p)))
            .await
    }

    async fn payout(&self, tenant: &str, id: i64) -> StoreResult<PayoutOut> {
        let tenant = tenant.to_string();
        self.read(move |conn| run_ready(sql::payouts::payout(&Lite(conn), &tenant, id)))
            .await
    }

    async fn portal_link(
        &self,
        tenant: &str,
        affiliate: &str,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<()> {
        let (t, a, h) = (
            tenant.to_string(),
            affiliate.to_string(),
            token_hash.to_string(),
        );
        self.exec(move |conn| run_ready(app::portal::link(&mut Sql(Lite(conn)), &t, &a, &h, now)))
            .await
    }

    async fn revoke_portal_link(
        &self,
        tenant: &str,
        affiliate: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let (t, a) = (tenant.to_string(), affiliate.to_string());
        self.exec(move |conn| run_ready(app::portal::revoke(&mut Sql(Lite(conn)), &t, &a, now)))
            .await
    }

    async fn portal_lookup(&self, token_hash: &str) -> StoreResult<Option<(String, String)>> {
        let h = token_hash.to_string();
        self.read(move |conn| run_ready(sql::portal::lookup(&Lite(conn), &h)))
            .await
    }

    async fn portal_activity(
        &self,
        tenant: &str,
        affiliate: &str,
        limit: i64,
    ) -> StoreResult<PortalActivity> {
        let (t, a) = (tenant.to_string(), affiliate.to_string());
        self.read(move |conn| run_ready(app::portal::activity(&mut Sql(Lite(conn)), &t, &a, limit)))
            .await
    }

    async fn apply_catalog(&self, specs: Vec<TenantSpec>, now: i64) -> StoreResult<()> {
        self.exec(move |conn| run_ready(app::catalog::apply(&mut Sql(Lite(conn)), &specs, now)))
            .await
    }

    async fn load_catalog(&self) -> StoreResult<Catalog> {
        self.read(catalog::load).await
    }

    async fn catalog_version(&self) -> StoreResult<i64> {
        self.read(|conn| run_ready(sql::catalog::version(&Lite(conn))))
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(sql_error)
        })
        .await
    }

    async fn diagnostics_count(&self) -> StoreResult<i64> {
        self.read(|conn| run_ready(sql::admin::diagnostics_count(&Lite(conn))))
            .await
    }

    fn write_stats(&self) -> WriteStats {
        WriteStats {
            commits: self.stats.commits.load(Ordering::Relaxed),
            jobs: self.stats.jobs.load(Ordering::Relaxed),
            max_batch: self.stats.max_batch.load(Ordering::Relaxed),
        }
    }

    fn wal_status(&self) -> Option<WalStatus> {
        if &*self.path == ":memory:" {
            return None;
        }
        let w = &self.wal;
        Some(WalStatus {
            bytes: self.wal_bytes(),
            peak_bytes: w.peak_bytes.load(Ordering::Relaxed),
            frames_behind: w.frames_behind.load(Ordering::Relaxed),
            truncations: w.truncations.load(Ordering::Relaxed),
            truncations_busy: w.truncations_busy.load(Ordering::Relaxed),
        })
    }

    async fn close(&self) {
        SqliteStore::close(self).await
    }

    async fn change_catalog(&self, c: ChangeIn) -> StoreResult<()> {
        self.exec(move |conn| run_ready(app::catalog::change(&mut Sql(Lite(conn)), &c)))
            .await
    }

    async fn affiliates(&self, tenant: &str) -> StoreResult<Vec<AffiliateRow>> {
        let tenant = tenant.to_string();
        self.read(move |conn| run_ready(sql::admin::affiliates(&Lite(conn), &tenant)))
            .await
    }

    async fn keys(&self, tenant: &str) -> StoreResult<Vec<KeyRow>> {
        let tenant = tenant.to_string();
        self.read(move |conn| run_ready(sql::admin::keys(&Lite(conn), &tenant)))
            .await
    }

    async fn diagnostics(&self, f: EventFilter) -> StoreResult<Vec<DiagnosticRow>> {
        self.read(move |conn| run_ready(sql::admin::diagnostics(&Lite(conn), &f)))
            .await
    }

    async fn recent_events(&self, f: EventFilter) -> StoreResult<Vec<EventRow>> {
        self.read(move |conn| run_ready(app::admin::recent_events(&mut Sql(Lite(conn)), &f)))
            .await
    }

    async fn audit(&self, a: AuditIn) -> StoreResult<()> {
        self.exec(move |conn| run_ready(sql::admin::audit(&Lite(conn), &a)))
            .await
    }

    async fn audit_log(&self, tenant: &str, limit: i64, offset: i64) -> StoreResult<Vec<AuditRow>> {
        let tenant = tenant.to_string();
        self.read(move |conn| run_ready(sql::admin::audit_log(&Lite(conn), &tenant, limit, offset)))
            .await
    }

    async fn erase(&self, e: clicktrail_store::EraseIn) -> StoreResult<Erased> {
        let out = self
            .exec(move |conn| run_ready(app::erasure::erase(&mut Sql(Lite(conn)), &e)))
            .await?;
        if &*self.path != ":memory:" {
            let path = self.path.to_string();
            tokio::task::spawn_blocking(move || erase::empty_wal(&path))
                .await
                .map_err(|e| StoreError::Internal(format!("checkpoint task: {e}")))??;
        }
        Ok(out)
    }

    async fn set_retention(&self, tenant: &str, r: Retention, now: i64) -> StoreResult<()> {
        let t = tenant.to_string();
        self.exec(move |conn| run_ready(sql::erase::set_retention(&Lite(conn), &t, &r, now)))
            .await
    }

    async fn retention(&self, tenant: &str) -> StoreResult<Retention> {
        let t = tenant.to_string();
        self.read(move |conn| run_ready(sql::erase::retention(&Lite(conn), &t)))
            .await
    }

    async fn prune(&self, now: i64) -> StoreResult<Pruned> {
        self.exec(move |conn| run_ready(sql::erase::prune(&Lite(conn), now)))
            .await
    }

    async fn refund_or_keep(&self, r: RefundIn) -> StoreResult<RefundOrKept> {
        self.exec(move |conn| run_ready(app::pending::refund_or_keep(&mut Sql(Lite(conn)), &r)))
            .await
    }

    async fn apply_kept_refunds(
        &self,
        tenant: &str,
        transaction_id: &str,
        aliases: Vec<String>,
        now: i64,
    ) -> StoreResult<PendingApplied> {
        let (tenant, tx) = (tenant.to_string(), transaction_id.to_string());
        self.exec(move |conn| {
            run_ready(app::pending::apply_kept(
                &mut Sql(Lite(conn)),
                &tenant,
                &tx,
                &aliases,
                now,
            ))
        })
        .await
    }

    fn program(&self) -> &dyn clicktrail_store::ProgramStore {
        self
    }

    fn webhooks(&self) -> &dyn clicktrail_store::WebhookStore {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clicktrail_domain::conversion::Status;
    use clicktrail_store::Target;

    fn sale(tx: &str, now: i64) -> SaleIn {
        SaleIn {
            tenant: "t".into(),
            transaction_id: tx.into(),
            amount_cents: 100,
            currency: "USD".into(),
            target: Target::None,
            allow_unresolved: true,
            conversion_type: "sale".into(),
            payout: None,
            customer_key: None,
            is_recurring: false,
            subscription_id: None,
            source: "api",
            details: None,
            status: Status::Approved,
            hold_days: 0,
            now,
            rules: Default::default(),
            coupon_codes: Vec::new(),
            products: Vec::new(),
            customer_email: None,
        }
    }

    /// Many writes in one group commit: a failing one (a duplicate) is rolled back alone.
    #[tokio::test]
    async fn group_commit_isolates_failures() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.db");
        let s = SqliteStore::open(p.to_str().unwrap()).unwrap();
        let futs: Vec<_> = (0..200)
            .map(|i| {
                let s = s.clone();
                // every transaction id twice
                tokio::spawn(async move { s.sale(sale(&format!("tx{}", i / 2), 1000)).await })
            })
            .collect();
        let mut ok = 0;
        let mut dup = 0;
        for f in futs {
            match f.await.unwrap() {
                Ok(_) => ok += 1,
                Err(StoreError::Conflict("duplicate_transaction", _)) => dup += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!((ok, dup), (100, 100));
        let WriteStats {
            commits,
            jobs,
            max_batch,
        } = s.write_stats();
        assert_eq!(jobs, 200);
        assert!(
            commits < 200 && max_batch > 1,
            "writes were grouped: {commits} commits, max batch {max_batch}"
        );
        let rows = s.report("t", 0, 10_000).await.unwrap();
        let n: i64 = rows.conversions.iter().map(|r| r.3).sum();
        assert_eq!(n, 100);
    }

    /// A write that panics is answered with an error and rolled back alone; the writer thread
    /// survives and keeps serving (otherwise every later write is a 500 while /healthz says ok).
    #[tokio::test]
    async fn a_panicking_write_does_not_kill_the_writer() {
        let s = SqliteStore::open(":memory:").unwrap();
        let r: StoreResult<()> = s
            .exec(|conn| {
                conn.execute(
                    "INSERT INTO stripe_events VALUES ('t', 'evt_p', 'x', 1)",
                    [],
                )?;
                panic!("bug in a write")
            })
            .await;
        assert!(matches!(r, Err(StoreError::Internal(_))), "{r:?}");
        let out = s.sale(sale("tx-after", 1000)).await;
        assert!(out.is_ok(), "the writer survived: {out:?}");
        let n: i64 = s
            .read(
                |conn| Ok(conn.query_row("SELECT count(*) FROM stripe_events", [], |r| r.get(0))?),
            )
            .await
            .unwrap();
        assert_eq!(n, 0, "the panicking write was rolled back");
    }

    /// A write whose error makes SQLite roll back the whole transaction (disk full, I/O
    /// error: simulated here by a ROLLBACK) must not make the batch's other answers lie: the
    /// writes before it are lost and answered 500, the writes after it are committed and
    /// answered with their real result (they were committed one by one, yet answered 500).
    #[tokio::test]
    async fn a_write_that_aborts_the_transaction_does_not_misanswer_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.db");
        let s = SqliteStore::open(p.to_str().unwrap()).unwrap();
        // hold the writer so that the next three jobs form one batch, in order
        let s0 = s.clone();
        let hold = tokio::spawn(async move {
            s0.exec(|_| {
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let sa = s.clone();
        let a = tokio::spawn(async move { sa.sale(sale("tx-a", 1000)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let sb = s.clone();
        let b = tokio::spawn(async move {
            sb.exec(|conn| -> StoreResult<()> {
                conn.execute_batch("ROLLBACK")?;
                Err(StoreError::Internal("database or disk is full".into()))
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let sc = s.clone();
        let c = tokio::spawn(async move { sc.sale(sale("tx-c", 1000)).await });
        hold.await.unwrap().unwrap();
        let (a, b, c) = (a.await.unwrap(), b.await.unwrap(), c.await.unwrap());
        assert!(b.is_err());
        let stored = |tx: &'static str| {
            let s = s.clone();
            async move {
                s.read(move |conn| {
                    Ok(conn.query_row(
                        "SELECT count(*) FROM conversions WHERE transaction_id = ?1",
                        [tx],
                        |r| r.get::<_, i64>(0),
                    )?)
                })
                .await
                .unwrap()
            }
        };
        // every answer tells the truth about what is stored
        assert_eq!(a.is_ok(), stored("tx-a").await == 1, "tx-a: {a:?}");
        assert_eq!(c.is_ok(), stored("tx-c").await == 1, "tx-c: {c:?}");
        assert!(
            c.is_ok(),
            "a write after the aborted one is committed: {c:?}"
        );
    }

    /// A database written by the previous collector (schema v1, commissions table) opens
    /// with every row kept: commissions become ledger accruals with the same ids and amounts.
    #[tokio::test]
    async fn a_v1_database_migrates_without_losing_a_row() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v1.db");
        {
            let conn = Connection::open(&p).unwrap();
            conn.execute_batch(
                "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);",
            )
            .unwrap();
            conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "INSERT INTO cids VALUES ('t', 'c1', 'alice', 1, 999999);
                 INSERT INTO clicks (tenant, cid, affiliate, created_at) VALUES ('t', 'c1', 'alice', 10);
                 INSERT INTO conversions (id, public_id, tenant, kind, conversion_type, cid, affiliate, attributed,
                    amount_cents, currency, commission_cents, status, source, created_at)
                    VALUES (5, 'p5', 't', 'sale', 'sale', 'c1', 'alice', 1, 10000, 'USD', 3000, 'approved', 'api', 20);
                 INSERT INTO commissions (id, conversion_id, tenant, affiliate, amount_cents, currency, created_at)
                    VALUES (7, 5, 't', 'alice', 3000, 'USD', 20);",
            )
            .unwrap();
        }
        let s = SqliteStore::open(p.to_str().unwrap()).unwrap();
        let rows = s.report("t", 0, 100).await.unwrap();
        assert_eq!(rows.clicks, vec![("alice".into(), "1970-01-01".into(), 1)]);
        assert_eq!(
            rows.conversions,
            vec![(
                Some("alice".into()),
                "1970-01-01".into(),
                "USD".into(),
                1,
                10000,
                3000
            )]
        );
        let entry: (i64, i64, String, i64) = s
            .read(|conn| {
                Ok(conn.query_row(
                    "SELECT id, conversion_id, kind, amount_cents FROM ledger",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(entry, (7, 5, "accrual".into(), 3000));
    }

    /// A database of the previous schema (v3) opens with every sale kept: live, not held,
    /// its Stripe invoice id taken from its transaction id.
    #[tokio::test]
    async fn a_v3_database_keeps_its_sales_and_learns_their_invoice_ids() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v3.db");
        {
            let conn = Connection::open(&p).unwrap();
            conn.execute_batch(
                "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (3);",
            )
            .unwrap();
            for m in &schema::MIGRATIONS[..3] {
                conn.execute_batch(m).unwrap();
            }
            conn.execute_batch(
                "INSERT INTO conversions (id, public_id, tenant, kind, conversion_type, transaction_id, cid,
                    affiliate, attributed, amount_cents, currency, commission_cents, status, source, created_at)
                 VALUES (1, 'p1', 't', 'sale', 'sale', 'stripe:in_1', 'c1', 'alice', 1, 2000, 'USD', 600, 'approved', 'stripe', 20),
                        (2, 'p2', 't', 'sale', 'sale', 'stripe:cs_2', 'c1', 'alice', 1, 3000, 'USD', 900, 'approved', 'stripe', 20),
                        (3, 'p3', 't', 'sale', 'sale', 'in_3', NULL, NULL, 0, 100, 'USD', 0, 'approved', 'api', 20);
                 INSERT INTO ledger (tenant, affiliate, conversion_id, kind, amount_cents, currency, available_at, created_at)
                 VALUES ('t', 'alice', 1, 'accrual', 600, 'USD', 20, 20), ('t', 'alice', 2, 'accrual', 900, 'USD', 20, 20);",
            )
            .unwrap();
        }
        let s = SqliteStore::open(p.to_str().unwrap()).unwrap();
        let rows: Vec<(i64, Option<String>, bool, bool)> = s
            .read(|conn| {
                let mut st = conn.prepare(
                    "SELECT id, stripe_invoice, livemode, held_payment OR held_dispute FROM conversions ORDER BY id",
                )?;
                let v = st
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<Result<_, _>>()?;
                Ok(v)
            })
            .await
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (1, Some("in_1".into()), true, false),
                (2, None, true, false),
                (3, None, true, false)
            ]
        );
        let entries = s.ledger_entries("t").await.unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().all(|e| !e.held));
        let report = s.report("t", 0, 100).await.unwrap();
        let sales: i64 = report.conversions.iter().map(|c| c.3).sum();
        assert_eq!(sales, 3, "every sale is still live");
    }
}
