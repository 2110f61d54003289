//! Route handlers: browser tracking, server-to-server API, report, static files.

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tower::ServiceExt;

use std::sync::Arc;

use clicktrail_domain::catalog::{KeyScope, Payout, Tenant};
use clicktrail_domain::conversion::Status;
use clicktrail_domain::{money, Cid};
use clicktrail_store::{
    ClickIn, ConversionIn, DiagnosticIn, ExternalLinkIn, LeadIn, SaleIn, Target,
};

use crate::app::{check_origin, json_body, Fields, MAX_EMAIL, MAX_ID, MAX_URL};
use crate::config::API_CURRENCIES;
use crate::error::AppError;
use crate::state::AppState;

type R = Result<Response, AppError>;

/// External CIDs are often emails (Tito registrations).
const MAX_EXTERNAL_CID: usize = MAX_EMAIL;

fn limit(st: &AppState) -> usize {
    st.server.body_limit_bytes
}

fn browser_tenant(st: &AppState, headers: &HeaderMap, f: &Fields) -> Result<Arc<Tenant>, AppError> {
    let t = st.tenant_for(headers, f.tenant_id()?.as_deref())?;
    check_origin(&t, headers)?;
    Ok(t)
}

/// A CID given by the client: an unknown one (not even a UUID) is a 404 like any unknown CID.
fn known_cid(s: String) -> Result<Cid, AppError> {
    Cid::parse(&s).ok_or_else(|| AppError::not_found("unknown_cid", format!("unknown cid `{s}`")))
}

// ---------------------------------------------------------------- browser

pub async fn click(State(st): State<AppState>, headers: HeaderMap, body: Body) -> R {
    let f = json_body(body, limit(&st)).await?;
    let tenant = browser_tenant(&st, &headers, &f)?;
    let event_id = f.event_id()?;
    let aff = f.req_str("aff", MAX_ID)?;
    let cid = f.opt_str("cid", MAX_ID)?.and_then(|c| Cid::parse(&c));
    let url = f.opt_str("url", MAX_URL)?;
    let referrer = f.opt_str("referrer", MAX_URL)?;
    if !tenant.has_affiliate(&aff) {
        return Err(AppError::not_found(
            "unknown_affiliate",
            format!("unknown affiliate `{aff}`"),
        ));
    }
    let out = st
        .store
        .click(ClickIn {
            tenant: tenant.id.clone(),
            event_id,
            cid,
            affiliate: aff,
            url,
            referrer,
            cookie_secs: tenant.cookie_secs(),
            now: st.now(),
        })
        .await?;
    Ok(Json(out).into_response())
}

fn conversion_type(tenant: &Tenant, f: &Fields) -> Result<(String, Payout), AppError> {
    let code = match f.opt_str("conversionTypeCode", MAX_ID)? {
        Some(c) => c,
        None => f.opt_str("conversionType", MAX_ID)?.ok_or_else(|| {
            AppError::invalid("conversionTypeCode", "is required (or `conversionType`)")
        })?,
    };
    let payout = *tenant.conversion_types.get(&code).ok_or_else(|| {
        AppError::not_found(
            "unknown_conversion_type",
            format!("unknown conversion type `{code}`"),
        )
    })?;
    Ok((code, payout))
}

fn revenue_origin(tenant: &Tenant, f: &Fields) -> Result<String, AppError> {
    let id = f.req_str("revenueOriginId", MAX_ID)?.to_ascii_lowercase();
    if !tenant.has_revenue_origin(&id) {
        return Err(AppError::not_found(
            "unknown_revenue_origin",
            format!("unknown revenue origin `{id}`"),
        ));
    }
    Ok(id)
}

/// `amount.value`: a decimal string; a JSON number is a 422.
fn amount_cents(f: &Fields) -> Result<i64, AppError> {
    match f.get("amount") {
        None => Ok(0),
        Some(Value::Object(m)) => match m.get("value") {
            None | Some(Value::Null) => Ok(0),
            Some(Value::String(s)) => {
                money::parse_amount(s).map_err(|e| AppError::invalid("amount.value", e))
            }
            Some(Value::Number(_)) => Err(AppError::invalid(
                "amount.value",
                "must be a string such as \"100.50\", not a JSON number (numbers lose cents)",
            )),
            Some(_) => Err(AppError::invalid(
                "amount.value",
                "must be a string such as \"100.50\"",
            )),
        },
        Some(_) => Err(AppError::invalid(
            "amount",
            "must be an object such as {\"value\": \"100.50\"}",
        )),
    }
}

