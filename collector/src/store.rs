//! All storage lives behind this module: a [`Store`] with a narrow, domain-level interface.
//!
//! SQLite implementation:
//! - one writer thread owns the write connection and is fed by a channel; it does **group
//!   commit**: it takes every pending job (up to [`MAX_BATCH`]), runs each inside its own
//!   SAVEPOINT of one transaction (so one failing job does not undo the others), COMMITs with
//!   `synchronous=FULL` in WAL mode (the commit is fsync'd), and only then answers each job.
//!   An HTTP answer is therefore never sent before its write is durable.
//! - reports read through a separate connection (WAL readers do not block the writer).
//! - the schema is versioned (`schema_version`), migrations run in order at start-up.
//!
//! A later PostgreSQL backend implements the same public methods.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::config::Payout;
use crate::money;

/// Most jobs committed by one transaction.
pub const MAX_BATCH: usize = 1024;
/// Browser event ids are remembered this long (the tracker's outbox keeps events 7 days).
const EVENT_RETENTION_SECS: i64 = 30 * 86_400;
/// Diagnostics kept per tenant.
const DIAGNOSTICS_CAP: i64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    NotFound(&'static str, String),
    Conflict(&'static str, String),
    Invalid(String, String),
    /// Bad rows of an import, `(line, message)`; nothing of the import was stored.
    Rows(Vec<(u64, String)>),
    Internal(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Internal(format!("sqlite: {e}"))
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::NotFound(c, m) | StoreError::Conflict(c, m) => write!(f, "{c}: {m}"),
            StoreError::Invalid(field, m) => write!(f, "{field}: {m}"),
            StoreError::Internal(m) => write!(f, "{m}"),
            StoreError::Rows(rows) => write!(f, "{} bad rows", rows.len()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

// ---------------------------------------------------------------- domain types

/// How a conversion or sale names the visitor.
#[derive(Debug, Clone)]
pub enum Target {
    Cid(String),
    External {
        revenue_origin: String,
        external_cid: String,
    },
    CustomerKey(String),
    /// The CID of an earlier sale of the same subscription (Stripe renewals).
    Subscription(String),
    /// Nothing known: recorded unattributed.
    None,
}

#[derive(Debug, Clone)]
pub struct ClickIn {
    pub tenant: String,
    pub event_id: Option<String>,
    pub cid: Option<String>,
    pub affiliate: String,
    pub url: Option<String>,
    pub referrer: Option<String>,
    pub cookie_secs: i64,
    pub now: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClickOut {
    pub cid: String,
    #[serde(rename = "expiredAt")]
    pub expired_at: String,
}

#[derive(Debug, Clone)]
pub struct ConversionIn {
    pub tenant: String,
    pub event_id: Option<String>,
    pub target: Target,
    pub conversion_type: String,
    pub payout: Payout,
    pub amount_cents: i64,
    pub currency: String,
    pub external_id: Option<String>,
    pub customer_id: Option<String>,
    pub status: String,
    /// couponCodes / customParams as JSON text.
    pub details: Option<String>,
    pub now: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Commission {
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConversionOut {
    #[serde(rename = "conversionId")]
    pub conversion_id: String,
    pub status: String,
    pub commission: Commission,
    pub attributed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OkOut {
    pub ok: bool,
}

#[derive(Debug, Clone)]
pub struct SaleIn {
    pub tenant: String,
    pub transaction_id: String,
    pub amount_cents: i64,
    pub currency: String,
    pub target: Target,
    /// When the target does not resolve: `true` records the sale unattributed (webhooks,
    /// which must not be refused), `false` answers 404.
    pub allow_unresolved: bool,
    pub conversion_type: String,
    pub payout: Option<Payout>,
    pub customer_key: Option<String>,
    pub is_recurring: bool,
    pub subscription_id: Option<String>,
    pub source: &'static str,
    pub details: Option<String>,
    pub status: String,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleOut {
    pub sale_id: i64,
    pub commission_id: Option<i64>,
    pub commission_cents: i64,
    pub attributed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeOutcome {
    /// Event id seen before: nothing done.
    Duplicate,
    /// Recorded (sale may be `None` when the event needed no sale, e.g. first invoice of a
    /// subscription whose checkout was already counted, or the same transaction id).
    Recorded { sale: Option<SaleOut> },
}

/// One CSV row, already parsed and validated syntactically.
#[derive(Debug, Clone)]
pub struct ImportRow {
    pub line: u64,
    pub sale: SaleIn,
}

#[derive(Debug, Clone, Default)]
pub struct ReportRows {
    /// (affiliate, day YYYY-MM-DD, count)
    pub clicks: Vec<(String, String, i64)>,
    pub leads: Vec<(String, String, i64)>,
    /// (affiliate or None, day, currency, count, revenue cents, commission cents)
    pub conversions: Vec<(Option<String>, String, String, i64, i64, i64)>,
}

// ---------------------------------------------------------------- the store

trait Job: Send {
    fn run(&mut self, conn: &Connection);
    /// Its write was undone after it ran (another write aborted the whole transaction).
    fn fail(&mut self, message: &str);
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct JobImpl<T, F> {
    f: Option<F>,
    result: Option<StoreResult<T>>,
    reply: Option<oneshot::Sender<StoreResult<T>>>,
}

impl<T, F> Job for JobImpl<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) {
        let Some(f) = self.f.take() else { return };
        let exec = |sql: &str| {
            conn.prepare_cached(sql)
                .and_then(|mut st| st.execute([]))
                .map(|_| ())
        };
        if let Err(e) = exec("SAVEPOINT job") {
            self.result = Some(Err(e.into()));
            return;
        }
        // a panicking write is rolled back alone and answered 500: the writer thread must
        // survive it, or every later write would fail while the process looks healthy
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
            .unwrap_or_else(|_| Err(StoreError::Internal("write panicked".into())));
        let end = if r.is_ok() {
            exec("RELEASE job")
        } else {
            exec("ROLLBACK TO job").and_then(|()| exec("RELEASE job"))
        };
        self.result = Some(match end {
            Ok(()) => r,
            Err(e) => Err(e.into()),
        });
    }

    fn fail(&mut self, message: &str) {
        self.result = Some(Err(StoreError::Internal(message.into())));
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

enum Reader {
    /// In-memory databases have one connection: reads go through the writer.
    ViaWriter,
    Conn(Arc<Mutex<Connection>>),
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Box<dyn Job>>,
    reader: Arc<Reader>,
    stats: Arc<WriterStats>,
    /// The checkpoint thread stops when the last handle is dropped.
    _alive: Arc<()>,
}

/// Group-commit counters: `jobs / commits` is the mean batch size.
#[derive(Default)]
pub struct WriterStats {
    pub commits: AtomicU64,
    pub jobs: AtomicU64,
    pub max_batch: AtomicU64,
}

const MIGRATIONS: &[&str] = &[
    // v1
    r#"
    CREATE TABLE cids (
        tenant TEXT NOT NULL, cid TEXT NOT NULL, affiliate TEXT NOT NULL,
        created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, cid)) WITHOUT ROWID;
    CREATE TABLE clicks (
        id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, cid TEXT NOT NULL, affiliate TEXT NOT NULL,
        url TEXT, referrer TEXT, created_at INTEGER NOT NULL);
    CREATE INDEX clicks_tenant_time ON clicks (tenant, created_at);
    CREATE TABLE customer_links (
        tenant TEXT NOT NULL, customer_key TEXT NOT NULL, cid TEXT NOT NULL, created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, customer_key)) WITHOUT ROWID;
    CREATE TABLE external_links (
        tenant TEXT NOT NULL, revenue_origin TEXT NOT NULL, external_cid TEXT NOT NULL, cid TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, revenue_origin, external_cid)) WITHOUT ROWID;
    CREATE TABLE leads (
        id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, customer_key TEXT, cid TEXT, affiliate TEXT,
        email TEXT, source TEXT NOT NULL, created_at INTEGER NOT NULL);
    CREATE UNIQUE INDEX leads_customer ON leads (tenant, customer_key) WHERE customer_key IS NOT NULL;
    CREATE INDEX leads_tenant_time ON leads (tenant, created_at);
    CREATE TABLE conversions (
        id INTEGER PRIMARY KEY, public_id TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL,
        kind TEXT NOT NULL, conversion_type TEXT NOT NULL, external_id TEXT, transaction_id TEXT,
        cid TEXT, affiliate TEXT, attributed INTEGER NOT NULL,
        amount_cents INTEGER NOT NULL, currency TEXT NOT NULL, commission_cents INTEGER NOT NULL,
        status TEXT NOT NULL, customer_key TEXT, customer_id TEXT, is_recurring INTEGER NOT NULL DEFAULT 0,
        subscription_id TEXT, source TEXT NOT NULL, details TEXT, created_at INTEGER NOT NULL);
    CREATE UNIQUE INDEX conversions_external ON conversions (tenant, conversion_type, external_id)
        WHERE external_id IS NOT NULL;
    CREATE UNIQUE INDEX conversions_txn ON conversions (tenant, transaction_id)
        WHERE transaction_id IS NOT NULL;
    CREATE INDEX conversions_tenant_time ON conversions (tenant, created_at);
    CREATE INDEX conversions_subscription ON conversions (tenant, subscription_id)
        WHERE subscription_id IS NOT NULL;
    CREATE TABLE commissions (
        id INTEGER PRIMARY KEY, conversion_id INTEGER NOT NULL, tenant TEXT NOT NULL,
        affiliate TEXT NOT NULL, amount_cents INTEGER NOT NULL, currency TEXT NOT NULL,
        created_at INTEGER NOT NULL);
    CREATE TABLE events (
        tenant TEXT NOT NULL, event_id TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, event_id)) WITHOUT ROWID;
    CREATE INDEX events_time ON events (created_at);
    CREATE TABLE stripe_events (
        tenant TEXT NOT NULL, event_id TEXT NOT NULL, type TEXT NOT NULL, created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, event_id)) WITHOUT ROWID;
    CREATE TABLE diagnostics (
        id INTEGER PRIMARY KEY, tenant TEXT, kind TEXT, message TEXT, url TEXT, user_agent TEXT,
        created_at INTEGER NOT NULL);
    "#,
];

fn configure(conn: &Connection, memory: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    if !memory {
        // WAL + synchronous=FULL: every COMMIT is fsync'd to the WAL before it returns.
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::InvalidQuery);
        }
    }
    conn.execute_batch(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;",
    )?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<i64> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let current: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let target = MIGRATIONS.len() as i64;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let v = i as i64 + 1;
        if v <= current {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute("DELETE FROM schema_version", [])?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [v])?;
        tx.commit()?;
        tracing::info!(version = v, "applied schema migration");
    }
    Ok(target.max(current))
}

impl Store {
    /// Opens (creating if needed) the database at `path`; `":memory:"` gives an in-memory one.
    pub fn open(path: &str) -> anyhow::Result<Store> {
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
        configure(&conn, memory)?;
        let version = migrate(&mut conn)?;
        if version > MIGRATIONS.len() as i64 {
            anyhow::bail!(
                "database schema version {version} is newer than this collector ({}); upgrade the collector",
                MIGRATIONS.len()
            );
        }
        let alive = Arc::new(());
        let reader = if memory {
            Reader::ViaWriter
        } else {
            // Checkpoints run on their own thread and connection (PASSIVE: they never block the
            // writer), so no commit waits for WAL pages to be copied into the database file.
            conn.execute_batch("PRAGMA wal_autocheckpoint=0")?;
            let ck = Connection::open(path)?;
            ck.busy_timeout(Duration::from_secs(10))?;
            ck.execute_batch("PRAGMA synchronous=FULL")?;
            let weak = Arc::downgrade(&alive);
            std::thread::Builder::new()
                .name("clicktrail-checkpoint".into())
                .spawn(move || checkpoint_loop(ck, weak))?;
            let r = Connection::open(path)?;
            r.busy_timeout(Duration::from_secs(10))?;
            r.execute_batch("PRAGMA query_only=ON")?;
            Reader::Conn(Arc::new(Mutex::new(r)))
        };
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>(65_536);
        let stats = Arc::new(WriterStats::default());
        let st2 = stats.clone();
        std::thread::Builder::new()
            .name("clicktrail-writer".into())
            .spawn(move || writer_loop(conn, rx, &st2))?;
        Ok(Store {
            tx,
            reader: Arc::new(reader),
            stats,
            _alive: alive,
        })
    }

    /// (commits, jobs, largest batch) since start.
    pub fn writer_stats(&self) -> (u64, u64, u64) {
        (
            self.stats.commits.load(Ordering::Relaxed),
            self.stats.jobs.load(Ordering::Relaxed),
            self.stats.max_batch.load(Ordering::Relaxed),
        )
    }

    async fn exec<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = JobImpl {
            f: Some(f),
            result: None,
            reply: Some(reply),
        };
        self.tx
            .send(Box::new(job))
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

    /// A click (browser). Idempotent by event id.
    pub async fn click(&self, c: ClickIn) -> StoreResult<ClickOut> {
        self.exec(move |conn| {
            let (tenant, event_id, now) = (c.tenant.clone(), c.event_id.clone(), c.now);
            idempotent(conn, "click", &tenant, event_id.as_deref(), now, |conn| {
                click_tx(conn, &c)
            })
        })
        .await
    }

    /// A browser conversion (by CID or external CID). Idempotent by event id.
    pub async fn conversion(&self, c: ConversionIn) -> StoreResult<ConversionOut> {
        self.exec(move |conn| {
            let (tenant, event_id, now) = (c.tenant.clone(), c.event_id.clone(), c.now);
            idempotent(
                conn,
                "conversion",
                &tenant,
                event_id.as_deref(),
                now,
                |conn| conversion_tx(conn, &c),
            )
        })
        .await
    }

    /// Links (revenue origin, external CID) to a CID. Idempotent by event id.
    pub async fn link_external(
        &self,
        tenant: String,
        event_id: Option<String>,
        cid: String,
        revenue_origin: String,
        external_cid: String,
        now: i64,
    ) -> StoreResult<OkOut> {
        self.exec(move |conn| {
            idempotent(conn, "external_cid", &tenant, event_id.as_deref(), now, |conn| {
                if lookup_cid(conn, &tenant, &cid)?.is_none() {
                    return Err(StoreError::NotFound("unknown_cid", format!("unknown cid `{cid}`")));
                }
                conn.prepare_cached(
                    "INSERT INTO external_links (tenant, revenue_origin, external_cid, cid, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (tenant, revenue_origin, external_cid) DO UPDATE SET cid = excluded.cid",
                )?
                .execute(params![tenant, revenue_origin, external_cid, cid, now])?;
                Ok(OkOut { ok: true })
            })
        })
        .await
    }

    /// A lead: links `customer_key` to the CID. With `event_id` it is idempotent (browser);
    /// `cid` unknown is a 404. A customer key counts as one lead however often it is sent.
    #[allow(clippy::too_many_arguments)]
    pub async fn lead(
        &self,
        tenant: String,
        event_id: Option<String>,
        cid: Option<String>,
        customer_key: Option<String>,
        email: Option<String>,
        source: &'static str,
        now: i64,
    ) -> StoreResult<OkOut> {
        self.exec(move |conn| {
            idempotent(conn, "lead", &tenant, event_id.as_deref(), now, |conn| {
                let mut affiliate = None;
                let mut cid_for_link = cid.clone();
                if let Some(c) = &cid {
                    match lookup_cid(conn, &tenant, c)? {
                        None => {
                            return Err(StoreError::NotFound("unknown_cid", format!("unknown cid `{c}`")))
                        }
                        Some((aff, expires)) => {
                            if expires >= now {
                                affiliate = Some(aff);
                            }
                        }
                    }
                } else if let Some(k) = &customer_key {
                    // no CID given: an existing link keeps its attribution
                    if let Some((c, aff, expires)) = resolve(conn, &tenant, &Target::CustomerKey(k.clone()))? {
                        cid_for_link = Some(c);
                        if expires >= now {
                            affiliate = Some(aff);
                        }
                    }
                }
                if let (Some(k), Some(c)) = (&customer_key, &cid_for_link) {
                    conn.prepare_cached(
                        "INSERT INTO customer_links (tenant, customer_key, cid, created_at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (tenant, customer_key) DO UPDATE SET cid = excluded.cid",
                    )?
                    .execute(params![tenant, k, c, now])?;
                }
                let existing: Option<i64> = match (&customer_key, &cid_for_link) {
                    (Some(k), _) => conn
                        .prepare_cached("SELECT id FROM leads WHERE tenant = ?1 AND customer_key = ?2")?
                        .query_row(params![tenant, k], |r| r.get(0))
                        .optional()?,
                    // no customer key: one lead per CID (a retried call is not a second lead)
                    (None, Some(c)) => conn
                        .prepare_cached(
                            "SELECT id FROM leads WHERE tenant = ?1 AND customer_key IS NULL AND cid = ?2",
                        )?
                        .query_row(params![tenant, c], |r| r.get(0))
                        .optional()?,
                    (None, None) => None,
                };
                match existing {
                    Some(id) => {
                        // the same customer again: keep one lead, fill in what was missing
                        conn.prepare_cached(
                            "UPDATE leads SET cid = COALESCE(cid, ?2), affiliate = COALESCE(affiliate, ?3),
                             email = COALESCE(?4, email) WHERE id = ?1",
                        )?
                        .execute(params![id, cid_for_link, affiliate, email])?;
                    }
                    None => {
                        conn.prepare_cached(
                            "INSERT INTO leads (tenant, customer_key, cid, affiliate, email, source, created_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        )?
                        .execute(params![tenant, customer_key, cid_for_link, affiliate, email, source, now])?;
                    }
                }
                Ok(OkOut { ok: true })
            })
        })
        .await
    }

    /// A loader failure report; at most [`DIAGNOSTICS_CAP`] rows are kept per tenant.
    #[allow(clippy::too_many_arguments)]
    pub async fn diagnostic(
        &self,
        tenant: Option<String>,
        event_id: Option<String>,
        kind: Option<String>,
        message: Option<String>,
        url: Option<String>,
        user_agent: Option<String>,
        now: i64,
    ) -> StoreResult<()> {
        self.exec(move |conn| {
            let t = tenant.clone().unwrap_or_default();
            idempotent(conn, "diagnostic", &t, event_id.as_deref(), now, |conn| {
                conn.prepare_cached(
                    "INSERT INTO diagnostics (tenant, kind, message, url, user_agent, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![tenant, kind, message, url, user_agent, now])?;
                let id = conn.last_insert_rowid();
                conn.prepare_cached("DELETE FROM diagnostics WHERE tenant IS ?1 AND id <= ?2")?
                    .execute(params![tenant, id - DIAGNOSTICS_CAP])?;
                Ok(())
            })
        })
        .await
    }

    /// Number of stored diagnostics (operators / tests).
    pub async fn diagnostics_count(&self) -> StoreResult<i64> {
        self.read(|conn| Ok(conn.query_row("SELECT count(*) FROM diagnostics", [], |r| r.get(0))?))
            .await
    }

    /// A sale (server-to-server API). 409 on a reused transaction id.
    pub async fn sale(&self, s: SaleIn) -> StoreResult<SaleOut> {
        self.exec(move |conn| sale_tx(conn, &s)).await
    }

    /// A verified Stripe event: records the event id (dedupe) and, if given, the sale.
    /// With `skip_if_subscription_counted` (a subscription's first payment: its checkout session
    /// or its first invoice, which Stripe may deliver in either order), no second sale is
    /// recorded when a sale for the same subscription already exists; an unattributed one is
    /// replaced when this event attributes the payment.
    pub async fn stripe_event(
        &self,
        tenant: String,
        event_id: String,
        event_type: String,
        sale: Option<SaleIn>,
        skip_if_subscription_counted: bool,
        now: i64,
    ) -> StoreResult<StripeOutcome> {
        self.exec(move |conn| {
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO stripe_events (tenant, event_id, type, created_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![tenant, event_id, event_type, now])?;
            if inserted == 0 {
                return Ok(StripeOutcome::Duplicate);
            }
            let Some(s) = sale else { return Ok(StripeOutcome::Recorded { sale: None }) };
            if skip_if_subscription_counted {
                if let Some(sub) = &s.subscription_id {
                    let counted: Option<(i64, bool)> = conn
                        .prepare_cached(
                            "SELECT id, attributed FROM conversions WHERE tenant = ?1 AND subscription_id = ?2
                             ORDER BY id LIMIT 1",
                        )?
                        .query_row(params![s.tenant, sub], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    if let Some((id, attributed)) = counted {
                        // the first payment arrives twice (checkout session and first invoice, in
                        // either order): count it once; an attributed event replaces an
                        // unattributed first count so the commission is not lost
                        let would_attribute = resolve(conn, &s.tenant, &s.target)?
                            .is_some_and(|(_, _, expires)| expires >= s.now);
                        if attributed || !would_attribute {
                            return Ok(StripeOutcome::Recorded { sale: None });
                        }
                        conn.prepare_cached("DELETE FROM commissions WHERE conversion_id = ?1")?
                            .execute([id])?;
                        conn.prepare_cached("DELETE FROM conversions WHERE id = ?1")?
                            .execute([id])?;
                    }
                }
            }
            match sale_tx(conn, &s) {
                Ok(out) => Ok(StripeOutcome::Recorded { sale: Some(out) }),
                // the same payment seen through another event: count it once
                Err(StoreError::Conflict(..)) => Ok(StripeOutcome::Recorded { sale: None }),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Imports transactions all-or-nothing: either every row is stored (one transaction) or
    /// nothing is, and every bad row is reported as `(line, message)`.
    pub async fn import(
        &self,
        rows: Vec<ImportRow>,
    ) -> StoreResult<Result<usize, Vec<(u64, String)>>> {
        self.exec(move |conn| {
            let mut errors = Vec::new();
            for row in &rows {
                if let Err(e) = sale_tx(conn, &row.sale) {
                    match e {
                        StoreError::Internal(m) => return Err(StoreError::Internal(m)),
                        other => errors.push((row.line, other.to_string())),
                    }
                }
            }
            if errors.is_empty() {
                Ok(Ok(rows.len()))
            } else {
                // an error rolls back this job's savepoint: nothing of the file is kept
                Err(StoreError::Rows(errors))
            }
        })
        .await
        .or_else(|e| match e {
            StoreError::Rows(rows) => Ok(Err(rows)),
            other => Err(other),
        })
    }

    /// Raw per-affiliate, per-day aggregates for `[from, to)` (unix seconds).
    pub async fn report(&self, tenant: String, from: i64, to: i64) -> StoreResult<ReportRows> {
        self.read(move |conn| {
            let mut rows = ReportRows::default();
            let mut st = conn.prepare_cached(
                "SELECT affiliate, date(created_at, 'unixepoch'), count(*) FROM clicks
                 WHERE tenant = ?1 AND created_at >= ?2 AND created_at < ?3 GROUP BY 1, 2",
            )?;
            rows.clicks = st
                .query_map(params![tenant, from, to], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            let mut st = conn.prepare_cached(
                "SELECT affiliate, date(created_at, 'unixepoch'), count(*) FROM leads
                 WHERE tenant = ?1 AND affiliate IS NOT NULL AND created_at >= ?2 AND created_at < ?3 GROUP BY 1, 2",
            )?;
            rows.leads = st
                .query_map(params![tenant, from, to], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            let mut st = conn.prepare_cached(
                "SELECT affiliate, date(created_at, 'unixepoch'), currency, count(*),
                        sum(amount_cents), sum(commission_cents) FROM conversions
                 WHERE tenant = ?1 AND status <> 'declined' AND created_at >= ?2 AND created_at < ?3
                 GROUP BY 1, 2, 3",
            )?;
            rows.conversions = st
                .query_map(params![tenant, from, to], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }
}

fn checkpoint_loop(conn: Connection, alive: std::sync::Weak<()>) {
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let stop = alive.upgrade().is_none();
        let r: rusqlite::Result<(i64, i64, i64)> =
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            });
        if let Err(e) = r {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
        if stop {
            return;
        }
    }
}

fn writer_loop(conn: Connection, mut rx: mpsc::Receiver<Box<dyn Job>>, stats: &WriterStats) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    let mut last_prune = Instant::now();
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let committed = match conn.execute_batch("BEGIN IMMEDIATE") {
            Err(e) => Err(e.to_string()),
            Ok(()) => {
                // first job of the open transaction
                let mut open = 0;
                for i in 0..batch.len() {
                    batch[i].run(&conn);
                    if conn.is_autocommit() {
                        // this write's error (disk full, I/O error...) made SQLite roll back the
                        // whole transaction: the writes before it are lost, so they are answered
                        // as failed, and the rest of the batch gets a new transaction
                        tracing::error!(lost = i - open, "a write aborted its group commit");
                        for job in &mut batch[open..i] {
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
    }
}

// ---------------------------------------------------------------- transaction bodies

/// Runs `f` once per (tenant, event id): a repeated event id gets the stored answer of the
/// first one. `kind` names the endpoint: the same event id sent to another endpoint is a 409.
fn idempotent<T, F>(
    conn: &Connection,
    kind: &str,
    tenant: &str,
    event_id: Option<&str>,
    now: i64,
    f: F,
) -> StoreResult<T>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(&Connection) -> StoreResult<T>,
{
    if let Some(e) = event_id {
        let prior: Option<(String, String)> = conn
            .prepare_cached("SELECT kind, body FROM events WHERE tenant = ?1 AND event_id = ?2")?
            .query_row(params![tenant, e], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((prior_kind, body)) = prior {
            let reused = || {
                StoreError::Conflict(
                    "event_id_reused",
                    format!("eventId `{e}` was already used for a {prior_kind} event"),
                )
            };
            if prior_kind != kind {
                return Err(reused());
            }
            return serde_json::from_str(&body).map_err(|_| reused());
        }
    }
    let out = f(conn)?;
    if let Some(e) = event_id {
        let body = serde_json::to_string(&out).map_err(|e| StoreError::Internal(e.to_string()))?;
        conn.prepare_cached(
            "INSERT INTO events (tenant, event_id, kind, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![tenant, e, kind, body, now])?;
    }
    Ok(out)
}

fn lookup_cid(conn: &Connection, tenant: &str, cid: &str) -> StoreResult<Option<(String, i64)>> {
    Ok(conn
        .prepare_cached("SELECT affiliate, expires_at FROM cids WHERE tenant = ?1 AND cid = ?2")?
        .query_row(params![tenant, cid], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Resolves a target to (cid, affiliate, expires_at).
fn resolve(
    conn: &Connection,
    tenant: &str,
    target: &Target,
) -> StoreResult<Option<(String, String, i64)>> {
    let cid: Option<String> = match target {
        Target::Cid(c) => Some(c.clone()),
        Target::External { revenue_origin, external_cid } => conn
            .prepare_cached(
                "SELECT cid FROM external_links WHERE tenant = ?1 AND revenue_origin = ?2 AND external_cid = ?3",
            )?
            .query_row(params![tenant, revenue_origin, external_cid], |r| r.get(0))
            .optional()?,
        Target::CustomerKey(k) => conn
            .prepare_cached("SELECT cid FROM customer_links WHERE tenant = ?1 AND customer_key = ?2")?
            .query_row(params![tenant, k], |r| r.get(0))
            .optional()?,
        Target::Subscription(sub) => conn
            .prepare_cached(
                "SELECT cid FROM conversions WHERE tenant = ?1 AND subscription_id = ?2 AND cid IS NOT NULL
                 ORDER BY id LIMIT 1",
            )?
            .query_row(params![tenant, sub], |r| r.get(0))
            .optional()?,
        Target::None => None,
    };
    let Some(cid) = cid else { return Ok(None) };
    Ok(lookup_cid(conn, tenant, &cid)?.map(|(a, e)| (cid, a, e)))
}

fn unresolved_error(target: &Target) -> StoreError {
    match target {
        Target::Cid(c) => StoreError::NotFound("unknown_cid", format!("unknown cid `{c}`")),
        Target::External { external_cid, .. } => StoreError::NotFound(
            "unknown_cid",
            format!(
                "external cid `{external_cid}` is not linked to a click for this revenue origin"
            ),
        ),
        Target::CustomerKey(k) => StoreError::NotFound(
            "unknown_customer",
            format!("customer key `{k}` is not linked to a click"),
        ),
        Target::Subscription(sub) => StoreError::NotFound(
            "unknown_subscription",
            format!("subscription `{sub}` has no attributed sale"),
        ),
        Target::None => StoreError::Invalid(
            "click_id".into(),
            "click_id or customer_key is required".into(),
        ),
    }
}

pub fn rfc3339(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn click_tx(conn: &Connection, c: &ClickIn) -> StoreResult<ClickOut> {
    let expires = c.now + c.cookie_secs;
    let mut cid = c.cid.clone();
    if let Some(proposed) = &cid {
        match lookup_cid(conn, &c.tenant, proposed)? {
            None => {}
            Some((aff, _)) if aff == c.affiliate => {
                conn.prepare_cached(
                    "UPDATE cids SET expires_at = ?3 WHERE tenant = ?1 AND cid = ?2",
                )?
                .execute(params![c.tenant, proposed, expires])?;
                insert_click(conn, c, proposed)?;
                return Ok(ClickOut {
                    cid: proposed.clone(),
                    expired_at: rfc3339(expires),
                });
            }
            // owned by another affiliate: an existing CID never changes affiliate
            Some(_) => cid = None,
        }
    }
    let cid = cid.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    conn.prepare_cached(
        "INSERT INTO cids (tenant, cid, affiliate, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![c.tenant, cid, c.affiliate, c.now, expires])?;
    insert_click(conn, c, &cid)?;
    Ok(ClickOut {
        cid,
        expired_at: rfc3339(expires),
    })
}

fn insert_click(conn: &Connection, c: &ClickIn, cid: &str) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO clicks (tenant, cid, affiliate, url, referrer, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![c.tenant, cid, c.affiliate, c.url, c.referrer, c.now])?;
    Ok(())
}

fn conversion_tx(conn: &Connection, c: &ConversionIn) -> StoreResult<ConversionOut> {
    if let Some(ext) = &c.external_id {
        let dup: Option<i64> = conn
            .prepare_cached(
                "SELECT id FROM conversions WHERE tenant = ?1 AND conversion_type = ?2 AND external_id = ?3",
            )?
            .query_row(params![c.tenant, c.conversion_type, ext], |r| r.get(0))
            .optional()?;
        if dup.is_some() {
            return Err(StoreError::Conflict(
                "duplicate_conversion",
                format!(
                    "a `{}` conversion with externalId `{ext}` was already recorded",
                    c.conversion_type
                ),
            ));
        }
    }
    let Some((cid, affiliate, expires)) = resolve(conn, &c.tenant, &c.target)? else {
        return Err(unresolved_error(&c.target));
    };
    let attributed = expires >= c.now;
    let commission = if attributed && c.status != "declined" {
        c.payout.commission(c.amount_cents)
    } else {
        0
    };
    let public_id = uuid::Uuid::new_v4().to_string();
    conn.prepare_cached(
        "INSERT INTO conversions (public_id, tenant, kind, conversion_type, external_id, cid, affiliate, attributed,
            amount_cents, currency, commission_cents, status, customer_id, source, details, created_at)
         VALUES (?1, ?2, 'conversion', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'browser', ?13, ?14)",
    )?
    .execute(params![
        public_id,
        c.tenant,
        c.conversion_type,
        c.external_id,
        cid,
        attributed.then_some(&affiliate),
        attributed,
        c.amount_cents,
        c.currency,
        commission,
        c.status,
        c.customer_id,
        c.details,
        c.now
    ])?;
    if attributed {
        let id = conn.last_insert_rowid();
        insert_commission(
            conn,
            id,
            &c.tenant,
            &affiliate,
            commission,
            &c.currency,
            c.now,
        )?;
    }
    Ok(ConversionOut {
        conversion_id: public_id,
        status: c.status.clone(),
        commission: Commission {
            value: money::format_cents(commission),
        },
        attributed,
    })
}

fn insert_commission(
    conn: &Connection,
    conversion_id: i64,
    tenant: &str,
    affiliate: &str,
    cents: i64,
    currency: &str,
    now: i64,
) -> StoreResult<i64> {
    conn.prepare_cached(
        "INSERT INTO commissions (conversion_id, tenant, affiliate, amount_cents, currency, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![conversion_id, tenant, affiliate, cents, currency, now])?;
    Ok(conn.last_insert_rowid())
}

fn sale_tx(conn: &Connection, s: &SaleIn) -> StoreResult<SaleOut> {
    let dup: Option<i64> = conn
        .prepare_cached("SELECT id FROM conversions WHERE tenant = ?1 AND transaction_id = ?2")?
        .query_row(params![s.tenant, s.transaction_id], |r| r.get(0))
        .optional()?;
    if dup.is_some() {
        return Err(StoreError::Conflict(
            "duplicate_transaction",
            format!("transaction_id `{}` was already recorded", s.transaction_id),
        ));
    }
    let resolved = resolve(conn, &s.tenant, &s.target)?;
    if resolved.is_none() && !s.allow_unresolved {
        return Err(unresolved_error(&s.target));
    }
    let (cid, affiliate, attributed) = match resolved {
        Some((cid, aff, expires)) => {
            let ok = expires >= s.now;
            (Some(cid), ok.then_some(aff), ok)
        }
        None => (None, None, false),
    };
    let commission = match (&affiliate, s.payout) {
        (Some(_), Some(p)) if s.status != "declined" => p.commission(s.amount_cents),
        _ => 0,
    };
    let public_id = uuid::Uuid::new_v4().to_string();
    conn.prepare_cached(
        "INSERT INTO conversions (public_id, tenant, kind, conversion_type, transaction_id, cid, affiliate, attributed,
            amount_cents, currency, commission_cents, status, customer_key, is_recurring, subscription_id,
            source, details, created_at)
         VALUES (?1, ?2, 'sale', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?
    .execute(params![
        public_id,
        s.tenant,
        s.conversion_type,
        s.transaction_id,
        cid,
        affiliate,
        attributed,
        s.amount_cents,
        s.currency,
        commission,
        s.status,
        s.customer_key,
        s.is_recurring,
        s.subscription_id,
        s.source,
        s.details,
        s.now
    ])?;
    let sale_id = conn.last_insert_rowid();
    let commission_id = match &affiliate {
        Some(a) => Some(insert_commission(
            conn,
            sale_id,
            &s.tenant,
            a,
            commission,
            &s.currency,
            s.now,
        )?),
        None => None,
    };
    Ok(SaleOut {
        sale_id,
        commission_id,
        commission_cents: commission,
        attributed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click(cid: Option<&str>, aff: &str, now: i64) -> ClickIn {
        ClickIn {
            tenant: "t".into(),
            event_id: None,
            cid: cid.map(String::from),
            affiliate: aff.into(),
            url: None,
            referrer: None,
            cookie_secs: 60 * 86_400,
            now,
        }
    }

    #[tokio::test]
    async fn click_rules() {
        let s = Store::open(":memory:").unwrap();
        let c1 = "11111111-1111-4111-8111-111111111111";
        let a = s.click(click(Some(c1), "alice", 1000)).await.unwrap();
        assert_eq!(a.cid, c1);
        let again = s.click(click(Some(c1), "alice", 2000)).await.unwrap();
        assert_eq!(again.cid, c1);
        assert_eq!(again.expired_at, rfc3339(2000 + 60 * 86_400));
        let other = s.click(click(Some(c1), "bob", 3000)).await.unwrap();
        assert_ne!(other.cid, c1);
        let rows = s.report("t".into(), 0, 10_000).await.unwrap();
        let total: i64 = rows.clicks.iter().map(|r| r.2).sum();
        assert_eq!(total, 3);
    }

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
            status: "approved".into(),
            now,
        }
    }

    /// Many writes in one group commit: a failing one (a duplicate) is rolled back alone.
    #[tokio::test]
    async fn group_commit_isolates_failures() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.db");
        let s = Store::open(p.to_str().unwrap()).unwrap();
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
        let (commits, jobs, max_batch) = s.writer_stats();
        assert_eq!(jobs, 200);
        assert!(
            commits < 200 && max_batch > 1,
            "writes were grouped: {commits} commits, max batch {max_batch}"
        );
        let rows = s.report("t".into(), 0, 10_000).await.unwrap();
        let n: i64 = rows.conversions.iter().map(|r| r.3).sum();
        assert_eq!(n, 100);
    }

    /// A write that panics is answered with an error and rolled back alone; the writer thread
    /// survives and keeps serving (otherwise every later write is a 500 while /healthz says ok).
    #[tokio::test]
    async fn a_panicking_write_does_not_kill_the_writer() {
        let s = Store::open(":memory:").unwrap();
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
        let s = Store::open(p.to_str().unwrap()).unwrap();
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

    #[test]
    fn migrations_are_versioned_and_rerunnable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.db");
        let p = p.to_str().unwrap();
        drop(Store::open(p).unwrap());
        let s2 = Store::open(p);
        assert!(s2.is_ok());
        let conn = Connection::open(p).unwrap();
        let v: i64 = conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
