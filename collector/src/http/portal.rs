//! The affiliate portal: an operator makes a secret link for one affiliate
//! (`POST /api/v1/affiliates/{code}/portal-link`, admin key); whoever holds it sees that
//! affiliate's links, clicks, conversions, commissions by state and payouts at
//! `/portal/{token}` (a page) and `/portal/{token}.json`, and nothing of anyone else.
//!
//! The token is 256 random bits shown once and stored as its SHA-256, like keys. Every figure
//! is computed from rows the store already scoped to (tenant, affiliate): the report rows are
//! filtered to the affiliate before they are summed, so no other affiliate's number can reach
//! the answer, even as a total.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use clicktrail_domain::catalog::key_hash;
use clicktrail_domain::payout::LedgerTotals;
use clicktrail_domain::report::{self, ReportRows, ReportScope};
use clicktrail_store::program::PayoutDetails;
use clicktrail_store::{PortalConversion, PortalPayout};
use serde::Deserialize;

use super::error::AppError;
use super::extract::JsonBody;
use super::tenant::{AdminTenant, ApiKey};
use crate::state::AppState;

type R = Result<Response, AppError>;

/// Conversions listed in the portal (newest first).
const RECENT_CONVERSIONS: i64 = 100;
/// Days listed in the portal's daily table (newest last).
const RECENT_DAYS: usize = 30;

const PAGE: &str = include_str!("../../assets/portal.html");
const SCRIPT: &str = include_str!("../../assets/portal.js");

/// The page's only script is `/portal.js`; it fetches the JSON of its own URL. Nothing is
/// cached, and the token never leaves in a Referer.
/// `blob:` is the CSV the page itself makes.
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self' blob:; \
     style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A token as [`new_token`] makes it: 64 lowercase hex digits (anything else is not looked up).
