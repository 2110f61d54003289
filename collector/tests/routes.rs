//! Router tests: the real router over every storage backend (`common::Harness::all`), no
//! socket. Each test runs once per backend; `on(&t)` names the backend in the test's output and
//! in assertion messages.

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clicktrail_collector::config::{Config, DEMO_REVENUE_ORIGIN};
use serde_json::{json, Value};
use tower::ServiceExt;

mod common;
use common::{signature_header, Harness, Resp, NOW};

/// Names the backend under test (shown with a failing assertion's output).
fn on(t: &Harness) -> &'static str {
    eprintln!("-- backend: {}", t.backend);
    t.backend
}

/// A click for `aff` (optionally proposing `cid`); its CID.
async fn click(t: &Harness, aff: &str, cid: Option<&str>) -> String {
    let mut b = json!({"tenantId":"demo","eventId":uuid(),"aff":aff,"url":"https://shop.example/?aff=alice","referrer":""});
    if let Some(c) = cid {
        b["cid"] = json!(c);
    }
    let r = t.post("/tracking/click/v1", b.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
    r.body["cid"].as_str().unwrap().to_string()
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
    for t in Harness::all().await {
        let backend = on(&t);
        let proposed = "0b6f7c1e-3c1d-4e7a-9b1f-2a3b4c5d6e7f";
        let r = t
            .post(
                "/tracking/click/v1",
                json!({"tenantId":"demo","eventId":uuid(),"aff":"alice","cid":proposed,"url":"https://shop.example/?aff=alice","referrer":"https://blog.example/"}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}");
        assert_eq!(r.headers["content-type"], "application/json", "{backend}");
        // 60 days after NOW, RFC 3339 UTC
        assert_eq!(
            r.body,
            json!({"cid": proposed, "expiredAt": "2027-01-18T07:06:40Z"}),
            "{backend}"
        );

        // same affiliate later: same CID, expiry refreshed
        t.advance(86_400);
        let again = click(&t, "alice", Some(proposed)).await;
        assert_eq!(again, proposed, "{backend}");
        // another affiliate: a new CID (an existing CID never changes affiliate)
        let bob = click(&t, "bob", Some(proposed)).await;
        assert_ne!(bob, proposed, "{backend}");
        assert_eq!(bob.len(), 36, "{backend}");
        // no cid / garbage cid: the collector generates one
        let fresh = click(&t, "alice", None).await;
        assert_eq!(fresh.len(), 36, "{backend}");
        let garbage = click(&t, "alice", Some("not-a-uuid")).await;
        assert_ne!(garbage, "not-a-uuid", "{backend}");

        // unknown affiliate
        let r = t
            .post(
                "/tracking/click/v1",
                json!({"tenantId":"demo","eventId":uuid(),"aff":"mallory"}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend}");
        assert_eq!(error_code(&r), "unknown_affiliate", "{backend}");

        let rep = t.report("").await;
        assert_eq!(rep["totals"]["clicks"], 5, "{backend}");
        assert_eq!(rep["affiliates"][0]["affiliate"], "alice", "{backend}");
        assert_eq!(rep["affiliates"][0]["clicks"], 4, "{backend}");
        assert_eq!(rep["affiliates"][1]["clicks"], 1, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_id_replays_the_stored_answer() {
    for t in Harness::all().await {
        let backend = on(&t);
        let ev = uuid();
        let body = json!({"tenantId":"demo","eventId":ev,"aff":"alice"}).to_string();
        let a = t.post("/tracking/click/v1", body.clone()).await;
        let b = t.post("/tracking/click/v1", body).await;
        assert_eq!(a.status, StatusCode::OK, "{backend}");
        assert_eq!(b.status, StatusCode::OK, "{backend}");
        assert_eq!(
            a.raw, b.raw,
            "{backend}: a retried click learns the same CID"
        );
        let cid = a.body["cid"].as_str().unwrap();

        let conv = json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"conversionTypeCode":"sale","amount":{"value":"10.00"},"externalId":"order-1"}).to_string();
        let c1 = t.post("/tracking/conversion/v1", conv.clone()).await;
        let c2 = t.post("/tracking/conversion/v1", conv).await;
        assert_eq!(c1.status, StatusCode::OK, "{backend}");
        assert_eq!(
            c2.status,
            StatusCode::OK,
            "{backend}: a retry is 200, not 409: {}",
            c2.body
        );
        assert_eq!(c1.body, c2.body, "{backend}");
        // same externalId with a NEW eventId: a real duplicate -> 409
        let c3 = t
            .post(
                "/tracking/conversion/v1",
                json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"conversionTypeCode":"sale","amount":{"value":"10.00"},"externalId":"order-1"}).to_string(),
            )
            .await;
        assert_eq!(c3.status, StatusCode::CONFLICT, "{backend}");
        assert_eq!(error_code(&c3), "duplicate_conversion", "{backend}");

        // the same eventId sent to another endpoint: 409, nothing stored
        let r = t
            .post(
                "/tracking/lead/v1",
                json!({"tenantId":"demo","eventId":ev,"cid":cid,"customerKey":"k1"}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{backend}");
        assert_eq!(error_code(&r), "event_id_reused", "{backend}");

        let rep = t.report("").await;
        assert_eq!(rep["totals"]["clicks"], 1, "{backend}");
        assert_eq!(rep["totals"]["leads"], 0, "{backend}");
        assert_eq!(rep["totals"]["conversions"], 1, "{backend}");
        assert_eq!(rep["totals"]["revenueCents"], 1000, "{backend}");
        assert_eq!(rep["totals"]["commissionCents"], 300, "{backend}");
    }
}

// ------------------------------------------------------------------ Trackdesk conversions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trackdesk_fixed_and_revenue_share_conversions() {
    for t in Harness::all().await {
        let backend = on(&t);
        let cid = click(&t, "alice", None).await;
        // fixed payout (signup = 5.00)
        let r = t
            .post(
                "/tracking/conversion/v1",
                json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"conversionTypeCode":"signup","externalId":"user_123","customerId":"user_123"}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        assert_eq!(r.body["status"], "approved", "{backend}");
        assert_eq!(r.body["commission"], json!({"value":"5.00"}), "{backend}");
        assert_eq!(r.body["attributed"], true, "{backend}");
        assert_eq!(
            r.body["conversionId"].as_str().unwrap().len(),
            36,
            "{backend}"
        );
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
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        assert_eq!(r.body["commission"]["value"], "30.15", "{backend}");
        assert_eq!(r.body["status"], "pending", "{backend}");
        let rep = t.report("").await;
        assert_eq!(rep["totals"]["revenueCents"], 10050, "{backend}");
        assert_eq!(rep["totals"]["commissionCents"], 500 + 3015, "{backend}");
        assert_eq!(rep["totals"]["conversions"], 2, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_is_exact() {
    for t in Harness::all().await {
        let backend = on(&t);
        let cid = click(&t, "alice", None).await;
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
            assert_eq!(r.status, StatusCode::OK, "{backend}: {amount}: {}", r.body);
            assert_eq!(
                r.body["commission"]["value"], commission,
                "{backend}: {amount}"
            );
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
                "{backend}: {v}: {}",
                r.body
            );
            assert!(
                r.body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("amount.value"),
                "{backend}: {}",
                r.body
            );
            assert_eq!(r.body["error"]["field"], "amount.value", "{backend}");
        }
        let rep = t.report("").await;
        assert_eq!(
            rep["totals"]["revenueCents"],
            10000 + 10050 + 10050 + 5 + 1999 + 1,
            "{backend}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribution_window_expires() {
    for t in Harness::all().await {
        let backend = on(&t);
        let cid = click(&t, "alice", None).await;
        t.advance(60 * 86_400 + 1);
        let r = t
            .post(
                "/tracking/conversion/v1",
                json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"conversionTypeCode":"sale","amount":{"value":"50.00"}}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}");
        assert_eq!(r.body["attributed"], false, "{backend}");
        assert_eq!(r.body["commission"]["value"], "0.00", "{backend}");
        let rep = t.report("").await;
        assert_eq!(
            rep["unattributed"],
            json!({"conversions":1,"revenueCents":5000}),
            "{backend}"
        );
        assert_eq!(rep["totals"]["conversions"], 0, "{backend}");
    }
}

// ------------------------------------------------------------------ external CID

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_cid_link_then_conversion_via_both_endpoints() {
    for t in Harness::all().await {
        let backend = on(&t);
        let cid = click(&t, "bob", None).await;
        let link = json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"externalCid":"guest@example.com","revenueOriginId":DEMO_REVENUE_ORIGIN});
        let r = t.post("/tracking/external-cid/v1", link.to_string()).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        assert_eq!(r.body, json!({"ok": true}), "{backend}");
        // re-linking the same pair is fine
        let mut relink = link.clone();
        relink["eventId"] = json!(uuid());
        assert_eq!(
            t.post("/tracking/external-cid/v1", relink.to_string())
                .await
                .status,
            StatusCode::OK,
            "{backend}"
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
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        assert_eq!(r.body["commission"]["value"], "6.00", "{backend}");
        // and through /tracking/external-cid/v1 with a conversion type
        let r = t
            .post(
                "/tracking/external-cid/v1",
                json!({"tenantId":"demo","eventId":uuid(),"externalCid":"guest@example.com","revenueOriginId":DEMO_REVENUE_ORIGIN,
                       "conversionTypeCode":"signup","externalId":"ticket-2"})
                .to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        assert_eq!(r.body["commission"]["value"], "5.00", "{backend}");
        assert_eq!(r.body["attributed"], true, "{backend}");

        // unknown external cid / revenue origin
        let r = t
            .post(
                "/tracking/conversion/v1",
                json!({"tenantId":"demo","eventId":uuid(),"externalCid":"nobody@example.com","revenueOriginId":DEMO_REVENUE_ORIGIN,"conversionTypeCode":"sale"}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend}");
        assert_eq!(error_code(&r), "unknown_cid", "{backend}");
        let r = t
            .post(
                "/tracking/external-cid/v1",
                json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"externalCid":"x","revenueOriginId":"00000000-0000-0000-0000-000000000009"}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend}");
        assert_eq!(error_code(&r), "unknown_revenue_origin", "{backend}");

        let rep = t.report("").await;
        assert_eq!(rep["affiliates"][1]["affiliate"], "bob", "{backend}");
        assert_eq!(rep["affiliates"][1]["conversions"], 2, "{backend}");
        assert_eq!(rep["affiliates"][1]["commissionCents"], 1100, "{backend}");
    }
}

// ------------------------------------------------------------------ leads and Affitor API

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_lead_links_customer_key() {
    for t in Harness::all().await {
        let backend = on(&t);
        let cid = click(&t, "alice", None).await;
        let r = t
            .post(
                "/tracking/lead/v1",
                json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"customerKey":"user_123","email":"user@example.com"}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        assert_eq!(r.body, json!({"ok": true}), "{backend}");
        // a sale given only the customer key resolves through the link
        let r = t
            .api(
                "/api/v1/track/sale",
                json!({"transaction_id":"txn_1","amount_cents":10000,"customer_key":"user_123"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        // and so does a browser conversion given only the customer key
        let r = t
            .post(
                "/tracking/conversion/v1",
                json!({"tenantId":"demo","eventId":uuid(),"customerKey":"user_123","conversionTypeCode":"signup"}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        assert_eq!(r.body["attributed"], true, "{backend}");
        let rep = t.report("").await;
        assert_eq!(rep["affiliates"][0]["leads"], 1, "{backend}");
        assert_eq!(
            rep["affiliates"][0]["commissionCents"],
            3000 + 500,
            "{backend}"
        );
        // bad email / unknown cid
        let r = t
            .post(
                "/tracking/lead/v1",
                json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"customerKey":"k","email":"nope"})
                    .to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
        assert_eq!(r.body["error"]["field"], "email", "{backend}");
        let r = t
            .post(
                "/tracking/lead/v1",
                json!({"tenantId":"demo","eventId":uuid(),"cid":uuid(),"customerKey":"k"})
                    .to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend}");
        assert_eq!(error_code(&r), "unknown_cid", "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn affitor_lead_and_sale() {
    for t in Harness::all().await {
        let backend = on(&t);
        let cid = click(&t, "alice", None).await;
        let r = t
            .api(
                "/api/v1/track/lead",
                json!({"click_id":cid,"customer_key":"cus_42","email":"buyer@example.com"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        assert_eq!(
            r.body,
            json!({"success": true, "message": "Lead tracked successfully"}),
            "{backend}"
        );

        let r = t
            .api(
                "/api/v1/track/sale",
                json!({"transaction_id":"txn_1001","amount_cents":4900,"customer_key":"cus_42","currency":"USD",
                       "sale_type":"subscription","is_recurring":false,"product_id":"pro","line_items":[{"sku":"pro","qty":1}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        assert_eq!(r.body["success"], true, "{backend}");
        assert_eq!(r.body["message"], "Sale tracked successfully", "{backend}");
        assert!(r.body["sale_id"].as_i64().unwrap() >= 1, "{backend}");
        assert!(r.body["commission_id"].as_i64().unwrap() >= 1, "{backend}");
        assert_eq!(r.body.as_object().unwrap().len(), 4, "{backend}");

        // reused transaction_id -> 409
        let r = t
            .api(
                "/api/v1/track/sale",
                json!({"transaction_id":"txn_1001","amount_cents":4900,"customer_key":"cus_42"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{backend}");
        assert_eq!(error_code(&r), "duplicate_transaction", "{backend}");
        // by click id, in EUR (listed under otherCurrencies)
        let r = t
            .api(
                "/api/v1/track/sale",
                json!({"transaction_id":"txn_eur","amount_cents":1000,"click_id":cid,"currency":"eur"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);

        let rep = t.report("").await;
        assert_eq!(rep["totals"]["leads"], 1, "{backend}");
        assert_eq!(rep["totals"]["conversions"], 2, "{backend}");
        assert_eq!(rep["totals"]["revenueCents"], 4900, "{backend}");
        assert_eq!(rep["totals"]["commissionCents"], 1470, "{backend}");
        assert_eq!(
            rep["otherCurrencies"]["EUR"],
            json!({"revenueCents":1000,"commissionCents":300}),
            "{backend}"
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
                "{backend}: {body}: {}",
                r.body
            );
            assert_eq!(r.body["error"]["field"], field, "{backend}: {body}");
            assert!(
                r.body["error"]["message"].as_str().unwrap().contains(field),
                "{backend}"
            );
        }
        let r = t
            .api(
                "/api/v1/track/sale",
                json!({"transaction_id":"zz","amount_cents":100,"customer_key":"nobody"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend}");
        let r = t.api("/api/v1/track/lead", json!({"email":"a@b.c"})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
    }
}

// ------------------------------------------------------------------ errors

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_says_where() {
    for t in Harness::all().await {
        let backend = on(&t);
        // the seed docs' own example misses a comma
        let r = t
            .post(
                "/tracking/click/v1",
                "{\n  \"tenantId\": \"demo\"\n  \"aff\": \"alice\"\n}",
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{backend}");
        assert_eq!(error_code(&r), "malformed_json", "{backend}");
        let m = r.body["error"]["message"].as_str().unwrap();
        assert!(m.contains("line 3, column 3"), "{backend}: {m}");
        let r = t.post("/tracking/click/v1", "[1,2]").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{backend}");
        let r = t.post("/tracking/click/v1", "").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_errors_are_401() {
    for t in Harness::all().await {
        let backend = on(&t);
        let no_key = Request::post("/api/v1/track/lead")
            .body(Body::from("{}"))
            .unwrap();
        let r = t.send(no_key).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{backend}");
        assert_eq!(error_code(&r), "unauthorized", "{backend}");
        let wrong = Request::post("/api/v1/track/sale")
            .header("authorization", "Bearer nope")
            .body(Body::from("{}"))
            .unwrap();
        assert_eq!(
            t.send(wrong).await.status,
            StatusCode::UNAUTHORIZED,
            "{backend}"
        );
        let report = Request::get("/api/v1/report")
            .header("authorization", "Basic x")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            t.send(report).await.status,
            StatusCode::UNAUTHORIZED,
            "{backend}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_errors() {
    for t in Harness::all().await {
        let backend = on(&t);
        let r = t
            .post(
                "/tracking/click/v1",
                json!({"tenantId":"nope","eventId":uuid(),"aff":"alice"}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend}");
        assert_eq!(error_code(&r), "unknown_tenant", "{backend}");
        let r = t
            .post(
                "/tracking/conversion/v1",
                json!({"tenantId":"demo","eventId":uuid(),"cid":uuid(),"conversionTypeCode":"sale"})
                    .to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend}");
        assert_eq!(error_code(&r), "unknown_cid", "{backend}");
        let cid = click(&t, "alice", None).await;
        let r = t
            .post(
                "/tracking/conversion/v1",
                json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"conversionTypeCode":"refund"})
                    .to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend}");
        assert_eq!(error_code(&r), "unknown_conversion_type", "{backend}");
        let r = t.post("/nope", "{}").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend}");
        assert!(r.body["error"]["message"].is_string(), "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limit_is_413() {
    for t in Harness::all().await {
        let backend = on(&t);
        let big = json!({"tenantId":"demo","aff":"alice","url":"x".repeat(70_000)}).to_string();
        let r = t.post("/tracking/click/v1", big).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{backend}");
        assert_eq!(error_code(&r), "payload_too_large", "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_caps_and_types_are_422_naming_the_field() {
    for t in Harness::all().await {
        let backend = on(&t);
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
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{backend}: {body}"
            );
            assert_eq!(r.body["error"]["field"], field, "{backend}");
            assert!(
                r.body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("`{field}`")),
                "{backend}"
            );
        }
        let cid = click(&t, "alice", None).await;
        let r = t
            .post(
                "/tracking/conversion/v1",
                json!({"tenantId":"demo","cid":cid,"conversionTypeCode":"sale","status":"maybe"})
                    .to_string(),
            )
            .await;
        assert_eq!(r.body["error"]["field"], "status", "{backend}");
        let r = t
            .post(
                "/tracking/conversion/v1",
                json!({"tenantId":"demo","cid":cid}).to_string(),
            )
            .await;
        assert_eq!(r.body["error"]["field"], "conversionTypeCode", "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_429() {
    let mut c = Config::demo();
    c.server.rate_limit_per_second = 1;
    c.server.rate_limit_burst = 3;
    for t in Harness::all_with(c).await {
        let backend = on(&t);
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
                assert_eq!(error_code(&r), "rate_limited", "{backend}");
                assert_eq!(r.headers["retry-after"], "1", "{backend}");
            }
        }
        assert_eq!(statuses, vec![200, 200, 200, 429, 429], "{backend}");
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
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{backend}");
        assert_eq!(
            r.headers["access-control-allow-origin"], "https://shop.example",
            "{backend}"
        );
        // static files are not limited
        let r = t
            .send(Request::get("/tracking.js").body(Body::empty()).unwrap())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}");
    }
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
    for t in Harness::all_with(Config::from_toml(toml).unwrap()).await {
        let backend = on(&t);
        let pre = Request::options("/tracking/click/v1")
            .header("origin", "https://acme.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .body(Body::empty())
            .unwrap();
        let r = t.send(pre).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{backend}");
        assert_eq!(
            r.headers["access-control-allow-origin"], "https://acme.example",
            "{backend}"
        );
        // header names are case-insensitive (tower-http writes them lowercase)
        assert!(
            r.headers["vary"]
                .to_str()
                .unwrap()
                .eq_ignore_ascii_case("origin"),
            "{backend}"
        );
        assert!(
            r.headers["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains("POST"),
            "{backend}"
        );

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
        assert_eq!(r.status, StatusCode::OK, "{backend}");
        assert_eq!(
            r.headers["access-control-allow-origin"], "https://acme.example",
            "{backend}"
        );
        // another page posting for acme: refused
        let r = t.send(post("https://evil.example", "acme", "alice")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{backend}");
        assert_eq!(error_code(&r), "origin_not_allowed", "{backend}");
        // the "*" tenant accepts any page and echoes its Origin
        let r = t.send(post("https://evil.example", "open", "zed")).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}");
        assert_eq!(
            r.headers["access-control-allow-origin"], "https://evil.example",
            "{backend}"
        );
        // several tenants and no tenantId
        let r = t
            .post("/tracking/click/v1", json!({"aff":"alice"}).to_string())
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
        assert_eq!(r.body["error"]["field"], "tenantId", "{backend}");
    }
}

/// Two tenants under `base_domain = "track.example.com"`: `acme_id` (spelled as given, key
/// `acme_key_123`, affiliate `alice`) and `globex` (key `globex_key_123`, affiliate `carol`).
async fn host_tenants(acme_id: &str) -> Vec<Harness> {
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
    Harness::all_with(Config::from_toml(&toml).unwrap()).await
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
    for t in host_tenants("acme").await {
        let backend = on(&t);
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
            StatusCode::OK,
            "{backend}"
        );
        assert_eq!(
            t.send(req("globex.track.example.com:443", "alice"))
                .await
                .status,
            StatusCode::NOT_FOUND,
            "{backend}"
        );
        assert_eq!(
            t.send(req("nobody.track.example.com", "alice"))
                .await
                .status,
            StatusCode::NOT_FOUND,
            "{backend}"
        );
        // no matching host: the body's tenantId
        assert_eq!(
            t.send(req("localhost", "alice")).await.status,
            StatusCode::OK,
            "{backend}"
        );
        // an API key of another tenant on a tenant host is refused
        let r = t
            .send(report_on_host("globex.track.example.com", "acme_key_123"))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{backend}");
    }
}

// ------------------------------------------------------------------ diagnostics and static files

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostic_is_204_and_stored() {
    for t in Harness::all().await {
        let backend = on(&t);
        let r = t
            .post(
                "/tracking/diagnostic/v1",
                json!({"tenantId":"demo","eventId":uuid(),"kind":"csp","message":"wasm-unsafe-eval missing","url":"https://shop.example/","userAgent":"UA"}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{backend}");
        assert!(r.raw.is_empty(), "{backend}");
        assert_eq!(t.store.diagnostics_count().await.unwrap(), 1, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_files() {
    for t in Harness::all().await {
        let backend = on(&t);
        let r = t
            .send(Request::get("/tracking.js").body(Body::empty()).unwrap())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}");
        assert_eq!(
            r.headers["content-type"], "application/javascript; charset=utf-8",
            "{backend}"
        );
        assert_eq!(r.headers["access-control-allow-origin"], "*", "{backend}");
        assert_eq!(
            r.headers["cache-control"], "public, max-age=300",
            "{backend}"
        );
        let etag = r.headers["etag"].to_str().unwrap().to_string();
        let r = t
            .send(
                Request::get("/tracking.js")
                    .header("if-none-match", &etag)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{backend}");
        // the wasm file is missing in this test: a clear 404
        let r = t
            .send(
                Request::get("/clicktrail_bg.wasm")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend}");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("npm run build"),
            "{backend}"
        );
        let r = t.send(Request::get("/").body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}");
        assert_eq!(r.raw, b"<h1>shop</h1>", "{backend}");
        let r = t
            .send(Request::get("/dashboard").body(Body::empty()).unwrap())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}");
        assert_eq!(r.raw, b"<h1>dashboard</h1>", "{backend}");
    }
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
    for t in Harness::all().await {
        let backend = on(&t);
        let cid = click(&t, "alice", None).await;
        let payload = checkout_event("evt_1", &cid, 4900);

        // bad signature
        let r = t
            .stripe(&payload, &format!("t={NOW},v1={}", "ab".repeat(32)))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{backend}");
        assert_eq!(error_code(&r), "invalid_signature", "{backend}");
        // wrong secret
        let r = t
            .stripe(
                &payload,
                &signature_header("whsec_other", NOW, payload.as_bytes()),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{backend}");
        assert_eq!(error_code(&r), "invalid_signature", "{backend}");
        // stale timestamp (6 minutes old)
        let r = t
            .stripe(
                &payload,
                &signature_header("whsec_demo", NOW - 360, payload.as_bytes()),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{backend}");
        assert_eq!(error_code(&r), "signature_expired", "{backend}");
        // payload altered after signing
        let sig = signature_header("whsec_demo", NOW, payload.as_bytes());
        let r = t.stripe(&payload.replace("4900", "9900"), &sig).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{backend}");
        // missing header
        let r = t
            .send(
                Request::post("/webhooks/stripe")
                    .body(Body::from(payload.clone()))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{backend}");
        assert_eq!(t.report("").await["totals"]["conversions"], 0, "{backend}");

        // good signature (4 minutes old is within tolerance)
        let sig = signature_header("whsec_demo", NOW - 240, payload.as_bytes());
        let r = t.stripe(&payload, &sig).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        assert_eq!(r.body["received"], true, "{backend}");
        assert_eq!(r.body["attributed"], true, "{backend}");
        // replay of the same event id: 200, no second sale
        let r = t.stripe(&payload, &sig).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}");
        assert_eq!(r.body["duplicate"], true, "{backend}");

        let rep = t.report("").await;
        assert_eq!(rep["totals"]["conversions"], 1, "{backend}");
        assert_eq!(rep["totals"]["revenueCents"], 4900, "{backend}");
        assert_eq!(rep["totals"]["commissionCents"], 1470, "{backend}");

        // ignored event types answer 200
        let other =
            json!({"id":"evt_x","type":"customer.created","data":{"object":{}}}).to_string();
        let r = t
            .stripe(
                &other,
                &signature_header("whsec_demo", NOW, other.as_bytes()),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}");
        assert_eq!(r.body["ignored"], true, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_affitor_metadata_and_subscription_renewals() {
    for t in Harness::all().await {
        let backend = on(&t);
        let cid = click(&t, "bob", None).await;
        let lead = t
            .api(
                "/api/v1/track/lead",
                json!({"click_id":cid,"customer_key":"cus_9"}),
            )
            .await;
        assert_eq!(lead.status, StatusCode::OK, "{backend}");
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
        assert_eq!(r.status, StatusCode::OK, "{backend}");
        assert_eq!(r.body["attributed"], true, "{backend}");
        // the subscription's first invoice was counted by the checkout: no second sale
        let (p, s) = send(
            json!({"id":"evt_i1","type":"invoice.payment_succeeded","data":{"object":{
            "id":"in_1","amount_paid":2000,"currency":"usd","subscription":"sub_1","billing_reason":"subscription_create",
            "subscription_details":{"metadata":{"affitor_customer_key":"cus_9"}}}}}),
        );
        assert_eq!(t.stripe(&p, &s).await.status, StatusCode::OK, "{backend}");
        // a renewal (newer API shape: parent.subscription_details) is a recurring sale
        let (p, s) = send(
            json!({"id":"evt_i2","type":"invoice.payment_succeeded","data":{"object":{
            "id":"in_2","amount_paid":2000,"currency":"usd","billing_reason":"subscription_cycle",
            "parent":{"subscription_details":{"subscription":"sub_1","metadata":{"affitor_click_id":cid}}}}}}),
        );
        let r = t.stripe(&p, &s).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}");
        assert_eq!(r.body["attributed"], true, "{backend}");
        // a renewal without metadata resolves through the subscription's earlier sale
        let (p, s) = send(
            json!({"id":"evt_i3","type":"invoice.payment_succeeded","data":{"object":{
            "id":"in_3","amount_paid":2000,"currency":"usd","subscription":"sub_1","billing_reason":"subscription_cycle"}}}),
        );
        let r = t.stripe(&p, &s).await;
        assert_eq!(r.body["attributed"], true, "{backend}: {}", r.body);
        // a checkout nobody referred: stored unattributed, still 200
        let (p, s) = send(
            json!({"id":"evt_u","type":"checkout.session.completed","data":{"object":{
            "id":"cs_2","amount_total":700,"currency":"usd"}}}),
        );
        assert_eq!(t.stripe(&p, &s).await.status, StatusCode::OK, "{backend}");

        let rep = t.report("").await;
        assert_eq!(rep["affiliates"][1]["conversions"], 3, "{backend}");
        assert_eq!(rep["affiliates"][1]["revenueCents"], 6000, "{backend}");
        assert_eq!(rep["affiliates"][1]["commissionCents"], 1800, "{backend}");
        assert_eq!(
            rep["unattributed"],
            json!({"conversions":1,"revenueCents":700}),
            "{backend}"
        );
    }
}

// ------------------------------------------------------------------ report

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_numbers_and_days() {
    for t in Harness::all().await {
        let backend = on(&t);
        let day1 = NOW; // 2026-11-19
        let a1 = click(&t, "alice", None).await;
        let _a2 = click(&t, "alice", None).await;
        t.post(
            "/tracking/lead/v1",
            json!({"tenantId":"demo","eventId":uuid(),"cid":a1,"customerKey":"u1"}).to_string(),
        )
        .await;
        t.clock.store(day1 + 86_400, Ordering::SeqCst); // 2026-11-20
        let _b = click(&t, "bob", None).await;
        for (amount, ext) in [("100.50", "o1"), ("0", "o2")] {
            let r = t
                .post(
                    "/tracking/conversion/v1",
                    json!({"tenantId":"demo","eventId":uuid(),"cid":a1,"conversionTypeCode":"sale","amount":{"value":amount},"externalId":ext}).to_string(),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{backend}");
        }
        let rep = t.report("?from=2026-11-01&to=2026-11-22").await;
        assert_eq!(
            rep["totals"],
            json!({"clicks":3,"leads":1,"conversions":2,"revenueCents":10050,"commissionCents":3015,
                "ledger":{"pendingCents":0,"approvedCents":3015,"paidCents":0,"reversedCents":0}}),
            "{backend}"
        );
        assert_eq!(rep["from"], "2026-11-01", "{backend}");
        assert_eq!(rep["to"], "2026-11-22", "{backend}");
        assert_eq!(rep["currency"], "USD", "{backend}");
        assert_eq!(rep["tenantId"], "demo", "{backend}");
        let alice = &rep["affiliates"][0];
        assert_eq!(alice["affiliate"], "alice", "{backend}");
        assert_eq!(
            alice["days"],
            json!([
                {"date":"2026-11-19","clicks":2,"leads":1,"conversions":0,"revenueCents":0,"commissionCents":0},
                {"date":"2026-11-20","clicks":0,"leads":0,"conversions":2,"revenueCents":10050,"commissionCents":3015}
            ]),
            "{backend}"
        );
        assert_eq!(
            rep["affiliates"][1]["days"][0]["date"], "2026-11-20",
            "{backend}"
        );
        // bounds are inclusive UTC days
        let rep = t.report("?from=2026-11-20&to=2026-11-20").await;
        assert_eq!(rep["totals"]["clicks"], 1, "{backend}");
        let rep = t.report("?from=2026-11-21&to=2026-11-30").await;
        assert_eq!(rep["totals"]["clicks"], 0, "{backend}");
        // default: the last 30 days up to today
        let rep = t.report("").await;
        assert_eq!(rep["to"], "2026-11-20", "{backend}");
        assert_eq!(rep["from"], "2026-10-22", "{backend}");
        // bad dates
        let r = t
            .send(
                Request::get("/api/v1/report?from=yesterday")
                    .header("authorization", "Bearer demo_secret_key")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
        assert_eq!(r.body["error"]["field"], "from", "{backend}");
    }
}

// ------------------------------------------------------------------ demo checkout (plays Stripe in-process)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_checkout_posts_a_signed_event_to_itself() {
    for t in Harness::all().await {
        let backend = on(&t);
        let cid = click(&t, "alice", None).await;
        let r = t
            .post(
                "/demo/checkout",
                json!({"cid":cid,"amountCents":4900,"email":"buyer@example.com"}).to_string(),
            )
            .await;
        // the checkout plays Stripe: a signed event through the real webhook handling
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        assert_eq!(r.body["ok"], true, "{backend}: {}", r.body);
        assert_eq!(r.body["webhookStatus"], 200, "{backend}");
        assert!(
            r.body["sessionId"].as_str().unwrap().starts_with("cs_"),
            "{backend}"
        );
        assert_eq!(
            t.report("").await["totals"]["commissionCents"],
            1470,
            "{backend}"
        );
        let r = t
            .post("/demo/checkout", r#"{"cid":"x","amountCents":1}"#)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_checkout_only_in_demo_mode() {
    for store in common::stores().await {
        let h = Harness::new_mode(Config::demo(), store, false).await;
        let backend = on(&h);
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
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{backend}: {backend}");
    }
}

// ------------------------------------------------------------------ review findings

/// Stripe does not guarantee event order: the subscription's first invoice may arrive before
/// the checkout session that created it. The first payment must still be counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_first_invoice_before_checkout_is_counted_once() {
    for t in Harness::all().await {
        let backend = on(&t);
        let cid = click(&t, "alice", None).await;
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
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        assert_eq!(r.body["attributed"], true, "{backend}");
        // then the checkout session of the same subscription
        let (p, s) = send(
            json!({"id":"evt_c","type":"checkout.session.completed","data":{"object":{
            "id":"cs_9","amount_total":2000,"currency":"usd","subscription":"sub_9","client_reference_id":cid}}}),
        );
        assert_eq!(t.stripe(&p, &s).await.status, StatusCode::OK, "{backend}");
        let rep = t.report("").await;
        assert_eq!(rep["totals"]["conversions"], 1, "{backend}: {rep}");
        assert_eq!(rep["totals"]["revenueCents"], 2000, "{backend}");
        assert_eq!(rep["totals"]["commissionCents"], 600, "{backend}");
    }
}

/// Same order, but only the checkout names the visitor (client_reference_id): the first
/// invoice was stored unattributed; the checkout must not lose the commission either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_unattributed_first_invoice_then_referred_checkout() {
    for t in Harness::all().await {
        let backend = on(&t);
        let cid = click(&t, "alice", None).await;
        let send = |ev: Value| {
            let p = ev.to_string();
            let sig = signature_header("whsec_demo", NOW, p.as_bytes());
            (p, sig)
        };
        let (p, s) = send(
            json!({"id":"evt_i1","type":"invoice.payment_succeeded","data":{"object":{
            "id":"in_1","amount_paid":2000,"currency":"usd","subscription":"sub_8","billing_reason":"subscription_create"}}}),
        );
        assert_eq!(t.stripe(&p, &s).await.status, StatusCode::OK, "{backend}");
        let (p, s) = send(
            json!({"id":"evt_c","type":"checkout.session.completed","data":{"object":{
            "id":"cs_8","amount_total":2000,"currency":"usd","subscription":"sub_8","client_reference_id":cid}}}),
        );
        let r = t.stripe(&p, &s).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}");
        let rep = t.report("").await;
        assert_eq!(rep["totals"]["conversions"], 1, "{backend}: {rep}");
        assert_eq!(rep["totals"]["commissionCents"], 600, "{backend}: {rep}");
        assert_eq!(rep["unattributed"]["conversions"], 0, "{backend}: {rep}");
        // a renewal then resolves through the subscription's (now attributed) sale
        let (p, s) = send(
            json!({"id":"evt_i2","type":"invoice.payment_succeeded","data":{"object":{
            "id":"in_2","amount_paid":2000,"currency":"usd","subscription":"sub_8","billing_reason":"subscription_cycle"}}}),
        );
        let r = t.stripe(&p, &s).await;
        assert_eq!(r.body["attributed"], true, "{backend}: {}", r.body);
    }
}

/// Every error is JSON, including a wrong method on a known route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_is_a_json_error() {
    for t in Harness::all().await {
        let backend = on(&t);
        let r = t
            .send(
                Request::get("/tracking/click/v1")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert!(r.status.is_client_error(), "{backend}: {}", r.status);
        assert!(
            r.body["error"]["code"].is_string(),
            "{backend}: {:?}",
            String::from_utf8_lossy(&r.raw)
        );
    }
}

/// Out-of-range report dates are a 422, not a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_extreme_dates_are_422() {
    for t in Harness::all().await {
        let backend = on(&t);
        for q in ["?to=262142-12-31", "?to=-262143-01-01", "?from=a&from=b"] {
            let req = Request::get(format!("/api/v1/report{q}"))
                .header("authorization", "Bearer demo_secret_key")
                .body(Body::empty())
                .unwrap();
            let r = t.send(req).await;
            assert!(r.status.is_client_error(), "{backend}: {q}: {}", r.status);
            assert!(
                r.body["error"]["code"].is_string(),
                "{backend}: {q}: {:?}",
                String::from_utf8_lossy(&r.raw)
            );
        }
    }
}

/// Host names are case-insensitive (and arrive lowercased): a tenant declared as `Acme` is
/// reached at `acme.<base_domain>`, and its API key works there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_subdomain_matches_tenant_ids_case_insensitively() {
    for t in host_tenants("Acme").await {
        let backend = on(&t);
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
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        let r = t
            .send(report_on_host("acme.track.example.com", "acme_key_123"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        assert_eq!(r.body["totals"]["clicks"], 1, "{backend}");
    }
}

/// The diagnostics endpoint is unauthenticated: a made-up `tenantId` per request must not
/// escape the per-tenant cap (each unknown tenant kept its rows forever: unbounded growth).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_with_made_up_tenants_stay_capped() {
    for t in Harness::all().await {
        let backend = on(&t);
        for _ in 0..10_010 {
            let r = t
                .post(
                    "/tracking/diagnostic/v1",
                    json!({"tenantId":uuid(),"kind":"init","message":"x","url":"u","userAgent":"UA"})
                        .to_string(),
                )
                .await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{backend}");
        }
        assert!(
            t.store.diagnostics_count().await.unwrap() <= 10_000,
            "{backend}"
        );
    }
}

/// A server-to-server lead with only a `click_id`, sent again (a retry), is one lead: leads
/// are not counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_lead_by_click_id_only_is_counted_once() {
    for t in Harness::all().await {
        let backend = on(&t);
        let cid = click(&t, "alice", None).await;
        for _ in 0..2 {
            let r = t.api("/api/v1/track/lead", json!({"click_id": cid})).await;
            assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        }
        assert_eq!(t.report("").await["totals"]["leads"], 1, "{backend}");
    }
}
