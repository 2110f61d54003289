//! Sums beyond 64 bits, on SQLite and PostgreSQL: amounts each within their own limit whose
//! totals are not. The report, the portal and the payouts answer with exact figures; a
//! malformed amount is a 422.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

mod common;
use common::{signature_header, Harness, NOW};

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn click(t: &Harness, aff: &str) -> String {
    let b = json!({"tenantId":"demo","eventId":uuid(),"aff":aff});
    let r = t.post("/tracking/click/v1", b.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
    r.body["cid"].as_str().expect("cid").to_string()
}

/// A signed `checkout.session.completed` of `amount` cents for `cid`: its answer's status.
async fn stripe_sale(t: &Harness, id: &str, cid: &str, amount: i64) -> StatusCode {
    let payload = json!({"id":id,"object":"event","type":"checkout.session.completed",
        "created":NOW,"livemode":true,
        "data":{"object":{"id":format!("cs_{id}"),"object":"checkout.session",
            "client_reference_id":cid,"amount_total":amount,"currency":"usd",
            "payment_status":"paid","metadata":{}}}})
    .to_string();
    let sig = signature_header("whsec_demo", t.now(), payload.as_bytes());
    let r = t.stripe(&payload, &sig).await;
    assert!(r.status.is_success(), "{}: {}", t.backend, r.body);
    r.status
}

/// A request with the demo tenant's admin key.
async fn admin(t: &Harness, path: &str, body: Option<serde_json::Value>) -> common::Resp {
    let req = Request::post(path)
        .header("authorization", "Bearer demo_admin_key")
        .header("content-type", "application/json")
        .body(body.map(|b| Body::from(b.to_string())).unwrap_or_default())
        .expect("request");
    t.send(req).await
}

async fn browser_sale(t: &Harness, cid: &str, amount: serde_json::Value) -> common::Resp {
    let b = json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"conversionType":"sale",
                   "amount":amount,"externalId":uuid()});
    t.post("/tracking/conversion/v1", b.to_string()).await
}

/// The report's raw JSON text: numbers beyond 64 bits are checked as written, since a
/// `serde_json::Value` would read them as floats.
async fn report_text(t: &Harness) -> String {
    let req = Request::get("/api/v1/report")
        .header("authorization", "Bearer demo_secret_key")
        .body(Body::empty())
        .expect("request");
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
    String::from_utf8(r.raw).expect("utf-8")
}

fn field(text: &str, name: &str) -> String {
    let at = text
        .find(&format!("\"{name}\":"))
        .unwrap_or_else(|| panic!("no {name} in {text}"));
    text[at + name.len() + 3..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stripe_sales_of_5e18_cents_report_exactly() {
    for t in Harness::all().await {
        let cid = click(&t, "alice").await;
        stripe_sale(&t, "evt_big_1", &cid, 5_000_000_000_000_000_000).await;
        stripe_sale(&t, "evt_big_2", &cid, 5_000_000_000_000_000_000).await;
        let text = report_text(&t).await;
        // 1e19: beyond i64::MAX (9.22e18), exact
        assert_eq!(
            field(&text, "revenueCents"),
            "10000000000000000000",
            "{}: {text}",
            t.backend
        );
        let commission: i128 = field(&text, "commissionCents").parse().expect("a number");
        assert!(commission > 0, "{}: {text}", t.backend);
        assert_eq!(commission % 2, 0, "two equal commissions: {text}");

        // the affiliate's portal sums the same figures
        let link = admin(&t, "/api/v1/affiliates/alice/portal-link", None).await;
        assert_eq!(link.status, StatusCode::CREATED, "{}", link.body);
        let url = format!("{}.json", link.body["url"].as_str().expect("url"));
        let r = t
            .send(Request::get(url).body(Body::empty()).expect("request"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", t.backend);
        let portal = String::from_utf8(r.raw).expect("utf-8");
        assert_eq!(
            field(&portal, "revenueCents"),
            "10000000000000000000",
            "{}: {portal}",
            t.backend
        );
        assert_eq!(
            field(&portal, "commissionCents"),
            commission.to_string(),
            "{}",
            t.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_large_browser_conversions_report_exactly() {
    const MAX: i128 = 99_999_999_999_999; // "999999999999.99", the largest browser amount
    for t in Harness::all().await {
        let cid = click(&t, "alice").await;
        // what 92k unauthenticated conversions of the largest amount reach, in a few requests:
        // one large signed sale brings the day's sum near i64::MAX first
        let base = i64::MAX - 100_000_000_000_000;
        stripe_sale(&t, "evt_base", &cid, base).await;
        for _ in 0..3 {
            let r = browser_sale(&t, &cid, json!({"value":"999999999999.99"})).await;
            assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
        }
        let text = report_text(&t).await;
        let expected = i128::from(base) + 3 * MAX;
        assert!(expected > i128::from(i64::MAX));
        assert_eq!(
            field(&text, "revenueCents"),
            expected.to_string(),
            "{}: {text}",
            t.backend
        );
        assert_eq!(field(&text, "conversions"), "4", "{}", t.backend);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amount_that_is_not_an_object_is_a_422() {
    for t in Harness::all().await {
        let cid = click(&t, "alice").await;
        for amount in [json!([]), json!(["10.00"]), json!("10.00"), json!(10)] {
            let r = browser_sale(&t, &cid, amount.clone()).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}: {amount} -> {}",
                t.backend,
                r.body
            );
            assert_eq!(r.body["error"]["field"], "amount", "{}", t.backend);
        }
        let text = report_text(&t).await;
        assert_eq!(field(&text, "conversions"), "0", "{}: {text}", t.backend);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payouts_beyond_i64_are_split_never_lost() {
    for t in Harness::all().await {
        let cid = click(&t, "alice").await;
        // commissions of several near-maximal sales sum beyond what one payout records
        for i in 0..8 {
            stripe_sale(&t, &format!("evt_pay_{i}"), &cid, i64::MAX).await;
        }
        let mut paid: i128 = 0;
        let mut payouts = 0;
        loop {
            let r = admin(&t, "/api/v1/payouts", Some(json!({"affiliate":"alice"}))).await;
            if r.status != StatusCode::OK {
                assert_eq!(
                    r.status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{}: {}",
                    t.backend,
                    r.body
                );
                assert_eq!(r.body["error"]["code"], "nothing_due", "{}", t.backend);
                break;
            }
            let text = String::from_utf8(r.raw).expect("utf-8");
            paid += field(&text, "amountCents")
                .parse::<i128>()
                .expect("a number");
            payouts += 1;
            assert!(payouts < 20, "{}: payouts never end", t.backend);
        }
        assert!(payouts > 1, "{}: {payouts} payout(s)", t.backend);
        let text = report_text(&t).await;
        assert_eq!(
            field(&text, "paidCents"),
            paid.to_string(),
            "{}: {text}",
            t.backend
        );
        assert_eq!(
            field(&text, "commissionCents"),
            paid.to_string(),
            "{}",
            t.backend
        );
    }
}
