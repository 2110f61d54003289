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

/// The tracker's files as `scripts/build.sh` leaves them in `dist/`: each with a `.br` and a
/// `.gz` beside it (distinct bytes here, so a test sees which one was sent) and the wasm
/// under its content-hashed name and its old name; the full module's glue under its own.
const HASHED: &str = "clicktrail_bg.0123abcd.wasm";
const FULL: &str = "clicktrail_full.0123abcd.js";
const FILES: [(&str, &[u8]); 12] = [
    ("tracking.js", b"/* tracker, identity */"),
    ("tracking.js.br", b"BR tracker"),
    ("tracking.js.gz", b"GZ tracker bytes"),
    (HASHED, b"\0asm hashed identity"),
    ("clicktrail_bg.0123abcd.wasm.br", b"BR hashed"),
    ("clicktrail_bg.0123abcd.wasm.gz", b"GZ hashed wasm"),
    ("clicktrail_bg.wasm", b"\0asm old name identity"),
    ("clicktrail_bg.wasm.br", b"BR old"),
    ("clicktrail_bg.wasm.gz", b"GZ old wasm"),
    (FULL, b"/* full module's glue */"),
    ("clicktrail_full.0123abcd.js.br", b"BR glue"),
    ("clicktrail_full.0123abcd.js.gz", b"GZ glue bytes"),
];

