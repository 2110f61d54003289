//! The dashboard is served by every collector, also one installed as a single binary with no
//! `www/` beside it (systemd), and only a `--demo` collector's page says that the demo key
//! exists there.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clicktrail_collector::config::Config;
use common::{Harness, Resp};

async fn get(t: &Harness, path: &str) -> Resp {
    t.send(Request::get(path).body(Body::empty()).expect("request"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_dashboard_is_served_without_www_and_names_demo_only_in_demo() {
    for demo in [false, true] {
        let store = common::stores().await.remove(0);
        let t = Harness::new_mode(Config::demo(), store, demo).await;
        std::fs::remove_dir_all(t.www_dir()).expect("no www/ at all");
        let page = get(&t, "/dashboard").await;
        assert_eq!(page.status, StatusCode::OK);
        // the page holds an admin key once signed in: only its own script, no framing
        let csp = page.headers["content-security-policy"]
            .to_str()
            .unwrap_or("");
        for directive in [
            "script-src 'self'",
            "frame-ancestors 'none'",
            "connect-src 'self'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "CSP has {directive}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(page.headers["x-content-type-options"], "nosniff");
        assert_eq!(page.headers["referrer-policy"], "same-origin");
        assert_eq!(page.headers["x-frame-options"], "DENY");
        let html = String::from_utf8_lossy(&page.raw).to_string();
        assert!(html.contains("<script src=\"/dashboard.js\""), "{html}");
        assert_eq!(html.contains("data-demo=\"1\""), demo, "demo = {demo}");
        for (path, kind, needle) in [
            ("/dashboard.js", "text/javascript", "ClicktrailDashboard"),
            ("/style.css", "text/css", "{"),
            ("/favicon.svg", "image/svg+xml", "<svg"),
        ] {
            let r = get(&t, path).await;
            assert_eq!(r.status, StatusCode::OK, "{path}");
            let ct = r.headers["content-type"].to_str().unwrap_or("");
            assert!(ct.starts_with(kind), "{path}: {ct}");
            assert!(String::from_utf8_lossy(&r.raw).contains(needle), "{path}");
            assert_eq!(r.headers["x-content-type-options"], "nosniff", "{path}");
        }
        // the script never tries the demo key on its own: the page's marker decides
        let js = String::from_utf8_lossy(&get(&t, "/dashboard.js").await.raw).to_string();
        assert!(js.contains("data-demo"));
    }
}
