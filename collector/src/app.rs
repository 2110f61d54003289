//! Application state, the router, and the edge: body reading, field checks, tenant resolution,
//! CORS and the per-IP rate limit.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{Map, Value};

use clicktrail_domain::catalog::{KeyScope, Tenant};

use crate::error::AppError;
use crate::state::AppState;
use crate::{routes, stripe};

/// Field length caps at the edge.
pub const MAX_ID: usize = 128;
pub const MAX_URL: usize = 2048;
pub const MAX_EMAIL: usize = 254;

/// Stripe events (invoices with many lines) can exceed the browser body limit.
pub const WEBHOOK_BODY_LIMIT: usize = 512 * 1024;

impl AppState {
    /// Tenant from the Host subdomain (when `base_domain` is set), else `tenantId`, else the
    /// only tenant.
    pub fn tenant_for(
        &self,
        headers: &HeaderMap,
        body_tenant: Option<&str>,
    ) -> Result<Arc<Tenant>, AppError> {
        let catalog = self.catalog.get();
        if let Some(id) = self.host_tenant_id(headers) {
            return catalog.tenant(&id).cloned().ok_or_else(|| {
                AppError::not_found("unknown_tenant", format!("unknown tenant `{id}`"))
            });
        }
        if let Some(id) = body_tenant {
            return catalog.tenant(id).cloned().ok_or_else(|| {
                AppError::not_found("unknown_tenant", format!("unknown tenant `{id}`"))
            });
        }
        match catalog.tenants.as_slice() {
            [only] => Ok(only.clone()),
            _ => Err(AppError::invalid(
                "tenantId",
                "is required (several tenants are configured)",
            )),
        }
    }

    pub fn host_tenant_id(&self, headers: &HeaderMap) -> Option<String> {
        let base = self.server.base_domain.as_deref()?;
        let host = headers.get(header::HOST)?.to_str().ok()?;
        let host = host
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(host)
            .to_ascii_lowercase();
        let sub = host.strip_suffix(base)?.strip_suffix('.')?;
        if sub.is_empty() || sub.contains('.') {
            return None;
        }
        // host names are case-insensitive: `acme.` reaches a tenant declared as `Acme`
        match self.catalog.get().tenant_ignore_case(sub) {
            Some(t) => Some(t.id.clone()),
            None => Some(sub.to_string()),
        }
    }

    /// Tenant from `Authorization: Bearer <key>`, if the key has `scope` (or admin).
    pub fn tenant_for_key(
        &self,
        headers: &HeaderMap,
        scope: KeyScope,
    ) -> Result<Arc<Tenant>, AppError> {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                AppError::Unauthorized("missing `Authorization: Bearer <api key>` header".into())
            })?;
        let key = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                AppError::Unauthorized("the Authorization header must be `Bearer <api key>`".into())
            })?;
        let catalog = self.catalog.get();
        let grant = catalog
            .key(key)
            .ok_or_else(|| AppError::Unauthorized("invalid API key".into()))?;
        if !grant.scopes.contains(&scope) && !grant.scopes.contains(&KeyScope::Admin) {
            return Err(AppError::Unauthorized(format!(
                "this API key may not do this (it lacks the `{}` scope)",
                scope.as_str()
            )));
        }
        let t = catalog
            .tenant(&grant.tenant)
            .cloned()
            .ok_or_else(|| AppError::Unauthorized("invalid API key".into()))?;
        if let Some(host_id) = self.host_tenant_id(headers) {
            if host_id != t.id {
                return Err(AppError::Unauthorized(
                    "this API key does not belong to this tenant".into(),
                ));
            }
        }
        Ok(t)
    }

    fn origin_allowed(&self, headers: &HeaderMap, origin: &str) -> bool {
        let catalog = self.catalog.get();
        match self
            .host_tenant_id(headers)
            .and_then(|id| catalog.tenant(&id).cloned())
        {
            Some(t) => t.allows_origin(origin),
            None => catalog.tenants.iter().any(|t| t.allows_origin(origin)),
        }
    }
}

