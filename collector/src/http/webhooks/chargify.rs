//! `POST /webhooks/chargify/{tenant}` (issue 20): Chargify's (Maxio Advanced Billing's)
//! form-encoded webhooks, verified with the site's shared key, recorded with the shared helpers
//! of [`super::chargebee`] (`Store::sale`, `Store::refund_or_keep`, the kept refunds): the
//! ledger rules of every sale.
//!
//! Signature: `X-Chargify-Webhook-Signature-Hmac-Sha-256` = hex HMAC-SHA256 of the raw body
//! under the tenant's `chargify_webhook_key`, compared in constant time. The older
//! `X-Chargify-Webhook-Signature` (MD5 of key and body, not a MAC) is not accepted.
//!
//! | `event` | what is recorded |
//! |---|---|
//! | `payment_success` | a sale `chargify:<transaction id>` (see [`super::chargify_money`]) |
//! | `refund_success` | a refund of the sale `chargify:<payment_id>`; kept when it comes first |
//! | anything else | nothing (200, `ignored`, with the reason) |
//!
//! Redeliveries (Chargify retries, replays from its panel) change nothing: a sale's
//! transaction id and a refund's id are unique per tenant.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::chargebee::{configured, ignored, record_refund, record_sale_and_kept};
use super::chargify_money::{refund_of, sale_of, Form, Skip};
use super::stripe::WEBHOOK_BODY_LIMIT;
use crate::http::error::AppError;
use crate::http::extract::read_body;
use crate::state::AppState;
use clicktrail_domain::ids::capped;

/// The header Chargify signs each webhook with.
pub const SIGNATURE_HEADER: &str = "x-chargify-webhook-signature-hmac-sha-256";

fn mac(key: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length: this cannot fail
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(body);
    m
}

/// The header value Chargify would send (tests, docs).
pub fn signature(key: &str, body: &[u8]) -> String {
    hex::encode(mac(key, body).finalize().into_bytes())
}

/// Whether `header` is the hex HMAC-SHA256 of `body` under `key` (constant time).
pub fn verify(key: &str, header: &str, body: &[u8]) -> bool {
    let Ok(given) = hex::decode(header.trim()) else {
        return false;
    };
    !key.is_empty() && mac(key, body).verify_slice(&given).is_ok()
}

/// `POST /webhooks/chargify/{tenant}`
pub async fn webhook(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, AppError> {
    let tenant = configured(&st, &tenant, |t| !t.chargify_webhook_key.is_empty())?;
    let payload = read_body(body, WEBHOOK_BODY_LIMIT).await?;
    let header = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !verify(&tenant.chargify_webhook_key, header, &payload) {
        tracing::warn!(tenant = %tenant.id, "rejected Chargify webhook: bad signature");
        return Err(AppError::Unauthorized(format!(
            "{SIGNATURE_HEADER} is missing or does not match the body"
        )));
    }
    let form = Form::parse(&payload).map_err(|e| {
        AppError::bad_request(
            "malformed_form",
            format!("the body is not application/x-www-form-urlencoded: {e}"),
        )
    })?;
    let event = form
        .get("event")
        .ok_or_else(|| AppError::invalid("event", "the webhook names no event"))?
        .to_string();
    // the webhook id is only logged (redeliveries are told apart by the payment's and the
    // refund's ids); Chargify's test webhook (`event=test`) has none
    let webhook_id = capped(form.get("id"));
    if webhook_id.is_none() && matches!(event.as_str(), "payment_success" | "refund_success") {
        return Err(AppError::invalid("id", "the webhook has no id"));
    }
    let webhook_id = webhook_id.unwrap_or_default();
    let now = st.now();
    let read = match event.as_str() {
        "payment_success" => match sale_of(&tenant, &form, now) {
            Ok(sale) => Ok(record_sale_and_kept(&st, sale, Vec::new()).await?),
            Err(skip) => Err(skip),
        },
        "refund_success" => match refund_of(&tenant, &form, now) {
            Ok(refund) => Ok(record_refund(&st, refund).await?),
            Err(skip) => Err(skip),
        },
        "signup_success" | "renewal_success" => Err(Skip::Ignore(
            "its payment arrives as its own payment_success event",
        )),
        _ => Err(Skip::Ignore("event type not handled")),
    };
    let answer = match read {
        Ok(answer) => answer,
        Err(Skip::Ignore(why)) => ignored(why),
        Err(Skip::Invalid(field, message)) => {
            tracing::warn!(tenant = %tenant.id, webhook = %webhook_id, event = %event, field, message = %message, "malformed Chargify webhook");
            return Err(AppError::invalid(field, message));
        }
    };
    tracing::info!(tenant = %tenant.id, webhook = %webhook_id, event = %event, answer = %answer, "Chargify event");
    Ok(Json(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_rules() {
        // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?")
        let body = b"what do ya want for nothing?";
        let want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(signature("Jefe", body), want);
        assert!(verify("Jefe", want, body));
        assert!(verify("Jefe", &want.to_ascii_uppercase(), body));
        assert!(!verify("Jefe", want, b"what do ya want for something?"));
        assert!(!verify("jefe", want, body));
        assert!(!verify("Jefe", &want[..62], body), "a truncated signature");
        assert!(!verify("Jefe", "not hex", body));
        assert!(!verify("Jefe", "", body));
        assert!(
            !verify("", &signature("", body), body),
            "no key, no webhook"
        );
        // Chargify's own example: shared key `123`, body `payload[chargify]=testing&event=test`
        let documented = "19826d51b9f866b26eda1f154de192593360f8d0bcb63df8a28540a5dcf733f1";
        assert!(verify(
            "123",
            documented,
            b"payload[chargify]=testing&event=test"
        ));
    }
}
