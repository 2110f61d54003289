//! Which tenant a request is for: from the Host subdomain (with a `base_domain`), the body's
//! `tenantId`, or the only tenant (browser routes); from the API key (server routes, the
//! [`ApiKey`] extractor). And whether a page's Origin may post for it.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum_extra::headers::authorization::{Authorization, Bearer};
use axum_extra::headers::Header;
use clicktrail_domain::catalog::{key_hash, KeyScope, Tenant};
use clicktrail_store::admin::key_id;

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

/// The token of `Authorization: Bearer <token>` (axum-extra's typed header parses it): a 401
/// naming `what` when the header is missing or not a bearer token.
pub fn bearer(headers: &HeaderMap, what: &str) -> Result<String, AppError> {
    let header = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        AppError::Unauthorized(format!("missing `Authorization: Bearer <{what}>` header"))
    })?;
    let auth = Authorization::<Bearer>::decode(&mut std::iter::once(header)).map_err(|_| {
        AppError::Unauthorized(format!(
            "the Authorization header must be `Bearer <{what}>`"
        ))
    })?;
    Ok(auth.token().trim().to_string())
}

/// The key `key` grants scope `scope` (an admin key has all): its tenant and grant. A 401 for
/// an unknown key or one of another Host's tenant, a 403 for a key without the scope.
fn grant_for(
    st: &AppState,
    headers: &HeaderMap,
    key: &str,
    scope: KeyScope,
) -> Result<(Arc<Tenant>, Vec<KeyScope>), AppError> {
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
    Ok((t, grant.scopes.clone()))
}

/// A key scope as a type, for [`ApiKey`].
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

/// Operators: the catalog, payouts, conversion status, portal links.
pub struct AdminScope;
impl Scope for AdminScope {
    const SCOPE: KeyScope = KeyScope::Admin;
}

/// The request's API key, which has scope `S` (or admin): its tenant, its scopes and its id
/// (the audit log's "who"). A 401 for a missing or wrong key, a 403 for a key without the
/// scope. The one API-key extractor; read from the head, so a bad key is refused before the
/// body is read.
pub struct ApiKey<S: Scope> {
    pub tenant: Arc<Tenant>,
    pub scopes: Vec<KeyScope>,
    pub key_id: String,
    scope: PhantomData<S>,
}

/// An ingest key.
pub type IngestTenant = ApiKey<IngestScope>;
/// A read (or admin) key.
pub type ReadTenant = ApiKey<ReadScope>;
/// An admin key.
pub type AdminTenant = ApiKey<AdminScope>;

impl<St, S> FromRequestParts<St> for ApiKey<S>
where
    S: Scope,
    AppState: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, AppError> {
        let st = AppState::from_ref(state);
        let key = bearer(&parts.headers, "api key")?;
        let (tenant, scopes) = grant_for(&st, &parts.headers, &key, S::SCOPE)?;
        Ok(ApiKey {
            tenant,
            scopes,
            key_id: key_id(&key_hash(&key)),
            scope: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(v: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = v {
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
        }
        h
    }

    fn message(r: Result<String, AppError>) -> String {
        match r {
            Err(AppError::Unauthorized(m)) => m,
            other => panic!("expected a 401, got {other:?}"),
        }
    }

    #[test]
    fn bearer_tokens_are_read_once_here() {
        for v in ["Bearer sk_1", "bearer sk_1", "BEARER  sk_1 "] {
            assert_eq!(
                bearer(&with_auth(Some(v)), "api key").unwrap(),
                "sk_1",
                "{v}"
            );
        }
        assert_eq!(
            message(bearer(&with_auth(None), "api key")),
            "missing `Authorization: Bearer <api key>` header"
        );
        for v in ["Basic c2s6", "Bearer", "sk_1"] {
            assert_eq!(
                message(bearer(&with_auth(Some(v)), "operator token")),
                "the Authorization header must be `Bearer <operator token>`",
                "{v}"
            );
        }
    }
}
