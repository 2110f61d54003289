//! Thin wrappers over the browser APIs, one module per API. Every `JsValue` error is
//! converted into [`Error`] here; nothing in this layer throws or panics.
//!
//! The browser is reached through `Reflect` and a generic method call
//! ([`js::invoke`]) rather than typed `web-sys` bindings: each typed binding costs a
//! wasm wrapper plus a JS glue function, and this layer needs ~35 of them (measured:
//! ~3 KB gzip saved). The few JS built-ins used are declared in [`ffi`] (no js-sys).

pub mod cookies;
pub mod dom;
pub mod ffi;
pub mod history;
pub mod http;
pub mod js;
pub mod storage;

use alloc::string::String;
use wasm_bindgen::JsValue;

/// Everything that can go wrong in a browser call.
#[derive(Debug)]
pub enum Error {
    /// The browser threw (SecurityError, QuotaExceededError, TypeError …).
    Js(JsValue),
    /// An object or method the tracker needs is not there.
    Missing(&'static str),
}

impl From<JsValue> for Error {
    fn from(v: JsValue) -> Self {
        Error::Js(v)
    }
}

impl From<Error> for JsValue {
    fn from(e: Error) -> Self {
        match e {
            Error::Js(v) => v,
            Error::Missing(what) => JsValue::from_str(what),
        }
    }
}

pub type Result<T> = core::result::Result<T, Error>;

/// `globalThis` (the window).
pub fn window() -> JsValue {
    ffi::global()
}

pub fn document() -> JsValue {
    js::get(&window(), "document")
}

/// `location.<part>` ("href", "search", "hostname", "protocol").
pub fn location(part: &str) -> String {
    js::get(&js::get(&window(), "location"), part)
        .as_string()
        .unwrap_or_default()
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    let t = js::call_global("Date", "now", &[])
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0);
    if t > 0.0 {
        t as u64
    } else {
        0
    }
}

/// 16 random bytes from `crypto.getRandomValues` (Math.random if unavailable).
pub fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    let arr = js::construct("Uint8Array", &[&JsValue::from(16)]).unwrap_or(JsValue::UNDEFINED);
    let ok = js::invoke(&js::get(&window(), "crypto"), "getRandomValues", &[&arr]).is_ok();
    for (i, x) in b.iter_mut().enumerate() {
        *x = if ok {
            js::get_i(&arr, i as u32).as_f64().unwrap_or(0.0) as u8
        } else {
            let r = js::call_global("Math", "random", &[]).ok();
            (r.and_then(|v| v.as_f64()).unwrap_or(0.0) * 256.0) as u8
        };
    }
    b
}

/// A fresh UUID v4.
pub fn new_uuid() -> String {
    crate::uuid::v4_from_bytes(random16())
}
