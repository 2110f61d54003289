//! Operations endpoints on every backend: readiness and Prometheus metrics.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::Harness;
use serde_json::json;

#[tokio::test]
async fn readyz_and_metrics() {
    // the harness's requests come from 10.0.0.1: allowed to read /metrics here
    let mut c = clicktrail_collector::Config::demo();
    c.server.rate_limit_per_second = 0;
    c.server.metrics_allow = vec!["10.0.0.0/8".parse().unwrap()];
    for h in Harness::all_with(c).await {
        let r = h
            .send(Request::get("/readyz").body(Body::empty()).unwrap())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", h.backend);
        let click =
            json!({"tenantId":"demo","eventId":uuid::Uuid::new_v4().to_string(),"aff":"alice"});
        assert_eq!(
            h.post("/tracking/click/v1", click.to_string()).await.status,
            StatusCode::OK
        );
        let bad = json!({"tenantId":"demo","aff":"mallory"});
        assert_eq!(
            h.post("/tracking/click/v1", bad.to_string()).await.status,
            StatusCode::NOT_FOUND
        );
        // an arbitrary path is counted under one label, not as itself
        h.send(
            Request::get("/no/such/path/123")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        let m = h
            .send(Request::get("/metrics").body(Body::empty()).unwrap())
            .await;
        assert_eq!(m.status, StatusCode::OK);
        let text = String::from_utf8_lossy(&m.raw);
        for needle in [
            r#"clicktrail_http_requests_total{route="/tracking/click/v1",status="200"} 1"#,
            r#"clicktrail_http_requests_total{route="/tracking/click/v1",status="404"} 1"#,
            r#"clicktrail_http_request_duration_seconds_count{route="/tracking/click/v1"} 2"#,
            "clicktrail_store_writes{backend=",
            concat!(
                r#"clicktrail_build_info{version=""#,
                env!("CARGO_PKG_VERSION"),
                r#""} 1"#
            ),
        ] {
            assert!(
                text.contains(needle),
                "{}: /metrics lacks {needle}:\n{text}",
                h.backend
            );
        }
        assert!(
            !text.contains("/no/such/path"),
            "raw paths must not become labels"
        );
    }
}
