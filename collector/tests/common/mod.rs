//! Shared test harness: the real router over a real store, driven without a socket.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::Router;
use clicktrail_collector::catalog::CatalogHandle;
use clicktrail_collector::config::Config;
use clicktrail_collector::{app, AppState};
use clicktrail_store::Store;
use clicktrail_store_sqlite::SqliteStore;
use serde_json::Value;
use tower::ServiceExt;

#[allow(unused_imports)]
pub use clicktrail_collector::http::webhooks::stripe::signature_header;

pub const NOW: i64 = 1795072000; // 2026-11-19T07:06:40Z
pub const REVENUE_ORIGIN: &str = "00000000-0000-0000-0000-000000000001";

pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

pub struct Harness {
    pub backend: &'static str,
    pub router: Router,
    pub clock: Arc<AtomicI64>,
    pub store: Arc<dyn Store>,
    pub catalog: Arc<CatalogHandle>,
    _dirs: tempfile::TempDir,
}

/// A fresh, empty store of every backend.
pub async fn stores() -> Vec<Arc<dyn Store>> {
    let url = clicktrail_store_postgres::test_cluster::fresh_database().await;
    let pg = clicktrail_store_postgres::PgStore::connect(&url)
        .await
        .expect("postgres store");
    vec![
        Arc::new(SqliteStore::open(":memory:").expect("sqlite store")),
        Arc::new(pg),
    ]
}

impl Harness {
    /// One harness per storage backend, with the demo tenant (rate limit off).
    pub async fn all() -> Vec<Harness> {
        let mut c = Config::demo();
        c.server.rate_limit_per_second = 0;
        Harness::all_with(c).await
    }

    /// One harness per storage backend, with `config` applied to its catalog.
    pub async fn all_with(config: Config) -> Vec<Harness> {
        let mut out = Vec::new();
        for store in stores().await {
            out.push(Harness::new(config.clone(), store).await);
        }
        out
    }

    pub async fn new(config: Config, store: Arc<dyn Store>) -> Harness {
        Harness::new_mode(config, store, true).await
    }

    /// `demo = false`: as `serve --config` runs (no demo routes).
    pub async fn new_mode(config: Config, store: Arc<dyn Store>, demo: bool) -> Harness {
        Harness::new_token(config, store, demo, None).await
    }

    /// As [`Harness::new_mode`], with the server-wide operator token (`CLICKTRAIL_ADMIN_TOKEN`).
    pub async fn new_token(
        config: Config,
        store: Arc<dyn Store>,
        demo: bool,
        admin_token: Option<&str>,
    ) -> Harness {
        let admin_token = admin_token.map(str::to_string);
        store
            .apply_catalog(config.tenants.clone(), NOW)
            .await
            .expect("apply the catalog");
        let catalog = Arc::new(CatalogHandle::load(store.as_ref()).await.expect("catalog"));
        let clock = Arc::new(AtomicI64::new(NOW));
        let c2 = clock.clone();
        let dir = tempfile::tempdir().expect("tempdir");
        let (dist, www) = (dir.path().join("dist"), dir.path().join("www"));
        for (d, f, text) in [
            (&dist, "tracking.js", "/* tracker */"),
            (&dist, "clicktrail_full.0123abcd.js", "/* glue */"),
            (&www, "index.html", "<h1>shop</h1>"),
            (&www, "dashboard.html", "<h1>dashboard</h1>"),
        ] {
            std::fs::create_dir_all(d).expect("mkdir");
            std::fs::write(d.join(f), text).expect("write");
        }
        let backend = store.backend();
        let state = AppState::new(store.clone(), catalog.clone(), config.server).with(|s| {
            s.clock = Arc::new(move || c2.load(Ordering::SeqCst));
            s.dist_dir = dist;
            s.www_dir = www;
            s.demo = demo;
            s.admin_token = admin_token;
        });
        Harness {
            backend,
            router: app(state),
            clock,
            store,
            catalog,
            _dirs: dir,
        }
    }

    /// The `www` folder this harness's collector serves from.
    pub fn www_dir(&self) -> std::path::PathBuf {
        self._dirs.path().join("www")
    }

    pub fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    pub fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    pub async fn send(&self, mut req: Request<Body>) -> Resp {
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 5555))));
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            raw,
        }
    }

    pub async fn post(&self, path: &str, body: impl Into<String>) -> Resp {
        let req = Request::post(path)
            .header("content-type", "text/plain;charset=UTF-8")
            .body(Body::from(body.into()))
            .expect("request");
        self.send(req).await
    }

    pub async fn api(&self, path: &str, body: Value) -> Resp {
        let req = Request::post(path)
            .header("content-type", "application/json")
            .header("authorization", "Bearer demo_secret_key")
            .body(Body::from(body.to_string()))
            .expect("request");
        self.send(req).await
    }

    pub async fn report(&self, query: &str) -> Value {
        let req = Request::get(format!("/api/v1/report{query}"))
            .header("authorization", "Bearer demo_secret_key")
            .body(Body::empty())
            .expect("request");
        let r = self.send(req).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }

    pub async fn stripe(&self, payload: &str, sig: &str) -> Resp {
        let req = Request::post("/webhooks/stripe")
            .header("content-type", "application/json")
            .header("stripe-signature", sig)
            .body(Body::from(payload.to_string()))
            .expect("request");
        self.send(req).await
    }
}

/// `Stripe-Signature` headers for `payloads` signed with `secret` at `timestamp`, made by
/// Stripe's official Node library (`tests/stripe/sign.cjs`), never by our own code.
pub fn stripe_signatures(secret: &str, payloads: &[String], timestamp: i64) -> Vec<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stripe/sign.cjs");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut child = Command::new("node")
        .arg(script)
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node (20 or later) on PATH, and `npm install` run at the repository root");
    let input = serde_json::json!({"secret": secret, "timestamp": timestamp, "payloads": payloads});
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write to node");
    let out = child.wait_with_output().expect("node runs");
    assert!(
        out.status.success(),
        "sign.cjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON array")
}
