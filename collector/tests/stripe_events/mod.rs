//! Stripe events for the rules and coupon tests: Stripe's own example objects
//! (`<repo>/tests/fixtures/stripe/`) with only the ids, amounts and linking fields changed,
//! signed by Stripe's official Node library (`tests/stripe/sign.cjs`) and sent through the real
//! `/webhooks/stripe` route.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::common::Harness;

const SECRET: &str = "whsec_demo";

pub fn fixture(kind: &str) -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/stripe/stripe-fixtures.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let f: Value = serde_json::from_str(&text).expect("fixtures are JSON");
    let v = f["current"][kind].clone();
    assert!(v.is_object(), "no {kind} in the fixtures");
    v
}

/// The fixture's event envelope around `object`.
pub fn event(id: &str, kind: &str, object: Value, created: i64) -> String {
    let mut ev = fixture("event");
    ev["id"] = json!(id);
    ev["type"] = json!(kind);
    ev["created"] = json!(created);
    ev["livemode"] = json!(true);
    ev["data"]["object"] = object;
    ev.to_string()
}

/// A paid checkout session; `promo`: the promotion code id in its `discounts`.
pub fn checkout(id: &str, cid: Option<&str>, amount: i64, promo: Option<&str>) -> Value {
    let mut cs = fixture("checkout.session");
    cs["id"] = json!(id);
    cs["amount_total"] = json!(amount);
    cs["currency"] = json!("usd");
    cs["client_reference_id"] = json!(cid);
    cs["payment_status"] = json!("paid");
    cs["status"] = json!("complete");
    cs["payment_intent"] = json!(format!("pi_{id}"));
    cs["metadata"] = json!({});
    cs["discounts"] = match promo {
        Some(p) => json!([{"coupon": null, "promotion_code": p}]),
        None => json!([]),
    };
    cs
}

/// A paid subscription invoice (current shape) of `sub`, with one line of `price`.
pub fn invoice(id: &str, amount: i64, reason: &str, sub: &str, price: &str) -> Value {
    let mut inv = fixture("invoice");
    inv["id"] = json!(id);
    inv["amount_paid"] = json!(amount);
    inv["status"] = json!("paid");
    inv["billing_reason"] = json!(reason);
    inv["payments"] = json!({"object": "list", "data": [
        {"object": "invoice_payment", "payment": {"type": "payment_intent", "payment_intent": format!("pi_{id}")}}
    ]});
    inv["parent"] = json!({"type": "subscription_details", "quote_details": null,
        "subscription_details": {"subscription": sub, "metadata": {}}});
    inv["lines"]["data"][0]["pricing"] =
        json!({"type": "price_details", "price_details": {"price": price, "product": "prod_x"}});
    inv
}

/// `Stripe-Signature` headers for `payloads` at `timestamp`, made by Stripe's Node library.
fn sign_all(payloads: &[String], timestamp: i64) -> Vec<String> {
    crate::common::stripe_signatures(SECRET, payloads, timestamp)
}

/// Delivers one event (signed now), answered 200; the answer.
pub async fn deliver(t: &Harness, payload: String) -> Value {
    let sig = sign_all(std::slice::from_ref(&payload), t.now()).remove(0);
    let r = t.stripe(&payload, &sig).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}: {} for {payload}",
        t.backend,
        r.body
    );
    r.body
}
