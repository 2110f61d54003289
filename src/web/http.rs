//! `fetch` (POST, text/plain JSON, keepalive). No `sendBeacon` anywhere (SPEC §16).

use super::{js, window};
use alloc::boxed::Box;
use alloc::string::String;
use wasm_bindgen::JsValue;

/// POSTs `body`, then calls `done(status, text)` once; status 0 on network error.
/// Plain promise callbacks, no futures executor (that would cost ~5 KB of wasm).
pub fn post(url: &str, body: &str, done: impl FnOnce(u16, String) + 'static) {
    // one JSON text instead of seven property writes
    let init = parse_json(
        r#"{"method":"POST","keepalive":true,"headers":{"Content-Type":"text/plain;charset=UTF-8"}}"#,
    );
    js::set(&init, "body", &body.into());
    let p = match js::invoke(&window(), "fetch", &[&url.into(), &init]) {
        Ok(p) => p,
        Err(e) => {
            js::log_v("fetch threw:", &e.into());
            return done(0, String::new());
        }
    };
    // response -> Promise.all([status, response.text()])
    let read = js::func(Box::new(|resp, _, _, _| {
        let text = js::as_function(&js::get(&resp, "text"))
            .and_then(|f| f.call0(&resp).ok())
            .unwrap_or_default();
        let pair = js::array(&[&js::get(&resp, "status"), &text]);
        Ok(js::call_global("Promise", "all", &[&pair])?)
    }));
    // network error (or unreadable body) -> [0, ""]
    let fail = js::func(Box::new(|e, _, _, _| {
        js::log_v("network error:", &e);
        Ok(js::array(&[&0.into(), &"".into()]))
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
    // a page that replaced `fetch` with something returning a non-promise: nothing sent
    // (the event stays in the outbox)
    let chained = js::invoke(&p, "then", &[&read])
        .and_then(|p| js::invoke(&p, "catch", &[&fail]))
        .and_then(|p| js::invoke(&p, "then", &[&finish]));
    if chained.is_err() {
        // `fetch` was replaced by something that does not return a promise
        if let Some(f) = js::as_function(&finish) {
            js::call(&f, &js::array(&[&0.into(), &"".into()]));
        }
    }
}

/// `JSON.parse(text)`, `null` when it is not JSON.
pub fn parse_json(text: &str) -> JsValue {
    js::call_global("JSON", "parse", &[&text.into()]).unwrap_or(JsValue::NULL)
}
