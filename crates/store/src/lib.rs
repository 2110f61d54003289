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
use clicktrail_domain::payout::EntryView;
use clicktrail_domain::report::ReportRows;
use clicktrail_domain::rules::Rules;
use clicktrail_domain::{Cid, Payout};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

mod error;
mod portal;
pub use error::{StoreError, StoreResult};
pub mod admin;
pub use admin::{
    AffiliateRow, AuditIn, AuditRow, CatalogChange, ChangeIn, DiagnosticRow, EventFilter, EventRow,
    KeyRow,
};
pub use portal::{PortalActivity, PortalConversion, PortalPayout};
mod privacy;
pub use privacy::EraseIn;
pub mod program;
pub use program::ProgramStore;
pub mod webhooks;
pub use webhooks::WebhookStore;

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
    /// The tenant's commission rules and coupon codes.
    pub rules: Arc<Rules>,
    /// couponCodes: the first that is a tenant's code credits its affiliate when no click does.
    pub coupon_codes: Vec<String>,
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
    /// The tenant's commission rules and coupon codes (domain `rules`).
    pub rules: Arc<Rules>,
    /// Coupon / promotion codes used: the first that is a tenant's code credits its
    /// affiliate when no click does.
    pub coupon_codes: Vec<String>,
    /// Price and product ids (most specific first) for per-product rates.
    pub products: Vec<String>,
    /// The customer's email (self-referrals).
    pub customer_email: Option<String>,
}

impl SaleIn {
    /// The one place a sale's policy is set: `tenant`'s sale conversion type, its payout and
    /// hold, approved, recorded unattributed when `target` does not resolve. Each entry point
    /// (API, webhooks, CSV) then sets what it knows better (a customer key, a subscription,
    /// `allow_unresolved: false`...).
    pub fn for_tenant(
        tenant: &Tenant,
        transaction_id: String,
        amount_cents: i64,
        currency: String,
        target: Target,
        source: &'static str,
        now: i64,
    ) -> SaleIn {
        SaleIn {
            tenant: tenant.id.clone(),
            transaction_id,
            amount_cents,
            currency,
            target,
            allow_unresolved: true,
            conversion_type: tenant.sale_conversion_type.clone(),
            payout: tenant.sale_payout(),
            customer_key: None,
            is_recurring: false,
            subscription_id: None,
            source,
            details: None,
            status: Status::Approved,
            hold_days: tenant.hold_days,
            now,
            rules: tenant.rules.clone(),
            coupon_codes: Vec::new(),
            products: Vec::new(),
            customer_email: None,
        }
    }
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
    /// Stripe's money events, ids, test mode (see [`StripeMoney`]).
    pub money: StripeMoney,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeOutcome {
    /// Event id seen before: nothing done.
    Duplicate,
    /// Recorded (`sale` is `None` when the event needed no new sale).
    Recorded { sale: Option<SaleOut> },
    /// A money event (refund, dispute, async payment result, free-trial link) settled.
    Settled(StripeMoneyOut),
}

pub use stripe::{
    PaymentResult, StripeFactIn, StripeIds, StripeLinkIn, StripeMoney, StripeMoneyOut,
};
mod stripe;
/// One CSV row of a file with sales and refunds ( "CSV import also takes refund
/// rows"), in file order: a refund may follow its sale in the same file.
#[derive(Debug, Clone)]
// a file's rows are read once, in order: the size of a row does not matter
#[allow(clippy::large_enum_variant)]
pub enum ImportItem {
    Sale(SaleIn),
    Refund(RefundIn),
}

#[derive(Debug, Clone)]
pub struct ImportItemRow {
    pub line: u64,
    pub item: ImportItem,
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

/// A refund of (part of) a sale, by the sale's `transaction_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundIn {
    pub tenant: String,
    pub transaction_id: String,
    /// Unique per tenant: a retry with the same body is answered as before, another body with
    /// the same id is a 409 `refund_id_reused`.
    pub refund_id: String,
    /// `None`: what is left to refund.
    pub amount_cents: Option<i64>,
    pub reason: Option<String>,
    pub now: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefundOut {
    pub refund_id: String,
    pub transaction_id: String,
    /// What this refund refunded (the requested amount, or what was left).
    pub amount_cents: i64,
    /// The commission it reversed (positive; written as a negative `reversal` entry; 0 for an
    /// unattributed sale).
    pub commission_reversed_cents: i64,
}

/// A conversion's status changed by an operator.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatusOut {
    /// The conversion's public id.
    pub conversion_id: String,
    pub status: String,
    /// What declining reversed (0 otherwise).
    pub commission_reversed_cents: i64,
}

/// Pay what is due to one affiliate through `through` (unix seconds, inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayIn {
    pub tenant: String,
    pub affiliate: String,
    pub through: i64,
    /// Needed only when the affiliate is due amounts in several currencies.
    pub currency: Option<String>,
    pub now: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PayoutLine {
    pub entry_id: i64,
    /// The public id of the conversion or sale the entry belongs to.
    pub conversion_id: String,
    pub transaction_id: Option<String>,
    /// `accrual`, `reversal` or `adjustment`.
    pub kind: String,
    pub amount_cents: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PayoutOut {
    pub payout_id: i64,
    pub affiliate: String,
    pub amount_cents: i64,
    pub currency: String,
    /// Unix seconds: entries available by then were taken.
    pub through: i64,
    pub created_at: i64,
    pub lines: Vec<PayoutLine>,
}

/// The field of the 422 a payout with nothing due answers (the HTTP layer maps it to the
/// `nothing_due` code).
pub const NOTHING_DUE: &str = "nothing_due";

/// Group-commit / batching counters since start: `jobs / commits` is the mean batch size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub commits: u64,
    pub jobs: u64,
    pub max_batch: u64,
}

/// The write-ahead log of a backend that has one of its own (SQLite's `-wal` file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStatus {
    /// The file's size now.
    pub bytes: u64,
    /// The largest size the writer saw since start.
    pub peak_bytes: u64,
    /// Frames not yet copied into the database at the last checkpoint.
    pub frames_behind: u64,
    /// Checkpoints that emptied the file, and those that readers kept from finishing.
    pub truncations: u64,
    pub truncations_busy: u64,
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