fn conversion_details(f: &Fields) -> Result<Option<String>, AppError> {
    let mut details = serde_json::Map::new();
    if let Some(v) = f.get("couponCodes") {
        // an array of codes (a single string is taken as one code)
        let items = match v {
            Value::Array(items) => items.clone(),
            Value::String(_) => vec![v.clone()],
            _ => {
                return Err(AppError::invalid(
                    "couponCodes",
                    "must be an array of strings",
                ))
            }
        };
        if items.len() > 50 {
            return Err(AppError::invalid(
                "couponCodes",
                "must have at most 50 codes",
            ));
        }
        for i in &items {
            match i {
                Value::String(s) if s.chars().count() <= MAX_ID => {}
                _ => {
                    return Err(AppError::invalid(
                        "couponCodes",
                        "must be strings of at most 128 characters",
                    ))
                }
            }
        }
        details.insert("couponCodes".into(), Value::Array(items));
    }
    if let Some(v) = f.get("customParams") {
        let Value::Object(m) = v else {
            return Err(AppError::invalid(
                "customParams",
                "must be an object such as {\"advS1\": \"...\"}",
            ));
        };
        if m.len() > 20 {
            return Err(AppError::invalid(
                "customParams",
                "must have at most 20 entries",
            ));
        }
        // values are normally strings (the tracker resolves {queryParam} entries); anything
        // else is kept as given, within the size cap
        for (k, val) in m {
            let size = match val {
                Value::String(s) => s.chars().count(),
                other => other.to_string().len(),
            };
            if size > MAX_URL {
                return Err(AppError::invalid(
                    &format!("customParams.{k}"),
                    "must be at most 2048 characters",
                ));
            }
        }
        details.insert("customParams".into(), v.clone());
    }
    Ok((!details.is_empty()).then(|| Value::Object(details).to_string()))
}

async fn record_conversion(st: &AppState, tenant: &Tenant, f: &Fields) -> R {
    let event_id = f.event_id()?;
    let target = match f.opt_str("cid", MAX_ID)? {
        Some(cid) => Target::Cid(known_cid(cid)?),
        None => match f.opt_str("externalCid", MAX_EXTERNAL_CID)? {
            Some(ext) => Target::External {
                revenue_origin: revenue_origin(tenant, f)?,
                external_cid: ext,
            },
            None => match f.opt_str("customerKey", MAX_ID)? {
                // resolved through the lead's customerKey -> CID link
                Some(key) => Target::CustomerKey(key),
                None => {
                    return Err(AppError::invalid(
                        "cid",
                        "is required (or `externalCid` with `revenueOriginId`, or a `customerKey` sent with a lead)",
                    ))
                }
            },
        },
    };
    let (code, payout) = conversion_type(tenant, f)?;
    let amount = amount_cents(f)?;
    let status = match f.opt_str("status", 32)?.as_deref() {
        None => Status::Approved,
        Some(s) => Status::parse(s).ok_or_else(|| {
            AppError::invalid("status", "must be `pending`, `approved` or `declined`")
        })?,
    };
    let out = st
        .store
        .conversion(ConversionIn {
            tenant: tenant.id.clone(),
            event_id,
            target,
            conversion_type: code,
            payout,
            amount_cents: amount,
            currency: tenant.currency.clone(),
            external_id: f.opt_str("externalId", MAX_ID)?,
            customer_id: f.opt_str("customerId", MAX_ID)?,
            status,
            details: conversion_details(f)?,
            hold_days: tenant.hold_days,
            now: st.now(),
        })
        .await?;
    Ok(Json(out).into_response())
}

pub async fn conversion(State(st): State<AppState>, headers: HeaderMap, body: Body) -> R {
    let f = json_body(body, limit(&st)).await?;
    let tenant = browser_tenant(&st, &headers, &f)?;
    record_conversion(&st, &tenant, &f).await
}

pub async fn external_cid(State(st): State<AppState>, headers: HeaderMap, body: Body) -> R {
    let f = json_body(body, limit(&st)).await?;
    let tenant = browser_tenant(&st, &headers, &f)?;
    let is_conversion = !f.has("cid") && (f.has("conversionTypeCode") || f.has("conversionType"));
    if is_conversion {
        return record_conversion(&st, &tenant, &f).await;
    }
    let event_id = f.event_id()?;
    let cid = f.req_str("cid", MAX_ID)?;
    let ext = f.req_str("externalCid", MAX_EXTERNAL_CID)?;
    let origin = revenue_origin(&tenant, &f)?;
    let cid = known_cid(cid)?;
    let out = st
        .store
        .link_external(ExternalLinkIn {
            tenant: tenant.id.clone(),
            event_id,
            cid,
            revenue_origin: origin,
            external_cid: ext,
            now: st.now(),
        })
        .await?;
    Ok(Json(out).into_response())
}