fn well_formed(token: &str) -> bool {
    token.len() == 64
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn known_affiliate(
    tenant: &clicktrail_domain::catalog::Tenant,
    code: &str,
) -> Result<(), AppError> {
    if tenant.has_affiliate(code) {
        Ok(())
    } else {
        Err(AppError::not_found(
            "unknown_affiliate",
            format!("no affiliate `{code}` in this tenant"),
        ))
    }
}

/// `POST /api/v1/affiliates/{code}/portal-link`: a new link; the affiliate's earlier link
/// stops working (create and rotate are one act).
pub async fn create_link(
    State(st): State<AppState>,
    ApiKey { tenant, .. }: AdminTenant,
    Path(code): Path<String>,
) -> R {
    known_affiliate(&tenant, &code)?;
    let token = new_token();
    st.store
        .portal_link(&tenant.id, &code, &key_hash(&token), st.now())
        .await?;
    tracing::info!(tenant = %tenant.id, affiliate = %code, "portal link created");
    let body = json!({
        "affiliate": code,
        "token": token,
        // absolute with `[server] public_url`, else relative to the collector's host
        "url": format!("{}/portal/{token}", st.server.public_url.as_deref().unwrap_or("")),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `DELETE /api/v1/affiliates/{code}/portal-link`: the link stops working (204; 404 if none).
pub async fn revoke_link(
    State(st): State<AppState>,
    ApiKey { tenant, .. }: AdminTenant,
    Path(code): Path<String>,
) -> R {
    if st
        .store
        .revoke_portal_link(&tenant.id, &code, st.now())
        .await?
    {
        tracing::info!(tenant = %tenant.id, affiliate = %code, "portal link revoked");
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AppError::not_found(
            "no_portal_link",
            format!("affiliate `{code}` has no portal link"),
        ))
    }
}

fn private(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// `GET /portal.js`: the portal page's script.
pub async fn script() -> Response {
    let mut res = SCRIPT.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

/// `GET /portal/{token}` (the page) and `GET /portal/{token}.json` (its data).
pub async fn portal(State(st): State<AppState>, Path(file): Path<String>) -> Response {
    let (token, json) = match file.strip_suffix(".json") {
        Some(t) => (t, true),
        None => (file.as_str(), false),
    };
    let found = if well_formed(token) {
        st.store.portal_lookup(&key_hash(token)).await
    } else {
        Ok(None)
    };
    let res = match (found, json) {
        (Err(e), _) => AppError::from(e).into_response(),
        (Ok(None), true) => AppError::not_found(
            "unknown_portal_link",
            "this portal link does not exist or was replaced; ask the program for a new one",
        )
        .into_response(),
        // the page is the same for every token (it shows the JSON's error for a dead one)
        (Ok(found), false) => {
            let status = match found {
                Some(_) => StatusCode::OK,
                None => StatusCode::NOT_FOUND,
            };
            let mut res = (status, axum::response::Html(PAGE)).into_response();
            res.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
            res
        }
        (Ok(Some((tenant, affiliate))), true) => match data(&st, &tenant, &affiliate).await {
            Ok(v) => Json(v).into_response(),
            Err(e) => e.into_response(),
        },
    };
    private(res)
}

/// Only the affiliate's own rows, before anything is summed.
fn only(rows: ReportRows, affiliate: &str) -> ReportRows {
    ReportRows {
        clicks: rows
            .clicks
            .into_iter()
            .filter(|r| r.0 == affiliate)
            .collect(),
        leads: rows
            .leads
            .into_iter()
            .filter(|r| r.0 == affiliate)
            .collect(),
        conversions: rows
            .conversions
            .into_iter()
            .filter(|r| r.0.as_deref() == Some(affiliate))
            .collect(),
        ledger: rows
            .ledger
            .into_iter()
            .filter(|e| e.affiliate == affiliate)
            .collect(),
        // tenant-wide counts: not the affiliate's to see
        test_mode: Default::default(),
    }
}

/// The portal's JSON. Typed, not a `json!` value: money sums are i128, which a
/// `serde_json::Value` cannot hold beyond 64 bits.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PortalData {
    affiliate: String,
    currency: String,
    link_parameter: &'static str,
    links: Vec<String>,
    totals: report::Counts,
    ledger: LedgerTotals,
    days: Vec<report::Day>,
    conversions: Vec<PortalConversion>,
    payouts: Vec<PortalPayout>,
    /// The program's name.
    program: String,
    /// The link to share: the shop's address (program `shop_url`, else the first allowed
    /// origin) with the affiliate parameter; `None` when the tenant names no address.
    share_link: Option<String>,
    /// The shop's origins a link may point to (the link builder checks against them).
    origins: Vec<String>,
    payout_details: Option<PayoutDetails>,
    /// The coupon codes that credit this affiliate (as stored: lower case; any case works).
    coupon_codes: Vec<String>,
    /// This affiliate's partner keys (aliases), for PartnerStack-style links
    /// (`?gspk=<Base64 key>`, read by shops that kept PartnerStack's snippet).
    partner_keys: Vec<String>,
}

async fn data(st: &AppState, tenant_id: &str, affiliate: &str) -> Result<PortalData, AppError> {
    let catalog = st.catalog.get();
    let tenant = catalog.tenant(tenant_id).ok_or_else(|| {
        AppError::not_found("unknown_portal_link", "the program no longer exists")
    })?;
    let now = st.now();
    let today = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .date_naive();
    let end = today
        .checked_add_days(chrono::Days::new(1))
        .unwrap_or(today)
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
        .timestamp();
    let rows = only(st.store.report(tenant_id, 0, end).await?, affiliate);
    let codes = [affiliate.to_string()];
    let built = report::build(
        ReportScope {
            tenant_id,
            from: "1970-01-01".into(),
            to: today.format("%Y-%m-%d").to_string(),
            currency: &tenant.currency,
            affiliates: &codes,
            now,
        },
        &rows,
    )
    .map_err(|e| AppError::invalid("report", e.to_string()))?;
    let row = built
        .affiliates
        .into_iter()
        .find(|r| r.affiliate == affiliate);
    let (totals, ledger, days) = match row {
        Some(r) => {
            let skip = r.days.len().saturating_sub(RECENT_DAYS);
            (r.counts, r.ledger, r.days.into_iter().skip(skip).collect())
        }
        None => (Default::default(), Default::default(), Vec::new()),
    };
    let activity = st
        .store
        .portal_activity(tenant_id, affiliate, RECENT_CONVERSIONS)
        .await?;
    let links: Vec<String> = tenant
        .allowed_origins
        .iter()
        .filter(|o| o.as_str() != "*")
        .map(|o| format!("{}/?aff={affiliate}", o.trim_end_matches('/')))
        .collect();
    let settings = st.store.program().program_settings(tenant_id).await?;
    let mut origins: Vec<String> = settings
        .shop_url
        .iter()
        .filter_map(|u| origin_of(u))
        .chain(
            tenant
                .allowed_origins
                .iter()
                .filter(|o| o.as_str() != "*")
                .map(|o| o.trim_end_matches('/').to_string()),
        )
        .collect();
    origins.dedup();
    // an address without a path is its home page (`https://shop.example/`)
    let shop = settings
        .shop_url
        .clone()
        .or_else(|| origins.first().cloned())
        .map(|u| match origin_of(&u) {
            Some(o) if o == u => format!("{u}/"),
            _ => u,
        });
    let share_link = shop.map(|u| with_param(&u, affiliate));
    let payout_details = st
        .store
        .program()
        .payout_details(tenant_id, affiliate)
        .await?;
    Ok(PortalData {
        affiliate: affiliate.to_string(),
        currency: tenant.currency.clone(),
        link_parameter: "aff",
        links,
        totals,
        ledger,
        days,
        conversions: activity.conversions,
        payouts: activity.payouts,
        program: settings
            .program_name
            .clone()
            .unwrap_or_else(|| tenant_id.to_string()),
        share_link,
        origins,
        payout_details,
        coupon_codes: tenant
            .rules
            .coupons
            .iter()
            .filter(|(_, a)| a.as_str() == affiliate)
            .map(|(code, _)| code.clone())
            .collect(),
        partner_keys: tenant
            .aliases
            .iter()
            .filter(|(_, a)| a.as_str() == affiliate)
            .map(|(key, _)| key.clone())
            .collect(),
    })
}

/// `scheme://host[:port]` of an address.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// `url` with `aff={code}` added to its query (the code is percent-encoded).
fn with_param(url: &str, code: &str) -> String {
    // RFC 3986 unreserved characters stay as they are
    const ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let code = percent_encoding::utf8_percent_encode(code, ENCODE);
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}aff={code}")
}

#[derive(Deserialize)]
pub struct DetailsBody {
    #[serde(default)]
    method: String,
    #[serde(default)]
    address: String,
}

/// Payout methods an affiliate may choose.
const METHODS: [&str; 4] = ["paypal", "bank_transfer", "wise", "other"];

/// `PUT /portal/{token}/payout-details` `{method, address}`: the affiliate's own payout
/// details (shown to the operator on the payout screen and in the payout CSV).
pub async fn set_payout_details(
    State(st): State<AppState>,
    Path(token): Path<String>,
    JsonBody(b): JsonBody<DetailsBody>,
) -> Response {
    let r = async {
        let found = if well_formed(&token) {
            st.store.portal_lookup(&key_hash(&token)).await?
        } else {
            None
        };
        let Some((tenant, affiliate)) = found else {
            return Err(AppError::not_found(
                "unknown_portal_link",
                "this portal link does not exist or was replaced",
            ));
        };
        let method = b.method.trim();
        if !METHODS.contains(&method) {
            return Err(AppError::invalid(
                "method",
                format!("must be one of {}", METHODS.join(", ")),
            ));
        }
        let address = b.address.trim();
        if address.is_empty() {
            return Err(AppError::invalid("address", "is required"));
        }
        if address.chars().count() > 200 || address.chars().any(char::is_control) {
            return Err(AppError::invalid(
                "address",
                "must be at most 200 characters without control characters",
            ));
        }
        if method == "paypal" && !clicktrail_domain::program::email_ok(address) {
            return Err(AppError::invalid(
                "address",
                "a PayPal address is an email address such as ana@example.com",
            ));
        }
        let d = PayoutDetails {
            method: method.to_string(),
            address: address.to_string(),
            updated_at: st.now(),
        };
        st.store
            .program()
            .set_payout_details(&tenant, &affiliate, &d)
            .await?;
        tracing::info!(tenant = %tenant, affiliate = %affiliate, "payout details changed");
        Ok(Json(json!(d)).into_response())
    }
    .await;
    private(r.unwrap_or_else(IntoResponse::into_response))
}
