//! PartnerStack mode in first-party mode: a click through a partner key asks
//! for `"partnerstack": true` and the answer sets PartnerStack's cookies beside `trakdesk_cid`
//! (`gspk` = Base64 of the key as sent, `gsxid` = the CID, `growSumoPartnerKey` = the key,
//! percent-encoded), with the same attributes; the link's click id as event id records one
//! click and replays the same cookies. Through the real router, on SQLite and PostgreSQL.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clicktrail_collector::config::Config;
use serde_json::{json, Value};

mod common;
use common::{Harness, Resp};

fn config() -> Config {
    Config::from_toml(
        r#"
[server]
rate_limit_per_second = 0
[[tenants]]
id = "shop"
api_key = "demo_secret_key"  # what Harness::report sends
cookie_days = 30
allowed_origins = ["https://shop.example"]
affiliates = ["jane"]
affiliate_aliases = { "jane/doe+12 é" = "jane" }
"#,
    )
    .expect("config")
}

fn click(origin: &str, host: &str, event: &str, partnerstack: bool) -> Request<Body> {
    let body = json!({"tenantId": "shop", "eventId": event, "aff": "jane/doe+12 é",
        "cookie": {"domain": null, "secure": true, "affitor": false, "partnerstack": partnerstack}});
    Request::post("/tracking/click/v1")
        .header("content-type", "text/plain;charset=UTF-8")
        .header("origin", origin)
        .header("host", host)
        .body(Body::from(body.to_string()))
        .expect("request")
}

fn set_cookies(r: &Resp) -> Vec<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_party_partnerstack_click_sets_its_cookies_once_per_click_id() {
    for t in Harness::all_with(config()).await {
        let backend = t.backend;
        eprintln!("-- backend: {backend}");
        let r = t
            .send(click(
                "https://shop.example",
                "shop.example",
                "gsxid:abc",
                true,
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        let cid = r.body["cid"].as_str().expect("cid").to_string();
        let attrs = "; Path=/; Max-Age=2592000; SameSite=Lax; Secure";
        let cookies = set_cookies(&r);
        assert_eq!(
            cookies,
            vec![
                format!("trakdesk_cid={{\"tenantId\":\"shop\",\"cid\":\"{cid}\"}}{attrs}"),
                // base64("jane/doe+12 é"), what btoa of its UTF-8 bytes gives
                format!("gspk=amFuZS9kb2UrMTIgw6k={attrs}"),
                format!("gsxid={cid}{attrs}"),
                format!("growSumoPartnerKey=jane%2Fdoe%2B12%20%C3%A9{attrs}"),
            ],
            "{backend}"
        );

        // the same PartnerStack click id again: the first answer, the same cookies, one click
        let again = t
            .send(click(
                "https://shop.example",
                "shop.example",
                "gsxid:abc",
                true,
            ))
            .await;
        assert_eq!(again.status, StatusCode::OK, "{backend}");
        assert_eq!(again.body["cid"], Value::from(cid.clone()), "{backend}");
        assert_eq!(set_cookies(&again), cookies, "{backend}");
        let report = t.report("").await;
        let clicks: Vec<_> = report["affiliates"]
            .as_array()
            .expect("affiliates")
            .iter()
            .map(|a| (a["affiliate"].clone(), a["clicks"].clone()))
            .collect();
        assert_eq!(clicks, vec![(json!("jane"), json!(1))], "{backend}");

        // without the flag: trakdesk_cid only; from another origin: nothing
        let plain = t
            .send(click("https://shop.example", "shop.example", "e2", false))
            .await;
        assert_eq!(set_cookies(&plain).len(), 1, "{backend}");
        assert!(
            set_cookies(&plain)[0].starts_with("trakdesk_cid="),
            "{backend}"
        );
        let cross = t
            .send(click(
                "https://shop.example",
                "collector.example",
                "e3",
                true,
            ))
            .await;
        assert_eq!(cross.status, StatusCode::OK, "{backend}: {}", cross.body);
        assert!(set_cookies(&cross).is_empty(), "{backend}");
    }
}
