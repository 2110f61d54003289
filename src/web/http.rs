//! `fetch` (POST, text/plain JSON, keepalive). No `sendBeacon` anywhere.

use super::{js, window};
use alloc::boxed::Box;
use alloc::string::String;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{RequestInit, Response};

/// POSTs `body`, then calls `done(status, text)` once; status 0 on network error.
/// Plain promise callbacks, no futures executor (that would cost ~5 KB of wasm).
/// Credentials: fetch's default "same-origin" (no cookies to another site; a first-party
/// collector's `Set-Cookie` is stored, docs/wire.md).
pub fn post(url: &str, body: &str, done: impl FnOnce(u16, String) + 'static) {
    let init = RequestInit::new();
    init.set_method("POST");
    // (web-sys's RequestInit has no `keepalive` setter: it is a plain dictionary member)
    js::set(&init, "keepalive", &JsValue::TRUE);
    init.set_body(&JsValue::from_str(body));
    let headers = js_sys::Object::new();
    js::set(
        &headers,
        "Content-Type",
        &JsValue::from_str("text/plain;charset=UTF-8"),
    );
    init.set_headers(&headers);
    let Some(w) = window() else {
        done(0, String::new());
        return;
    };
    answer(&w.fetch_with_str_and_init(url, &init), done);
}

/// Calls `done(status, text)` once when `p`, a `fetch` promise, settles; status 0 on a
/// network error, an unreadable body, or when `p` is no promise.
pub fn answer(p: &JsValue, done: impl FnOnce(u16, String) + 'static) {
    let done = core::cell::Cell::new(Some(done));
    let finish = js::func(Box::new(move |status, text, _, _| {
        if let Some(done) = done.take() {
            let status = status
                .as_f64()
                .filter(|s| (1.0..1000.0).contains(s))
                .unwrap_or(0.0) as u16;
            done(status, text.as_string().unwrap_or_default());
        }
        Ok(JsValue::UNDEFINED)
    }));
    // response -> finish(status, text); a network error or an unreadable body -> (0, "")
    let f2 = finish.clone();
    let read = js::func(Box::new(move |resp, _, _, _| {
        let Ok(resp) = resp.dyn_into::<Response>() else {
            return f2.call2(&JsValue::NULL, &0.into(), &"".into());
        };
        let status = JsValue::from(resp.status());
        let f3 = f2.clone();
        let got = js::func(Box::new(move |text, _, _, _| {
            f3.call2(&JsValue::NULL, &status, &text)
        }));
        let f4 = f2.clone();
        let lost = js::func(Box::new(move |_, _, _, _| {
            f4.call2(&JsValue::NULL, &0.into(), &"".into())
        }));
        match resp.text() {
            Ok(t) => super::ffi::then(&t, &got, &lost).or_else(|_| lost.call0(&JsValue::NULL)),
            Err(_) => lost.call0(&JsValue::NULL),
        }
    }));
    let f5 = finish.clone();
    let fail = js::func(Box::new(move |e, _, _, _| {
        js::log_v("network error:", &e);
        f5.call2(&JsValue::NULL, &0.into(), &"".into())
    }));
    if super::ffi::then(p.unchecked_ref(), &read, &fail).is_err() {
        // not a promise (a page replaced fetch): nothing sent, the event stays in the outbox
        let _ = finish.call2(&JsValue::NULL, &0.into(), &"".into());
    }
}

/// `JSON.parse(text)`, `null` when it is not JSON.
pub fn parse_json(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap_or(JsValue::NULL)
}
