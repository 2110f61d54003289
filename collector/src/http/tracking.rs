//! Browser routes (`/tracking/*`): what the tracker sends from the merchant's pages. CORS and
//! the rate limit are layers (see `super::layers`); every route checks the page's Origin
//! against its tenant's allowed origins.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use clicktrail_domain::catalog::{Payout, Tenant};
use clicktrail_domain::conversion::Status;
use clicktrail_domain::privacy::strip_url;
use clicktrail_store::{ClickIn, ConversionIn, DiagnosticIn, ExternalLinkIn, LeadIn, Target};

use super::error::AppError;
use super::extract::JsonBody;
use super::first_party::{self, CookieRequest};
use super::tenant::{browser_tenant, check_origin, host_tenant_id};
use super::types::{
    nonempty, AmountObject, Bounded, CidText, CouponCodes, CustomParams, Email, Truncated,
    MAX_EXTERNAL_CID, MAX_ID, MAX_URL,
};
use crate::state::AppState;

type R = Result<Response, AppError>;

// ---------------------------------------------------------------- click

/// `POST /tracking/click/v1`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClickRequest {
    #[serde(default, deserialize_with = "nonempty")]
    pub tenant_id: Option<Bounded<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub event_id: Option<Bounded<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub aff: Option<Bounded<MAX_ID>>,
    /// The CID the tracker proposes; not a UUID: ignored (the collector makes one).
    #[serde(default, deserialize_with = "nonempty")]
    pub cid: Option<CidText>,
    #[serde(default, deserialize_with = "nonempty")]
    pub url: Option<Bounded<MAX_URL>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub referrer: Option<Bounded<MAX_URL>>,
    /// First-party mode: also set the cookie in the answer.
    #[serde(default)]
    pub cookie: Option<CookieRequest>,
}

pub async fn click(
    State(st): State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ClickRequest>,
) -> R {
    let tenant = browser_tenant(&st, &headers, req.tenant_id.as_deref())?;
    let code = req
        .aff
        .ok_or_else(|| AppError::invalid("aff", "is required"))?
        .into_string();
    // an alias (e.g. a PartnerStack partner key) records the affiliate's click
    let aff = match tenant.resolve_affiliate(&code) {
        Some(a) => a.to_string(),
        None => {
            return Err(AppError::not_found(
                "unknown_affiliate",
                format!("unknown affiliate `{code}`"),
            ))
        }
    };
    // only the parameters the product uses are stored (no emails or tokens from the query)
    let keep = &st.server.keep_url_params;
    let out = st
        .store
        .click(ClickIn {
            tenant: tenant.id.clone(),
            event_id: req.event_id.map(Bounded::into_string),
            cid: req.cid.and_then(CidText::valid),
            affiliate: aff,
            url: req.url.and_then(|u| strip_url(u.as_str(), keep)),
            referrer: req.referrer.and_then(|r| strip_url(r.as_str(), keep)),
            cookie_secs: tenant.cookie_secs(),
            now: st.now(),
        })
        .await?;
    let cookies = match &req.cookie {
        Some(c) => {
            let (id, secs) = (&tenant.id, tenant.cookie_secs());
            first_party::set_cookies(c, &headers, id, &out.cid, &code, secs)
        }
        None => Vec::new(),
    };
    let mut resp = Json(out).into_response();
    for c in cookies {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

// ---------------------------------------------------------------- conversions

/// `POST /tracking/conversion/v1`, and `/tracking/external-cid/v1` (a link, or a conversion via
/// the external CID).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversionRequest {
    #[serde(default, deserialize_with = "nonempty")]
    pub tenant_id: Option<Bounded<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub event_id: Option<Bounded<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub cid: Option<CidText>,
    #[serde(default, deserialize_with = "nonempty")]
    pub external_cid: Option<Bounded<MAX_EXTERNAL_CID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub revenue_origin_id: Option<Bounded<MAX_ID>>,
    /// Resolved through a lead's customerKey -> CID link.
    #[serde(default, deserialize_with = "nonempty")]
    pub customer_key: Option<Bounded<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub conversion_type_code: Option<Bounded<MAX_ID>>,
    /// Accepted as the type too.
    #[serde(default, deserialize_with = "nonempty")]
    pub conversion_type: Option<Bounded<MAX_ID>>,
    #[serde(default)]
    pub amount: Option<AmountObject>,
    #[serde(default, deserialize_with = "nonempty")]
    pub external_id: Option<Bounded<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub customer_id: Option<Bounded<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub status: Option<Bounded<32>>,
    #[serde(default)]
    pub coupon_codes: Option<CouponCodes>,
    #[serde(default)]
    pub custom_params: Option<CustomParams>,
}

fn revenue_origin(tenant: &Tenant, id: Option<&str>) -> Result<String, AppError> {
    let id = id
        .ok_or_else(|| AppError::invalid("revenueOriginId", "is required"))?
        .to_ascii_lowercase();
    if !tenant.has_revenue_origin(&id) {
        return Err(AppError::not_found(
            "unknown_revenue_origin",
            format!("unknown revenue origin `{id}`"),
        ));
    }
    Ok(id)
}

fn conversion_type(tenant: &Tenant, req: &ConversionRequest) -> Result<(String, Payout), AppError> {
    let code = req
        .conversion_type_code
        .as_ref()
        .or(req.conversion_type.as_ref())
        .ok_or_else(|| {
            AppError::invalid("conversionTypeCode", "is required (or `conversionType`)")
        })?;
    let payout = *tenant.conversion_types.get(code.as_str()).ok_or_else(|| {
        AppError::not_found(
            "unknown_conversion_type",
            format!("unknown conversion type `{}`", code.as_str()),
        )
    })?;
    Ok((code.as_str().to_string(), payout))
}

/// couponCodes / customParams as the JSON text stored with the conversion.
fn details(req: &ConversionRequest) -> Option<String> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Details<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        coupon_codes: Option<&'a CouponCodes>,
        #[serde(skip_serializing_if = "Option::is_none")]
        custom_params: Option<&'a CustomParams>,
    }
    let d = Details {
        coupon_codes: req.coupon_codes.as_ref(),
        custom_params: req.custom_params.as_ref(),
    };
    if d.coupon_codes.is_none() && d.custom_params.is_none() {
        return None;
    }
    serde_json::to_string(&d).ok()
}

