//! The PostgreSQL backend of the clicktrail store: any number of stateless
//! collectors share one database, and every rule that must hold across them (event-id dedupe,
//! one sale per transaction id or Stripe event, the first-subscription-payment rule) holds
//! through constraints and transactions.
//!
//! - tokio-postgres with a deadpool pool; statements are prepared once per connection
//!   (`prepare_cached`), independent statements of one transaction are pipelined;
//! - versioned migrations with refinery (`migrations/V*__*.sql`), run by [`PgStore::connect`]
//!   under an advisory lock so that collectors starting together do not race;
//! - clicks are batched ([`clicks`]): writer tasks take whatever clicks are pending (up to
//!   [`clicks::MAX_BATCH`]) and write them as one transaction of set-based statements, deciding
//!   each click with the domain's `decide_click`; every other write is one transaction per
//!   request from the pool ([`ops`]). `synchronous_commit` stays on: an answer is only sent
//!   after its commit is durable.
//! - the business rules come from `clicktrail_domain`; SQL only reads what a rule needs and
//!   writes what it decided.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use clicktrail_app as app;
use clicktrail_domain::conversion::Status;
use clicktrail_domain::erasure::Erased;
use clicktrail_domain::money::Overflow;
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
    StatusOut, Store, StoreError, StoreResult, StripeEventIn, StripeOutcome, TenantSpec,
    WriteStats,
};
use clicktrail_store::{PendingApplied, RefundOrKept};
use db::in_tx;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

mod catalog;
pub mod clicks;
mod db;
mod erase;
mod ops;
mod payouts;
mod program;
mod refund;
mod report;
pub mod test_cluster;
mod webhooks;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Connections per store (per collector process); `CLICKTRAIL_PG_POOL` overrides it.
pub const DEFAULT_POOL_SIZE: usize = 16;
/// Key of the advisory lock that serializes migrations across collectors.
const MIGRATION_LOCK: i64 = 0x636c_6b74_7261_696c; // "clktrail"

/// Why a transaction body stopped: a store answer (404, 409, 422...) or a database error,
/// kept whole so that deadlocks and serialization failures can be retried.
#[derive(Debug)]
pub(crate) enum Fail {
    Store(StoreError),
    Db(tokio_postgres::Error),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Db(e)
    }
}

impl From<Overflow> for Fail {
    fn from(e: Overflow) -> Self {
        Fail::Store(e.into())
    }
}

impl From<deadpool_postgres::PoolError> for Fail {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Fail::Store(StoreError::Internal(format!("postgres pool: {e}")))
    }
}

impl Fail {
    fn retryable(&self) -> bool {
        match self {
            Fail::Db(e) => matches!(
                e.code(),
                Some(&SqlState::T_R_DEADLOCK_DETECTED) | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
            ),
            Fail::Store(_) => false,
        }
    }

    pub(crate) fn into_store(self) -> StoreError {
        match self {
            Fail::Store(e) => e,
            Fail::Db(e) => StoreError::Internal(match e.as_db_error() {
                Some(db) => format!("postgres: {} ({})", db.message(), db.code().code()),
                None => format!("postgres: {e}"),
            }),
        }
    }
}

/// Runs a transaction, again (up to 4 times) when PostgreSQL aborted it for a deadlock or a
/// serialization failure: nothing of it was stored, so running it again is safe.
pub(crate) async fn retry<T, F, Fut>(mut f: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Fail>>,
{
    let mut attempt = 0u64;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.retryable() && attempt < 4 => {
                attempt += 1;
                tracing::debug!(attempt, "transaction retried after a deadlock");
                tokio::time::sleep(Duration::from_millis(2 * attempt)).await;
            }
            Err(e) => return Err(e.into_store()),
        }
    }
}

/// Write counters: `jobs / commits` is the mean batch size.
#[derive(Default)]
pub(crate) struct Stats {
    pub commits: AtomicU64,
    pub jobs: AtomicU64,
    pub max_batch: AtomicU64,
}

