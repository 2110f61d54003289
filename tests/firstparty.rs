//! First-party mode (docs/wire.md): the collector proxied under the page's own
//! origin (`/_ct`). The click body asks the collector to set the cookie; after its answer
//! the tracker never rewrites `trakdesk_cid` from script (that would make it an ITP-capped
//! cookie again) and keeps the localStorage mirror in sync. Also: Stripe links and hidden
//! inputs lose a CID the collector removed.
#![cfg(target_arch = "wasm32")]

extern crate alloc;

mod common;

use alloc::string::String;
use common::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn t(s: &str) -> JsValue {
    JsValue::from_str(s)
}

fn origin() -> String {
    s(&global("location"), "origin").unwrap()
}

fn setup(url: &str) {
    install();
    if global("__started").is_undefined() {
        set_global("__started", &JsValue::TRUE);
        record_cookie_writes();
        let cfg = alloc::format!(
            r#"{{"endpoint":"{}/_ct","debug":true,"stripe":"links"}}"#,
            origin()
        );
        clicktrail::start(config(&cfg));
    }
    clicktrail::reset_for_tests();
    reset();
    set_url(url);
}

/// The tracker's own `trakdesk_cid` writes (the probe and deletions aside).
fn script_cid_writes() -> u32 {
    cookie_writes()
        .iter()
        .filter(|w| {
            let w = w.as_string().unwrap_or_default();
            w.starts_with("trakdesk_cid={")
        })
        .count() as u32
}

#[wasm_bindgen_test]
async fn the_collector_sets_the_cookie_and_the_script_does_not_rewrite_it() {
    setup("/shop?aff=alice");
    td(&[t("fp"), t("click")]);
    // the tracker's own write comes first: no round trip before the CID
    let cid = cookie_cid("fp").expect("cookie at once");
    assert_eq!(script_cid_writes(), 1);
    let clicks = until_sent("/_ct/tracking/click/v1", 1).await;
    let rec = sent_records().get(0);
    assert_eq!(
        s(&rec, "url"),
        Some(alloc::format!("{}/_ct/tracking/click/v1", origin())),
        "requests go under the script's folder"
    );
    let spec = get(&clicks.get(0), "cookie");
    assert_eq!(
        stringify(&spec).as_deref(),
        Some(r#"{"domain":null,"secure":false,"affitor":false}"#),
        "127.0.0.1 over http: host-only, not Secure"
    );
    pause(50).await;
    assert_eq!(server_cookies().length(), 1, "the collector set it");
    assert_eq!(cookie_cid("fp"), Some(cid.clone()));
    assert_eq!(script_cid_writes(), 1, "no script rewrite after the answer");
    let m = parse(&ls_get("clicktrail").unwrap());
    assert_eq!(s(&m, "cid"), Some(cid.clone()));
    assert!(
        s(&m, "expiredAt").is_some_and(|e| e.ends_with('Z')),
        "the mirror follows the answer"
    );

    // a repeat click (another landing URL, same affiliate): refreshed by the collector only
    set_url("/shop/other?aff=alice");
    td(&[t("fp"), t("click")]);
    until_sent("/_ct/tracking/click/v1", 2).await;
    pause(50).await;
    assert_eq!(server_cookies().length(), 2);
    assert_eq!(script_cid_writes(), 1, "refreshes never come from script");
    assert_eq!(cookie_cid("fp"), Some(cid));
    no_page_errors();
}

#[wasm_bindgen_test]
async fn last_click_in_first_party_mode_takes_the_collectors_cid() {
    setup("/?aff=alice");
    td(&[t("fp"), t("click")]);
    until_sent("/_ct/tracking/click/v1", 1).await;
    pause(50).await;
    let a = cookie_cid("fp").unwrap();
    set_url("/?aff=bob");
    td(&[t("fp"), t("click")]);
    until_sent("/_ct/tracking/click/v1", 2).await;
    pause(50).await;
    let b = cookie_cid("fp").unwrap();
    assert_ne!(a, b, "bob's click won");
    assert_eq!(owner(&b).as_deref(), Some("bob"));
    assert_eq!(
        script_cid_writes(),
        1,
        "only the first (fresh) write came from script"
    );
    let m = parse(&ls_get("clicktrail").unwrap());
    assert_eq!(s(&m, "cid"), Some(b));
    assert_eq!(s(&m, "aff").as_deref(), Some("bob"));
    no_page_errors();
}

#[wasm_bindgen_test]
async fn a_removed_cid_leaves_hidden_inputs_and_stripe_links() {
    setup("/?aff=bogus");
    html(
        r#"<div id=rm><input type=hidden name=trakdesk_cid><span data-trackdesk-cid></span>
        <a id=pay href="https://buy.stripe.com/x?prefilled_email=a%40b.c">pay</a>
        <stripe-buy-button id=bb buy-button-id=b></stripe-buy-button></div>"#,
    );
    td(&[t("fp"), t("click")]);
    let cid = cookie_cid("fp").expect("written at once");
    let read = || {
        eval_js(
            "const r = document.getElementById('rm'); return [r.querySelector('input').value, \
             r.querySelector('span').getAttribute('data-trackdesk-cid'), \
             document.getElementById('pay').getAttribute('href'), \
             document.getElementById('bb').getAttribute('client-reference-id')].join('|')",
        )
        .as_string()
        .unwrap()
    };
    assert_eq!(
        read(),
        alloc::format!(
            "{cid}|{cid}|https://buy.stripe.com/x?prefilled_email=a%40b.c&client_reference_id={cid}|{cid}"
        ),
        "filled while the CID exists"
    );
    until_sent("/_ct/tracking/click/v1", 1).await;
    pause(50).await;
    assert_eq!(cookie_value("trakdesk_cid"), None, "404 unknown_affiliate");
    assert_eq!(
        read(),
        "||https://buy.stripe.com/x?prefilled_email=a%40b.c|",
        "the removed CID is gone from the page"
    );
    // and is not put back into elements added later
    html(r#"<input id=late name=trakdesk_cid>"#);
    pause(30).await;
    assert_eq!(
        eval_js("return document.getElementById('late').value").as_string(),
        Some(String::new())
    );
    no_page_errors();
}

#[wasm_bindgen_test]
async fn an_answer_already_expired_keeps_no_cookie() {
    setup("/?aff=alice");
    eval_js(
        "window.__mode = (rec) => rec.body && rec.body.aff ? new Response(JSON.stringify({cid: rec.body.cid, \
         expiredAt: '2001-01-01T00:00:00Z'}), {status: 200, headers: {'Content-Type': 'application/json'}}) : null",
    );
    html(r#"<input id=exp name=trakdesk_cid>"#);
    td(&[t("fp"), t("click")]);
    let cid = cookie_cid("fp").expect("written at once");
    until_sent("/_ct/tracking/click/v1", 1).await;
    pause(50).await;
    assert_eq!(cookie_value("trakdesk_cid"), None, "dead on arrival");
    assert_eq!(ls_get("clicktrail"), None, "no mirror to restore it from");
    assert_eq!(
        eval_js("return document.getElementById('exp').value").as_string(),
        Some(String::new())
    );
    let ready = recorder();
    td(&[t("fp"), t("ready"), ready.clone().into()]);
    assert_eq!(
        s(&calls(&ready).get(0), "cid"),
        None,
        "no CID: {cid} expired"
    );
    no_page_errors();
}
