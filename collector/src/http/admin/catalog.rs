//! Catalog routes: affiliates, conversion types, revenue origins, allowed origins, keys (admin
//! key; the lists also take a read key), and tenants (operator token). Every input is checked
//! here (422 naming the field); the store answers 404 / 409 for unknown or duplicate names.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use clicktrail_domain::catalog::{key_hash, KeyScope, Tenant};
use clicktrail_domain::{money, Payout};
use clicktrail_store::admin::key_id;
use clicktrail_store::CatalogChange;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::{apply, new_key, AdminKey, Operator, ReadKey};
use crate::http::error::AppError;
use crate::http::extract::JsonBody;
use crate::http::types::{check_text, Bounded, MAX_ID};
use crate::state::AppState;

type R = Result<Response, AppError>;

/// Present (even as `null`) → `Some(value)`; absent → `None` (with `#[serde(default)]`).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A code (affiliate, conversion type): 1-128 characters, no control characters, no spaces at
/// either end (it travels in `?aff=` and in JSON).
fn code(field: &str, s: &str) -> Result<String, AppError> {
    if s.is_empty() {
        return Err(AppError::invalid(field, "must not be empty"));
    }
    check_text(s, MAX_ID).map_err(|m| AppError::invalid(field, m))?;
    if s.trim() != s {
        return Err(AppError::invalid(
            field,
            "must not start or end with whitespace",
        ));
    }
    Ok(s.to_string())
}

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

// ---------------------------------------------------------------- affiliates

#[derive(Debug, Deserialize)]
pub struct NewAffiliate {
    code: String,
    #[serde(default)]
    name: Option<Bounded<200>>,
}

#[derive(Debug, Deserialize)]
pub struct AffiliatePatch {
    #[serde(default, deserialize_with = "present")]
    name: Option<Option<Bounded<200>>>,
    #[serde(default)]
    disabled: Option<bool>,
}

async fn affiliate_json(st: &AppState, tenant: &str, code: &str) -> Result<Value, AppError> {
    let all = st.store.affiliates(tenant).await?;
    all.into_iter()
        .find(|a| a.code == code)
        .map(|a| json!(a))
        .ok_or_else(|| AppError::not_found("unknown_affiliate", format!("no affiliate `{code}`")))
}

/// `GET /api/v1/affiliates`
pub async fn list_affiliates(State(st): State<AppState>, k: ReadKey) -> R {
    let rows = st.store.affiliates(&k.tenant.id).await?;
    Ok(Json(json!({ "affiliates": rows })).into_response())
}

/// `POST /api/v1/affiliates` `{code, name?}`
pub async fn create_affiliate(
    State(st): State<AppState>,
    k: AdminKey,
    JsonBody(req): JsonBody<NewAffiliate>,
) -> R {
    let code = code("code", &req.code)?;
    let name = req
        .name
        .map(Bounded::into_string)
        .filter(|n| !n.trim().is_empty());
    apply(
        &st,
        &k.tenant.id,
        &k.key_id,
        "POST /api/v1/affiliates".into(),
        format!("created affiliate `{code}`"),
        CatalogChange::CreateAffiliate {
            code: code.clone(),
            name,
        },
    )
    .await?;
    Ok(created(affiliate_json(&st, &k.tenant.id, &code).await?))
}

/// `PATCH /api/v1/affiliates/{code}` `{name?, disabled?}`
pub async fn update_affiliate(
    State(st): State<AppState>,
    k: AdminKey,
    Path(code): Path<String>,
    JsonBody(req): JsonBody<AffiliatePatch>,
) -> R {
    if req.name.is_none() && req.disabled.is_none() {
        return Err(AppError::invalid("body", "set `name` and/or `disabled`"));
    }
    let name = req
        .name
        .map(|n| n.map(Bounded::into_string).filter(|n| !n.trim().is_empty()));
    let mut what = Vec::new();
    if let Some(n) = &name {
        what.push(match n {
            Some(n) => format!("name `{n}`"),
            None => "name cleared".into(),
        });
    }
    if let Some(d) = req.disabled {
        what.push(if d { "disabled" } else { "enabled" }.into());
    }
    apply(
        &st,
        &k.tenant.id,
        &k.key_id,
        format!("PATCH /api/v1/affiliates/{code}"),
        format!("affiliate `{code}`: {}", what.join(", ")),
        CatalogChange::UpdateAffiliate {
            code: code.clone(),
            name,
            disabled: req.disabled,
        },
    )
    .await?;
    Ok(Json(affiliate_json(&st, &k.tenant.id, &code).await?).into_response())
}