struct Got {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

async fn fetch(router: &axum::Router, method: &str, path: &str, headers: &[(&str, &str)]) -> Got {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = router
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = r.status();
    let headers = r.headers().clone();
    let body = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .expect("body")
        .to_vec();
    Got {
        status,
        headers,
        body,
    }
}

fn h<'a>(g: &'a Got, name: &str) -> &'a str {
    g.headers
        .get(name)
        .map(|v| v.to_str().expect("ascii header"))
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracker_files_are_served_precompressed_by_accept_encoding() {
    const SHORT: &str = "public, max-age=300";
    const IMMUTABLE: &str = "public, max-age=31536000, immutable";
    for store in common::stores().await {
        let backend = store.backend();
        let config = Config::demo();
        store
            .apply_catalog(config.tenants.clone(), common::NOW)
            .await
            .expect("catalog");
        let catalog = Arc::new(CatalogHandle::load(store.as_ref()).await.expect("load"));
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, bytes) in FILES {
            std::fs::write(dir.path().join(name), bytes).expect("write");
        }
        let dist = dir.path().to_path_buf();
        let router = app(AppState::new(store, catalog, config.server).with(|s| s.dist_dir = dist));
        let file = |name: &str| FILES.iter().find(|(n, _)| *n == name).expect("file").1;

        for (path, base, content_type, cache) in [
            (
                "/tracking.js",
                "tracking.js",
                "application/javascript; charset=utf-8",
                SHORT,
            ),
            (
                &format!("/{HASHED}")[..],
                HASHED,
                "application/wasm",
                IMMUTABLE,
            ),
            (
                "/clicktrail_bg.wasm",
                "clicktrail_bg.wasm",
                "application/wasm",
                SHORT,
            ),
            (
                &format!("/{FULL}")[..],
                FULL,
                "application/javascript; charset=utf-8",
                IMMUTABLE,
            ),
        ] {
            // What browsers send, what old clients send, explicit refusals and q-values.
            for (accept, encoding) in [
                (Some("gzip, deflate, br, zstd"), Some("br")),
                (Some("br;q=1.0, gzip;q=0.8, *;q=0.1"), Some("br")),
                (Some("gzip, deflate"), Some("gzip")),
                (Some("br;q=0, gzip"), Some("gzip")),
                (Some("identity"), None),
                (None, None),
            ] {
                let headers: Vec<(&str, &str)> =
                    accept.map(|a| ("accept-encoding", a)).into_iter().collect();
                let g = fetch(&router, "GET", path, &headers).await;
                let what = format!("{backend} GET {path} Accept-Encoding {accept:?}");
                assert_eq!(g.status, StatusCode::OK, "{what}");
                let sent = match encoding {
                    Some("br") => format!("{base}.br"),
                    Some(_) => format!("{base}.gz"),
                    None => base.to_string(),
                };
                assert_eq!(g.body, file(&sent), "{what}: the body is {sent}");
                assert_eq!(h(&g, "content-encoding"), encoding.unwrap_or(""), "{what}");
                assert_eq!(
                    h(&g, "content-length"),
                    file(&sent).len().to_string(),
                    "{what}"
                );
                assert_eq!(h(&g, "content-type"), content_type, "{what}");
                assert_eq!(
                    h(&g, "vary").to_ascii_lowercase(),
                    "accept-encoding",
                    "{what}"
                );
                assert_eq!(h(&g, "cache-control"), cache, "{what}");
                assert_eq!(h(&g, "access-control-allow-origin"), "*", "{what}");
                assert!(h(&g, "etag").starts_with('"'), "{what}: a strong ETag");
            }

            // Revalidation: the ETag names one representation; 304 keeps the cache headers.
            let br = fetch(&router, "GET", path, &[("accept-encoding", "br")]).await;
            let etag = h(&br, "etag").to_string();
            let gz = fetch(&router, "GET", path, &[("accept-encoding", "gzip")]).await;
            assert_ne!(
                h(&gz, "etag"),
                etag,
                "{backend} {path}: each encoding its own ETag"
            );
            let g = fetch(
                &router,
                "GET",
                path,
                &[("accept-encoding", "br"), ("if-none-match", &etag)],
            )
            .await;
            assert_eq!(g.status, StatusCode::NOT_MODIFIED, "{backend} {path}");
            assert!(g.body.is_empty(), "{backend} {path}");
            assert_eq!(h(&g, "etag"), etag, "{backend} {path}");
            assert_eq!(h(&g, "cache-control"), cache, "{backend} {path}");
            let g = fetch(
                &router,
                "GET",
                path,
                &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
            )
            .await;
            assert_eq!(
                g.status,
                StatusCode::OK,
                "{backend} {path}: the br ETag does not match the gzip file"
            );
            assert_eq!(g.body, file(&format!("{base}.gz")), "{backend} {path}");

            // HEAD: the headers of the GET, no body.
            let g = fetch(&router, "HEAD", path, &[("accept-encoding", "br")]).await;
            assert_eq!(g.status, StatusCode::OK, "{backend} HEAD {path}");
            assert!(g.body.is_empty(), "{backend} HEAD {path}");
            assert_eq!(h(&g, "content-encoding"), "br", "{backend} HEAD {path}");
            assert_eq!(
                h(&g, "content-length"),
                file(&format!("{base}.br")).len().to_string(),
                "{backend} HEAD {path}"
            );
        }

        // A build id that is not in dist/: the JSON 404 naming the fix; malformed names and
        // the compressed files themselves are not routes.
        let g = fetch(&router, "GET", "/clicktrail_bg.ffffffff.wasm", &[]).await;
        assert_eq!(g.status, StatusCode::NOT_FOUND, "{backend}");
        let json: serde_json::Value = serde_json::from_slice(&g.body).expect("a JSON 404");
        assert_eq!(json["error"]["code"], "not_built", "{backend}");
        for path in [
            "/clicktrail_bg.0123ABCD.wasm",
            "/clicktrail_bg.0123abc.wasm",
            "/clicktrail_bg.0123abcd.wasm.br",
            "/clicktrail_bg.0123abcd.wasm.gz",
            "/clicktrail_bg.wasm.br",
            "/clicktrail_bg..%2F..%2Fsecret.wasm",
            "/clicktrail_full.0123ABCD.js",
            "/clicktrail_full.0123abcd.wasm",
            "/clicktrail_full.0123abcd.js.br",
            "/clicktrail_full.js",
        ] {
            let g = fetch(&router, "GET", path, &[("accept-encoding", "br")]).await;
            assert_eq!(g.status, StatusCode::NOT_FOUND, "{backend} {path}");
            let json: serde_json::Value = serde_json::from_slice(&g.body).expect("a JSON 404");
            assert_eq!(json["error"]["code"], "not_found", "{backend} {path}");
        }
    }
}
