//! What a sale or conversion earns and who is credited, written once for every entry point
//! (sale API, Stripe, billing webhooks, CSV, browser conversions): the click's attribution,
//! else the coupon code's affiliate (domain `rules::with_coupon`), then the tenant's rules
//! (domain `rules::decide`), which need the subscription's earlier payments from the rows.

use std::future::Future;

use clicktrail_domain::attribution::Resolved;
use clicktrail_domain::conversion::{self, Attribution, Status};
use clicktrail_domain::money::Overflow;
use clicktrail_domain::rules::{self, Credit, History, Rules, SaleFacts, SelfReferral};
use clicktrail_domain::Payout;
use clicktrail_store::StoreError;

/// What the rules need from the backend's rows.
pub trait CommissionRows {
    type Error: From<StoreError> + From<Overflow>;

    /// The subscription's sales recorded before the sale with id `before` (all of them when
    /// `None`): how many, when the first was recorded, and the affiliate credited with the
    /// first. `None` when there are none.
    fn subscription_history(
        &mut self,
        tenant: &str,
        subscription_id: &str,
        before: Option<i64>,
    ) -> impl Future<Output = Result<Option<History>, Self::Error>>;
}

/// A sale or conversion as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Earning<'a> {
    pub tenant: &'a str,
    pub rules: &'a Rules,
    pub conversion_type: &'a str,
    pub payout: Option<Payout>,
    pub amount_cents: i64,
    pub status: Status,
    pub coupon_codes: &'a [String],
    pub products: &'a [String],
    pub customer_email: Option<&'a str>,
    pub subscription_id: Option<&'a str>,
    /// The sale's own row when it exists already (a first payment credited late).
    pub sale_id: Option<i64>,
    pub now: i64,
}

/// Who is credited, how, with what, under which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earned {
    pub who: Attribution,
    pub credit: Credit,
    pub status: Status,
    pub cents: i64,
    /// The ledger's `rule` of the accrual (attributed only).
    pub rule: Option<String>,
}

/// Decides a sale's attribution and commission.
pub async fn earn<R: CommissionRows>(
    rows: &mut R,
    resolved: Option<Resolved>,
    e: &Earning<'_>,
) -> Result<Earned, R::Error> {
    let history = match e.subscription_id {
        Some(sub) => rows.subscription_history(e.tenant, sub, e.sale_id).await?,
        None => None,
    };
    let clicked = conversion::attribute(resolved, e.now);
    let (who, credit) = rules::credit(
        clicked,
        e.rules.coupon_affiliate(e.coupon_codes),
        history.as_ref().and_then(|h| h.first_affiliate.as_deref()),
    );
    let Some(affiliate) = who.affiliate.clone() else {
        return Ok(Earned {
            who,
            credit,
            status: e.status,
            cents: 0,
            rule: None,
        });
    };
    let subscription = e.subscription_id.map(|_| {
        history.clone().unwrap_or(History {
            prior_payments: 0,
            first_at: e.now,
            first_affiliate: None,
        })
    });
    let self_referral = e.rules.is_self_referral(&affiliate, e.customer_email);
    let d = rules::decide(
        e.rules,
        &SaleFacts {
            affiliate: &affiliate,
            conversion_type: e.conversion_type,
            type_payout: e.payout,
            products: e.products,
            subscription,
            self_referral,
            now: e.now,
        },
    );
    let status = if self_referral && e.rules.self_referral == SelfReferral::Decline {
        Status::Declined
    } else {
        e.status
    };
    let cents = conversion::commission(&who, d.payout, e.amount_cents, status)?;
    Ok(Earned {
        who,
        credit,
        status,
        cents,
        rule: Some(d.rule.label()),
    })
}
