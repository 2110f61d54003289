//! Browser behaviour agreed with the tracker: the first-party cookie in the click answer, the
//! Affitor organic lead (a customer key and no CID), allowed origins on every browser route
//! (diagnostics included), bodies read whatever their Content-Type, and typed field errors.
//! Every test runs against every backend.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clicktrail_collector::config::Config;
use serde_json::{json, Value};

mod common;
use common::{Harness, Resp};

fn on(t: &Harness) -> &'static str {
    eprintln!("-- backend: {}", t.backend);
    t.backend
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A POST with these headers (`host`, `origin`...) and a JSON body sent as text/plain.
fn post(path: &str, headers: &[(&str, &str)], body: &Value) -> Request<Body> {
    let mut req = Request::post(path).header("content-type", "text/plain;charset=UTF-8");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Body::from(body.to_string())).expect("request")
}

fn set_cookies(r: &Resp) -> Vec<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_string())
        .collect()
}

/// Two tenants: `acme` allows only its shop's origins, cookie lifetime 30 days.
fn two_tenants() -> Config {
    Config::from_toml(
        r#"
[server]
rate_limit_per_second = 0
[[tenants]]
id = "acme"
api_key = "acme_key_123"
cookie_days = 30
allowed_origins = ["https://shop.example", "https://www.shop.example"]
affiliates = ["alice"]
[[tenants]]
id = "other"
api_key = "other_key_123"
allowed_origins = ["https://other.example"]
affiliates = ["zed"]
"#,
    )
    .expect("config")
}

