//! The HTTP layer: the router, the middleware, and the handlers grouped by audience.
//!
//! ```text
//! mod.rs        app(): routes + layers
//! access.rs     the first-party path reaches the tracker only; /metrics for allowed addresses
//! layers.rs     CORS (tower-http), rate limit (governor), tracing (tower-http), timeout (tower)
//! error.rs      AppError: every error as {"error":{"code","message"[,"field"]}} + status
//! extract.rs    JsonBody<T>: the one body extractor (any Content-Type, 413, 400, 422)
//! types.rs      field types checked while deserializing (Bounded, CidText, Amount, ...)
//! tenant.rs     tenant from Host / tenantId / the only one; from the API key (ApiKey)
//! first_party.rs  the Set-Cookie of a first-party click answer
//! rejections.rs  rate-limited log lines for rejected tracker requests (403/404/422)
//! tracking.rs   browser routes   /tracking/*
//! join.rs       the public join page /join/{tenant} and its applications
//! api.rs        server routes    /api/v1/*
//! admin/        the admin API    /api/v1/{affiliates,conversion-types,keys,events,...}
//! partnerstack_api.rs  PartnerStack's API v2 subset  /api/v2/{customers,transactions}
//! webhooks/     payment providers  /webhooks/stripe (+ its typed events)
//! demo.rs       /demo/checkout (--demo): plays Stripe, in-process
//! statics.rs    tracker files, dashboard, www/, JSON 404 / 405
//! dashboard_assets.rs  the dashboard page, script, style and icon (built in, also without --www)
//! health.rs     /readyz, /metrics (crate::metrics: the registry and the request counters;
//!               crate::body: the draining body reader)
//! ```
//!
//! Dependencies only go down this list's "leaves" (error, extract, types, tenant); no handler
//! module imports another, except demo -> webhooks::stripe (it plays Stripe).

use std::sync::Arc;

use axum::error_handling::HandleErrorLayer;
use axum::routing::{delete, get, patch, post, put};
use axum::{middleware, Router};
use tower::ServiceBuilder;

use crate::state::AppState;

pub mod access;
pub mod admin;
pub mod api;
pub mod dashboard_assets;
pub mod demo;
pub mod error;
pub mod extract;
pub mod first_party;
pub mod health;
pub mod join;
pub mod layers;
pub mod partnerstack_api;
pub mod portal;
pub mod rejections;
pub mod statics;
pub mod tenant;
pub mod tracking;
pub mod types;
pub mod webhooks;

pub use error::AppError;

/// The admin API (`admin`), below `/api/v1`.
fn admin_routes() -> Router<AppState> {
    use admin::{catalog as c, logs as l};
    Router::new()
        .route("/whoami", get(l::whoami))
        .route(
            "/affiliates",
            get(c::list_affiliates).post(c::create_affiliate),
        )
        .route("/affiliates/{code}", patch(c::update_affiliate))
        .route("/affiliates/{code}/aliases", post(c::add_alias))
        .route(
            "/affiliates/{code}/aliases/{alias}",
            delete(c::remove_alias),
        )
        .route(
            "/conversion-types",
            get(c::list_conversion_types).post(c::create_conversion_type),
        )
        .route("/conversion-types/{code}", patch(c::update_conversion_type))
        .route(
            "/revenue-origins",
            get(c::list_revenue_origins).post(c::add_revenue_origin),
        )
        .route("/revenue-origins/{id}", delete(c::remove_revenue_origin))
        .route(
            "/allowed-origins",
            get(c::list_allowed_origins)
                .post(c::add_allowed_origin)
                .delete(c::remove_allowed_origin),
        )
        .route("/keys", get(c::list_keys).post(c::create_key))
        .route("/keys/{id}", delete(c::revoke_key))
        .route("/tenants", post(c::create_tenant))
        .route("/diagnostics", get(l::diagnostics))
        .route("/events", get(l::events))
        .route("/audit", get(l::audit))
        .route("/erasures", post(admin::erase::erase))
        .route(
            "/retention",
            get(admin::retention::get).put(admin::retention::put),
        )
        .route("/applications", get(admin::program::list))
        .route("/applications/{id}/approve", post(admin::program::approve))
        .route("/applications/{id}/reject", post(admin::program::reject))
        .route(
            "/program/settings",
            get(admin::program::settings).patch(admin::program::update_settings),
        )
        .route("/payout-details", get(admin::program::payout_details))
        .route("/outbox", get(admin::program::outbox))
        .route(
            "/rules",
            get(admin::rules::get_rules).put(admin::rules::put_rules),
        )
        .route(
            "/webhook-endpoints",
            get(admin::webhooks::list).post(admin::webhooks::create),
        )
        .route(
            "/webhook-endpoints/{id}",
            patch(admin::webhooks::update).delete(admin::webhooks::delete),
        )
        .route(
            "/webhook-endpoints/{id}/deliveries",
            get(admin::webhooks::deliveries),
        )
}

