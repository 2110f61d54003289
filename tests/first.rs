//! First-click model: a later affiliate's click is recorded but never replaces the cookie.
#![cfg(target_arch = "wasm32")]

extern crate alloc;

mod common;

use common::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn first_click_keeps_the_cookie_and_still_records_the_click() {
    install();
    reset();
    set_url("/?aff=alice");
    clicktrail::start(config(
        r#"{"endpoint":"https://c.test","params":["aff"],"attribution":"first","debug":true}"#,
    ));
    td(&[JsValue::from("f1"), JsValue::from("click")]);
    let a = cookie_cid("f1").unwrap();
    until_sent("/tracking/click/v1", 1).await;
    pause(30).await;
    clicktrail::reset_for_tests();
    set_url("/?aff=bob");
    let cb = recorder();
    td(&[
        JsValue::from("f1"),
        JsValue::from("click"),
        cb.clone().into(),
    ]);
    assert_eq!(
        calls(&cb).length(),
        1,
        "first click: callback at once with the kept CID"
    );
    assert_eq!(s(&calls(&cb).get(0), "cid"), Some(a.clone()));
    let clicks = until_sent("/tracking/click/v1", 2).await;
    assert_eq!(s(&clicks.get(1), "aff").as_deref(), Some("bob"));
    assert_eq!(s(&clicks.get(1), "cid"), Some(a.clone()));
    pause(50).await;
    assert_eq!(cookie_cid("f1"), Some(a), "alice keeps the visitor");

    // the same on one page (SPA): a fresh click for dave, then a link for erin
    reset();
    set_url("/?aff=dave");
    td(&[JsValue::from("f1"), JsValue::from("click")]);
    let d = cookie_cid("f1").unwrap();
    until_sent("/tracking/click/v1", 1).await;
    pause(30).await;
    push_url("/?aff=erin");
    let clicks = until_sent("/tracking/click/v1", 2).await;
    assert_eq!(s(&clicks.get(1), "aff").as_deref(), Some("erin"));
    pause(50).await;
    assert_eq!(cookie_cid("f1"), Some(d), "dave keeps the visitor");
    no_page_errors();
}
