//! Recurly's webhooks through the real router on SQLite and PostgreSQL, with Recurly's API v3
//! played by a loopback stand-in server (started here) that answers with the documented shapes
//! kept in `<repo>/tests/fixtures/recurly/` (see `tests/fixtures/SOURCES.md`): a notification
//! carries only ids, the collector reads the transaction, the account and the coupons redeemed
//! on the invoice from the API, records the sale (a coupon of the tenant's credits its affiliate
//! when no click does) or the refund; the API down or failing is a 502 (Recurly retries), then success.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clicktrail_collector::config::Config;
use clicktrail_collector::http::webhooks::recurly::signature_header;
use clicktrail_domain::ledger::EntryKind;
use common::{Harness, Resp};
use serde_json::{json, Value};

const WEBHOOK_KEY: &str = "recurly_key_123";
const API_KEY: &str = "recurly_private_api_key_123";

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../tests/fixtures/recurly/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// Recurly's API v3 on a loopback port: the transactions and accounts it knows, answered as
/// Recurly documents them (Basic auth with the API key, the versioned Accept header, errors
/// as `{"error":{"type","message"}}`); `down` answers 503 `service_not_available`.
#[derive(Default)]
struct Api {
    transactions: Mutex<HashMap<String, Value>>,
    accounts: Mutex<HashMap<String, Value>>,
    /// Invoice id -> its coupon redemptions (a list); an invoice not here has none.
    redemptions: Mutex<HashMap<String, Value>>,
    down: AtomicBool,
    requests: Mutex<Vec<String>>,
}

impl Api {
    fn add_transaction(&self, t: Value) {
        let mut m = self.transactions.lock().expect("lock");
        m.insert(t["id"].as_str().expect("id").to_string(), t.clone());
        m.insert(format!("uuid-{}", t["uuid"].as_str().expect("uuid")), t);
    }
    fn add_account(&self, a: Value) {
        let id = a["id"].as_str().expect("id").to_string();
        self.accounts.lock().expect("lock").insert(id, a);
    }
    fn add_redemptions(&self, invoice_id: &str, list: Value) {
        let mut m = self.redemptions.lock().expect("lock");
        m.insert(invoice_id.to_string(), list);
    }
    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }
}

fn api_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"error": {"type": kind, "message": message, "params": []}});
    (status, Json(body)).into_response()
}

fn checked(api: &Api, headers: &HeaderMap, path: String) -> Option<Response> {
    api.requests.lock().expect("lock").push(path);
    let want = format!("Basic {}", STANDARD.encode(format!("{API_KEY}:")));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(want.as_str()) {
        return Some(api_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Invalid API key",
        ));
    }
    let accept = headers.get("accept").and_then(|v| v.to_str().ok());
    if !accept.is_some_and(|a| a.starts_with("application/vnd.recurly.v2021-02-25")) {
        return Some(api_error(
            StatusCode::BAD_REQUEST,
            "invalid_api_version",
            "Accept header is missing or names an unknown version",
        ));
    }
    if api.down.load(Ordering::SeqCst) {
        return Some(api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_not_available",
            "Service temporarily unavailable",
        ));
    }
    None
}

async fn get_transaction(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = checked(&api, &headers, format!("/transactions/{id}")) {
        return r;
    }
    match api.transactions.lock().expect("lock").get(&id) {
        Some(t) => Json(t.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, Json(fixture("error-not-found.json"))).into_response(),
    }
}

async fn get_account(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = checked(&api, &headers, format!("/accounts/{id}")) {
        return r;
    }
    match api.accounts.lock().expect("lock").get(&id) {
        Some(a) => Json(a.clone()).into_response(),
        None => api_error(StatusCode::NOT_FOUND, "not_found", "Couldn't find Account"),
    }
}

async fn get_invoice_coupon_redemptions(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/invoices/{id}/coupon_redemptions");
    if let Some(r) = checked(&api, &headers, path) {
        return r;
    }
    let none = json!({"object": "list", "has_more": false, "next": null, "data": []});
    let lists = api.redemptions.lock().expect("lock");
    Json(lists.get(&id).cloned().unwrap_or(none)).into_response()
}

