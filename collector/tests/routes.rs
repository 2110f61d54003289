//! Router tests: the real router, the real SQLite store (in memory), no socket.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::Router;
use clicktrail_collector::config::{Config, DEMO_REVENUE_ORIGIN};
use clicktrail_collector::stripe::signature_header;
use clicktrail_store::Store;
use clicktrail_store_sqlite::SqliteStore;

mod common;
use serde_json::{json, Value};
use tower::ServiceExt;

const NOW: i64 = 1795072000; // 2026-11-19T07:06:40Z

struct T {
    router: Router,
    clock: Arc<AtomicI64>,
    store: Arc<dyn Store>,
    _h: common::Harness,
}

fn setup_with(config: Config) -> T {
    // (converted to one harness per backend by the HTTP-layer change)
    let h = futures_block(common::Harness::new(
        config,
        Arc::new(SqliteStore::open(":memory:").expect("store")),
    ));
    T {
        router: h.router.clone(),
        clock: h.clock.clone(),
        store: h.store.clone(),
        _h: h,
    }
}

fn futures_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

fn setup() -> T {
    let mut c = Config::demo();
    c.server.rate_limit_per_second = 0;
    setup_with(c)
}

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
    raw: Vec<u8>,
}

impl T {
    async fn send(&self, req: Request<Body>) -> Resp {
        let mut req = req;
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 5555))));
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            raw,
        }
    }

    async fn post(&self, path: &str, body: impl Into<String>) -> Resp {
        let req = Request::post(path)
            .header("content-type", "text/plain;charset=UTF-8")
            .body(Body::from(body.into()))
            .unwrap();
        self.send(req).await
    }

    async fn api(&self, path: &str, body: Value) -> Resp {
        let req = Request::post(path)
            .header("content-type", "application/json")
            .header("authorization", "Bearer demo_secret_key")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(req).await
    }

    async fn report(&self, query: &str) -> Value {
        let req = Request::get(format!("/api/v1/report{query}"))
            .header("authorization", "Bearer demo_secret_key")
            .body(Body::empty())
            .unwrap();
        let r = self.send(req).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }

    async fn click(&self, aff: &str, cid: Option<&str>) -> String {
        let mut b = json!({"tenantId":"demo","eventId":uuid(),"aff":aff,"url":"https://shop.example/?aff=alice","referrer":""});
        if let Some(c) = cid {
            b["cid"] = json!(c);
        }
        let r = self.post("/tracking/click/v1", b.to_string()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["cid"].as_str().unwrap().to_string()
    }

    async fn stripe(&self, payload: &str, sig: &str) -> Resp {
        let req = Request::post("/webhooks/stripe")
            .header("content-type", "application/json")
            .header("stripe-signature", sig)
            .body(Body::from(payload.to_string()))
            .unwrap();
        self.send(req).await
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn error_code(r: &Resp) -> &str {
    r.body["error"]["code"].as_str().unwrap_or("")
}

// ------------------------------------------------------------------ click

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn click_accepts_proposed_cid_and_follows_wire_rules() {
    let t = setup();
    let proposed = "0b6f7c1e-3c1d-4e7a-9b1f-2a3b4c5d6e7f";
    let r = t
        .post(
            "/tracking/click/v1",
            json!({"tenantId":"demo","eventId":uuid(),"aff":"alice","cid":proposed,"url":"https://shop.example/?aff=alice","referrer":"https://blog.example/"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/json");
    // 60 days after NOW, RFC 3339 UTC
    assert_eq!(
        r.body,
        json!({"cid": proposed, "expiredAt": "2027-01-18T07:06:40Z"})
    );

    // same affiliate later: same CID, expiry refreshed
    t.clock.fetch_add(86_400, Ordering::SeqCst);
    let again = t.click("alice", Some(proposed)).await;
    assert_eq!(again, proposed);
    // another affiliate: a new CID (an existing CID never changes affiliate)
    let bob = t.click("bob", Some(proposed)).await;
    assert_ne!(bob, proposed);
    assert_eq!(bob.len(), 36);
    // no cid / garbage cid: the collector generates one
    let fresh = t.click("alice", None).await;
    assert_eq!(fresh.len(), 36);
    let garbage = t.click("alice", Some("not-a-uuid")).await;
    assert_ne!(garbage, "not-a-uuid");

    // unknown affiliate
    let r = t
        .post(
            "/tracking/click/v1",
            json!({"tenantId":"demo","eventId":uuid(),"aff":"mallory"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&r), "unknown_affiliate");

    let rep = t.report("").await;
    assert_eq!(rep["totals"]["clicks"], 5);
    assert_eq!(rep["affiliates"][0]["affiliate"], "alice");
    assert_eq!(rep["affiliates"][0]["clicks"], 4);
    assert_eq!(rep["affiliates"][1]["clicks"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_id_replays_the_stored_answer() {
    let t = setup();
    let ev = uuid();
    let body = json!({"tenantId":"demo","eventId":ev,"aff":"alice"}).to_string();
    let a = t.post("/tracking/click/v1", body.clone()).await;
    let b = t.post("/tracking/click/v1", body).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(a.raw, b.raw, "a retried click learns the same CID");
    let cid = a.body["cid"].as_str().unwrap();

    let conv = json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"conversionTypeCode":"sale","amount":{"value":"10.00"},"externalId":"order-1"}).to_string();
    let c1 = t.post("/tracking/conversion/v1", conv.clone()).await;
    let c2 = t.post("/tracking/conversion/v1", conv).await;
    assert_eq!(c1.status, StatusCode::OK);
    assert_eq!(
        c2.status,
        StatusCode::OK,
        "a retry is 200, not 409: {}",
        c2.body
    );
    assert_eq!(c1.body, c2.body);
    // same externalId with a NEW eventId: a real duplicate -> 409
    let c3 = t
        .post(
            "/tracking/conversion/v1",
            json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"conversionTypeCode":"sale","amount":{"value":"10.00"},"externalId":"order-1"}).to_string(),
        )
        .await;
    assert_eq!(c3.status, StatusCode::CONFLICT);
    assert_eq!(error_code(&c3), "duplicate_conversion");

    // the same eventId sent to another endpoint: 409, nothing stored
    let r = t
        .post(
            "/tracking/lead/v1",
            json!({"tenantId":"demo","eventId":ev,"cid":cid,"customerKey":"k1"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(error_code(&r), "event_id_reused");

    let rep = t.report("").await;
    assert_eq!(rep["totals"]["clicks"], 1);
    assert_eq!(rep["totals"]["leads"], 0);
    assert_eq!(rep["totals"]["conversions"], 1);
    assert_eq!(rep["totals"]["revenueCents"], 1000);
    assert_eq!(rep["totals"]["commissionCents"], 300);
}

// ------------------------------------------------------------------ Trackdesk conversions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trackdesk_fixed_and_revenue_share_conversions() {
    let t = setup();
    let cid = t.click("alice", None).await;
    // fixed payout (signup = 5.00)
    let r = t
        .post(
            "/tracking/conversion/v1",
            json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"conversionTypeCode":"signup","externalId":"user_123","customerId":"user_123"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "approved");
    assert_eq!(r.body["commission"], json!({"value":"5.00"}));
    assert_eq!(r.body["attributed"], true);
    assert_eq!(r.body["conversionId"].as_str().unwrap().len(), 36);
    // revenue share: "100.50" at 30 % -> "30.15" (conversionType is accepted as the type too)
    let r = t
        .post(
            "/tracking/conversion/v1",
            json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"conversionType":"sale","amount":{"value":"100.50"},
                   "externalId":"order-77","status":"pending","couponCodes":["SPRING"],
                   "customParams":{"advS1":"newsletter","advS2":"x"}})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["commission"]["value"], "30.15");
    assert_eq!(r.body["status"], "pending");
    let rep = t.report("").await;
    assert_eq!(rep["totals"]["revenueCents"], 10050);
    assert_eq!(rep["totals"]["commissionCents"], 500 + 3015);
    assert_eq!(rep["totals"]["conversions"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_is_exact() {
    let t = setup();
    let cid = t.click("alice", None).await;
    let cases = [
        ("100", "30.00"),
        ("100.5", "30.15"),
        ("100.50", "30.15"),
        ("0.05", "0.02"),
        ("19.99", "6.00"),
        ("0.01", "0.00"),
    ];
    for (amount, commission) in cases {
        let r = t
            .post(
                "/tracking/conversion/v1",
                json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"conversionTypeCode":"sale","amount":{"value":amount}}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{amount}: {}", r.body);
        assert_eq!(r.body["commission"]["value"], commission, "{amount}");
    }
    // numbers, signs, 3 decimals, exponents, garbage, empty and padded strings: 422 naming amount.value
    let bad: [Value; 8] = [
        json!(100.5),
        json!(100),
        json!("-1"),
        json!("1.234"),
        json!("1e3"),
        json!("abc"),
        json!(""),
        json!(" 1"),
    ];
    for v in bad {
        let r = t
            .post(
                "/tracking/conversion/v1",
                json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"conversionTypeCode":"sale","amount":{"value":v}}).to_string(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{v}: {}",
            r.body
        );
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("amount.value"),
            "{}",
            r.body
        );
        assert_eq!(r.body["error"]["field"], "amount.value");
    }
    let rep = t.report("").await;
    assert_eq!(
        rep["totals"]["revenueCents"],
        10000 + 10050 + 10050 + 5 + 1999 + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribution_window_expires() {
    let t = setup();
    let cid = t.click("alice", None).await;
    t.clock.fetch_add(60 * 86_400 + 1, Ordering::SeqCst);
    let r = t
        .post(
            "/tracking/conversion/v1",
            json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"conversionTypeCode":"sale","amount":{"value":"50.00"}}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["attributed"], false);
    assert_eq!(r.body["commission"]["value"], "0.00");
    let rep = t.report("").await;
    assert_eq!(
        rep["unattributed"],
        json!({"conversions":1,"revenueCents":5000})
    );
    assert_eq!(rep["totals"]["conversions"], 0);
}

// ------------------------------------------------------------------ external CID

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_cid_link_then_conversion_via_both_endpoints() {
    let t = setup();
    let cid = t.click("bob", None).await;
    let link = json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"externalCid":"guest@example.com","revenueOriginId":DEMO_REVENUE_ORIGIN});
    let r = t.post("/tracking/external-cid/v1", link.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"ok": true}));
    // re-linking the same pair is fine
    let mut relink = link.clone();
    relink["eventId"] = json!(uuid());
    assert_eq!(
        t.post("/tracking/external-cid/v1", relink.to_string())
            .await
            .status,
        StatusCode::OK
    );

    // conversion through /tracking/conversion/v1
    let r = t
        .post(
            "/tracking/conversion/v1",
            json!({"tenantId":"demo","eventId":uuid(),"externalCid":"guest@example.com","revenueOriginId":DEMO_REVENUE_ORIGIN,
                   "conversionTypeCode":"sale","amount":{"value":"20.00"},"externalId":"ticket-1"})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["commission"]["value"], "6.00");
    // and through /tracking/external-cid/v1 with a conversion type
    let r = t
        .post(
            "/tracking/external-cid/v1",
            json!({"tenantId":"demo","eventId":uuid(),"externalCid":"guest@example.com","revenueOriginId":DEMO_REVENUE_ORIGIN,
                   "conversionTypeCode":"signup","externalId":"ticket-2"})
            .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["commission"]["value"], "5.00");
    assert_eq!(r.body["attributed"], true);

    // unknown external cid / revenue origin
    let r = t
        .post(
            "/tracking/conversion/v1",
            json!({"tenantId":"demo","eventId":uuid(),"externalCid":"nobody@example.com","revenueOriginId":DEMO_REVENUE_ORIGIN,"conversionTypeCode":"sale"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&r), "unknown_cid");
    let r = t
        .post(
            "/tracking/external-cid/v1",
            json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"externalCid":"x","revenueOriginId":"00000000-0000-0000-0000-000000000009"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&r), "unknown_revenue_origin");

    let rep = t.report("").await;
    assert_eq!(rep["affiliates"][1]["affiliate"], "bob");
    assert_eq!(rep["affiliates"][1]["conversions"], 2);
    assert_eq!(rep["affiliates"][1]["commissionCents"], 1100);
}

// ------------------------------------------------------------------ leads and Affitor API

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_lead_links_customer_key() {
    let t = setup();
    let cid = t.click("alice", None).await;
    let r = t
        .post(
            "/tracking/lead/v1",
            json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"customerKey":"user_123","email":"user@example.com"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"ok": true}));
    // a sale given only the customer key resolves through the link
    let r = t
        .api(
            "/api/v1/track/sale",
            json!({"transaction_id":"txn_1","amount_cents":10000,"customer_key":"user_123"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // and so does a browser conversion given only the customer key
    let r = t
        .post(
            "/tracking/conversion/v1",
            json!({"tenantId":"demo","eventId":uuid(),"customerKey":"user_123","conversionTypeCode":"signup"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["attributed"], true);
    let rep = t.report("").await;
    assert_eq!(rep["affiliates"][0]["leads"], 1);
    assert_eq!(rep["affiliates"][0]["commissionCents"], 3000 + 500);
    // bad email / unknown cid
    let r = t
        .post(
            "/tracking/lead/v1",
            json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"customerKey":"k","email":"nope"})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"]["field"], "email");
    let r = t
        .post(
            "/tracking/lead/v1",
            json!({"tenantId":"demo","eventId":uuid(),"cid":uuid(),"customerKey":"k"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&r), "unknown_cid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn affitor_lead_and_sale() {
    let t = setup();
    let cid = t.click("alice", None).await;
    let r = t
        .api(
            "/api/v1/track/lead",
            json!({"click_id":cid,"customer_key":"cus_42","email":"buyer@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"success": true, "message": "Lead tracked successfully"})
    );

    let r = t
        .api(
            "/api/v1/track/sale",
            json!({"transaction_id":"txn_1001","amount_cents":4900,"customer_key":"cus_42","currency":"USD",
                   "sale_type":"subscription","is_recurring":false,"product_id":"pro","line_items":[{"sku":"pro","qty":1}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["message"], "Sale tracked successfully");
    assert!(r.body["sale_id"].as_i64().unwrap() >= 1);
    assert!(r.body["commission_id"].as_i64().unwrap() >= 1);
    assert_eq!(r.body.as_object().unwrap().len(), 4);

    // reused transaction_id -> 409
    let r = t
        .api(
            "/api/v1/track/sale",
            json!({"transaction_id":"txn_1001","amount_cents":4900,"customer_key":"cus_42"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(error_code(&r), "duplicate_transaction");
    // by click id, in EUR (listed under otherCurrencies)
    let r = t
        .api(
            "/api/v1/track/sale",
            json!({"transaction_id":"txn_eur","amount_cents":1000,"click_id":cid,"currency":"eur"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let rep = t.report("").await;
    assert_eq!(rep["totals"]["leads"], 1);
    assert_eq!(rep["totals"]["conversions"], 2);
    assert_eq!(rep["totals"]["revenueCents"], 4900);
    assert_eq!(rep["totals"]["commissionCents"], 1470);
    assert_eq!(
        rep["otherCurrencies"]["EUR"],
        json!({"revenueCents":1000,"commissionCents":300})
    );

    // validation
    for (body, field) in [
        (
            json!({"amount_cents":100,"customer_key":"cus_42"}),
            "transaction_id",
        ),
        (
            json!({"transaction_id":"a","amount_cents":0,"customer_key":"cus_42"}),
            "amount_cents",
        ),
        (
            json!({"transaction_id":"a","amount_cents":-5,"customer_key":"cus_42"}),
            "amount_cents",
        ),
        (
            json!({"transaction_id":"a","amount_cents":10.5,"customer_key":"cus_42"}),
            "amount_cents",
        ),
        (
            json!({"transaction_id":"a","amount_cents":"100","customer_key":"cus_42"}),
            "amount_cents",
        ),
        (
            json!({"transaction_id":"a","amount_cents":100,"customer_key":"cus_42","currency":"GBP"}),
            "currency",
        ),
        (
            json!({"transaction_id":"a","amount_cents":100}),
            "customer_key",
        ),
        (
            json!({"transaction_id":"x".repeat(129),"amount_cents":100,"customer_key":"c"}),
            "transaction_id",
        ),
    ] {
        let r = t.api("/api/v1/track/sale", body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.body
        );
        assert_eq!(r.body["error"]["field"], field, "{body}");
        assert!(r.body["error"]["message"].as_str().unwrap().contains(field));
    }
    let r = t
        .api(
            "/api/v1/track/sale",
            json!({"transaction_id":"zz","amount_cents":100,"customer_key":"nobody"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = t.api("/api/v1/track/lead", json!({"email":"a@b.c"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

// ------------------------------------------------------------------ errors

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_says_where() {
    let t = setup();
    // the seed docs' own example misses a comma
    let r = t
        .post(
            "/tracking/click/v1",
            "{\n  \"tenantId\": \"demo\"\n  \"aff\": \"alice\"\n}",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&r), "malformed_json");
    let m = r.body["error"]["message"].as_str().unwrap();
    assert!(m.contains("line 3, column 3"), "{m}");
    let r = t.post("/tracking/click/v1", "[1,2]").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t.post("/tracking/click/v1", "").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_errors_are_401() {
    let t = setup();
    let no_key = Request::post("/api/v1/track/lead")
        .body(Body::from("{}"))
        .unwrap();
    let r = t.send(no_key).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&r), "unauthorized");
    let wrong = Request::post("/api/v1/track/sale")
        .header("authorization", "Bearer nope")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(t.send(wrong).await.status, StatusCode::UNAUTHORIZED);
    let report = Request::get("/api/v1/report")
        .header("authorization", "Basic x")
        .body(Body::empty())
        .unwrap();
    assert_eq!(t.send(report).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_errors() {
    let t = setup();
    let r = t
        .post(
            "/tracking/click/v1",
            json!({"tenantId":"nope","eventId":uuid(),"aff":"alice"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&r), "unknown_tenant");
    let r = t
        .post(
            "/tracking/conversion/v1",
            json!({"tenantId":"demo","eventId":uuid(),"cid":uuid(),"conversionTypeCode":"sale"})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&r), "unknown_cid");
    let cid = t.click("alice", None).await;
    let r = t
        .post(
            "/tracking/conversion/v1",
            json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"conversionTypeCode":"refund"})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&r), "unknown_conversion_type");
    let r = t.post("/nope", "{}").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body["error"]["message"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limit_is_413() {
    let t = setup();
    let big = json!({"tenantId":"demo","aff":"alice","url":"x".repeat(70_000)}).to_string();
    let r = t.post("/tracking/click/v1", big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&r), "payload_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_caps_and_types_are_422_naming_the_field() {
    let t = setup();
    for (body, field) in [
        (json!({"tenantId":"demo","aff":"a".repeat(129)}), "aff"),
        (
            json!({"tenantId":"demo","aff":"alice","url":"x".repeat(2049)}),
            "url",
        ),
        (json!({"tenantId":"demo","aff":5}), "aff"),
        (json!({"tenantId":"demo"}), "aff"),
        (
            json!({"tenantId":"demo","aff":"alice","eventId":"e".repeat(200)}),
            "eventId",
        ),
    ] {
        let r = t.post("/tracking/click/v1", body.to_string()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(r.body["error"]["field"], field);
        assert!(r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("`{field}`")));
    }
    let cid = t.click("alice", None).await;
    let r = t
        .post(
            "/tracking/conversion/v1",
            json!({"tenantId":"demo","cid":cid,"conversionTypeCode":"sale","status":"maybe"})
                .to_string(),
        )
        .await;
    assert_eq!(r.body["error"]["field"], "status");
    let r = t
        .post(
            "/tracking/conversion/v1",
            json!({"tenantId":"demo","cid":cid}).to_string(),
        )
        .await;
    assert_eq!(r.body["error"]["field"], "conversionTypeCode");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_429() {
    let mut c = Config::demo();
    c.server.rate_limit_per_second = 1;
    c.server.rate_limit_burst = 3;
    let t = setup_with(c);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = t
            .post(
                "/tracking/click/v1",
                json!({"tenantId":"demo","eventId":uuid(),"aff":"alice"}).to_string(),
            )
            .await;
        statuses.push(r.status.as_u16());
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(error_code(&r), "rate_limited");
            assert_eq!(r.headers["retry-after"], "1");
        }
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    // a 429 carries the CORS headers, so the page's tracker can read it and retry later
    let r = t
        .send(
            Request::post("/tracking/click/v1")
                .header("origin", "https://shop.example")
                .body(Body::from(
                    json!({"tenantId":"demo","aff":"alice"}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://shop.example"
    );
    // static files are not limited
    let r = t
        .send(Request::get("/tracking.js").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

// ------------------------------------------------------------------ CORS and tenants

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_per_tenant() {
    let toml = r#"
[server]
rate_limit_per_second = 0
[[tenants]]
id = "acme"
api_key = "acme_key_123"
allowed_origins = ["https://acme.example"]
affiliates = ["alice"]
[[tenants]]
id = "open"
api_key = "open_key_123"
allowed_origins = ["*"]
affiliates = ["zed"]
"#;
    let t = setup_with(Config::from_toml(toml).unwrap());
    let pre = Request::options("/tracking/click/v1")
        .header("origin", "https://acme.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .body(Body::empty())
        .unwrap();
    let r = t.send(pre).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://acme.example"
    );
    assert_eq!(r.headers["vary"], "Origin");
    assert!(r.headers["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));

    let post = |origin: &str, tenant: &str, aff: &str| {
        Request::post("/tracking/click/v1")
            .header("origin", origin)
            .header("content-type", "text/plain")
            .body(Body::from(
                json!({"tenantId":tenant,"eventId":uuid(),"aff":aff}).to_string(),
            ))
            .unwrap()
    };
    let r = t.send(post("https://acme.example", "acme", "alice")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://acme.example"
    );
    // another page posting for acme: refused
    let r = t.send(post("https://evil.example", "acme", "alice")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&r), "origin_not_allowed");
    // the "*" tenant accepts any page and echoes its Origin
    let r = t.send(post("https://evil.example", "open", "zed")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "https://evil.example"
    );
    // several tenants and no tenantId
    let r = t
        .post("/tracking/click/v1", json!({"aff":"alice"}).to_string())
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"]["field"], "tenantId");
}

/// Two tenants under `base_domain = "track.example.com"`: `acme_id` (spelled as given, key
/// `acme_key_123`, affiliate `alice`) and `globex` (key `globex_key_123`, affiliate `carol`).
fn host_tenants(acme_id: &str) -> T {
    let toml = format!(
        r#"
[server]
base_domain = "track.example.com"
rate_limit_per_second = 0
[[tenants]]
id = "{acme_id}"
api_key = "acme_key_123"
allowed_origins = ["*"]
affiliates = ["alice"]
[[tenants]]
id = "globex"
api_key = "globex_key_123"
allowed_origins = ["*"]
affiliates = ["carol"]
"#
    );
    setup_with(Config::from_toml(&toml).unwrap())
}

/// `GET /api/v1/report` on `host` with `Bearer key`.
fn report_on_host(host: &str, key: &str) -> Request<Body> {
    Request::get("/api/v1/report")
        .header("host", host)
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_from_host_subdomain() {
    let t = host_tenants("acme");
    let req = |host: &str, aff: &str| {
        Request::post("/tracking/click/v1")
            .header("host", host)
            .body(Body::from(
                json!({"tenantId":"acme","eventId":uuid(),"aff":aff}).to_string(),
            ))
            .unwrap()
    };
    // the host wins over the body's tenantId
    assert_eq!(
        t.send(req("globex.track.example.com", "carol"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        t.send(req("globex.track.example.com:443", "alice"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.send(req("nobody.track.example.com", "alice"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // no matching host: the body's tenantId
    assert_eq!(
        t.send(req("localhost", "alice")).await.status,
        StatusCode::OK
    );
    // an API key of another tenant on a tenant host is refused
    let r = t
        .send(report_on_host("globex.track.example.com", "acme_key_123"))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

// ------------------------------------------------------------------ diagnostics and static files

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostic_is_204_and_stored() {
    let t = setup();
    let r = t
        .post(
            "/tracking/diagnostic/v1",
            json!({"tenantId":"demo","eventId":uuid(),"kind":"csp","message":"wasm-unsafe-eval missing","url":"https://shop.example/","userAgent":"UA"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.raw.is_empty());
    assert_eq!(t.store.diagnostics_count().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_files() {
    let t = setup();
    let r = t
        .send(Request::get("/tracking.js").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers["content-type"],
        "application/javascript; charset=utf-8"
    );
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    assert_eq!(r.headers["cache-control"], "public, max-age=300");
    let etag = r.headers["etag"].to_str().unwrap().to_string();
    let r = t
        .send(
            Request::get("/tracking.js")
                .header("if-none-match", &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    // the wasm file is missing in this test: a clear 404
    let r = t
        .send(
            Request::get("/clicktrail_bg.wasm")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("npm run build"));
    let r = t.send(Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.raw, b"<h1>shop</h1>");
    let r = t
        .send(Request::get("/dashboard").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.raw, b"<h1>dashboard</h1>");
}

// ------------------------------------------------------------------ Stripe

fn checkout_event(id: &str, cid: &str, amount: i64) -> String {
    json!({"id":id,"object":"event","type":"checkout.session.completed","created":NOW,
           "data":{"object":{"id":format!("cs_{id}"),"object":"checkout.session","client_reference_id":cid,
                   "amount_total":amount,"currency":"usd","payment_status":"paid",
                   "customer_details":{"email":"buyer@example.com"},"metadata":{}}}})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_signature_checks_and_replay() {
    let t = setup();
    let cid = t.click("alice", None).await;
    let payload = checkout_event("evt_1", &cid, 4900);

    // bad signature
    let r = t
        .stripe(&payload, &format!("t={NOW},v1={}", "ab".repeat(32)))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&r), "invalid_signature");
    // wrong secret
    let r = t
        .stripe(
            &payload,
            &signature_header("whsec_other", NOW, payload.as_bytes()),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&r), "invalid_signature");
    // stale timestamp (6 minutes old)
    let r = t
        .stripe(
            &payload,
            &signature_header("whsec_demo", NOW - 360, payload.as_bytes()),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&r), "signature_expired");
    // payload altered after signing
    let sig = signature_header("whsec_demo", NOW, payload.as_bytes());
    let r = t.stripe(&payload.replace("4900", "9900"), &sig).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // missing header
    let r = t
        .send(
            Request::post("/webhooks/stripe")
                .body(Body::from(payload.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(t.report("").await["totals"]["conversions"], 0);

    // good signature (4 minutes old is within tolerance)
    let sig = signature_header("whsec_demo", NOW - 240, payload.as_bytes());
    let r = t.stripe(&payload, &sig).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["received"], true);
    assert_eq!(r.body["attributed"], true);
    // replay of the same event id: 200, no second sale
    let r = t.stripe(&payload, &sig).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["duplicate"], true);

    let rep = t.report("").await;
    assert_eq!(rep["totals"]["conversions"], 1);
    assert_eq!(rep["totals"]["revenueCents"], 4900);
    assert_eq!(rep["totals"]["commissionCents"], 1470);

    // ignored event types answer 200
    let other = json!({"id":"evt_x","type":"customer.created","data":{"object":{}}}).to_string();
    let r = t
        .stripe(
            &other,
            &signature_header("whsec_demo", NOW, other.as_bytes()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["ignored"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_affitor_metadata_and_subscription_renewals() {
    let t = setup();
    let cid = t.click("bob", None).await;
    let lead = t
        .api(
            "/api/v1/track/lead",
            json!({"click_id":cid,"customer_key":"cus_9"}),
        )
        .await;
    assert_eq!(lead.status, StatusCode::OK);
    let send = |ev: Value| {
        let p = ev.to_string();
        let sig = signature_header("whsec_demo", NOW, p.as_bytes());
        (p, sig)
    };
    // checkout via Affitor metadata (customer key), subscription mode
    let (p, s) = send(
        json!({"id":"evt_c","type":"checkout.session.completed","data":{"object":{
        "id":"cs_1","amount_total":2000,"currency":"usd","subscription":"sub_1",
        "metadata":{"affitor_customer_key":"cus_9","program_id":"demo"}}}}),
    );
    let r = t.stripe(&p, &s).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["attributed"], true);
    // the subscription's first invoice was counted by the checkout: no second sale
    let (p, s) = send(
        json!({"id":"evt_i1","type":"invoice.payment_succeeded","data":{"object":{
        "id":"in_1","amount_paid":2000,"currency":"usd","subscription":"sub_1","billing_reason":"subscription_create",
        "subscription_details":{"metadata":{"affitor_customer_key":"cus_9"}}}}}),
    );
    assert_eq!(t.stripe(&p, &s).await.status, StatusCode::OK);
    // a renewal (newer API shape: parent.subscription_details) is a recurring sale
    let (p, s) = send(
        json!({"id":"evt_i2","type":"invoice.payment_succeeded","data":{"object":{
        "id":"in_2","amount_paid":2000,"currency":"usd","billing_reason":"subscription_cycle",
        "parent":{"subscription_details":{"subscription":"sub_1","metadata":{"affitor_click_id":cid}}}}}}),
    );
    let r = t.stripe(&p, &s).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["attributed"], true);
    // a renewal without metadata resolves through the subscription's earlier sale
    let (p, s) = send(
        json!({"id":"evt_i3","type":"invoice.payment_succeeded","data":{"object":{
        "id":"in_3","amount_paid":2000,"currency":"usd","subscription":"sub_1","billing_reason":"subscription_cycle"}}}),
    );
    let r = t.stripe(&p, &s).await;
    assert_eq!(r.body["attributed"], true, "{}", r.body);
    // a checkout nobody referred: stored unattributed, still 200
    let (p, s) = send(
        json!({"id":"evt_u","type":"checkout.session.completed","data":{"object":{
        "id":"cs_2","amount_total":700,"currency":"usd"}}}),
    );
    assert_eq!(t.stripe(&p, &s).await.status, StatusCode::OK);

    let rep = t.report("").await;
    assert_eq!(rep["affiliates"][1]["conversions"], 3);
    assert_eq!(rep["affiliates"][1]["revenueCents"], 6000);
    assert_eq!(rep["affiliates"][1]["commissionCents"], 1800);
    assert_eq!(
        rep["unattributed"],
        json!({"conversions":1,"revenueCents":700})
    );
}

// ------------------------------------------------------------------ report

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_numbers_and_days() {
    let t = setup();
    let day1 = NOW; // 2026-11-19
    let a1 = t.click("alice", None).await;
    let _a2 = t.click("alice", None).await;
    t.post(
        "/tracking/lead/v1",
        json!({"tenantId":"demo","eventId":uuid(),"cid":a1,"customerKey":"u1"}).to_string(),
    )
    .await;
    t.clock.store(day1 + 86_400, Ordering::SeqCst); // 2026-11-20
    let _b = t.click("bob", None).await;
    for (amount, ext) in [("100.50", "o1"), ("0", "o2")] {
        let r = t
            .post(
                "/tracking/conversion/v1",
                json!({"tenantId":"demo","eventId":uuid(),"cid":a1,"conversionTypeCode":"sale","amount":{"value":amount},"externalId":ext}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let rep = t.report("?from=2026-11-01&to=2026-11-22").await;
    assert_eq!(
        rep["totals"],
        json!({"clicks":3,"leads":1,"conversions":2,"revenueCents":10050,"commissionCents":3015,
            "ledger":{"pendingCents":0,"approvedCents":3015,"paidCents":0,"reversedCents":0}})
    );
    assert_eq!(rep["from"], "2026-11-01");
    assert_eq!(rep["to"], "2026-11-22");
    assert_eq!(rep["currency"], "USD");
    assert_eq!(rep["tenantId"], "demo");
    let alice = &rep["affiliates"][0];
    assert_eq!(alice["affiliate"], "alice");
    assert_eq!(
        alice["days"],
        json!([
            {"date":"2026-11-19","clicks":2,"leads":1,"conversions":0,"revenueCents":0,"commissionCents":0},
            {"date":"2026-11-20","clicks":0,"leads":0,"conversions":2,"revenueCents":10050,"commissionCents":3015}
        ])
    );
    assert_eq!(rep["affiliates"][1]["days"][0]["date"], "2026-11-20");
    // bounds are inclusive UTC days
    let rep = t.report("?from=2026-11-20&to=2026-11-20").await;
    assert_eq!(rep["totals"]["clicks"], 1);
    let rep = t.report("?from=2026-11-21&to=2026-11-30").await;
    assert_eq!(rep["totals"]["clicks"], 0);
    // default: the last 30 days up to today
    let rep = t.report("").await;
    assert_eq!(rep["to"], "2026-11-20");
    assert_eq!(rep["from"], "2026-10-22");
    // bad dates
    let r = t
        .send(
            Request::get("/api/v1/report?from=yesterday")
                .header("authorization", "Bearer demo_secret_key")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"]["field"], "from");
}

// ------------------------------------------------------------------ demo checkout (needs a socket: it calls the server over HTTP)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_checkout_posts_a_signed_event_to_itself() {
    let t = setup();
    let cid = t.click("alice", None).await;
    let r = t
        .post(
            "/demo/checkout",
            json!({"cid":cid,"amountCents":4900,"email":"buyer@example.com"}).to_string(),
        )
        .await;
    // the checkout plays Stripe: a signed event through the real webhook handling
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["ok"], true, "{}", r.body);
    assert_eq!(r.body["webhookStatus"], 200);
    assert!(r.body["sessionId"].as_str().unwrap().starts_with("cs_"));
    assert_eq!(t.report("").await["totals"]["commissionCents"], 1470);
    let r = t
        .post("/demo/checkout", r#"{"cid":"x","amountCents":1}"#)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_checkout_only_in_demo_mode() {
    let h = common::Harness::new_mode(
        Config::demo(),
        Arc::new(SqliteStore::open(":memory:").unwrap()),
        false,
    )
    .await;
    let resp = h
        .router
        .clone()
        .oneshot(
            Request::post("/demo/checkout")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

// ------------------------------------------------------------------ review findings

/// Stripe does not guarantee event order: the subscription's first invoice may arrive before
/// the checkout session that created it. The first payment must still be counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_first_invoice_before_checkout_is_counted_once() {
    let t = setup();
    let cid = t.click("alice", None).await;
    let send = |ev: Value| {
        let p = ev.to_string();
        let sig = signature_header("whsec_demo", NOW, p.as_bytes());
        (p, sig)
    };
    // first invoice, carrying the metadata (subscription_data.metadata)
    let (p, s) = send(
        json!({"id":"evt_i1","type":"invoice.payment_succeeded","data":{"object":{
        "id":"in_1","amount_paid":2000,"currency":"usd","subscription":"sub_9","billing_reason":"subscription_create",
        "subscription_details":{"metadata":{"affitor_click_id":cid}}}}}),
    );
    let r = t.stripe(&p, &s).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["attributed"], true);
    // then the checkout session of the same subscription
    let (p, s) = send(
        json!({"id":"evt_c","type":"checkout.session.completed","data":{"object":{
        "id":"cs_9","amount_total":2000,"currency":"usd","subscription":"sub_9","client_reference_id":cid}}}),
    );
    assert_eq!(t.stripe(&p, &s).await.status, StatusCode::OK);
    let rep = t.report("").await;
    assert_eq!(rep["totals"]["conversions"], 1, "{rep}");
    assert_eq!(rep["totals"]["revenueCents"], 2000);
    assert_eq!(rep["totals"]["commissionCents"], 600);
}

/// Same order, but only the checkout names the visitor (client_reference_id): the first
/// invoice was stored unattributed; the checkout must not lose the commission either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_unattributed_first_invoice_then_referred_checkout() {
    let t = setup();
    let cid = t.click("alice", None).await;
    let send = |ev: Value| {
        let p = ev.to_string();
        let sig = signature_header("whsec_demo", NOW, p.as_bytes());
        (p, sig)
    };
    let (p, s) = send(
        json!({"id":"evt_i1","type":"invoice.payment_succeeded","data":{"object":{
        "id":"in_1","amount_paid":2000,"currency":"usd","subscription":"sub_8","billing_reason":"subscription_create"}}}),
    );
    assert_eq!(t.stripe(&p, &s).await.status, StatusCode::OK);
    let (p, s) = send(
        json!({"id":"evt_c","type":"checkout.session.completed","data":{"object":{
        "id":"cs_8","amount_total":2000,"currency":"usd","subscription":"sub_8","client_reference_id":cid}}}),
    );
    let r = t.stripe(&p, &s).await;
    assert_eq!(r.status, StatusCode::OK);
    let rep = t.report("").await;
    assert_eq!(rep["totals"]["conversions"], 1, "{rep}");
    assert_eq!(rep["totals"]["commissionCents"], 600, "{rep}");
    assert_eq!(rep["unattributed"]["conversions"], 0, "{rep}");
    // a renewal then resolves through the subscription's (now attributed) sale
    let (p, s) = send(
        json!({"id":"evt_i2","type":"invoice.payment_succeeded","data":{"object":{
        "id":"in_2","amount_paid":2000,"currency":"usd","subscription":"sub_8","billing_reason":"subscription_cycle"}}}),
    );
    let r = t.stripe(&p, &s).await;
    assert_eq!(r.body["attributed"], true, "{}", r.body);
}

/// Every error is JSON, including a wrong method on a known route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_is_a_json_error() {
    let t = setup();
    let r = t
        .send(
            Request::get("/tracking/click/v1")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert!(
        r.body["error"]["code"].is_string(),
        "{:?}",
        String::from_utf8_lossy(&r.raw)
    );
}

/// Out-of-range report dates are a 422, not a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_extreme_dates_are_422() {
    let t = setup();
    for q in ["?to=262142-12-31", "?to=-262143-01-01", "?from=a&from=b"] {
        let req = Request::get(format!("/api/v1/report{q}"))
            .header("authorization", "Bearer demo_secret_key")
            .body(Body::empty())
            .unwrap();
        let r = t.send(req).await;
        assert!(r.status.is_client_error(), "{q}: {}", r.status);
        assert!(
            r.body["error"]["code"].is_string(),
            "{q}: {:?}",
            String::from_utf8_lossy(&r.raw)
        );
    }
}

/// Host names are case-insensitive (and arrive lowercased): a tenant declared as `Acme` is
/// reached at `acme.<base_domain>`, and its API key works there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_subdomain_matches_tenant_ids_case_insensitively() {
    let t = host_tenants("Acme");
    let r = t
        .send(
            Request::post("/tracking/click/v1")
                .header("host", "acme.track.example.com")
                .body(Body::from(
                    json!({"tenantId":"Acme","eventId":uuid(),"aff":"alice"}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = t
        .send(report_on_host("acme.track.example.com", "acme_key_123"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["totals"]["clicks"], 1);
}

/// The diagnostics endpoint is unauthenticated: a made-up `tenantId` per request must not
/// escape the per-tenant cap (each unknown tenant kept its rows forever: unbounded growth).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_with_made_up_tenants_stay_capped() {
    let t = setup();
    for _ in 0..10_010 {
        let r = t
            .post(
                "/tracking/diagnostic/v1",
                json!({"tenantId":uuid(),"kind":"init","message":"x","url":"u","userAgent":"UA"})
                    .to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
    }
    assert!(t.store.diagnostics_count().await.unwrap() <= 10_000);
}

/// A server-to-server lead with only a `click_id`, sent again (a retry), is one lead: leads
/// are not counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_lead_by_click_id_only_is_counted_once() {
    let t = setup();
    let cid = t.click("alice", None).await;
    for _ in 0..2 {
        let r = t.api("/api/v1/track/lead", json!({"click_id": cid})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    assert_eq!(t.report("").await["totals"]["leads"], 1);
}
