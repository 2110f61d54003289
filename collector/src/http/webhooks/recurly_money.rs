//! Recurly's transaction (API v3) as the project's sale or refund: the one place the Recurly
//! webhook decides what a payment means for the ledger.
//!
//! - a sale: a `purchase` or `capture` with status `success` and a positive amount; id
//!   `recurly:<transaction id>`; attributed by the account's custom field
//!   [`CID_FIELD`] (a CID), else its account code as customer key (linked by a lead), else its
//!   first subscription's earlier attributed sale; its coupon codes those of the coupons
//!   redeemed on its invoice;
//! - a refund: a `refund` transaction with status `success`, of the sale
//!   `recurly:<original_transaction_id>`, its own id `recurly:<transaction id>`.

use clicktrail_domain::catalog::Tenant;
use clicktrail_domain::ids::capped;
use clicktrail_domain::money::parse_amount;
use clicktrail_domain::Cid;
use clicktrail_store::{RefundIn, SaleIn};
use serde_json::Value;

use super::chargebee::{sale, target};
use crate::http::types::MAX_COUPONS;
use crate::recurly_api::{Account, CouponRedemptions, Transaction};

/// The Recurly account custom field that carries the visitor's CID.
pub const CID_FIELD: &str = "clicktrail_cid";

/// A decimal amount in major units (`19.99`, `"19.99"`) in cents.
pub fn cents(v: Option<&Value>) -> Option<i64> {
    let text = match v? {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    parse_amount(&text).ok()
}

fn succeeded(t: &Transaction) -> bool {
    t.status.as_deref() == Some("success")
}

/// The sale a successful payment is, or why it is none.
pub fn sale_of(
    tenant: &Tenant,
    t: &Transaction,
    account: Option<&Account>,
    now: i64,
) -> Result<SaleIn, &'static str> {
    if !matches!(t.kind.as_deref(), Some("purchase" | "capture")) {
        return Err("not a purchase or capture transaction");
    }
    if !succeeded(t) {
        return Err("the transaction did not succeed");
    }
    let id = capped(t.id.as_deref()).ok_or("the transaction has no id")?;
    let amount = cents(t.amount.as_ref())
        .filter(|a| *a > 0)
        .ok_or("the transaction has no positive amount")?;
    let cid = account
        .and_then(|a| a.custom_field(CID_FIELD))
        .and_then(|v| Cid::parse(v.trim()));
    let key = capped(
        account
            .and_then(|a| a.code.as_deref())
            .or_else(|| t.account.as_ref().and_then(|a| a.code.as_deref())),
    );
    let sub = capped(t.subscription_ids.first().map(String::as_str));
    Ok(sale(
        tenant,
        format!("recurly:{id}"),
        amount,
        t.currency.as_deref(),
        target(cid, key.clone(), sub.clone()),
        key,
        sub,
        "recurly",
        now,
    ))
}

/// The codes of the coupons redeemed on a sale's invoice, each kept as an id is (at most 128
/// characters), at most [`MAX_COUPONS`], without repeats.
pub fn coupon_codes(r: &CouponRedemptions) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for code in r.codes() {
        if let Some(code) = capped(Some(&code)) {
            if !out.contains(&code) && out.len() < MAX_COUPONS {
                out.push(code);
            }
        }
    }
    out
}

