//! `GET` / `PUT /api/v1/rules`: the tenant's commission rules, coupon codes, affiliate emails
//! and self-referral setting, one document (domain `rules`; docs/money.md). `PUT` replaces the
//! whole document; it is validated by the domain (422 on `rules` with the reason), and every
//! affiliate it names must be one of the tenant's enabled affiliates.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use clicktrail_domain::rules::Rules;
use clicktrail_store::CatalogChange;
use serde_json::Value;

use super::{apply, AdminKey, ReadKey};
use crate::http::error::AppError;
use crate::http::extract::JsonBody;
use crate::state::AppState;

type R = Result<Response, AppError>;

/// `GET /api/v1/rules` (read or admin key).
pub async fn get_rules(k: ReadKey) -> R {
    Ok(Json(k.tenant.rules.as_ref()).into_response())
}

/// `PUT /api/v1/rules` (admin key): the new document.
pub async fn put_rules(State(st): State<AppState>, k: AdminKey, JsonBody(v): JsonBody<Value>) -> R {
    let rules: Rules =
        serde_json::from_value(v).map_err(|e| AppError::invalid("rules", e.to_string()))?;
    let unknown = rules.unknown_affiliates(&k.tenant.affiliates);
    if !unknown.is_empty() {
        return Err(AppError::invalid(
            "rules",
            format!(
                "names affiliates this tenant does not have (or has disabled): {}",
                unknown.join(", ")
            ),
        ));
    }
    apply(
        &st,
        &k.tenant.id,
        &k.key_id,
        "PUT /api/v1/rules".into(),
        "replaced the commission rules".into(),
        CatalogChange::SetRules {
            rules: rules.clone(),
        },
    )
    .await?;
    Ok(Json(rules).into_response())
}