pub async fn browser_lead(State(st): State<AppState>, headers: HeaderMap, body: Body) -> R {
    let f = json_body(body, limit(&st)).await?;
    let tenant = browser_tenant(&st, &headers, &f)?;
    let event_id = f.event_id()?;
    let cid = f.req_str("cid", MAX_ID)?;
    let key = f.req_str("customerKey", MAX_ID)?;
    let email = f.opt_email("email")?;
    let cid = known_cid(cid)?;
    let out = st
        .store
        .lead(LeadIn {
            tenant: tenant.id.clone(),
            event_id,
            cid: Some(cid),
            customer_key: Some(key),
            email,
            source: "browser",
            now: st.now(),
        })
        .await?;
    Ok(Json(out).into_response())
}

pub async fn diagnostic(State(st): State<AppState>, body: Body) -> R {
    let f = json_body(body, limit(&st)).await?;
    // unauthenticated: an unknown tenantId is stored without tenant, so made-up ids cannot
    // escape the per-tenant cap
    let catalog = st.catalog.get();
    let tenant = f
        .text("tenantId", MAX_ID)
        .filter(|t| catalog.tenant(t).is_some());
    st.store
        .diagnostic(DiagnosticIn {
            tenant,
            event_id: f.event_id()?,
            kind: f.text("kind", 32),
            message: f.text("message", MAX_URL),
            url: f.text("url", MAX_URL),
            user_agent: f.text("userAgent", 512),
            now: st.now(),
        })
        .await?;
    if let Some(kind) = f.text("kind", 32) {
        tracing::info!(kind = %kind, "tracker diagnostic received");
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- server to server

pub async fn api_lead(State(st): State<AppState>, headers: HeaderMap, body: Body) -> R {
    let tenant = st.tenant_for_key(&headers, KeyScope::Ingest)?;
    let f = json_body(body, limit(&st)).await?;
    let click_id = f.opt_str("click_id", MAX_ID)?;
    let customer_key = f.opt_str("customer_key", MAX_ID)?;
    let email = f.opt_email("email")?;
    if click_id.is_none() && customer_key.is_none() {
        return Err(AppError::invalid(
            "customer_key",
            "customer_key or click_id is required",
        ));
    }
    let cid = click_id.map(known_cid).transpose()?;
    st.store
        .lead(LeadIn {
            tenant: tenant.id.clone(),
            event_id: None,
            cid,
            customer_key,
            email,
            source: "api",
            now: st.now(),
        })
        .await?;
    Ok(Json(json!({"success": true, "message": "Lead tracked successfully"})).into_response())
}

fn positive_cents(f: &Fields, name: &str) -> Result<i64, AppError> {
    match f.get(name) {
        None => Err(AppError::invalid(
            name,
            "is required (a positive integer number of cents)",
        )),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(c) if c > 0 && c <= money::MAX_CENTS => Ok(c),
            Some(_) => Err(AppError::invalid(
                name,
                "must be a positive integer number of cents",
            )),
            None => Err(AppError::invalid(
                name,
                "must be an integer number of cents (no decimals)",
            )),
        },
        Some(_) => Err(AppError::invalid(
            name,
            "must be a JSON integer (cents), not a string",
        )),
    }
}

pub async fn api_sale(State(st): State<AppState>, headers: HeaderMap, body: Body) -> R {
    let tenant = st.tenant_for_key(&headers, KeyScope::Ingest)?;
    let f = json_body(body, limit(&st)).await?;
    let transaction_id = f.req_str("transaction_id", MAX_ID)?;
    let amount = positive_cents(&f, "amount_cents")?;
    let currency = match f.opt_str("currency", 8)? {
        None => "USD".to_string(),
        Some(c) => {
            let c = c.to_ascii_uppercase();
            if !API_CURRENCIES.contains(&c.as_str()) {
                return Err(AppError::invalid("currency", "must be USD, EUR or VND"));
            }
            c
        }
    };
    let click_id = f.opt_str("click_id", MAX_ID)?;
    let customer_key = f.opt_str("customer_key", MAX_ID)?;
    let target = match (click_id, &customer_key) {
        (Some(c), _) => Target::Cid(known_cid(c)?),
        (None, Some(k)) => Target::CustomerKey(k.clone()),
        (None, None) => {
            return Err(AppError::invalid(
                "customer_key",
                "customer_key or click_id is required",
            ))
        }
    };
    let is_recurring = f.opt_bool("is_recurring")?.unwrap_or(false);
    let subscription_id = f.opt_str("subscription_id", MAX_ID)?;
    let mut details = serde_json::Map::new();
    for k in ["sale_type", "subscription_interval", "product_id"] {
        if let Some(v) = f.opt_str(k, MAX_ID)? {
            details.insert(k.into(), Value::String(v));
        }
    }
    if let Some(items) = f.get("line_items") {
        if !items.is_array() {
            return Err(AppError::invalid("line_items", "must be an array"));
        }
        details.insert("line_items".into(), items.clone());
    }
    let code = tenant.sale_conversion_type.clone();
    let payout = tenant.sale_payout();
    let out = st
        .store
        .sale(SaleIn {
            tenant: tenant.id.clone(),
            transaction_id,
            amount_cents: amount,
            currency,
            target,
            allow_unresolved: false,
            conversion_type: code,
            payout,
            customer_key,
            is_recurring,
            subscription_id,
            source: "api",
            details: (!details.is_empty()).then(|| Value::Object(details).to_string()),
            status: Status::Approved,
            hold_days: tenant.hold_days,
            now: st.now(),
        })
        .await?;
    Ok(Json(json!({
        "success": true,
        "sale_id": out.sale_id,
        "commission_id": out.commission_id,
        "message": "Sale tracked successfully"
    }))
    .into_response())
}

// ---------------------------------------------------------------- report

#[derive(serde::Deserialize)]
pub struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
}

