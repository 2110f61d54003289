//! Chargify's (Maxio Advanced Billing's) webhook form as the project's sale or refund: the one
//! place the Chargify webhook decides what an event means for the ledger.
//!
//! Chargify posts `application/x-www-form-urlencoded` bodies whose keys name the payload's
//! nesting with brackets (`payload[subscription][customer][reference]`); [`Form`] keeps them as
//! sent (read by `serde_urlencoded`), first value of a repeated key.
//!
//! - a sale (`payment_success`, sent for every successful payment: signup, renewal, one-time
//!   charge, retry): the payment transaction `payload[transaction]` (its `id`,
//!   `amount_in_cents`, `success`, `transaction_type`); id `chargify:<transaction id>`; the
//!   currency of the subscription (`payload[subscription][currency]`, multi-currency sites),
//!   else the tenant's; attributed by the customer key: the customer's `reference` (the
//!   merchant's own id), else Chargify's customer id (a lead links it to the click); its
//!   coupon code the subscription's `coupon_code`;
//! - a refund (`refund_success`, flat): `payload[refund_id]` of the payment
//!   `payload[payment_id]`, the refunded amount `payload[amount_in_cents]`.

use std::collections::HashMap;

use clicktrail_domain::catalog::Tenant;
use clicktrail_store::{RefundIn, SaleIn};

use super::chargebee::{sale, target};
use clicktrail_domain::ids::capped;

/// The fields of a form-encoded webhook, keys as sent (`payload[transaction][id]`).
#[derive(Debug, Default)]
pub struct Form(HashMap<String, String>);

impl Form {
    /// Reads a form-encoded body; a repeated key keeps its first value.
    pub fn parse(body: &[u8]) -> Result<Form, String> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|e| e.to_string())?;
        let mut map = HashMap::with_capacity(pairs.len());
        for (k, v) in pairs {
            map.entry(k).or_insert(v);
        }
        Ok(Form(map))
    }

    /// A field's trimmed value; empty counts as absent (Chargify sends `key=` for a null).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// The first of `keys` present.
    fn first(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.get(k))
    }
}

/// Why an event records nothing: ignored (200, Chargify must not retry) or malformed (422
/// naming the field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    Ignore(&'static str),
    Invalid(&'static str, String),
}

/// An id we keep (at most 128 characters), or 422 naming the field.
fn id(form: &Form, field: &'static str) -> Result<String, Skip> {
    let v = form.get(field).ok_or_else(|| missing(field))?;
    capped(Some(v)).ok_or_else(|| Skip::Invalid(field, "is longer than 128 characters".into()))
}

/// An amount in cents (an integer), or 422 naming the field; zero or less is ignored.
fn cents(field: &'static str, v: &str) -> Result<i64, Skip> {
    let n: i64 = v
        .parse()
        .map_err(|_| Skip::Invalid(field, format!("`{v}` is not a whole number of cents")))?;
    if n <= 0 {
        return Err(Skip::Ignore("the amount is not positive"));
    }
    Ok(n)
}

/// The sale a `payment_success` is, or why it is none.
pub fn sale_of(tenant: &Tenant, form: &Form, now: i64) -> Result<SaleIn, Skip> {
    const TYPE: &str = "payload[transaction][transaction_type]";
    if form.get(TYPE).is_some_and(|t| t != "payment") {
        return Err(Skip::Ignore("not a payment transaction"));
    }
    if form.get("payload[transaction][success]") == Some("false") {
        return Err(Skip::Ignore("the payment did not succeed"));
    }
    let tx = id(form, "payload[transaction][id]")?;
    const PAID: &str = "payload[transaction][amount_in_cents]";
    let amount = cents(PAID, form.get(PAID).ok_or_else(|| missing(PAID))?)?;
    const CURRENCY: &str = "payload[subscription][currency]";
    let currency = match form.get(CURRENCY) {
        Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()) => Some(c),
        Some(c) => {
            return Err(Skip::Invalid(
                CURRENCY,
                format!("`{c}` is not a three-letter currency code"),
            ))
        }
        None => None,
    };
    let key = capped(form.first(&[
        "payload[subscription][customer][reference]",
        "payload[subscription][customer][id]",
        "payload[transaction][customer_id]",
    ]));
    let sub = capped(form.first(&[
        "payload[subscription][id]",
        "payload[transaction][subscription_id]",
    ]));
    let mut out = sale(
        tenant,
        format!("chargify:{tx}"),
        amount,
        currency,
        target(None, key.clone(), sub.clone()),
        key,
        sub,
        "chargify",
        now,
    );
    out.coupon_codes = capped(form.get("payload[subscription][coupon_code]"))
        .into_iter()
        .collect();
    Ok(out)
}

/// The refunded amount of a `refund_success` (the payment's is `payment_amount_in_cents`).
const AMOUNT: &str = "payload[amount_in_cents]";

fn missing(field: &'static str) -> Skip {
    Skip::Invalid(field, "is missing".into())
}