    /// Sales and refunds, all rows or none (one transaction), in order; every bad row as
    /// `(line, message)`.
    async fn import_items(
        &self,
        rows: Vec<ImportItemRow>,
    ) -> StoreResult<Result<usize, Vec<(u64, String)>>>;

    /// Grouped rows for `[from, to)` (unix seconds); commissions are sums of the ledger.
    async fn report(&self, tenant: &str, from: i64, to: i64) -> StoreResult<ReportRows>;

    /// A refund of a sale: idempotent by (tenant, refund_id); 404
    /// `unknown_transaction`; 409 `refund_id_reused`; 422 more than is left. Appends the
    /// reversal (domain `refund::reversal`) for the sale's affiliate.
    async fn refund(&self, r: RefundIn) -> StoreResult<RefundOut>;

    /// An operator approves or declines a conversion (`id`: its public id, or a sale's numeric
    /// `sale_id`). Declining reverses its net commission; a declined conversion stays declined
    /// (409 `conversion_declined`). 404 `unknown_conversion`.
    async fn set_conversion_status(
        &self,
        tenant: &str,
        id: &str,
        status: Status,
        now: i64,
    ) -> StoreResult<StatusOut>;

    /// Every ledger entry of the tenant (with its paid flag), for domain `payout::due` and
    /// `payout::totals`.
    async fn ledger_entries(&self, tenant: &str) -> StoreResult<Vec<EntryView>>;

    /// Pays what is due to one affiliate (domain `payout::due`), in one transaction: an entry
    /// is never paid twice, even by two collectors at once. 422 [`NOTHING_DUE`] when nothing is.
    async fn pay(&self, p: PayIn) -> StoreResult<PayoutOut>;

    /// One payout with its lines; 404 `unknown_payout`.
    async fn payout(&self, tenant: &str, id: i64) -> StoreResult<PayoutOut>;

