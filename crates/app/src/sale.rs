//! A sale (`POST /api/v1/track/sale`, CSV imports, billing providers): a 409 for a
//! transaction id seen before, a 404 when the target resolves to nobody and the entry point
//! does not record unattributed sales, else recorded with its commission and accrual. A
//! subscription's first payment, which Stripe tells twice, is counted once
//! (domain `first_payment`).

use clicktrail_domain::attribution::attributes;
use clicktrail_domain::conversion::{first_payment, FirstPayment};
use clicktrail_domain::ledger;
use clicktrail_store::{
    unresolved_error, SaleIn, SaleOut, StoreError, StripeEventIn, StripeOutcome,
};

use crate::commission::{earn, Earned, Earning};
use crate::ops::{Decided, OpsRows};

/// 409 `duplicate_transaction` (the same words on every backend).
pub fn duplicate_transaction(transaction_id: &str) -> StoreError {
    StoreError::Conflict(
        "duplicate_transaction",
        format!("transaction_id `{transaction_id}` was already recorded"),
    )
}

/// The sale use case.
pub async fn sale<R: OpsRows>(rows: &mut R, s: &SaleIn) -> Result<SaleOut, R::Error> {
    match record(rows, s).await? {
        Some(out) => Ok(out),
        None => Err(duplicate_transaction(&s.transaction_id).into()),
    }
}

/// Records the sale; `None` when its transaction id is recorded already (also when another
/// transaction records it concurrently: the backend's unique index decides).
async fn record<R: OpsRows>(rows: &mut R, s: &SaleIn) -> Result<Option<SaleOut>, R::Error> {
    let (recorded, resolved) = rows
        .sale_lookup(&s.tenant, &s.transaction_id, &s.target)
        .await?;
    if recorded {
        return Ok(None);
    }
    if resolved.is_none()
        && !s.allow_unresolved
        && s.rules.coupon_affiliate(&s.coupon_codes).is_none()
    {
        return Err(unresolved_error(&s.target).into());
    }
    let Earned {
        who,
        status,
        cents,
        rule,
        ..
    } = earn(rows, resolved, &earning(s, None)).await?;
    let public_id = uuid::Uuid::new_v4().to_string();
    let d = Decided {
        who: &who,
        status,
        commission_cents: cents,
    };
    let Some(sale_id) = rows.insert_sale(s, &public_id, &d).await? else {
        return Ok(None);
    };
    let commission_id = credit(rows, s, sale_id, &who.affiliate, cents, rule).await?;
    Ok(Some(SaleOut {
        sale_id,
        commission_id,
        commission_cents: cents,
        attributed: who.attributed(),
    }))
}

/// Credits an unattributed sale (row `id`: a subscription's first payment told again) to
/// the affiliate this event names: the row is updated in place and its accrual appended.
pub async fn attribute_existing<R: OpsRows>(
    rows: &mut R,
    id: i64,
    s: &SaleIn,
) -> Result<SaleOut, R::Error> {
    let resolved = rows.resolve(&s.tenant, &s.target).await?;
    let Earned {
        who,
        status,
        cents,
        rule,
        ..
    } = earn(rows, resolved, &earning(s, Some(id))).await?;
    let d = Decided {
        who: &who,
        status,
        commission_cents: cents,
    };
    rows.update_sale_credit(id, s, &d).await?;
    let commission_id = credit(rows, s, id, &who.affiliate, cents, rule).await?;
    Ok(SaleOut {
        sale_id: id,
        commission_id,
        commission_cents: cents,
        attributed: who.attributed(),
    })
}

/// The sale part of a Stripe event (its id already claimed by the backend's Stripe event):
/// a subscription's first payment once, any other sale once per transaction id (the same
/// payment seen through another event is not a 409 but nothing new).
pub async fn stripe_sale<R: OpsRows>(
    rows: &mut R,
    e: &StripeEventIn,
) -> Result<StripeOutcome, R::Error> {
    let Some(s) = &e.sale else {
        return Ok(StripeOutcome::Recorded { sale: None });
    };
    if let (true, Some(sub)) = (e.first_payment, &s.subscription_id) {
        let counted = rows.first_subscription_sale(&s.tenant, sub).await?;
        let would_attribute = rows
            .resolve(&s.tenant, &s.target)
            .await?
            .is_some_and(|r| attributes(r.expires_at, s.now))
            || s.rules.coupon_affiliate(&s.coupon_codes).is_some();
        match first_payment(counted, would_attribute) {
            FirstPayment::Record => {}
            FirstPayment::Skip => return Ok(StripeOutcome::Recorded { sale: None }),
            FirstPayment::Attribute(id) => {
                let out = attribute_existing(rows, id, s).await?;
                return Ok(StripeOutcome::Recorded { sale: Some(out) });
            }
        }
    }
    Ok(StripeOutcome::Recorded {
        sale: record(rows, s).await?,
    })
}

/// What the commission rules need of a sale (`id`: its row, when it exists already).
fn earning(s: &SaleIn, id: Option<i64>) -> Earning<'_> {
    Earning {
        tenant: &s.tenant,
        rules: &s.rules,
        conversion_type: &s.conversion_type,
        payout: s.payout,
        amount_cents: s.amount_cents,
        status: s.status,
        coupon_codes: &s.coupon_codes,
        products: &s.products,
        customer_email: s.customer_email.as_deref(),
        subscription_id: s.subscription_id.as_deref(),
        sale_id: id,
        now: s.now,
    }
}

/// The accrual of a sale's commission when it is attributed; its entry id.
async fn credit<R: OpsRows>(
    rows: &mut R,
    s: &SaleIn,
    sale_id: i64,
    affiliate: &Option<String>,
    cents: i64,
    rule: Option<String>,
) -> Result<Option<i64>, R::Error> {
    let Some(aff) = affiliate else {
        return Ok(None);
    };
    let a = Accrual {
        tenant: &s.tenant,
        affiliate: aff,
        conversion_id: sale_id,
        cents,
        currency: &s.currency,
        now: s.now,
        hold_days: s.hold_days,
        rule: rule.as_deref(),
    };
    Ok(Some(accrue(rows, &a).await?))
}

/// An attributed commission to accrue.
#[derive(Debug, Clone, Copy)]
pub struct Accrual<'a> {
    pub tenant: &'a str,
    pub affiliate: &'a str,
    pub conversion_id: i64,
    pub cents: i64,
    pub currency: &'a str,
    pub now: i64,
    pub hold_days: i64,
    /// The rule that decided it (the ledger's `rule`).
    pub rule: Option<&'a str>,
}

/// Appends the accrual (domain `ledger::accrual`: payable after the hold); its entry id.
pub async fn accrue<R: OpsRows>(rows: &mut R, a: &Accrual<'_>) -> Result<i64, R::Error> {
    let e = ledger::accrual(
        a.tenant,
        a.affiliate,
        a.conversion_id,
        a.cents,
        a.currency,
        a.now,
        a.hold_days,
    )?;
    rows.insert_accrual(&e, a.rule).await
}
