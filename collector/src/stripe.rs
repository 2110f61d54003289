//! Stripe: `Stripe-Signature` verification, the webhook handler, and the demo checkout that
//! plays Stripe's part.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use clicktrail_domain::catalog::Tenant;
use clicktrail_domain::conversion::Status;
use clicktrail_domain::Cid;
use clicktrail_store::{SaleIn, StripeEventIn, StripeOutcome, Target};

use crate::app::{json_body, read_body, MAX_ID, WEBHOOK_BODY_LIMIT};
use crate::error::AppError;
use crate::state::AppState;

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

/// `v1` for `payload` signed at `t` with `secret`: hex HMAC-SHA256 over `"{t}.{payload}"`.
pub fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
    // HMAC accepts keys of any length, so this never fails
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
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

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().filter(|x| !x.is_empty())
}

fn capped(v: Option<&str>) -> Option<String> {
    v.filter(|x| x.chars().count() <= MAX_ID)
        .map(str::to_string)
}

/// Who the payment belongs to, from Affitor-style metadata.
fn target_from_metadata(
    meta: Option<&Value>,
    client_reference_id: Option<&str>,
) -> (Target, Option<String>) {
    let key = meta.and_then(|m| capped(s(m, &["affitor_customer_key"])));
    let cid = client_reference_id.and_then(Cid::parse).or_else(|| {
        meta.and_then(|m| s(m, &["affitor_click_id"]))
            .and_then(Cid::parse)
    });
    let target = match (&cid, &key) {
        (Some(c), _) => Target::Cid(c.clone()),
        (None, Some(k)) => Target::CustomerKey(k.clone()),
        (None, None) => Target::None,
    };
    (target, key)
}

fn sale_from_event(tenant: &Tenant, ev: &Value, now: i64) -> Option<(SaleIn, bool)> {
    let ty = s(ev, &["type"])?;
    let obj = ev.get("data")?.get("object")?;
    let payout = tenant.sale_payout();
    let currency = s(obj, &["currency"]).unwrap_or("usd").to_ascii_uppercase();
    let base = |transaction_id: String, amount: i64, target: Target, key: Option<String>| SaleIn {
        tenant: tenant.id.clone(),
        transaction_id,
        amount_cents: amount,
        currency: currency.clone(),
        target,
        allow_unresolved: true,
        conversion_type: tenant.sale_conversion_type.clone(),
        payout,
        customer_key: key,
        is_recurring: false,
        subscription_id: None,
        source: "stripe",
        details: None,
        status: Status::Approved,
        hold_days: tenant.hold_days,
        now,
    };
    match ty {
        "checkout.session.completed" => {
            let id = capped(s(obj, &["id"]))?;
            let amount = obj.get("amount_total").and_then(Value::as_i64).unwrap_or(0);
            if amount <= 0 {
                return None;
            }
            let (target, key) =
                target_from_metadata(obj.get("metadata"), s(obj, &["client_reference_id"]));
            let mut sale = base(format!("stripe:{id}"), amount, target, key);
            sale.subscription_id = capped(s(obj, &["subscription"]));
            if s(obj, &["payment_status"]) == Some("unpaid") {
                sale.status = Status::Pending;
            }
            // a subscription's first invoice may have been delivered before its checkout session
            let first = sale.subscription_id.is_some();
            Some((sale, first))
        }
        "invoice.payment_succeeded" | "invoice.paid" => {
            let id = capped(s(obj, &["id"]))?;
            let amount = obj.get("amount_paid").and_then(Value::as_i64).unwrap_or(0);
            if amount <= 0 {
                return None;
            }
            let sub = capped(
                s(obj, &["subscription"])
                    .or_else(|| s(obj, &["parent", "subscription_details", "subscription"]))
                    .or_else(|| s(obj, &["subscription", "id"])),
            );
            let meta = [
                obj.get("subscription_details")
                    .and_then(|d| d.get("metadata")),
                obj.get("parent")
                    .and_then(|p| p.get("subscription_details"))
                    .and_then(|d| d.get("metadata")),
                obj.get("lines")
                    .and_then(|l| l.get("data"))
                    .and_then(|d| d.get(0))
                    .and_then(|l| l.get("metadata")),
                obj.get("metadata"),
            ]
            .into_iter()
            .flatten()
            .find(|m| {
                m.get("affitor_click_id").is_some() || m.get("affitor_customer_key").is_some()
            });
            let (mut target, key) = target_from_metadata(meta, None);
            if matches!(target, Target::None) {
                if let Some(sub) = &sub {
                    target = Target::Subscription(sub.clone());
                }
            }
            let first = s(obj, &["billing_reason"]) == Some("subscription_create");
            let mut sale = base(format!("stripe:{id}"), amount, target, key);
            sale.subscription_id = sub;
            sale.is_recurring = !first;
            Some((sale, first))
        }
        _ => None,
    }
}

const HANDLED: [&str; 3] = [
    "checkout.session.completed",
    "invoice.payment_succeeded",
    "invoice.paid",
];