#[derive(Debug, Deserialize)]
pub struct NewAlias {
    alias: String,
}

/// `POST /api/v1/affiliates/{code}/aliases` `{alias}`: another code of the affiliate, e.g.
/// a PartnerStack partner key; a click through it is the affiliate's click.
pub async fn add_alias(
    State(st): State<AppState>,
    k: AdminKey,
    Path(code): Path<String>,
    JsonBody(req): JsonBody<NewAlias>,
) -> R {
    let alias = self::code("alias", &req.alias)?;
    apply(
        &st,
        &k.tenant.id,
        &k.key_id,
        format!("POST /api/v1/affiliates/{code}/aliases"),
        format!("affiliate `{code}`: alias `{alias}` added"),
        CatalogChange::AddAlias {
            code: code.clone(),
            alias,
        },
    )
    .await?;
    Ok(created(affiliate_json(&st, &k.tenant.id, &code).await?))
}

/// `DELETE /api/v1/affiliates/{code}/aliases/{alias}`: links through the alias stop working
/// (404 `unknown_affiliate`); what they recorded stays the affiliate's.
pub async fn remove_alias(
    State(st): State<AppState>,
    k: AdminKey,
    Path((code, alias)): Path<(String, String)>,
) -> R {
    apply(
        &st,
        &k.tenant.id,
        &k.key_id,
        format!("DELETE /api/v1/affiliates/{code}/aliases/{alias}"),
        format!("affiliate `{code}`: alias `{alias}` removed"),
        CatalogChange::RemoveAlias {
            code: code.clone(),
            alias,
        },
    )
    .await?;
    Ok(Json(affiliate_json(&st, &k.tenant.id, &code).await?).into_response())
}

// ---------------------------------------------------------------- conversion types

#[derive(Debug, Deserialize)]
pub struct ConversionTypeBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    fixed: Option<Value>,
    #[serde(default)]
    revenue_share_percent: Option<Value>,
}

fn number_text(field: &str, v: &Value) -> Result<String, AppError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(AppError::invalid(
            field,
            "must be a decimal number or a string like \"12.50\"",
        )),
    }
}

/// Exactly one of `fixed` (an amount, "5.00") or `revenue_share_percent` ("30", "12.5").
fn payout(b: &ConversionTypeBody) -> Result<Payout, AppError> {
    match (&b.fixed, &b.revenue_share_percent) {
        (Some(f), None) => money::parse_amount(&number_text("fixed", f)?)
            .map(Payout::Fixed)
            .map_err(|m| AppError::invalid("fixed", m)),
        (None, Some(p)) => money::parse_percent_bp(&number_text("revenue_share_percent", p)?)
            .map(Payout::RevenueShare)
            .map_err(|m| AppError::invalid("revenue_share_percent", m)),
        _ => Err(AppError::invalid(
            "fixed",
            "set exactly one of `fixed` or `revenue_share_percent`",
        )),
    }
}

/// `{"code", "fixed": "5.00"}` or `{"code", "revenue_share_percent": "30"}` (as in the TOML).
pub fn conversion_type_json(code: &str, p: Payout) -> Value {
    match p {
        Payout::Fixed(c) => json!({"code": code, "fixed": money::format_cents(c)}),
        Payout::RevenueShare(bp) => {
            let s = money::format_cents(bp);
            let s = s.trim_end_matches('0').trim_end_matches('.');
            json!({"code": code, "revenue_share_percent": s})
        }
    }
}

/// `GET /api/v1/conversion-types`
pub async fn list_conversion_types(k: ReadKey) -> R {
    let list: Vec<Value> = k
        .tenant
        .conversion_types
        .iter()
        .map(|(c, p)| conversion_type_json(c, *p))
        .collect();
    Ok(Json(json!({
        "conversion_types": list,
        "sale_conversion_type": k.tenant.sale_conversion_type,
    }))
    .into_response())
}

