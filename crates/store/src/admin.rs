//! What the admin API asks of a store: catalog changes, each audited and each
//! bumping the catalog version in the same transaction, and the tenant-scoped listings
//! (affiliates, keys, diagnostics, recent events, the audit log).
//!
//! Every value here names its tenant, and every backend query filters by it: a key of one
//! tenant never reads or changes another's rows.

use clicktrail_domain::catalog::{KeyScope, Tenant};
use clicktrail_domain::Payout;
use serde::Serialize;

/// The public id of a key: `key_` and the first 16 hex digits of its hash (the hash is what
/// the database keeps; the id lets an operator name a key without its secret).
pub fn key_id(key_hash: &str) -> String {
    format!("key_{}", &key_hash[..key_hash.len().min(16)])
}

/// One change to a tenant's catalog.
// `CreateTenant` carries a whole `Tenant` (rare, never in a hot path): not worth a box
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogChange {
    /// 409 `duplicate_affiliate` when the code exists (disabled or not).
    CreateAffiliate { code: String, name: Option<String> },
    /// 404 `unknown_affiliate`. `name: Some(None)` clears the name.
    UpdateAffiliate {
        code: String,
        name: Option<Option<String>>,
        disabled: Option<bool>,
    },
    /// Another code of an affiliate: 404 `unknown_affiliate`; 409
    /// `duplicate_code` when the alias is already an affiliate code or an alias.
    AddAlias { code: String, alias: String },
    /// 404 `unknown_alias` when `alias` is not an alias of `code`.
    RemoveAlias { code: String, alias: String },
    /// 409 `duplicate_conversion_type`.
    CreateConversionType { code: String, payout: Payout },
    /// 404 `unknown_conversion_type`.
    UpdateConversionType { code: String, payout: Payout },
    /// 409 `duplicate_revenue_origin`.
    AddRevenueOrigin { id: String },
    /// 404 `unknown_revenue_origin`.
    RemoveRevenueOrigin { id: String },
    /// 409 `duplicate_origin`.
    AddAllowedOrigin { origin: String },
    /// 404 `unknown_origin`.
    RemoveAllowedOrigin { origin: String },
    /// The key's hash only (the secret is shown once by the HTTP layer, never stored).
    CreateKey {
        key_hash: String,
        scopes: Vec<KeyScope>,
        label: Option<String>,
    },
    /// By [`key_id`]; 404 `unknown_key`; revoking twice is a 409 `key_revoked`.
    RevokeKey { key_id: String },
    /// Operator token only: a new tenant (409 `duplicate_tenant`) with its first admin key.
    CreateTenant {
        tenant: Tenant,
        admin_key_hash: String,
    },
    /// Replaces the tenant's commission rules document (validated by the domain).
    SetRules {
        rules: clicktrail_domain::rules::Rules,
    },
}

/// A change with who made it (for the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeIn {
    pub tenant: String,
    /// A [`key_id`], or `operator` for the server-wide token.
    pub actor: String,
    /// `POST /api/v1/affiliates` and the like.
    pub action: String,
    /// What changed, in words (no secret).
    pub summary: String,
    pub change: CatalogChange,
    pub now: i64,
}

/// An audit line written on its own (see `Store::audit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditIn {
    pub tenant: String,
    pub actor: String,
    pub action: String,
    pub summary: String,
    pub now: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AffiliateRow {
    pub code: String,
    /// Its further codes (aliases), sorted.
    pub aliases: Vec<String>,
    pub name: Option<String>,
    pub disabled: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeyRow {
    pub id: String,
    pub scopes: Vec<String>,
    pub label: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DiagnosticRow {
    pub id: i64,
    pub kind: Option<String>,
    pub message: Option<String>,
    pub url: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub summary: Option<String>,
    pub created_at: i64,
}

/// The kinds of the recent-event log.
pub const EVENT_KINDS: &[&str] = &[
    "click",
    "lead",
    "conversion",
    "sale",
    "refund",
    "diagnostic",
    "rejected",
];

/// One line of the recent-event log.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EventRow {
    /// One of [`EVENT_KINDS`].
    pub kind: String,
    /// The row's id within its kind.
    pub id: i64,
    pub created_at: i64,
    pub affiliate: Option<String>,
    /// CID, public conversion id, transaction id or refund id, as the kind has.
    pub reference: Option<String>,
    pub amount_cents: Option<i64>,
    pub currency: Option<String>,
    /// A short description (URL of a click, conversion type, diagnostic message...).
    pub detail: Option<String>,
}

/// Filters of the recent-event log and of the diagnostics list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub tenant: String,
    /// Only these kinds (empty: all).
    pub kinds: Vec<String>,
    pub affiliate: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

impl EventFilter {
    pub fn wants(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind)
    }
    /// Rows each kind must read so that the merged page is right.
    pub fn window(&self) -> i64 {
        self.offset.saturating_add(self.limit).max(0)
    }
}

/// Merges the per-kind rows (each newest first, at most `window()` of them) into one page:
/// newest first, ties by kind then id (the same order on every backend).
pub fn merge_events(mut rows: Vec<EventRow>, f: &EventFilter) -> Vec<EventRow> {
    rows.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| b.id.cmp(&a.id))
    });
    rows.into_iter()
        .skip(usize::try_from(f.offset).unwrap_or(0))
        .take(usize::try_from(f.limit).unwrap_or(0))
        .collect()
}

/// The 409 / 404 words every backend uses.
pub mod errors {
    use crate::StoreError;

    /// An alias that would shadow an affiliate code or another alias.
    pub fn code_taken(value: &str) -> StoreError {
        StoreError::Conflict(
            "duplicate_code",
            format!("`{value}` is already an affiliate code or alias in this tenant"),
        )
    }
    pub fn duplicate(code: &'static str, what: &str, value: &str) -> StoreError {
        StoreError::Conflict(code, format!("{what} `{value}` already exists"))
    }
    pub fn unknown(code: &'static str, what: &str, value: &str) -> StoreError {
        StoreError::NotFound(code, format!("no {what} `{value}` in this tenant"))
    }
}
