//! Admin changes reach every collector: two real collector processes on one
//! database (a PostgreSQL database, and one SQLite file); a change made through one is seen by
//! the other within about a second (each polls the catalog version every second), and the
//! operator token of `CLICKTRAIL_ADMIN_TOKEN` creates tenants whose key works on both.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod http_client;
use http_client::request;

const BIN: &str = env!("CARGO_BIN_EXE_clicktrail-collector");
const TOKEN: &str = "operator-token-0123456789";

struct Collector {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(db: &str) -> Collector {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let child = Command::new(BIN)
        .args(["serve", "--demo", "--rate-limit", "0", "--db", db])
        .args(["--listen", &addr.to_string(), "--dist", "/nonexistent"])
        .args(["--www", "/nonexistent"])
        .env("CLICKTRAIL_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the collector");
    let c = Collector { child, addr };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = request(addr, "GET", "/healthz", &[], b"").await {
            if r.status == 200 {
                return c;
            }
        }
        assert!(Instant::now() < deadline, "collector did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn call(c: &Collector, method: &str, path: &str, key: &str, body: Value) -> (u16, Value) {
    let auth = format!("Bearer {key}");
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let r = request(
        c.addr,
        method,
        path,
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
    .await
    .expect("request");
    (r.status, r.json())
}

async fn click(c: &Collector, tenant: &str, aff: &str) -> u16 {
    let body = json!({"tenantId": tenant, "aff": aff}).to_string();
    request(c.addr, "POST", "/tracking/click/v1", &[], body.as_bytes())
        .await
        .expect("click")
        .status
}

/// Polls `probe` every 20 ms; the time until it held (panics after 5 s: the documented bound).
async fn until<F, Fut>(what: &str, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t0 = Instant::now();
    loop {
        if probe().await {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{what}: not seen within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run(db: &str, backend: &str) {
    let a = start(db).await;
    let b = start(db).await;

    // an affiliate created through a: b attributes its clicks within about a second
    assert_eq!(click(&b, "demo", "zoe").await, 404, "{backend}");
    let (s, body) = call(
        &a,
        "POST",
        "/api/v1/affiliates",
        "demo_admin_key",
        json!({"code": "zoe"}),
    )
    .await;
    assert_eq!(s, 201, "{backend}: {body}");
    let seen = until("affiliate on b", || async {
        click(&b, "demo", "zoe").await == 200
    })
    .await;
    eprintln!("{backend}: new affiliate seen by the other collector after {seen:?}");
    assert!(seen < Duration::from_millis(2500), "{backend}: {seen:?}");

    // disabled through b: a stops attributing
    let (s, _) = call(
        &b,
        "PATCH",
        "/api/v1/affiliates/zoe",
        "demo_admin_key",
        json!({"disabled": true}),
    )
    .await;
    assert_eq!(s, 200, "{backend}");
    let seen = until("disable on a", || async {
        click(&a, "demo", "zoe").await == 404
    })
    .await;
    eprintln!("{backend}: disabled affiliate refused by the other collector after {seen:?}");

    // a key revoked through a stops working on b
    let (s, k) = call(
        &a,
        "POST",
        "/api/v1/keys",
        "demo_admin_key",
        json!({"scopes": ["read"]}),
    )
    .await;
    assert_eq!(s, 201, "{backend}");
    let (key, id) = (
        k["key"].as_str().unwrap_or_default().to_string(),
        k["id"].as_str().unwrap_or_default().to_string(),
    );
    until("new key on b", || async {
        call(&b, "GET", "/api/v1/whoami", &key, Value::Null).await.0 == 200
    })
    .await;
    let (s, _) = call(
        &a,
        "DELETE",
        &format!("/api/v1/keys/{id}"),
        "demo_admin_key",
        Value::Null,
    )
    .await;
    assert_eq!(s, 200, "{backend}");
    let seen = until("revocation on b", || async {
        call(&b, "GET", "/api/v1/whoami", &key, Value::Null).await.0 == 401
    })
    .await;
    eprintln!("{backend}: revoked key refused by the other collector after {seen:?}");

    // the operator token (env CLICKTRAIL_ADMIN_TOKEN) creates a tenant on a; its key works on b
    let (s, t) = call(
        &a,
        "POST",
        "/api/v1/tenants",
        TOKEN,
        json!({"id": "newco", "allowed_origins": ["*"]}),
    )
    .await;
    assert_eq!(s, 201, "{backend}: {t}");
    let admin = t["admin_key"]["key"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    until("new tenant on b", || async {
        call(&b, "GET", "/api/v1/whoami", &admin, Value::Null)
            .await
            .1["tenant"]
            == "newco"
    })
    .await;
    let (s, _) = call(&b, "POST", "/api/v1/tenants", "wrong", json!({"id": "x"})).await;
    assert_eq!(s, 401, "{backend}");
    // the demo tenant's admin key sees nothing of it
    let (_, list) = call(
        &b,
        "GET",
        "/api/v1/affiliates",
        "demo_admin_key",
        Value::Null,
    )
    .await;
    assert_eq!(
        list["affiliates"].as_array().map(Vec::len),
        Some(3),
        "{backend}: {list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_changes_reach_every_collector_on_postgres() {
    let url = clicktrail_store_postgres::test_cluster::fresh_database().await;
    run(&url, "postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_changes_reach_every_collector_on_one_sqlite_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("clicktrail.db");
    run(db.to_str().expect("utf-8 path"), "sqlite").await;
}
