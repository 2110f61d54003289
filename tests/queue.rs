//! Loading: the Trackdesk snippet's queue (two globals, one renamed), replay order,
//! `TrackdeskObject.f`, calls after load, the script started twice, and an outbox
//! left by an earlier page load. Its own page: everything happens before `start`.
#![cfg(target_arch = "wasm32")]

extern crate alloc;

mod common;

use common::*;
use js_sys::{Array, Function};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const CONFIG: &str = r#"{"endpoint":"https://collector.test","params":["aff"],"cookieDomain":null,"attribution":"last","debug":true,"affitorProgramId":null,"consent":null,"stripe":null}"#;

#[wasm_bindgen_test]
async fn queue_replay_renamed_global_and_double_start() {
    install();
    reset();
    set_url("/shop?aff=alice");
    Function::new_no_args(
        r#"
        const ev = "11111111-2222-4333-8444-555555555555";
        const body = JSON.stringify({ tenantId: "q1", eventId: ev, cid: "0f8fad5b-d9cb-469f-a165-70867728950e", customerKey: "from-last-page" });
        localStorage.setItem("clicktrail_outbox", JSON.stringify([{ i: ev, p: "/tracking/lead/v1", b: body, t: Date.now() - 60000, n: 1, a: 0 }]));
        (function(t,d,k){(t[k]=t[k]||[]).push(d);t[d]=t[d]||t[k].f||function(){(t[d].q=t[d].q||[]).push(arguments)}})(window,"trackdesk","TrackdeskObject");
        (function(t,d,k){(t[k]=t[k]||[]).push(d);t[d]=t[d]||t[k].f||function(){(t[d].q=t[d].q||[]).push(arguments)}})(window,"ct","TrackdeskObject");
        window.__order = [];
        trackdesk("q1", "ready", function (r) { __order.push("ready1:" + r.cid); });
        trackdesk("q1", "click", {}, function (r) { __order.push("click:" + r.cid); });
        ct("q1", "ready", function (r) { __order.push("ready2:" + r.cid); });
        trackdesk("q1", "noSuchCommand");
        window.__stub = window.trackdesk;
        "#,
    )
    .call0(&JsValue::NULL)
    .unwrap();
    clicktrail::start(config(CONFIG));
    clicktrail::start(config(CONFIG)); // loaded twice: a no-op
    let cid = cookie_cid("q1").expect("click replayed");
    // start-up without long tasks: the queue up to the click runs now, the rest later
    let order = strs(&Array::from(&global("__order")));
    assert_eq!(
        order,
        ["\"ready1:null\"".into(), alloc::format!("\"click:{cid}\"")],
        "the cookie and the click first"
    );
    assert_eq!(
        sent("/tracking/lead/v1").length(),
        0,
        "the outbox is flushed in a later task"
    );
    // a call made meanwhile waits behind the rest of the queue
    let early = recorder();
    td(&[
        JsValue::from("q1"),
        JsValue::from("ready"),
        early.clone().into(),
    ]);
    assert_eq!(calls(&early).length(), 0);
    pause(20).await;
    let order = strs(&Array::from(&global("__order")));
    assert_eq!(
        order,
        [
            "\"ready1:null\"".into(),
            alloc::format!("\"click:{cid}\""),
            alloc::format!("\"ready2:{cid}\"")
        ],
        "replayed in order"
    );
    assert_eq!(calls(&early).length(), 1);
    let f = global("trackdesk");
    assert!(f.is_function());
    assert!(
        !js_sys::Object::is(&f, &global("__stub")),
        "stub replaced by the dispatcher"
    );
    assert!(js_sys::Object::is(&f, &global("ct")), "renamed global");
    assert!(
        js_sys::Object::is(&f, &get(&global("TrackdeskObject"), "f")),
        "TrackdeskObject.f"
    );
    assert!(get(&f, "signup").is_function() && get(&f, "getCid").is_function());
    // after load: runs at once
    let r = recorder();
    td(&[
        JsValue::from("q1"),
        JsValue::from("ready"),
        r.clone().into(),
    ]);
    assert_eq!(calls(&r).length(), 1);
    // the snippet run again after load keeps the dispatcher
    Function::new_no_args(r#"(function(t,d,k){(t[k]=t[k]||[]).push(d);t[d]=t[d]||t[k].f||function(){(t[d].q=t[d].q||[]).push(arguments)}})(window,"trackdesk","TrackdeskObject");"#)
        .call0(&JsValue::NULL)
        .unwrap();
    assert!(js_sys::Object::is(&f, &global("trackdesk")));
    // one click only, despite two starts
    until_sent("/tracking/click/v1", 1).await;
    pause(50).await;
    assert_eq!(sent("/tracking/click/v1").length(), 1);
    // the outbox of the previous page was delivered, once
    let leads = sent("/tracking/lead/v1");
    assert_eq!(leads.length(), 1);
    assert_eq!(
        s(&leads.get(0), "eventId").as_deref(),
        Some("11111111-2222-4333-8444-555555555555")
    );
    assert_eq!(ls_get("clicktrail_outbox"), None);
    no_page_errors();
}
