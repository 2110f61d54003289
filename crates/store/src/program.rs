//! What the affiliate program asks of a store: applications and their decision, per-tenant
//! program settings, the payout details an affiliate maintains, and a durable outbox.
//!
//! The outbox is generic (a `channel` per kind of delivery, `email` today): a message is
//! written in the same transaction as the fact it announces, under a unique dedupe key, so a
//! retried request or a restart never queues it twice, and a worker delivers it at least once.

use async_trait::async_trait;
use clicktrail_domain::program::Application;
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// A tenant's program settings (`[tenants.program]` in the config file, `PATCH
/// /api/v1/program/settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramSettings {
    /// The public join page `/join/{tenant}` takes applications.
    pub join_enabled: bool,
    /// Applications are approved as they arrive.
    pub auto_approve: bool,
    /// The program's name in emails and on the join page (default: the tenant id).
    pub program_name: Option<String>,
    /// The shop's address shown as the affiliate's link (default: the first allowed origin).
    pub shop_url: Option<String>,
    /// Where "application received" goes (none: not sent).
    pub operator_email: Option<String>,
    pub notify_applications: bool,
    pub notify_decisions: bool,
    pub notify_commissions: bool,
    pub notify_payouts: bool,
}

impl Default for ProgramSettings {
    fn default() -> Self {
        ProgramSettings {
            join_enabled: true,
            auto_approve: false,
            program_name: None,
            shop_url: None,
            operator_email: None,
            notify_applications: true,
            notify_decisions: true,
            notify_commissions: true,
            notify_payouts: true,
        }
    }
}

/// One application as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationRow {
    pub id: i64,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    pub name: String,
    pub email: String,
    pub website: Option<String>,
    pub promotion: String,
    /// The code asked for.
    pub wished_code: Option<String>,
    /// The affiliate created on approval.
    pub affiliate: Option<String>,
    /// Why it was rejected.
    pub reason: Option<String>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

impl ApplicationRow {
    /// The application as the domain checked it (for its emails and code).
    pub fn application(&self) -> Application {
        Application {
            name: self.name.clone(),
            email: self.email.clone(),
            website: self.website.clone(),
            promotion: self.promotion.clone(),
            code: self.wished_code.clone(),
        }
    }
}

/// What the program's emails need that the store does not hold.
#[derive(Debug, Clone, Default)]
pub struct Notices {
    pub program_name: String,
    pub settings: ProgramSettings,
    /// `{public_url}/dashboard`.
    pub dashboard_url: String,
}

/// A new portal link made for an approval: the hash is stored, the URL goes in the email.
#[derive(Debug, Clone)]
pub struct NewPortalLink {
    pub token_hash: String,
    pub url: String,
}

/// An application from the join page (already checked by `domain::program::validate`).
#[derive(Debug, Clone)]
pub struct SubmitIn {
    pub tenant: String,
    pub application: Application,
    pub notices: Notices,
    /// Used when the tenant approves automatically.
    pub link: NewPortalLink,
    pub now: i64,
}

/// What happened to a submission (never shown to the applicant: the join page answers the
/// same whatever happened, so it does not tell whether an address is known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    New(Box<ApplicationRow>),
    /// The address already has a pending or approved application: nothing was stored.
    Known,
}

/// An operator's decision.
#[derive(Debug, Clone)]
pub enum Decision {
    Approve(NewPortalLink),
    Reject { reason: String },
}

#[derive(Debug, Clone)]
pub struct DecideIn {
    pub tenant: String,
    pub id: i64,
    pub decision: Decision,
    /// The key id or `auto` (the audit line of the affiliate created).
    pub actor: String,
    pub notices: Notices,
    pub now: i64,
}

/// Where an affiliate wants to be paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutDetails {
    /// e.g. `paypal`, `bank_transfer`, `wise`.
    pub method: String,
    /// e.g. a PayPal email or an IBAN.
    pub address: String,
    pub updated_at: i64,
}