/// The refund a `refund_success` is, or why it is none.
pub fn refund_of(tenant: &Tenant, form: &Form, now: i64) -> Result<RefundIn, Skip> {
    let refund = id(form, "payload[refund_id]")?;
    let payment = id(form, "payload[payment_id]")?;
    let amount = cents(AMOUNT, form.get(AMOUNT).ok_or_else(|| missing(AMOUNT))?)?;
    Ok(RefundIn {
        tenant: tenant.id.clone(),
        transaction_id: format!("chargify:{payment}"),
        refund_id: format!("chargify:refund:{refund}"),
        amount_cents: Some(amount),
        reason: Some("chargify refund_success".into()),
        now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clicktrail_store::Target;

    fn tenant() -> Tenant {
        crate::config::Config::demo().tenants[0].tenant.clone()
    }

    fn form(body: &str) -> Form {
        Form::parse(body.as_bytes()).expect("form")
    }

    const PAY: &str = "id=1&event=payment_success&payload[subscription][id]=15100141\
        &payload[subscription][customer][id]=14585695&payload[subscription][customer][reference]=\
        &payload[transaction][id]=161537369&payload[transaction][transaction_type]=payment\
        &payload[transaction][success]=true&payload[transaction][amount_in_cents]=6400";

    #[test]
    fn a_form_keeps_bracketed_keys_and_the_first_of_a_repeated_key() {
        let f = form("a[b][c]=x%20y&a[b][c]=z&empty=&plus=1+2");
        assert_eq!(f.get("a[b][c]"), Some("x y"));
        assert_eq!(f.get("empty"), None);
        assert_eq!(f.get("plus"), Some("1 2"));
        assert!(
            Form::parse(b"%zz=1").is_ok(),
            "lenient like Chargify's readers"
        );
    }

    #[test]
    fn a_payment_is_a_sale_by_reference_then_customer_id() {
        let t = tenant();
        let s = sale_of(&t, &form(PAY), 5).expect("sale");
        assert_eq!(s.transaction_id, "chargify:161537369");
        assert_eq!((s.amount_cents, s.currency.as_str()), (6400, "USD"));
        assert_eq!(s.target, Target::CustomerKey("14585695".into()));
        assert_eq!(s.subscription_id.as_deref(), Some("15100141"));
        assert!(s.coupon_codes.is_empty());
        let with_ref = PAY.replace(
            "[reference]=",
            "[reference]=crm-7&payload[subscription][currency]=eur&payload[subscription][coupon_code]=ALICE20",
        );
        let s = sale_of(&t, &form(&with_ref), 5).expect("sale");
        assert_eq!(s.target, Target::CustomerKey("crm-7".into()));
        assert_eq!(s.currency, "EUR");
        assert_eq!(s.coupon_codes, ["ALICE20"]);
    }

    #[test]
    fn what_is_not_a_sale() {
        let t = tenant();
        for (change, want) in [
            (
                ("success]=true", "success]=false"),
                Skip::Ignore("the payment did not succeed"),
            ),
            (
                ("type]=payment", "type]=charge"),
                Skip::Ignore("not a payment transaction"),
            ),
            (
                ("cents]=6400", "cents]=0"),
                Skip::Ignore("the amount is not positive"),
            ),
        ] {
            let body = PAY.replace(change.0, change.1);
            assert_eq!(sale_of(&t, &form(&body), 5).err(), Some(want), "{body}");
        }
        for (change, field) in [
            (
                ("cents]=6400", "cents]=64.00"),
                "payload[transaction][amount_in_cents]",
            ),
            (
                ("[transaction][id]=161537369", "[transaction][id]="),
                "payload[transaction][id]",
            ),
            (
                (
                    "[reference]=",
                    "[reference]=&payload[subscription][currency]=dollars",
                ),
                "payload[subscription][currency]",
            ),
        ] {
            let body = PAY.replace(change.0, change.1);
            match sale_of(&t, &form(&body), 5) {
                Err(Skip::Invalid(f, _)) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_refund_names_its_payment() {
        let t = tenant();
        let r = refund_of(
            &t,
            &form("payload[refund_id]=9&payload[payment_id]=161537369&payload[amount_in_cents]=1600&payload[payment_amount_in_cents]=6400"),
            5,
        )
        .expect("refund");
        assert_eq!(r.transaction_id, "chargify:161537369");
        assert_eq!(r.refund_id, "chargify:refund:9");
        assert_eq!(r.amount_cents, Some(1600));
        let zero = "payload[refund_id]=9&payload[payment_id]=1&payload[amount_in_cents]=0";
        assert_eq!(
            refund_of(&t, &form(zero), 5).err(),
            Some(Skip::Ignore("the amount is not positive"))
        );
        match refund_of(
            &t,
            &form("payload[refund_id]=9&payload[amount_in_cents]=700"),
            5,
        ) {
            Err(Skip::Invalid(f, _)) => assert_eq!(f, "payload[payment_id]"),
            other => panic!("{other:?}"),
        }
        match refund_of(&t, &form("payload[refund_id]=9&payload[payment_id]=1"), 5) {
            Err(Skip::Invalid(f, _)) => assert_eq!(f, "payload[amount_in_cents]"),
            other => panic!("{other:?}"),
        }
    }
}
