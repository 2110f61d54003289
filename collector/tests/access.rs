//! What is reachable from where, on every backend: the first-party path (marked by the header
//! its proxy location sets) reaches the tracker only; `/metrics` answers allowed addresses
//! only; portal links are absolute with `[server] public_url`.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clicktrail_collector::http::access::FIRST_PARTY_HEADER;
use clicktrail_collector::Config;
use common::Harness;
use serde_json::json;

fn demo() -> Config {
    let mut c = Config::demo();
    c.server.rate_limit_per_second = 0;
    c
}

fn req(method: &str, path: &str, first_party: bool) -> Request<Body> {
    let mut r = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer demo_admin_key");
    if first_party {
        r = r.header(FIRST_PARTY_HEADER, "1");
    }
    r.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn the_first_party_path_reaches_the_tracker_only() {
    for h in Harness::all_with(demo()).await {
        let b = h.backend;
        // what a page needs answers as on the collector's host: the loader, the full module's
        // glue
        for path in ["/tracking.js", "/clicktrail_full.0123abcd.js"] {
            let r = h.send(req("GET", path, true)).await;
            assert_eq!(r.status, StatusCode::OK, "{b}: {path}");
        }
        let click = Request::post("/tracking/click/v1")
            .header(FIRST_PARTY_HEADER, "1")
            .header("content-type", "text/plain;charset=UTF-8")
            .body(Body::from(
                json!({"tenantId":"demo","eventId":uuid::Uuid::new_v4().to_string(),"aff":"alice"})
                    .to_string(),
            ))
            .unwrap();
        assert_eq!(h.send(click).await.status, StatusCode::OK, "{b}");
        // the rest is not on the shop's origin, keys or not
        for (method, path) in [
            ("GET", "/dashboard"),
            ("GET", "/dashboard.js"),
            ("GET", "/api/v1/whoami"),
            ("GET", "/api/v1/affiliates"),
            ("GET", "/api/v1/report"),
            ("POST", "/api/v1/keys"),
            ("GET", "/metrics"),
            ("GET", "/portal.js"),
            ("POST", "/webhooks/stripe"),
            ("GET", "/"),
            ("GET", "/readyz"),
        ] {
            let r = h.send(req(method, path, true)).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}: {method} {path}");
            assert_eq!(r.body["error"]["code"], "not_found", "{b}: {path}");
            // the same request on the collector's own host is not refused this way
            let direct = h.send(req(method, path, false)).await;
            assert_ne!(
                direct.body["error"]["code"], "not_found",
                "{b}: {method} {path}"
            );
        }
        let who = h.send(req("GET", "/api/v1/whoami", false)).await;
        assert_eq!(who.status, StatusCode::OK, "{b}");
    }
}

#[tokio::test]
async fn metrics_answer_allowed_addresses_only() {
    // the harness's requests come from 10.0.0.1, outside the default (loopback)
    for h in Harness::all_with(demo()).await {
        let r = h.send(req("GET", "/metrics", false)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", h.backend);
        assert_eq!(r.body["error"]["code"], "forbidden");
    }
    let mut c = demo();
    c.server.metrics_allow = vec!["10.0.0.0/24".parse().unwrap()];
    for h in Harness::all_with(c).await {
        let r = h.send(req("GET", "/metrics", false)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", h.backend);
        assert!(String::from_utf8_lossy(&r.raw).contains("clicktrail_build_info{version="));
    }
    let mut c = demo();
    c.server.metrics_allow = vec!["10.0.1.0/24".parse().unwrap()];
    for h in Harness::all_with(c).await {
        assert_eq!(
            h.send(req("GET", "/metrics", false)).await.status,
            StatusCode::FORBIDDEN
        );
    }
}

#[tokio::test]
async fn portal_links_are_absolute_with_a_public_url() {
    let c = Config::from_toml(
        r#"
[server]
public_url = "https://track.example.com/"
rate_limit_per_second = 0
[[tenants]]
id = "demo"
allowed_origins = ["https://shop.example"]
api_key = "sk_demo_0123456789"
admin_key = "demo_admin_key"
affiliates = ["alice"]
"#,
    )
    .unwrap();
    for h in Harness::all_with(c).await {
        let r = h
            .send(req("POST", "/api/v1/affiliates/alice/portal-link", false))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}: {}", h.backend, r.body);
        let token = r.body["token"].as_str().unwrap();
        assert_eq!(
            r.body["url"],
            format!("https://track.example.com/portal/{token}")
        );
    }
    assert!(Config::from_toml(
        "[server]\npublic_url = \"track.example.com\"\n[[tenants]]\nid=\"a\"\napi_key=\"12345678\""
    )
    .is_err());
}
