//! localStorage unavailable (blocked by the browser): attribution still works and the
//! outbox lives in memory, still retried and delivered once.
#![cfg(target_arch = "wasm32")]

extern crate alloc;

mod common;

use common::*;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn works_without_local_storage() {
    install();
    reset();
    set_url("/?aff=alice");
    Function::new_no_args(
        r#"Object.defineProperty(window, "localStorage", { configurable: true, get() { throw new DOMException("denied", "SecurityError"); } });"#,
    )
    .call0(&JsValue::NULL)
    .unwrap();
    clicktrail::start(config(
        r#"{"endpoint":"https://c.test","params":["aff"],"debug":true}"#,
    ));
    let cb = recorder();
    td(&[
        JsValue::from("n1"),
        JsValue::from("click"),
        cb.clone().into(),
    ]);
    let cid = cookie_cid("n1").expect("cookie");
    assert_eq!(calls(&cb).length(), 1);
    until_sent("/tracking/click/v1", 1).await;
    set_mode(JsValue::from(503));
    td(&[
        JsValue::from("n1"),
        JsValue::from("conversion"),
        obj(r#"{"conversionTypeCode":"sale"}"#),
    ]);
    until_sent("/tracking/conversion/v1", 1).await;
    set_mode(JsValue::NULL);
    let n = until_sent("/tracking/conversion/v1", 2).await;
    assert_eq!(n.length(), 2, "retried from the in-memory outbox");
    assert_eq!(s(&n.get(0), "eventId"), s(&n.get(1), "eventId"));
    assert_eq!(s(&n.get(1), "cid"), Some(cid));
    pause(2500).await;
    assert_eq!(
        sent("/tracking/conversion/v1").length(),
        2,
        "delivered once"
    );
    no_page_errors();
}