/// Rejects a browser request whose Origin the tenant does not allow.
pub fn check_origin(tenant: &Tenant, headers: &HeaderMap) -> Result<(), AppError> {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        if !tenant.allows_origin(origin) {
            return Err(AppError::Forbidden {
                code: "origin_not_allowed",
                message: format!(
                    "origin `{origin}` is not allowed for tenant `{}`",
                    tenant.id
                ),
            });
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- router

pub fn app(state: AppState) -> Router {
    let limiter = Arc::new(RateLimiter::new(
        state.server.rate_limit_per_second,
        state.server.rate_limit_burst,
    ));
    let mut limited = Router::new()
        .route("/tracking/click/v1", post(routes::click))
        .route("/tracking/conversion/v1", post(routes::conversion))
        .route("/tracking/external-cid/v1", post(routes::external_cid))
        .route("/tracking/lead/v1", post(routes::browser_lead))
        .route("/tracking/diagnostic/v1", post(routes::diagnostic))
        .route("/api/v1/track/lead", post(routes::api_lead))
        .route("/api/v1/track/sale", post(routes::api_sale))
        .route("/api/v1/report", get(routes::report))
        .route("/webhooks/stripe", post(stripe::webhook));
    if state.demo {
        limited = limited.route("/demo/checkout", post(stripe::demo_checkout));
    }
    // CORS wraps the rate limit so that a 429 is readable by the page (the tracker retries it)
    // a known route with another method is a JSON 405 (set before the layers so that CORS
    // still answers OPTIONS preflights)
    let limited = limited
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(middleware::from_fn_with_state(limiter, rate_limit))
        .layer(middleware::from_fn_with_state(state.clone(), cors));
    let statics = Router::new()
        .route("/tracking.js", get(routes::tracking_js))
        .route("/clicktrail_bg.wasm", get(routes::tracking_wasm))
        .route("/dashboard", get(routes::dashboard))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(crate::metrics::ready))
        .route("/metrics", get(crate::metrics::render))
        .method_not_allowed_fallback(routes::method_not_allowed);
    Router::new()
        .merge(limited)
        .merge(statics)
        .fallback(routes::www)
        .layer(middleware::from_fn(log_request))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        .with_state(state)
}

/// One debug line per request (method, path, status, duration); no bodies, no query strings,
/// no headers, so no keys or emails end up in the logs.
async fn log_request(req: Request, next: Next) -> Response {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    tracing::debug!(
        %method,
        %path,
        status = resp.status().as_u16(),
        micros = start.elapsed().as_micros() as u64,
        "request"
    );
    resp
}

// ---------------------------------------------------------------- CORS

/// CORS for `/tracking/*` (the browser endpoints); other routes pass through untouched.
async fn cors(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/tracking/") {
        return next.run(req).await;
    }
    let origin = req.headers().get(header::ORIGIN).cloned();
    let allowed = origin
        .as_ref()
        .and_then(|o| o.to_str().ok())
        .map(|o| st.origin_allowed(req.headers(), o))
        .unwrap_or(false);
    let mut resp = if req.method() == Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        if allowed {
            let h = r.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("POST, OPTIONS"),
            );
            let req_headers = req
                .headers()
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static("content-type"));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, req_headers);
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("86400"),
            );
        }
        r
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if let (true, Some(o)) = (allowed, origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
    }
    resp
}

// ---------------------------------------------------------------- rate limit

