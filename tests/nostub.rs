//! No snippet on the page and a hostile configuration object: the tracker creates
//! `window.trackdesk` itself and falls back to defaults for every wrong type.
#![cfg(target_arch = "wasm32")]

extern crate alloc;

mod common;

use common::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn creates_the_global_and_survives_a_hostile_config() {
    install();
    reset();
    set_url("/?ref=bob");
    assert!(global("trackdesk").is_undefined());
    clicktrail::start(config(
        r#"{"endpoint":5,"params":"aff, ref ,","attribution":7,"debug":"yes","cookieDomain":{},"consent":1,"stripe":[],"affitorProgramId":"<x>"}"#,
    ));
    clicktrail::start(JsValue::from(42));
    let f = global("trackdesk");
    assert!(f.is_function());
    assert!(get(&f, "getCid").is_function());
    let to = global("TrackdeskObject");
    assert!(js_sys::Array::is_array(&to));
    assert!(js_sys::Object::is(&get(&to, "f"), &f));
    assert!(
        global("affitor").is_undefined(),
        "invalid program id: no Affitor mode"
    );
    let cb = recorder();
    td(&[
        JsValue::from("t9"),
        JsValue::from("click"),
        cb.clone().into(),
    ]);
    assert_eq!(
        calls(&cb).length(),
        1,
        "no consent required, params from a comma list"
    );
    until_sent("", 1).await;
    let rec = sent_records().get(0);
    // no endpoint: same-origin relative URL
    assert_eq!(s(&rec, "url").as_deref(), Some("/tracking/click/v1"));
    assert_eq!(s(&get(&rec, "body"), "aff").as_deref(), Some("bob"));
    no_page_errors();
}
