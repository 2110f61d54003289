//! The admin API through the real router on SQLite and PostgreSQL: every route, its
//! statuses (201 / 200 / 400 / 401 / 403 / 404 / 409 / 422), the audit log, the catalog version
//! every change bumps (a second collector's snapshot sees it), and tenant isolation: an admin
//! key of tenant `a` neither sees nor changes anything of tenant `b`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clicktrail_collector::catalog::CatalogHandle;
use clicktrail_collector::config::Config;
use serde_json::{json, Value};

mod common;
use common::{Harness, Resp, NOW};

const A_ADMIN: &str = "a_admin_key_1";
const A_API: &str = "a_api_key_12";
const B_ADMIN: &str = "b_admin_key_1";
const B_API: &str = "b_api_key_12";
const TOKEN: &str = "operator-token-0123456789";
const ORIGIN_A: &str = "11111111-2222-4333-8444-555555555555";

/// Two tenants with their ingest+read and admin keys; `a` allows one shop origin.
fn two_tenants() -> Config {
    Config::from_toml(&format!(
        r#"
[server]
rate_limit_per_second = 0
[[tenants]]
id = "a"
api_key = "{A_API}"
admin_key = "{A_ADMIN}"
hold_days = 0
allowed_origins = ["https://shop-a.example"]
affiliates = ["alice"]
revenue_origins = ["{ORIGIN_A}"]
[tenants.conversion_types.sale]
revenue_share_percent = "30"
[tenants.conversion_types.signup]
fixed = "5.00"
[[tenants]]
id = "b"
api_key = "{B_API}"
admin_key = "{B_ADMIN}"
hold_days = 0
allowed_origins = ["https://shop-b.example"]
affiliates = ["bob"]
[tenants.conversion_types.sale]
revenue_share_percent = "10"
"#
    ))
    .expect("config")
}

async fn harnesses(token: Option<&str>) -> Vec<Harness> {
    let mut out = Vec::new();
    for store in common::stores().await {
        out.push(Harness::new_token(two_tenants(), store, false, token).await);
    }
    out
}

async fn call(
    t: &Harness,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    t.send(req.body(body).expect("request")).await
}

fn code(r: &Resp) -> &str {
    r.body["error"]["code"].as_str().unwrap_or("")
}