async fn start_api() -> (Arc<Api>, SocketAddr) {
    let api = Arc::new(Api::default());
    let app = Router::new()
        .route("/transactions/{id}", get(get_transaction))
        .route("/accounts/{id}", get(get_account))
        .route(
            "/invoices/{id}/coupon_redemptions",
            get(get_invoice_coupon_redemptions),
        )
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (api, addr)
}

/// `acme` reads Recurly's API at `api_url`.
fn config(api_url: &str) -> Config {
    Config::from_toml(&format!(
        r#"
[server]
rate_limit_per_second = 0
[[tenants]]
id = "acme"
api_key = "acme_key_123"
hold_days = 0
allowed_origins = ["*"]
affiliates = ["alice", "bob"]
recurly_webhook_key = "{WEBHOOK_KEY}"
recurly_api_key = "{API_KEY}"
recurly_api_url = "{api_url}"
[tenants.conversion_types.sale]
revenue_share_percent = "30"
[tenants.rules.coupons]
ALICE20 = "alice"
[[tenants]]
id = "bare"
api_key = "bare_key_123"
hold_days = 0
affiliates = ["alice"]
"#
    ))
    .expect("config")
}

async fn click(t: &Harness) -> String {
    click_of(t, "alice").await
}

async fn click_of(t: &Harness, aff: &str) -> String {
    let r = t
        .post(
            "/tracking/click/v1",
            json!({"tenantId": "acme", "eventId": uuid::Uuid::new_v4().to_string(), "aff": aff})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
    r.body["cid"].as_str().expect("cid").to_string()
}

async fn post(t: &Harness, tenant: &str, sig: Option<String>, body: &str) -> Resp {
    let mut req = Request::post(format!("/webhooks/recurly/{tenant}"))
        .header("content-type", "application/json");
    if let Some(s) = sig {
        req = req.header("recurly-signature", s);
    }
    t.send(req.body(Body::from(body.to_string())).expect("request"))
        .await
}

/// A notification signed as Recurly signs it, now.
async fn notify(t: &Harness, n: &Value) -> Resp {
    let body = n.to_string();
    let sig = signature_header(WEBHOOK_KEY, t.now() * 1000, body.as_bytes());
    post(t, "acme", Some(sig), &body).await
}

async fn entries(t: &Harness) -> Vec<(EntryKind, i64)> {
    t.store
        .ledger_entries("acme")
        .await
        .expect("entries")
        .into_iter()
        .map(|e| (e.kind, e.amount_cents))
        .collect()
}

/// The documented account, its `clicktrail_cid` custom field set to `cid` (none: no field).
fn account(cid: Option<&str>) -> Value {
    let mut a = fixture("account.json");
    a["custom_fields"] = match cid {
        Some(c) => json!([{"name": "clicktrail_cid", "value": c}]),
        None => json!([]),
    };
    a
}

#[tokio::test]
async fn a_payment_is_read_from_the_api_credited_once_and_its_refund_reversed() {
    let (api, addr) = start_api().await;
    api.add_transaction(fixture("transaction-purchase.json"));
    api.add_transaction(fixture("transaction-refund.json"));
    for t in Harness::all_with(config(&format!("http://{addr}"))).await {
        let cid = click(&t).await;
        api.add_account(account(Some(&cid)));
        let paid = fixture("notification-payment-succeeded.json");
        for round in 0..2 {
            let r = notify(&t, &paid).await;
            assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
            assert_eq!(r.body["transactionId"], "recurly:rafhdbbf41mc");
            if round == 0 {
                assert_eq!(r.body["attributed"], true, "{}: {}", t.backend, r.body);
                // 30 % of 199.99
                assert_eq!(r.body["commissionCents"], 6000, "{}", t.backend);
            } else {
                assert_eq!(r.body["duplicate"], true, "{}: {}", t.backend, r.body);
            }
        }
        assert_eq!(entries(&t).await, vec![(EntryKind::Accrual, 6000)]);
        let sale = t
            .store
            .ledger_entries("acme")
            .await
            .expect("entries")
            .into_iter()
            .next()
            .expect("accrual");
        assert_eq!(sale.affiliate, "alice", "{}", t.backend);

        // the refund of 50.00 of the 199.99: its share of the commission reversed, once
        let refunded = fixture("notification-payment-refunded.json");
        for _ in 0..2 {
            let r = notify(&t, &refunded).await;
            assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
            assert_eq!(r.body["transactionId"], "recurly:rafhdbbf41mc");
            assert_eq!(r.body["refundId"], "recurly:rafhe2c0q3n1");
            assert_eq!(r.body["refundedCents"], 5000, "{}", t.backend);
            assert_eq!(r.body["commissionReversedCents"], 1500, "{}", t.backend);
        }
        assert_eq!(
            entries(&t).await,
            vec![(EntryKind::Accrual, 6000), (EntryKind::Reversal, -1500)],
            "{}",
            t.backend
        );
    }
    // what the collector asked: the transaction by the notification's uuid, then its account
    let asked = api.requests();
    assert!(asked.contains(&"/transactions/uuid-63b068f7d409d4b4478dea4e6aba58ae".to_string()));
    assert!(asked.contains(&"/accounts/qc32mgi7k2ny".to_string()));
}

/// (affiliate, amount) of each accrual.
async fn accruals(t: &Harness) -> Vec<(String, i64)> {
    t.store
        .ledger_entries("acme")
        .await
        .expect("entries")
        .into_iter()
        .filter(|e| e.kind == EntryKind::Accrual)
        .map(|e| (e.affiliate, e.amount_cents))
        .collect()
}

#[tokio::test]
async fn a_purchase_whose_invoice_redeemed_a_coupon_credits_its_affiliate() {
    let (api, addr) = start_api().await;
    api.add_transaction(fixture("transaction-purchase.json"));
    api.add_account(account(None));
    api.add_redemptions("qc32mq0vbpsq", fixture("invoice-coupon-redemptions.json"));
    let paid = fixture("notification-payment-succeeded.json");
    for t in Harness::all_with(config(&format!("http://{addr}"))).await {
        // no CID, no linked account code: the invoice's coupon `alice20` (listed as ALICE20)
        let r = notify(&t, &paid).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
        assert_eq!(r.body["attributed"], true, "{}: {}", t.backend, r.body);
        assert_eq!(r.body["commissionCents"], 6000, "{}", t.backend);
        assert_eq!(accruals(&t).await, vec![("alice".to_string(), 6000)]);
    }
    let asked = api.requests();
    assert!(
        asked.contains(&"/invoices/qc32mq0vbpsq/coupon_redemptions".to_string()),
        "{asked:?}"
    );

    // a click wins; the coupon redemptions' API failing is a 502, then recorded once
    let (api, addr) = start_api().await;
    api.add_transaction(fixture("transaction-purchase.json"));
    api.add_redemptions("qc32mq0vbpsq", fixture("invoice-coupon-redemptions.json"));
    for t in Harness::all_with(config(&format!("http://{addr}"))).await {
        let cid = click_of(&t, "bob").await;
        api.add_account(account(Some(&cid)));
        let mut broken = fixture("invoice-coupon-redemptions.json");
        broken["data"] = json!("not a list");
        api.add_redemptions("qc32mq0vbpsq", broken);
        let r = notify(&t, &paid).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_GATEWAY,
            "{}: {}",
            t.backend,
            r.body
        );
        assert_eq!(r.body["error"]["code"], "recurly_api_failed");
        assert!(accruals(&t).await.is_empty(), "{}", t.backend);
        api.add_redemptions("qc32mq0vbpsq", fixture("invoice-coupon-redemptions.json"));
        let r = notify(&t, &paid).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
        assert_eq!(accruals(&t).await, vec![("bob".to_string(), 6000)]);
    }
}

