//! `POST /webhooks/recurly/{tenant}`: Recurly's JSON webhooks, verified with the tenant's
//! webhook key. A JSON notification carries only ids, so the transaction it names (and its
//! account) is read from Recurly's API v3 ([`crate::recurly_api`]) with the tenant's API key;
//! the sale or refund is then recorded with the shared helpers of [`super::chargebee`]
//! (`Store::sale`, `Store::refund_or_keep`), the ledger rules of every sale.
//!
//! Signature: `recurly-signature: TIMESTAMP,HEXSIG[,HEXSIG...]`, TIMESTAMP in milliseconds,
//! HEXSIG = hex HMAC-SHA256(key, "TIMESTAMP.BODY") (one per active key while a key is rotated).
//! A timestamp more than 5 minutes from now is refused like Stripe's.
//!
//! | `object_type` / `event_type` | what is recorded |
//! |---|---|
//! | `payment` / `succeeded` | a sale `recurly:<transaction id>` of the transaction's amount |
//! | `payment` / `refunded` | a refund `recurly:<refund transaction id>` of the sale `recurly:<original_transaction_id>` |
//! | anything else | nothing (200, `ignored`) |
//!
//! A sale's coupon codes are those of the coupons redeemed on the transaction's invoice
//! (`GET /invoices/{id}/coupon_redemptions`, asked only for a purchase that names an invoice):
//! one of the tenant's codes credits its affiliate when no click does.
//!
//! When Recurly's API cannot be reached or fails, the answer is 502 and nothing is recorded:
//! Recurly delivers the notification again. The translation from Recurly's transaction to the
//! project's sale/refund is [`super::recurly_money`].

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use clicktrail_domain::catalog::Tenant;
use clicktrail_domain::ids::capped;

use super::chargebee::{configured, ignored, record_refund, record_sale_and_kept};
use super::recurly_money::{coupon_codes, refund_of, sale_of};
use super::stripe::{sign, SigError, TOLERANCE_SECS, WEBHOOK_BODY_LIMIT};
use crate::http::error::AppError;
use crate::http::extract::{parse_json, read_body};
use crate::recurly_api::{ApiError, Site};
use crate::state::AppState;

/// A JSON notification: ids only (Recurly's documented shape).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Notification {
    /// The notified object's id.
    pub id: Option<String>,
    pub object_type: Option<String>,
    pub site_id: Option<String>,
    pub event_type: Option<String>,
    pub event_time: Option<String>,
    /// The notified object's uuid (for a payment: the transaction's).
    pub uuid: Option<String>,
}

/// Verifies a `recurly-signature` header (`TIMESTAMP_MS,HEXSIG[,HEXSIG]`).
pub fn verify(key: &str, header: &str, payload: &[u8], now: i64) -> Result<(), SigError> {
    let mut parts = header.split(',').map(str::trim);
    let t_ms: i64 = parts
        .next()
        .and_then(|t| t.parse().ok())
        .ok_or(SigError::Malformed)?;
    let sigs: Vec<&str> = parts.filter(|s| !s.is_empty()).collect();
    if sigs.is_empty() || key.is_empty() {
        return Err(SigError::Malformed);
    }
    let expected = sign(key, t_ms, payload);
    let ok = sigs.iter().fold(false, |ok, s| {
        ok | (s.len() == expected.len() && bool::from(s.as_bytes().ct_eq(expected.as_bytes())))
    });
    if !ok {
        return Err(SigError::Mismatch);
    }
    if now.abs_diff(t_ms.div_euclid(1000)) > TOLERANCE_SECS.unsigned_abs() {
        return Err(SigError::Stale);
    }
    Ok(())
}

/// The header value Recurly would send (tests, docs).
pub fn signature_header(key: &str, t_ms: i64, payload: &[u8]) -> String {
    format!("{t_ms},{}", sign(key, t_ms, payload))
}