impl Stats {
    pub(crate) fn record(&self, jobs: u64) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.jobs.fetch_add(jobs, Ordering::Relaxed);
        self.max_batch.fetch_max(jobs, Ordering::Relaxed);
    }
}

struct Inner {
    pool: Pool,
    clicks: mpsc::Sender<clicks::ClickJob>,
    stats: Arc<Stats>,
}

/// A store on one PostgreSQL database; cheap to clone (one pool, one set of click writers).
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

impl PgStore {
    /// Connects to `url` (`postgres://USER[:PASS]@HOST[:PORT]/DB`), applies the migrations this
    /// build knows (refusing a database migrated by a newer build), and starts the click
    /// writers. Must be called inside a tokio runtime.
    pub async fn connect(url: &str) -> anyhow::Result<PgStore> {
        let config: tokio_postgres::Config = url.parse()?;
        migrate(&config).await?;
        let size = std::env::var("CLICKTRAIL_PG_POOL")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n: &usize| *n >= 2)
            .unwrap_or(DEFAULT_POOL_SIZE);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager).max_size(size).build()?;
        // fail now, not on the first request, when the database does not answer
        pool.get().await?.simple_query("SELECT 1").await?;
        let stats = Arc::new(Stats::default());
        let clicks = clicks::start(pool.clone(), stats.clone());
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                clicks,
                stats,
            }),
        })
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub(crate) fn stats(&self) -> &Stats {
        &self.inner.stats
    }
}

