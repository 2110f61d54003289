//! Thin wrappers over the browser APIs, one module per API, through the typed bindings of
//! `web-sys` and `js-sys`. Every call that can throw is a `Result` there; this
//! layer turns errors into [`Error`] or a neutral value. Nothing here throws or panics.
//! Page-provided values (command params, the config) are read in one place: `params`.

pub mod cookies;
pub mod dom;
pub mod ffi;
pub mod history;
pub mod http;
pub mod js;
pub mod params;
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

/// The window (`None` outside a page).
pub fn window() -> Option<web_sys::Window> {
    web_sys::window()
}

/// The window as a plain value (for reading the page's globals), `undefined` if none.
pub fn global() -> JsValue {
    window().map(JsValue::from).unwrap_or(JsValue::UNDEFINED)
}

pub fn document() -> Option<web_sys::Document> {
    window()?.document()
}

/// `location.<part>`; "" when unavailable.
pub fn location(part: Part) -> String {
    let Some(w) = window() else {
        return String::new();
    };
    let l = w.location();
    match part {
        Part::Href => l.href(),
        Part::Search => l.search(),
        Part::Hostname => l.hostname(),
        Part::Protocol => l.protocol(),
        Part::Origin => l.origin(),
    }
    .unwrap_or_default()
}

/// Which part of the page's URL [`location`] reads.
#[derive(Clone, Copy)]
pub enum Part {
    Href,
    Search,
    Hostname,
    Protocol,
    Origin,
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    let t = js_sys::Date::now();
    if t > 0.0 {
        t as u64
    } else {
        0
    }
}

/// 16 random bytes from `crypto.getRandomValues` (Math.random if unavailable).
pub fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    let ok = window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut b).is_ok());
    if !ok {
        for x in b.iter_mut() {
            *x = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    b
}

/// A fresh UUID v4.
pub fn new_uuid() -> String {
    crate::uuid::v4_from_bytes(random16())
}
