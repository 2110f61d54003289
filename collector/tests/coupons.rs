//! Coupon codes end to end on SQLite and PostgreSQL, through the real router: codes assigned
//! with `PUT /api/v1/rules`; a Stripe checkout's promotion code (Stripe's example objects,
//! signed by Stripe's Node library), the sale API's `coupon_code` and a browser conversion's
//! `couponCodes` credit the code's affiliate when there is no click; a click wins.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

mod common;
mod stripe_events;
use common::Harness;
use stripe_events::{checkout, deliver, event, invoice};

async fn setup(t: &Harness) {
    let req = Request::put("/api/v1/rules")
        .header("authorization", "Bearer demo_admin_key")
        .body(Body::from(
            json!({"coupons": {"ALICE20": "alice", "promo_1AliceXyz": "alice", "BOBBY": "bob"}})
                .to_string(),
        ))
        .expect("request");
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
}

async fn click(t: &Harness, aff: &str) -> String {
    let r = t
        .post(
            "/tracking/click/v1",
            json!({"tenantId":"demo","eventId":uuid::Uuid::new_v4().to_string(),"aff":aff})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["cid"].as_str().expect("cid").to_string()
}

/// (affiliate, amount) of the sale's one accrual; `None` when it has none.
async fn accrual(t: &Harness, sale_id: i64) -> Option<(String, i64)> {
    let es = t.store.ledger_entries("demo").await.expect("entries");
    let mine: Vec<_> = es.iter().filter(|e| e.conversion_id == sale_id).collect();
    assert!(mine.len() <= 1, "{}: {mine:?}", t.backend);
    mine.first().map(|e| (e.affiliate.clone(), e.amount_cents))
}

fn sale_id(v: &Value) -> i64 {
    v["saleId"]
        .as_i64()
        .or(v["sale_id"].as_i64())
        .unwrap_or_else(|| panic!("no sale id in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stripe_checkout_with_a_promotion_code_and_no_click_credits_its_affiliate() {
    for t in Harness::all().await {
        let b = t.backend;
        setup(&t).await;
        // a subscription bought with alice's promotion code, no click
        let mut cs = checkout("cs_promo", None, 4000, Some("promo_1AliceXyz"));
        cs["mode"] = json!("subscription");
        cs["subscription"] = json!("sub_promo");
        let a = deliver(
            &t,
            event("evt_p1", "checkout.session.completed", cs, t.now()),
        )
        .await;
        let first = sale_id(&a);
        assert_eq!(a["attributed"], true, "{b}: {a}");
        assert_eq!(
            accrual(&t, first).await,
            Some(("alice".into(), 1200)),
            "{b}"
        );
        // its renewal (no metadata, no code on the invoice) is alice's too
        t.advance(31 * 86_400);
        let a = deliver(
            &t,
            event(
                "evt_p2",
                "invoice.paid",
                invoice(
                    "in_promo2",
                    4000,
                    "subscription_cycle",
                    "sub_promo",
                    "price_m",
                ),
                t.now(),
            ),
        )
        .await;
        assert_eq!(
            accrual(&t, sale_id(&a)).await,
            Some(("alice".into(), 1200)),
            "{b}"
        );
        // a checkout with an unknown promotion code and no click is recorded unattributed
        let cs = checkout("cs_other", None, 4000, Some("promo_unknown"));
        let a = deliver(
            &t,
            event("evt_p3", "checkout.session.completed", cs, t.now()),
        )
        .await;
        assert_eq!(a["attributed"], false, "{b}: {a}");
        assert_eq!(accrual(&t, sale_id(&a)).await, None, "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_wins_over_a_coupon_code() {
    for t in Harness::all().await {
        let b = t.backend;
        setup(&t).await;
        // Stripe: bob's click, alice's promotion code
        let cid = click(&t, "bob").await;
        let cs = checkout("cs_both", Some(&cid), 10_000, Some("promo_1AliceXyz"));
        let a = deliver(
            &t,
            event("evt_b1", "checkout.session.completed", cs, t.now()),
        )
        .await;
        assert_eq!(
            accrual(&t, sale_id(&a)).await,
            Some(("bob".into(), 3000)),
            "{b}"
        );
        // the sale API: the same
        let r = t
            .api(
                "/api/v1/track/sale",
                json!({"transaction_id": "both2", "amount_cents": 10_000, "click_id": cid, "coupon_code": "alice20"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(
            accrual(&t, sale_id(&r.body)).await,
            Some(("bob".into(), 3000)),
            "{b}"
        );
        // once bob's click window has closed, the code credits alice
        t.advance(61 * 86_400);
        let r = t
            .api(
                "/api/v1/track/sale",
                json!({"transaction_id": "both3", "amount_cents": 10_000, "click_id": cid, "coupon_code": "Alice20"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(
            accrual(&t, sale_id(&r.body)).await,
            Some(("alice".into(), 3000)),
            "{b}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sale_api_and_browser_codes_compare_case_insensitively() {
    for t in Harness::all().await {
        let b = t.backend;
        setup(&t).await;
        let r = t
            .api(
                "/api/v1/track/sale",
                json!({"transaction_id": "c1", "amount_cents": 5000, "coupon_code": "bobby"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(
            accrual(&t, sale_id(&r.body)).await,
            Some(("bob".into(), 1500)),
            "{b}"
        );
        // no click and no known code: still the 422 asking for a click or customer
        let r = t
            .api(
                "/api/v1/track/sale",
                json!({"transaction_id": "c2", "amount_cents": 5000, "coupon_code": "NOPE"}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{b}: {}",
            r.body
        );
        // a browser conversion with couponCodes and no CID
        let r = t
            .post(
                "/tracking/conversion/v1",
                json!({"tenantId": "demo", "eventId": uuid::Uuid::new_v4().to_string(),
                    "conversionType": "signup", "couponCodes": ["x", "aLiCe20"]})
                .to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(r.body["attributed"], true, "{b}: {}", r.body);
        assert_eq!(r.body["commission"]["value"], "5.00", "{b}: {}", r.body);
    }
}
