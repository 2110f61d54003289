//! The tracker's rules, written once: browser-free, `no_std` (with `alloc`), no dependencies.
//! The wasm tracker (the root package `clicktrail`) compiles these same files in as its own
//! modules (`#[path]`: as a dependency, LTO inlined differently across the crate boundary and
//! the shipped wasm was 334 B gzip larger) and does only the browser's part around them
//! (reading the page, writing cookies and storage, sending). Native code (tests, the
//! collector) can depend on this crate.
//!
//! - [`attribution`]: which click decides the cookie (later click wins, first-click model,
//!   a landing counted once, the collector's answer applied), as plain decisions.
//! - [`cookie`]: the `trakdesk_cid` format, the localStorage mirror, cookie domains.
//! - [`url`], [`partnerstack`]: affiliate codes and partner links in a URL, PartnerStack's
//!   cookies; [`uuid`], [`time`]: CIDs and RFC 3339 dates.
//! - [`cmd`], [`json`]: the collector's request bodies and a small JSON reader/writer.
//! - [`outbox`], [`consent`]: the retry policy of failed sends and the consent gate.
//!
//! Unit tests are in each module; property and differential tests in the root package's
//! `tests/` (`core_props.rs`, `partnerstack_props.rs`, `differential.rs`).

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod attribution;
pub mod cmd;
pub mod consent;
pub mod cookie;
pub mod json;
pub mod outbox;
pub mod partnerstack;
pub mod time;
pub mod url;
pub mod uuid;
