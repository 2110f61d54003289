//! PartnerStack's REST API v2 for merchants' backends (`/api/v2/customers`,
//! `/api/v2/transactions`): a merchant whose server called PartnerStack changes only the base
//! URL and the keys. This module is the one translation of PartnerStack's requests into the
//! project's lead, sale and refund (the store and `crates/app` decide the money), and of the
//! answers into PartnerStack's envelope `{"data","message","status"}` (docs/partnerstack.md).
//!
//! Auth: HTTP Basic, the public key as user and the secret key as password. The pair is one
//! ingest key of its tenant (`config_key`), so the catalog keeps only its hash and the pair
//! alone names the tenant: the URL carries none.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

use clicktrail_domain::catalog::{KeyScope, Tenant};
use clicktrail_domain::Cid;
use clicktrail_store::{ClickIn, LeadIn, RefundIn, SaleIn, StoreError, Target};

use crate::config::{partnerstack_key as config_key, API_CURRENCIES};
use crate::state::AppState;

/// PartnerStack's limits on keys (customer, partner, transaction): 1..=255 characters.
const MAX_KEY: usize = 255;

/// An answer in PartnerStack's envelope.
fn envelope(status: StatusCode, data: Value, message: impl Into<String>) -> Response {
    let body = json!({"data": data, "message": message.into(), "status": status.as_u16()});
    (status, Json(body)).into_response()
}

/// An error answered in the envelope, `"data": null`.
#[derive(Debug)]
pub struct PsError {
    status: StatusCode,
    message: String,
}

impl IntoResponse for PsError {
    fn into_response(self) -> Response {
        envelope(self.status, Value::Null, self.message)
    }
}

type R = Result<Response, PsError>;

fn error(status: StatusCode, message: impl Into<String>) -> PsError {
    PsError {
        status,
        message: message.into(),
    }
}

fn invalid(field: &str, message: &str) -> PsError {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("{field}: {message}"),
    )
}

/// A store error in the envelope (its status and message; a storage failure as a 500 that
/// says nothing more).
impl From<StoreError> for PsError {
    fn from(e: StoreError) -> PsError {
        let app: super::AppError = e.into();
        let status = app.status();
        match app {
            super::AppError::Internal(detail) => {
                tracing::error!(%detail, "partnerstack api: store failure");
                error(status, "Internal server error")
            }
            other => error(status, other.message()),
        }
    }
}

/// The tenant whose PartnerStack key pair the `Authorization: Basic` header carries.
fn tenant(st: &AppState, headers: &HeaderMap) -> Result<Arc<Tenant>, PsError> {
    let unauthorized = || error(StatusCode::UNAUTHORIZED, "Unauthorized");
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
        .ok_or_else(unauthorized)?;
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(unauthorized)?;
    let (public, secret) = decoded.split_once(':').ok_or_else(unauthorized)?;
    let key = config_key(public, secret)
        .ok()
        .flatten()
        .ok_or_else(unauthorized)?;
    let catalog = st.catalog.get();
    let grant = catalog.key(&key).ok_or_else(unauthorized)?;
    if !grant.scopes.contains(&KeyScope::Ingest) {
        return Err(unauthorized());
    }
    catalog
        .tenant(&grant.tenant)
        .cloned()
        .ok_or_else(unauthorized)
}

/// A JSON object body (PartnerStack's clients send `application/json`).
/// The request body, at most the server's body limit (413 in the envelope beyond it).
async fn read(st: &AppState, raw: axum::body::Body) -> Result<axum::body::Bytes, PsError> {
    let limit = st.server.body_limit_bytes;
    crate::http::extract::read_body(raw, limit)
        .await
        .map_err(|_| {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body could not be read within {limit} bytes"),
            )
        })
}

fn body<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, PsError> {
    serde_json::from_slice(bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("the body is not a valid JSON request: {e}"),
        )
    })
}

