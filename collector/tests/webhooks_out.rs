//! Outgoing webhooks on SQLite and PostgreSQL, through the real router and the real delivery
//! worker, to real HTTP receivers on loopback started here: endpoints registered per tenant
//! (checked fields, secret shown once, tenant isolation), events of every kind produced from
//! the facts, signatures verified by the receiver with its own HMAC, a receiver answering 503
//! for a while receives every event once it is back (deduplicated by event id), an endpoint
//! failing for three days is disabled with a reason and, re-enabled, gets what waited. The
//! worker runs on the harness's clock: days pass without sleeping.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use clicktrail_collector::config::Config;
use clicktrail_collector::webhooks_out::{Round, Worker};
use common::{Harness, Resp};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const ADMIN: &str = "acme_admin_123";
const API: &str = "acme_key_123";

fn config() -> Config {
    Config::from_toml(
        r#"
[server]
rate_limit_per_second = 0
public_url = "https://track.example"
[[tenants]]
id = "acme"
api_key = "acme_key_123"
admin_key = "acme_admin_123"
allowed_origins = ["https://shop.example"]
hold_days = 0
[tenants.conversion_types.sale]
revenue_share_percent = "30"
[[tenants]]
id = "other"
api_key = "other_key_123"
admin_key = "other_admin_123"
"#,
    )
    .expect("config")
}

/// What a receiver saw.
#[derive(Default)]
struct Seen {
    secret: String,
    /// Answer 503 to everything (and record nothing as processed).
    failing: bool,
    /// Every request's event id, in arrival order (retries included).
    requests: Vec<String>,
    /// Events processed, by id (the receiver's dedupe), with their bodies.
    processed: BTreeMap<String, Value>,
    /// Requests whose signature did not verify.
    bad_signatures: usize,
}

/// A loopback HTTP receiver that verifies `Clicktrail-Signature` with its own HMAC.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Seen>>,
}

struct RecvState {
    seen: Arc<Mutex<Seen>>,
    clock: Arc<AtomicI64>,
}

fn verified(secret: &str, header: &str, body: &[u8], now: i64) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = x.parse::<i64>().ok(),
            Some(("v1", x)) => v1 = hex::decode(x).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if (now - t).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

async fn hook(State(s): State<Arc<RecvState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut seen = s.seen.lock().expect("lock");
    let sig = headers
        .get("clicktrail-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !verified(&seen.secret, sig, &body, s.clock.load(Ordering::SeqCst)) {
        seen.bad_signatures += 1;
        return StatusCode::BAD_REQUEST;
    }
    let v: Value = serde_json::from_slice(&body).expect("json body");
    let id = v["id"].as_str().expect("id").to_string();
    assert_eq!(
        headers
            .get("clicktrail-event-id")
            .and_then(|h| h.to_str().ok()),
        Some(id.as_str())
    );
    seen.requests.push(id.clone());
    if seen.failing {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    seen.processed.entry(id).or_insert(v);
    StatusCode::OK
}

impl Receiver {
    async fn start(clock: Arc<AtomicI64>) -> Receiver {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(Arc::new(RecvState {
                seen: seen.clone(),
                clock,
            }));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", l.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(l, app).await.expect("serve") });
        Receiver { url, seen }
    }

    fn set(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.seen.lock().expect("lock"))
    }

    fn read<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().expect("lock"))
    }
}

async fn call(t: &Harness, key: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(
            body.map(|b| axum::body::Body::from(b.to_string()))
                .unwrap_or_default(),
        )
        .expect("request");
    t.send(req).await
}

