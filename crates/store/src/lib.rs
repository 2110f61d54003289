//! The storage interface: one [`Store`] trait that the SQLite and PostgreSQL backends
//! implement, and the typed values that cross it.
//!
//! A backend runs each call as one transaction: it reads what a rule needs, asks the domain
//! (`clicktrail_domain`) what to do, and persists the decision. Every rule that must hold across
//! collectors sharing one database (event-id dedupe, one sale per transaction id or Stripe
//! event, one first subscription payment) is enforced by constraints and transactions there,
//! never by one process's memory.

use async_trait::async_trait;
use clicktrail_domain::catalog::{Catalog, KeyScope, Tenant};
use clicktrail_domain::conversion::Status;
use clicktrail_domain::report::ReportRows;
use clicktrail_domain::{Cid, Payout};
use serde::{Deserialize, Serialize};

mod error;
pub use error::{StoreError, StoreResult};

/// How a conversion or sale names the visitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Cid(Cid),
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
    /// The CID the tracker proposes (the one it already wrote to the cookie).
    pub cid: Option<Cid>,
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
    pub status: Status,
    /// couponCodes / customParams as JSON text.
    pub details: Option<String>,
    pub hold_days: i64,
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
pub struct ExternalLinkIn {
    pub tenant: String,
    pub event_id: Option<String>,
    pub cid: Cid,
    pub revenue_origin: String,
    pub external_cid: String,
    pub now: i64,
}

#[derive(Debug, Clone)]
pub struct LeadIn {
    pub tenant: String,
    /// Browser leads are idempotent by event id.
    pub event_id: Option<String>,
    pub cid: Option<Cid>,
    pub customer_key: Option<String>,
    pub email: Option<String>,
    pub source: &'static str,
    pub now: i64,
}

#[derive(Debug, Clone)]
pub struct DiagnosticIn {
    /// Only a tenant of the catalog (made-up ids are stored without tenant).
    pub tenant: Option<String>,
    pub event_id: Option<String>,
    pub kind: Option<String>,
    pub message: Option<String>,
    pub url: Option<String>,
    pub user_agent: Option<String>,
    pub now: i64,
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
    pub status: Status,
    pub hold_days: i64,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleOut {
    pub sale_id: i64,
    /// The ledger accrual (attributed sales only).
    pub commission_id: Option<i64>,
    pub commission_cents: i64,
    pub attributed: bool,
}

#[derive(Debug, Clone)]
pub struct StripeEventIn {
    pub tenant: String,
    pub event_id: String,
    pub event_type: String,
    pub sale: Option<SaleIn>,
    /// The sale is a subscription's first payment (checkout session or first invoice), which
    /// Stripe delivers twice in either order: count it once (domain `first_payment`).
    pub first_payment: bool,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeOutcome {
    /// Event id seen before: nothing done.
    Duplicate,
    /// Recorded (`sale` is `None` when the event needed no new sale).
    Recorded { sale: Option<SaleOut> },
}

/// One CSV row, already parsed and validated syntactically.
#[derive(Debug, Clone)]
pub struct ImportRow {
    pub line: u64,
    pub sale: SaleIn,
}

/// A key to create if it does not exist (plaintext here; stores keep only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub key: String,
    pub scopes: Vec<KeyScope>,
}

/// A tenant as a configuration file declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSpec {
    pub tenant: Tenant,
    pub keys: Vec<KeySpec>,
}

/// Group-commit / batching counters since start: `jobs / commits` is the mean batch size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub commits: u64,
    pub jobs: u64,
    pub max_batch: u64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres` (logs, metrics, tests).
    fn backend(&self) -> &'static str;

    /// A click (browser). Idempotent by event id: a retry gets the first answer.
    async fn click(&self, c: ClickIn) -> StoreResult<ClickOut>;

    /// A browser conversion (by CID, external CID or customer key). Idempotent by event id;
    /// 409 on a reused (conversion type, externalId).
    async fn conversion(&self, c: ConversionIn) -> StoreResult<ConversionOut>;

    /// Links (revenue origin, external CID) to a CID. Idempotent by event id.
    async fn link_external(&self, l: ExternalLinkIn) -> StoreResult<OkOut>;

    /// A lead: links the customer key to the CID; one lead per customer key (or per CID
    /// without a key) however often it is sent.
    async fn lead(&self, l: LeadIn) -> StoreResult<OkOut>;

    /// A loader failure report (capped per tenant).
    async fn diagnostic(&self, d: DiagnosticIn) -> StoreResult<()>;

    /// A sale (server-to-server). 409 on a reused transaction id.
    async fn sale(&self, s: SaleIn) -> StoreResult<SaleOut>;

    /// A verified Stripe event: dedupe by event id, then the sale if any.
    async fn stripe_event(&self, e: StripeEventIn) -> StoreResult<StripeOutcome>;

    /// All rows or none; every bad row as `(line, message)`.
    async fn import(&self, rows: Vec<ImportRow>) -> StoreResult<Result<usize, Vec<(u64, String)>>>;

    /// Grouped rows for `[from, to)` (unix seconds); commissions are sums of the ledger.
    async fn report(&self, tenant: &str, from: i64, to: i64) -> StoreResult<ReportRows>;

    /// Creates or updates what the specs declare (tenants, affiliates, conversion types,
    /// origins, keys); deletes nothing. Bumps the catalog version.
    async fn apply_catalog(&self, specs: Vec<TenantSpec>, now: i64) -> StoreResult<()>;

    /// The whole catalog as of now.
    async fn load_catalog(&self) -> StoreResult<Catalog>;

    /// Changes whenever the catalog changes (cheap: collectors poll it).
    async fn catalog_version(&self) -> StoreResult<i64>;

    /// The database answers (`/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Number of stored diagnostics (operators and tests).
    async fn diagnostics_count(&self) -> StoreResult<i64>;

    fn write_stats(&self) -> WriteStats;
}

/// The 404 for a target that resolves to no CID (the same words on every backend).
pub fn unresolved_error(target: &Target) -> StoreError {
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
