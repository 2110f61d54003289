//! Outgoing webhook endpoints in the admin API (admin key, the key's tenant only): create
//! (the signing secret is in this answer only), list, update (URL, events, enable / disable
//! with a reason), delete, and each endpoint's delivery log.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use clicktrail_domain::webhooks::{check_url, parse_events, EventKind};
use clicktrail_store::webhooks::{unknown_endpoint, EndpointIn, EndpointPatch};
use serde::Deserialize;
use serde_json::json;

use super::AdminKey;
use crate::http::error::AppError;
use crate::http::extract::JsonBody;
use crate::state::AppState;

type R = Result<Response, AppError>;

/// Deliveries shown per endpoint.
const LOG_LIMIT: i64 = 100;
/// The longest disable reason kept.
const MAX_REASON: usize = 500;

fn url(u: &str) -> Result<String, AppError> {
    let u = u.trim();
    check_url(u).map_err(|m| AppError::invalid("url", m.trim_start_matches("url: ")))?;
    Ok(u.to_string())
}

fn events(list: &[String]) -> Result<Vec<String>, AppError> {
    let kinds = parse_events(list)
        .map_err(|m| AppError::invalid("events", m.trim_start_matches("events: ")))?;
    Ok(kinds.into_iter().map(|k| k.as_str().to_string()).collect())
}

/// A new signing secret: 244 random bits (two v4 UUIDs), `whsec_` and hex.
fn new_secret() -> String {
    format!(
        "whsec_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    url: String,
    events: Vec<String>,
}

/// `POST /api/v1/webhook-endpoints` `{url, events}`: 201 with the endpoint and its `secret`
/// (shown this once).
pub async fn create(
    State(st): State<AppState>,
    k: AdminKey,
    JsonBody(b): JsonBody<CreateBody>,
) -> R {
    let secret = new_secret();
    let e = st
        .store
        .webhooks()
        .create_endpoint(EndpointIn {
            tenant: k.tenant.id.clone(),
            url: url(&b.url)?,
            events: events(&b.events)?,
            secret: secret.clone(),
            now: st.now(),
        })
        .await?;
    tracing::info!(tenant = %k.tenant.id, id = e.id, "webhook endpoint created");
    let mut v = json!(e);
    v["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `GET /api/v1/webhook-endpoints`: the tenant's endpoints (no secrets) and the event kinds.
pub async fn list(State(st): State<AppState>, k: AdminKey) -> R {
    let rows = st.store.webhooks().endpoints(&k.tenant.id).await?;
    let kinds: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
    Ok(Json(json!({ "endpoints": rows, "eventKinds": kinds })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    url: Option<String>,
    events: Option<Vec<String>>,
    enabled: Option<bool>,
    reason: Option<String>,
}

/// `PATCH /api/v1/webhook-endpoints/{id}` `{url?, events?, enabled?, reason?}`: disabling
/// keeps `reason` (default "disabled by an operator"); enabling clears it and makes the
/// deliveries that waited due at once.
pub async fn update(
    State(st): State<AppState>,
    k: AdminKey,
    Path(id): Path<i64>,
    JsonBody(b): JsonBody<UpdateBody>,
) -> R {
    let reason = match (b.enabled, b.reason) {
        (Some(false), r) => {
            let r = r.map(|r| r.trim().to_string()).unwrap_or_default();
            if r.chars().count() > MAX_REASON || r.chars().any(char::is_control) {
                return Err(AppError::invalid(
                    "reason",
                    format!("must be at most {MAX_REASON} characters on one line"),
                ));
            }
            Some(if r.is_empty() {
                "disabled by an operator".to_string()
            } else {
                r
            })
        }
        (_, Some(_)) => {
            return Err(AppError::invalid(
                "reason",
                "is only given with \"enabled\": false",
            ))
        }
        _ => None,
    };
    let p = EndpointPatch {
        url: b.url.as_deref().map(url).transpose()?,
        events: b.events.as_deref().map(events).transpose()?,
        enabled: b.enabled,
        reason,
    };
    let e = st
        .store
        .webhooks()
        .update_endpoint(&k.tenant.id, id, p, st.now())
        .await?;
    Ok(Json(json!(e)).into_response())
}

/// `DELETE /api/v1/webhook-endpoints/{id}`: 204; its undelivered deliveries go with it.
pub async fn delete(State(st): State<AppState>, k: AdminKey, Path(id): Path<i64>) -> R {
    st.store
        .webhooks()
        .delete_endpoint(&k.tenant.id, id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/webhook-endpoints/{id}/deliveries`: the newest deliveries (event id, body,
/// attempts, last error, next attempt, delivered time).
pub async fn deliveries(State(st): State<AppState>, k: AdminKey, Path(id): Path<i64>) -> R {
    let Some(e) = st.store.webhooks().endpoint(Some(&k.tenant.id), id).await? else {
        return Err(unknown_endpoint(id).into());
    };
    let rows = st
        .store
        .webhooks()
        .webhook_deliveries(&k.tenant.id, e.id, LOG_LIMIT)
        .await?;
    let list: Vec<_> = rows
        .into_iter()
        .map(|m| {
            json!({
                "id": m.id,
                "eventId": m.subject,
                "body": m.body,
                "attempts": m.attempts,
                "lastError": m.last_error,
                "nextAttemptAt": m.next_attempt_at,
                "deliveredAt": m.delivered_at,
                "createdAt": m.created_at,
            })
        })
        .collect();
    Ok(Json(json!({ "endpoint": e, "deliveries": list })).into_response())
}