#[tokio::test]
async fn without_the_cid_field_the_account_code_links_the_sale() {
    let (api, addr) = start_api().await;
    api.add_transaction(fixture("transaction-purchase.json"));
    api.add_account(account(None));
    for t in Harness::all_with(config(&format!("http://{addr}"))).await {
        // no link yet: recorded, unattributed
        let mut other = fixture("transaction-purchase.json");
        other["id"] = json!("rafhother001");
        other["uuid"] = json!("0000000000000000000000000000aaaa");
        api.add_transaction(other);
        let n = json!({"id": "rafhother001", "object_type": "payment", "site_id": "qc326l1hl8k9",
            "event_type": "succeeded", "event_time": "2022-07-27T21:43:53Z",
            "uuid": "0000000000000000000000000000aaaa"});
        let r = notify(&t, &n).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
        assert_eq!(r.body["attributed"], false, "{}: {}", t.backend, r.body);

        // the merchant's site linked the account code to the click (a server-side lead)
        let cid = click(&t).await;
        let r = t
            .send(
                Request::post("/api/v1/track/lead")
                    .header("content-type", "application/json")
                    .header("authorization", "Bearer acme_key_123")
                    .body(Body::from(
                        json!({"click_id": cid, "customer_key": "acct-verena-1"}).to_string(),
                    ))
                    .expect("request"),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
        let r = notify(&t, &fixture("notification-payment-succeeded.json")).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
        assert_eq!(r.body["attributed"], true, "{}: {}", t.backend, r.body);
        assert_eq!(entries(&t).await, vec![(EntryKind::Accrual, 6000)]);

        // a `refunded` notification whose transaction is not a refund records nothing
        let mut wrong = fixture("notification-payment-succeeded.json");
        wrong["event_type"] = json!("refunded");
        let r = notify(&t, &wrong).await;
        assert_eq!(r.status, StatusCode::OK, "{}", t.backend);
        assert_eq!(r.body["ignored"], true, "{}: {}", t.backend, r.body);
        assert_eq!(entries(&t).await, vec![(EntryKind::Accrual, 6000)]);
    }
}

#[tokio::test]
async fn api_down_or_refusing_is_a_502_and_the_retry_records_once() {
    let (api, addr) = start_api().await;
    api.add_transaction(fixture("transaction-purchase.json"));
    // nothing listens there (a port just released)
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    for t in Harness::all_with(config(&format!("http://{addr}"))).await {
        let cid = click(&t).await;
        api.add_account(account(Some(&cid)));
        let paid = fixture("notification-payment-succeeded.json");
        api.down.store(true, Ordering::SeqCst);
        let r = notify(&t, &paid).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_GATEWAY,
            "{}: {}",
            t.backend,
            r.body
        );
        assert_eq!(r.body["error"]["code"], "recurly_api_failed");
        let msg = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("service_not_available"), "{msg}");
        assert!(entries(&t).await.is_empty(), "{}", t.backend);
        // Recurly delivers again once the API is back: recorded once
        api.down.store(false, Ordering::SeqCst);
        let r = notify(&t, &paid).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
        assert_eq!(r.body["attributed"], true, "{}: {}", t.backend, r.body);
        assert_eq!(entries(&t).await, vec![(EntryKind::Accrual, 6000)]);

        // a transaction the API does not know (404) is not acknowledged either
        let n = json!({"id": "x", "object_type": "payment", "event_type": "succeeded",
            "uuid": "00000000000000000000000000000000"});
        let r = notify(&t, &n).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_GATEWAY,
            "{}: {}",
            t.backend,
            r.body
        );
    }
    // an API that cannot be reached, and an API key Recurly refuses
    for (url, key) in [
        (format!("http://{closed}"), API_KEY),
        (format!("http://{addr}"), "wrong_api_key_123"),
    ] {
        let toml_cfg = config(&url);
        let mut cfg = toml_cfg.clone();
        cfg.tenants[0].tenant.recurly_api_key = key.to_string();
        for t in Harness::all_with(cfg).await {
            let r = notify(&t, &fixture("notification-payment-succeeded.json")).await;
            assert_eq!(
                r.status,
                StatusCode::BAD_GATEWAY,
                "{}: {url}: {}",
                t.backend,
                r.body
            );
            assert!(entries(&t).await.is_empty(), "{}", t.backend);
        }
    }
}

