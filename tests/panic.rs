//! A panic inside the wasm never reaches the page. Only with the deliberately
//! panicking build: `wasm-pack test --headless --chrome -- --features panic-test --test panic`
//! (docs/tracker.md). `trackdesk(t, "panic")` panics in the dispatcher; with panic=abort
//! that is a `WebAssembly.RuntimeError` trap, which the guard around every function the
//! tracker hands out catches; the tracker then stops and keeps later calls queued.
#![cfg(all(target_arch = "wasm32", feature = "panic-test"))]

extern crate alloc;

mod common;

use common::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn t(s: &str) -> JsValue {
    JsValue::from_str(s)
}

#[wasm_bindgen_test]
async fn a_panic_never_reaches_the_page_and_later_calls_stay_queued() {
    install();
    reset();
    set_url("/landing?aff=alice");
    clicktrail::start(config(
        r#"{"endpoint":"https://collector.test","debug":true}"#,
    ));
    // a working tracker first
    td(&[t("p1"), t("click")]);
    assert!(cookie_cid("p1").is_some());
    until_sent("/tracking/click/v1", 1).await;
    pause(30).await;
    let sent_before = sent_records().length();

    // the page's own call: the wasm panics inside it
    let r = td(&[t("p1"), t("panic")]);
    assert!(r.is_undefined());
    no_page_errors();

    // the tracker is stopped but never throws: calls are kept in the dispatcher's queue
    let f = global("trackdesk");
    assert!(f.is_function(), "the dispatcher is still there");
    td(&[
        t("p1"),
        t("conversion"),
        obj(r#"{"conversionTypeCode":"sale"}"#),
    ]);
    let q: js_sys::Array = get(&f, "q").into();
    assert_eq!(
        q.length(),
        2,
        "the panicking call and the later one are queued"
    );
    assert_eq!(s(&q.get(1), "1").as_deref(), Some("conversion"));

    // the Promise helper rejects with a readable Error instead of throwing
    let signup: js_sys::Function = get(&f, "signup").into();
    let p = signup
        .call2(&JsValue::NULL, &t("k"), &t("a@b.c"))
        .expect("signup never throws");
    let out = wait(settled(&p)).await;
    assert_eq!(get(&out, "ok").as_bool(), Some(false));
    assert!(s(&get(&out, "v"), "message")
        .unwrap()
        .contains("tracking stopped"));

    // SPA navigation and pagehide still work for the page and never throw
    push_url("/next?aff=bob");
    js_sys::Function::new_no_args("window.dispatchEvent(new Event('pagehide'))")
        .call0(&JsValue::NULL)
        .expect("pagehide listener never throws");
    pause(50).await;
    assert_eq!(
        sent_records().length(),
        sent_before,
        "nothing sent by a stopped tracker"
    );
    assert_eq!(
        s(&global("location"), "pathname").as_deref(),
        Some("/next"),
        "the page's pushState still works after the trap"
    );
    no_page_errors();
}
