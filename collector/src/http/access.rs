//! Who may reach what, beyond API keys:
//!
//! - the merchant's first-party path (`shop.example.com/_ct/` proxied to the collector) carries
//!   the header [`FIRST_PARTY_HEADER`], set by that proxy location (the shipped nginx file does):
//!   such a request reaches only what a page needs — the tracker's files and `/tracking/*` —
//!   and everything else (dashboard, admin and server API, portal, metrics) answers 404, so
//!   none of it is on the shop's origin;
//! - `/metrics` answers only clients inside `[server] metrics_allow` (default: loopback), and
//!   never a request forwarded by a proxy outside `trusted_proxies` (its client is unknown).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::client_ip::Forwarded;
use crate::http::AppError;
use crate::state::AppState;

/// Set by the proxy location of the first-party path (any value).
pub const FIRST_PARTY_HEADER: &str = "x-clicktrail-first-party";

/// What a shop page loads or sends through the first-party path.
fn page_needs(path: &str) -> bool {
    path == "/tracking.js"
        || path.starts_with("/tracking/")
        || (path.starts_with("/clicktrail_bg.") && path.ends_with(".wasm"))
        || (path.starts_with("/clicktrail_full.") && path.ends_with(".js"))
}

/// Refuses, on the first-party path, whatever a page does not need.
pub async fn first_party(req: Request, next: Next) -> Response {
    if req.headers().contains_key(FIRST_PARTY_HEADER) && !page_needs(req.uri().path()) {
        return AppError::not_found(
            "not_found",
            "only the tracker's files and /tracking/ routes are served on the first-party path",
        )
        .into_response();
    }
    next.run(req).await
}

/// `/metrics` for allowed addresses only.
pub async fn metrics_allowed(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let untrusted_forward = req
        .extensions()
        .get::<Forwarded>()
        .is_some_and(|f| f.by_untrusted_peer);
    let allowed = client.is_some_and(|ip| st.server.metrics_allow.iter().any(|n| n.contains(&ip)));
    if !allowed || untrusted_forward {
        return AppError::forbidden(
            "forbidden",
            "/metrics answers the addresses in [server] metrics_allow only",
        )
        .into_response();
    }
    next.run(req).await
}
