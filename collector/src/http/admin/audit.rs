//! Audit lines for the operators' money changes that live outside the catalog:
//! `PATCH /api/v1/conversions/{id}`, `POST /api/v1/payouts` and the portal links
//! (`POST` / `DELETE /api/v1/affiliates/{code}/portal-link`; the token is never written). A middleware on those routes
//! writes who (the key id), when and what (method, path and a summary from the answer) after a
//! 2xx answer. Catalog changes are audited inside their own transaction (`super::apply`); these
//! lines are written right after the change commits, in a transaction of their own.

use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use clicktrail_domain::catalog::key_hash;
use clicktrail_store::admin::key_id;
use clicktrail_store::AuditIn;
use serde_json::Value;

use crate::http::tenant::bearer;
use crate::state::AppState;

/// What an answer of those routes says, in words.
fn summary(v: &Value) -> String {
    if let Some(id) = v.get("payoutId") {
        return format!(
            "paid payout #{id} to `{}`: {} cents {} ({} entries)",
            v["affiliate"].as_str().unwrap_or_default(),
            v["amountCents"],
            v["currency"].as_str().unwrap_or_default(),
            v["lines"].as_array().map(Vec::len).unwrap_or(0)
        );
    }
    if let Some(id) = v.get("conversionId").and_then(Value::as_str) {
        return format!(
            "conversion `{id}` {} (commission reversed: {} cents)",
            v["status"].as_str().unwrap_or_default(),
            v["commissionReversedCents"]
        );
    }
    if v.get("token").is_some() {
        return "portal link made (the previous one, if any, stops working)".into();
    }
    String::new()
}

pub async fn audit_change(State(st): State<AppState>, req: Request, next: Next) -> Response {
    // the whole path: below `Router::nest` the request's own URI lost its `/api/v1`
    let path = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().path().to_string(), |u| u.path().to_string());
    let action = format!("{} {path}", req.method());
    let who = bearer(req.headers(), "api key").ok().and_then(|k| {
        st.catalog
            .get()
            .key(&k)
            .map(|g| (g.tenant.clone(), key_id(&key_hash(&k))))
    });
    let resp = next.run(req).await;
    let Some((tenant, actor)) = who.filter(|_| resp.status().is_success()) else {
        return resp;
    };
    let (parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "could not read an answer to audit it");
            return Response::from_parts(parts, Body::empty());
        }
    };
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let line = AuditIn {
        tenant,
        actor,
        action,
        summary: summary(&v),
        now: st.now(),
    };
    if let Err(e) = st.store.audit(line).await {
        tracing::error!(error = %e, "audit line not written");
    }
    Response::from_parts(parts, Body::from(bytes))
}
