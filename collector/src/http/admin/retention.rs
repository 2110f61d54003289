//! `GET` / `PUT /api/v1/retention` (admin key): the tenant's retention (docs/privacy.md
//! "Retention"). A `PUT` replaces the whole setting (a field left out keeps that data as
//! without a setting) and writes an audit line; the background task (`crate::retention`)
//! applies it.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use clicktrail_domain::retention::Retention;
use clicktrail_store::AuditIn;

use super::AdminKey;
use crate::http::error::AppError;
use crate::http::extract::JsonBody;
use crate::state::AppState;

pub async fn get(State(st): State<AppState>, k: AdminKey) -> Result<Response, AppError> {
    Ok(Json(st.store.retention(&k.tenant.id).await?).into_response())
}

pub async fn put(
    State(st): State<AppState>,
    k: AdminKey,
    JsonBody(r): JsonBody<Retention>,
) -> Result<Response, AppError> {
    r.validate()
        .map_err(|(field, msg)| AppError::invalid(field, msg))?;
    let now = st.now();
    st.store.set_retention(&k.tenant.id, r, now).await?;
    let summary = serde_json::to_string(&r).unwrap_or_default();
    st.store
        .audit(AuditIn {
            tenant: k.tenant.id.clone(),
            actor: k.key_id.clone(),
            action: "PUT /api/v1/retention".into(),
            summary: format!("retention set to {summary}"),
            now,
        })
        .await?;
    Ok(Json(r).into_response())
}