/// `POST /webhooks/recurly/{tenant}`
pub async fn webhook(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let tenant = configured(&st, &tenant, |t| !t.recurly_webhook_key.is_empty())?;
    let payload = read_body(body, WEBHOOK_BODY_LIMIT).await?;
    let now = st.now();
    let header = headers
        .get("recurly-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match verify(&tenant.recurly_webhook_key, header, &payload, now) {
        Ok(()) => {}
        Err(SigError::Stale) => {
            tracing::warn!(tenant = %tenant.id, "rejected Recurly webhook: stale timestamp");
            return Err(AppError::bad_request(
                "signature_expired",
                "recurly-signature timestamp is more than 5 minutes away from now",
            ));
        }
        Err(SigError::Mismatch | SigError::Malformed) => {
            tracing::warn!(tenant = %tenant.id, "rejected Recurly webhook: bad signature");
            return Err(AppError::Unauthorized(
                "recurly-signature is missing or does not match the payload".into(),
            ));
        }
    }
    let n: Notification = parse_json(&payload)?;
    let id = capped(n.id.as_deref()).unwrap_or_default();
    let kind = format!(
        "{}.{}",
        n.object_type.as_deref().unwrap_or_default(),
        n.event_type.as_deref().unwrap_or_default()
    );
    let result = match kind.as_str() {
        "payment.succeeded" | "payment.refunded" => payment(&st, &tenant, &n, now).await?,
        _ => Ok(ignored("event type not handled")),
    };
    match result {
        Ok(answer) => {
            tracing::info!(tenant = %tenant.id, notification = %id, event_type = %kind, answer = %answer, "Recurly event");
            Ok(Json(answer).into_response())
        }
        Err(e) => {
            tracing::warn!(tenant = %tenant.id, notification = %id, event_type = %kind, error = %e, "Recurly event not recorded: Recurly's API failed (Recurly retries)");
            Ok(bad_gateway(&e))
        }
    }
}

/// 502 `recurly_api_failed`: nothing recorded, Recurly delivers the notification again.
fn bad_gateway(e: &ApiError) -> Response {
    let body = json!({"error": {"code": "recurly_api_failed", "message": e.0}});
    (StatusCode::BAD_GATEWAY, Json(body)).into_response()
}

/// A payment notification: the transaction (and its account) from Recurly's API, then the sale
/// or the refund it is. The outer error is the collector's own (store), the inner Recurly's.
async fn payment(
    st: &AppState,
    tenant: &Tenant,
    n: &Notification,
    now: i64,
) -> Result<Result<Value, ApiError>, AppError> {
    let Some(uuid) = capped(n.uuid.as_deref()) else {
        return Ok(Ok(ignored("no transaction uuid")));
    };
    if tenant.recurly_api_key.is_empty() {
        return Ok(Err(ApiError(
            "recurly_api_key is not configured for this tenant".into(),
        )));
    }
    let site = Site::new(&tenant.recurly_api_url, &tenant.recurly_api_key);
    let tx = match site.transaction(&format!("uuid-{uuid}")).await {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    if n.event_type.as_deref() == Some("refunded") {
        return Ok(Ok(match refund_of(tenant, &tx, now) {
            Ok(r) => record_refund(st, r).await?,
            Err(why) => ignored(why),
        }));
    }
    let account = match tx.account.as_ref().and_then(|a| capped(a.id.as_deref())) {
        Some(account_id) => match site.account(&account_id).await {
            Ok(a) => Some(a),
            Err(e) => return Ok(Err(e)),
        },
        None => None,
    };
    let mut sale = match sale_of(tenant, &tx, account.as_ref(), now) {
        Ok(s) => s,
        Err(why) => return Ok(Ok(ignored(why))),
    };
    if let Some(invoice_id) = tx.invoice.as_ref().and_then(|i| capped(i.id.as_deref())) {
        match site.invoice_coupon_redemptions(&invoice_id).await {
            Ok(r) => sale.coupon_codes = coupon_codes(&r),
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(record_sale_and_kept(st, sale, Vec::new()).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_rules() {
        let body = br#"{"id":"n1"}"#;
        let t = 1_700_000_000_000;
        let h = signature_header("k", t, body);
        assert_eq!(verify("k", &h, body, 1_700_000_000), Ok(()));
        assert_eq!(verify("k", &h, body, 1_700_000_300), Ok(()));
        assert_eq!(verify("k", &h, body, 1_700_000_301), Err(SigError::Stale));
        assert_eq!(
            verify("x", &h, body, 1_700_000_000),
            Err(SigError::Mismatch)
        );
        assert_eq!(
            verify("k", &h, b"{}", 1_700_000_000),
            Err(SigError::Mismatch)
        );
        assert_eq!(verify("k", "abc", body, 0), Err(SigError::Malformed));
        assert_eq!(verify("k", "", body, 0), Err(SigError::Malformed));
        let rotated = format!("{t},{},{}", "0".repeat(64), sign("k", t, body));
        assert_eq!(verify("k", &rotated, body, 1_700_000_000), Ok(()));
        let h = signature_header("k", i64::MIN, body);
        assert_eq!(verify("k", &h, body, 0), Err(SigError::Stale));
    }
}