/// The server API (`api`, the portal links, `admin`), below `/api/v1`; operators' money
/// changes get an audit line (`admin::audit`).
fn api_v1_routes(state: &AppState) -> Router<AppState> {
    let audited = middleware::from_fn_with_state(state.clone(), admin::audit::audit_change);
    Router::new()
        .route("/track/lead", post(api::lead))
        .route("/track/sale", post(api::sale))
        .route("/report", get(api::report))
        .route("/track/refund", post(api::refund))
        .route(
            "/conversions/{id}",
            patch(api::conversion_status).layer(audited.clone()),
        )
        .route("/payouts/due", get(api::payouts_due))
        .route("/payouts", post(api::pay).layer(audited.clone()))
        .route("/payouts/{file}", get(api::payout))
        .route(
            "/affiliates/{code}/portal-link",
            post(portal::create_link)
                .delete(portal::revoke_link)
                .layer(audited),
        )
        .merge(admin_routes())
}

/// The whole service: browser routes (CORS, rate limit), server and webhook routes (rate
/// limit), static files and probes; tracing, metrics and the request timeout around everything.
pub fn app(state: AppState) -> Router {
    let limiter = Arc::new(layers::IpLimiter::new(
        state.server.rate_limit_per_second,
        state.server.rate_limit_burst,
    ));
    let rate_limit = middleware::from_fn_with_state(limiter, layers::rate_limit);

    // CORS outside the rate limit, so that a 429 is readable by the page (the tracker retries
    // it); the 405 fallback is set before the layers so that CORS still answers preflights
    let browser = Router::new()
        .route("/tracking/click/v1", post(tracking::click))
        .route("/tracking/conversion/v1", post(tracking::conversion))
        .route("/tracking/external-cid/v1", post(tracking::external_cid))
        .route("/tracking/lead/v1", post(tracking::lead))
        .route("/tracking/diagnostic/v1", post(tracking::diagnostic))
        .method_not_allowed_fallback(statics::method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn(layers::preflight_204))
                .layer(layers::cors(state.clone()))
                .layer(middleware::from_fn_with_state(
                    (rejections::RejectionLog::new(), state.clone()),
                    rejections::log_rejected,
                ))
                .layer(rate_limit.clone()),
        );

    let mut server = Router::new()
        .nest("/api/v1", api_v1_routes(&state))
        .route("/portal/{file}", get(portal::portal))
        .route("/portal.js", get(portal::script))
        .route(
            "/portal/{token}/payout-details",
            put(portal::set_payout_details),
        )
        .route("/join/{tenant}/program.json", get(join::program))
        .route(
            "/join/{tenant}/apply",
            post(join::apply).layer(axum::Extension(join::JoinLimiter::new())),
        )
        .route("/webhooks/stripe", post(webhooks::stripe::webhook))
        .route(
            "/webhooks/chargebee/{tenant}",
            post(webhooks::chargebee::webhook),
        )
        .route(
            "/webhooks/recurly/{tenant}",
            post(webhooks::recurly::webhook),
        )
        .route(
            "/webhooks/chargify/{tenant}",
            post(webhooks::chargify::webhook),
        )
        .route("/api/v2/customers", post(partnerstack_api::create_customer))
        .route(
            "/api/v2/transactions",
            post(partnerstack_api::create_transaction),
        )
        .route(
            "/api/v2/transactions/{key}",
            delete(partnerstack_api::delete_transaction),
        );
    if state.demo {
        server = server.route("/demo/checkout", post(demo::checkout));
    }
    let server = server
        .method_not_allowed_fallback(statics::method_not_allowed)
        .layer(rate_limit);

    let statics = Router::new()
        .route("/tracking.js", get(statics::tracking_js))
        .route("/clicktrail_bg.wasm", get(statics::tracking_wasm))
        .route("/clicktrail_bg.{file}", get(statics::tracking_wasm_hashed))
        .route("/clicktrail_full.{file}", get(statics::tracking_full_js))
        .route("/dashboard", get(dashboard_assets::page))
        .route("/join/{tenant}", get(join::page))
        .route("/join.js", get(join::script))
        .route("/dashboard.js", get(dashboard_assets::script))
        .route("/style.css", get(dashboard_assets::style))
        .route("/favicon.svg", get(dashboard_assets::favicon))
        .route("/healthz", get(statics::healthz))
        .route("/readyz", get(health::ready))
        .route(
            "/metrics",
            get(health::metrics).layer(middleware::from_fn_with_state(
                state.clone(),
                access::metrics_allowed,
            )),
        )
        .method_not_allowed_fallback(statics::method_not_allowed);

    Router::new()
        .merge(browser)
        .merge(server)
        .merge(statics)
        .fallback(statics::www)
        .layer(middleware::from_fn(access::first_party))
        .layer(
            ServiceBuilder::new()
                .layer(layers::trace())
                .layer(middleware::from_fn_with_state(
                    state.metrics.clone(),
                    crate::metrics::track,
                ))
                .layer(HandleErrorLayer::new(layers::timeout_error))
                .timeout(std::time::Duration::from_secs(
                    state.server.request_timeout_secs,
                )),
        )
        .with_state(state)
}
