//! The public join page of a program: `GET /join/{tenant}` (the page, the same for every
//! tenant), `GET /join.js` (its script), `GET /join/{tenant}/program.json` (the program's name,
//! or 404 when the tenant takes no applications) and `POST /join/{tenant}/apply` (an
//! application).
//!
//! Spam: a per-IP limit of its own (governor, as the collector's rate limit; a few
//! applications an hour per address), a honeypot field (`fax`, hidden from people: a filled one
//! is answered as a success and stored nowhere), and no account enumeration: a valid
//! application is answered `202` with the same words whether the address is new, pending or
//! already an affiliate. A bad field is a 422 naming it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use clicktrail_domain::catalog::key_hash;
use clicktrail_domain::program::{validate, ApplicationForm};
use clicktrail_store::program::{NewPortalLink, Notices, ProgramSettings, SubmitIn};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde_json::json;

use super::dashboard_assets::answer;
use super::error::AppError;
use super::extract::JsonBody;
use crate::state::AppState;

const PAGE: &[u8] = include_bytes!("../../../www/join.html");
const SCRIPT: &[u8] = include_bytes!("../../../www/join.js");

/// Applications per client address: a burst of 5, then one every 10 minutes.
pub struct JoinLimiter(DefaultKeyedRateLimiter<IpAddr>);

impl JoinLimiter {
    pub fn new() -> Arc<JoinLimiter> {
        let burst = NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(std::time::Duration::from_secs(600))
            .map(|q| q.allow_burst(burst))
            .unwrap_or_else(|| Quota::per_hour(burst));
        Arc::new(JoinLimiter(RateLimiter::keyed(quota)))
    }
}

/// Addresses remembered by the limiter before idle ones are forgotten.
const MAX_TRACKED: usize = 100_000;

/// The join page's words for everything that was not a bad field.
const RECEIVED: &str = "Thank you: your application was received. You will get an email \
    when it has been reviewed.";

async fn file(st: &AppState, name: &str, built_in: &'static [u8]) -> Vec<u8> {
    tokio::fs::read(st.www_dir.join(name))
        .await
        .unwrap_or_else(|_| built_in.to_vec())
}

/// `GET /join/{tenant}`
pub async fn page(State(st): State<AppState>) -> Response {
    answer(
        "text/html; charset=utf-8",
        file(&st, "join.html", PAGE).await,
    )
}

/// `GET /join.js`
pub async fn script(State(st): State<AppState>) -> Response {
    answer(
        "text/javascript; charset=utf-8",
        file(&st, "join.js", SCRIPT).await,
    )
}

/// The tenant's settings when it takes applications (an unknown, disabled or closed program
/// is the same 404).
async fn open_program(st: &AppState, tenant: &str) -> Result<ProgramSettings, AppError> {
    let closed =
        || AppError::not_found("program_closed", "this program does not take applications");
    if st.catalog.get().tenant(tenant).is_none() {
        return Err(closed());
    }
    let s = st.store.program().program_settings(tenant).await?;
    if s.join_enabled {
        Ok(s)
    } else {
        Err(closed())
    }
}

/// The name a program goes by in emails and on its page.
pub fn program_name(tenant: &str, s: &ProgramSettings) -> String {
    s.program_name.clone().unwrap_or_else(|| tenant.to_string())
}

/// What the use cases need for their emails (absolute links with `[server] public_url`).
pub fn notices(st: &AppState, tenant: &str, s: ProgramSettings) -> Notices {
    Notices {
        program_name: program_name(tenant, &s),
        settings: s,
        dashboard_url: format!("{}/dashboard", base(st)),
    }
}

fn base(st: &AppState) -> &str {
    st.server.public_url.as_deref().unwrap_or("")
}

/// A new portal link: its token is only in the approval email (and hashed in the database).
pub fn new_link(st: &AppState) -> NewPortalLink {
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    NewPortalLink {
        token_hash: key_hash(&token),
        url: format!("{}/portal/{token}", base(st)),
    }
}

/// `GET /join/{tenant}/program.json`
pub async fn program(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, AppError> {
    let s = open_program(&st, &tenant).await?;
    Ok(Json(json!({ "tenant": tenant, "name": program_name(&tenant, &s) })).into_response())
}

#[derive(Deserialize)]
pub struct ApplyBody {
    #[serde(flatten)]
    form: ApplicationForm,
    /// The honeypot: hidden from people, filled by form-filling robots.
    #[serde(default)]
    fax: String,
}

fn client_ip(c: Option<Extension<ConnectInfo<SocketAddr>>>) -> IpAddr {
    c.map(|Extension(ConnectInfo(a))| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// `POST /join/{tenant}/apply`
pub async fn apply(
    State(st): State<AppState>,
    Extension(limiter): Extension<Arc<JoinLimiter>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<ApplyBody>,
) -> Result<Response, AppError> {
    let settings = open_program(&st, &tenant).await?;
    let application = validate(&body.form).map_err(|e| AppError::invalid(e.field, e.message))?;
    if limiter.0.len() > MAX_TRACKED {
        // forget addresses whose bucket is full again (memory stays bounded)
        limiter.0.retain_recent();
    }
    if limiter.0.check_key(&client_ip(peer)).is_err() {
        return Err(AppError::RateLimited {
            retry_after_secs: 600,
        });
    }
    if !body.fax.is_empty() {
        tracing::info!(tenant = %tenant, "join: honeypot filled; nothing stored");
    } else {
        let out = st
            .store
            .program()
            .submit_application(SubmitIn {
                tenant: tenant.clone(),
                application,
                link: new_link(&st),
                notices: notices(&st, &tenant, settings),
                now: st.now(),
            })
            .await?;
        if matches!(out, clicktrail_store::program::Submitted::New(_)) {
            tracing::info!(tenant = %tenant, "join: application received");
            // an auto-approval created an affiliate: collectors see it at once
            let _ = st.catalog.refresh(st.store.as_ref()).await;
        }
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "received": true, "message": RECEIVED })),
    )
        .into_response())
}
