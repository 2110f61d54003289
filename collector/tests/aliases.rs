//! Affiliate aliases (a PartnerStack partner key is one of an affiliate's codes)
//! through the real router on SQLite and PostgreSQL: declared in the TOML or added with the
//! admin API, a click through an alias is the affiliate's click, an alias never shadows a code,
//! removing it stops its links, and a tenant never touches another's aliases.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use clicktrail_collector::config::Config;
use serde_json::{json, Value};

mod common;
use common::{Harness, Resp};

const A_ADMIN: &str = "a_admin_key_1";
const A_API: &str = "a_api_key_12";
const B_ADMIN: &str = "b_admin_key_1";

fn config() -> Config {
    Config::from_toml(&format!(
        r#"
[server]
rate_limit_per_second = 0
[[tenants]]
id = "a"
api_key = "{A_API}"
admin_key = "{A_ADMIN}"
allowed_origins = ["*"]
affiliates = ["alice", "bob"]
affiliate_aliases = {{ "alice-partner-key" = "alice" }}
[tenants.conversion_types.sale]
revenue_share_percent = "30"
[[tenants]]
id = "b"
api_key = "b_api_key_12"
admin_key = "{B_ADMIN}"
affiliates = ["carol"]
"#
    ))
    .expect("config")
}

async fn call(t: &Harness, method: &str, path: &str, key: &str, body: Option<Value>) -> Resp {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json");
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_default();
    t.send(req.body(body).expect("request")).await
}

/// `POST /api/v1/affiliates/{code}/aliases` with `key`.
async fn add_alias(t: &Harness, key: &str, code: &str, alias: &str) -> Resp {
    let path = format!("/api/v1/affiliates/{code}/aliases");
    call(t, "POST", &path, key, Some(json!({ "alias": alias }))).await
}

/// A browser click on tenant `a` through `code`.
async fn click(t: &Harness, code: &str) -> Resp {
    let body = json!({"tenantId": "a", "aff": code, "eventId": uuid::Uuid::new_v4().to_string(),
                      "url": format!("https://shop.example/?aff={code}")});
    t.post("/tracking/click/v1", body.to_string()).await
}

fn error_code(r: &Resp) -> &str {
    r.body["error"]["code"].as_str().unwrap_or("")
}

