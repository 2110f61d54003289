//! `POST /api/v1/erasures` (admin key): erase one customer (`customer_key` or `email`) or one
//! visitor (`cid`) of the key's tenant (docs/privacy.md "Erasure"). The store writes the audit
//! line in the erasure's own transaction, naming the kind of subject and the counts, never the
//! value; the answer says what was changed.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use clicktrail_domain::erasure::Subject;
use clicktrail_store::EraseIn;
use serde::Deserialize;
use serde_json::json;

use super::AdminKey;
use crate::http::error::AppError;
use crate::http::extract::JsonBody;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EraseReq {
    customer_key: Option<String>,
    email: Option<String>,
    cid: Option<String>,
}

/// The subject of a request, or a 422 naming the field.
pub fn subject(req: &EraseReq) -> Result<Subject, AppError> {
    Subject::parse(
        req.customer_key.as_deref(),
        req.email.as_deref(),
        req.cid.as_deref(),
    )
    .map_err(|(field, msg)| AppError::invalid(field, msg))
}

pub async fn erase(
    State(st): State<AppState>,
    k: AdminKey,
    JsonBody(req): JsonBody<EraseReq>,
) -> Result<Response, AppError> {
    let subject = subject(&req)?;
    let erased = st
        .store
        .erase(EraseIn {
            tenant: k.tenant.id.clone(),
            subject,
            actor: k.key_id.clone(),
            now: st.now(),
        })
        .await?;
    Ok(Json(json!({ "erased": erased })).into_response())
}
