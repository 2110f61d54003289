//! PartnerStack mode in first-party mode: a click through a partner key asks
//! for `"partnerstack": true` and the answer sets the cookies PartnerStackJS keeps beside
//! `trakdesk_cid` (`gspk` = Base64 of the key as sent; the key, percent-encoded, in
//! `growSumoPartnerKey`, `ps_partner_key`, `_ps_partner_key_<P>`, `_grsmpk<P>`; the CID in
//! `gsxid`, `ps_xid`, `_ps_xid_<P>_<C>`, `_gsxid<P><C>`), with the same attributes. The
//! tracker's event id for a partner-link click is `gsxid:<click id>:<CID>`: the same visitor
//! again is one click with the same cookies, two visitors of one link (a fixed click id) are
//! two clicks with two CIDs. Through the real router, on SQLite and PostgreSQL.

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
    click_as(origin, host, event, None, partnerstack)
}

/// A click proposing `cid` (the visitor's CID, as the tracker sends it).
fn click_as(
    origin: &str,
    host: &str,
    event: &str,
    cid: Option<&str>,
    partnerstack: bool,
) -> Request<Body> {
    let mut body = json!({"tenantId": "shop", "eventId": event, "aff": "jane/doe+12 é",
        "cookie": {"domain": null, "secure": true, "affitor": false, "partnerstack": partnerstack}});
    if let Some(cid) = cid {
        body["cid"] = json!(cid);
    }
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

const CID_A: &str = "0b6f7c1e-3c1d-4e7a-9b1f-2a3b4c5d6e7f";
const CID_B: &str = "5d2a9e40-8c1b-4f3e-a7d6-1e2f3a4b5c6d";

/// What the answer sets for a click of `cid` on tenant `shop` (tags computed independently:
/// `Pq6umY1o` = tag("shop", 8); `t1Fm` = tag(CID_A, 4)).
fn expected(cid: &str, c: &str) -> Vec<String> {
    let attrs = "; Path=/; Max-Age=2592000; SameSite=Lax; Secure";
    let key = "jane%2Fdoe%2B12%20%C3%A9";
    vec![
        format!("trakdesk_cid={{\"tenantId\":\"shop\",\"cid\":\"{cid}\"}}{attrs}"),
        // base64("jane/doe+12 é"), what btoa of its UTF-8 bytes gives
        format!("gspk=amFuZS9kb2UrMTIgw6k={attrs}"),
        format!("gsxid={cid}{attrs}"),
        format!("growSumoPartnerKey={key}{attrs}"),
        format!("ps_partner_key={key}{attrs}"),
        format!("ps_xid={cid}{attrs}"),
        format!("_ps_partner_key_Pq6umY1o={key}{attrs}"),
        format!("_grsmpkPq6umY1o={key}{attrs}"),
        format!("_ps_xid_Pq6umY1o_{c}={cid}{attrs}"),
        format!("_gsxidPq6umY1o{c}={cid}{attrs}"),
    ]
}

fn clicks(report: &Value) -> Vec<(Value, Value)> {
    report["affiliates"]
        .as_array()
        .expect("affiliates")
        .iter()
        .map(|a| (a["affiliate"].clone(), a["clicks"].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_party_partnerstack_click_sets_its_cookies_once_per_visitor_and_click_id() {
    for t in Harness::all_with(config()).await {
        let backend = t.backend;
        eprintln!("-- backend: {backend}");
        let (o, h) = ("https://shop.example", "shop.example");
        let event_a = format!("gsxid:abc:{CID_A}");
        let r = t.send(click_as(o, h, &event_a, Some(CID_A), true)).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        assert_eq!(r.body["cid"], Value::from(CID_A), "{backend}");
        let cookies = set_cookies(&r);
        assert_eq!(cookies, expected(CID_A, "t1Fm"), "{backend}");

        // the same visitor opens the link again (the same CID from the cookie): the first
        // answer, the same cookies, one click
        let again = t.send(click_as(o, h, &event_a, Some(CID_A), true)).await;
        assert_eq!(again.status, StatusCode::OK, "{backend}");
        assert_eq!(again.body["cid"], Value::from(CID_A), "{backend}");
        assert_eq!(set_cookies(&again), cookies, "{backend}");
        assert_eq!(
            clicks(&t.report("").await),
            vec![(json!("jane"), json!(1))],
            "{backend}"
        );

        // a second visitor of the same link (same click id, a CID of their own): a click of
        // their own, with their CID in every cookie
        let event_b = format!("gsxid:abc:{CID_B}");
        let b = t.send(click_as(o, h, &event_b, Some(CID_B), true)).await;
        assert_eq!(b.status, StatusCode::OK, "{backend}: {}", b.body);
        assert_eq!(b.body["cid"], Value::from(CID_B), "{backend}");
        let got = set_cookies(&b);
        assert_eq!(got.len(), 10, "{backend}");
        assert!(
            got.iter().skip(1).all(|c| !c.contains(CID_A)),
            "{backend}: {got:?}"
        );
        assert_eq!(got[0], expected(CID_B, "x")[0], "{backend}");
        assert_eq!(
            clicks(&t.report("").await),
            vec![(json!("jane"), json!(2))],
            "{backend}"
        );

        // without the flag: trakdesk_cid only; from another origin: nothing
        let plain = t.send(click(o, h, "e2", false)).await;
        assert_eq!(set_cookies(&plain).len(), 1, "{backend}");
        assert!(
            set_cookies(&plain)[0].starts_with("trakdesk_cid="),
            "{backend}"
        );
        let cross = t.send(click(o, "collector.example", "e3", true)).await;
        assert_eq!(cross.status, StatusCode::OK, "{backend}: {}", cross.body);
        assert!(set_cookies(&cross).is_empty(), "{backend}");
    }
}
