//! The Chargebee webhook password is only ever compared, so the database keeps its hash: on
//! both backends the stored value is `sha256:…`, the password is not in the SQLite file's bytes,
//! and the webhook still authenticates with it (and refuses anything else).

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clicktrail_collector::config::Config;
use clicktrail_store::Store;
use clicktrail_store_sqlite::SqliteStore;
use common::Harness;
use serde_json::json;

const PASSWORD: &str = "Vq3kX9-unique-chargebee-password";

fn config() -> Config {
    Config::from_toml(&format!(
        r#"
[server]
rate_limit_per_second = 0
[[tenants]]
id = "acme"
api_key = "acme_key_123"
affiliates = ["alice"]
chargebee_webhook_username = "cb_hook"
chargebee_webhook_password = "{PASSWORD}"
[tenants.conversion_types.sale]
revenue_share_percent = "30"
"#
    ))
    .expect("config")
}

async fn chargebee(t: &Harness, password: &str) -> StatusCode {
    let event = json!({"id": "ev_1", "event_type": "customer_created", "content": {}});
    let req = Request::post("/webhooks/chargebee/acme")
        .header("content-type", "application/json")
        .header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("cb_hook:{password}"))),
        )
        .body(Body::from(event.to_string()))
        .expect("request");
    t.send(req).await.status
}

#[tokio::test]
async fn the_password_is_stored_hashed_and_still_authenticates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("secrets.db");
    let sqlite: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&file.to_string_lossy()).expect("sqlite"));
    let pg = common::stores().await.pop().expect("postgres store");
    for store in [sqlite, pg] {
        let t = Harness::new_mode(config(), store, false).await;
        let catalog = t.store.load_catalog().await.expect("catalog");
        let acme = catalog
            .tenants
            .iter()
            .find(|x| x.id == "acme")
            .expect("acme");
        let stored = acme.chargebee_webhook_password.clone();
        assert!(stored.starts_with("sha256:"), "{}: {stored}", t.backend);
        assert!(!stored.contains(PASSWORD), "{}", t.backend);
        assert_eq!(
            chargebee(&t, PASSWORD).await,
            StatusCode::OK,
            "{}",
            t.backend
        );
        assert_eq!(
            chargebee(&t, &stored).await,
            StatusCode::UNAUTHORIZED,
            "{}: the hash is no password",
            t.backend
        );
        assert_eq!(
            chargebee(&t, "wrong").await,
            StatusCode::UNAUTHORIZED,
            "{}",
            t.backend
        );
    }
    let mut bytes = std::fs::read(&file).expect("db file");
    bytes.extend(std::fs::read(dir.path().join("secrets.db-wal")).unwrap_or_default());
    let needle = PASSWORD.as_bytes();
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle),
        "the password is in the SQLite file's bytes"
    );
}