/// `POST /api/v1/conversion-types` `{code, fixed | revenue_share_percent}`
pub async fn create_conversion_type(
    State(st): State<AppState>,
    k: AdminKey,
    JsonBody(req): JsonBody<ConversionTypeBody>,
) -> R {
    let c = code(
        "code",
        req.code
            .as_deref()
            .ok_or_else(|| AppError::invalid("code", "is required"))?,
    )?;
    let p = payout(&req)?;
    apply(
        &st,
        &k.tenant.id,
        &k.key_id,
        "POST /api/v1/conversion-types".into(),
        format!("created conversion type `{c}` ({})", describe(p)),
        CatalogChange::CreateConversionType {
            code: c.clone(),
            payout: p,
        },
    )
    .await?;
    Ok(created(conversion_type_json(&c, p)))
}

/// `PATCH /api/v1/conversion-types/{code}` `{fixed | revenue_share_percent}`
pub async fn update_conversion_type(
    State(st): State<AppState>,
    k: AdminKey,
    Path(c): Path<String>,
    JsonBody(req): JsonBody<ConversionTypeBody>,
) -> R {
    let p = payout(&req)?;
    apply(
        &st,
        &k.tenant.id,
        &k.key_id,
        format!("PATCH /api/v1/conversion-types/{c}"),
        format!("conversion type `{c}` now pays {}", describe(p)),
        CatalogChange::UpdateConversionType {
            code: c.clone(),
            payout: p,
        },
    )
    .await?;
    Ok(Json(conversion_type_json(&c, p)).into_response())
}

fn describe(p: Payout) -> String {
    match p {
        Payout::Fixed(c) => format!("fixed {}", money::format_cents(c)),
        Payout::RevenueShare(bp) => format!("{} %", money::format_cents(bp)),
    }
}

// ---------------------------------------------------------------- origins

#[derive(Debug, Deserialize)]
pub struct RevenueOriginBody {
    id: String,
}

/// `GET /api/v1/revenue-origins`
pub async fn list_revenue_origins(k: ReadKey) -> R {
    Ok(Json(json!({ "revenue_origins": k.tenant.revenue_origins })).into_response())
}

fn revenue_origin_id(s: &str) -> Result<String, AppError> {
    uuid::Uuid::parse_str(s)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| AppError::invalid("id", "must be a UUID"))
}

/// `POST /api/v1/revenue-origins` `{id}` (a UUID)
pub async fn add_revenue_origin(
    State(st): State<AppState>,
    k: AdminKey,
    JsonBody(req): JsonBody<RevenueOriginBody>,
) -> R {
    let id = revenue_origin_id(&req.id)?;
    apply(
        &st,
        &k.tenant.id,
        &k.key_id,
        "POST /api/v1/revenue-origins".into(),
        format!("added revenue origin `{id}`"),
        CatalogChange::AddRevenueOrigin { id: id.clone() },
    )
    .await?;
    Ok(created(json!({ "id": id })))
}

/// `DELETE /api/v1/revenue-origins/{id}`
pub async fn remove_revenue_origin(
    State(st): State<AppState>,
    k: AdminKey,
    Path(id): Path<String>,
) -> R {
    let id = revenue_origin_id(&id)?;
    apply(
        &st,
        &k.tenant.id,
        &k.key_id,
        format!("DELETE /api/v1/revenue-origins/{id}"),
        format!("removed revenue origin `{id}`"),
        CatalogChange::RemoveRevenueOrigin { id: id.clone() },
    )
    .await?;
    Ok(Json(json!({ "id": id, "removed": true })).into_response())
}

#[derive(Debug, Deserialize)]
pub struct OriginBody {
    origin: String,
}

/// `*`, or `http(s)://host[:port]` (lower-cased, no path, query or user info).
pub fn normalize_origin(s: &str) -> Result<String, AppError> {
    if s == "*" {
        return Ok(s.into());
    }
    let bad = || {
        AppError::invalid(
            "origin",
            "must be `*` or an origin like `https://shop.example` (scheme, host and port only)",
        )
    };
    let lower = s.trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://").ok_or_else(bad)?;
    if !matches!(scheme, "http" | "https")
        || rest.is_empty()
        || rest.len() > 253 + 6
        || rest
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')))
    {
        return Err(bad());
    }
    if let Some((_, port)) = rest.rsplit_once(':').filter(|_| !rest.ends_with(']')) {
        if port.parse::<u16>().is_err() {
            return Err(bad());
        }
    }
    Ok(lower)
}

/// `GET /api/v1/allowed-origins`
pub async fn list_allowed_origins(k: ReadKey) -> R {
    Ok(Json(json!({ "allowed_origins": k.tenant.allowed_origins })).into_response())
}

