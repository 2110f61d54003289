//! Chargify's (Maxio Advanced Billing's) webhooks as they really arrive, through the real
//! router on an SQLite file and PostgreSQL: the `payment_success` body Chargify sent (kept in
//! `<repo>/tests/fixtures/chargify/`, see `tests/fixtures/SOURCES.md`) and a `refund_success`
//! written from Chargify's documented example, each signed the way Chargify signs (hex
//! HMAC-SHA256 of the body under the site's shared key) by `openssl`, never by our own code.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clicktrail_collector::config::Config;
use clicktrail_domain::ledger::EntryKind;
use clicktrail_store::Store;
use clicktrail_store_postgres::PgStore;
use clicktrail_store_sqlite::SqliteStore;
use common::{Harness, Resp};
use serde_json::json;

const KEY: &str = "chargify_shared_key_acme";
const BETA_KEY: &str = "chargify_shared_key_beta";
/// The Chargify customer id of the fixtures (their customer `reference` is empty).
const CUSTOMER: &str = "14585695";

fn config() -> Config {
    Config::from_toml(&format!(
        r#"
[server]
rate_limit_per_second = 0
[[tenants]]
id = "acme"
api_key = "acme_key_123"
currency = "USD"
hold_days = 0
allowed_origins = ["*"]
affiliates = ["alice", "bob"]
chargify_webhook_key = "{KEY}"
[tenants.conversion_types.sale]
revenue_share_percent = "30"
[tenants.rules.coupons]
alice20 = "alice"
[[tenants]]
id = "beta"
api_key = "beta_key_123"
currency = "USD"
hold_days = 0
allowed_origins = ["*"]
affiliates = ["carol"]
chargify_webhook_key = "{BETA_KEY}"
[tenants.conversion_types.sale]
revenue_share_percent = "10"
[[tenants]]
id = "gamma"
api_key = "gamma_key_123"
affiliates = ["dave"]
"#
    ))
    .expect("config")
}

/// Where a backend's data lives, to open it again (a restart).
enum Place {
    File(String),
    Pg(String),
}

impl Place {
    async fn open(&self) -> Arc<dyn Store> {
        match self {
            Place::File(path) => Arc::new(SqliteStore::open(path).expect("sqlite file")),
            Place::Pg(url) => Arc::new(PgStore::connect(url).await.expect("postgres")),
        }
    }
}

/// A fresh SQLite file and a fresh PostgreSQL database (the file's folder lives as long as
/// the returned guard).
async fn places() -> (tempfile::TempDir, Vec<Place>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("clicktrail.db").display().to_string();
    let pg = clicktrail_store_postgres::test_cluster::fresh_database().await;
    (dir, vec![Place::File(file), Place::Pg(pg)])
}

/// One harness per backend, on disk.
async fn harnesses() -> (tempfile::TempDir, Vec<Harness>) {
    let (dir, places) = places().await;
    let mut out = Vec::new();
    for p in &places {
        out.push(Harness::new(config(), p.open().await).await);
    }
    (dir, out)
}

/// A kept webhook body, as sent.
fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../tests/fixtures/chargify/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).expect("fixture")
}

/// Chargify's `X-Chargify-Webhook-Signature-Hmac-Sha-256`, computed by `openssl`.
fn sign(key: &str, body: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", key, "-r"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("openssl output");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    text.split_whitespace().next().expect("digest").to_string()
}

async fn post(t: &Harness, tenant: &str, body: &str, signature: Option<&str>) -> Resp {
    let mut req = Request::post(format!("/webhooks/chargify/{tenant}"))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(s) = signature {
        req = req.header("X-Chargify-Webhook-Signature-Hmac-Sha-256", s);
    }
    t.send(req.body(Body::from(body.to_string())).expect("request"))
        .await
}

/// Sends `body` to acme signed with acme's key; expects 200.
async fn send(t: &Harness, body: &str) -> Resp {
    let r = post(t, "acme", body, Some(&sign(KEY, body))).await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
    r
}