/// Per-IP token bucket. `per_second == 0` disables it.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn allow(&self, ip: IpAddr) -> bool {
        if self.per_second <= 0.0 {
            return true;
        }
        let now = Instant::now();
        let Ok(mut map) = self.buckets.lock() else {
            return true;
        };
        if map.len() > 100_000 {
            // forget idle clients (a full bucket is the same as no entry)
            let (rate, burst) = (self.per_second, self.burst);
            map.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let entry = map.entry(ip).or_insert((self.burst, now));
        let refill = now.duration_since(entry.1).as_secs_f64() * self.per_second;
        entry.0 = (entry.0 + refill).min(self.burst);
        entry.1 = now;
        if entry.0 >= 1.0 {
            entry.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

async fn rate_limit(State(limiter): State<Arc<RateLimiter>>, req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if !limiter.allow(ip) {
        return AppError::RateLimited.into_response();
    }
    next.run(req).await
}

// ---------------------------------------------------------------- body and fields

/// Reads the whole body (any Content-Type) up to `limit` bytes.
pub async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, AppError> {
    crate::body::read_limited(body, limit)
        .await
        .map_err(|e| match e {
            crate::body::BodyError::TooLarge(limit) => AppError::PayloadTooLarge(limit),
            crate::body::BodyError::Read(e) => AppError::BadRequest {
                code: "bad_body",
                message: format!("could not read the request body: {e}"),
            },
        })
}

/// Parses a JSON object; a syntax error is a 400 saying where it broke.
pub fn parse_object(bytes: &[u8]) -> Result<Fields, AppError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| AppError::BadRequest {
        code: "malformed_json",
        message: format!(
            "malformed JSON at line {}, column {}: {}",
            e.line(),
            e.column(),
            strip_position(&e.to_string())
        ),
    })?;
    match v {
        Value::Object(m) => Ok(Fields(m)),
        _ => Err(AppError::BadRequest {
            code: "malformed_json",
            message: "the body must be a JSON object".into(),
        }),
    }
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

pub async fn json_body(body: Body, limit: usize) -> Result<Fields, AppError> {
    let bytes = read_body(body, limit).await?;
    parse_object(&bytes)
}

/// Typed access to a JSON object's fields; every error is a 422 naming the field.
pub struct Fields(pub Map<String, Value>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self.0.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Optional string: absent, null and "" are `None`.
    pub fn opt_str(&self, name: &str, max: usize) -> Result<Option<String>, AppError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => {
                if s.is_empty() {
                    Ok(None)
                } else if s.chars().count() > max {
                    Err(AppError::invalid(
                        name,
                        format!("must be at most {max} characters"),
                    ))
                } else if s.chars().any(|c| c.is_control()) {
                    Err(AppError::invalid(
                        name,
                        "must not contain control characters",
                    ))
                } else {
                    Ok(Some(s.clone()))
                }
            }
            Some(_) => Err(AppError::invalid(name, "must be a string")),
        }
    }

    pub fn req_str(&self, name: &str, max: usize) -> Result<String, AppError> {
        self.opt_str(name, max)?
            .ok_or_else(|| AppError::invalid(name, "is required"))
    }

    /// Optional free text: truncated instead of rejected (diagnostics).
    pub fn text(&self, name: &str, max: usize) -> Option<String> {
        match self.get(name) {
            Some(Value::String(s)) => Some(s.chars().take(max).collect()),
            Some(v) => Some(v.to_string().chars().take(max).collect()),
            None => None,
        }
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, AppError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(AppError::invalid(name, "must be true or false")),
        }
    }

    pub fn opt_email(&self, name: &str) -> Result<Option<String>, AppError> {
        let e = self.opt_str(name, MAX_EMAIL)?;
        if let Some(e) = &e {
            let ok = e
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
                && !e.contains(' ');
            if !ok {
                return Err(AppError::invalid(name, "must be an email address"));
            }
        }
        Ok(e)
    }

    /// Optional event id (browser idempotency key).
    pub fn event_id(&self) -> Result<Option<String>, AppError> {
        self.opt_str("eventId", MAX_ID)
    }

    pub fn tenant_id(&self) -> Result<Option<String>, AppError> {
        self.opt_str("tenantId", MAX_ID)
    }
}

/// A lowercase UUID if `s` is one.
pub fn normalize_uuid(s: &str) -> Option<String> {
    if s.len() != 36 {
        return None;
    }
    uuid::Uuid::parse_str(s)
        .ok()
        .map(|u| u.hyphenated().to_string())
}
