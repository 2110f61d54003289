//! clicktrail collector: receives what the tracker sends (clicks, conversions, leads,
//! external-CID links, diagnostics), the server-to-server calls (`/api/v1/...`) and Stripe
//! webhooks, stores them in SQLite and attributes them to affiliates with their commissions.
//!
//! `app::app(state)` builds the whole router (tests drive it without a socket);
//! `store::Store` is the only place that talks to the database.

pub mod app;
pub mod client;
pub mod config;
pub mod error;
pub mod import;
pub mod money;
pub mod routes;
pub mod store;
pub mod stripe;

pub use app::{app, AppState};
pub use config::Config;
pub use error::AppError;
pub use store::Store;
