//! `POST /webhooks/stripe`: `Stripe-Signature` verification (HMAC-SHA256 over `t.payload`,
//! 5-minute tolerance) with the tenant's webhook secret, then the event, its object read once
//! ([`super::stripe_types`]), as its sale ([`super::stripe_sale`]) and money
//! ([`super::stripe_money`]) for the store (`Store::stripe_event`, which deduplicates Stripe
//! event ids).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use clicktrail_domain::catalog::Tenant;
use clicktrail_domain::ids::capped;
use clicktrail_store::{StripeEventIn, StripeOutcome};

use super::stripe_money::money;
use super::stripe_sale::sale;
use super::stripe_types::Event;
use crate::http::error::AppError;
use crate::http::extract::{parse_json, read_body};
use crate::http::tenant::tenant_for;
use crate::state::AppState;

/// Stripe events (invoices with many lines) can exceed the browser body limit.
pub const WEBHOOK_BODY_LIMIT: usize = 512 * 1024;

/// Stripe's default tolerance.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigError {
    /// No `t=` or no `v1=` in the header.
    Malformed,
    /// No `v1` matches.
    Mismatch,
    /// A `v1` matches but `t` is more than 5 minutes away from now.
    Stale,
}

/// `v1` for `payload` signed at `t` with `secret`: hex HMAC-SHA256 over `"{t}.{payload}"`
/// (the outgoing webhooks sign the same way: one function, in the domain).
pub fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
    clicktrail_domain::webhooks::v1(secret, t, payload)
}

/// The header value Stripe would send.
pub fn signature_header(secret: &str, t: i64, payload: &[u8]) -> String {
    format!("t={t},v1={}", sign(secret, t, payload))
}

/// Verifies a `Stripe-Signature` header (`t=...,v1=...[,v1=...][,v0=...]`).
pub fn verify(secret: &str, header: &str, payload: &[u8], now: i64) -> Result<(), SigError> {
    let mut t: Option<i64> = None;
    let mut v1s = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse().ok(),
            Some(("v1", v)) => v1s.push(v),
            _ => {}
        }
    }
    let t = t.ok_or(SigError::Malformed)?;
    if v1s.is_empty() || secret.is_empty() {
        return Err(SigError::Malformed);
    }
    let expected = sign(secret, t, payload);
    let mut ok = false;
    for v in v1s {
        if v.len() == expected.len() && bool::from(v.as_bytes().ct_eq(expected.as_bytes())) {
            ok = true;
        }
    }
    if !ok {
        return Err(SigError::Mismatch);
    }
    if now.abs_diff(t) > TOLERANCE_SECS.unsigned_abs() {
        return Err(SigError::Stale);
    }
    Ok(())
}

/// `POST /webhooks/stripe`
pub async fn webhook(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, AppError> {
    let payload = read_body(body, WEBHOOK_BODY_LIMIT).await?;
    let sig = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            AppError::bad_request("missing_signature", "missing Stripe-Signature header")
        })?;
    receive(&st, &headers, sig, &payload).await
}