/// A message to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxIn {
    pub channel: String,
    /// Unique over the whole outbox: a second message with the same key is not queued.
    pub dedupe_key: String,
    pub tenant: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub now: i64,
}

/// A queued message and its delivery state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxRow {
    pub id: i64,
    pub channel: String,
    pub dedupe_key: String,
    pub tenant: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub created_at: i64,
}

/// A ledger accrual or a payout the affiliate may be told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: i64,
    pub tenant: String,
    pub affiliate: String,
    pub amount_cents: i64,
    pub currency: String,
    /// The affiliate's address (from their approved application), if any.
    pub email: Option<String>,
    /// Their payout details as `method: address` (payouts only).
    pub payout_to: Option<String>,
}

/// The program's storage; every backend implements it over its own SQL.
#[async_trait]
pub trait ProgramStore: Send + Sync {
    /// The tenant's settings (defaults when none were stored).
    async fn program_settings(&self, tenant: &str) -> StoreResult<ProgramSettings>;

    async fn set_program_settings(
        &self,
        tenant: &str,
        s: &ProgramSettings,
        now: i64,
    ) -> StoreResult<()>;

    /// Stores an application (use case `clicktrail_app::program::submit`), approving it at once
    /// when the tenant says so; its emails are queued in the same transaction.
    async fn submit_application(&self, s: SubmitIn) -> StoreResult<Submitted>;

    /// A tenant's applications, newest first (`status` filters).
    async fn applications(
        &self,
        tenant: &str,
        status: Option<&str>,
    ) -> StoreResult<Vec<ApplicationRow>>;

    /// Approves or rejects a pending application (use case `clicktrail_app::program::decide`).
    async fn decide_application(&self, d: DecideIn) -> StoreResult<ApplicationRow>;

    /// The affiliate's payout details.
    async fn payout_details(
        &self,
        tenant: &str,
        affiliate: &str,
    ) -> StoreResult<Option<PayoutDetails>>;

    /// Every affiliate's payout details in the tenant, by code.
    async fn all_payout_details(&self, tenant: &str) -> StoreResult<Vec<(String, PayoutDetails)>>;

    async fn set_payout_details(
        &self,
        tenant: &str,
        affiliate: &str,
        d: &PayoutDetails,
    ) -> StoreResult<()>;

    /// The email of the affiliate's approved application, if it came through the join page.
    async fn affiliate_email(&self, tenant: &str, affiliate: &str) -> StoreResult<Option<String>>;

    /// Queues a message; `false` when its dedupe key was already queued.
    async fn enqueue(&self, m: OutboxIn) -> StoreResult<bool>;

    /// Takes up to `limit` undelivered messages of `channel` that are due, and leases them
    /// for `lease_secs` (their next attempt moves there), so that two workers do not send one
    /// message at once and a worker that dies mid-send leaves it to be tried again.
    async fn outbox_claim(
        &self,
        channel: &str,
        now: i64,
        lease_secs: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>>;

    /// The message was delivered.
    async fn outbox_delivered(&self, id: i64, now: i64) -> StoreResult<()>;

    /// The attempt failed: counts it, keeps the error, and sets the next attempt.
    async fn outbox_failed(&self, id: i64, error: &str, next_attempt_at: i64) -> StoreResult<()>;

    /// Queues the new-commission and payout-sent emails of accruals and payouts recorded
    /// since the last call (use case `clicktrail_app::program::notify`), up to `limit` of
    /// each, only those older than `settled_before` (so that a transaction still open with a
    /// smaller id is not passed by); how many messages were queued.
    async fn queue_notices(&self, settled_before: i64, now: i64, limit: i64) -> StoreResult<usize>;

    /// A tenant's messages, newest first (operators; tests).
    async fn outbox(&self, tenant: &str, limit: i64) -> StoreResult<Vec<OutboxRow>>;
}