async fn clicks_of(t: &Harness, affiliate: &str) -> i64 {
    let r = call(t, "GET", "/api/v1/report", A_API, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["affiliates"]
        .as_array()
        .and_then(|rows| rows.iter().find(|a| a["affiliate"] == affiliate))
        .and_then(|a| a["clicks"].as_i64())
        .unwrap_or(0)
}

async fn aliases_of(t: &Harness, affiliate: &str) -> Value {
    let r = call(t, "GET", "/api/v1/affiliates", A_ADMIN, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["affiliates"]
        .as_array()
        .and_then(|rows| rows.iter().find(|a| a["code"] == affiliate))
        .map(|a| a["aliases"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_through_a_declared_alias_is_the_affiliates_click() {
    for t in Harness::all_with(config()).await {
        let b = t.backend;
        let r = click(&t, "alice-partner-key").await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert!(r.body["cid"].is_string(), "{b}: {}", r.body);
        assert_eq!(clicks_of(&t, "alice").await, 1, "{b}");
        assert_eq!(clicks_of(&t, "alice-partner-key").await, 0, "{b}");
        assert_eq!(
            aliases_of(&t, "alice").await,
            json!(["alice-partner-key"]),
            "{b}"
        );
        // alias lookups are exact: another spelling is an unknown code
        let r = click(&t, "ALICE-PARTNER-KEY").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}");
        assert_eq!(error_code(&r), "unknown_affiliate", "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_are_added_and_removed_with_the_admin_api() {
    for t in Harness::all_with(config()).await {
        let b = t.backend;
        assert_eq!(click(&t, "cGs=").await.status, StatusCode::NOT_FOUND, "{b}");
        let r = add_alias(&t, A_ADMIN, "bob", "cGs=").await;
        assert_eq!(r.status, StatusCode::CREATED, "{b}: {}", r.body);
        assert_eq!(r.body["aliases"], json!(["cGs="]), "{b}");
        // the collector's own snapshot has it at once: the click lands on bob
        assert_eq!(click(&t, "cGs=").await.status, StatusCode::OK, "{b}");
        assert_eq!(clicks_of(&t, "bob").await, 1, "{b}");

        // an alias never shadows a code or another alias
        for (code, alias) in [
            ("bob", "alice"),
            ("bob", "alice-partner-key"),
            ("alice", "cGs="),
        ] {
            let r = add_alias(&t, A_ADMIN, code, alias).await;
            assert_eq!(r.status, StatusCode::CONFLICT, "{b} {alias}: {}", r.body);
            assert_eq!(error_code(&r), "duplicate_code", "{b}");
        }
        // nor does a new affiliate take an alias's name
        let r = call(
            &t,
            "POST",
            "/api/v1/affiliates",
            A_ADMIN,
            Some(json!({"code": "alice-partner-key"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{b}: {}", r.body);
        // unknown affiliate, bad alias, read-only key
        let r = add_alias(&t, A_ADMIN, "zed", "zz").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}");
        assert_eq!(error_code(&r), "unknown_affiliate", "{b}");
        let r = add_alias(&t, A_ADMIN, "bob", " padded ").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let r = add_alias(&t, A_API, "bob", "zz").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{b}: {}", r.body);

        // audited
        let r = call(&t, "GET", "/api/v1/audit", A_ADMIN, None).await;
        assert!(
            r.body.to_string().contains("alias `cGs=` added"),
            "{b}: {}",
            r.body
        );

        // removal stops the alias's links; what it recorded stays bob's
        let r = call(
            &t,
            "DELETE",
            "/api/v1/affiliates/bob/aliases/cGs=",
            A_ADMIN,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        assert_eq!(r.body["aliases"], json!([]), "{b}");
        assert_eq!(click(&t, "cGs=").await.status, StatusCode::NOT_FOUND, "{b}");
        assert_eq!(clicks_of(&t, "bob").await, 1, "{b}");
        let r = call(
            &t,
            "DELETE",
            "/api/v1/affiliates/bob/aliases/cGs=",
            A_ADMIN,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}");
        assert_eq!(error_code(&r), "unknown_alias", "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_affiliates_aliases_stop_and_tenants_stay_apart() {
    for t in Harness::all_with(config()).await {
        let b = t.backend;
        // tenant b's admin key cannot see or touch a's affiliates or aliases
        let r = add_alias(&t, B_ADMIN, "alice", "stolen").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}: {}", r.body);
        let r = call(
            &t,
            "DELETE",
            "/api/v1/affiliates/alice/aliases/alice-partner-key",
            B_ADMIN,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}: {}", r.body);
        assert_eq!(click(&t, "alice-partner-key").await.status, StatusCode::OK);

        let r = call(
            &t,
            "PATCH",
            "/api/v1/affiliates/alice",
            A_ADMIN,
            Some(json!({"disabled": true})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{b}: {}", r.body);
        let r = click(&t, "alice-partner-key").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{b}: {}", r.body);
        assert_eq!(error_code(&r), "unknown_affiliate", "{b}");
    }
}

#[test]
fn the_toml_refuses_an_alias_that_is_a_code_or_names_no_affiliate() {
    let base = |aliases: &str| {
        format!(
            "[[tenants]]\nid = \"a\"\napi_key = \"{A_API}\"\naffiliates = [\"alice\", \"bob\"]\naffiliate_aliases = {aliases}\n"
        )
    };
    let e = Config::from_toml(&base("{ bob = \"alice\" }")).expect_err("shadowing alias");
    assert!(
        format!("{e:#}").contains("already an affiliate code"),
        "{e:#}"
    );
    let e = Config::from_toml(&base("{ pk = \"zed\" }")).expect_err("dangling alias");
    assert!(format!("{e:#}").contains("not in `affiliates`"), "{e:#}");
    Config::from_toml(&base("{ pk = \"alice\", pk2 = \"alice\" }")).expect("two aliases");
}
