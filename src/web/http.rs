//! `fetch` (POST, text/plain JSON, keepalive, no credentials) and `navigator.sendBeacon`.

use super::ffi::{self, Array};
use super::{js, window};
use alloc::boxed::Box;
use alloc::string::String;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `globalThis.fetch(url, init)` looked up at call time (so it can be replaced in tests).
    #[wasm_bindgen(catch, js_namespace = globalThis, js_name = fetch)]
    fn js_fetch(url: &str, init: &JsValue) -> Result<Thenable, JsValue>;
    /// A promise, with untyped `then`/`catch` taking plain functions.
    type Thenable;
    #[wasm_bindgen(method, js_name = then)]
    fn then_(this: &Thenable, f: &JsValue) -> Thenable;
    #[wasm_bindgen(method, js_name = catch)]
    fn catch_(this: &Thenable, f: &JsValue) -> Thenable;
    #[wasm_bindgen(js_namespace = Promise, js_name = all)]
    fn promise_all(values: &JsValue) -> Thenable;
}

/// POSTs `body`, then calls `done(status, text)` once; status 0 on network error.
/// Plain promise callbacks, no futures executor (that would cost ~5 KB of wasm).
pub fn post(url: &str, body: &str, done: impl FnOnce(u16, String) + 'static) {
    let init: JsValue = js::obj();
    js::set(&init, "method", &"POST".into());
    js::set(&init, "body", &body.into());
    js::set(&init, "keepalive", &true.into());
    js::set(&init, "credentials", &"omit".into());
    let headers: JsValue = js::obj();
    js::set(&headers, "Content-Type", &"text/plain;charset=UTF-8".into());
    js::set(&init, "headers", &headers);
    let p = match js_fetch(url, &init) {
        Ok(p) => p,
        Err(e) => {
            js::log_v("fetch threw:", &e);
            return done(0, String::new());
        }
    };
    // response -> Promise.all([status, response.text()])
    let read = js::func(Box::new(|resp, _, _, _| {
        let text = js::as_function(&js::get(&resp, "text"))
            .and_then(|f| f.call0(&resp).ok())
            .unwrap_or_default();
        Ok(promise_all(&Array::of2(&js::get(&resp, "status"), &text).into()).into())
    }));
    // network error (or unreadable body) -> [0, ""]
    let fail = js::func(Box::new(|e, _, _, _| {
        js::log_v("network error:", &e);
        Ok(Array::of2(&0.into(), &"".into()).into())
    }));
    let done = core::cell::Cell::new(Some(done));
    let finish = js::func(Box::new(move |pair, _, _, _| {
        if let Some(done) = done.take() {
            let status = js::get_i(&pair, 0)
                .as_f64()
                .filter(|s| (1.0..1000.0).contains(s))
                .unwrap_or(0.0) as u16;
            done(status, js::get_i(&pair, 1).as_string().unwrap_or_default());
        }
        Ok(JsValue::UNDEFINED)
    }));
    p.then_(&read).catch_(&fail).then_(&finish);
}

/// `navigator.sendBeacon(url, body)` (sent as text/plain;charset=UTF-8).
pub fn beacon(url: &str, body: &str) -> bool {
    js::invoke(
        &js::get(&window(), "navigator"),
        "sendBeacon",
        &[&url.into(), &body.into()],
    )
    .is_ok_and(|r| r.is_truthy())
}

/// `JSON.parse(text)`, `null` when it is not JSON.
pub fn parse_json(text: &str) -> JsValue {
    ffi::json_parse(text).unwrap_or(JsValue::NULL)
}
