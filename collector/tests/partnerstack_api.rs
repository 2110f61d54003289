//! PartnerStack's API v2 as a merchant's backend calls it, through the real router on SQLite and
//! PostgreSQL, with the request bodies kept in `<repo>/tests/fixtures/partnerstack-api/` (see
//! `tests/fixtures/SOURCES.md`): Basic auth with the tenant's key pair, a customer for a
//! partner key (an alias) then its transaction credits the affiliate, a repeated transaction key
//! counts once, a delete reverses the commission, documented errors, tenants kept apart.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clicktrail_collector::config::Config;
use clicktrail_domain::ledger::EntryKind;
use common::{Harness, Resp};
use serde_json::Value;

const PUB: &str = "pk_acme_public";
const SECRET: &str = "sk_acme_secret_0123456789";
const BETA_PUB: &str = "pk_beta_public";
const BETA_SECRET: &str = "sk_beta_secret_0123456789";

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
affiliates = ["alice"]
affiliate_aliases = {{ "bertramgilfoyle" = "alice" }}
partnerstack_public_key = "{PUB}"
partnerstack_secret_key = "{SECRET}"
[tenants.conversion_types.sale]
revenue_share_percent = "30"
[[tenants]]
id = "beta"
api_key = "beta_key_123"
currency = "USD"
hold_days = 0
affiliates = ["bob"]
partnerstack_public_key = "{BETA_PUB}"
partnerstack_secret_key = "{BETA_SECRET}"
[tenants.conversion_types.sale]
revenue_share_percent = "50"
"#
    ))
    .expect("config")
}

/// A kept request body.
fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../tests/fixtures/partnerstack-api/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")))
}

async fn call(t: &Harness, method: &str, path: &str, auth: Option<&str>, body: &Value) -> Resp {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let body = if body.is_null() {
        Body::empty()
    } else {
        Body::from(body.to_string())
    };
    t.send(req.body(body).expect("request")).await
}

async fn acme(t: &Harness, method: &str, path: &str, body: &Value) -> Resp {
    call(t, method, path, Some(&basic(PUB, SECRET)), body).await
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

/// PartnerStack's envelope: `data`, `message`, `status` (the HTTP status).
fn assert_envelope(t: &Harness, r: &Resp, status: StatusCode) {
    assert_eq!(r.status, status, "{}: {}", t.backend, r.body);
    assert_eq!(
        r.body["status"],
        status.as_u16(),
        "{}: {}",
        t.backend,
        r.body
    );
    assert!(r.body["message"].is_string(), "{}: {}", t.backend, r.body);
    assert!(r.body.get("data").is_some(), "{}: {}", t.backend, r.body);
}

#[tokio::test]
async fn the_kept_envelope_has_the_shape_the_collector_answers_in() {
    let kept = fixture("envelope.response.json");
    let keys: Vec<&str> = kept
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["data", "message", "status"]);
    for t in Harness::all_with(config()).await {
        let r = acme(
            &t,
            "POST",
            "/api/v2/customers",
            &fixture("customer-create.request.json"),
        )
        .await;
        assert_envelope(&t, &r, StatusCode::OK);
        let mut got: Vec<&str> = r
            .body
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        got.sort_unstable();
        assert_eq!(got, keys, "{}", t.backend);
    }
}

#[tokio::test]
async fn wrong_or_missing_basic_auth_is_a_401_in_partnerstacks_shape() {
    for t in Harness::all_with(config()).await {
        let body = fixture("customer-create.request.json");
        for auth in [
            None,
            Some(basic(PUB, "sk_wrong_secret_0123456789")),
            Some(basic("pk_other", SECRET)),
            Some(basic(PUB, "")),
            Some("Bearer acme_key_123".to_string()),
            Some("Basic !!!".to_string()),
            // the tenant's own API key is not a PartnerStack key pair
            Some(basic("acme_key_123", "")),
        ] {
            let r = call(&t, "POST", "/api/v2/customers", auth.as_deref(), &body).await;
            assert_envelope(&t, &r, StatusCode::UNAUTHORIZED);
            assert!(r.body["data"].is_null(), "{}: {}", t.backend, r.body);
        }
        let r = call(
            &t,
            "DELETE",
            "/api/v2/transactions/trans_0001",
            None,
            &Value::Null,
        )
        .await;
        assert_envelope(&t, &r, StatusCode::UNAUTHORIZED);
        assert!(entries(&t, "acme").await.is_empty(), "{}", t.backend);
    }
}