async fn migrate(config: &tokio_postgres::Config) -> anyhow::Result<()> {
    let (mut client, conn) = config.connect(NoTls).await?;
    let task = tokio::spawn(conn);
    // collectors starting at once: one migrates, the others wait and find it done
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    // grouped: the pending migrations and their history lines commit together, so a crash
    // can never leave a migration applied but unrecorded (it would re-run and fail)
    let report = embedded::migrations::runner()
        .set_grouped(true)
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .run_async(&mut client)
        .await;
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    drop(client);
    let _ = task.await;
    let report = report.map_err(|e| {
        anyhow::anyhow!(
            "database migration failed (a database migrated by a newer collector is refused): {e}"
        )
    })?;
    unlock?;
    for m in report.applied_migrations() {
        tracing::info!(
            version = m.version(),
            name = m.name(),
            "applied schema migration"
        );
    }
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn click(&self, c: ClickIn) -> StoreResult<ClickOut> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .clicks
            .send(clicks::ClickJob { click: c, reply })
            .await
            .map_err(|_| StoreError::Internal("click writer stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Internal("click writer dropped the click".into()))?
    }

    async fn conversion(&self, c: ConversionIn) -> StoreResult<ConversionOut> {
        let r = retry(|| {
            in_tx(self, async |db| {
                app::conversion::conversion(&mut Sql(db), &c).await
            })
        })
        .await;
        if r.is_ok() {
            self.stats().record(1);
        }
        r
    }

    async fn link_external(&self, l: ExternalLinkIn) -> StoreResult<OkOut> {
        let r = retry(|| {
            in_tx(self, async |db| {
                app::lead::link_external(&mut Sql(db), &l).await
            })
        })
        .await;
        if r.is_ok() {
            self.stats().record(1);
        }
        r
    }

    async fn lead(&self, l: LeadIn) -> StoreResult<OkOut> {
        let r = retry(|| in_tx(self, async |db| app::lead::lead(&mut Sql(db), &l).await)).await;
        if r.is_ok() {
            self.stats().record(1);
        }
        r
    }

    async fn diagnostic(&self, d: DiagnosticIn) -> StoreResult<()> {
        let r = retry(|| {
            in_tx(self, async |db| {
                app::diagnostic::diagnostic(&mut Sql(db), &d).await
            })
        })
        .await;
        if r.is_ok() {
            self.stats().record(1);
        }
        r
    }

    async fn sale(&self, s: SaleIn) -> StoreResult<SaleOut> {
        let r = retry(|| in_tx(self, async |db| app::sale::sale(&mut Sql(db), &s).await)).await;
        if r.is_ok() {
            self.stats().record(1);
        }
        r
    }

    async fn stripe_event(&self, e: StripeEventIn) -> StoreResult<StripeOutcome> {
        let r = retry(|| {
            in_tx(self, async |db| {
                app::stripe::stripe_event(&mut Sql(db), &e).await
            })
        })
        .await;
        if r.is_ok() {
            self.stats().record(1);
        }
        r
    }

    async fn import_items(
        &self,
        rows: Vec<ImportItemRow>,
    ) -> StoreResult<Result<usize, Vec<(u64, String)>>> {
        let r = retry(|| refund::import_items(self, &rows)).await;
        self.stats().record(1);
        r
    }

    async fn report(&self, tenant: &str, from: i64, to: i64) -> StoreResult<ReportRows> {
        retry(|| report::rows(self, tenant, from, to)).await
    }

    async fn refund(&self, r: RefundIn) -> StoreResult<RefundOut> {
        let out =
            retry(|| in_tx(self, async |db| app::refund::refund(&mut Sql(db), &r).await)).await;
        self.stats().record(1);
        out
    }

    async fn set_conversion_status(
        &self,
        tenant: &str,
        id: &str,
        status: Status,
        now: i64,
    ) -> StoreResult<StatusOut> {
        let r = retry(|| {
            in_tx(self, async |db| {
                app::status::set_status(&mut Sql(db), tenant, id, status, now).await
            })
        })
        .await;
        self.stats().record(1);
        r
    }

    async fn ledger_entries(&self, tenant: &str) -> StoreResult<Vec<EntryView>> {
        retry(|| in_tx(self, async |db| sql::payouts::entries(&db, tenant).await)).await
    }

    async fn pay(&self, p: PayIn) -> StoreResult<PayoutOut> {
        let r = retry(|| payouts::pay(self, &p)).await;
        self.stats().record(1);
        r
    }

    async fn payout(&self, tenant: &str, id: i64) -> StoreResult<PayoutOut> {
        retry(|| in_tx(self, async |db| sql::payouts::payout(&db, tenant, id).await)).await
    }

    async fn portal_link(
        &self,
        tenant: &str,
        affiliate: &str,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<()> {
        retry(|| {
            in_tx(self, async |db| {
                app::portal::link(&mut Sql(db), tenant, affiliate, token_hash, now).await
            })
        })
        .await
    }

    async fn revoke_portal_link(
        &self,
        tenant: &str,
        affiliate: &str,
        now: i64,
    ) -> StoreResult<bool> {
        retry(|| {
            in_tx(self, async |db| {
                app::portal::revoke(&mut Sql(db), tenant, affiliate, now).await
            })
        })
        .await
    }

    async fn portal_lookup(&self, token_hash: &str) -> StoreResult<Option<(String, String)>> {
        retry(|| in_tx(self, async |db| sql::portal::lookup(&db, token_hash).await)).await
    }

    async fn portal_activity(
        &self,
        tenant: &str,
        affiliate: &str,
        limit: i64,
    ) -> StoreResult<PortalActivity> {
        retry(|| {
            in_tx(self, async |db| {
                app::portal::activity(&mut Sql(db), tenant, affiliate, limit).await
            })
        })
        .await
    }

    async fn apply_catalog(&self, specs: Vec<TenantSpec>, now: i64) -> StoreResult<()> {
        let r = retry(|| {
            in_tx(self, async |db| {
                app::catalog::apply(&mut Sql(db), &specs, now).await
            })
        })
        .await;
        if r.is_ok() {
            self.stats().record(1);
        }
        r
    }

    async fn load_catalog(&self) -> StoreResult<Catalog> {
        retry(|| catalog::load(self)).await
    }

    async fn catalog_version(&self) -> StoreResult<i64> {
        retry(|| catalog::version(self)).await
    }

    async fn ping(&self) -> StoreResult<()> {
        retry(|| async {
            let client = self.pool().get().await?;
            client.simple_query("SELECT 1").await?;
            Ok(())
        })
        .await
    }

    async fn diagnostics_count(&self) -> StoreResult<i64> {
        retry(|| in_tx(self, async |db| sql::admin::diagnostics_count(&db).await)).await
    }

    fn write_stats(&self) -> WriteStats {
        let s = self.stats();
        WriteStats {
            commits: s.commits.load(Ordering::Relaxed),
            jobs: s.jobs.load(Ordering::Relaxed),
            max_batch: s.max_batch.load(Ordering::Relaxed),
        }
    }

    async fn change_catalog(&self, c: ChangeIn) -> StoreResult<()> {
        let r = retry(|| {
            in_tx(self, async |db| {
                app::catalog::change(&mut Sql(db), &c).await
            })
        })
        .await;
        if r.is_ok() {
            self.stats().record(1);
        }
        r
    }

    async fn affiliates(&self, tenant: &str) -> StoreResult<Vec<AffiliateRow>> {
        retry(|| in_tx(self, async |db| sql::admin::affiliates(&db, tenant).await)).await
    }

    async fn keys(&self, tenant: &str) -> StoreResult<Vec<KeyRow>> {
        retry(|| in_tx(self, async |db| sql::admin::keys(&db, tenant).await)).await
    }

    async fn diagnostics(&self, f: EventFilter) -> StoreResult<Vec<DiagnosticRow>> {
        retry(|| in_tx(self, async |db| sql::admin::diagnostics(&db, &f).await)).await
    }

    async fn recent_events(&self, f: EventFilter) -> StoreResult<Vec<EventRow>> {
        retry(|| {
            in_tx(self, async |db| {
                app::admin::recent_events(&mut Sql(db), &f).await
            })
        })
        .await
    }

    async fn audit(&self, a: AuditIn) -> StoreResult<()> {
        retry(|| in_tx(self, async |db| sql::admin::audit(&db, &a).await)).await
    }

    async fn audit_log(&self, tenant: &str, limit: i64, offset: i64) -> StoreResult<Vec<AuditRow>> {
        retry(|| {
            in_tx(self, async |db| {
                sql::admin::audit_log(&db, tenant, limit, offset).await
            })
        })
        .await
    }

    async fn erase(&self, e: clicktrail_store::EraseIn) -> StoreResult<Erased> {
        let out = retry(|| erase::erase(self, &e)).await?;
        // reclaims the old row versions now (docs/privacy.md); the erasure stands either way
        if let Err(e) = erase::vacuum(self).await {
            tracing::warn!(error = %e.into_store(), "VACUUM after an erasure failed");
        }
        Ok(out)
    }

    async fn set_retention(&self, tenant: &str, r: Retention, now: i64) -> StoreResult<()> {
        retry(|| {
            in_tx(self, async |db| {
                sql::erase::set_retention(&db, tenant, &r, now).await
            })
        })
        .await
    }

    async fn retention(&self, tenant: &str) -> StoreResult<Retention> {
        retry(|| in_tx(self, async |db| sql::erase::retention(&db, tenant).await)).await
    }

    async fn prune(&self, now: i64) -> StoreResult<Pruned> {
        retry(|| in_tx(self, async |db| sql::erase::prune(&db, now).await)).await
    }

    async fn refund_or_keep(&self, r: RefundIn) -> StoreResult<RefundOrKept> {
        let out = retry(|| {
            in_tx(self, async |db| {
                app::pending::refund_or_keep(&mut Sql(db), &r).await
            })
        })
        .await;
        self.stats().record(1);
        out
    }

    async fn apply_kept_refunds(
        &self,
        tenant: &str,
        transaction_id: &str,
        aliases: Vec<String>,
        now: i64,
    ) -> StoreResult<PendingApplied> {
        let out = retry(|| {
            in_tx(self, async |db| {
                app::pending::apply_kept(&mut Sql(db), tenant, transaction_id, &aliases, now).await
            })
        })
        .await;
        self.stats().record(1);
        out
    }

    fn program(&self) -> &dyn clicktrail_store::ProgramStore {
        self
    }

    fn webhooks(&self) -> &dyn clicktrail_store::WebhookStore {
        self
    }
}
