//! Server-to-server routes (`/api/v1/*`, `Authorization: Bearer <key>`): Affitor-style lead,
//! sale and refund tracking (ingest keys), the report (read keys), and the operators' money
//! routes: conversion status and payouts (admin keys; docs/money.md).

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use clicktrail_domain::conversion::Status;
use clicktrail_domain::report::{self, ReportScope};
use clicktrail_store::{
    LeadIn, PayIn, PayoutOut, RefundIn, SaleIn, StoreError, Target, NOTHING_DUE,
};

use super::error::AppError;
use super::extract::JsonBody;
use super::tenant::{AdminTenant, ApiKey, IngestTenant, ReadTenant};
use super::types::{nonempty, Bounded, CidText, Email, PositiveCents, MAX_ID, MAX_URL};
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
    ApiKey { tenant, .. }: IngestTenant,
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
    /// A coupon code used: credits its affiliate when no click does.
    #[serde(default, deserialize_with = "nonempty")]
    pub coupon_code: Option<Bounded<MAX_ID>>,
    /// The customer's email (self-referrals).
    #[serde(default, deserialize_with = "nonempty")]
    pub customer_email: Option<Bounded<MAX_ID>>,
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
    ApiKey { tenant, .. }: IngestTenant,
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
    let coupon_codes: Vec<String> = req
        .coupon_code
        .map(Bounded::into_string)
        .into_iter()
        .collect();
    let products: Vec<String> = req
        .product_id
        .map(Bounded::into_string)
        .into_iter()
        .collect();
    let target = match (req.click_id, &customer_key) {
        (Some(c), _) => Target::Cid(c.known()?),
        (None, Some(k)) => Target::CustomerKey(k.clone()),
        // no click: a tenant's coupon code credits its affiliate
        (None, None) if tenant.rules.coupon_affiliate(&coupon_codes).is_some() => Target::None,
        (None, None) => {
            return Err(AppError::invalid(
                "customer_key",
                "customer_key or click_id is required (or a coupon_code of this tenant)",
            ))
        }
    };
    let out = st
        .store
        .sale(SaleIn {
            allow_unresolved: false,
            customer_key,
            is_recurring: req.is_recurring.unwrap_or(false),
            subscription_id: req.subscription_id.map(Bounded::into_string),
            details,
            coupon_codes,
            products,
            customer_email: req.customer_email.map(Bounded::into_string),
            ..SaleIn::for_tenant(
                &tenant,
                transaction_id,
                amount.0,
                currency,
                target,
                "api",
                st.now(),
            )
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
    ApiKey { tenant, .. }: ReadTenant,
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

// ---------------------------------------------------------------- money

/// `POST /api/v1/track/refund`
#[derive(Debug, Deserialize)]
pub struct RefundRequest {
    #[serde(default, deserialize_with = "nonempty")]
    pub transaction_id: Option<Bounded<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub refund_id: Option<Bounded<MAX_ID>>,
    /// Absent: what is left to refund.
    #[serde(default)]
    pub amount_cents: Option<PositiveCents>,
    #[serde(default, deserialize_with = "nonempty")]
    pub reason: Option<Bounded<MAX_URL>>,
}

pub async fn refund(
    State(st): State<AppState>,
    ApiKey { tenant, .. }: IngestTenant,
    JsonBody(req): JsonBody<RefundRequest>,
) -> R {
    let transaction_id = req
        .transaction_id
        .ok_or_else(|| AppError::invalid("transaction_id", "is required"))?
        .into_string();
    let refund_id = req
        .refund_id
        .ok_or_else(|| AppError::invalid("refund_id", "is required (unique per refund)"))?
        .into_string();
    let out = st
        .store
        .refund(RefundIn {
            tenant: tenant.id.clone(),
            transaction_id,
            refund_id,
            amount_cents: req.amount_cents.map(|c| c.0),
            reason: req.reason.map(Bounded::into_string),
            now: st.now(),
        })
        .await?;
    Ok(Json(json!({
        "success": true,
        "refund_id": out.refund_id,
        "commission_reversed_cents": out.commission_reversed_cents,
        "message": "Refund tracked successfully"
    }))
    .into_response())
}

/// `PATCH /api/v1/conversions/{id}` (`id`: a conversion's `conversionId` or a sale's `sale_id`)
#[derive(Debug, Deserialize)]
pub struct StatusRequest {
    #[serde(default, deserialize_with = "nonempty")]
    pub status: Option<Bounded<16>>,
}

pub async fn conversion_status(
    State(st): State<AppState>,
    ApiKey { tenant, .. }: AdminTenant,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<StatusRequest>,
) -> R {
    let status = match req.status.as_deref() {
        Some("approved") => Status::Approved,
        Some("declined") => Status::Declined,
        _ => {
            return Err(AppError::invalid(
                "status",
                "must be \"approved\" or \"declined\"",
            ))
        }
    };
    if id.is_empty() || id.len() > MAX_ID {
        return Err(AppError::not_found(
            "unknown_conversion",
            "no conversion has this id",
        ));
    }
    let out = st
        .store
        .set_conversion_status(&tenant.id, &id, status, st.now())
        .await?;
    Ok(Json(json!({
        "conversionId": out.conversion_id,
        "status": out.status,
        "commissionReversedCents": out.commission_reversed_cents
    }))
    .into_response())
}

/// `?through=YYYY-MM-DD` (inclusive, UTC; default today) as (the day, its last second).
fn through_day(st: &AppState, s: Option<&str>) -> Result<(String, i64), AppError> {
    let day = match s.filter(|s| !s.is_empty()) {
        Some(s) => parse_day("through", s)?,
        None => chrono::DateTime::from_timestamp(st.now(), 0)
            .unwrap_or_default()
            .date_naive(),
    };
    let next = day
        .checked_add_days(chrono::Days::new(1))
        .ok_or_else(|| AppError::invalid("through", "is out of range"))?;
    Ok((day.format("%Y-%m-%d").to_string(), midnight(next) - 1))
}

#[derive(Debug, Deserialize)]
pub struct DueQuery {
    through: Option<String>,
}

/// `GET /api/v1/payouts/due?through=YYYY-MM-DD`: approved, unpaid balances per affiliate.
pub async fn payouts_due(
    State(st): State<AppState>,
    ApiKey { tenant, .. }: AdminTenant,
    q: Result<Query<DueQuery>, axum::extract::rejection::QueryRejection>,
) -> R {
    let Query(q) = q.map_err(|e| AppError::invalid("query", e.body_text()))?;
    let (day, through) = through_day(&st, q.through.as_deref())?;
    let entries = st.store.ledger_entries(&tenant.id).await?;
    let due = clicktrail_domain::payout::due(&entries, through);
    let affiliates: Vec<Value> = due
        .iter()
        .map(|d| {
            json!({
                "affiliate": d.affiliate,
                "amountCents": d.amount_cents,
                "currency": d.currency,
                "entries": d.entries,
            })
        })
        .collect();
    Ok(Json(json!({"through": day, "affiliates": affiliates})).into_response())
}

/// `POST /api/v1/payouts` `{affiliate, through, currency?}`
#[derive(Debug, Deserialize)]
pub struct PayRequest {
    #[serde(default, deserialize_with = "nonempty")]
    pub affiliate: Option<Bounded<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub through: Option<Bounded<16>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub currency: Option<Bounded<8>>,
}

fn payout_json(p: &PayoutOut) -> Value {
    let lines: Vec<Value> = p
        .lines
        .iter()
        .map(|l| {
            json!({
                "entryId": l.entry_id,
                "conversionId": l.conversion_id,
                "transactionId": l.transaction_id,
                "kind": l.kind,
                "amountCents": l.amount_cents,
                "createdAt": clicktrail_domain::attribution::rfc3339(l.created_at),
            })
        })
        .collect();
    json!({
        "payoutId": p.payout_id,
        "affiliate": p.affiliate,
        "amountCents": p.amount_cents,
        "currency": p.currency,
        "through": clicktrail_domain::attribution::rfc3339(p.through),
        "createdAt": clicktrail_domain::attribution::rfc3339(p.created_at),
        "lines": lines,
    })
}

pub async fn pay(
    State(st): State<AppState>,
    ApiKey { tenant, .. }: AdminTenant,
    JsonBody(req): JsonBody<PayRequest>,
) -> R {
    let affiliate = req
        .affiliate
        .ok_or_else(|| AppError::invalid("affiliate", "is required"))?
        .into_string();
    if !tenant.affiliates.contains(&affiliate) {
        return Err(AppError::not_found(
            "unknown_affiliate",
            format!("unknown affiliate `{affiliate}`"),
        ));
    }
    let (_, through) = through_day(&st, req.through.as_deref())?;
    let result = st
        .store
        .pay(PayIn {
            tenant: tenant.id.clone(),
            affiliate,
            through,
            currency: req.currency.map(|c| c.to_ascii_uppercase()),
            now: st.now(),
        })
        .await;
    match result {
        Ok(p) => Ok(Json(payout_json(&p)).into_response()),
        Err(StoreError::Invalid(field, message)) if field == NOTHING_DUE => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": {"code": "nothing_due", "message": message}})),
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

/// A CSV cell a spreadsheet will not run as a formula.
fn csv_cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

/// `GET /api/v1/payouts/{id}` (JSON) and `GET /api/v1/payouts/{id}.csv`.
pub async fn payout(
    State(st): State<AppState>,
    ApiKey { tenant, .. }: AdminTenant,
    Path(file): Path<String>,
) -> R {
    let (id, csv) = match file.strip_suffix(".csv") {
        Some(id) => (id, true),
        None => (file.as_str(), false),
    };
    let id: i64 = id
        .parse()
        .map_err(|_| AppError::not_found("unknown_payout", format!("no payout `{file}`")))?;
    let p = st.store.payout(&tenant.id, id).await?;
    if !csv {
        return Ok(Json(payout_json(&p)).into_response());
    }
    // where the affiliate asked to be paid (the portal's payout details), on every line
    let to = st
        .store
        .program()
        .payout_details(&tenant.id, &p.affiliate)
        .await?;
    let (method, address) = to
        .map(|d| (d.method, csv_cell(&d.address)))
        .unwrap_or_default();
    let mut w = csv::Writer::from_writer(Vec::new());
    let write = |w: &mut csv::Writer<Vec<u8>>, rec: &[String]| {
        w.write_record(rec)
            .map_err(|e| AppError::Internal(format!("csv: {e}")))
    };
    write(
        &mut w,
        &[
            "payout_id",
            "affiliate",
            "currency",
            "entry_id",
            "conversion_id",
            "transaction_id",
            "kind",
            "amount_cents",
            "amount",
            "created_at",
            "payout_method",
            "payout_address",
        ]
        .map(String::from),
    )?;
    for l in &p.lines {
        write(
            &mut w,
            &[
                p.payout_id.to_string(),
                csv_cell(&p.affiliate),
                p.currency.clone(),
                l.entry_id.to_string(),
                l.conversion_id.clone(),
                csv_cell(l.transaction_id.as_deref().unwrap_or_default()),
                l.kind.clone(),
                l.amount_cents.to_string(),
                clicktrail_domain::money::format_cents(l.amount_cents),
                clicktrail_domain::attribution::rfc3339(l.created_at),
                method.clone(),
                address.clone(),
            ],
        )?;
    }
    let body = w
        .into_inner()
        .map_err(|e| AppError::Internal(format!("csv: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"payout-{}.csv\"", p.payout_id),
            ),
        ],
        body,
    )
        .into_response())
}
