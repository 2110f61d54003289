//! Differential test: one scripted day of traffic (clicks, leads, conversions, sales, Stripe
//! events, retries, duplicates, an expired click) through the real router. Every answer and the
//! final reports are compared with `fixtures/differential.json`, which was recorded with the
//! collector as it was before the domain/store split (business rules in SQL closures). Random
//! ids (CIDs, conversion ids, row ids) are replaced by stable placeholders in order of appearance.
//!
//! Re-record (only when a behaviour change is intended): `RECORD=1 cargo test --test differential`.

mod common;

use std::collections::HashMap;

use serde_json::{json, Value};

use common::{signature_header, Harness};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/differential.json"
);

/// Replaces every UUID-looking string by `<id-N>` (N by first appearance).
fn normalize(v: &Value, ids: &mut HashMap<String, usize>) -> Value {
    match v {
        Value::String(s) if uuid::Uuid::parse_str(s).is_ok() && s.len() == 36 => {
            let n = ids.len();
            let n = *ids.entry(s.clone()).or_insert(n);
            Value::String(format!("<id-{n}>"))
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| normalize(x, ids)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| match (k.as_str(), x) {
                    // database row ids depend on the backend's sequences: compared by identity
                    ("sale_id" | "saleId" | "commission_id", Value::Number(n)) => {
                        let key = format!("{k}:{n}");
                        let n = ids.len();
                        let n = *ids.entry(key).or_insert(n);
                        (k.clone(), Value::String(format!("<row-{n}>")))
                    }
                    _ => (k.clone(), normalize(x, ids)),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn checkout(evt: &str, session: &str, cid: &str, cents: i64, sub: Option<&str>) -> String {
    let mut obj = json!({"id": session, "object": "checkout.session", "amount_total": cents,
        "currency": "usd", "client_reference_id": cid, "metadata": {}});
    if let Some(s) = sub {
        obj["subscription"] = json!(s);
        obj["mode"] = json!("subscription");
    }
    json!({"id": evt, "type": "checkout.session.completed", "data": {"object": obj}}).to_string()
}

fn invoice(evt: &str, inv: &str, sub: &str, cents: i64, reason: &str) -> String {
    json!({"id": evt, "type": "invoice.payment_succeeded", "data": {"object": {
        "id": inv, "object": "invoice", "amount_paid": cents, "currency": "usd",
        "subscription": sub, "billing_reason": reason,
        "subscription_details": {"metadata": {}}}}})
    .to_string()
}

#[tokio::test]
async fn same_answers_and_reports_as_before_the_split() {
    for h in Harness::all().await {
        run(h).await;
    }
}

async fn run(h: Harness) {
    let mut log: Vec<Value> = Vec::new();
    let mut ev = 0u32;
    let mut next_event = || {
        ev += 1;
        format!("00000000-0000-4000-8000-{ev:012}")
    };
    macro_rules! step {
        ($name:expr, $resp:expr) => {{
            let r = $resp;
            log.push(json!({"step": $name, "status": r.status.as_u16(), "body": r.body.clone()}));
            r
        }};
    }
    let fixed_cid = "0b6f7c1e-3c1d-4e7a-9b1f-2a3b4c5d6e7f";
    let click = |aff: &str, cid: Option<&str>, eid: String| {
        let mut b = json!({"tenantId":"demo","eventId":eid,"aff":aff,"url":"https://shop.example/?aff=x","referrer":""});
        if let Some(c) = cid {
            b["cid"] = json!(c);
        }
        b.to_string()
    };
    let e1 = next_event();
    let a = step!(
        "click alice proposed",
        h.post(
            "/tracking/click/v1",
            click("alice", Some(fixed_cid), e1.clone())
        )
        .await
    );
    step!(
        "click retry",
        h.post("/tracking/click/v1", click("alice", Some(fixed_cid), e1))
            .await
    );
    let cid_a = a.body["cid"].as_str().unwrap_or_default().to_string();
    step!(
        "click bob over alice cid",
        h.post(
            "/tracking/click/v1",
            click("bob", Some(fixed_cid), next_event())
        )
        .await
    );
    let b = step!(
        "click bob fresh",
        h.post("/tracking/click/v1", click("bob", None, next_event()))
            .await
    );
    let cid_b = b.body["cid"].as_str().unwrap_or_default().to_string();
    step!(
        "click unknown affiliate",
        h.post("/tracking/click/v1", click("mallory", None, next_event()))
            .await
    );
    h.advance(3600);
    step!("lead browser", h.post("/tracking/lead/v1", json!({"tenantId":"demo","eventId":next_event(),"cid":cid_a,"customerKey":"cust-a","email":"a@example.com"}).to_string()).await);
    step!(
        "lead api by key again",
        h.api(
            "/api/v1/track/lead",
            json!({"customer_key":"cust-a","email":"a2@example.com"})
        )
        .await
    );
    step!(
        "lead api click only",
        h.api("/api/v1/track/lead", json!({"click_id":cid_b})).await
    );
    step!(
        "lead api click only retry",
        h.api("/api/v1/track/lead", json!({"click_id":cid_b})).await
    );
    step!("conversion fixed", h.post("/tracking/conversion/v1", json!({"tenantId":"demo","eventId":next_event(),"cid":cid_a,"conversionTypeCode":"signup","externalId":"u1"}).to_string()).await);
    let conv = json!({"tenantId":"demo","eventId":next_event(),"cid":cid_a,"conversionType":"sale","amount":{"value":"100.50"},"externalId":"o1","status":"pending"}).to_string();
    step!(
        "conversion share",
        h.post("/tracking/conversion/v1", conv.clone()).await
    );
    step!(
        "conversion retry",
        h.post("/tracking/conversion/v1", conv).await
    );
    step!("conversion duplicate external id", h.post("/tracking/conversion/v1", json!({"tenantId":"demo","eventId":next_event(),"cid":cid_a,"conversionType":"sale","amount":{"value":"1.00"},"externalId":"o1"}).to_string()).await);
    step!("conversion declined", h.post("/tracking/conversion/v1", json!({"tenantId":"demo","eventId":next_event(),"cid":cid_b,"conversionType":"sale","amount":{"value":"19.99"},"status":"declined"}).to_string()).await);
    step!("link external", h.post("/tracking/external-cid/v1", json!({"tenantId":"demo","eventId":next_event(),"cid":cid_b,"externalCid":"b@example.com","revenueOriginId":common::REVENUE_ORIGIN}).to_string()).await);
    step!("conversion via external", h.post("/tracking/external-cid/v1", json!({"tenantId":"demo","eventId":next_event(),"externalCid":"b@example.com","revenueOriginId":common::REVENUE_ORIGIN,"conversionTypeCode":"sale","amount":{"value":"0.05"}}).to_string()).await);
    step!("conversion customer key", h.post("/tracking/conversion/v1", json!({"tenantId":"demo","eventId":next_event(),"customerKey":"cust-a","conversionTypeCode":"sale","amount":{"value":"19.99"}}).to_string()).await);
    step!(
        "sale by key",
        h.api(
            "/api/v1/track/sale",
            json!({"transaction_id":"tx1","amount_cents":4900,"customer_key":"cust-a"})
        )
        .await
    );
    step!(
        "sale reused",
        h.api(
            "/api/v1/track/sale",
            json!({"transaction_id":"tx1","amount_cents":4900,"customer_key":"cust-a"})
        )
        .await
    );
    step!("sale by click eur", h.api("/api/v1/track/sale", json!({"transaction_id":"tx2","amount_cents":1234,"click_id":cid_b,"currency":"EUR","is_recurring":true,"subscription_id":"s-api"})).await);
    step!(
        "sale unknown key",
        h.api(
            "/api/v1/track/sale",
            json!({"transaction_id":"tx3","amount_cents":100,"customer_key":"nobody"})
        )
        .await
    );
    let p = checkout("evt_1", "cs_1", &cid_a, 9900, Some("sub_1"));
    step!(
        "stripe checkout",
        h.stripe(&p, &signature_header("whsec_demo", h.now(), p.as_bytes()))
            .await
    );
    step!(
        "stripe checkout replay",
        h.stripe(&p, &signature_header("whsec_demo", h.now(), p.as_bytes()))
            .await
    );
    let p = invoice("evt_2", "in_1", "sub_1", 9900, "subscription_create");
    step!(
        "stripe first invoice",
        h.stripe(&p, &signature_header("whsec_demo", h.now(), p.as_bytes()))
            .await
    );
    h.advance(86_400);
    let p = invoice("evt_3", "in_2", "sub_1", 9900, "subscription_cycle");
    step!(
        "stripe renewal",
        h.stripe(&p, &signature_header("whsec_demo", h.now(), p.as_bytes()))
            .await
    );
    let p = invoice("evt_4", "in_3", "sub_2", 2500, "subscription_create");
    step!(
        "stripe unattributed first invoice",
        h.stripe(&p, &signature_header("whsec_demo", h.now(), p.as_bytes()))
            .await
    );
    let p = checkout("evt_5", "cs_2", &cid_b, 2500, Some("sub_2"));
    step!(
        "stripe referred checkout after",
        h.stripe(&p, &signature_header("whsec_demo", h.now(), p.as_bytes()))
            .await
    );
    // 61 days later: alice's click has expired
    h.advance(61 * 86_400);
    step!("conversion after expiry", h.post("/tracking/conversion/v1", json!({"tenantId":"demo","eventId":next_event(),"cid":cid_a,"conversionTypeCode":"sale","amount":{"value":"10.00"}}).to_string()).await);
    step!(
        "sale after expiry",
        h.api(
            "/api/v1/track/sale",
            json!({"transaction_id":"tx9","amount_cents":1000,"click_id":cid_a})
        )
        .await
    );
    step!(
        "click refresh after expiry",
        h.post(
            "/tracking/click/v1",
            click("alice", Some(&cid_a), next_event())
        )
        .await
    );
    let report_all = h.report("?from=2026-11-01&to=2027-02-28").await;
    let report_day = h.report("?from=2026-11-20&to=2026-11-20").await;
    log.push(json!({"report": report_all}));
    log.push(json!({"report": report_day}));

    let mut ids = HashMap::new();
    let got = normalize(&Value::Array(log), &mut ids);
    if std::env::var_os("RECORD").is_some() {
        std::fs::write(FIXTURE, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        return;
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE).expect("fixture"))
        .expect("fixture json");
    let (got, want) = (got.as_array().unwrap(), want.as_array().unwrap());
    assert_eq!(got.len(), want.len(), "{}: number of steps", h.backend);
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g, w, "{}: answer differs from the recorded one", h.backend);
    }
}