async fn deliveries(t: &Harness, id: i64) -> Vec<Value> {
    let r = call(
        t,
        ADMIN,
        "GET",
        &format!("/api/v1/webhook-endpoints/{id}/deliveries"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["deliveries"].as_array().cloned().unwrap_or_default()
}

async fn endpoint(t: &Harness, id: i64) -> Value {
    let r = call(t, ADMIN, "GET", "/api/v1/webhook-endpoints", None).await;
    r.body["endpoints"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["id"] == id).cloned())
        .unwrap_or(Value::Null)
}

/// Records one fact of every kind in `acme`: an approved application, a lead, a sale of
/// 100.00 (30.00 commission), a refund of 20.00 of it, a payout.
async fn facts(t: &Harness) {
    let b = t.backend;
    let r = t
        .send(
            axum::http::Request::post("/join/acme/apply")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    json!({"name": "Ana Lima", "email": "ana@example.com",
                           "website": "https://ana.example", "promotion": "A tea newsletter",
                           "code": "ana"})
                    .to_string(),
                ))
                .expect("request"),
        )
        .await;
    assert!(r.status.is_success(), "{b}: {}", r.body);
    let r = call(t, ADMIN, "GET", "/api/v1/applications", None).await;
    let id = r.body["applications"][0]["id"].as_i64().expect("id");
    let r = call(
        t,
        ADMIN,
        "POST",
        &format!("/api/v1/applications/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(r.body["affiliate"], "ana", "{b}: {}", r.body);
    let r = t
        .post(
            "/tracking/click/v1",
            json!({"tenantId": "acme", "eventId": uuid::Uuid::new_v4().to_string(), "aff": "ana"})
                .to_string(),
        )
        .await;
    let cid = r.body["cid"].as_str().expect("cid").to_string();
    for (path, body) in [
        (
            "/api/v1/track/lead",
            json!({"click_id": cid, "customer_key": "cus_1"}),
        ),
        (
            "/api/v1/track/sale",
            json!({"click_id": cid, "transaction_id": "t-1", "amount_cents": 10000, "currency": "USD"}),
        ),
        (
            "/api/v1/track/refund",
            json!({"transaction_id": "t-1", "refund_id": "r-1", "amount_cents": 2000}),
        ),
    ] {
        let r = call(t, API, "POST", path, Some(body)).await;
        assert!(r.status.is_success(), "{b}: {path}: {}", r.body);
    }
    let r = call(
        t,
        ADMIN,
        "POST",
        "/api/v1/payouts",
        Some(json!({"affiliate": "ana"})),
    )
    .await;
    assert!(r.status.is_success(), "{b}: payout: {}", r.body);
}

#[tokio::test]
async fn endpoints_are_checked_and_tenant_scoped() {
    for t in Harness::all_with(config()).await {
        let b = t.backend;
        let post = |body: Value| call(&t, ADMIN, "POST", "/api/v1/webhook-endpoints", Some(body));
        for (body, field) in [
            (
                json!({"url": "http://shop.example/h", "events": ["sale"]}),
                "url",
            ),
            (
                json!({"url": "ftp://shop.example/h", "events": ["sale"]}),
                "url",
            ),
            (
                json!({"url": "https://shop.example/h", "events": []}),
                "events",
            ),
            (
                json!({"url": "https://shop.example/h", "events": ["sales"]}),
                "events",
            ),
        ] {
            let r = post(body.clone()).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{b}: {body}: {}",
                r.body
            );
            assert!(r.body.to_string().contains(field), "{b}: {}", r.body);
        }
        let r = post(json!({"url": "https://shop.example/h", "events": ["payout", "sale"]})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
        let id = r.body["id"].as_i64().expect("id");
        let secret = r.body["secret"].as_str().expect("secret").to_string();
        assert!(
            secret.starts_with("whsec_") && secret.len() == 70,
            "{secret}"
        );
        assert_eq!(
            r.body["events"],
            json!(["sale", "payout"]),
            "canonical order"
        );
        // the secret is shown once: the list does not carry it
        let r = call(&t, ADMIN, "GET", "/api/v1/webhook-endpoints", None).await;
        assert!(!r.raw.windows(6).any(|w| w == b"whsec_"), "{b}: {}", r.body);
        assert_eq!(r.body["endpoints"][0]["enabled"], true);
        // another tenant neither sees nor changes it
        let r = call(
            &t,
            "other_admin_123",
            "GET",
            "/api/v1/webhook-endpoints",
            None,
        )
        .await;
        assert_eq!(r.body["endpoints"], json!([]), "{b}");
        let path = format!("/api/v1/webhook-endpoints/{id}");
        for (m, body) in [("PATCH", Some(json!({"enabled": false}))), ("DELETE", None)] {
            let r = call(&t, "other_admin_123", m, &path, body).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}: {m}: {}", r.body);
        }
        let r = call(
            &t,
            "other_admin_123",
            "GET",
            &format!("{path}/deliveries"),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}");
        // the tenant's own changes
        let r = call(
            &t,
            ADMIN,
            "PATCH",
            &path,
            Some(json!({"enabled": false, "reason": "maintenance"})),
        )
        .await;
        assert_eq!(r.body["enabled"], false, "{b}: {}", r.body);
        assert_eq!(r.body["disabledReason"], "maintenance");
        let r = call(&t, ADMIN, "PATCH", &path, Some(json!({"reason": "x"}))).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let r = call(
            &t,
            ADMIN,
            "PATCH",
            &path,
            Some(json!({"enabled": true, "url": "https://b.example/x"})),
        )
        .await;
        assert_eq!(
            (r.body["enabled"].clone(), r.body["url"].clone()),
            (json!(true), json!("https://b.example/x"))
        );
        assert_eq!(r.body["disabledReason"], Value::Null);
        // a key that is not admin cannot manage endpoints
        let r = call(&t, API, "GET", "/api/v1/webhook-endpoints", None).await;
        assert!(
            r.status == StatusCode::FORBIDDEN || r.status == StatusCode::UNAUTHORIZED,
            "{b}: {}",
            r.status
        );
        let r = call(&t, ADMIN, "DELETE", &path, None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{b}");
        let r = call(&t, ADMIN, "DELETE", &path, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}");
    }
}

#[tokio::test]
async fn every_event_reaches_a_receiver_that_comes_back_and_a_dead_endpoint_is_disabled() {
    for t in Harness::all_with(config()).await {
        let b = t.backend;
        let flaky = Receiver::start(t.clock.clone()).await;
        let dead = Receiver::start(t.clock.clone()).await;
        let mut ids = Vec::new();
        for (r, events) in [
            (
                &flaky,
                json!(["lead", "sale", "refund", "payout", "affiliate.approved"]),
            ),
            (&dead, json!(["sale"])),
        ] {
            let resp = call(
                &t,
                ADMIN,
                "POST",
                "/api/v1/webhook-endpoints",
                Some(json!({"url": r.url, "events": events})),
            )
            .await;
            assert_eq!(resp.status, StatusCode::CREATED, "{b}: {}", resp.body);
            let secret = resp.body["secret"].as_str().expect("secret").to_string();
            r.set(|s| {
                s.secret = secret;
                s.failing = true;
            });
            ids.push(resp.body["id"].as_i64().expect("id"));
        }
        let (flaky_id, dead_id) = (ids[0], ids[1]);
        facts(&t).await;

        let clock = t.clock.clone();
        let w = Worker::new(
            t.store.clone(),
            Arc::new(move || clock.load(Ordering::SeqCst)),
        )
        .expect("worker");
        // facts younger than the settle time wait
        assert_eq!(w.round().await.expect("round"), Round::default(), "{b}");
        t.advance(61);
        let r = w.round().await.expect("round");
        assert_eq!((r.queued, r.delivered, r.failed), (6, 0, 6), "{b}: {r:?}");
        let log = deliveries(&t, flaky_id).await;
        assert_eq!(log.len(), 5, "{b}: {log:?}");
        for d in &log {
            assert_eq!(
                (d["attempts"].clone(), d["lastError"].clone()),
                (json!(1), json!("HTTP 503")),
                "{b}: {d}"
            );
            assert_eq!(d["deliveredAt"], Value::Null);
        }
        // the first retry comes a minute later, the second two minutes after that
        assert_eq!(
            w.round().await.expect("round").failed,
            0,
            "{b}: not due yet"
        );
        t.advance(60);
        assert_eq!(w.round().await.expect("round").failed, 6, "{b}");
        flaky.set(|s| s.failing = false);
        t.advance(120);
        let r = w.round().await.expect("round");
        assert_eq!((r.delivered, r.failed), (5, 1), "{b}: {r:?}");

        // every event arrived, each processed once though sent three times, all signed
        let kinds: BTreeSet<String> = flaky.read(|s| {
            s.processed
                .values()
                .map(|v| v["type"].as_str().unwrap_or("").to_string())
                .collect()
        });
        assert_eq!(
            kinds,
            ["affiliate.approved", "lead", "payout", "refund", "sale"]
                .map(String::from)
                .into_iter()
                .collect(),
            "{b}"
        );
        let (requests, processed, bad) =
            flaky.read(|s| (s.requests.clone(), s.processed.clone(), s.bad_signatures));
        assert_eq!(bad, 0, "{b}");
        assert_eq!(requests.len(), 15, "{b}: {requests:?}");
        for id in processed.keys() {
            assert_eq!(requests.iter().filter(|r| *r == id).count(), 3, "{b}: {id}");
            assert!(id.starts_with("evt_"), "{id}");
        }
        let sale = processed
            .values()
            .find(|v| v["type"] == "sale")
            .expect("sale");
        assert_eq!(sale["tenant"], "acme");
        assert_eq!(sale["data"]["affiliate"], "ana");
        assert_eq!(sale["data"]["amountCents"], 10000);
        assert_eq!(sale["data"]["commissionCents"], 3000);
        assert_eq!(sale["data"]["currency"], "USD");
        let refund = processed
            .values()
            .find(|v| v["type"] == "refund")
            .expect("refund");
        assert_eq!(refund["data"]["commissionCents"], -600, "{refund}");
        assert_eq!(refund["data"]["conversionId"], sale["data"]["conversionId"]);
        let payout = processed
            .values()
            .find(|v| v["type"] == "payout")
            .expect("payout");
        assert_eq!(payout["data"]["amountCents"], 2400, "{payout}");
        let lead = processed
            .values()
            .find(|v| v["type"] == "lead")
            .expect("lead");
        assert_eq!(lead["data"]["customerKey"], "cus_1");
        for d in deliveries(&t, flaky_id).await {
            assert_eq!(d["attempts"], 3, "{b}: {d}");
            assert!(
                d["deliveredAt"].is_i64() && d["lastError"].is_null(),
                "{b}: {d}"
            );
        }
        assert_eq!(
            endpoint(&t, flaky_id).await["failingSince"],
            Value::Null,
            "{b}"
        );
        // nothing is queued twice
        assert_eq!(
            t.store
                .webhooks()
                .queue_webhook_events(t.now(), t.now(), 100)
                .await
                .unwrap(),
            0
        );

        // the dead endpoint keeps failing: retried with backoff, disabled after three days
        let first_failure = t.now() - 180;
        let mut rounds = 0;
        while endpoint(&t, dead_id).await["enabled"] == true {
            let next = deliveries(&t, dead_id).await[0]["nextAttemptAt"]
                .as_i64()
                .expect("next");
            assert!(next > t.now(), "{b}");
            t.advance(next - t.now());
            w.round().await.expect("round");
            rounds += 1;
            assert!(rounds < 40, "{b}: never disabled");
        }
        let e = endpoint(&t, dead_id).await;
        assert!(
            t.now() - first_failure >= 3 * 86_400,
            "{b}: disabled too early"
        );
        assert!(
            t.now() - first_failure < 3 * 86_400 + 6 * 3600 + 1,
            "{b}: disabled late"
        );
        assert!(
            e["disabledReason"]
                .as_str()
                .unwrap_or("")
                .contains("3 days"),
            "{b}: {e}"
        );
        let attempts = deliveries(&t, dead_id).await[0]["attempts"]
            .as_i64()
            .unwrap_or(0);
        assert!(attempts >= 15, "{b}: {attempts} attempts in three days");
        // re-enabled with its receiver back, what waited is delivered at once
        dead.set(|s| s.failing = false);
        let r = call(
            &t,
            ADMIN,
            "PATCH",
            &format!("/api/v1/webhook-endpoints/{dead_id}"),
            Some(json!({"enabled": true})),
        )
        .await;
        assert_eq!(r.body["enabled"], true, "{b}: {}", r.body);
        let r = w.round().await.expect("round");
        assert_eq!(r.delivered, 1, "{b}: {r:?}");
        assert_eq!(
            dead.read(|s| s.processed.keys().cloned().collect::<Vec<_>>()),
            vec![sale["id"].as_str().unwrap_or("").to_string()],
            "{b}"
        );
    }
}

/// A receiver that accepts connections and never answers: its delivery fails on the timeout
/// and is retried, and the other endpoint's delivery of the same round is not held by it.
#[tokio::test]
async fn a_receiver_that_hangs_times_out_without_holding_the_others() {
    for t in Harness::all_with(config()).await {
        let b = t.backend;
        let hang = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let hang_url = format!("http://{}/hook", hang.local_addr().expect("addr"));
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            loop {
                if let Ok((s, _)) = hang.accept().await {
                    open.push(s); // kept open, never read nor answered
                }
            }
        });
        let ok = Receiver::start(t.clock.clone()).await;
        for url in [hang_url.as_str(), ok.url.as_str()] {
            let r = call(
                &t,
                ADMIN,
                "POST",
                "/api/v1/webhook-endpoints",
                Some(json!({"url": url, "events": ["lead"]})),
            )
            .await;
            assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
            if url == ok.url {
                let secret = r.body["secret"].as_str().expect("secret").to_string();
                ok.set(|s| s.secret = secret);
            }
        }
        let r = call(
            &t,
            API,
            "POST",
            "/api/v1/track/lead",
            Some(json!({"customer_key": "cus_9", "email": "x@example.com"})),
        )
        .await;
        assert!(r.status.is_success(), "{b}: {}", r.body);
        t.advance(61);
        let clock = t.clock.clone();
        let w = Worker::with_timeout(
            t.store.clone(),
            Arc::new(move || clock.load(Ordering::SeqCst)),
            std::time::Duration::from_secs(1),
        )
        .expect("worker");
        let r = w.round().await.expect("round");
        assert_eq!((r.queued, r.delivered, r.failed), (2, 1, 1), "{b}: {r:?}");
        assert_eq!(ok.read(|s| s.processed.len()), 1, "{b}");
        let list = call(&t, ADMIN, "GET", "/api/v1/webhook-endpoints", None).await;
        let hang_id = list.body["endpoints"][0]["id"].as_i64().expect("id");
        let d = &deliveries(&t, hang_id).await[0];
        assert!(
            d["lastError"]
                .as_str()
                .unwrap_or("")
                .starts_with("request failed"),
            "{b}: {d}"
        );
        assert_eq!(d["nextAttemptAt"].as_i64(), Some(t.now() + 60), "{b}: {d}");
        held.abort();
    }
}
