//! `data-consent="required"` (nothing written or sent before consent) and
//! `data-stripe="links"` (Payment Links / pricing tables carry the CID).
#![cfg(target_arch = "wasm32")]

extern crate alloc;

mod common;

use common::*;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn html(h: &str) {
    let f = Function::new_with_args("h", "document.body.insertAdjacentHTML('beforeend', h)");
    f.call1(&JsValue::NULL, &JsValue::from(h)).unwrap();
}

fn attr(sel: &str, name: &str) -> Option<String> {
    let f = Function::new_with_args(
        "s, n",
        "const e = document.querySelector(s); return e && e.getAttribute(n)",
    );
    f.call2(&JsValue::NULL, &JsValue::from(sel), &JsValue::from(name))
        .unwrap()
        .as_string()
}

use alloc::string::String;

/// One page, one `start` (whichever test runs first), then a clean slate.
fn setup() {
    install();
    clicktrail::start(config(
        r#"{"endpoint":"https://c.test","params":["aff"],"attribution":"last","debug":true,"consent":"required","stripe":"links"}"#,
    ));
    clicktrail::reset_for_tests();
    reset();
}

fn session_len() -> f64 {
    Function::new_no_args("return sessionStorage.length")
        .call0(&JsValue::NULL)
        .unwrap()
        .as_f64()
        .unwrap()
}

#[wasm_bindgen_test]
async fn consent_refused_writes_and_sends_nothing() {
    setup();
    set_url("/?aff=alice");
    let cb = recorder();
    td(&[
        JsValue::from("c1"),
        JsValue::from("click"),
        cb.clone().into(),
    ]);
    td(&[
        JsValue::from("c1"),
        JsValue::from("consent"),
        obj(r#"{"granted":false}"#),
    ]);
    td(&[
        JsValue::from("c1"),
        JsValue::from("signup"),
        obj(r#"{"customerKey":"k"}"#),
    ]);
    pause(50).await;
    assert_eq!(cookie_string(), "", "no cookie at all");
    assert_eq!(ls_get("clicktrail"), None, "no mirror");
    assert_eq!(ls_get("clicktrail_outbox"), None, "no outbox");
    assert_eq!(session_len(), 0.0, "no landing key");
    assert_eq!(sent_records().length(), 0, "nothing sent");
    assert_eq!(beacons().length(), 0, "no beacon");
    assert_eq!(calls(&cb).length(), 0, "no CID, no click callback");
    // pagehide while refused: still nothing
    Function::new_no_args("window.dispatchEvent(new Event('pagehide'))")
        .call0(&JsValue::NULL)
        .unwrap();
    assert_eq!(beacons().length(), 0);
    // the refusal kept the commands on hold: a later grant runs them in order
    td(&[
        JsValue::from("c1"),
        JsValue::from("consent"),
        obj(r#"{"granted":true}"#),
    ]);
    assert!(cookie_cid("c1").is_some());
    assert_eq!(calls(&cb).length(), 1);
    until_sent("/tracking/lead/v1", 1).await;
    assert_eq!(sent("/tracking/click/v1").length(), 1);
    no_page_errors();
}

#[wasm_bindgen_test]
async fn consent_gates_everything_and_stripe_links_get_the_cid() {
    setup();
    set_url("/?aff=alice");
    html(
        r#"<a id="s1" href="https://buy.stripe.com/test_123?prefilled_email=a%40b.c#top">buy</a><a id="o1" href="https://example.com/x">other</a><stripe-pricing-table id="pt" pricing-table-id="prctbl_1"></stripe-pricing-table>"#,
    );
    let cb = recorder();
    td(&[
        JsValue::from("c1"),
        JsValue::from("click"),
        cb.clone().into(),
    ]);
    td(&[
        JsValue::from("c1"),
        JsValue::from("conversion"),
        obj(r#"{"conversionTypeCode":"sale"}"#),
    ]);
    let r = recorder();
    td(&[
        JsValue::from("c1"),
        JsValue::from("ready"),
        r.clone().into(),
    ]);
    pause(30).await;
    assert_eq!(
        cookie_value("trakdesk_cid"),
        None,
        "no cookie before consent"
    );
    assert_eq!(sent_records().length(), 0, "nothing sent before consent");
    assert_eq!(calls(&cb).length(), 0);
    assert!(
        get(&calls(&r).get(0), "cid").is_null(),
        "ready still answers"
    );
    td(&[
        JsValue::from("c1"),
        JsValue::from("consent"),
        obj(r#"{"granted":true}"#),
    ]);
    let cid = cookie_cid("c1").expect("cookie after consent");
    assert_eq!(calls(&cb).length(), 1);
    until_sent("/tracking/click/v1", 1).await;
    until_sent("/tracking/conversion/v1", 1).await;
    // Stripe
    assert_eq!(
        attr("#s1", "href"),
        Some(alloc::format!(
            "https://buy.stripe.com/test_123?prefilled_email=a%40b.c&client_reference_id={cid}#top"
        ))
    );
    assert_eq!(
        attr("#o1", "href").as_deref(),
        Some("https://example.com/x")
    );
    assert_eq!(attr("#pt", "client-reference-id"), Some(cid.clone()));
    html(
        r#"<a id="s2" href="https://buy.stripe.com/late">late</a><stripe-buy-button id="bb"></stripe-buy-button>"#,
    );
    pause(30).await;
    assert_eq!(
        attr("#s2", "href"),
        Some(alloc::format!(
            "https://buy.stripe.com/late?client_reference_id={cid}"
        ))
    );
    assert_eq!(attr("#bb", "client-reference-id"), Some(cid));
    no_page_errors();
}

#[wasm_bindgen_test]
async fn a_click_held_for_consent_keeps_its_landing_url_across_spa_navigation() {
    // the visitor lands with ?aff=, browses the single-page app, then accepts the banner:
    // the held click is the landing's, not the page's at consent time
    setup();
    set_url("/land?aff=alice");
    td(&[JsValue::from("c1"), JsValue::from("click")]);
    push_url("/pricing");
    pause(10).await;
    assert_eq!(sent_records().length(), 0);
    td(&[
        JsValue::from("c1"),
        JsValue::from("consent"),
        obj(r#"{"granted":true}"#),
    ]);
    assert!(
        cookie_cid("c1").is_some(),
        "attributed to the landing's code"
    );
    let b = until_sent("/tracking/click/v1", 1).await.get(0);
    assert_eq!(s(&b, "aff").as_deref(), Some("alice"));
    assert!(s(&b, "url").is_some_and(|u| u.ends_with("/land?aff=alice")));
    no_page_errors();
}