#[tokio::test]
async fn a_customer_for_a_partner_alias_then_a_transaction_credits_the_affiliate_once() {
    for t in Harness::all_with(config()).await {
        let customer = fixture("customer-create.request.json");
        let r = acme(&t, "POST", "/api/v2/customers", &customer).await;
        assert_envelope(&t, &r, StatusCode::OK);
        assert_eq!(r.body["data"]["customer_key"], "cus_a80cb515fe");
        // a retried customer is the same lead
        let r = acme(&t, "POST", "/api/v2/customers", &customer).await;
        assert_envelope(&t, &r, StatusCode::OK);

        let tx = fixture("transaction-create.request.json");
        let r = acme(&t, "POST", "/api/v2/transactions", &tx).await;
        assert_envelope(&t, &r, StatusCode::OK);
        assert_eq!(r.body["data"]["key"], "trans_0001", "{}", t.backend);
        assert_eq!(r.body["data"]["amount"], 4900, "{}", t.backend);
        // 30 % of $49.00
        assert_eq!(
            entries(&t, "acme").await,
            vec![("alice".to_string(), EntryKind::Accrual, 1470)],
            "{}",
            t.backend
        );

        // the same transaction key again: refused, counted once
        let r = acme(&t, "POST", "/api/v2/transactions", &tx).await;
        assert_envelope(&t, &r, StatusCode::CONFLICT);
        assert_eq!(entries(&t, "acme").await.len(), 1, "{}", t.backend);

        // the merchant's key of the customer works as customer_external_key too
        let mut by_external = tx.clone();
        by_external["customer_external_key"] = by_external["customer_key"].take();
        by_external
            .as_object_mut()
            .expect("object")
            .remove("customer_key");
        by_external["key"] = "trans_0002".into();
        by_external["amount"] = 1000.into();
        let r = acme(&t, "POST", "/api/v2/transactions", &by_external).await;
        assert_envelope(&t, &r, StatusCode::OK);
        assert_eq!(
            entries(&t, "acme").await,
            vec![
                ("alice".to_string(), EntryKind::Accrual, 1470),
                ("alice".to_string(), EntryKind::Accrual, 300),
            ],
            "{}",
            t.backend
        );
        // the other tenant's ledger is untouched
        assert!(entries(&t, "beta").await.is_empty(), "{}", t.backend);
    }
}