    /// Makes `token_hash` the affiliate's one portal link: earlier links stop working (
    /// create and rotate are the same act, since a token is shown once and stored hashed).
    async fn portal_link(
        &self,
        tenant: &str,
        affiliate: &str,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<()>;

    /// Revokes the affiliate's portal link; `false` when there was none.
    async fn revoke_portal_link(
        &self,
        tenant: &str,
        affiliate: &str,
        now: i64,
    ) -> StoreResult<bool>;

    /// The (tenant, affiliate) of a live portal link.
    async fn portal_lookup(&self, token_hash: &str) -> StoreResult<Option<(String, String)>>;

    /// One affiliate's newest `limit` conversions and all their payouts.
    async fn portal_activity(
        &self,
        tenant: &str,
        affiliate: &str,
        limit: i64,
    ) -> StoreResult<PortalActivity>;

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

    /// The write-ahead log's state where the backend keeps one in a file of its own.
    fn wal_status(&self) -> Option<WalStatus> {
        None
    }

    /// A clean stop once serving has ended: every acknowledged write is on disk and the
    /// backend leaves its files compact (SQLite empties its WAL). Writes after it fail.
    async fn close(&self) {}

    // ---- the admin API (crate::admin) ----

    /// One catalog change, its audit line and a catalog-version bump, in one transaction.
    async fn change_catalog(&self, c: ChangeIn) -> StoreResult<()>;

    /// A tenant's affiliates (disabled ones included), oldest first.
    async fn affiliates(&self, tenant: &str) -> StoreResult<Vec<AffiliateRow>>;

    /// A tenant's keys (revoked ones included), never their secret.
    async fn keys(&self, tenant: &str) -> StoreResult<Vec<KeyRow>>;

    /// A tenant's diagnostics, newest first (`kinds`, `since`, `limit`, `offset` of the filter).
    async fn diagnostics(&self, f: EventFilter) -> StoreResult<Vec<DiagnosticRow>>;

    /// The recent-event log (admin::merge_events).
    async fn recent_events(&self, f: EventFilter) -> StoreResult<Vec<EventRow>>;

    /// One audit line for a change that is not a catalog change (payouts, conversion status).
    async fn audit(&self, line: AuditIn) -> StoreResult<()>;

    /// A tenant's audit log, newest first.
    async fn audit_log(&self, tenant: &str, limit: i64, offset: i64) -> StoreResult<Vec<AuditRow>>;

    // ---- personal data (crate::privacy) ----

    /// Erases one customer or visitor (`clicktrail_app::erasure`) with its audit line, in one
    /// transaction; when it returns, the erased values are gone from the backend's files
    /// where the backend can promise it (SQLite: secure delete and an emptied WAL).
    async fn erase(&self, e: EraseIn) -> StoreResult<clicktrail_domain::erasure::Erased>;

    /// Sets a tenant's retention (validated by the caller).
    async fn set_retention(
        &self,
        tenant: &str,
        r: clicktrail_domain::retention::Retention,
        now: i64,
    ) -> StoreResult<()>;

    /// A tenant's retention (all `None` when never set).
    async fn retention(&self, tenant: &str)
        -> StoreResult<clicktrail_domain::retention::Retention>;

    /// One pruning pass over every tenant with a retention setting.
    async fn prune(&self, now: i64) -> StoreResult<clicktrail_domain::retention::Pruned>;

    /// A billing provider's refund: applied like [`Store::refund`] when its sale exists, else
    /// kept (idempotent by refund id) until [`Store::apply_kept_refunds`] for that sale.
    async fn refund_or_keep(&self, r: RefundIn) -> StoreResult<RefundOrKept>;

    /// Links `aliases` (other names a provider's refund may give the sale, e.g. its invoice) to
    /// the sale `transaction_id`, then applies the refunds kept for it or an alias (no sale:
    /// nothing to do).
    async fn apply_kept_refunds(
        &self,
        tenant: &str,
        transaction_id: &str,
        aliases: Vec<String>,
        now: i64,
    ) -> StoreResult<PendingApplied>;

    /// The affiliate program's storage (applications, settings, payout details, outbox).
    fn program(&self) -> &dyn ProgramStore;

    /// Outgoing webhooks: endpoints, their events, their health.
    fn webhooks(&self) -> &dyn WebhookStore;
}

/// What [`Store::refund_or_keep`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOrKept {
    Refunded(RefundOut),
    /// No sale has the transaction id yet: kept until it is recorded.
    Kept,
}