/// `POST /api/v1/allowed-origins` `{origin}`
pub async fn add_allowed_origin(
    State(st): State<AppState>,
    k: AdminKey,
    JsonBody(req): JsonBody<OriginBody>,
) -> R {
    let origin = normalize_origin(&req.origin)?;
    apply(
        &st,
        &k.tenant.id,
        &k.key_id,
        "POST /api/v1/allowed-origins".into(),
        format!("allowed origin `{origin}`"),
        CatalogChange::AddAllowedOrigin {
            origin: origin.clone(),
        },
    )
    .await?;
    Ok(created(json!({ "origin": origin })))
}

#[derive(Debug, Deserialize)]
pub struct OriginQuery {
    origin: Option<String>,
}

/// `DELETE /api/v1/allowed-origins?origin=https://shop.example`
pub async fn remove_allowed_origin(
    State(st): State<AppState>,
    k: AdminKey,
    Query(q): Query<OriginQuery>,
) -> R {
    let origin = normalize_origin(
        q.origin
            .as_deref()
            .ok_or_else(|| AppError::invalid("origin", "is required (query parameter)"))?,
    )?;
    apply(
        &st,
        &k.tenant.id,
        &k.key_id,
        "DELETE /api/v1/allowed-origins".into(),
        format!("removed allowed origin `{origin}`"),
        CatalogChange::RemoveAllowedOrigin {
            origin: origin.clone(),
        },
    )
    .await?;
    Ok(Json(json!({ "origin": origin, "removed": true })).into_response())
}

// ---------------------------------------------------------------- keys

#[derive(Debug, Deserialize)]
pub struct NewKeyBody {
    scopes: Vec<String>,
    #[serde(default)]
    label: Option<Bounded<200>>,
}

/// `GET /api/v1/keys` (never a secret)
pub async fn list_keys(State(st): State<AppState>, k: AdminKey) -> R {
    let rows = st.store.keys(&k.tenant.id).await?;
    Ok(Json(json!({ "keys": rows })).into_response())
}

