//! Which tenant a request is for: from the Host subdomain (with a `base_domain`), the body's
//! `tenantId`, or the only tenant (browser routes); from the API key (server routes). And
//! whether a page's Origin may post for it.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use clicktrail_domain::catalog::{KeyScope, Tenant};

use super::error::AppError;
use crate::state::AppState;

fn unknown_tenant(id: &str) -> AppError {
    AppError::not_found("unknown_tenant", format!("unknown tenant `{id}`"))
}

/// Tenant from the Host subdomain (when `base_domain` is set), else `tenantId`, else the only
/// tenant.
pub fn tenant_for(
    st: &AppState,
    headers: &HeaderMap,
    body_tenant: Option<&str>,
) -> Result<Arc<Tenant>, AppError> {
    let catalog = st.catalog.get();
    if let Some(id) = host_tenant_id(st, headers) {
        return catalog
            .tenant(&id)
            .cloned()
            .ok_or_else(|| unknown_tenant(&id));
    }
    if let Some(id) = body_tenant {
        return catalog
            .tenant(id)
            .cloned()
            .ok_or_else(|| unknown_tenant(id));
    }
    match catalog.tenants.as_slice() {
        [only] => Ok(only.clone()),
        _ => Err(AppError::invalid(
            "tenantId",
            "is required (several tenants are configured)",
        )),
    }
}

/// A browser route's tenant, refused (403) when the page's Origin is not one it allows.
pub fn browser_tenant(
    st: &AppState,
    headers: &HeaderMap,
    body_tenant: Option<&str>,
) -> Result<Arc<Tenant>, AppError> {
    let t = tenant_for(st, headers, body_tenant)?;
    check_origin(&t, headers)?;
    Ok(t)
}

/// The tenant id named by the Host (`TENANT.<base_domain>`), matched case-insensitively.
pub fn host_tenant_id(st: &AppState, headers: &HeaderMap) -> Option<String> {
    let base = st.server.base_domain.as_deref()?;
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
    match st.catalog.get().tenant_ignore_case(sub) {
        Some(t) => Some(t.id.clone()),
        None => Some(sub.to_string()),
    }
}

/// Rejects a browser request whose Origin the tenant does not allow (no Origin: not a page).
pub fn check_origin(tenant: &Tenant, headers: &HeaderMap) -> Result<(), AppError> {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        if !tenant.allows_origin(origin) {
            return Err(AppError::forbidden(
                "origin_not_allowed",
                format!(
                    "origin `{origin}` is not allowed for tenant `{}`",
                    tenant.id
                ),
            ));
        }
    }
    Ok(())
}

/// CORS: may a page at `origin` read the answers? The Host's tenant decides; without one, any
/// tenant that allows the origin (the handler then checks the body's tenant).
pub fn origin_allowed(st: &AppState, headers: &HeaderMap, origin: &str) -> bool {
    let catalog = st.catalog.get();
    match host_tenant_id(st, headers).and_then(|id| catalog.tenant(&id).cloned()) {
        Some(t) => t.allows_origin(origin),
        None => catalog.tenants.iter().any(|t| t.allows_origin(origin)),
    }
}

/// Tenant from `Authorization: Bearer <key>`, if the key has `scope` (an admin key has all).
pub fn tenant_for_key(
    st: &AppState,
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
    let catalog = st.catalog.get();
    let grant = catalog
        .key(key)
        .ok_or_else(|| AppError::Unauthorized("invalid API key".into()))?;
    if !grant.scopes.contains(&scope) && !grant.scopes.contains(&KeyScope::Admin) {
        // a valid key without the scope: 403 (RFC 6750 `insufficient_scope`), so that a
        // client tells "wrong key" (sign in again) from "this key may not" (use another key)
        return Err(AppError::forbidden(
            "insufficient_scope",
            format!(
                "this API key may not do this (it lacks the `{}` scope)",
                scope.as_str()
            ),
        ));
    }
    let t = catalog
        .tenant(&grant.tenant)
        .cloned()
        .ok_or_else(|| AppError::Unauthorized("invalid API key".into()))?;
    if let Some(host_id) = host_tenant_id(st, headers) {
        if host_id != t.id {
            return Err(AppError::Unauthorized(
                "this API key does not belong to this tenant".into(),
            ));
        }
    }
    Ok(t)
}

/// A key scope as a type, for [`KeyTenant`].
pub trait Scope: Send + Sync + 'static {
    const SCOPE: KeyScope;
}

/// Server-to-server tracking (`/api/v1/track/*`).
pub struct IngestScope;
impl Scope for IngestScope {
    const SCOPE: KeyScope = KeyScope::Ingest;
}

/// Reports.
pub struct ReadScope;
impl Scope for ReadScope {
    const SCOPE: KeyScope = KeyScope::Read;
}

/// The tenant of the request's API key, which has scope `S` (or admin); a 401 for a missing or
/// wrong key, a 403 for a key without the scope.
/// Extracted from the head, so a bad key is refused before the body is read.
pub struct KeyTenant<S: Scope>(pub Arc<Tenant>, pub PhantomData<S>);

/// An ingest key's tenant.
pub type IngestTenant = KeyTenant<IngestScope>;
/// A read key's tenant.
pub type ReadTenant = KeyTenant<ReadScope>;

impl<St, S> FromRequestParts<St> for KeyTenant<S>
where
    S: Scope,
    AppState: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, AppError> {
        let st = AppState::from_ref(state);
        tenant_for_key(&st, &parts.headers, S::SCOPE).map(|t| KeyTenant(t, PhantomData))
    }
}