#[tokio::test]
async fn deleting_a_transaction_reverses_its_commission() {
    for t in Harness::all_with(config()).await {
        let r = acme(
            &t,
            "POST",
            "/api/v2/customers",
            &fixture("customer-create.request.json"),
        )
        .await;
        assert_envelope(&t, &r, StatusCode::OK);
        let tx = fixture("transaction-create.request.json");
        let r = acme(&t, "POST", "/api/v2/transactions", &tx).await;
        assert_envelope(&t, &r, StatusCode::OK);
        for _ in 0..2 {
            let r = acme(
                &t,
                "DELETE",
                "/api/v2/transactions/trans_0001",
                &Value::Null,
            )
            .await;
            assert_envelope(&t, &r, StatusCode::OK);
            assert_eq!(
                r.body["data"]["commission_reversed_cents"], 1470,
                "{}: {}",
                t.backend, r.body
            );
        }
        let all = entries(&t, "acme").await;
        assert_eq!(
            all,
            vec![
                ("alice".to_string(), EntryKind::Accrual, 1470),
                ("alice".to_string(), EntryKind::Reversal, -1470),
            ],
            "{}",
            t.backend
        );
        let r = acme(
            &t,
            "DELETE",
            "/api/v2/transactions/trans_none",
            &Value::Null,
        )
        .await;
        assert_envelope(&t, &r, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn unknown_partner_key_and_bad_fields_answer_the_documented_errors() {
    for t in Harness::all_with(config()).await {
        // a body beyond the server's limit (64 KiB by default) is a 413 in the envelope
        let mut big = fixture("customer-create.request.json");
        big["name"] = "x".repeat(70 * 1024).into();
        let r = acme(&t, "POST", "/api/v2/customers", &big).await;
        assert_envelope(&t, &r, StatusCode::PAYLOAD_TOO_LARGE);

        let mut customer = fixture("customer-create.request.json");
        customer["partner_key"] = "nobody".into();
        let r = acme(&t, "POST", "/api/v2/customers", &customer).await;
        assert_envelope(&t, &r, StatusCode::NOT_FOUND);
        assert!(r.body["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("partner_key"));

        for (field, value) in [
            ("email", Value::from("not-an-email")),
            ("customer_key", Value::Null),
        ] {
            let mut c = fixture("customer-create.request.json");
            c[field] = value;
            let r = acme(&t, "POST", "/api/v2/customers", &c).await;
            assert_envelope(&t, &r, StatusCode::UNPROCESSABLE_ENTITY);
            assert!(
                r.body["message"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with(field),
                "{}",
                r.body
            );
        }

        let r = acme(
            &t,
            "POST",
            "/api/v2/customers",
            &fixture("customer-create.request.json"),
        )
        .await;
        assert_envelope(&t, &r, StatusCode::OK);
        for (field, value) in [
            ("amount", Value::from(0)),
            ("amount", Value::from(-4900)),
            ("amount", Value::from("49.00")),
            ("amount", Value::from(49.5)),
            ("currency", Value::from("XYZ")),
            ("key", Value::from("abc")),
        ] {
            let mut tx = fixture("transaction-create.request.json");
            tx[field] = value;
            let r = acme(&t, "POST", "/api/v2/transactions", &tx).await;
            assert_envelope(&t, &r, StatusCode::UNPROCESSABLE_ENTITY);
            assert!(
                r.body["message"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with(field),
                "{}",
                r.body
            );
        }
        let mut tx = fixture("transaction-create.request.json");
        tx["customer_key"] = "cus_unknown".into();
        let r = acme(&t, "POST", "/api/v2/transactions", &tx).await;
        assert_envelope(&t, &r, StatusCode::NOT_FOUND);

        let r = t
            .send(
                Request::post("/api/v2/transactions")
                    .header("authorization", basic(PUB, SECRET))
                    .body(Body::from("{not json"))
                    .expect("request"),
            )
            .await;
        assert_envelope(&t, &r, StatusCode::BAD_REQUEST);
        // reading is not offered: 405 on the offered paths, 404 elsewhere
        let r = acme(&t, "GET", "/api/v2/transactions", &Value::Null).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", t.backend);
        let r = acme(&t, "GET", "/api/v2/partnerships", &Value::Null).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", t.backend);
        assert!(entries(&t, "acme").await.is_empty(), "{}", t.backend);
    }
}

#[tokio::test]
async fn one_tenants_keys_cannot_touch_another_tenants_customers() {
    for t in Harness::all_with(config()).await {
        let r = acme(
            &t,
            "POST",
            "/api/v2/customers",
            &fixture("customer-create.request.json"),
        )
        .await;
        assert_envelope(&t, &r, StatusCode::OK);
        let tx = fixture("transaction-create.request.json");
        let beta = basic(BETA_PUB, BETA_SECRET);
        // beta's keys: acme's customer is unknown to beta
        let r = call(&t, "POST", "/api/v2/transactions", Some(&beta), &tx).await;
        assert_envelope(&t, &r, StatusCode::NOT_FOUND);
        // acme's partner alias is not beta's
        let r = call(
            &t,
            "POST",
            "/api/v2/customers",
            Some(&beta),
            &fixture("customer-create.request.json"),
        )
        .await;
        assert_envelope(&t, &r, StatusCode::NOT_FOUND);
        // acme's public key with beta's secret
        let r = call(
            &t,
            "POST",
            "/api/v2/transactions",
            Some(&basic(PUB, BETA_SECRET)),
            &tx,
        )
        .await;
        assert_envelope(&t, &r, StatusCode::UNAUTHORIZED);

        let r = acme(&t, "POST", "/api/v2/transactions", &tx).await;
        assert_envelope(&t, &r, StatusCode::OK);
        // beta cannot delete acme's transaction
        let r = call(
            &t,
            "DELETE",
            "/api/v2/transactions/trans_0001",
            Some(&beta),
            &Value::Null,
        )
        .await;
        assert_envelope(&t, &r, StatusCode::NOT_FOUND);
        assert_eq!(
            entries(&t, "acme").await,
            vec![("alice".to_string(), EntryKind::Accrual, 1470)],
            "{}",
            t.backend
        );
        assert!(entries(&t, "beta").await.is_empty(), "{}", t.backend);

        // the same customer and transaction keys at beta are beta's own: its partner, its rate
        let mut customer = fixture("customer-create.request.json");
        customer["partner_key"] = "bob".into();
        let r = call(&t, "POST", "/api/v2/customers", Some(&beta), &customer).await;
        assert_envelope(&t, &r, StatusCode::OK);
        let r = call(&t, "POST", "/api/v2/transactions", Some(&beta), &tx).await;
        assert_envelope(&t, &r, StatusCode::OK);
        assert_eq!(
            entries(&t, "beta").await,
            vec![("bob".to_string(), EntryKind::Accrual, 2450)],
            "{}",
            t.backend
        );
        let r = call(
            &t,
            "DELETE",
            "/api/v2/transactions/trans_0001",
            Some(&beta),
            &Value::Null,
        )
        .await;
        assert_envelope(&t, &r, StatusCode::OK);
        assert_eq!(
            entries(&t, "acme").await,
            vec![("alice".to_string(), EntryKind::Accrual, 1470)],
            "{}",
            t.backend
        );
    }
}