/// A required key-like string field: trimmed, 1..=`MAX_KEY` characters.
fn key_field(field: &str, v: Option<String>) -> Result<String, PsError> {
    match v.map(|s| s.trim().to_string()) {
        Some(s) if !s.is_empty() && s.len() <= MAX_KEY => Ok(s),
        Some(s) if !s.is_empty() => Err(invalid(field, "must be at most 255 characters")),
        _ => Err(invalid(field, "is required")),
    }
}

/// The sale's transaction id of a PartnerStack transaction key (its own namespace).
fn transaction_id(key: &str) -> String {
    format!("partnerstack:{key}")
}

// ---------------------------------------------------------------- customers

/// `POST /api/v2/customers`: the fields PartnerStack documents that this subset reads.
#[derive(Debug, Deserialize)]
pub struct CustomerRequest {
    customer_key: Option<String>,
    partner_key: Option<String>,
    email: Option<String>,
    name: Option<String>,
}

/// A lead for the partner: a server-side click of the partner's affiliate (idempotent by the
/// customer key) and the lead that binds the customer key to it, so the customer's
/// transactions credit that affiliate.
pub async fn create_customer(
    State(st): State<AppState>,
    headers: HeaderMap,
    raw: axum::body::Body,
) -> R {
    let tenant = tenant(&st, &headers)?;
    let req: CustomerRequest = body(&read(&st, raw).await?)?;
    let customer_key = key_field("customer_key", req.customer_key)?;
    let partner_key = key_field("partner_key", req.partner_key)?;
    let email = match req.email.map(|e| e.trim().to_string()) {
        Some(e) if e.len() >= 4 && e.len() <= MAX_KEY && e.contains('@') => e,
        _ => return Err(invalid("email", "must be a valid email")),
    };
    let Some(affiliate) = tenant.resolve_affiliate(&partner_key) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("partner_key: no partner `{partner_key}` in this program"),
        ));
    };
    let now = st.now();
    let click = st
        .store
        .click(ClickIn {
            tenant: tenant.id.clone(),
            event_id: Some(format!("partnerstack:customer:{customer_key}")),
            cid: None,
            affiliate: affiliate.to_string(),
            url: None,
            referrer: None,
            cookie_secs: tenant.cookie_secs(),
            now,
        })
        .await;
    let cid = Cid::parse(&click?.cid)
        .ok_or_else(|| error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error"))?;
    st.store
        .lead(LeadIn {
            tenant: tenant.id.clone(),
            event_id: Some(format!("partnerstack:lead:{customer_key}")),
            cid: Some(cid),
            customer_key: Some(customer_key.clone()),
            email: Some(email.clone()),
            source: "partnerstack",
            now,
        })
        .await?;
    Ok(envelope(
        StatusCode::OK,
        json!({
            "key": customer_key,
            "customer_key": customer_key,
            "partner_key": partner_key,
            "email": email,
            "name": req.name,
            "created_at": now * 1000,
        }),
        "Customer created",
    ))
}

// ---------------------------------------------------------------- transactions

/// `POST /api/v2/transactions`: the fields this subset reads.
#[derive(Debug, Deserialize)]
pub struct TransactionRequest {
    customer_key: Option<String>,
    customer_external_key: Option<String>,
    amount: Option<Value>,
    currency: Option<String>,
    key: Option<String>,
    category_key: Option<String>,
    product_key: Option<String>,
}

