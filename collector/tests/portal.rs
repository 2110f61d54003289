//! The affiliate portal through the real router on SQLite and PostgreSQL: an admin
//! key makes a link, the link shows one affiliate's own figures, rotating or revoking kills the
//! old link, and no token, path or key shows another affiliate's or tenant's data.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clicktrail_collector::config::Config;
use common::{Harness, Resp};
use serde_json::{json, Value};

/// Two tenants: `acme` (affiliates alice and bob, no hold) and `other` (affiliate zed).
fn config() -> Config {
    Config::from_toml(
        r#"
[server]
rate_limit_per_second = 0
[[tenants]]
id = "acme"
api_key = "acme_key_123"
admin_key = "acme_admin_123"
hold_days = 0
allowed_origins = ["https://shop.example", "*"]
affiliates = ["alice", "bob"]
[tenants.conversion_types.sale]
revenue_share_percent = "30"
[[tenants]]
id = "other"
api_key = "other_key_123"
admin_key = "other_admin_123"
hold_days = 0
allowed_origins = ["https://other.example"]
affiliates = ["zed", "alice"]
[tenants.conversion_types.sale]
revenue_share_percent = "30"
"#,
    )
    .expect("config")
}

async fn call(t: &Harness, method: &str, path: &str, key: &str, body: Option<Value>) -> Resp {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {key}"));
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_default();
    t.send(req.body(body).expect("request")).await
}

async fn get(t: &Harness, path: &str) -> Resp {
    t.send(Request::get(path).body(Body::empty()).expect("request"))
        .await
}