/// One signed delivery, verified and recorded: what the route does once the request is read,
/// and what the demo checkout calls in-process.
pub async fn receive(
    st: &AppState,
    headers: &HeaderMap,
    signature: &str,
    payload: &[u8],
) -> Result<Json<Value>, AppError> {
    let now = st.now();
    let tenant = verified_tenant(st, headers, signature, payload, now)?;
    let event: Event = parse_json(payload)?;
    let event_id = capped(event.id.as_deref())
        .ok_or_else(|| AppError::invalid("id", "the event has no id"))?;
    let kind = event.kind.clone().unwrap_or_default();
    let Some(object) = event.object()? else {
        tracing::debug!(event_type = %kind, "ignored Stripe event type");
        return Ok(Json(json!({"received": true, "ignored": true})));
    };
    let (sale, first_payment) =
        sale(&tenant, &object, now).map_or((None, false), |(s, f)| (Some(s), f));
    let money = money(&event, &object, sale.as_ref(), now);
    let outcome = st
        .store
        .stripe_event(StripeEventIn {
            tenant: tenant.id.clone(),
            event_id: event_id.clone(),
            event_type: kind.clone(),
            sale,
            first_payment,
            now,
            money,
        })
        .await?;
    tracing::info!(tenant = %tenant.id, event_id = %event_id, event_type = %kind, outcome = ?outcome, "Stripe event");
    Ok(Json(match outcome {
        StripeOutcome::Duplicate => json!({"received": true, "duplicate": true}),
        StripeOutcome::Recorded { sale: Some(s) } => {
            json!({"received": true, "saleId": s.sale_id, "attributed": s.attributed})
        }
        StripeOutcome::Recorded { sale: None } => json!({"received": true}),
        StripeOutcome::Settled(m) => json!({
            "received": true,
            "saleId": m.sale_id,
            "refundedCents": m.refunded_cents,
            "reversedCents": m.reversed_cents,
            "held": m.held,
        }),
    }))
}

/// The tenant whose webhook secret verifies the signature (the Host's tenant, or the only one,
/// or any); a 400 saying why when none does.
fn verified_tenant(
    st: &AppState,
    headers: &HeaderMap,
    signature: &str,
    payload: &[u8],
    now: i64,
) -> Result<Arc<Tenant>, AppError> {
    let catalog = st.catalog.get();
    let candidates: Vec<Arc<Tenant>> = match tenant_for(st, headers, None) {
        Ok(t) if st.server.base_domain.is_some() || catalog.tenants.len() == 1 => vec![t],
        _ => catalog.tenants.to_vec(),
    };
    let mut worst = SigError::Malformed;
    for t in candidates {
        match verify(&t.stripe_webhook_secret, signature, payload, now) {
            Ok(()) => return Ok(t),
            Err(SigError::Stale) => worst = SigError::Stale,
            Err(SigError::Mismatch) if worst == SigError::Malformed => worst = SigError::Mismatch,
            Err(_) => {}
        }
    }
    let (code, message) = match worst {
        SigError::Stale => (
            "signature_expired",
            "Stripe-Signature timestamp is more than 5 minutes old",
        ),
        SigError::Mismatch => (
            "invalid_signature",
            "Stripe-Signature does not match the payload",
        ),
        SigError::Malformed => (
            "invalid_signature",
            "Stripe-Signature must look like t=...,v1=...",
        ),
    };
    tracing::warn!(code, "rejected Stripe webhook");
    Err(AppError::bad_request(code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_rules() {
        let body = br#"{"id":"evt_1"}"#;
        let h = signature_header("whsec_x", 1000, body);
        assert_eq!(verify("whsec_x", &h, body, 1000), Ok(()));
        assert_eq!(verify("whsec_x", &h, body, 1300), Ok(()));
        assert_eq!(verify("whsec_x", &h, body, 1301), Err(SigError::Stale));
        assert_eq!(verify("whsec_y", &h, body, 1000), Err(SigError::Mismatch));
        assert_eq!(verify("whsec_x", &h, b"{}", 1000), Err(SigError::Mismatch));
        assert_eq!(
            verify("whsec_x", "v1=abc", body, 1000),
            Err(SigError::Malformed)
        );
        // several v1 (secret rotation): any one may match
        let multi = format!(
            "t=1000,v1={},v1={},v0=zz",
            "0".repeat(64),
            sign("whsec_x", 1000, body)
        );
        assert_eq!(verify("whsec_x", &multi, body, 1000), Ok(()));
    }

    /// A timestamp at the ends of i64 is stale, not an arithmetic overflow (a panic in debug
    /// builds; release builds wrapped to the right answer by luck).
    #[test]
    fn extreme_timestamps_are_stale() {
        let body = br#"{"id":"evt_1"}"#;
        for t in [i64::MIN, i64::MAX] {
            let h = signature_header("whsec_x", t, body);
            assert_eq!(verify("whsec_x", &h, body, 1000), Err(SigError::Stale));
        }
    }
}
