//! clicktrail collector: receives what the tracker sends (clicks, conversions, leads,
//! external-CID links, diagnostics), the server-to-server calls (`/api/v1/...`) and Stripe
//! webhooks, and attributes them to affiliates with their commissions.
//!
//! The business rules live in `clicktrail_domain`, storage behind `clicktrail_store::Store`
//! (SQLite or PostgreSQL); this crate is the HTTP edge ([`http`]), the catalog snapshot and the
//! CLI.

pub mod backup;
pub mod body;
pub mod catalog;
pub mod client_ip;
pub mod config;
pub mod db;
pub mod embedded;
pub mod http;
pub mod import;
pub mod mail;
pub mod metrics;
pub mod migrate;
pub mod recurly_api;
pub mod retention;
pub mod serve;
pub mod state;
pub mod webhooks_out;

pub use config::Config;
pub use http::{app, AppError};
pub use state::AppState;