/// `POST /webhooks/stripe`
pub async fn webhook(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let payload = read_body(body, WEBHOOK_BODY_LIMIT).await?;
    let sig = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AppError::BadRequest {
            code: "missing_signature",
            message: "missing Stripe-Signature header".into(),
        })?;
    let now = st.now();
    // the tenant is the one whose webhook secret verifies the signature (or the Host's tenant)
    let catalog = st.catalog.get();
    let candidates: Vec<std::sync::Arc<Tenant>> = match st.tenant_for(&headers, None) {
        Ok(t) if st.server.base_domain.is_some() || catalog.tenants.len() == 1 => vec![t],
        _ => catalog.tenants.to_vec(),
    };
    let mut worst = SigError::Malformed;
    let mut tenant = None;
    for t in candidates {
        match verify(&t.stripe_webhook_secret, sig, &payload, now) {
            Ok(()) => {
                tenant = Some(t);
                break;
            }
            Err(SigError::Stale) => worst = SigError::Stale,
            Err(SigError::Mismatch) if worst == SigError::Malformed => worst = SigError::Mismatch,
            Err(_) => {}
        }
    }
    let Some(tenant) = tenant else {
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
        return Err(AppError::BadRequest {
            code,
            message: message.into(),
        });
    };
    let ev = crate::app::parse_object(&payload)?;
    let ev = Value::Object(ev.0);
    let event_id = s(&ev, &["id"])
        .filter(|x| x.len() <= MAX_ID)
        .ok_or_else(|| AppError::invalid("id", "the event has no id"))?
        .to_string();
    let ty = s(&ev, &["type"]).unwrap_or("").to_string();
    if !HANDLED.contains(&ty.as_str()) {
        tracing::debug!(event_type = %ty, "ignored Stripe event type");
        return Ok(Json(json!({"received": true, "ignored": true})).into_response());
    }
    let (sale, first_payment) = match sale_from_event(&tenant, &ev, now) {
        Some((sale, first)) => (Some(sale), first),
        None => (None, false),
    };
    let outcome = st
        .store
        .stripe_event(StripeEventIn {
            tenant: tenant.id.clone(),
            event_id: event_id.clone(),
            event_type: ty.clone(),
            sale,
            first_payment,
            now,
        })
        .await?;
    tracing::info!(tenant = %tenant.id, event_id = %event_id, event_type = %ty, outcome = ?outcome, "Stripe event");
    let body = match outcome {
        StripeOutcome::Duplicate => json!({"received": true, "duplicate": true}),
        StripeOutcome::Recorded { sale: Some(s) } => {
            json!({"received": true, "saleId": s.sale_id, "attributed": s.attributed})
        }
        StripeOutcome::Recorded { sale: None } => json!({"received": true}),
    };
    Ok(Json(body).into_response())
}

fn random_hex(n: usize) -> String {
    let mut out = String::new();
    while out.len() < n {
        out.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    out.truncate(n);
    out
}

/// `POST /demo/checkout` (only with `--demo`): plays Stripe. Builds a `checkout.session.completed`
/// event, signs it with the tenant's webhook secret and posts it over HTTP to this server's
/// `/webhooks/stripe`.
pub async fn demo_checkout(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let f = json_body(body, st.server.body_limit_bytes).await?;
    let tenant = st.tenant_for(&headers, f.tenant_id()?.as_deref())?;
    // no cid: a visitor nobody referred (the sale is recorded unattributed)
    let cid = match f.opt_str("cid", MAX_ID)? {
        Some(c) => Some(Cid::parse(&c).ok_or_else(|| AppError::invalid("cid", "must be a UUID"))?),
        None => None,
    };
    let amount = match f.get("amountCents") {
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|a| *a > 0 && *a <= clicktrail_domain::money::MAX_CENTS),
        _ => None,
    }
    .ok_or_else(|| {
        AppError::invalid("amountCents", "must be a positive integer number of cents")
    })?;
    let email = f.opt_email("email")?;
    let now = st.now();
    let session_id = format!("cs_test_{}", random_hex(24));
    let event = json!({
        "id": format!("evt_{}", random_hex(24)),
        "object": "event",
        "api_version": "2024-06-20",
        "created": now,
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": "checkout.session.completed",
        "data": {"object": {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": amount,
            "amount_total": amount,
            "currency": tenant.currency.to_ascii_lowercase(),
            "client_reference_id": cid,
            "customer_details": {"email": email},
            "metadata": {},
            "mode": "payment",
            "payment_status": "paid",
            "status": "complete",
            "created": now
        }}
    });
    let payload = event.to_string();
    let sig = signature_header(&tenant.stripe_webhook_secret, now, payload.as_bytes());
    // the same handling a real Stripe delivery gets (signature check included), in-process
    let mut hook_headers = HeaderMap::new();
    if let Ok(v) = axum::http::HeaderValue::from_str(&sig) {
        hook_headers.insert("stripe-signature", v);
    }
    let status = match webhook(State(st.clone()), hook_headers, Body::from(payload)).await {
        Ok(resp) => resp.status().as_u16(),
        Err(e) => e.status().as_u16(),
    };
    Ok(
        Json(json!({"ok": status == 200, "sessionId": session_id, "webhookStatus": status}))
            .into_response(),
    )
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
