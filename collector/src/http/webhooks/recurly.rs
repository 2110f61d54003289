//! `POST /webhooks/recurly/{tenant}` (issue 11, PartnerStack compatibility): Recurly's JSON
//! webhooks, verified with the tenant's webhook key and recorded like Chargebee's (the shared
//! helpers of [`super::chargebee`]: `Store::sale`, `Store::refund`).
//!
//! Signature: `recurly-signature: TIMESTAMP,HEXSIG[,HEXSIG...]`, TIMESTAMP in milliseconds,
//! HEXSIG = hex HMAC-SHA256(key, "TIMESTAMP.BODY") (one per active key while a key is rotated).
//! A timestamp more than 5 minutes from now is refused like Stripe's.
//!
//! | `object_type` / `event_type` | what is recorded |
//! |---|---|
//! | `payment` / `succeeded` | a sale `recurly:<uuid>` (the transaction uuid), attributed by `account_code` as customer key |
//! | `payment` / `refunded` | a refund `recurly:<uuid>` of the sale `recurly:<original_transaction_uuid>` |
//! | anything else | nothing (200, `ignored`) |
//!
//! Recurly's JSON notifications carry ids; the amount is read from `amount_in_cents` (integer)
//! or `amount` (decimal, major units) when the payload has it. A payment without an amount
//! cannot be recorded from the webhook alone (200, `ignored`, logged): the collector does not
//! call Recurly's API back.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;

use clicktrail_domain::catalog::Tenant;
use clicktrail_domain::money::parse_amount;
use clicktrail_store::RefundIn;

use super::chargebee::{capped, configured, ignored, record_refund, record_sale, sale, target};
use super::stripe::{sign, SigError, TOLERANCE_SECS, WEBHOOK_BODY_LIMIT};
use crate::http::error::AppError;
use crate::http::extract::{parse_json, read_body};
use crate::state::AppState;

/// A JSON notification (the fields read here; others are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Notification {
    /// The notification's id.
    pub id: Option<String>,
    pub object_type: Option<String>,
    pub event_type: Option<String>,
    /// The transaction's uuid.
    pub uuid: Option<String>,
    pub account_code: Option<String>,
    pub subscription_id: Option<String>,
    /// On a refund: the payment it refunds.
    pub original_transaction_uuid: Option<String>,
    pub amount_in_cents: Option<i64>,
    /// Decimal in major units (`19.99`), as Recurly's v3 API writes amounts.
    pub amount: Option<Value>,
    pub currency: Option<String>,
}

impl Notification {
    /// The amount in cents when the payload has one (`amount_in_cents`, else `amount`).
    pub fn cents(&self) -> Option<i64> {
        if let Some(c) = self.amount_in_cents {
            return Some(c);
        }
        let text = match self.amount.as_ref()? {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.trim().to_string(),
            _ => return None,
        };
        parse_amount(&text).ok()
    }
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
) -> Result<Json<Value>, AppError> {
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
    let answer = match kind.as_str() {
        "payment.succeeded" => record(&st, &tenant, &n, now, true).await?,
        "payment.refunded" => record(&st, &tenant, &n, now, false).await?,
        _ => ignored("event type not handled"),
    };
    tracing::info!(tenant = %tenant.id, notification = %id, event_type = %kind, answer = %answer, "Recurly event");
    Ok(Json(answer))
}

async fn record(
    st: &AppState,
    tenant: &Tenant,
    n: &Notification,
    now: i64,
    payment: bool,
) -> Result<Value, AppError> {
    let Some(uuid) = capped(n.uuid.as_deref()) else {
        return Ok(ignored("no transaction uuid"));
    };
    let Some(amount) = n.cents().filter(|a| *a > 0) else {
        return Ok(ignored(
            "no amount in the notification (amount_in_cents or amount)",
        ));
    };
    if payment {
        let key = capped(n.account_code.as_deref());
        let sub = capped(n.subscription_id.as_deref());
        let s = sale(
            tenant,
            format!("recurly:{uuid}"),
            amount,
            n.currency.as_deref(),
            target(None, key.clone(), sub.clone()),
            key,
            sub,
            "recurly",
            now,
        );
        return record_sale(st, s).await;
    }
    let Some(paid) = capped(n.original_transaction_uuid.as_deref()) else {
        return Ok(ignored("no original_transaction_uuid"));
    };
    record_refund(
        st,
        RefundIn {
            tenant: tenant.id.clone(),
            transaction_id: format!("recurly:{paid}"),
            refund_id: format!("recurly:{uuid}"),
            amount_cents: Some(amount),
            reason: Some("recurly payment refunded".into()),
            now,
        },
    )
    .await
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

    #[test]
    fn amounts() {
        let n = |v: Value| Notification {
            amount: Some(v),
            ..Notification::default()
        };
        assert_eq!(n(serde_json::json!(19.99)).cents(), Some(1999));
        assert_eq!(n(serde_json::json!(10)).cents(), Some(1000));
        assert_eq!(n(serde_json::json!("5.5")).cents(), Some(550));
        assert_eq!(n(serde_json::json!(-1)).cents(), None);
        assert_eq!(Notification::default().cents(), None);
    }
}