#[tokio::test]
async fn a_refund_before_its_payment_is_kept_and_applied_with_the_payment() {
    let (api, addr) = start_api().await;
    api.add_transaction(fixture("transaction-purchase.json"));
    api.add_transaction(fixture("transaction-refund.json"));
    for t in Harness::all_with(config(&format!("http://{addr}"))).await {
        let cid = click(&t).await;
        api.add_account(account(Some(&cid)));
        for _ in 0..2 {
            let r = notify(&t, &fixture("notification-payment-refunded.json")).await;
            assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
            assert_eq!(r.body["kept"], true, "{}: {}", t.backend, r.body);
        }
        assert!(entries(&t).await.is_empty(), "{}", t.backend);
        let r = notify(&t, &fixture("notification-payment-succeeded.json")).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
        assert_eq!(r.body["commissionCents"], 6000, "{}", t.backend);
        let applied = r.body["refundsApplied"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(applied.len(), 1, "{}: {}", t.backend, r.body);
        assert_eq!(applied[0]["refundedCents"], 5000);
        assert_eq!(applied[0]["commissionReversedCents"], 1500);
        // a redelivery of either changes nothing
        let r = notify(&t, &fixture("notification-payment-succeeded.json")).await;
        assert_eq!(r.body["duplicate"], true, "{}: {}", t.backend, r.body);
        assert!(r.body.get("refundsApplied").is_none(), "{}", r.body);
        let r = notify(&t, &fixture("notification-payment-refunded.json")).await;
        assert_eq!(r.body["refundedCents"], 5000, "{}: {}", t.backend, r.body);
        assert_eq!(
            entries(&t).await,
            vec![(EntryKind::Accrual, 6000), (EntryKind::Reversal, -1500)],
            "{}",
            t.backend
        );
    }
}

#[tokio::test]
async fn signatures_are_checked_before_anything_is_asked() {
    let (api, addr) = start_api().await;
    api.add_transaction(fixture("transaction-purchase.json"));
    api.add_account(account(None));
    for t in Harness::all_with(config(&format!("http://{addr}"))).await {
        let body = fixture("notification-payment-succeeded.json").to_string();
        let now_ms = t.now() * 1000;
        let cases = [
            (None, StatusCode::UNAUTHORIZED),
            (
                Some(signature_header("wrong_key", now_ms, body.as_bytes())),
                StatusCode::UNAUTHORIZED,
            ),
            (
                Some(format!("{now_ms},{}", "0".repeat(64))),
                StatusCode::UNAUTHORIZED,
            ),
            (
                Some(signature_header(WEBHOOK_KEY, now_ms, b"{}")),
                StatusCode::UNAUTHORIZED,
            ),
            (
                Some(signature_header(
                    WEBHOOK_KEY,
                    now_ms - 301_000,
                    body.as_bytes(),
                )),
                StatusCode::BAD_REQUEST,
            ),
        ];
        for (sig, want) in cases {
            let r = post(&t, "acme", sig.clone(), &body).await;
            assert_eq!(r.status, want, "{}: {sig:?}: {}", t.backend, r.body);
        }
        // no webhook key configured: 404
        let sig = signature_header(WEBHOOK_KEY, now_ms, body.as_bytes());
        let r = post(&t, "bare", Some(sig.clone()), &body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", t.backend);
        // other notifications: acknowledged, nothing asked
        let n = json!({"id": "n4", "object_type": "account", "site_id": "qc326l1hl8k9",
            "event_type": "created", "event_time": "2022-07-27T21:43:53Z", "uuid": "abc"});
        let r = notify(&t, &n).await;
        assert_eq!(r.status, StatusCode::OK, "{}", t.backend);
        assert_eq!(r.body["ignored"], true, "{}", t.backend);
        assert!(entries(&t).await.is_empty(), "{}", t.backend);
    }
    assert!(api.requests().is_empty(), "{:?}", api.requests());
}

#[test]
fn the_webhook_key_needs_the_api_key() {
    let text = r#"
[[tenants]]
id = "acme"
api_key = "acme_key_123"
recurly_webhook_key = "recurly_key_123"
"#;
    let err = Config::from_toml(text).expect_err("refused").to_string();
    assert!(err.contains("recurly_api_key"), "{err}");
    let eu = format!(
        "{text}recurly_api_key = \"k_123\"\nrecurly_api_url = \"https://v3.eu.recurly.com/\"\n"
    );
    let c = Config::from_toml(&eu).expect("config");
    assert_eq!(
        c.tenants[0].tenant.recurly_api_url,
        "https://v3.eu.recurly.com"
    );
}
