//! The affiliate program in the admin API (admin key): applications (list, approve, reject
//! with a reason), the tenant's program settings, the affiliates' payout details, and the
//! outbox (what was sent, what waits and why).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use clicktrail_domain::program::{email_ok, ApplicationStatus, MAX_REASON};
use clicktrail_store::program::{DecideIn, Decision, ProgramSettings};
use serde::Deserialize;
use serde_json::json;

use super::AdminKey;
use crate::http::error::AppError;
use crate::http::extract::JsonBody;
use crate::http::join::{new_link, notices};
use crate::state::AppState;

type R = Result<Response, AppError>;

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

/// `GET /api/v1/applications[?status=pending|approved|rejected]`, newest first.
pub async fn list(
    State(st): State<AppState>,
    k: AdminKey,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> R {
    let Query(q) = q.map_err(|e| AppError::invalid("query", e.body_text()))?;
    if let Some(s) = &q.status {
        if ApplicationStatus::parse(s).is_none() {
            return Err(AppError::invalid(
                "status",
                "must be pending, approved or rejected",
            ));
        }
    }
    let rows = st
        .store
        .program()
        .applications(&k.tenant.id, q.status.as_deref())
        .await?;
    Ok(Json(json!({ "applications": rows })).into_response())
}

async fn decide(st: &AppState, k: &AdminKey, id: i64, decision: Decision) -> R {
    let settings = st.store.program().program_settings(&k.tenant.id).await?;
    let row = st
        .store
        .program()
        .decide_application(DecideIn {
            tenant: k.tenant.id.clone(),
            id,
            decision,
            actor: k.key_id.clone(),
            notices: notices(st, &k.tenant.id, settings),
            now: st.now(),
        })
        .await?;
    if row.status == ApplicationStatus::Approved.as_str() {
        if let Err(e) = st.catalog.refresh(st.store.as_ref()).await {
            tracing::warn!(error = %e, "catalog reload after an approval failed");
        }
    }
    tracing::info!(tenant = %k.tenant.id, id, status = %row.status, "application decided");
    Ok(Json(json!(row)).into_response())
}

/// `POST /api/v1/applications/{id}/approve`: the affiliate is created (the code asked for
/// when free, else a derived free one) with a portal link, which the approval email carries.
pub async fn approve(State(st): State<AppState>, k: AdminKey, Path(id): Path<i64>) -> R {
    let link = new_link(&st);
    decide(&st, &k, id, Decision::Approve(link)).await
}

#[derive(Deserialize)]
pub struct RejectBody {
    #[serde(default)]
    reason: String,
}

/// `POST /api/v1/applications/{id}/reject` `{reason}`
pub async fn reject(
    State(st): State<AppState>,
    k: AdminKey,
    Path(id): Path<i64>,
    JsonBody(b): JsonBody<RejectBody>,
) -> R {
    let reason = b.reason.trim().to_string();
    if reason.is_empty() {
        return Err(AppError::invalid(
            "reason",
            "is required (the applicant reads it)",
        ));
    }
    if reason.chars().count() > MAX_REASON
        || reason
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return Err(AppError::invalid(
            "reason",
            format!("must be at most {MAX_REASON} characters without control characters"),
        ));
    }
    decide(&st, &k, id, Decision::Reject { reason }).await
}

/// `GET /api/v1/program/settings`
pub async fn settings(State(st): State<AppState>, k: AdminKey) -> R {
    let s = st.store.program().program_settings(&k.tenant.id).await?;
    Ok(Json(json!(s)).into_response())
}

/// The keys a `PATCH` may set (any subset; `null` clears the optional texts).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsPatch {
    join_enabled: Option<bool>,
    auto_approve: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    program_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    shop_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    operator_email: Option<Option<String>>,
    notify_applications: Option<bool>,
    notify_decisions: Option<bool>,
    notify_commissions: Option<bool>,
    notify_payouts: Option<bool>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn check_patch(p: &SettingsPatch) -> Result<(), AppError> {
    if let Some(Some(n)) = &p.program_name {
        if n.chars().count() > 200 || n.chars().any(char::is_control) {
            return Err(AppError::invalid(
                "programName",
                "must be at most 200 characters without control characters",
            ));
        }
    }
    if let Some(Some(u)) = &p.shop_url {
        if !(u.starts_with("https://") || u.starts_with("http://"))
            || u.len() > 500
            || u.contains([' ', '?', '#', '\n'])
        {
            return Err(AppError::invalid(
                "shopUrl",
                "must be an address such as https://shop.example.com",
            ));
        }
    }
    if let Some(Some(e)) = &p.operator_email {
        if !email_ok(e) {
            return Err(AppError::invalid(
                "operatorEmail",
                "is not an email address such as ops@example.com",
            ));
        }
    }
    Ok(())
}

/// `PATCH /api/v1/program/settings`
pub async fn update_settings(
    State(st): State<AppState>,
    k: AdminKey,
    JsonBody(p): JsonBody<SettingsPatch>,
) -> R {
    check_patch(&p)?;
    let old = st.store.program().program_settings(&k.tenant.id).await?;
    let s = ProgramSettings {
        join_enabled: p.join_enabled.unwrap_or(old.join_enabled),
        auto_approve: p.auto_approve.unwrap_or(old.auto_approve),
        program_name: p.program_name.unwrap_or(old.program_name),
        shop_url: p
            .shop_url
            .map(|u| u.map(|u| u.trim_end_matches('/').to_string()))
            .unwrap_or(old.shop_url),
        operator_email: p.operator_email.unwrap_or(old.operator_email),
        notify_applications: p.notify_applications.unwrap_or(old.notify_applications),
        notify_decisions: p.notify_decisions.unwrap_or(old.notify_decisions),
        notify_commissions: p.notify_commissions.unwrap_or(old.notify_commissions),
        notify_payouts: p.notify_payouts.unwrap_or(old.notify_payouts),
    };
    st.store
        .program()
        .set_program_settings(&k.tenant.id, &s, st.now())
        .await?;
    st.store
        .audit(clicktrail_store::AuditIn {
            tenant: k.tenant.id.clone(),
            actor: k.key_id.clone(),
            action: "PATCH /api/v1/program/settings".into(),
            summary: "program settings changed".into(),
            now: st.now(),
        })
        .await?;
    Ok(Json(json!(s)).into_response())
}

/// `GET /api/v1/payout-details`: every affiliate's payout method and address.
pub async fn payout_details(State(st): State<AppState>, k: AdminKey) -> R {
    let all = st.store.program().all_payout_details(&k.tenant.id).await?;
    let list: Vec<_> = all
        .into_iter()
        .map(|(a, d)| json!({ "affiliate": a, "method": d.method, "address": d.address, "updatedAt": d.updated_at }))
        .collect();
    Ok(Json(json!({ "payoutDetails": list })).into_response())
}

/// `GET /api/v1/outbox`: the tenant's newest 200 messages and their delivery state.
pub async fn outbox(State(st): State<AppState>, k: AdminKey) -> R {
    let rows = st.store.program().outbox(&k.tenant.id, 200).await?;
    Ok(Json(json!({ "messages": rows })).into_response())
}