// ------------------------------------------------------------------ first-party cookie

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_party_click_answer_sets_the_cookie() {
    for t in Harness::all_with(two_tenants()).await {
        let backend = on(&t);
        let same_origin = [("origin", "https://shop.example"), ("host", "shop.example")];
        let body = json!({"tenantId":"acme","eventId":uuid(),"aff":"alice",
            "cookie":{"domain":null,"secure":true,"affitor":false}});
        let r = t
            .send(post("/tracking/click/v1", &same_origin, &body))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        let cid = r.body["cid"].as_str().expect("cid").to_string();
        let cookies = set_cookies(&r);
        assert_eq!(
            cookies,
            vec![format!(
                "trakdesk_cid={{\"tenantId\":\"acme\",\"cid\":\"{cid}\"}}; Path=/; Max-Age=2592000; SameSite=Lax; Secure"
            )],
            "{backend}"
        );
        // the value is the raw JSON merchant code parses
        let value = cookies[0]
            .strip_prefix("trakdesk_cid=")
            .and_then(|c| c.split("; ").next())
            .expect("value");
        let parsed: Value = serde_json::from_str(value).expect("raw JSON, not URL-encoded");
        assert_eq!(parsed, json!({"tenantId":"acme","cid":cid}), "{backend}");

        // a retry of the same event learns the same CID and the same cookie
        let again = t
            .send(post("/tracking/click/v1", &same_origin, &body))
            .await;
        assert_eq!(set_cookies(&again), cookies, "{backend}");

        // Affitor mode, a parent domain, no Secure (http page): both cookies, same attributes
        let www = [
            ("origin", "https://www.shop.example"),
            ("host", "www.shop.example"),
        ];
        let body = json!({"tenantId":"acme","eventId":uuid(),"aff":"alice","cid":cid,
            "cookie":{"domain":".shop.example","secure":false,"affitor":true}});
        let r = t.send(post("/tracking/click/v1", &www, &body)).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        let attrs = "; Path=/; Max-Age=2592000; SameSite=Lax; Domain=shop.example";
        assert_eq!(
            set_cookies(&r),
            vec![
                format!("trakdesk_cid={{\"tenantId\":\"acme\",\"cid\":\"{cid}\"}}{attrs}"),
                format!("affitor_click_id={cid}{attrs}"),
            ],
            "{backend}"
        );
        for c in set_cookies(&r) {
            assert!(!c.contains("HttpOnly"), "{backend}: {c}");
        }

        // a Domain that is not the page's host or a parent of it is left out
        let body = json!({"tenantId":"acme","eventId":uuid(),"aff":"alice",
            "cookie":{"domain":"evil.example","secure":true,"affitor":false}});
        let r = t.send(post("/tracking/click/v1", &www, &body)).await;
        let c = set_cookies(&r);
        assert_eq!(c.len(), 1, "{backend}");
        assert!(!c[0].contains("Domain="), "{backend}: {}", c[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cookie_unless_asked_and_same_origin() {
    for t in Harness::all_with(two_tenants()).await {
        let backend = on(&t);
        let cookie = json!({"domain":null,"secure":true,"affitor":true});
        let cases: [(&[(&str, &str)], bool); 5] = [
            // the tracker on the collector's own host (third-party): no cookie
            (
                &[
                    ("origin", "https://shop.example"),
                    ("host", "collector.example"),
                ],
                true,
            ),
            // same host, other port
            (
                &[
                    ("origin", "https://shop.example"),
                    ("host", "shop.example:8443"),
                ],
                true,
            ),
            // no Origin (not a page)
            (&[("host", "shop.example")], true),
            // same origin, but the click did not ask
            (
                &[("origin", "https://shop.example"), ("host", "shop.example")],
                false,
            ),
            // same origin and asked: the control case
            (
                &[("origin", "https://shop.example"), ("host", "shop.example")],
                true,
            ),
        ];
        for (i, (headers, ask)) in cases.iter().enumerate() {
            let mut body = json!({"tenantId":"acme","eventId":uuid(),"aff":"alice"});
            if *ask {
                body["cookie"] = cookie.clone();
            }
            let r = t.send(post("/tracking/click/v1", headers, &body)).await;
            assert_eq!(r.status, StatusCode::OK, "{backend} case {i}: {}", r.body);
            let expected = if i == 4 { 2 } else { 0 };
            assert_eq!(set_cookies(&r).len(), expected, "{backend} case {i}");
        }
        // an unknown affiliate: a 404 and no cookie
        let r = t
            .send(post(
                "/tracking/click/v1",
                &[("origin", "https://shop.example"), ("host", "shop.example")],
                &json!({"tenantId":"acme","aff":"mallory","cookie":cookie}),
            ))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend}");
        assert!(set_cookies(&r).is_empty(), "{backend}");
        // a wrong cookie field is a 422 naming it
        let r = t
            .send(post(
                "/tracking/click/v1",
                &[],
                &json!({"tenantId":"acme","aff":"alice","cookie":{"secure":"yes"}}),
            ))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
        assert_eq!(r.body["error"]["field"], "cookie.secure", "{backend}");
    }
}

// ------------------------------------------------------------------ organic lead

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_lead_with_customer_key_and_no_cid() {
    for t in Harness::all().await {
        let backend = on(&t);
        // an Affitor organic sign-up: nobody referred this visitor (yet)
        let r = t
            .post(
                "/tracking/lead/v1",
                json!({"tenantId":"demo","eventId":uuid(),"customerKey":"organic_1","email":"o@example.com"})
                    .to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        assert_eq!(r.body, json!({"ok": true}), "{backend}");
        // the key names no click: a sale by it cannot be attributed
        let sale =
            json!({"transaction_id":"t_organic","amount_cents":1000,"customer_key":"organic_1"});
        let r = t.api("/api/v1/track/sale", sale.clone()).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{backend}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "unknown_customer", "{backend}");

        // later the same customer comes through an affiliate's link: the key is linked
        let click = t
            .post(
                "/tracking/click/v1",
                json!({"tenantId":"demo","eventId":uuid(),"aff":"alice"}).to_string(),
            )
            .await;
        let cid = click.body["cid"].as_str().expect("cid");
        let r = t
            .post(
                "/tracking/lead/v1",
                json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"customerKey":"organic_1"})
                    .to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        let r = t.api("/api/v1/track/sale", sale).await;
        assert_eq!(r.status, StatusCode::OK, "{backend}: {}", r.body);
        let rep = t.report("").await;
        assert_eq!(rep["affiliates"][0]["affiliate"], "alice", "{backend}");
        assert_eq!(
            rep["affiliates"][0]["revenueCents"], 1000,
            "{backend}: {rep}"
        );

        // neither cid nor customerKey: 422 naming customerKey
        let r = t
            .post(
                "/tracking/lead/v1",
                json!({"tenantId":"demo","eventId":uuid(),"email":"x@example.com"}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{backend}");
        assert_eq!(r.body["error"]["field"], "customerKey", "{backend}");
    }
}

// ------------------------------------------------------------------ origins everywhere

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_browser_route_enforces_allowed_origins() {
    for t in Harness::all_with(two_tenants()).await {
        let backend = on(&t);
        let evil = [("origin", "https://evil.example")];
        let cid = uuid();
        for (path, body) in [
            (
                "/tracking/click/v1",
                json!({"tenantId":"acme","aff":"alice"}),
            ),
            (
                "/tracking/conversion/v1",
                json!({"tenantId":"acme","cid":cid,"conversionTypeCode":"sale"}),
            ),
            (
                "/tracking/external-cid/v1",
                json!({"tenantId":"acme","cid":cid,"externalCid":"e","revenueOriginId":"r"}),
            ),
            (
                "/tracking/lead/v1",
                json!({"tenantId":"acme","customerKey":"k"}),
            ),
            (
                "/tracking/diagnostic/v1",
                json!({"tenantId":"acme","kind":"csp","message":"x"}),
            ),
        ] {
            let r = t.send(post(path, &evil, &body)).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{backend} {path}: {}",
                r.body
            );
            assert_eq!(
                r.body["error"]["code"], "origin_not_allowed",
                "{backend} {path}"
            );
            // and the refused page cannot read the answer
            assert!(
                r.headers.get("access-control-allow-origin").is_none(),
                "{backend} {path}"
            );
        }
        assert_eq!(
            t.store.diagnostics_count().await.expect("count"),
            0,
            "{backend}"
        );

        // the tenant's own page may report; so may anyone for an unknown tenant (kept without
        // a tenant, under the global cap)
        let ok = [("origin", "https://shop.example")];
        let body = json!({"tenantId":"acme","kind":"csp","message":"blocked"});
        let r = t.send(post("/tracking/diagnostic/v1", &ok, &body)).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{backend}");
        assert_eq!(
            r.headers["access-control-allow-origin"], "https://shop.example",
            "{backend}"
        );
        let body = json!({"tenantId":"nobody","kind":"init","message":"x"});
        let r = t.send(post("/tracking/diagnostic/v1", &evil, &body)).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{backend}");
        assert_eq!(
            t.store.diagnostics_count().await.expect("count"),
            2,
            "{backend}"
        );

        // preflight of the diagnostic route: 204, origin echoed only when allowed
        for (origin, allowed) in [
            ("https://shop.example", true),
            ("https://evil.example", false),
        ] {
            let r = t
                .send(
                    Request::options("/tracking/diagnostic/v1")
                        .header("origin", origin)
                        .header("access-control-request-method", "POST")
                        .body(Body::empty())
                        .expect("request"),
                )
                .await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{backend} {origin}");
            assert_eq!(
                r.headers.get("access-control-allow-origin").is_some(),
                allowed,
                "{backend} {origin}"
            );
        }
    }
}

// ------------------------------------------------------------------ bodies and field errors

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_json_whatever_the_content_type() {
    for t in Harness::all().await {
        let backend = on(&t);
        for ct in [
            None,
            Some("text/plain;charset=UTF-8"),
            Some("application/json"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let mut req = Request::post("/tracking/click/v1");
            if let Some(ct) = ct {
                req = req.header("content-type", ct);
            }
            let body = json!({"tenantId":"demo","eventId":uuid(),"aff":"alice"}).to_string();
            let r = t.send(req.body(Body::from(body)).expect("request")).await;
            assert_eq!(r.status, StatusCode::OK, "{backend} {ct:?}: {}", r.body);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_field_errors_name_their_path() {
    for t in Harness::all().await {
        let backend = on(&t);
        let cid = {
            let r = t
                .post(
                    "/tracking/click/v1",
                    json!({"tenantId":"demo","eventId":uuid(),"aff":"alice"}).to_string(),
                )
                .await;
            r.body["cid"].as_str().expect("cid").to_string()
        };
        let long = "x".repeat(2049);
        for (extra, field) in [
            (json!({"couponCodes":["SPRING", 5]}), "couponCodes[1]"),
            (json!({"couponCodes":{"a":1}}), "couponCodes"),
            (json!({"customParams":{"advS1":long}}), "customParams.advS1"),
            (json!({"customParams":"advS1"}), "customParams"),
            (json!({"amount":"100"}), "amount"),
            (json!({"externalId":"a\u{0000}b"}), "externalId"),
        ] {
            let mut body =
                json!({"tenantId":"demo","eventId":uuid(),"cid":cid,"conversionTypeCode":"sale"});
            for (k, v) in extra.as_object().expect("object") {
                body[k] = v.clone();
            }
            let r = t.post("/tracking/conversion/v1", body.to_string()).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{backend} {extra}: {}",
                r.body
            );
            assert_eq!(
                r.body["error"]["code"], "invalid_field",
                "{backend} {extra}"
            );
            assert_eq!(r.body["error"]["field"], field, "{backend} {extra}");
            let message = r.body["error"]["message"].as_str().expect("message");
            assert!(
                message.starts_with(&format!("`{field}`: ")),
                "{backend}: {message}"
            );
        }
        assert_eq!(t.report("").await["totals"]["conversions"], 0, "{backend}");
    }
}