fn parse_day(name: &str, s: &str) -> Result<chrono::NaiveDate, AppError> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| AppError::invalid(name, "must be a date YYYY-MM-DD"))
}

pub async fn report(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> R {
    let tenant = st.tenant_for_key(&headers, KeyScope::Read)?;
    let Query(q) = q.map_err(|e| AppError::invalid("query", e.body_text()))?;
    let today = chrono::DateTime::from_timestamp(st.now(), 0)
        .unwrap_or_default()
        .date_naive();
    let to = match q.to.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => parse_day("to", s)?,
        None => today,
    };
    let from = match q.from.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => parse_day("from", s)?,
        None => to
            .checked_sub_days(chrono::Days::new(29))
            .ok_or_else(|| AppError::invalid("to", "is out of range"))?,
    };
    if from > to {
        return Err(AppError::invalid("from", "must not be after `to`"));
    }
    let start = from
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp();
    let end = to
        .checked_add_days(chrono::Days::new(1))
        .ok_or_else(|| AppError::invalid("to", "is out of range"))?
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp();
    let rows = st.store.report(&tenant.id, start, end).await?;
    let report = clicktrail_domain::report::build(
        clicktrail_domain::report::ReportScope {
            tenant_id: &tenant.id,
            from: from.format("%Y-%m-%d").to_string(),
            to: to.format("%Y-%m-%d").to_string(),
            currency: &tenant.currency,
            affiliates: &tenant.affiliates,
            now: st.now(),
        },
        &rows,
    )
    .map_err(|e| AppError::invalid("report", e.to_string()))?;
    Ok(Json(report).into_response())
}

// ---------------------------------------------------------------- static files

async fn dist_file(
    st: &AppState,
    name: &str,
    content_type: &'static str,
    headers: &HeaderMap,
) -> R {
    let path = st.dist_dir.join(name);
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(_) => {
            return Err(AppError::not_found(
                "not_built",
                format!(
                    "{} not found: run `npm run build` to build the tracker",
                    path.display()
                ),
            ))
        }
    };
    use sha2::Digest;
    let etag = format!("\"{}\"", hex::encode(&sha2::Sha256::digest(&bytes)[..12]));
    let mut resp = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, bytes).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Ok(resp)
}

pub async fn tracking_js(State(st): State<AppState>, headers: HeaderMap) -> R {
    dist_file(
        &st,
        "tracking.js",
        "application/javascript; charset=utf-8",
        &headers,
    )
    .await
}

pub async fn tracking_wasm(State(st): State<AppState>, headers: HeaderMap) -> R {
    dist_file(&st, "clicktrail_bg.wasm", "application/wasm", &headers).await
}

pub async fn dashboard(State(st): State<AppState>) -> R {
    let path = st.www_dir.join("dashboard.html");
    match tokio::fs::read(&path).await {
        Ok(b) => Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], b).into_response()),
        Err(_) => Err(AppError::not_found(
            "not_found",
            format!("{} not found", path.display()),
        )),
    }
}

/// A known route with another method: a JSON 405.
pub async fn method_not_allowed(req: Request) -> Response {
    let body = json!({"error": {"code": "method_not_allowed",
        "message": format!("{} is not allowed on {}", req.method(), req.uri().path())}});
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

/// Everything else: files from `--www` (GET/HEAD), else a JSON 404.
pub async fn www(State(st): State<AppState>, req: Request) -> R {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        let svc = tower_http::services::ServeDir::new(&st.www_dir);
        let resp = svc
            .oneshot(req)
            .await
            .map_err(|e| AppError::Internal(format!("static files: {e}")))?;
        if resp.status() != StatusCode::NOT_FOUND {
            return Ok(resp.map(Body::new));
        }
    }
    Err(AppError::not_found(
        "not_found",
        format!("no route for {method} {path}"),
    ))
}
