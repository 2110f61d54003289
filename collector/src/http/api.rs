//! Server-to-server routes (`/api/v1/*`, `Authorization: Bearer <key>`): Affitor-style lead
//! and sale tracking (ingest keys) and the report (read keys).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use clicktrail_domain::conversion::Status;
use clicktrail_domain::report::{self, ReportScope};
use clicktrail_store::{LeadIn, SaleIn, Target};

use super::error::AppError;
use super::extract::JsonBody;
use super::tenant::{IngestTenant, KeyTenant, ReadTenant};
use super::types::{nonempty, Bounded, CidText, Email, PositiveCents, MAX_ID};
use crate::config::API_CURRENCIES;
use crate::state::AppState;

type R = Result<Response, AppError>;

// ---------------------------------------------------------------- lead

/// `POST /api/v1/track/lead`
#[derive(Debug, Deserialize)]
pub struct LeadRequest {
    #[serde(default, deserialize_with = "nonempty")]
    pub click_id: Option<CidText>,
    #[serde(default, deserialize_with = "nonempty")]
    pub customer_key: Option<Bounded<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub email: Option<Email>,
}

pub async fn lead(
    State(st): State<AppState>,
    KeyTenant(tenant, _): IngestTenant,
    JsonBody(req): JsonBody<LeadRequest>,
) -> R {
    if req.click_id.is_none() && req.customer_key.is_none() {
        return Err(AppError::invalid(
            "customer_key",
            "customer_key or click_id is required",
        ));
    }
    let cid = req.click_id.map(CidText::known).transpose()?;
    st.store
        .lead(LeadIn {
            tenant: tenant.id.clone(),
            event_id: None,
            cid,
            customer_key: req.customer_key.map(Bounded::into_string),
            email: req.email.map(Email::into_string),
            source: "api",
            now: st.now(),
        })
        .await?;
    Ok(Json(json!({"success": true, "message": "Lead tracked successfully"})).into_response())
}

// ---------------------------------------------------------------- sale

/// `POST /api/v1/track/sale`
#[derive(Debug, Deserialize)]
pub struct SaleRequest {
    #[serde(default, deserialize_with = "nonempty")]
    pub transaction_id: Option<Bounded<MAX_ID>>,
    #[serde(default)]
    pub amount_cents: Option<PositiveCents>,
    #[serde(default, deserialize_with = "nonempty")]
    pub currency: Option<Bounded<8>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub click_id: Option<CidText>,
    #[serde(default, deserialize_with = "nonempty")]
    pub customer_key: Option<Bounded<MAX_ID>>,
    #[serde(default)]
    pub is_recurring: Option<bool>,
    #[serde(default, deserialize_with = "nonempty")]
    pub subscription_id: Option<Bounded<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub sale_type: Option<Bounded<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub subscription_interval: Option<Bounded<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub product_id: Option<Bounded<MAX_ID>>,
    /// Kept as given (the merchant's own line item shape).
    #[serde(default)]
    pub line_items: Option<Vec<Value>>,
}

impl SaleRequest {
    /// sale_type / subscription_interval / product_id / line_items as the stored JSON text.
    fn details(&self) -> Option<String> {
        let mut d = serde_json::Map::new();
        for (k, v) in [
            ("sale_type", &self.sale_type),
            ("subscription_interval", &self.subscription_interval),
            ("product_id", &self.product_id),
        ] {
            if let Some(v) = v {
                d.insert(k.into(), Value::String(v.as_str().to_string()));
            }
        }
        if let Some(items) = &self.line_items {
            d.insert("line_items".into(), Value::Array(items.clone()));
        }
        (!d.is_empty()).then(|| Value::Object(d).to_string())
    }
}

pub async fn sale(
    State(st): State<AppState>,
    KeyTenant(tenant, _): IngestTenant,
    JsonBody(req): JsonBody<SaleRequest>,
) -> R {
    let details = req.details();
    let transaction_id = req
        .transaction_id
        .ok_or_else(|| AppError::invalid("transaction_id", "is required"))?
        .into_string();
    let amount = req.amount_cents.ok_or_else(|| {
        AppError::invalid(
            "amount_cents",
            "is required (a positive integer number of cents)",
        )
    })?;
    let currency = match req.currency {
        None => "USD".to_string(),
        Some(c) => {
            let c = c.to_ascii_uppercase();
            if !API_CURRENCIES.contains(&c.as_str()) {
                return Err(AppError::invalid("currency", "must be USD, EUR or VND"));
            }
            c
        }
    };
    let customer_key = req.customer_key.map(Bounded::into_string);
    let target = match (req.click_id, &customer_key) {
        (Some(c), _) => Target::Cid(c.known()?),
        (None, Some(k)) => Target::CustomerKey(k.clone()),
        (None, None) => {
            return Err(AppError::invalid(
                "customer_key",
                "customer_key or click_id is required",
            ))
        }
    };
    let out = st
        .store
        .sale(SaleIn {
            tenant: tenant.id.clone(),
            transaction_id,
            amount_cents: amount.0,
            currency,
            target,
            allow_unresolved: false,
            conversion_type: tenant.sale_conversion_type.clone(),
            payout: tenant.sale_payout(),
            customer_key,
            is_recurring: req.is_recurring.unwrap_or(false),
            subscription_id: req.subscription_id.map(Bounded::into_string),
            source: "api",
            details,
            status: Status::Approved,
            hold_days: tenant.hold_days,
            now: st.now(),
        })
        .await?;
    Ok(Json(json!({
        "success": true,
        "sale_id": out.sale_id,
        "commission_id": out.commission_id,
        "message": "Sale tracked successfully"
    }))
    .into_response())
}

// ---------------------------------------------------------------- report

/// `GET /api/v1/report?from=YYYY-MM-DD&to=YYYY-MM-DD` (inclusive UTC days; default: the 30 days
/// up to today).
#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
}

fn parse_day(name: &str, s: &str) -> Result<chrono::NaiveDate, AppError> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| AppError::invalid(name, "must be a date YYYY-MM-DD"))
}

/// Unix seconds at 00:00 UTC of `day`.
fn midnight(day: chrono::NaiveDate) -> i64 {
    day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp()
}

pub async fn report(
    State(st): State<AppState>,
    KeyTenant(tenant, _): ReadTenant,
    q: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> R {
    let Query(q) = q.map_err(|e| AppError::invalid("query", e.body_text()))?;
    let today = chrono::DateTime::from_timestamp(st.now(), 0)
        .unwrap_or_default()
        .date_naive();
    let to = match q.to.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => parse_day("to", s)?,
        None => today,
    };
    let from = match q.from.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => parse_day("from", s)?,
        None => to
            .checked_sub_days(chrono::Days::new(29))
            .ok_or_else(|| AppError::invalid("to", "is out of range"))?,
    };
    if from > to {
        return Err(AppError::invalid("from", "must not be after `to`"));
    }
    let end = to
        .checked_add_days(chrono::Days::new(1))
        .ok_or_else(|| AppError::invalid("to", "is out of range"))?;
    let rows = st
        .store
        .report(&tenant.id, midnight(from), midnight(end))
        .await?;
    let report = report::build(
        ReportScope {
            tenant_id: &tenant.id,
            from: from.format("%Y-%m-%d").to_string(),
            to: to.format("%Y-%m-%d").to_string(),
            currency: &tenant.currency,
            affiliates: &tenant.affiliates,
            now: st.now(),
        },
        &rows,
    )
    .map_err(|e| AppError::invalid("report", e.to_string()))?;
    Ok(Json(report).into_response())
}