/// A browser click from `origin` for `aff` on tenant `tenant`.
async fn click(t: &Harness, tenant: &str, origin: &str, aff: &str) -> Resp {
    let req = Request::post("/tracking/click/v1")
        .header("content-type", "text/plain;charset=UTF-8")
        .header("origin", origin)
        .body(Body::from(
            json!({"tenantId": tenant, "aff": aff, "eventId": uuid::Uuid::new_v4().to_string(),
                   "url": format!("{origin}/?aff={aff}")})
            .to_string(),
        ))
        .expect("request");
    t.send(req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn affiliates_create_list_update_disable() {
    for t in harnesses(None).await {
        let b = t.backend;
        // no key, a key without admin scope
        let r = call(
            &t,
            "POST",
            "/api/v1/affiliates",
            None,
            Some(json!({"code":"carol"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{b}");
        let r = call(
            &t,
            "POST",
            "/api/v1/affiliates",
            Some(A_API),
            Some(json!({"code":"carol"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{b}: {}", r.body);
        assert_eq!(
            r.body["error"]["code"], "insufficient_scope",
            "{b}: {}",
            r.body
        );
        // bad input
        for (body, field) in [
            (json!({}), "code"),
            (json!({"code": ""}), "code"),
            (json!({"code": " carol"}), "code"),
            (json!({"code": "car\u{7}ol"}), "code"),
            (json!({"code": "x".repeat(129)}), "code"),
            (json!({"code": 5}), "code"),
            (json!({"code": "carol", "name": "n".repeat(201)}), "name"),
        ] {
            let r = call(
                &t,
                "POST",
                "/api/v1/affiliates",
                Some(A_ADMIN),
                Some(body.clone()),
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{b} {body}: {}",
                r.body
            );
            assert_eq!(r.body["error"]["field"], field, "{b} {body}");
        }
        let req = Request::post("/api/v1/affiliates")
            .header("authorization", format!("Bearer {A_ADMIN}"))
            .body(Body::from("{\"code\":"))
            .expect("request");
        assert_eq!(t.send(req).await.status, StatusCode::BAD_REQUEST, "{b}");

        // the click is refused before the affiliate exists
        let r = click(&t, "a", "https://shop-a.example", "carol").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}: {}", r.body);

        let v0 = t.store.catalog_version().await.expect("version");
        let r = call(
            &t,
            "POST",
            "/api/v1/affiliates",
            Some(A_ADMIN),
            Some(json!({"code":"carol","name":"Carol C."})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
        assert_eq!(r.body["code"], "carol", "{b}");
        assert_eq!(r.body["name"], "Carol C.", "{b}");
        assert_eq!(r.body["disabled"], false, "{b}");
        assert!(
            t.store.catalog_version().await.expect("version") > v0,
            "{b}"
        );
        // this collector sees it at once
        let r = click(&t, "a", "https://shop-a.example", "carol").await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        // duplicate
        let r = call(
            &t,
            "POST",
            "/api/v1/affiliates",
            Some(A_ADMIN),
            Some(json!({"code":"carol"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{b}");
        assert_eq!(code(&r), "duplicate_affiliate", "{b}");

        // list: read keys too, in creation order
        let r = call(&t, "GET", "/api/v1/affiliates", Some(A_API), None).await;
        assert_eq!(r.status, StatusCode::OK, "{b}");
        let codes: Vec<&str> = r.body["affiliates"]
            .as_array()
            .expect("list")
            .iter()
            .map(|a| a["code"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(codes, ["alice", "carol"], "{b}");

        // update: name, then clear it
        let r = call(
            &t,
            "PATCH",
            "/api/v1/affiliates/carol",
            Some(A_ADMIN),
            Some(json!({"name":"Carol"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(r.body["name"], "Carol", "{b}");
        let r = call(
            &t,
            "PATCH",
            "/api/v1/affiliates/carol",
            Some(A_ADMIN),
            Some(json!({"name":null})),
        )
        .await;
        assert_eq!(r.body["name"], Value::Null, "{b}: {}", r.body);
        let r = call(
            &t,
            "PATCH",
            "/api/v1/affiliates/carol",
            Some(A_ADMIN),
            Some(json!({})),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let r = call(
            &t,
            "PATCH",
            "/api/v1/affiliates/carol",
            Some(A_ADMIN),
            Some(json!({"disabled":"yes"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let r = call(
            &t,
            "PATCH",
            "/api/v1/affiliates/nobody",
            Some(A_ADMIN),
            Some(json!({"disabled":true})),
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}");
        assert_eq!(code(&r), "unknown_affiliate", "{b}");

        // disable: no new clicks; the code and its history stay
        let r = call(
            &t,
            "PATCH",
            "/api/v1/affiliates/carol",
            Some(A_ADMIN),
            Some(json!({"disabled":true})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}");
        assert_eq!(r.body["disabled"], true, "{b}");
        let r = click(&t, "a", "https://shop-a.example", "carol").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}: {}", r.body);
        let r = call(
            &t,
            "GET",
            "/api/v1/events?kind=click&affiliate=carol",
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(
            r.body["events"].as_array().map(Vec::len),
            Some(1),
            "{b}: {}",
            r.body
        );
        let r = call(&t, "GET", "/api/v1/affiliates", Some(A_ADMIN), None).await;
        assert_eq!(r.body["affiliates"][1]["disabled"], true, "{b}");
        // re-enabled: clicks again
        call(
            &t,
            "PATCH",
            "/api/v1/affiliates/carol",
            Some(A_ADMIN),
            Some(json!({"disabled":false})),
        )
        .await;
        let r = click(&t, "a", "https://shop-a.example", "carol").await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
    }
}

/// Another collector on the same database sees a change at its next refresh (each polls the
/// version every second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_reaches_another_collector() {
    for t in harnesses(None).await {
        let b = t.backend;
        let other = Arc::new(CatalogHandle::load(t.store.as_ref()).await.expect("load"));
        assert!(
            !other.get().tenant("a").expect("a").has_affiliate("dave"),
            "{b}"
        );
        let r = call(
            &t,
            "POST",
            "/api/v1/affiliates",
            Some(A_ADMIN),
            Some(json!({"code":"dave"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}");
        assert!(
            other.refresh(t.store.as_ref()).await.expect("refresh"),
            "{b}"
        );
        assert!(
            other.get().tenant("a").expect("a").has_affiliate("dave"),
            "{b}"
        );
        assert!(
            !other.get().tenant("b").expect("b").has_affiliate("dave"),
            "{b}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversion_types_create_list_update() {
    for t in harnesses(None).await {
        let b = t.backend;
        let r = call(&t, "GET", "/api/v1/conversion-types", Some(A_API), None).await;
        assert_eq!(r.status, StatusCode::OK, "{b}");
        assert_eq!(
            r.body["conversion_types"],
            json!([{"code":"sale","revenue_share_percent":"30"},{"code":"signup","fixed":"5.00"}]),
            "{b}"
        );
        assert_eq!(r.body["sale_conversion_type"], "sale", "{b}");
        for body in [
            json!({"code":"trial"}),
            json!({"code":"trial","fixed":"1","revenue_share_percent":"2"}),
            json!({"code":"trial","fixed":"abc"}),
            json!({"code":"trial","revenue_share_percent":"101"}),
            json!({"code":"trial","fixed":true}),
            json!({"fixed":"1.00"}),
        ] {
            let r = call(
                &t,
                "POST",
                "/api/v1/conversion-types",
                Some(A_ADMIN),
                Some(body.clone()),
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{b} {body}: {}",
                r.body
            );
        }
        let r = call(
            &t,
            "POST",
            "/api/v1/conversion-types",
            Some(A_ADMIN),
            Some(json!({"code":"trial","fixed":2.5})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
        assert_eq!(r.body, json!({"code":"trial","fixed":"2.50"}), "{b}");
        let r = call(
            &t,
            "POST",
            "/api/v1/conversion-types",
            Some(A_ADMIN),
            Some(json!({"code":"trial","fixed":"3"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{b}");
        assert_eq!(code(&r), "duplicate_conversion_type", "{b}");
        let r = call(
            &t,
            "PATCH",
            "/api/v1/conversion-types/trial",
            Some(A_ADMIN),
            Some(json!({"revenue_share_percent":"12.5"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(
            r.body,
            json!({"code":"trial","revenue_share_percent":"12.5"}),
            "{b}"
        );
        let r = call(
            &t,
            "PATCH",
            "/api/v1/conversion-types/nope",
            Some(A_ADMIN),
            Some(json!({"fixed":"1"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}");
        assert_eq!(code(&r), "unknown_conversion_type", "{b}");
        let r = call(
            &t,
            "PATCH",
            "/api/v1/conversion-types/trial",
            Some(A_API),
            Some(json!({"fixed":"1"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{b}");
        let r = call(&t, "GET", "/api/v1/conversion-types", Some(A_ADMIN), None).await;
        assert_eq!(
            r.body["conversion_types"][2],
            json!({"code":"trial","revenue_share_percent":"12.5"}),
            "{b}"
        );
        // the new type is used by the tracker route at once
        let cid = click(&t, "a", "https://shop-a.example", "alice").await.body["cid"]
            .as_str()
            .expect("cid")
            .to_string();
        let req = Request::post("/tracking/conversion/v1")
            .header("origin", "https://shop-a.example")
            .body(Body::from(json!({"tenantId":"a","cid":cid,"conversionTypeCode":"trial","amount":{"value":"10.00"},"externalId":"t1"}).to_string()))
            .expect("request");
        let r = t.send(req).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(r.body["commission"]["value"], "1.25", "{b}: {}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revenue_and_allowed_origins() {
    for t in harnesses(None).await {
        let b = t.backend;
        let r = call(&t, "GET", "/api/v1/revenue-origins", Some(A_API), None).await;
        assert_eq!(r.body["revenue_origins"], json!([ORIGIN_A]), "{b}");
        let new = "AAAAAAAA-2222-4333-8444-555555555555";
        let r = call(
            &t,
            "POST",
            "/api/v1/revenue-origins",
            Some(A_ADMIN),
            Some(json!({"id": new})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
        assert_eq!(r.body["id"], new.to_ascii_lowercase(), "{b}");
        let r = call(
            &t,
            "POST",
            "/api/v1/revenue-origins",
            Some(A_ADMIN),
            Some(json!({"id": new})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{b}");
        let r = call(
            &t,
            "POST",
            "/api/v1/revenue-origins",
            Some(A_ADMIN),
            Some(json!({"id": "not-a-uuid"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(
            t.catalog
                .get()
                .tenant("a")
                .expect("a")
                .has_revenue_origin(new),
            "{b}"
        );
        let r = call(
            &t,
            "DELETE",
            &format!("/api/v1/revenue-origins/{new}"),
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let r = call(
            &t,
            "DELETE",
            &format!("/api/v1/revenue-origins/{new}"),
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}");
        assert_eq!(code(&r), "unknown_revenue_origin", "{b}");

        // allowed origins: a new shop may click once added, and not after removal
        let r = click(&t, "a", "https://new-shop.example", "alice").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{b}");
        for bad in [
            "ftp://x.example",
            "https://x.example/path",
            "shop.example",
            "https://",
            "https://a b",
            "https://x.example:99999",
        ] {
            let r = call(
                &t,
                "POST",
                "/api/v1/allowed-origins",
                Some(A_ADMIN),
                Some(json!({"origin": bad})),
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{b} {bad}: {}",
                r.body
            );
        }
        let r = call(
            &t,
            "POST",
            "/api/v1/allowed-origins",
            Some(A_ADMIN),
            Some(json!({"origin": "https://New-Shop.example/"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
        assert_eq!(r.body["origin"], "https://new-shop.example", "{b}");
        let r = call(
            &t,
            "POST",
            "/api/v1/allowed-origins",
            Some(A_ADMIN),
            Some(json!({"origin": "https://new-shop.example"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{b}");
        let r = click(&t, "a", "https://new-shop.example", "alice").await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let r = call(&t, "GET", "/api/v1/allowed-origins", Some(A_API), None).await;
        assert_eq!(
            r.body["allowed_origins"],
            json!(["https://shop-a.example", "https://new-shop.example"]),
            "{b}"
        );
        let r = call(
            &t,
            "DELETE",
            "/api/v1/allowed-origins?origin=https://new-shop.example",
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let r = call(
            &t,
            "DELETE",
            "/api/v1/allowed-origins?origin=https://new-shop.example",
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}");
        let r = call(&t, "DELETE", "/api/v1/allowed-origins", Some(A_ADMIN), None).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let r = click(&t, "a", "https://new-shop.example", "alice").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_shown_once_listed_without_secret_and_revoked() {
    for t in harnesses(None).await {
        let b = t.backend;
        for body in [
            json!({"scopes": []}),
            json!({"scopes": ["root"]}),
            json!({}),
            json!({"scopes": "read"}),
        ] {
            let r = call(
                &t,
                "POST",
                "/api/v1/keys",
                Some(A_ADMIN),
                Some(body.clone()),
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{b} {body}: {}",
                r.body
            );
        }
        let r = call(
            &t,
            "POST",
            "/api/v1/keys",
            Some(A_API),
            Some(json!({"scopes":["read"]})),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{b}");
        let r = call(
            &t,
            "POST",
            "/api/v1/keys",
            Some(A_ADMIN),
            Some(json!({"scopes":["read"],"label":"dashboard"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
        let secret = r.body["key"].as_str().expect("key").to_string();
        let id = r.body["id"].as_str().expect("id").to_string();
        assert!(
            secret.starts_with("ct_read_") && secret.len() > 70,
            "{b}: {secret}"
        );
        // the new key reads, and may not write
        let r = call(&t, "GET", "/api/v1/report", Some(&secret), None).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let r = call(&t, "GET", "/api/v1/whoami", Some(&secret), None).await;
        assert_eq!(r.body["scopes"], json!(["read"]), "{b}");
        assert_eq!(r.body["key_id"], id, "{b}");
        assert_eq!(r.body["tenant"], "a", "{b}");
        let r = call(
            &t,
            "POST",
            "/api/v1/affiliates",
            Some(&secret),
            Some(json!({"code":"x"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{b}");
        // listed without the secret (nor its hash)
        let r = call(&t, "GET", "/api/v1/keys", Some(A_ADMIN), None).await;
        assert_eq!(r.status, StatusCode::OK, "{b}");
        let raw = String::from_utf8_lossy(&r.raw).to_string();
        assert!(!raw.contains(&secret), "{b}");
        assert!(
            !raw.contains(&clicktrail_domain::catalog::key_hash(&secret)),
            "{b}"
        );
        let keys = r.body["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 3, "{b}: {raw}");
        let mine = keys
            .iter()
            .find(|k| k["id"] == id.as_str())
            .expect("listed");
        assert_eq!(mine["scopes"], json!(["read"]), "{b}");
        assert_eq!(mine["label"], "dashboard", "{b}");
        assert_eq!(mine["revoked_at"], Value::Null, "{b}");
        assert_eq!(mine["created_at"], NOW, "{b}");
        // the list is admin only
        let r = call(&t, "GET", "/api/v1/keys", Some(A_API), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{b}");
        // revoke: refused from then on; twice is a 409; unknown 404; not the key in use
        let r = call(
            &t,
            "DELETE",
            &format!("/api/v1/keys/{id}"),
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let r = call(&t, "GET", "/api/v1/report", Some(&secret), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{b}");
        let r = call(
            &t,
            "DELETE",
            &format!("/api/v1/keys/{id}"),
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{b}");
        assert_eq!(code(&r), "key_revoked", "{b}");
        let r = call(
            &t,
            "DELETE",
            "/api/v1/keys/key_0000000000000000",
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}");
        let me = call(&t, "GET", "/api/v1/whoami", Some(A_ADMIN), None)
            .await
            .body["key_id"]
            .as_str()
            .expect("id")
            .to_string();
        let r = call(
            &t,
            "DELETE",
            &format!("/api/v1/keys/{me}"),
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{b}");
        assert_eq!(code(&r), "own_key", "{b}");
        let r = call(&t, "GET", "/api/v1/keys", Some(A_ADMIN), None).await;
        let mine = r.body["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["id"] == id.as_str())
            .cloned()
            .expect("listed");
        assert_eq!(mine["revoked_at"], NOW, "{b}");
        // an admin key made through the API administers
        let r = call(
            &t,
            "POST",
            "/api/v1/keys",
            Some(A_ADMIN),
            Some(json!({"scopes":["admin"]})),
        )
        .await;
        let admin2 = r.body["key"].as_str().expect("key").to_string();
        let r = call(
            &t,
            "POST",
            "/api/v1/affiliates",
            Some(&admin2),
            Some(json!({"code":"erin"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_names_who_when_what() {
    for t in harnesses(None).await {
        let b = t.backend;
        let me = call(&t, "GET", "/api/v1/whoami", Some(A_ADMIN), None)
            .await
            .body["key_id"]
            .as_str()
            .expect("id")
            .to_string();
        call(
            &t,
            "POST",
            "/api/v1/affiliates",
            Some(A_ADMIN),
            Some(json!({"code":"carol"})),
        )
        .await;
        t.advance(5);
        call(
            &t,
            "PATCH",
            "/api/v1/affiliates/carol",
            Some(A_ADMIN),
            Some(json!({"disabled":true})),
        )
        .await;
        // a refused change is not audited
        call(
            &t,
            "POST",
            "/api/v1/affiliates",
            Some(A_ADMIN),
            Some(json!({"code":"carol"})),
        )
        .await;
        call(
            &t,
            "POST",
            "/api/v1/keys",
            Some(A_ADMIN),
            Some(json!({"scopes":["ingest"]})),
        )
        .await;
        let r = call(&t, "GET", "/api/v1/audit", Some(A_ADMIN), None).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let rows = r.body["audit"].as_array().expect("rows");
        assert_eq!(rows.len(), 3, "{b}: {}", r.body);
        assert_eq!(rows[2]["actor"], me.as_str(), "{b}");
        assert_eq!(rows[2]["action"], "POST /api/v1/affiliates", "{b}");
        assert_eq!(rows[2]["summary"], "created affiliate `carol`", "{b}");
        assert_eq!(rows[2]["created_at"], NOW, "{b}");
        assert_eq!(rows[1]["action"], "PATCH /api/v1/affiliates/carol", "{b}");
        assert_eq!(rows[1]["summary"], "affiliate `carol`: disabled", "{b}");
        assert_eq!(rows[1]["created_at"], NOW + 5, "{b}");
        assert!(
            rows[0]["summary"]
                .as_str()
                .unwrap_or("")
                .starts_with("created key `key_"),
            "{b}"
        );
        // no secret in the audit log
        assert!(
            !String::from_utf8_lossy(&r.raw).contains("ct_ingest_"),
            "{b}"
        );
        // paging
        let r = call(
            &t,
            "GET",
            "/api/v1/audit?limit=2&offset=2",
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(r.body["audit"].as_array().map(Vec::len), Some(1), "{b}");
        assert_eq!(r.body["next_offset"], Value::Null, "{b}");
        let r = call(&t, "GET", "/api/v1/audit?limit=0", Some(A_ADMIN), None).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        // admin only
        let r = call(&t, "GET", "/api/v1/audit", Some(A_API), None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_events_and_diagnostics_with_filters() {
    for t in harnesses(None).await {
        let b = t.backend;
        let cid = click(&t, "a", "https://shop-a.example", "alice").await.body["cid"]
            .as_str()
            .expect("cid")
            .to_string();
        t.advance(10);
        let r = call(
            &t,
            "POST",
            "/api/v1/track/lead",
            Some(A_API),
            Some(json!({"click_id": cid, "customer_key":"cus_1"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        t.advance(10);
        let r = call(
            &t,
            "POST",
            "/api/v1/track/sale",
            Some(A_API),
            Some(json!({"transaction_id":"tx1","amount_cents":10000,"customer_key":"cus_1"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        t.advance(10);
        let r = call(
            &t,
            "POST",
            "/api/v1/track/refund",
            Some(A_API),
            Some(json!({"transaction_id":"tx1","refund_id":"re1","amount_cents":2500})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        t.advance(10);
        let req = Request::post("/tracking/diagnostic/v1")
            .header("origin", "https://shop-a.example")
            .body(Body::from(json!({"tenantId":"a","kind":"csp","message":"blocked","url":"https://shop-a.example/"}).to_string()))
            .expect("request");
        assert_eq!(t.send(req).await.status, StatusCode::NO_CONTENT, "{b}");
        // tenant b's traffic is not a's
        click(&t, "b", "https://shop-b.example", "bob").await;

        let r = call(&t, "GET", "/api/v1/events", Some(A_API), None).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let kinds: Vec<&str> = r.body["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            kinds,
            ["diagnostic", "refund", "sale", "lead", "click"],
            "{b}: {}",
            r.body
        );
        let ev = &r.body["events"];
        assert_eq!(ev[4]["affiliate"], "alice", "{b}");
        assert_eq!(ev[4]["reference"], cid.as_str(), "{b}");
        assert_eq!(ev[2]["reference"], "tx1", "{b}");
        assert_eq!(ev[2]["amount_cents"], 10000, "{b}");
        assert_eq!(ev[2]["affiliate"], "alice", "{b}");
        assert_eq!(ev[1]["reference"], "re1", "{b}");
        assert_eq!(ev[1]["amount_cents"], 2500, "{b}");
        assert_eq!(ev[0]["detail"], "blocked", "{b}");
        assert_eq!(ev[4]["created_at"], NOW, "{b}");
        // filters
        let r = call(
            &t,
            "GET",
            "/api/v1/events?kind=sale,refund",
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(
            r.body["events"].as_array().map(Vec::len),
            Some(2),
            "{b}: {}",
            r.body
        );
        let r = call(
            &t,
            "GET",
            &format!("/api/v1/events?since={}", NOW + 15),
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(
            r.body["events"].as_array().map(Vec::len),
            Some(3),
            "{b}: {}",
            r.body
        );
        let r = call(
            &t,
            "GET",
            "/api/v1/events?affiliate=alice",
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(
            r.body["events"].as_array().map(Vec::len),
            Some(4),
            "{b}: {}",
            r.body
        );
        let r = call(
            &t,
            "GET",
            "/api/v1/events?affiliate=bob",
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(r.body["events"], json!([]), "{b}: {}", r.body);
        let r = call(
            &t,
            "GET",
            "/api/v1/events?since=2026-11-19",
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(r.body["events"].as_array().map(Vec::len), Some(5), "{b}");
        let r = call(
            &t,
            "GET",
            "/api/v1/events?since=2099-01-01T00:00:00Z",
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(r.body["events"], json!([]), "{b}");
        // pages
        let r = call(&t, "GET", "/api/v1/events?limit=2", Some(A_ADMIN), None).await;
        assert_eq!(r.body["events"].as_array().map(Vec::len), Some(2), "{b}");
        assert_eq!(r.body["next_offset"], 2, "{b}");
        let r = call(
            &t,
            "GET",
            "/api/v1/events?limit=2&offset=4",
            Some(A_ADMIN),
            None,
        )
        .await;
        assert_eq!(r.body["events"][0]["kind"], "click", "{b}");
        assert_eq!(r.body["next_offset"], Value::Null, "{b}");
        for bad in [
            "kind=nope",
            "limit=501",
            "limit=x",
            "offset=-1",
            "since=yesterday",
        ] {
            let r = call(
                &t,
                "GET",
                &format!("/api/v1/events?{bad}"),
                Some(A_ADMIN),
                None,
            )
            .await;
            assert!(r.status.is_client_error(), "{b} {bad}: {}", r.status);
        }
        let r = call(&t, "GET", "/api/v1/events", None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{b}");
        // b sees only its click
        let r = call(&t, "GET", "/api/v1/events", Some(B_API), None).await;
        let kinds: Vec<&str> = r.body["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(kinds, ["click"], "{b}");

        // diagnostics
        let r = call(&t, "GET", "/api/v1/diagnostics", Some(A_API), None).await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(r.body["diagnostics"][0]["kind"], "csp", "{b}");
        assert_eq!(r.body["diagnostics"][0]["message"], "blocked", "{b}");
        let r = call(
            &t,
            "GET",
            "/api/v1/diagnostics?kind=init",
            Some(A_API),
            None,
        )
        .await;
        assert_eq!(r.body["diagnostics"], json!([]), "{b}");
        let r = call(
            &t,
            "GET",
            "/api/v1/diagnostics?kind=csp,init",
            Some(A_API),
            None,
        )
        .await;
        assert_eq!(
            r.body["diagnostics"].as_array().map(Vec::len),
            Some(1),
            "{b}"
        );
        let r = call(&t, "GET", "/api/v1/diagnostics", Some(B_ADMIN), None).await;
        assert_eq!(r.body["diagnostics"], json!([]), "{b}");
    }
}

/// A rejected tracker request (one tenant: it is that tenant's) shows in the event log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_tracker_requests_show_in_the_event_log() {
    for t in Harness::all().await {
        let b = t.backend;
        let r = t
            .post(
                "/tracking/click/v1",
                json!({"aff":"nobody","eventId":uuid::Uuid::new_v4().to_string()}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}");
        let r = call(
            &t,
            "GET",
            "/api/v1/events?kind=rejected",
            Some("demo_admin_key"),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let ev = &r.body["events"];
        assert_eq!(ev.as_array().map(Vec::len), Some(1), "{b}: {}", r.body);
        let detail = ev[0]["detail"].as_str().unwrap_or("");
        assert!(
            detail.starts_with("404 /tracking/click/v1 unknown_affiliate"),
            "{b}: {detail}"
        );
        // and not among the loader diagnostics of `kind=diagnostic`
        let r = call(
            &t,
            "GET",
            "/api/v1/events?kind=diagnostic",
            Some("demo_admin_key"),
            None,
        )
        .await;
        assert_eq!(r.body["events"], json!([]), "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_token_creates_tenants() {
    // without CLICKTRAIL_ADMIN_TOKEN nobody may
    for t in harnesses(None).await {
        let r = call(
            &t,
            "POST",
            "/api/v1/tenants",
            Some(TOKEN),
            Some(json!({"id":"c"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", t.backend);
    }
    for t in harnesses(Some(TOKEN)).await {
        let b = t.backend;
        for key in [None, Some("wrong-token-0123456789"), Some(A_ADMIN)] {
            let r = call(&t, "POST", "/api/v1/tenants", key, Some(json!({"id":"c"}))).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{b} {key:?}");
        }
        for body in [
            json!({"id":""}),
            json!({"id":"a b"}),
            json!({"id":"c","currency":"dollars"}),
            json!({"id":"c","cookie_days":0}),
            json!({"id":"c","hold_days":-1}),
            json!({"id":"c","allowed_origins":["nope"]}),
            json!({"id":"c","sale_revenue_share_percent":"200"}),
        ] {
            let r = call(
                &t,
                "POST",
                "/api/v1/tenants",
                Some(TOKEN),
                Some(body.clone()),
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{b} {body}: {}",
                r.body
            );
        }
        let r = call(
            &t,
            "POST",
            "/api/v1/tenants",
            Some(TOKEN),
            Some(json!({"id":"c","allowed_origins":["https://c.example"],"hold_days":0})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
        let key = r.body["admin_key"]["key"]
            .as_str()
            .expect("key")
            .to_string();
        let r2 = call(
            &t,
            "POST",
            "/api/v1/tenants",
            Some(TOKEN),
            Some(json!({"id":"c"})),
        )
        .await;
        assert_eq!(r2.status, StatusCode::CONFLICT, "{b}");
        assert_eq!(code(&r2), "duplicate_tenant", "{b}");
        let r2 = call(
            &t,
            "POST",
            "/api/v1/tenants",
            Some(TOKEN),
            Some(json!({"id":"a"})),
        )
        .await;
        assert_eq!(r2.status, StatusCode::CONFLICT, "{b}");
        // the first admin key runs the new tenant, and only it
        let r = call(&t, "GET", "/api/v1/whoami", Some(&key), None).await;
        assert_eq!(r.body["tenant"], "c", "{b}");
        assert_eq!(r.body["scopes"], json!(["admin"]), "{b}");
        let r = call(
            &t,
            "POST",
            "/api/v1/affiliates",
            Some(&key),
            Some(json!({"code":"cat"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}");
        let r = click(&t, "c", "https://c.example", "cat").await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let r = call(&t, "GET", "/api/v1/affiliates", Some(&key), None).await;
        assert_eq!(
            r.body["affiliates"].as_array().map(Vec::len),
            Some(1),
            "{b}"
        );
        let r = call(&t, "GET", "/api/v1/audit", Some(&key), None).await;
        assert_eq!(r.body["audit"][1]["actor"], "operator", "{b}: {}", r.body);
        // the token is not a tenant key
        let r = call(&t, "GET", "/api/v1/affiliates", Some(TOKEN), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{b}");
    }
}

/// Every admin route with tenant b's admin key against tenant a's names: nothing of a is
/// listed, found or changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_isolation_on_every_admin_route() {
    for t in harnesses(None).await {
        let b = t.backend;
        // a's own things
        let r = call(
            &t,
            "POST",
            "/api/v1/keys",
            Some(A_ADMIN),
            Some(json!({"scopes":["read"]})),
        )
        .await;
        let a_key_id = r.body["id"].as_str().expect("id").to_string();
        call(
            &t,
            "POST",
            "/api/v1/affiliates",
            Some(A_ADMIN),
            Some(json!({"code":"carol"})),
        )
        .await;
        call(
            &t,
            "POST",
            "/api/v1/conversion-types",
            Some(A_ADMIN),
            Some(json!({"code":"trial","fixed":"1"})),
        )
        .await;
        click(&t, "a", "https://shop-a.example", "alice").await;
        let req = Request::post("/tracking/diagnostic/v1")
            .header("origin", "https://shop-a.example")
            .body(Body::from(
                json!({"tenantId":"a","kind":"csp","message":"m"}).to_string(),
            ))
            .expect("request");
        t.send(req).await;
        let v0 = t.store.catalog_version().await.expect("version");

        // changes by b on a's names: 404 (or a change of b's own, never a's)
        let cases: Vec<(&str, String, Option<Value>, StatusCode)> = vec![
            (
                "PATCH",
                "/api/v1/affiliates/alice".into(),
                Some(json!({"disabled":true})),
                StatusCode::NOT_FOUND,
            ),
            (
                "PATCH",
                "/api/v1/affiliates/carol".into(),
                Some(json!({"name":"x"})),
                StatusCode::NOT_FOUND,
            ),
            (
                "PATCH",
                "/api/v1/conversion-types/signup".into(),
                Some(json!({"fixed":"0"})),
                StatusCode::NOT_FOUND,
            ),
            (
                "PATCH",
                "/api/v1/conversion-types/trial".into(),
                Some(json!({"fixed":"0"})),
                StatusCode::NOT_FOUND,
            ),
            (
                "DELETE",
                format!("/api/v1/revenue-origins/{ORIGIN_A}"),
                None,
                StatusCode::NOT_FOUND,
            ),
            (
                "DELETE",
                "/api/v1/allowed-origins?origin=https://shop-a.example".into(),
                None,
                StatusCode::NOT_FOUND,
            ),
            (
                "DELETE",
                format!("/api/v1/keys/{a_key_id}"),
                None,
                StatusCode::NOT_FOUND,
            ),
        ];
        for (m, path, body, want) in cases {
            let r = call(&t, m, &path, Some(B_ADMIN), body).await;
            assert_eq!(r.status, want, "{b} {m} {path}: {}", r.body);
        }
        assert_eq!(t.store.catalog_version().await.expect("version"), v0, "{b}");
        // a is unchanged: alice still clicks, a's key still reads, a's origin still allowed
        assert_eq!(
            click(&t, "a", "https://shop-a.example", "alice")
                .await
                .status,
            StatusCode::OK,
            "{b}"
        );
        let r = call(&t, "GET", "/api/v1/keys", Some(A_ADMIN), None).await;
        assert!(
            r.body["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .all(|k| k["revoked_at"].is_null()),
            "{b}"
        );
        let ct = t.catalog.get();
        let a = ct.tenant("a").expect("a");
        assert!(a.has_revenue_origin(ORIGIN_A), "{b}");
        assert_eq!(a.conversion_types.len(), 3, "{b}");

        // creating in b with a's names makes b's own (no 409 from a's rows)
        let r = call(
            &t,
            "POST",
            "/api/v1/affiliates",
            Some(B_ADMIN),
            Some(json!({"code":"carol"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}");
        let r = call(
            &t,
            "POST",
            "/api/v1/conversion-types",
            Some(B_ADMIN),
            Some(json!({"code":"trial","fixed":"9"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}");
        let r = call(
            &t,
            "POST",
            "/api/v1/revenue-origins",
            Some(B_ADMIN),
            Some(json!({"id":ORIGIN_A})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}");
        let r = call(
            &t,
            "POST",
            "/api/v1/allowed-origins",
            Some(B_ADMIN),
            Some(json!({"origin":"https://shop-a.example"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}");
        assert_eq!(
            t.catalog.get().tenant("a").expect("a").conversion_types["trial"],
            clicktrail_domain::Payout::Fixed(100),
            "{b}"
        );

        // reads by b list only b's
        let r = call(&t, "GET", "/api/v1/affiliates", Some(B_ADMIN), None).await;
        let codes: Vec<&str> = r.body["affiliates"]
            .as_array()
            .expect("list")
            .iter()
            .map(|a| a["code"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(codes, ["bob", "carol"], "{b}");
        let r = call(&t, "GET", "/api/v1/conversion-types", Some(B_ADMIN), None).await;
        assert_eq!(
            r.body["conversion_types"],
            json!([{"code":"sale","revenue_share_percent":"10"},{"code":"trial","fixed":"9.00"}]),
            "{b}"
        );
        let r = call(&t, "GET", "/api/v1/revenue-origins", Some(B_ADMIN), None).await;
        assert_eq!(r.body["revenue_origins"], json!([ORIGIN_A]), "{b}");
        let r = call(&t, "GET", "/api/v1/allowed-origins", Some(B_ADMIN), None).await;
        assert_eq!(
            r.body["allowed_origins"],
            json!(["https://shop-b.example", "https://shop-a.example"]),
            "{b}"
        );
        let r = call(&t, "GET", "/api/v1/keys", Some(B_ADMIN), None).await;
        assert_eq!(
            r.body["keys"].as_array().map(Vec::len),
            Some(2),
            "{b}: {}",
            r.body
        );
        assert!(!String::from_utf8_lossy(&r.raw).contains(&a_key_id), "{b}");
        let r = call(&t, "GET", "/api/v1/diagnostics", Some(B_ADMIN), None).await;
        assert_eq!(r.body["diagnostics"], json!([]), "{b}");
        let r = call(&t, "GET", "/api/v1/events", Some(B_ADMIN), None).await;
        assert_eq!(r.body["events"], json!([]), "{b}");
        let r = call(&t, "GET", "/api/v1/audit", Some(B_ADMIN), None).await;
        assert_eq!(r.body["audit"].as_array().map(Vec::len), Some(4), "{b}");
        assert!(!String::from_utf8_lossy(&r.raw).contains(&a_key_id), "{b}");
        let r = call(&t, "GET", "/api/v1/whoami", Some(B_ADMIN), None).await;
        assert_eq!(r.body["tenant"], "b", "{b}");
    }
}

/// Payouts and conversion status changes (money changes outside the catalog) are audited too;
/// a refused one is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payouts_and_declines_are_audited() {
    for t in harnesses(None).await {
        let b = t.backend;
        let me = call(&t, "GET", "/api/v1/whoami", Some(A_ADMIN), None)
            .await
            .body["key_id"]
            .as_str()
            .expect("id")
            .to_string();
        let cid = click(&t, "a", "https://shop-a.example", "alice").await.body["cid"]
            .as_str()
            .expect("cid")
            .to_string();
        for (tx, cents) in [("tx1", 10000), ("tx2", 5000)] {
            let r = call(
                &t,
                "POST",
                "/api/v1/track/sale",
                Some(A_API),
                Some(json!({"transaction_id": tx, "amount_cents": cents, "click_id": cid})),
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        }
        let r = call(
            &t,
            "POST",
            "/api/v1/payouts",
            Some(A_ADMIN),
            Some(json!({"affiliate":"alice"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let r = call(
            &t,
            "POST",
            "/api/v1/payouts",
            Some(A_ADMIN),
            Some(json!({"affiliate":"alice"})),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{b}: {}",
            r.body
        );
        let r = call(
            &t,
            "POST",
            "/api/v1/track/sale",
            Some(A_API),
            Some(json!({"transaction_id": "tx3", "amount_cents": 2000, "click_id": cid})),
        )
        .await;
        let sale_id = r.body["sale_id"].to_string();
        let r = call(
            &t,
            "PATCH",
            &format!("/api/v1/conversions/{sale_id}"),
            Some(A_ADMIN),
            Some(json!({"status":"declined"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let r = call(&t, "GET", "/api/v1/audit", Some(A_ADMIN), None).await;
        let rows = r.body["audit"].as_array().expect("rows");
        assert_eq!(rows.len(), 2, "{b}: {}", r.body);
        assert_eq!(rows[1]["action"], "POST /api/v1/payouts", "{b}");
        assert_eq!(rows[1]["actor"], me.as_str(), "{b}");
        assert_eq!(
            rows[1]["summary"], "paid payout #1 to `alice`: 4500 cents USD (2 entries)",
            "{b}: {}",
            r.body
        );
        assert_eq!(
            rows[0]["action"],
            format!("PATCH /api/v1/conversions/{sale_id}"),
            "{b}"
        );
        assert!(
            rows[0]["summary"]
                .as_str()
                .unwrap_or("")
                .contains("declined (commission reversed: 600 cents)"),
            "{b}: {}",
            r.body
        );
        let r = call(&t, "GET", "/api/v1/audit", Some(B_ADMIN), None).await;
        assert_eq!(r.body["audit"], json!([]), "{b}");
    }
}

/// Portal links (made and revoked by an admin key) are audited without their token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_links_are_audited_without_the_token() {
    for t in harnesses(None).await {
        let b = t.backend;
        let r = call(
            &t,
            "POST",
            "/api/v1/affiliates/alice/portal-link",
            Some(A_ADMIN),
            None,
        )
        .await;
        assert!(r.status.is_success(), "{b}: {}", r.body);
        let token = r.body["token"].as_str().expect("token").to_string();
        let r = call(
            &t,
            "DELETE",
            "/api/v1/affiliates/alice/portal-link",
            Some(A_ADMIN),
            None,
        )
        .await;
        assert!(r.status.is_success(), "{b}: {}", r.body);
        // b's admin key cannot make a link for a's affiliate, and nothing is audited for it
        let r = call(
            &t,
            "POST",
            "/api/v1/affiliates/alice/portal-link",
            Some(B_ADMIN),
            None,
        )
        .await;
        assert!(r.status.is_client_error(), "{b}: {}", r.body);
        let r = call(&t, "GET", "/api/v1/audit", Some(A_ADMIN), None).await;
        let actions: Vec<&str> = r.body["audit"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|a| a["action"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            actions,
            [
                "DELETE /api/v1/affiliates/alice/portal-link",
                "POST /api/v1/affiliates/alice/portal-link"
            ],
            "{b}"
        );
        assert!(!String::from_utf8_lossy(&r.raw).contains(&token), "{b}");
        let r = call(&t, "GET", "/api/v1/audit", Some(B_ADMIN), None).await;
        assert_eq!(r.body["audit"], json!([]), "{b}");
    }
}
