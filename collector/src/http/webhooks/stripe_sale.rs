//! The sale a Stripe checkout session or paid invoice makes, from the event's one typed reading
//! ([`super::stripe_types::Object`]): its amount and currency, the visitor it belongs to
//! (`client_reference_id`, Affitor's metadata, else a renewal's subscription), its status, and
//! what the commission rules read (promotion codes and coupons, price and product ids, the
//! customer's email).
//!
//! Shapes (Stripe API reference): a checkout session's `discounts[]` holds `{coupon,
//! promotion_code}`, each an id or (expanded) the object; an invoice's `discounts[]` holds
//! discount ids or (expanded) discount objects, and before basil also `discount` (one object).
//! A promotion code object carries its customer-facing `code`; an unexpanded one only its id
//! (`promo_…`), so both are offered to the tenant's codes. Invoice lines name their price and
//! product as `price{id, product}` (before basil) or `pricing.price_details{price, product}`.

use clicktrail_domain::catalog::Tenant;
use clicktrail_domain::conversion::Status;
use clicktrail_domain::ids::capped;
use clicktrail_domain::Cid;
use clicktrail_store::{PaymentResult, SaleIn, Target};

use super::stripe_types::{
    CodeRef, Discount, InvoiceLine, Lenient, Metadata, Object, AFFITOR_CLICK_ID,
    AFFITOR_CUSTOMER_KEY,
};

/// The sale `object` makes, and whether it is a subscription's first payment (delivered
/// twice, as the checkout session and as the first invoice, in either order). `None`: nothing
/// to sell (amount 0, no id, or an object that makes no sale).
pub fn sale(tenant: &Tenant, object: &Object, now: i64) -> Option<(SaleIn, bool)> {
    let base = |id: &str, amount: i64, currency: Option<&str>, target, key| {
        let currency = currency
            .filter(|c| !c.is_empty())
            .unwrap_or("usd")
            .to_ascii_uppercase();
        let tx = format!("stripe:{id}");
        SaleIn {
            customer_key: key,
            ..SaleIn::for_tenant(tenant, tx, amount, currency, target, "stripe", now)
        }
    };
    match object {
        Object::Checkout(cs, result) => {
            let amount = cs.amount_total.unwrap_or(0);
            let id = capped(cs.id()).filter(|_| amount > 0)?;
            let (target, key) =
                target_from_metadata(cs.metadata.as_ref(), cs.client_reference_id());
            let mut sale = base(&id, amount, cs.currency.as_deref(), target, key);
            sale.subscription_id = capped(cs.subscription_id());
            sale.status = match result {
                Some(PaymentResult::Succeeded) => Status::Approved,
                Some(PaymentResult::Failed) => Status::Declined,
                None if cs.payment_status.as_deref() == Some("unpaid") => Status::Pending,
                None => sale.status,
            };
            let first = sale.subscription_id.is_some();
            let discounts = listed(&cs.discounts);
            sale.coupon_codes = codes(&discounts);
            sale.customer_email = cs
                .customer_details
                .as_ref()
                .and_then(|d| capped(d.email.as_deref()))
                .or_else(|| capped(cs.customer_email.0.as_deref()));
            Some((sale, first))
        }
        Object::Invoice(inv) => {
            let amount = inv.amount_paid.unwrap_or(0);
            let id = capped(inv.id()).filter(|_| amount > 0)?;
            let sub = capped(inv.subscription_id());
            let (mut target, key) = target_from_metadata(inv.visitor_metadata(), None);
            if let (Target::None, Some(sub)) = (&target, &sub) {
                // a renewal without metadata: the subscription's earlier sale names the CID
                target = Target::Subscription(sub.clone());
            }
            let first = inv.is_subscription_start();
            let mut sale = base(&id, amount, inv.currency.as_deref(), target, key);
            sale.subscription_id = sub;
            sale.is_recurring = !first;
            let mut discounts = listed(&inv.discounts);
            discounts.extend(inv.discount.0.as_ref());
            sale.coupon_codes = codes(&discounts);
            sale.products = products(inv.lines.iter().flat_map(|l| &l.data));
            sale.customer_email = capped(inv.customer_email.0.as_deref());
            Some((sale, first))
        }
        _ => None,
    }
}