async fn record_conversion(st: &AppState, tenant: &Tenant, req: ConversionRequest) -> R {
    let coupon_codes: Vec<String> = req
        .coupon_codes
        .as_ref()
        .map(|c| c.0.iter().map(|b| b.as_str().to_string()).collect())
        .unwrap_or_default();
    let target = match (&req.cid, &req.external_cid, &req.customer_key) {
        (Some(cid), _, _) => Target::Cid(cid.clone().known()?),
        (None, Some(ext), _) => Target::External {
            revenue_origin: revenue_origin(tenant, req.revenue_origin_id.as_deref())?,
            external_cid: ext.as_str().to_string(),
        },
        (None, None, Some(key)) => Target::CustomerKey(key.as_str().to_string()),
        // no click: a tenant's coupon code credits its affiliate (domain `rules::with_coupon`)
        (None, None, None) if tenant.rules.coupon_affiliate(&coupon_codes).is_some() => {
            Target::None
        }
        (None, None, None) => {
            return Err(AppError::invalid(
                "cid",
                "is required (or `externalCid` with `revenueOriginId`, or a `customerKey` sent with a lead)",
            ))
        }
    };
    let (code, payout) = conversion_type(tenant, &req)?;
    let status = match req.status.as_deref() {
        None => Status::Approved,
        Some(s) => Status::parse(s).ok_or_else(|| {
            AppError::invalid("status", "must be `pending`, `approved` or `declined`")
        })?,
    };
    let details = details(&req);
    let out = st
        .store
        .conversion(ConversionIn {
            tenant: tenant.id.clone(),
            event_id: req.event_id.map(Bounded::into_string),
            target,
            conversion_type: code,
            payout,
            amount_cents: req.amount.map_or(0, |a| a.cents()),
            currency: tenant.currency.clone(),
            external_id: req.external_id.map(Bounded::into_string),
            customer_id: req.customer_id.map(Bounded::into_string),
            status,
            details,
            hold_days: tenant.hold_days,
            now: st.now(),
            rules: tenant.rules.clone(),
            coupon_codes,
        })
        .await?;
    Ok(Json(out).into_response())
}

pub async fn conversion(
    State(st): State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ConversionRequest>,
) -> R {
    let tenant = browser_tenant(&st, &headers, req.tenant_id.as_deref())?;
    record_conversion(&st, &tenant, req).await
}