/// A click for `aff` and a lead linking the customer key `key` to it (the merchant's server
/// after the Chargify signup).
async fn link(t: &Harness, aff: &str, key: &str) {
    let r = t
        .post(
            "/tracking/click/v1",
            json!({"tenantId": "acme", "eventId": uuid::Uuid::new_v4().to_string(), "aff": aff})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
    let cid = r.body["cid"].as_str().expect("cid").to_string();
    let r = t
        .send(
            Request::post("/api/v1/track/lead")
                .header("content-type", "application/json")
                .header("authorization", "Bearer acme_key_123")
                .body(Body::from(
                    json!({"click_id": cid, "customer_key": key}).to_string(),
                ))
                .expect("request"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
}

async fn entries(t: &Harness, tenant: &str) -> Vec<(String, EntryKind, i64)> {
    t.store
        .ledger_entries(tenant)
        .await
        .expect("entries")
        .into_iter()
        .map(|e| (e.affiliate, e.kind, e.amount_cents))
        .collect()
}

fn accrual(aff: &str, cents: i64) -> (String, EntryKind, i64) {
    (aff.to_string(), EntryKind::Accrual, cents)
}

fn reversal(aff: &str, cents: i64) -> (String, EntryKind, i64) {
    (aff.to_string(), EntryKind::Reversal, cents)
}

/// The refund fixture as refund `refund_id` of `cents`.
fn refund(refund_id: &str, cents: i64) -> String {
    fixture("refund_success.txt")
        .replace(
            "payload[refund_id]=3&",
            &format!("payload[refund_id]={refund_id}&"),
        )
        .replace(
            "payload[amount_in_cents]=1600&",
            &format!("payload[amount_in_cents]={cents}&"),
        )
}

#[tokio::test]
async fn a_signed_payment_success_credits_the_linked_affiliate_exactly_once() {
    let (_dir, places) = places().await;
    for place in &places {
        let t = Harness::new(config(), place.open().await).await;
        link(&t, "alice", CUSTOMER).await;
        let pay = fixture("payment_success.txt");
        let r = send(&t, &pay).await;
        assert_eq!(r.body["transactionId"], "chargify:161537369");
        assert_eq!(r.body["attributed"], true, "{}: {}", t.backend, r.body);
        // 30 % of the 64.00 paid
        assert_eq!(r.body["commissionCents"], 1920, "{}: {}", t.backend, r.body);
        // Chargify retries and replays deliver the same body again
        for _ in 0..2 {
            let r = send(&t, &pay).await;
            assert_eq!(r.body["duplicate"], true, "{}: {}", t.backend, r.body);
        }
        assert_eq!(entries(&t, "acme").await, vec![accrual("alice", 1920)]);
        // a replay after a restart (the database opened again) changes nothing either
        drop(t);
        let t = Harness::new(config(), place.open().await).await;
        let r = send(&t, &pay).await;
        assert_eq!(r.body["duplicate"], true, "{}: {}", t.backend, r.body);
        assert_eq!(entries(&t, "acme").await, vec![accrual("alice", 1920)]);

        // a customer whose `reference` (the merchant's own id) is set is linked by it
        link(&t, "bob", "crm-42").await;
        let other = pay
            .replace("[customer][reference]=&", "[customer][reference]=crm-42&")
            .replace(
                "[transaction][id]=161537369&",
                "[transaction][id]=161600001&",
            );
        let r = send(&t, &other).await;
        assert_eq!(r.body["attributed"], true, "{}: {}", t.backend, r.body);
        assert_eq!(
            entries(&t, "acme").await,
            vec![accrual("alice", 1920), accrual("bob", 1920)],
            "{}",
            t.backend
        );
    }
}

#[tokio::test]
async fn a_coupon_code_on_the_subscription_credits_its_affiliate_without_a_click() {
    let (_dir, all) = harnesses().await;
    for t in all {
        let pay = fixture("payment_success.txt")
            .replace("[coupon_code]=&", "[coupon_code]=ALICE20&")
            .replace("[subscription][id]=15100141&", "[subscription][id]=777&");
        let r = send(&t, &pay).await;
        assert_eq!(r.body["attributed"], true, "{}: {}", t.backend, r.body);
        assert_eq!(entries(&t, "acme").await, vec![accrual("alice", 1920)]);
    }
}

#[tokio::test]
async fn refund_success_reverses_part_then_the_rest() {
    let (_dir, all) = harnesses().await;
    for t in all {
        link(&t, "alice", CUSTOMER).await;
        send(&t, &fixture("payment_success.txt")).await;
        // the documented example refunds 16.00 of the 64.00: a quarter of the commission
        let part = fixture("refund_success.txt");
        let r = send(&t, &part).await;
        assert_eq!(r.body["transactionId"], "chargify:161537369");
        assert_eq!(r.body["refundedCents"], 1600, "{}: {}", t.backend, r.body);
        assert_eq!(r.body["commissionReversedCents"], 480, "{}", t.backend);
        // a redelivery changes nothing
        let r = send(&t, &part).await;
        assert_eq!(r.body["refundedCents"], 1600, "{}: {}", t.backend, r.body);
        // the rest: the affiliate keeps nothing
        let r = send(&t, &refund("4", 4800)).await;
        assert_eq!(r.body["commissionReversedCents"], 1440, "{}", t.backend);
        assert_eq!(
            entries(&t, "acme").await,
            vec![
                accrual("alice", 1920),
                reversal("alice", -480),
                reversal("alice", -1440)
            ],
            "{}",
            t.backend
        );
        // more than was paid is refused, and recorded nowhere
        let r = post(
            &t,
            "acme",
            &refund("5", 100),
            Some(&sign(KEY, &refund("5", 100))),
        )
        .await;
        assert!(r.status.is_client_error(), "{}: {}", t.backend, r.body);
        assert_eq!(entries(&t, "acme").await.len(), 3, "{}", t.backend);
    }
}

#[tokio::test]
async fn a_refund_before_its_payment_is_kept_and_applied_with_the_payment() {
    let (_dir, all) = harnesses().await;
    for t in all {
        link(&t, "alice", CUSTOMER).await;
        let full = refund("3", 6400);
        for _ in 0..2 {
            let r = send(&t, &full).await;
            assert_eq!(r.body["kept"], true, "{}: {}", t.backend, r.body);
            assert_eq!(r.body["transactionId"], "chargify:161537369");
        }
        assert!(entries(&t, "acme").await.is_empty(), "{}", t.backend);
        let r = send(&t, &fixture("payment_success.txt")).await;
        assert_eq!(r.body["attributed"], true, "{}: {}", t.backend, r.body);
        let applied = r.body["refundsApplied"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(applied.len(), 1, "{}: {}", t.backend, r.body);
        assert_eq!(applied[0]["refundId"], "chargify:refund:3");
        assert_eq!(applied[0]["commissionReversedCents"], 1920);
        assert_eq!(
            entries(&t, "acme").await,
            vec![accrual("alice", 1920), reversal("alice", -1920)],
            "{}",
            t.backend
        );
    }
}

#[tokio::test]
async fn a_bad_or_foreign_signature_is_401_and_records_nothing() {
    let (_dir, all) = harnesses().await;
    for t in all {
        link(&t, "alice", CUSTOMER).await;
        let pay = fixture("payment_success.txt");
        let tampered = pay.replace("amount_in_cents]=6400&", "amount_in_cents]=640000&");
        let good = sign(KEY, &pay);
        for (body, sig) in [
            (&pay, None),
            (&pay, Some("")),
            (&pay, Some("not-hex")),
            // the signature of another body
            (&tampered, Some(good.as_str())),
            // Chargify's older MD5 signature is not accepted in its place
            (&pay, Some("fbcf2f6be579f9658cff90c4373e0ca2")),
        ] {
            let r = post(&t, "acme", body, sig).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{}: {}",
                t.backend,
                r.body
            );
        }
        // another tenant's key does not authenticate for acme, and acme's not for beta
        let r = post(&t, "acme", &pay, Some(&sign(BETA_KEY, &pay))).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{}: {}",
            t.backend,
            r.body
        );
        let r = post(&t, "beta", &pay, Some(&good)).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{}: {}",
            t.backend,
            r.body
        );
        // a tenant without a Chargify key, or no tenant: 404
        for tenant in ["gamma", "nobody"] {
            let r = post(&t, tenant, &pay, Some(&good)).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{}: {}", t.backend, r.body);
        }
        assert!(entries(&t, "acme").await.is_empty(), "{}", t.backend);
        assert!(entries(&t, "beta").await.is_empty(), "{}", t.backend);

        // beta's own webhook for the same Chargify ids is beta's sale alone
        let r = post(&t, "beta", &pay, Some(&sign(BETA_KEY, &pay))).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
        assert_eq!(r.body["attributed"], false, "{}: {}", t.backend, r.body);
        let r = send(&t, &pay).await;
        assert_eq!(r.body["attributed"], true, "{}: {}", t.backend, r.body);
        assert_eq!(entries(&t, "acme").await, vec![accrual("alice", 1920)]);
        assert!(entries(&t, "beta").await.is_empty(), "{}", t.backend);
    }
}

#[tokio::test]
async fn other_events_are_ignored_and_malformed_ones_name_the_field() {
    let (_dir, all) = harnesses().await;
    for t in all {
        let pay = fixture("payment_success.txt");
        for event in [
            "signup_success",
            "renewal_success",
            "payment_failure",
            "customer_update",
        ] {
            let body = pay.replace("event=payment_success&", &format!("event={event}&"));
            let r = send(&t, &body).await;
            assert_eq!(r.body["ignored"], true, "{}: {}", t.backend, r.body);
            assert!(r.body["reason"].is_string(), "{}", r.body);
        }
        // the test webhook Chargify's panel sends (its documented body: no id)
        let r = send(&t, "payload[chargify]=testing&event=test").await;
        assert_eq!(r.body["ignored"], true, "{}: {}", t.backend, r.body);
        // a failed payment sent as payment_success records nothing
        let failed = pay.replace("[success]=true&", "[success]=false&");
        let r = send(&t, &failed).await;
        assert_eq!(r.body["ignored"], true, "{}: {}", t.backend, r.body);

        for (body, field) in [
            (pay.replace("id=141765008&", ""), "id"),
            (pay.replace("event=payment_success&", "event=&"), "event"),
            (
                pay.replace("amount_in_cents]=6400&", "amount_in_cents]=64.00&"),
                "payload[transaction][amount_in_cents]",
            ),
            (
                pay.replace("[transaction][id]=161537369&", ""),
                "payload[transaction][id]",
            ),
            (
                fixture("refund_success.txt").replace("payload[payment_id]=161537369&", ""),
                "payload[payment_id]",
            ),
        ] {
            let r = post(&t, "acme", &body, Some(&sign(KEY, &body))).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}: {}",
                t.backend,
                r.body
            );
            assert!(
                r.body.to_string().contains(field),
                "{}: {field}: {}",
                t.backend,
                r.body
            );
        }
        assert!(entries(&t, "acme").await.is_empty(), "{}", t.backend);
    }
}
