//! What the commission rules need from a Stripe checkout session or invoice: the promotion
//! codes and coupons used (coupon attribution), the price and product ids (per-product rates)
//! and the customer's email (self-referrals). Read leniently from the raw object: a field in
//! an unexpected shape is skipped, never an error.
//!
//! Shapes (Stripe API reference): a checkout session's `discounts[]` holds `{coupon,
//! promotion_code}`, each an id or (expanded) the object; an invoice's `discounts[]` holds
//! discount ids or (expanded) discount objects `{coupon, promotion_code}`, and before the
//! basil API versions also `discount` (one discount object). A promotion code object carries
//! its customer-facing `code`; an unexpanded one only its id (`promo_…`), so both are offered
//! to the tenant's codes. Invoice lines name their price and product as `price{id, product}`
//! (before basil) or `pricing.price_details{price, product}` (basil and later).

use clicktrail_store::SaleIn;
use serde_json::Value;

use super::stripe_object::capped;

/// An id, or the id (and `code`) of an expanded object.
fn ids_of(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.extend(capped(Some(s))),
        Value::Object(o) => {
            for k in ["code", "id"] {
                out.extend(capped(o.get(k).and_then(Value::as_str)));
            }
        }
        _ => {}
    }
}

/// Promotion codes first (an affiliate's code is usually a promotion code), then coupons.
fn codes(obj: &Value) -> Vec<String> {
    let mut discounts: Vec<&Value> = obj
        .get("discounts")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if let Some(d) = obj.get("discount").filter(|d| d.is_object()) {
        discounts.push(d);
    }
    let mut out = Vec::new();
    for key in ["promotion_code", "coupon"] {
        for d in &discounts {
            if let Some(v) = d.get(key) {
                ids_of(v, &mut out);
            }
        }
    }
    out
}

/// Price ids before product ids, line by line.
fn products(obj: &Value) -> Vec<String> {
    let lines = obj
        .pointer("/lines/data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for l in &lines {
        let price = l.get("price").filter(|p| p.is_object());
        let details = l.pointer("/pricing/price_details");
        let s = |v: Option<&Value>| capped(v.and_then(Value::as_str));
        out.extend(s(price.and_then(|p| p.get("id"))));
        out.extend(s(details.and_then(|d| d.get("price"))));
        out.extend(s(price.and_then(|p| p.get("product"))));
        out.extend(s(details.and_then(|d| d.get("product"))));
    }
    out
}

fn email(obj: &Value) -> Option<String> {
    [
        obj.pointer("/customer_details/email"),
        obj.get("customer_email"),
    ]
    .into_iter()
    .flatten()
    .find_map(|v| capped(v.as_str()))
}

/// Fills the sale's coupon codes, products and customer email from the Stripe object.
pub(crate) fn apply(sale: &mut SaleIn, obj: Option<&Value>) {
    let Some(obj) = obj else { return };
    sale.coupon_codes = codes(obj);
    sale.products = products(obj);
    sale.customer_email = email(obj);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_ids_expanded_objects_and_both_line_shapes() {
        let cs = json!({"discounts": [{"coupon": "co_1", "promotion_code": "promo_1"},
            {"coupon": {"id": "co_2"}, "promotion_code": {"id": "promo_2", "code": "ALICE20"}}],
            "customer_details": {"email": "a@b.c"}});
        assert_eq!(
            codes(&cs),
            ["promo_1", "ALICE20", "promo_2", "co_1", "co_2"]
        );
        assert_eq!(email(&cs).as_deref(), Some("a@b.c"));
        let inv = json!({"discounts": ["di_1"], "discount": {"coupon": {"id": "co_3"}, "promotion_code": "promo_3"},
            "lines": {"data": [{"price": {"id": "price_1", "product": "prod_1"}},
                {"pricing": {"price_details": {"price": "price_2", "product": "prod_2"}}}]}});
        assert_eq!(codes(&inv), ["promo_3", "co_3"]);
        assert_eq!(products(&inv), ["price_1", "prod_1", "price_2", "prod_2"]);
        assert!(codes(&json!({"discounts": null})).is_empty());
    }
}
