//! What a Stripe event carries beyond a sale: the ids a sale
//! keeps to match later events, test mode, async payment results, money facts (refunds,
//! disputes) and free-trial links. The rules are `clicktrail_domain::stripe`.

use clicktrail_domain::stripe::Fact;

use crate::Target;

/// The Stripe ids a sale keeps (its subscription is `SaleIn::subscription_id`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StripeIds {
    pub payment_intent: Option<String>,
    pub charge: Option<String>,
    pub invoice: Option<String>,
    pub customer: Option<String>,
}

impl StripeIds {
    pub fn is_empty(&self) -> bool {
        self.payment_intent.is_none()
            && self.charge.is_none()
            && self.invoice.is_none()
            && self.customer.is_none()
    }
}

/// `checkout.session.async_payment_succeeded` / `_failed` for the sale of the event's
/// `sale.transaction_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentResult {
    /// The sale counts (recorded now if its `checkout.session.completed` has not arrived).
    Succeeded,
    /// The sale is declined (recorded declined if it has not arrived).
    Failed,
}

/// A refund, a charge's refunded total or a dispute, with the ids that find its sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeFactIn {
    pub fact: Fact,
    pub payment_intent: Option<String>,
    pub charge: Option<String>,
    /// Before basil a charge names its invoice.
    pub invoice: Option<String>,
}

/// A checkout without a payment (a free trial): its subscription and customer are linked to
/// the visitor, so the first paid invoice is attributed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeLinkIn {
    pub target: Target,
    pub subscription: Option<String>,
    pub customer: Option<String>,
}

/// The Stripe part of an event (all empty: a plain sale event, as before).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StripeMoney {
    /// Kept on the sale the event records or matches.
    pub ids: StripeIds,
    /// `livemode: false`: the sale is test data (kept apart in reports and payouts unless the
    /// tenant's `count_test_payments`).
    pub test_mode: bool,
    /// The checkout completed unpaid (async payment method): the sale is pending and its
    /// commission held until `async_payment_succeeded`.
    pub hold_payment: bool,
    pub payment: Option<PaymentResult>,
    /// Refunds, a charge's refunded total, a dispute (`charge.refunded` tells the charge and
    /// the refunds it lists).
    pub facts: Vec<StripeFactIn>,
    pub link: Option<StripeLinkIn>,
}

/// What a money event did to its sale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StripeMoneyOut {
    /// The sale it matched (`None`: kept until the sale arrives).
    pub sale_id: Option<i64>,
    /// The sale's refunded amount after the event.
    pub refunded_cents: i64,
    /// Commission reversed by this event (negative: given back).
    pub reversed_cents: i64,
    /// The sale's commission is held (open dispute or unpaid async payment).
    pub held: bool,
}