/// `POST /tracking/external-cid/v1`: with `cid`, link `externalCid` + `revenueOriginId` to it;
/// without `cid` but with a conversion type, a conversion via the external CID.
pub async fn external_cid(
    State(st): State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ConversionRequest>,
) -> R {
    let tenant = browser_tenant(&st, &headers, req.tenant_id.as_deref())?;
    let is_conversion =
        req.cid.is_none() && (req.conversion_type_code.is_some() || req.conversion_type.is_some());
    if is_conversion {
        return record_conversion(&st, &tenant, req).await;
    }
    let cid = req
        .cid
        .ok_or_else(|| AppError::invalid("cid", "is required"))?;
    let ext = req
        .external_cid
        .ok_or_else(|| AppError::invalid("externalCid", "is required"))?;
    let origin = revenue_origin(&tenant, req.revenue_origin_id.as_deref())?;
    let out = st
        .store
        .link_external(ExternalLinkIn {
            tenant: tenant.id.clone(),
            event_id: req.event_id.map(Bounded::into_string),
            cid: cid.known()?,
            revenue_origin: origin,
            external_cid: ext.into_string(),
            now: st.now(),
        })
        .await?;
    Ok(Json(out).into_response())
}

// ---------------------------------------------------------------- lead

/// `POST /tracking/lead/v1`. Without `cid` (an Affitor organic sign-up: nobody referred this
/// visitor yet), the lead still records the customer key.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadRequest {
    #[serde(default, deserialize_with = "nonempty")]
    pub tenant_id: Option<Bounded<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub event_id: Option<Bounded<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub cid: Option<CidText>,
    #[serde(default, deserialize_with = "nonempty")]
    pub customer_key: Option<Bounded<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub email: Option<Email>,
}

pub async fn lead(
    State(st): State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<LeadRequest>,
) -> R {
    let tenant = browser_tenant(&st, &headers, req.tenant_id.as_deref())?;
    let key = req
        .customer_key
        .ok_or_else(|| AppError::invalid("customerKey", "is required"))?;
    let cid = req.cid.map(CidText::known).transpose()?;
    let out = st
        .store
        .lead(LeadIn {
            tenant: tenant.id.clone(),
            event_id: req.event_id.map(Bounded::into_string),
            cid,
            customer_key: Some(key.into_string()),
            email: req.email.map(Email::into_string),
            source: "browser",
            now: st.now(),
        })
        .await?;
    Ok(Json(out).into_response())
}

// ---------------------------------------------------------------- diagnostics

/// `POST /tracking/diagnostic/v1`: a loader failure report. Free text is cut, never refused.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticRequest {
    #[serde(default)]
    pub tenant_id: Option<Truncated<MAX_ID>>,
    #[serde(default, deserialize_with = "nonempty")]
    pub event_id: Option<Bounded<MAX_ID>>,
    #[serde(default)]
    pub kind: Option<Truncated<32>>,
    #[serde(default)]
    pub message: Option<Truncated<MAX_URL>>,
    #[serde(default)]
    pub url: Option<Truncated<MAX_URL>>,
    #[serde(default)]
    pub user_agent: Option<Truncated<512>>,
}

pub async fn diagnostic(
    State(st): State<AppState>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<DiagnosticRequest>,
) -> R {
    // unauthenticated: only a tenant of the catalog is kept (made-up ids cannot escape the
    // per-tenant cap), and a known tenant's allowed origins apply as on every browser route
    let catalog = st.catalog.get();
    let tenant = host_tenant_id(&st, &headers)
        .or_else(|| req.tenant_id.map(|t| t.0))
        .and_then(|id| catalog.tenant(&id).cloned());
    if let Some(t) = &tenant {
        check_origin(t, &headers)?;
    }
    let kind = req.kind.map(|k| k.0);
    st.store
        .diagnostic(DiagnosticIn {
            tenant: tenant.map(|t| t.id.clone()),
            event_id: req.event_id.map(Bounded::into_string),
            kind: kind.clone(),
            message: req.message.map(|m| m.0),
            url: req
                .url
                .and_then(|u| strip_url(&u.0, &st.server.keep_url_params)),
            user_agent: req.user_agent.map(|u| u.0),
            now: st.now(),
        })
        .await?;
    if let Some(kind) = kind {
        tracing::info!(kind = %kind, "tracker diagnostic received");
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
