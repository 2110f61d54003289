//! Read routes of the admin API: who am I, diagnostics, the recent-event log (read or admin
//! key) and the audit log (admin key). All filtered by the key's tenant, newest first, with a
//! `limit` (1..=500, default 50) and an `offset`.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use clicktrail_store::admin::EVENT_KINDS;
use clicktrail_store::EventFilter;
use serde::Deserialize;
use serde_json::json;

use super::{page, parse_since, AdminKey, ReadKey};
use crate::http::error::AppError;
use crate::state::AppState;

type R = Result<Response, AppError>;

/// `GET /api/v1/whoami`: the key's tenant, scopes and id (the dashboard shows the admin
/// sections only to admin keys).
pub async fn whoami(k: ReadKey) -> R {
    let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
    Ok(Json(json!({
        "tenant": k.tenant.id,
        "key_id": k.key_id,
        "scopes": scopes,
        "currency": k.tenant.currency,
        "hold_days": k.tenant.hold_days,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    kind: Option<String>,
    affiliate: Option<String>,
    since: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

impl LogQuery {
    fn filter(self, tenant: &str, kinds: Vec<String>) -> Result<EventFilter, AppError> {
        let (limit, offset) = page(self.limit, self.offset)?;
        Ok(EventFilter {
            tenant: tenant.to_string(),
            kinds,
            affiliate: self.affiliate.filter(|a| !a.is_empty()),
            since: self.since.as_deref().map(parse_since).transpose()?,
            limit,
            offset,
        })
    }
}

fn kinds(q: &Option<String>) -> Vec<String> {
    q.as_deref()
        .map(|k| {
            k.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /api/v1/diagnostics?kind=csp,rejected&since=…&limit=…&offset=…` (kind: the stored
/// diagnostic kind, e.g. `csp`, `wasm`, `rejected`).
pub async fn diagnostics(State(st): State<AppState>, k: ReadKey, Query(q): Query<LogQuery>) -> R {
    if q.affiliate.is_some() {
        return Err(AppError::invalid(
            "affiliate",
            "diagnostics have no affiliate",
        ));
    }
    let kinds = kinds(&q.kind);
    let f = q.filter(&k.tenant.id, kinds)?;
    let (limit, offset) = (f.limit, f.offset);
    let rows = st.store.diagnostics(f).await?;
    let next = (rows.len() as i64 == limit).then_some(offset + limit);
    Ok(Json(json!({ "diagnostics": rows, "next_offset": next })).into_response())
}

/// `GET /api/v1/events?kind=click,sale&affiliate=alice&since=2026-11-01&limit=50&offset=0`
pub async fn events(State(st): State<AppState>, k: ReadKey, Query(q): Query<LogQuery>) -> R {
    let kinds = kinds(&q.kind);
    if let Some(bad) = kinds.iter().find(|k| !EVENT_KINDS.contains(&k.as_str())) {
        return Err(AppError::invalid(
            "kind",
            format!("`{bad}` is not one of {}", EVENT_KINDS.join(", ")),
        ));
    }
    let f = q.filter(&k.tenant.id, kinds)?;
    let (limit, offset) = (f.limit, f.offset);
    let rows = st.store.recent_events(f).await?;
    let next = (rows.len() as i64 == limit).then_some(offset + limit);
    Ok(Json(json!({ "events": rows, "next_offset": next })).into_response())
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `GET /api/v1/audit?limit=…&offset=…`
pub async fn audit(State(st): State<AppState>, k: AdminKey, Query(q): Query<PageQuery>) -> R {
    let (limit, offset) = page(q.limit, q.offset)?;
    let rows = st.store.audit_log(&k.tenant.id, limit, offset).await?;
    let next = (rows.len() as i64 == limit).then_some(offset + limit);
    Ok(Json(json!({ "audit": rows, "next_offset": next })).into_response())
}