/// `POST /api/v1/keys` `{scopes: ["ingest"|"read"|"admin", ...], label?}`: the secret is in
/// this answer and nowhere else.
pub async fn create_key(
    State(st): State<AppState>,
    k: AdminKey,
    JsonBody(req): JsonBody<NewKeyBody>,
) -> R {
    let mut scopes = Vec::new();
    for s in &req.scopes {
        let scope = KeyScope::parse(s).ok_or_else(|| {
            AppError::invalid("scopes", format!("`{s}` is not one of ingest, read, admin"))
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err(AppError::invalid("scopes", "name at least one scope"));
    }
    scopes.sort();
    let top = scopes.last().map(|s| s.as_str()).unwrap_or("key");
    let secret = new_key(top);
    let hash = key_hash(&secret);
    let id = key_id(&hash);
    let label = req.label.map(Bounded::into_string);
    let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    apply(
        &st,
        &k.tenant.id,
        &k.key_id,
        "POST /api/v1/keys".into(),
        format!("created key `{id}` ({})", names.join(" ")),
        CatalogChange::CreateKey {
            key_hash: hash,
            scopes: scopes.clone(),
            label: label.clone(),
        },
    )
    .await?;
    Ok(created(json!({
        "id": id,
        "key": secret,
        "scopes": names,
        "label": label,
        "created_at": st.now(),
        "message": "store this key now: it is not shown again",
    })))
}

/// `DELETE /api/v1/keys/{id}`: the key stops working within a second on every collector.
pub async fn revoke_key(State(st): State<AppState>, k: AdminKey, Path(id): Path<String>) -> R {
    if id == k.key_id {
        return Err(AppError::conflict(
            "own_key",
            "this request is made with that key: revoke it with another admin key",
        ));
    }
    apply(
        &st,
        &k.tenant.id,
        &k.key_id,
        format!("DELETE /api/v1/keys/{id}"),
        format!("revoked key `{id}`"),
        CatalogChange::RevokeKey { key_id: id.clone() },
    )
    .await?;
    Ok(Json(json!({ "id": id, "revoked": true })).into_response())
}

// ---------------------------------------------------------------- tenants

#[derive(Debug, Deserialize)]
pub struct NewTenantBody {
    id: String,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    cookie_days: Option<i64>,
    #[serde(default)]
    hold_days: Option<i64>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    /// The commission of the `sale` conversion type (default 30 %).
    #[serde(default)]
    sale_revenue_share_percent: Option<Value>,
}

/// `POST /api/v1/tenants` (operator token): the tenant and its first admin key, shown once.
pub async fn create_tenant(
    State(st): State<AppState>,
    _op: Operator,
    JsonBody(req): JsonBody<NewTenantBody>,
) -> R {
    let id = req.id.trim().to_string();
    if id.is_empty()
        || id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(AppError::invalid(
            "id",
            "must be 1-128 characters of letters, digits, '-' or '_'",
        ));
    }
    let currency = req
        .currency
        .unwrap_or_else(|| "USD".into())
        .to_ascii_uppercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(AppError::invalid(
            "currency",
            "must be a 3-letter code such as USD",
        ));
    }
    let cookie_days = req.cookie_days.unwrap_or(60);
    if !(1..=3650).contains(&cookie_days) {
        return Err(AppError::invalid(
            "cookie_days",
            "must be between 1 and 3650",
        ));
    }
    let hold_days = req.hold_days.unwrap_or(30);
    if !(0..=3650).contains(&hold_days) {
        return Err(AppError::invalid("hold_days", "must be between 0 and 3650"));
    }
    let mut origins = Vec::new();
    for o in &req.allowed_origins {
        origins.push(normalize_origin(o).map_err(|e| match e {
            AppError::Invalid { message, .. } => AppError::invalid("allowed_origins", message),
            e => e,
        })?);
    }
    let share = match &req.sale_revenue_share_percent {
        None => 3000,
        Some(v) => money::parse_percent_bp(&number_text("sale_revenue_share_percent", v)?)
            .map_err(|m| AppError::invalid("sale_revenue_share_percent", m))?,
    };
    let mut conversion_types = BTreeMap::new();
    conversion_types.insert("sale".to_string(), Payout::RevenueShare(share));
    let tenant = Tenant {
        id: id.clone(),
        cookie_days,
        allowed_origins: origins,
        stripe_webhook_secret: String::new(),
        currency,
        sale_conversion_type: "sale".into(),
        affiliates: Vec::new(),
        aliases: Default::default(),
        conversion_types,
        revenue_origins: Vec::new(),
        hold_days,
        count_test_payments: false,
        chargebee_webhook_username: String::new(),
        chargebee_webhook_password: String::new(),
        recurly_webhook_key: String::new(),
        recurly_api_key: String::new(),
        recurly_api_url: String::new(),
        chargify_webhook_key: String::new(),
        rules: Default::default(),
    };
    let secret = new_key("admin");
    let hash = key_hash(&secret);
    let kid = key_id(&hash);
    apply(
        &st,
        &id,
        "operator",
        "POST /api/v1/tenants".into(),
        format!("created tenant `{id}` with admin key `{kid}`"),
        CatalogChange::CreateTenant {
            tenant,
            admin_key_hash: hash,
        },
    )
    .await?;
    Ok(created(json!({
        "tenant": id,
        "admin_key": {"id": kid, "key": secret, "scopes": ["admin"]},
        "message": "store this key now: it is not shown again",
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized_or_refused() {
        for (given, want) in [
            ("*", "*"),
            ("https://Shop.Example", "https://shop.example"),
            ("https://shop.example/", "https://shop.example"),
            ("http://localhost:8080", "http://localhost:8080"),
            ("http://[::1]:3000", "http://[::1]:3000"),
        ] {
            assert_eq!(normalize_origin(given).as_deref(), Ok(want), "{given}");
        }
        for bad in [
            "",
            "shop.example",
            "ftp://shop.example",
            "https://",
            "https://shop.example/path",
            "https://shop.example?q",
            "https://user@shop.example",
            "https://shop.example:99999",
            "https://shop.example:port",
            "https://shop example",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn conversion_type_payouts_print_as_in_the_toml() {
        assert_eq!(
            conversion_type_json("sale", Payout::RevenueShare(3000)),
            json!({"code":"sale","revenue_share_percent":"30"})
        );
        assert_eq!(
            conversion_type_json("s", Payout::RevenueShare(1250)),
            json!({"code":"s","revenue_share_percent":"12.5"})
        );
        assert_eq!(
            conversion_type_json("s", Payout::RevenueShare(5)),
            json!({"code":"s","revenue_share_percent":"0.05"})
        );
        assert_eq!(
            conversion_type_json("signup", Payout::Fixed(500)),
            json!({"code":"signup","fixed":"5.00"})
        );
    }
}
