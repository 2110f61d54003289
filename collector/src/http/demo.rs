//! `POST /demo/checkout` (only with `--demo`): plays Stripe. Builds a
//! `checkout.session.completed` event, signs it with the tenant's webhook secret and hands it to
//! the webhook handling in-process (signature check included), as a real delivery would be.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::AppError;
use super::extract::JsonBody;
use super::tenant::tenant_for;
use super::types::{nonempty, Bounded, CidText, Email, PositiveCents, MAX_ID};
use super::webhooks::stripe;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoCheckoutRequest {
    #[serde(default, deserialize_with = "nonempty")]
    pub tenant_id: Option<Bounded<MAX_ID>>,
    /// No cid: a visitor nobody referred (the sale is recorded unattributed).
    #[serde(default, deserialize_with = "nonempty")]
    pub cid: Option<CidText>,
    #[serde(default)]
    pub amount_cents: Option<PositiveCents>,
    #[serde(default, deserialize_with = "nonempty")]
    pub email: Option<Email>,
}

fn random_hex(n: usize) -> String {
    let mut out = String::new();
    while out.len() < n {
        out.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    out.truncate(n);
    out
}

pub async fn checkout(
    State(st): State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<DemoCheckoutRequest>,
) -> Result<Json<Value>, AppError> {
    let tenant = tenant_for(&st, &headers, req.tenant_id.as_deref())?;
    let cid = match req.cid {
        Some(c) => Some(
            c.valid()
                .ok_or_else(|| AppError::invalid("cid", "must be a UUID"))?,
        ),
        None => None,
    };
    let amount = req
        .amount_cents
        .ok_or_else(|| {
            AppError::invalid("amountCents", "must be a positive integer number of cents")
        })?
        .0;
    let email = req.email.map(Email::into_string);
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
    let sig = stripe::signature_header(&tenant.stripe_webhook_secret, now, payload.as_bytes());
    // the same handling a real Stripe delivery gets, without a round trip through the network
    let status = match stripe::receive(&st, &HeaderMap::new(), &sig, payload.as_bytes()).await {
        Ok(_) => 200,
        Err(e) => e.status().as_u16(),
    };
    Ok(Json(
        json!({"ok": status == 200, "sessionId": session_id, "webhookStatus": status}),
    ))
}
