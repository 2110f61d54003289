//! What the affiliate portal reads: one affiliate's conversions and payouts. Every
//! value is already scoped to one tenant and one affiliate by the store's query.

use serde::Serialize;

/// One of the affiliate's conversions or sales, without anything that names the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortalConversion {
    /// The public id (`conv_…`), also on payout lines.
    pub id: String,
    /// `conversion` or `sale`.
    pub kind: String,
    pub conversion_type: String,
    pub status: String,
    pub amount_cents: i64,
    pub currency: String,
    /// The ledger's net for it (accruals minus reversals).
    pub commission_cents: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// The commission rule of its accrual (`type`, `affiliate`, `product:<id>`,
    /// `recurring_limit`, `self_referral`; docs/money.md); `None` before rules were recorded.
    pub rule: Option<String>,
}

/// One payout made to the affiliate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortalPayout {
    pub payout_id: i64,
    pub amount_cents: i64,
    pub currency: String,
    /// RFC 3339: entries available by then were taken.
    pub through: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// The affiliate's newest conversions (up to the asked limit; Stripe test-mode sales only when
/// the tenant counts them, as in the report) and all their payouts, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PortalActivity {
    pub conversions: Vec<PortalConversion>,
    pub payouts: Vec<PortalPayout>,
}
