//! Affitor compatibility mode: `data-affitor-program-id`, `window.affitor`,
//! `window.affitorQueue` replay and the `affitor_click_id` cookie.
#![cfg(target_arch = "wasm32")]

extern crate alloc;

mod common;

use common::*;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn affitor_mode() {
    install();
    reset();
    set_url("/pricing?aff=alice");
    Function::new_no_args(r#"window.affitorQueue = [["signup", "queued_user", "q@example.com"]];"#)
        .call0(&JsValue::NULL)
        .unwrap();
    clicktrail::start(config(
        r#"{"endpoint":"https://c.test","params":["aff"],"attribution":"last","debug":true,"affitorProgramId":"prog_1"}"#,
    ));
    let cid = cookie_cid("prog_1").expect("click for the program");
    assert_eq!(cookie_value("affitor_click_id"), Some(cid.clone()));
    let a = global("affitor");
    let get_click_id: Function = get(&a, "getClickId").into();
    assert_eq!(
        get_click_id.call0(&a).unwrap().as_string(),
        Some(cid.clone())
    );
    let leads = until_sent("/tracking/lead/v1", 1).await;
    assert_eq!(
        s(&leads.get(0), "customerKey").as_deref(),
        Some("queued_user")
    );
    assert_eq!(s(&leads.get(0), "tenantId").as_deref(), Some("prog_1"));
    let click = sent("/tracking/click/v1").get(0);
    assert_eq!(s(&click, "tenantId").as_deref(), Some("prog_1"));
    // await window.affitor.signup(...)
    let signup: Function = get(&a, "signup").into();
    let p = signup
        .call2(
            &a,
            &JsValue::from("user_123"),
            &JsValue::from("user@example.com"),
        )
        .unwrap();
    let r = wait(settled(&p)).await;
    assert_eq!(get(&r, "ok").as_bool(), Some(true));
    assert_eq!(
        s(&sent("/tracking/lead/v1").get(1), "cid"),
        Some(cid.clone())
    );
    // pushes after load run at once
    Function::new_no_args(r#"window.affitorQueue.push(["signup", "late_user", "l@example.com"]);"#)
        .call0(&JsValue::NULL)
        .unwrap();
    let leads = until_sent("/tracking/lead/v1", 3).await;
    assert_eq!(
        s(&leads.get(2), "customerKey").as_deref(),
        Some("late_user")
    );
    // trackClick on the same landing URL does not double count
    let track: Function = get(&a, "trackClick").into();
    track.call0(&a).unwrap();
    pause(30).await;
    assert_eq!(sent("/tracking/click/v1").length(), 1);
    // the trackdesk dispatcher exists too, and its helpers default to the program
    let f = global("trackdesk");
    let get_cid: Function = get(&f, "getCid").into();
    assert_eq!(
        get_cid.call0(&JsValue::NULL).unwrap().as_string(),
        Some(cid)
    );
    no_page_errors();

    // an organic visitor (no affiliate, no CID): Affitor's documented
    // `await window.affitor.signup(...)` resolves; the lead carries the customer key alone
    clicktrail::reset_for_tests();
    reset();
    set_url("/signup");
    let p = signup
        .call2(
            &a,
            &JsValue::from("organic_1"),
            &JsValue::from("o@example.com"),
        )
        .expect("never throws");
    let r = wait(settled(&p)).await;
    assert_eq!(get(&r, "ok").as_bool(), Some(true), "resolves");
    let leads = until_sent("/tracking/lead/v1", 1).await;
    let lead = leads.get(0);
    assert_eq!(s(&lead, "customerKey").as_deref(), Some("organic_1"));
    assert_eq!(s(&lead, "email").as_deref(), Some("o@example.com"));
    assert!(get(&lead, "cid").is_undefined(), "no cid field at all");
    assert_eq!(cookie_value("trakdesk_cid"), None, "no cookie invented");
    no_page_errors();
}
