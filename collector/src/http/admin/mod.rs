//! The admin API (docs/collector.md "Admin API"): the catalog (affiliates,
//! conversion types, revenue and allowed origins, keys), tenants (operator token), and the
//! logs (diagnostics, recent events, audit).
//!
//! ```text
//! mod.rs      AdminKey / ReadKey (the one API-key extractor, `tenant::ApiKey`, at admin or
//!             read scope), Operator (CLICKTRAIL_ADMIN_TOKEN); the change helper
//! catalog.rs  affiliates, conversion types, origins, keys, tenants (writes)
//! audit.rs    audit lines for conversion status changes and payouts (a middleware)
//! logs.rs     whoami, diagnostics, recent events, audit log (reads)
//! erase.rs    erasure of one customer or visitor
//! retention.rs a tenant's retention setting
//! ```
//!
//! Every change goes through [`apply`]: the store writes it, its audit line and a catalog
//! version bump in one transaction; this collector then reloads its snapshot at once, and every
//! other collector within [`crate::catalog::REFRESH_EVERY`]. Every store call names the key's
//! tenant: nothing of another tenant is ever read or written.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use clicktrail_store::{CatalogChange, ChangeIn};
use sha2::{Digest, Sha256};

use super::error::AppError;
use super::tenant::{bearer, AdminScope, ApiKey, ReadScope};
use crate::state::AppState;

pub mod audit;
pub mod catalog;
pub mod erase;
pub mod logs;
pub mod program;
pub mod retention;
pub mod rules;
pub mod webhooks;

/// A request made with an admin key: its tenant and the key's id (`key_id`, the audit log's
/// "who").
pub type AdminKey = ApiKey<AdminScope>;

/// A request made with a read or admin key; `scopes` says which.
pub type ReadKey = ApiKey<ReadScope>;

/// The server-wide operator token (`CLICKTRAIL_ADMIN_TOKEN`): may create tenants. Without the
/// variable the route answers 401 to everyone.
pub struct Operator;

impl<St> FromRequestParts<St> for Operator
where
    AppState: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, AppError> {
        let st = AppState::from_ref(state);
        let Some(token) = st.admin_token.as_deref() else {
            return Err(AppError::Unauthorized(
                "creating tenants needs the operator token (CLICKTRAIL_ADMIN_TOKEN is not set on this server)".into(),
            ));
        };
        let presented = bearer(&parts.headers, "operator token")?;
        // compared as hashes: the time taken says nothing about the token
        if Sha256::digest(presented.as_bytes()) == Sha256::digest(token.as_bytes()) {
            Ok(Operator)
        } else {
            Err(AppError::Unauthorized("invalid operator token".into()))
        }
    }
}

/// Writes one change (with its audit line), then reloads this collector's catalog snapshot so
/// that the answer and the next request see it.
pub async fn apply(
    st: &AppState,
    tenant: &str,
    actor: &str,
    action: String,
    summary: String,
    change: CatalogChange,
) -> Result<(), AppError> {
    st.store
        .change_catalog(ChangeIn {
            tenant: tenant.to_string(),
            actor: actor.to_string(),
            action,
            summary,
            change,
            now: st.now(),
        })
        .await?;
    if let Err(e) = st.catalog.refresh(st.store.as_ref()).await {
        // stored; the refresh loop picks it up within a second
        tracing::warn!(error = %e, "catalog reload after an admin change failed");
    }
    Ok(())
}

/// A new secret key: `ct_<scope>_` and 64 random hex digits (two v4 UUIDs' random bits).
pub fn new_key(scope: &str) -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("ct_{scope}_{a}{b}")
}

/// `limit` (default 50, 1..=500) and `offset` (default 0, at most 100 000).
pub fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), AppError> {
    let limit = limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 500"));
    }
    let offset = offset.unwrap_or(0);
    if !(0..=100_000).contains(&offset) {
        return Err(AppError::invalid("offset", "must be between 0 and 100000"));
    }
    Ok((limit, offset))
}

/// `since`: unix seconds, `YYYY-MM-DD` (00:00 UTC) or RFC 3339.
pub fn parse_since(s: &str) -> Result<i64, AppError> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp());
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .map_err(|_| {
            AppError::invalid(
                "since",
                "must be unix seconds, a date YYYY-MM-DD or an RFC 3339 time",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_seconds_days_and_rfc3339() {
        assert_eq!(parse_since("1795072000"), Ok(1_795_072_000));
        assert_eq!(parse_since("2026-11-19"), Ok(1_795_046_400));
        assert_eq!(parse_since("2026-11-19T07:06:40Z"), Ok(1_795_072_000));
        assert!(parse_since("yesterday").is_err());
        assert!(parse_since("2026-02-30").is_err());
    }

    #[test]
    fn pages_are_bounded() {
        assert_eq!(page(None, None), Ok((50, 0)));
        assert_eq!(page(Some(500), Some(100_000)), Ok((500, 100_000)));
        assert!(page(Some(0), None).is_err());
        assert!(page(Some(501), None).is_err());
        assert!(page(None, Some(-1)).is_err());
    }

    #[test]
    fn new_keys_are_long_random_and_say_their_scope() {
        let (a, b) = (new_key("read"), new_key("read"));
        assert_ne!(a, b);
        assert!(
            a.starts_with("ct_read_") && a.len() == "ct_read_".len() + 64,
            "{a}"
        );
    }
}