/// What [`Store::apply_kept_refunds`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingApplied {
    pub applied: Vec<RefundOut>,
    /// Kept refunds the refund rules refused (refund id, why), removed.
    pub dropped: Vec<(String, String)>,
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

/// A refund already stored under a refund id, as a backend reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRefund {
    pub transaction_id: String,
    pub requested_cents: Option<i64>,
    pub reason: Option<String>,
    pub out: RefundOut,
}

/// A refund id seen before: the same body is answered as the first time; another body is a
/// 409 `refund_id_reused` (the same words on every backend).
pub fn replay_refund(prior: StoredRefund, r: &RefundIn) -> StoreResult<RefundOut> {
    if prior.transaction_id == r.transaction_id
        && prior.requested_cents == r.amount_cents
        && prior.reason == r.reason
    {
        Ok(prior.out)
    } else {
        Err(refund_id_reused(&r.refund_id, &prior.transaction_id))
    }
}

/// 409 `refund_id_reused`: the id names a refund of `prior_transaction` with another body.
pub fn refund_id_reused(refund_id: &str, prior_transaction: &str) -> StoreError {
    StoreError::Conflict(
        "refund_id_reused",
        format!(
            "refund_id `{refund_id}` was already used for another refund (transaction `{prior_transaction}`)"
        ),
    )
}

/// 404 for a refund of a transaction id no sale has.
pub fn unknown_transaction(transaction_id: &str) -> StoreError {
    StoreError::NotFound(
        "unknown_transaction",
        format!("no sale has transaction_id `{transaction_id}`"),
    )
}

/// A refund the domain refuses, as a 422 on `amount_cents`.
pub fn refund_error(e: clicktrail_domain::refund::RefundError) -> StoreError {
    use clicktrail_domain::refund::RefundError;
    let msg = match e {
        RefundError::NotPositive => "must be a positive integer number of cents".to_string(),
        RefundError::MoreThanLeft(0) => "the sale is already fully refunded".to_string(),
        RefundError::MoreThanLeft(left) => {
            format!("is more than is left to refund ({left} cents)")
        }
        RefundError::Overflow => "is too large: a total would not be representable".to_string(),
    };
    StoreError::Invalid("amount_cents".into(), msg)
}

/// 404 for an operator's change to an unknown conversion.
pub fn unknown_conversion(id: &str) -> StoreError {
    StoreError::NotFound(
        "unknown_conversion",
        format!("no conversion or sale has id `{id}`"),
    )
}

/// 409 for approving a declined conversion.
pub fn conversion_declined(id: &str) -> StoreError {
    StoreError::Conflict(
        "conversion_declined",
        format!("conversion `{id}` is declined: its commission was reversed, and a declined conversion is not re-approved"),
    )
}

/// What `pay` answers when nothing is due.
pub fn nothing_due(affiliate: &str) -> StoreError {
    StoreError::Invalid(
        NOTHING_DUE.into(),
        format!("nothing is due to affiliate `{affiliate}` through that date"),
    )
}

/// The one due amount of `affiliate` a payout takes (domain `payout::due` groups by currency).
pub fn pick_due(
    due: Vec<clicktrail_domain::payout::Due>,
    affiliate: &str,
    currency: Option<&str>,
) -> StoreResult<clicktrail_domain::payout::Due> {
    let mut mine: Vec<_> = due
        .into_iter()
        .filter(|d| d.affiliate == affiliate && currency.is_none_or(|c| d.currency == c))
        .collect();
    match mine.len() {
        0 => Err(nothing_due(affiliate)),
        1 => Ok(mine.remove(0)),
        _ => Err(StoreError::Invalid(
            "currency".into(),
            format!(
                "affiliate `{affiliate}` is due amounts in {}: say which currency to pay",
                mine.iter()
                    .map(|d| d.currency.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}
