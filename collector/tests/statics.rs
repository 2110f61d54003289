//! `serve --config` without `--www`: `/` is a short page naming the product and linking the
//! dashboard; the demo pages in `www/` are not served (every backend).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clicktrail_collector::catalog::CatalogHandle;
use clicktrail_collector::config::Config;
use clicktrail_collector::{app, AppState};
use tower::ServiceExt;

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_www_the_demo_pages_are_not_served() {
    for store in common::stores().await {
        let backend = store.backend();
        let config = Config::demo();
        store
            .apply_catalog(config.tenants.clone(), common::NOW)
            .await
            .expect("catalog");
        let catalog = Arc::new(CatalogHandle::load(store.as_ref()).await.expect("load"));
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("index.html"), "<h1>demo shop</h1>").expect("write");
        let www = dir.path().to_path_buf();
        let state = AppState::new(store, catalog, config.server).with(|s| {
            s.www_dir = www;
            s.serve_www = false;
        });
        let router = app(state);
        let get = |path: &str| {
            router
                .clone()
                .oneshot(Request::get(path).body(Body::empty()).expect("request"))
        };
        let r = get("/").await.expect("infallible");
        assert_eq!(r.status(), StatusCode::OK, "{backend}");
        let html = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .expect("body");
        let html = String::from_utf8_lossy(&html);
        assert!(html.contains("clicktrail"), "{backend}: {html}");
        assert!(html.contains("href=\"/dashboard\""), "{backend}: {html}");
        assert!(!html.contains("demo shop"), "{backend}: {html}");
        let r = get("/index.html").await.expect("infallible");
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{backend}");
        let body = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .expect("body");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("a JSON 404");
        assert_eq!(json["error"]["code"], "not_found", "{backend}");
    }
}
