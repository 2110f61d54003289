//! Revoked Proxies wherever the tracker asks `Array.isArray` (the configuration's
//! `params`, `window.TrackdeskObject`, `couponCodes`, the Tito queue): every such
//! call throws a TypeError in JavaScript, and none of it may reach the page.
#![cfg(target_arch = "wasm32")]

extern crate alloc;

mod common;

use common::*;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A revoked Proxy of `[]` (`Array.isArray` on it throws).
fn revoked() -> JsValue {
    Function::new_no_args("const p = Proxy.revocable([], {}); p.revoke(); return p.proxy;")
        .call0(&JsValue::NULL)
        .unwrap()
}

/// Runs `f(...)` from page JavaScript, recording any exception in `__errors`.
fn page_call(f: &JsValue, args: &js_sys::Array) {
    let call = Function::new_with_args(
        "f, a",
        "try { f.apply(null, a) } catch (e) { window.__errors.push('threw: ' + e) }",
    );
    call.call2(&JsValue::NULL, f, args).unwrap();
}

#[wasm_bindgen_test]
async fn revoked_proxies_never_throw_into_the_page() {
    install();
    reset();
    set_url("/?aff=alice");
    // the loader's config with a revoked Proxy as `params`, and TrackdeskObject revoked too
    set_global("TrackdeskObject", &revoked());
    let cfg = config(r#"{"endpoint":"https://c.test","debug":true}"#);
    js_sys::Reflect::set(&cfg, &"params".into(), &revoked()).unwrap();
    let start = Function::new_with_args(
        "s, c",
        "try { s(c) } catch (e) { window.__errors.push('start threw: ' + e) }",
    );
    let start_fn = Closure::<dyn Fn(JsValue)>::new(clicktrail::start).into_js_value();
    start.call2(&JsValue::NULL, &start_fn, &cfg).unwrap();
    no_page_errors();
    // defaults: a fresh TrackdeskObject, params ["aff"]
    let f = global("trackdesk");
    assert!(f.is_function(), "trackdesk created");
    assert!(js_sys::Array::is_array(&global("TrackdeskObject")));
    let cb = recorder();
    page_call(
        &f,
        &arr(&[
            JsValue::from("t1"),
            JsValue::from("click"),
            cb.clone().into(),
        ]),
    );
    assert_eq!(calls(&cb).length(), 1, "the default `aff` parameter works");
    let click = until_sent("/tracking/click/v1", 1).await.get(0);
    assert_eq!(s(&click, "aff").as_deref(), Some("alice"));

    // couponCodes: a revoked Proxy is no coupon, the conversion still goes out
    let p = obj(r#"{"conversionTypeCode":"sale"}"#);
    js_sys::Reflect::set(&p, &"couponCodes".into(), &revoked()).unwrap();
    page_call(
        &f,
        &arr(&[JsValue::from("t1"), JsValue::from("conversion"), p]),
    );
    let conv = until_sent("/tracking/conversion/v1", 1).await.get(0);
    assert_eq!(s(&conv, "conversionTypeCode").as_deref(), Some("sale"));
    assert!(get(&conv, "couponCodes").is_undefined());

    // the Tito queue stub with a revoked Proxy as its queue
    page_call(
        &f,
        &arr(&[
            JsValue::from("t1"),
            JsValue::from("tito"),
            obj(r#"{"revenueOriginId":"ro"}"#),
        ]),
    );
    let tito = global("tito");
    assert!(tito.is_function(), "Tito stub installed");
    js_sys::Reflect::set(&tito, &"q".into(), &revoked()).unwrap();
    page_call(&tito, &arr(&[JsValue::from("on:x"), JsValue::from(1)]));
    assert!(js_sys::Array::is_array(&get(&tito, "q")), "queue replaced");
    pause(30).await;
    no_page_errors();
}