/// The refund a successful refund transaction is, or why it is none.
pub fn refund_of(tenant: &Tenant, t: &Transaction, now: i64) -> Result<RefundIn, &'static str> {
    if t.kind.as_deref() != Some("refund") {
        return Err("not a refund transaction");
    }
    if !succeeded(t) {
        return Err("the refund did not succeed");
    }
    let id = capped(t.id.as_deref()).ok_or("the refund has no id")?;
    let paid = capped(t.original_transaction_id.as_deref())
        .ok_or("the refund names no original_transaction_id")?;
    let amount = cents(t.amount.as_ref())
        .filter(|a| *a > 0)
        .ok_or("the refund has no positive amount")?;
    Ok(RefundIn {
        tenant: tenant.id.clone(),
        transaction_id: format!("recurly:{paid}"),
        refund_id: format!("recurly:{id}"),
        amount_cents: Some(amount),
        reason: Some("recurly payment refunded".into()),
        now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recurly_api::{AccountMini, CustomField};
    use clicktrail_store::Target;
    use serde_json::json;

    fn tenant() -> Tenant {
        crate::config::Config::demo().tenants[0].tenant.clone()
    }

    fn purchase() -> Transaction {
        Transaction {
            id: Some("t1".into()),
            kind: Some("purchase".into()),
            status: Some("success".into()),
            amount: Some(json!(19.99)),
            currency: Some("eur".into()),
            account: Some(AccountMini {
                id: Some("a1".into()),
                code: Some("acct-7".into()),
                email: None,
            }),
            subscription_ids: vec!["s1".into()],
            ..Transaction::default()
        }
    }

    #[test]
    fn amounts() {
        assert_eq!(cents(Some(&json!(19.99))), Some(1999));
        assert_eq!(cents(Some(&json!(10))), Some(1000));
        assert_eq!(cents(Some(&json!("5.5"))), Some(550));
        assert_eq!(cents(Some(&json!(-1))), None);
        assert_eq!(cents(None), None);
    }

    #[test]
    fn a_purchase_is_a_sale_attributed_by_cid_then_code_then_subscription() {
        let t = tenant();
        let s = sale_of(&t, &purchase(), None, 5).expect("sale");
        assert_eq!(s.transaction_id, "recurly:t1");
        assert_eq!((s.amount_cents, s.currency.as_str()), (1999, "EUR"));
        assert_eq!(s.target, Target::CustomerKey("acct-7".into()));
        let cid = Cid::generate();
        let a = Account {
            code: Some("acct-7".into()),
            custom_fields: vec![CustomField {
                name: CID_FIELD.into(),
                value: cid.to_string(),
            }],
            ..Account::default()
        };
        assert_eq!(
            sale_of(&t, &purchase(), Some(&a), 5).expect("sale").target,
            Target::Cid(cid)
        );
        let mut p = purchase();
        p.account = None;
        assert_eq!(
            sale_of(&t, &p, None, 5).expect("sale").target,
            Target::Subscription("s1".into())
        );
    }

    #[test]
    fn what_is_not_a_sale() {
        let t = tenant();
        for change in [
            |p: &mut Transaction| p.status = Some("declined".into()),
            |p: &mut Transaction| p.kind = Some("verify".into()),
            |p: &mut Transaction| p.kind = Some("refund".into()),
            |p: &mut Transaction| p.amount = Some(json!(0)),
            |p: &mut Transaction| p.id = None,
        ] {
            let mut p = purchase();
            change(&mut p);
            assert!(sale_of(&t, &p, None, 5).is_err(), "{p:?}");
        }
    }

    #[test]
    fn a_refund_names_its_payment() {
        let t = tenant();
        assert!(refund_of(&t, &purchase(), 5).is_err(), "a purchase");
        let mut r = purchase();
        r.kind = Some("refund".into());
        r.id = Some("r1".into());
        r.amount = Some(json!(5));
        assert!(refund_of(&t, &r, 5).is_err(), "no original transaction");
        r.original_transaction_id = Some("t1".into());
        let out = refund_of(&t, &r, 5).expect("refund");
        assert_eq!(out.transaction_id, "recurly:t1");
        assert_eq!(out.refund_id, "recurly:r1");
        assert_eq!(out.amount_cents, Some(500));
    }

    #[test]
    fn coupon_codes_are_the_redeemed_coupons_codes_once() {
        let r: CouponRedemptions = serde_json::from_value(json!({"object": "list", "data": [
            {"id": "r1", "coupon": {"id": "c1", "code": " ALICE20 "}},
            {"id": "r2", "coupon": {"id": "c2"}},
            {"id": "r3", "coupon": {"id": "c3", "code": "ALICE20"}},
            {"id": "r4", "coupon": {"id": "c4", "code": "x".repeat(129)}},
            {"id": "r5"},
            {"id": "r6", "coupon": {"id": "c6", "code": "bob"}}]}))
        .expect("list");
        assert_eq!(coupon_codes(&r), ["ALICE20", "bob"]);
        assert!(coupon_codes(&CouponRedemptions::default()).is_empty());
    }
}
