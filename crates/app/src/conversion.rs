//! A browser conversion (`/tracking/conversion`): a 409 for an external id seen before, a
//! 404 when nobody can be credited (no click, no tenant coupon code), else recorded with its
//! commission (`crate::commission`) and the accrual of an attributed one.

use clicktrail_domain::money::format_cents;
use clicktrail_store::{unresolved_error, Commission, ConversionIn, ConversionOut, StoreError};

use crate::commission::{earn, Earned, Earning};
use crate::events::{once, Event};
use crate::ops::{Decided, OpsRows};
use crate::sale::{accrue, Accrual};

/// 409 `duplicate_conversion` (the same words on every backend).
pub fn duplicate_conversion(conversion_type: &str, external_id: &str) -> StoreError {
    StoreError::Conflict(
        "duplicate_conversion",
        format!(
            "a `{conversion_type}` conversion with externalId `{external_id}` was already recorded"
        ),
    )
}

pub async fn conversion<R: OpsRows>(
    rows: &mut R,
    c: &ConversionIn,
) -> Result<ConversionOut, R::Error> {
    let e = Event {
        kind: "conversion",
        tenant: &c.tenant,
        id: c.event_id.as_deref(),
        now: c.now,
    };
    once(rows, e, async |rows: &mut R| record(rows, c).await).await
}

async fn record<R: OpsRows>(rows: &mut R, c: &ConversionIn) -> Result<ConversionOut, R::Error> {
    let ext = c.external_id.as_deref();
    if let Some(ext) = ext {
        if rows
            .conversion_by_external(&c.tenant, &c.conversion_type, ext)
            .await?
        {
            return Err(duplicate_conversion(&c.conversion_type, ext).into());
        }
    }
    let resolved = rows.resolve(&c.tenant, &c.target).await?;
    if resolved.is_none() && c.rules.coupon_affiliate(&c.coupon_codes).is_none() {
        return Err(unresolved_error(&c.target).into());
    }
    let earning = Earning {
        tenant: &c.tenant,
        rules: &c.rules,
        conversion_type: &c.conversion_type,
        payout: Some(c.payout),
        amount_cents: c.amount_cents,
        status: c.status,
        coupon_codes: &c.coupon_codes,
        products: &[],
        customer_email: None,
        subscription_id: None,
        sale_id: None,
        now: c.now,
    };
    let Earned {
        who,
        status,
        cents,
        rule,
        ..
    } = earn(rows, resolved, &earning).await?;
    let public_id = uuid::Uuid::new_v4().to_string();
    let decided = Decided {
        who: &who,
        status,
        commission_cents: cents,
    };
    // a concurrent conversion with the same external id: one of them gets the 409
    let Some(id) = rows.insert_conversion(c, &public_id, &decided).await? else {
        let ext = ext.unwrap_or_default();
        return Err(duplicate_conversion(&c.conversion_type, ext).into());
    };
    if let Some(aff) = &who.affiliate {
        let a = Accrual {
            tenant: &c.tenant,
            affiliate: aff,
            conversion_id: id,
            cents,
            currency: &c.currency,
            now: c.now,
            hold_days: c.hold_days,
            rule: rule.as_deref(),
        };
        accrue(rows, &a).await?;
    }
    Ok(ConversionOut {
        conversion_id: public_id,
        status: status.as_str().to_string(),
        commission: Commission {
            value: format_cents(cents),
        },
        attributed: who.attributed(),
    })
}
