//! Commission rules end to end on SQLite and PostgreSQL, through the real router: the rules
//! document set with `PUT /api/v1/rules`, sales through the sale API and Stripe webhooks
//! (Stripe's example objects, signed by Stripe's Node library), the ledger read back.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

mod common;
mod stripe_events;
use common::Harness;
use stripe_events::{checkout, deliver, event, invoice};

/// Sets the demo tenant's rules (admin key); the answer.
pub async fn put_rules(t: &Harness, rules: Value) -> common::Resp {
    let req = Request::put("/api/v1/rules")
        .header("authorization", "Bearer demo_admin_key")
        .body(Body::from(rules.to_string()))
        .expect("request");
    t.send(req).await
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

/// (affiliate, amount, rule) of the sale's accrual.
async fn accrual(t: &Harness, sale_id: i64) -> (String, i64) {
    let es = t.store.ledger_entries("demo").await.expect("entries");
    let mine: Vec<_> = es.iter().filter(|e| e.conversion_id == sale_id).collect();
    assert_eq!(
        mine.len(),
        1,
        "{}: one accrual for sale {sale_id}",
        t.backend
    );
    (mine[0].affiliate.clone(), mine[0].amount_cents)
}

async fn sale(t: &Harness, body: Value) -> i64 {
    let r = t.api("/api/v1/track/sale", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
    r.body["sale_id"].as_i64().expect("sale_id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn affiliate_override_beats_the_type_rate_and_a_product_rate_beats_both() {
    for t in Harness::all().await {
        let b = t.backend;
        let r = put_rules(
            &t,
            json!({
                "affiliate_rates": {"alice": {"sale": {"revenue_share_percent": "40"}}},
                "product_rates": {"prod_ebook": {"fixed": "2.50"}},
            }),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let (ca, cb) = (click(&t, "alice").await, click(&t, "bob").await);
        let s = sale(
            &t,
            json!({"transaction_id": "o1", "amount_cents": 10_000, "click_id": ca}),
        )
        .await;
        assert_eq!(
            accrual(&t, s).await,
            ("alice".into(), 4000),
            "{b}: alice's 40 %"
        );
        let s = sale(
            &t,
            json!({"transaction_id": "o2", "amount_cents": 10_000, "click_id": cb}),
        )
        .await;
        assert_eq!(
            accrual(&t, s).await,
            ("bob".into(), 3000),
            "{b}: the type's 30 %"
        );
        let s = sale(
            &t,
            json!({"transaction_id": "o3", "amount_cents": 10_000, "click_id": ca, "product_id": "prod_ebook"}),
        )
        .await;
        assert_eq!(
            accrual(&t, s).await,
            ("alice".into(), 250),
            "{b}: the product's 2.50"
        );
        // the rules read back as written
        let req = Request::get("/api/v1/rules")
            .header("authorization", "Bearer demo_secret_key")
            .body(Body::empty())
            .expect("request");
        let got = t.send(req).await;
        assert_eq!(
            got.body["affiliate_rates"]["alice"]["sale"]["revenue_share_percent"], "40.00",
            "{b}: {}",
            got.body
        );
        // a bad document is a 422 naming `rules`, and changes nothing
        for bad in [
            json!({"product_rates": {"p": {"fixed": "1", "revenue_share_percent": "2"}}}),
            json!({"coupons": {"X": "mallory"}}),
            json!({"recurring_limit": {"months": 0}}),
        ] {
            let r = put_rules(&t, bad.clone()).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{b}: {bad} {}",
                r.body
            );
            assert_eq!(r.body["error"]["field"], "rules", "{b}: {}", r.body);
        }
        let s = sale(
            &t,
            json!({"transaction_id": "o4", "amount_cents": 10_000, "click_id": ca}),
        )
        .await;
        assert_eq!(accrual(&t, s).await, ("alice".into(), 4000), "{b}");
        // the report counts each affiliate's accruals by the rule that decided them
        let rep = t.report("").await;
        let row = |aff: &str| {
            rep["affiliates"]
                .as_array()
                .expect("affiliates")
                .iter()
                .find(|a| a["affiliate"] == aff)
                .cloned()
                .unwrap_or_else(|| panic!("{b}: no {aff} in {rep}"))
        };
        assert_eq!(
            row("alice")["rules"],
            json!({"affiliate": {"accruals": 2, "accruedCents": 8000},
                   "product:prod_ebook": {"accruals": 1, "accruedCents": 250}}),
            "{b}"
        );
        // accruals at the type's rate are not listed
        assert_eq!(row("bob")["rules"], Value::Null, "{b}");
    }
}

/// The affiliate's portal data (a fresh portal link made with the admin key).
async fn portal(t: &Harness, aff: &str) -> Value {
    let req = Request::post(format!("/api/v1/affiliates/{aff}/portal-link"))
        .header("authorization", "Bearer demo_admin_key")
        .body(Body::empty())
        .expect("request");
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {}", t.backend, r.body);
    let token = r.body["token"].as_str().expect("token");
    let req = Request::get(format!("/portal/{token}.json"))
        .body(Body::empty())
        .expect("request");
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
    r.body
}

/// Timestamps of a subscription's monthly payments: the first plus k calendar months.
fn month(first: i64, k: u32) -> i64 {
    chrono::DateTime::from_timestamp(first, 0)
        .and_then(|d| d.checked_add_months(chrono::Months::new(k)))
        .expect("time")
        .timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_13th_monthly_payment_of_a_12_months_rule_earns_nothing() {
    for t in Harness::all().await {
        let b = t.backend;
        let r = put_rules(&t, json!({"recurring_limit": {"months": 12}})).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let cid = click(&t, "alice").await;
        let first = t.now();
        // the first payment: the checkout session and the subscription's first invoice
        let mut cs = checkout("cs_sub", Some(&cid), 2000, None);
        cs["mode"] = json!("subscription");
        cs["subscription"] = json!("sub_12");
        let a = deliver(&t, event("evt_cs", "checkout.session.completed", cs, first)).await;
        let first_sale = a["saleId"].as_i64().expect("saleId");
        deliver(
            &t,
            event(
                "evt_in0",
                "invoice.paid",
                invoice("in_0", 2000, "subscription_create", "sub_12", "price_m"),
                first,
            ),
        )
        .await;
        assert_eq!(accrual(&t, first_sale).await, ("alice".into(), 600), "{b}");
        // renewals 2..=13, each a calendar month later
        let mut earned = Vec::new();
        for k in 1..=12u32 {
            let at = month(first, k);
            t.advance(at - t.now());
            let a = deliver(
                &t,
                event(
                    &format!("evt_in{k}"),
                    "invoice.paid",
                    invoice(
                        &format!("in_{k}"),
                        2000,
                        "subscription_cycle",
                        "sub_12",
                        "price_m",
                    ),
                    at,
                ),
            )
            .await;
            let id = a["saleId"].as_i64().unwrap_or_else(|| panic!("{b}: {a}"));
            earned.push(accrual(&t, id).await.1);
        }
        // payments 2..=12 earn 30 %, the 13th (12 months after the first) nothing
        assert_eq!(&earned[..11], &[600; 11], "{b}");
        assert_eq!(earned[11], 0, "{b}: the 13th payment");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payments_limit_counts_the_subscription_payments_given_by_the_sale_api() {
    for t in Harness::all().await {
        let b = t.backend;
        put_rules(&t, json!({"recurring_limit": {"payments": 2}})).await;
        let cid = click(&t, "bob").await;
        let mut got = Vec::new();
        for i in 0..3 {
            let s = sale(
                &t,
                json!({"transaction_id": format!("r{i}"), "amount_cents": 1000, "click_id": cid,
                    "subscription_id": "sub_api", "is_recurring": i > 0}),
            )
            .await;
            got.push(accrual(&t, s).await.1);
        }
        assert_eq!(got, [300, 300, 0], "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_referral_earns_nothing_or_is_declined_per_setting() {
    for t in Harness::all().await {
        let b = t.backend;
        put_rules(
            &t,
            json!({"affiliate_emails": {"alice": "Alice@Example.com"}}),
        )
        .await;
        let cid = click(&t, "alice").await;
        let s = sale(
            &t,
            json!({"transaction_id": "self1", "amount_cents": 10_000, "click_id": cid,
                "customer_email": "alice@example.COM"}),
        )
        .await;
        assert_eq!(
            accrual(&t, s).await,
            ("alice".into(), 0),
            "{b}: no commission"
        );
        // another customer through alice's link still earns
        let s = sale(
            &t,
            json!({"transaction_id": "other1", "amount_cents": 10_000, "click_id": cid,
                "customer_email": "carol@example.com"}),
        )
        .await;
        assert_eq!(accrual(&t, s).await.1, 3000, "{b}");
        // declined: the conversion is declined, out of the report's conversions
        put_rules(
            &t,
            json!({"affiliate_emails": {"alice": "alice@example.com"}, "self_referral": "decline"}),
        )
        .await;
        let before = t.report("").await;
        let s = sale(
            &t,
            json!({"transaction_id": "self2", "amount_cents": 10_000, "click_id": cid,
                "customer_email": "alice@example.com"}),
        )
        .await;
        assert_eq!(accrual(&t, s).await.1, 0, "{b}");
        let after = t.report("").await;
        assert_eq!(
            after["totals"]["conversions"], before["totals"]["conversions"],
            "{b}: {after}"
        );
        // a Stripe checkout paid with the affiliate's own email
        let cid2 = click(&t, "alice").await;
        let mut cs = checkout("cs_self", Some(&cid2), 5000, None);
        cs["customer_details"]["email"] = json!("ALICE@example.com");
        let a = deliver(
            &t,
            event("evt_self", "checkout.session.completed", cs, t.now()),
        )
        .await;
        let id = a["saleId"].as_i64().expect("saleId");
        assert_eq!(accrual(&t, id).await, ("alice".into(), 0), "{b}");
        // alice's portal shows which rule decided each of her sales, newest first
        let p = portal(&t, "alice").await;
        let shown: Vec<(Value, Value, Value)> = p["conversions"]
            .as_array()
            .expect("conversions")
            .iter()
            .map(|c| {
                (
                    c["rule"].clone(),
                    c["status"].clone(),
                    c["commissionCents"].clone(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                // the Stripe checkout and self2, under `decline`
                (json!("self_referral"), json!("declined"), json!(0)),
                (json!("self_referral"), json!("declined"), json!(0)),
                (json!("type"), json!("approved"), json!(3000)),
                (json!("self_referral"), json!("approved"), json!(0)),
            ],
            "{b}: {p}"
        );
    }
}

/// Two collectors on one PostgreSQL recording payments of one subscription at once: the
/// subscription's payments are counted under its lock, so a `payments: 3` limit pays exactly
/// three of them, whatever the interleaving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_renewals_on_two_collectors_never_pass_a_payments_limit() {
    use clicktrail_domain::conversion::Status;
    use clicktrail_domain::rules::{RecurringLimit, Rules};
    use clicktrail_domain::Payout;
    use clicktrail_store::{SaleIn, Store, Target};
    use clicktrail_store_postgres::PgStore;
    use std::sync::Arc;

    let url = clicktrail_store_postgres::test_cluster::fresh_database().await;
    let a = Arc::new(PgStore::connect(&url).await.expect("pg a"));
    let b = Arc::new(PgStore::connect(&url).await.expect("pg b"));
    let mut rules = Rules {
        recurring_limit: Some(RecurringLimit::Payments(3)),
        ..Rules::default()
    };
    rules.coupons.insert("code".into(), "alice".into());
    let rules = Arc::new(rules);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s: Arc<dyn Store> = if i % 2 == 0 { a.clone() } else { b.clone() };
        let rules = rules.clone();
        tasks.push(tokio::spawn(async move {
            s.sale(SaleIn {
                tenant: "t".into(),
                transaction_id: format!("renewal-{i}"),
                amount_cents: 1000,
                currency: "USD".into(),
                target: Target::None,
                allow_unresolved: true,
                conversion_type: "sale".into(),
                payout: Some(Payout::RevenueShare(3000)),
                customer_key: None,
                is_recurring: i > 0,
                subscription_id: Some("sub_race".into()),
                source: "api",
                details: None,
                status: Status::Approved,
                hold_days: 0,
                now: 1_795_072_000 + i,
                rules,
                coupon_codes: vec!["CODE".into()],
                products: Vec::new(),
                customer_email: None,
            })
            .await
        }));
    }
    let mut paid = 0;
    for t in tasks {
        let out = t.await.expect("task").expect("sale");
        assert!(out.attributed);
        if out.commission_cents > 0 {
            assert_eq!(out.commission_cents, 300);
            paid += 1;
        }
    }
    assert_eq!(paid, 3, "exactly the first three payments earn");
    let entries = a.ledger_entries("t").await.expect("entries");
    assert_eq!(entries.len(), 10);
    let by_rule = |r: &str| {
        entries
            .iter()
            .filter(|e| e.rule.as_deref() == Some(r))
            .count()
    };
    assert_eq!((by_rule("type"), by_rule("recurring_limit")), (3, 7));
}