async fn link(t: &Harness, key: &str, code: &str) -> String {
    let r = call(
        t,
        "POST",
        &format!("/api/v1/affiliates/{code}/portal-link"),
        key,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {}", t.backend, r.body);
    let token = r.body["token"].as_str().expect("token").to_string();
    assert_eq!(r.body["url"], format!("/portal/{token}"));
    assert_eq!(r.body["affiliate"], code);
    token
}

/// A click for `aff` of `tenant` and a sale of `cents` on it.
async fn click_and_sale(t: &Harness, tenant: &str, key: &str, aff: &str, txn: &str, cents: i64) {
    let r = t
        .post(
            "/tracking/click/v1",
            json!({"tenantId": tenant, "eventId": uuid::Uuid::new_v4().to_string(), "aff": aff})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", t.backend, r.body);
    let cid = r.body["cid"].as_str().expect("cid").to_string();
    let r = call(
        t,
        "POST",
        "/api/v1/track/sale",
        key,
        Some(json!({"click_id": cid, "transaction_id": txn, "amount_cents": cents, "currency": "USD"})),
    )
    .await;
    assert!(r.status.is_success(), "{}: {}", t.backend, r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_link_shows_one_affiliates_own_figures() {
    for t in Harness::all_with(config()).await {
        let b = t.backend;
        click_and_sale(&t, "acme", "acme_key_123", "alice", "a-1", 10000).await;
        click_and_sale(&t, "acme", "acme_key_123", "alice", "a-2", 5000).await;
        click_and_sale(&t, "acme", "acme_key_123", "bob", "bob-txn", 100000).await;
        // the other tenant has an affiliate with the same code and much more money
        click_and_sale(&t, "other", "other_key_123", "alice", "other-txn", 999900).await;
        click_and_sale(&t, "other", "other_key_123", "zed", "zed-txn", 77700).await;
        // alice is paid once, then a refund of half of a-2 reverses part of its commission
        let r = call(
            &t,
            "POST",
            "/api/v1/payouts",
            "acme_admin_123",
            Some(json!({"affiliate": "alice", "through": "2026-11-19"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let payout_id = r.body["payoutId"].as_i64().expect("payout id");

        let token = link(&t, "acme_admin_123", "alice").await;
        let page = get(&t, &format!("/portal/{token}")).await;
        assert_eq!(page.status, StatusCode::OK, "{b}");
        let html = String::from_utf8_lossy(&page.raw);
        assert!(html.contains("/portal.js"), "{b}: {html}");
        assert_eq!(page.headers["cache-control"], "no-store", "{b}");
        assert_eq!(page.headers["referrer-policy"], "no-referrer", "{b}");
        assert!(page.headers["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("script-src 'self'"));

        let d = get(&t, &format!("/portal/{token}.json")).await;
        assert_eq!(d.status, StatusCode::OK, "{b}: {}", d.body);
        let d = d.body;
        assert_eq!(d["affiliate"], "alice", "{b}");
        assert_eq!(
            d["links"],
            json!(["https://shop.example/?aff=alice"]),
            "{b}"
        );
        assert_eq!(d["totals"]["clicks"], 2, "{b}: {d}");
        assert_eq!(d["totals"]["conversions"], 2, "{b}: {d}");
        assert_eq!(d["totals"]["revenueCents"], 15_000, "{b}: {d}");
        // 30 % of 150.00, all paid
        assert_eq!(d["totals"]["commissionCents"], 4_500, "{b}: {d}");
        assert_eq!(
            d["ledger"],
            json!({"pendingCents": 0, "approvedCents": 0, "paidCents": 4_500, "reversedCents": 0}),
            "{b}"
        );
        let convs = d["conversions"].as_array().expect("conversions");
        assert_eq!(convs.len(), 2, "{b}: {d}");
        assert_eq!(convs[0]["amountCents"], 5_000, "{b}: newest first");
        assert_eq!(convs[0]["commissionCents"], 1_500, "{b}");
        assert_eq!(convs[1]["amountCents"], 10_000, "{b}");
        assert_eq!(d["payouts"][0]["payoutId"], payout_id, "{b}");
        assert_eq!(d["payouts"][0]["amountCents"], 4_500, "{b}");
        assert_eq!(d["payouts"].as_array().map(Vec::len), Some(1), "{b}");
        // nothing of bob's, the other tenant's alice or zed is anywhere in the answer (names
        // that cannot occur inside the answer's random UUIDs; amounts compared as numbers)
        let text = d.to_string();
        for foreign in ["bob", "zed", "other-txn", "acme_key"] {
            assert!(!text.contains(foreign), "{b}: `{foreign}` leaked: {text}");
        }
        fn numbers(v: &Value, out: &mut Vec<i64>) {
            match v {
                Value::Number(n) => out.extend(n.as_i64()),
                Value::Array(a) => a.iter().for_each(|x| numbers(x, out)),
                Value::Object(o) => o.values().for_each(|x| numbers(x, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        numbers(&d, &mut all);
        for foreign in [100_000, 30_000, 999_900, 299_970, 77_700, 23_310] {
            assert!(
                !all.contains(&foreign),
                "{b}: amount {foreign} leaked: {text}"
            );
        }

        // a refund after payment shows as reversed
        let r = call(
            &t,
            "POST",
            "/api/v1/track/refund",
            "acme_key_123",
            Some(json!({"transaction_id": "a-2", "refund_id": "r-1", "amount_cents": 2_500})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let d = get(&t, &format!("/portal/{token}.json")).await.body;
        assert_eq!(d["ledger"]["reversedCents"], 750, "{b}: {d}");
        assert_eq!(d["conversions"][0]["commissionCents"], 750, "{b}: {d}");
        assert_eq!(d["totals"]["commissionCents"], 3_750, "{b}: {d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_or_revoking_kills_the_old_link_and_keys_are_checked() {
    for t in Harness::all_with(config()).await {
        let b = t.backend;
        let first = link(&t, "acme_admin_123", "alice").await;
        let second = link(&t, "acme_admin_123", "alice").await;
        assert_ne!(first, second);
        assert_eq!(first.len(), 64, "{b}");
        let old = get(&t, &format!("/portal/{first}.json")).await;
        assert_eq!(old.status, StatusCode::NOT_FOUND, "{b}: {}", old.body);
        assert_eq!(
            old.body["error"]["code"], "unknown_portal_link",
            "{b}: {}",
            old.body
        );
        assert_eq!(
            get(&t, &format!("/portal/{first}")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get(&t, &format!("/portal/{second}.json")).await.status,
            StatusCode::OK
        );

        // each affiliate has its own link; bob's never shows alice
        let bob = link(&t, "acme_admin_123", "bob").await;
        let d = get(&t, &format!("/portal/{bob}.json")).await.body;
        assert_eq!(d["affiliate"], "bob", "{b}");
        assert_eq!(
            get(&t, &format!("/portal/{second}.json")).await.body["affiliate"],
            "alice"
        );

        // revoke: 204, then the link is dead and a second revoke is 404
        let path = "/api/v1/affiliates/alice/portal-link";
        assert_eq!(
            call(&t, "DELETE", path, "acme_admin_123", None)
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            get(&t, &format!("/portal/{second}.json")).await.status,
            StatusCode::NOT_FOUND
        );
        let again = call(&t, "DELETE", path, "acme_admin_123", None).await;
        assert_eq!(again.status, StatusCode::NOT_FOUND, "{b}: {}", again.body);
        assert_eq!(again.body["error"]["code"], "no_portal_link", "{b}");

        // only an admin key of the affiliate's own tenant makes or revokes links
        // (a valid key without the admin scope: 403; a wrong or missing key: 401)
        for (key, status) in [
            ("acme_key_123", StatusCode::FORBIDDEN),
            ("nope_123456", StatusCode::UNAUTHORIZED),
            ("", StatusCode::UNAUTHORIZED),
        ] {
            let r = call(&t, "POST", path, key, None).await;
            assert_eq!(r.status, status, "{b}: key `{key}`: {}", r.body);
        }
        let r = call(
            &t,
            "POST",
            "/api/v1/affiliates/bob/portal-link",
            "other_admin_123",
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "unknown_affiliate", "{b}");
        let r = call(
            &t,
            "DELETE",
            "/api/v1/affiliates/bob/portal-link",
            "other_admin_123",
            None,
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{b}: other tenant revoked bob's link"
        );
        assert_eq!(
            get(&t, &format!("/portal/{bob}.json")).await.status,
            StatusCode::OK
        );
        // the other tenant's `alice` is another person: its link shows only its own figures
        let other_alice = link(&t, "other_admin_123", "alice").await;
        assert_eq!(
            get(&t, &format!("/portal/{other_alice}.json")).await.body["links"],
            json!(["https://other.example/?aff=alice"])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_tokens_and_paths_show_nothing() {
    for t in Harness::all_with(config()).await {
        let b = t.backend;
        let real = link(&t, "acme_admin_123", "alice").await;
        let mut near = real.clone().into_bytes();
        near[63] = if near[63] == b'0' { b'1' } else { b'0' };
        let near = String::from_utf8(near).expect("ascii");
        let hash = clicktrail_domain::catalog::key_hash(&real);
        let upper = real.to_uppercase();
        for bad in [
            near.as_str(),
            hash.as_str(),
            upper.as_str(),
            "alice",
            "",
            "..%2f..%2fetc%2fpasswd",
            "%27%20OR%201%3D1%20--",
            "%00",
            &real[..63],
        ] {
            for suffix in ["", ".json"] {
                let r = get(&t, &format!("/portal/{bad}{suffix}")).await;
                assert!(
                    r.status == StatusCode::NOT_FOUND,
                    "{b}: `{bad}{suffix}` answered {}",
                    r.status
                );
                assert!(
                    !String::from_utf8_lossy(&r.raw).contains("aff=alice"),
                    "{b}"
                );
            }
        }
        // the portal takes no key in place of a token, and a key gives no portal
        let r = call(
            &t,
            "GET",
            &format!("/portal/{real}.json"),
            "other_admin_123",
            None,
        )
        .await;
        assert_eq!(r.body["affiliate"], "alice", "{b}: the token alone decides");
        let js = get(&t, "/portal.js").await;
        assert_eq!(js.status, StatusCode::OK, "{b}");
        assert!(js.headers["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/javascript"));
    }
}

/// The portal lists the affiliate's own coupon codes and partner keys (for PartnerStack-style
/// links), never another affiliate's or another tenant's.
#[tokio::test]
async fn the_portal_shows_only_the_affiliates_own_codes_and_partner_keys() {
    let text = r#"
[server]
rate_limit_per_second = 0
[[tenants]]
id = "acme"
api_key = "acme_key_123"
admin_key = "acme_admin_123"
allowed_origins = ["https://shop.example"]
affiliates = ["alice", "bob"]
affiliate_aliases = { "alice-ps" = "alice", "bob-ps" = "bob" }
[tenants.conversion_types.sale]
revenue_share_percent = "30"
[tenants.rules.coupons]
ALICE20 = "alice"
BOB10 = "bob"
[[tenants]]
id = "other"
api_key = "other_key_123"
admin_key = "other_admin_123"
allowed_origins = ["https://other.example"]
affiliates = ["alice"]
affiliate_aliases = { "alice-other" = "alice" }
[tenants.conversion_types.sale]
revenue_share_percent = "30"
[tenants.rules.coupons]
OTHER5 = "alice"
"#;
    for t in Harness::all_with(Config::from_toml(text).expect("config")).await {
        let b = t.backend;
        let token = link(&t, "acme_admin_123", "alice").await;
        let d = get(&t, &format!("/portal/{token}.json")).await.body;
        assert_eq!(d["couponCodes"], json!(["alice20"]), "{b}: {d}");
        assert_eq!(d["partnerKeys"], json!(["alice-ps"]), "{b}: {d}");
        let token = link(&t, "acme_admin_123", "bob").await;
        let d = get(&t, &format!("/portal/{token}.json")).await.body;
        assert_eq!(d["couponCodes"], json!(["bob10"]), "{b}: {d}");
        assert_eq!(d["partnerKeys"], json!(["bob-ps"]), "{b}: {d}");
    }
}