/// Who the payment belongs to: `client_reference_id` (the CID), else Affitor's metadata
/// (`affitor_click_id`, `affitor_customer_key`); and the customer key, if any.
pub(crate) fn target_from_metadata(
    meta: Option<&Metadata>,
    client_reference_id: Option<&str>,
) -> (Target, Option<String>) {
    let get = |k: &str| meta.and_then(|m| m.get(k)).map(String::as_str);
    let key = capped(get(AFFITOR_CUSTOMER_KEY));
    let cid = client_reference_id
        .and_then(Cid::parse)
        .or_else(|| get(AFFITOR_CLICK_ID).and_then(Cid::parse));
    let target = match (&cid, &key) {
        (Some(c), _) => Target::Cid(c.clone()),
        (None, Some(k)) => Target::CustomerKey(k.clone()),
        (None, None) => Target::None,
    };
    (target, key)
}

fn listed(discounts: &Lenient<Vec<Lenient<Discount>>>) -> Vec<&Discount> {
    discounts
        .0
        .iter()
        .flatten()
        .filter_map(|d| d.0.as_ref())
        .collect()
}

/// Promotion codes first (an affiliate's code is usually a promotion code), then coupons;
/// an expanded object offers its `code`, then its id.
fn codes(discounts: &[&Discount]) -> Vec<String> {
    let promos = discounts.iter().map(|d| &d.promotion_code);
    let coupons = discounts.iter().map(|d| &d.coupon);
    let mut out = Vec::new();
    for r in promos.chain(coupons).filter_map(|r| r.0.as_ref()) {
        match r {
            CodeRef::Id(id) => out.extend(capped(Some(id))),
            CodeRef::Object { code, id } => {
                out.extend(capped(code.0.as_deref()));
                out.extend(capped(id.0.as_deref()));
            }
        }
    }
    out
}

/// Price ids before product ids, line by line, in either shape.
fn products<'a>(lines: impl Iterator<Item = &'a InvoiceLine>) -> Vec<String> {
    let mut out = Vec::new();
    for l in lines {
        let price = l.price.0.as_ref();
        let details = l
            .pricing
            .0
            .as_ref()
            .and_then(|p| p.price_details.0.as_ref());
        out.extend(capped(price.and_then(|p| p.id.0.as_deref())));
        out.extend(capped(details.and_then(|d| d.price.0.as_deref())));
        out.extend(capped(price.and_then(|p| p.product.0.as_deref())));
        out.extend(capped(details.and_then(|d| d.product.0.as_deref())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::webhooks::stripe_types::Event;
    use serde_json::json;

    fn object(kind: &str, obj: serde_json::Value) -> Object {
        let ev: Event = serde_json::from_value(json!({"type": kind, "data": {"object": obj}}))
            .expect("an event");
        ev.object().expect("valid").expect("handled")
    }

    fn tenant() -> Tenant {
        crate::config::Config::demo()
            .tenants
            .into_iter()
            .map(|s| s.tenant)
            .find(|t| t.id == "demo")
            .expect("the demo tenant")
    }

    #[test]
    fn reads_ids_expanded_objects_and_both_line_shapes() {
        let cs = object(
            "checkout.session.completed",
            json!({"id": "cs_1", "amount_total": 100,
            "discounts": [{"coupon": "co_1", "promotion_code": "promo_1"},
                {"coupon": {"id": "co_2"}, "promotion_code": {"id": "promo_2", "code": "ALICE20"}},
                "di_x", 7, {"coupon": 5, "promotion_code": null}],
            "customer_details": {"email": null}, "customer_email": "a@b.c"}),
        );
        let (s, _) = sale(&tenant(), &cs, 0).expect("a sale");
        assert_eq!(
            s.coupon_codes,
            ["promo_1", "ALICE20", "promo_2", "co_1", "co_2"]
        );
        assert_eq!(s.customer_email.as_deref(), Some("a@b.c"));
        let inv = object(
            "invoice.paid",
            json!({"id": "in_1", "amount_paid": 100,
            "discounts": ["di_1"], "discount": {"coupon": {"id": "co_3"}, "promotion_code": "promo_3"},
            "customer_email": ["not", "a", "string"],
            "lines": {"data": [{"price": {"id": "price_1", "product": "prod_1"}},
                {"pricing": {"price_details": {"price": "price_2", "product": "prod_2"}}},
                {"price": "price_unexpanded", "pricing": {"price_details": {"product": {"id": "prod_obj"}}}}]}}),
        );
        let (s, _) = sale(&tenant(), &inv, 0).expect("a sale");
        assert_eq!(s.coupon_codes, ["promo_3", "co_3"]);
        assert_eq!(s.products, ["price_1", "prod_1", "price_2", "prod_2"]);
        assert_eq!(s.customer_email, None);
        let none = object(
            "checkout.session.completed",
            json!({"id": "cs_2", "amount_total": 1,
            "discounts": null}),
        );
        assert!(sale(&tenant(), &none, 0)
            .expect("a sale")
            .0
            .coupon_codes
            .is_empty());
    }
}