/// A sale for the customer (`SaleIn::for_tenant`, the API's sale path): the commission is the
/// tenant's, credited to the affiliate the customer's lead bound.
pub async fn create_transaction(
    State(st): State<AppState>,
    headers: HeaderMap,
    raw: axum::body::Body,
) -> R {
    let tenant = tenant(&st, &headers)?;
    let req: TransactionRequest = body(&read(&st, raw).await?)?;
    let customer = match (req.customer_key, req.customer_external_key) {
        (Some(k), None) => key_field("customer_key", Some(k)),
        (None, Some(k)) => key_field("customer_external_key", Some(k)),
        _ => Err(invalid(
            "customer_key",
            "exactly one of customer_key and customer_external_key is required",
        )),
    };
    let customer = customer?;
    let amount = match req.amount.as_ref().and_then(Value::as_i64) {
        Some(a) if a > 0 => a,
        _ => {
            return Err(invalid(
                "amount",
                "must be a positive integer number of cents (a refund is a DELETE)",
            ))
        }
    };
    let currency = match req.currency.map(|c| c.trim().to_ascii_uppercase()) {
        Some(c) if API_CURRENCIES.contains(&c.as_str()) => c,
        _ => return Err(invalid("currency", "must be USD, EUR or VND")),
    };
    let key = match req.key.map(|k| k.trim().to_string()) {
        Some(k) if (4..=MAX_KEY).contains(&k.len()) => k,
        _ => {
            return Err(invalid(
                "key",
                "is required (4 to 255 characters; it makes a retry safe)",
            ))
        }
    };
    // most specific first, for per-product rates
    let products: Vec<String> = [req.product_key, req.category_key]
        .into_iter()
        .flatten()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty() && p.len() <= MAX_KEY)
        .collect();
    let out = st
        .store
        .sale(SaleIn {
            allow_unresolved: false,
            customer_key: Some(customer.clone()),
            products,
            ..SaleIn::for_tenant(
                &tenant,
                transaction_id(&key),
                amount,
                currency.clone(),
                Target::CustomerKey(customer.clone()),
                "partnerstack",
                st.now(),
            )
        })
        .await;
    match out {
        Ok(out) => Ok(envelope(
            StatusCode::OK,
            json!({
                "key": key,
                "customer_key": customer,
                "amount": amount,
                "currency": currency,
                "sale_id": out.sale_id,
                "commission_cents": out.commission_cents,
                "created_at": st.now() * 1000,
            }),
            "Transaction created",
        )),
        Err(StoreError::NotFound(_, _)) => Err(error(
            StatusCode::NOT_FOUND,
            format!("customer_key: no customer `{customer}`"),
        )),
        Err(StoreError::Conflict(_, _)) => Err(error(
            StatusCode::CONFLICT,
            format!("key: a transaction `{key}` already exists"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /api/v2/transactions/{key}`: refunds what is left of the sale (the refund use
/// case: the commission is reversed); a repeated delete answers as the first.
pub async fn delete_transaction(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> R {
    let tenant = tenant(&st, &headers)?;
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(error(StatusCode::NOT_FOUND, "no such transaction"));
    }
    let out = st
        .store
        .refund(RefundIn {
            tenant: tenant.id.clone(),
            transaction_id: transaction_id(&key),
            refund_id: format!("partnerstack:delete:{key}"),
            amount_cents: None,
            reason: Some("partnerstack transaction deleted".into()),
            now: st.now(),
        })
        .await;
    match out {
        Ok(out) => Ok(envelope(
            StatusCode::OK,
            json!({
                "key": key,
                "amount_refunded": out.amount_cents,
                "commission_reversed_cents": out.commission_reversed_cents,
            }),
            "Transaction deleted",
        )),
        Err(StoreError::NotFound(_, _)) => Err(error(
            StatusCode::NOT_FOUND,
            format!("no transaction `{key}`"),
        )),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_go_together_and_become_one_api_key() {
        assert_eq!(config_key("", ""), Ok(None));
        assert!(config_key("pub", "").is_err());
        assert!(config_key("", "0123456789abcdef").is_err());
        assert!(config_key("pu:b", "0123456789abcdef").is_err());
        assert!(config_key("pub", "short").is_err());
        assert_eq!(
            config_key("pub", "0123456789abcdef"),
            Ok(Some("partnerstack:pub:0123456789abcdef".into()))
        );
    }
}
