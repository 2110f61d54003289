//! The tracker in a page with the default (last-click) model: attribution, the cookie,
//! commands, transport and hostile input. One page for the whole file: every test
//! starts from `setup`, which clears cookies, storage and the tracker's memory.
#![cfg(target_arch = "wasm32")]

extern crate alloc;

mod common;

use alloc::string::String;
use alloc::vec;
use common::*;
use js_sys::Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const CLICK: &str = "/tracking/click/v1";
const CONV: &str = "/tracking/conversion/v1";
const EXT: &str = "/tracking/external-cid/v1";
const LEAD: &str = "/tracking/lead/v1";

fn setup(url: &str) {
    install();
    if global("__started").is_undefined() {
        set_global("__started", &JsValue::TRUE);
        clicktrail::start(config(
            r#"{"endpoint":"https://collector.test/","params":["aff","ref"],"cookieDomain":null,"attribution":"last","debug":true,"affitorProgramId":null,"consent":null,"stripe":null}"#,
        ));
    }
    clicktrail::reset_for_tests();
    reset();
    set_url(url);
}

fn t(s: &str) -> JsValue {
    JsValue::from_str(s)
}

/// Visits `url` as a fresh visitor of tenant `tenant` and returns the CID once acknowledged.
async fn referred(tenant: &str, url: &str) -> String {
    setup(url);
    td(&[t(tenant), t("click")]);
    until_sent(CLICK, 1).await;
    pause(30).await;
    cookie_cid(tenant).expect("cookie")
}

#[wasm_bindgen_test]
async fn click_sets_the_exact_cookie_and_calls_back_once() {
    setup("/landing?aff=alice&utm=x");
    let cb = recorder();
    td(&[t("t1"), t("click"), obj("{}"), cb.clone().into()]);
    let cid = cookie_cid("t1").expect("cookie set at once");
    assert_eq!(calls(&cb).length(), 1, "callback fires at once");
    let arg = calls(&cb).get(0);
    assert_eq!(s(&arg, "cid").as_deref(), Some(cid.as_str()));
    assert!(s(&arg, "expiredAt").is_some_and(|e| e.ends_with('Z')));
    let clicks = until_sent(CLICK, 1).await;
    let body = clicks.get(0);
    assert_eq!(s(&body, "tenantId").as_deref(), Some("t1"));
    assert_eq!(s(&body, "aff").as_deref(), Some("alice"));
    assert_eq!(s(&body, "cid").as_deref(), Some(cid.as_str()));
    assert!(s(&body, "url")
        .unwrap()
        .ends_with("/landing?aff=alice&utm=x"));
    assert!(clicktrail::uuid::is_uuid(&s(&body, "eventId").unwrap()));
    // transport: text/plain, keepalive, no credentials, absolute endpoint without double slash
    let rec = sent_records().get(0);
    assert_eq!(
        s(&rec, "url").as_deref(),
        Some("https://collector.test/tracking/click/v1")
    );
    let init = get(&rec, "init");
    assert_eq!(s(&init, "method").as_deref(), Some("POST"));
    assert_eq!(get(&init, "keepalive").as_bool(), Some(true));
    // the default credentials ("same-origin"): no cookies to another site, and a
    // first-party collector's Set-Cookie is stored (docs/wire.md)
    assert_eq!(get(&init, "credentials"), JsValue::UNDEFINED);
    assert_eq!(
        s(&get(&init, "headers"), "Content-Type").as_deref(),
        Some("text/plain;charset=UTF-8")
    );
    pause(50).await;
    assert_eq!(calls(&cb).length(), 1, "callback fires once");
    assert_eq!(
        cookie_cid("t1").as_deref(),
        Some(cid.as_str()),
        "collector kept the CID"
    );
    // the mirror
    let m = parse(&ls_get("clicktrail").unwrap());
    assert_eq!(s(&m, "cid").as_deref(), Some(cid.as_str()));
    assert_eq!(s(&m, "aff").as_deref(), Some("alice"));
    // getCid
    let f = global("trackdesk");
    let get_cid: js_sys::Function = get(&f, "getCid").into();
    assert_eq!(
        get_cid.call0(&JsValue::NULL).unwrap().as_string(),
        Some(cid)
    );
    no_page_errors();
}

#[wasm_bindgen_test]
async fn second_param_name_and_callback_as_third_argument() {
    setup("/?ref=bob");
    let cb = recorder();
    td(&[t("t1"), t("click"), cb.clone().into()]);
    assert_eq!(calls(&cb).length(), 1);
    let clicks = until_sent(CLICK, 1).await;
    assert_eq!(s(&clicks.get(0), "aff").as_deref(), Some("bob"));
}

#[wasm_bindgen_test]
async fn no_callback_without_attribution_and_ready_always_fires() {
    setup("/plain");
    let cb = recorder();
    td(&[t("t1"), t("click"), obj("{}"), cb.clone().into()]);
    let r1 = recorder();
    let r2 = recorder();
    td(&[t("t1"), t("ready"), r1.clone().into()]);
    td(&[t("t1"), t("ready"), obj("{}"), r2.clone().into()]);
    pause(30).await;
    assert_eq!(calls(&cb).length(), 0);
    assert_eq!(sent(CLICK).length(), 0);
    assert_eq!(cookie_value("trakdesk_cid"), None);
    assert_eq!(calls(&r1).length(), 1);
    assert!(get(&calls(&r1).get(0), "cid").is_null());
    assert_eq!(calls(&r2).length(), 1);
    let get_cid: js_sys::Function = get(&global("trackdesk"), "getCid").into();
    assert!(get_cid.call0(&JsValue::NULL).unwrap().is_null());
}

#[wasm_bindgen_test]
async fn returning_visitor_same_affiliate_and_reload_counted_once() {
    let cid = referred("t1", "/?aff=alice").await;
    // same page again (a reload in the same tab): no second click, callback with the CID
    clicktrail::reset_for_tests();
    let cb = recorder();
    td(&[t("t1"), t("click"), cb.clone().into()]);
    pause(50).await;
    assert_eq!(
        sent(CLICK).length(),
        1,
        "a reload of the landing URL counts once"
    );
    assert_eq!(s(&calls(&cb).get(0), "cid").as_deref(), Some(cid.as_str()));
    // a new landing URL, same affiliate: a repeat click on the same CID
    clicktrail::reset_for_tests();
    set_url("/other?aff=alice");
    let cb = recorder();
    td(&[t("t1"), t("click"), cb.clone().into()]);
    assert_eq!(calls(&cb).length(), 1, "same affiliate: callback at once");
    let clicks = until_sent(CLICK, 2).await;
    assert_eq!(s(&clicks.get(1), "cid").as_deref(), Some(cid.as_str()));
    pause(30).await;
    assert_eq!(cookie_cid("t1"), Some(cid));
    // ready reports it
    let r = recorder();
    td(&[t("t1"), t("ready"), r.clone().into()]);
    assert!(s(&calls(&r).get(0), "cid").is_some());
}

#[wasm_bindgen_test]
async fn last_click_replaces_only_after_the_collector_accepts() {
    let a = referred("t1", "/?aff=alice").await;
    clicktrail::reset_for_tests();
    set_url("/?aff=bob");
    let cb = recorder();
    td(&[t("t1"), t("click"), cb.clone().into()]);
    assert_eq!(calls(&cb).length(), 0, "waits for the collector");
    let clicks = until_sent(CLICK, 2).await;
    assert_eq!(
        s(&clicks.get(1), "cid").as_deref(),
        Some(a.as_str()),
        "proposes the cookie's CID"
    );
    pause(50).await;
    let b = cookie_cid("t1").unwrap();
    assert_ne!(a, b, "bob's click won");
    assert_eq!(calls(&cb).length(), 1);
    assert_eq!(s(&calls(&cb).get(0), "cid"), Some(b.clone()));
    // a bogus code never destroys a real attribution
    clicktrail::reset_for_tests();
    set_url("/?aff=bogus");
    let cb = recorder();
    td(&[t("t1"), t("click"), cb.clone().into()]);
    until_sent(CLICK, 3).await;
    pause(50).await;
    assert_eq!(cookie_cid("t1"), Some(b.clone()));
    assert_eq!(s(&calls(&cb).get(0), "cid"), Some(b));
}

#[wasm_bindgen_test]
async fn unknown_affiliate_on_a_fresh_visit_removes_the_cookie() {
    setup("/?aff=bogus");
    let cb = recorder();
    td(&[t("t1"), t("click"), cb.clone().into()]);
    assert!(cookie_cid("t1").is_some());
    assert_eq!(calls(&cb).length(), 1);
    until_sent(CLICK, 1).await;
    pause(50).await;
    assert_eq!(
        cookie_value("trakdesk_cid"),
        None,
        "404 unknown_affiliate removes it"
    );
    assert_eq!(ls_get("clicktrail"), None);
    assert_eq!(ls_get("clicktrail_outbox"), None, "a 404 is not retried");
}

#[wasm_bindgen_test]
async fn two_clicks_in_the_outbox_the_later_one_wins_whatever_the_delivery_order() {
    // collector down: alice's fresh click and then bob's wait in the outbox
    setup("/?aff=alice");
    set_mode(JsValue::from(503));
    td(&[t("t1"), t("click")]);
    let x = cookie_cid("t1").unwrap();
    until_sent(CLICK, 1).await;
    pause(20).await;
    push_url("/?aff=bob");
    until_sent(CLICK, 2).await;
    pause(20).await;
    // bob's (later) click is delivered first: the collector gives bob the proposed CID
    eval_js("window.__mode = (rec) => rec.body && rec.body.aff === 'alice' ? 503 : null");
    fire("pagehide");
    until_sent(CLICK, 4).await;
    pause(50).await;
    assert_eq!(owner(&x).as_deref(), Some("bob"));
    assert_eq!(cookie_cid("t1"), Some(x.clone()));
    // then alice's (older) click: the collector answers with a new CID for alice, which
    // must not replace bob's
    set_mode(JsValue::NULL);
    fire("pagehide");
    until_sent(CLICK, 5).await;
    pause(50).await;
    assert_eq!(ls_get("clicktrail_outbox"), None, "both delivered");
    assert_eq!(
        cookie_cid("t1"),
        Some(x.clone()),
        "the later click (bob) wins"
    );
    assert_eq!(owner(&x).as_deref(), Some("bob"));
    let m = parse(&ls_get("clicktrail").unwrap());
    assert_eq!(s(&m, "aff").as_deref(), Some("bob"));
    no_page_errors();
}

#[wasm_bindgen_test]
async fn a_lead_waits_for_the_click_in_flight() {
    // the collector answers the click slowly: a lead sent meanwhile would reach it before
    // the click is recorded (404 unknown_cid), so it leaves once the click settled
    setup("/?aff=alice");
    eval_js(
        "window.__mode = (rec) => rec.url.indexOf('/click/') > 0 ? \
         new Promise((r) => setTimeout(() => r(window.__collector(rec)), 150)) : null",
    );
    td(&[t("t1"), t("click")]);
    let cid = cookie_cid("t1").unwrap();
    td(&[t("t1"), t("signup"), obj(r#"{"customerKey":"k1"}"#)]);
    pause(60).await;
    assert_eq!(sent(LEAD).length(), 0, "held while the click is in flight");
    let leads = until_sent(LEAD, 1).await;
    assert_eq!(s(&leads.get(0), "cid"), Some(cid));
    let order: alloc::vec::Vec<String> = sent_records()
        .iter()
        .map(|r| s(&r, "url").unwrap_or_default())
        .collect();
    assert!(order[0].ends_with(CLICK) && order[1].ends_with(LEAD));
    pause(30).await;
    assert_eq!(ls_get("clicktrail_outbox"), None, "both acknowledged");
    no_page_errors();
}

#[wasm_bindgen_test]
async fn lost_cookie_is_restored_from_the_mirror() {
    let cid = referred("t1", "/?aff=alice").await;
    clear_cookies();
    clicktrail::reset_for_tests();
    set_url("/next");
    let r = recorder();
    td(&[t("t1"), t("ready"), r.clone().into()]);
    assert_eq!(s(&calls(&r).get(0), "cid"), Some(cid.clone()));
    assert_eq!(cookie_cid("t1"), Some(cid));
}

#[wasm_bindgen_test]
async fn conversion_payloads() {
    let cid = referred("t1", "/?aff=alice").await;
    set_url("/thanks?utm_source=news%20letter");
    let cb = recorder();
    td(&[
        t("t1"),
        t("conversion"),
        obj(
            r#"{"conversionTypeCode":"sale","amount":{"value":"100.50"},"externalId":"o-1","customerId":"c-1","status":"pending","couponCodes":["A","B"],"customParams":{"advS1":"lit","advS2":{"queryParam":"utm_source"},"advS3":{"queryParam":"missing"},"advS9":"x"}}"#,
        ),
        cb.clone().into(),
    ]);
    let convs = until_sent(CONV, 1).await;
    let b = convs.get(0);
    assert_eq!(
        stringify(&b).unwrap(),
        alloc::format!(
            r#"{{"tenantId":"t1","eventId":"{}","cid":"{cid}","conversionTypeCode":"sale","amount":{{"value":"100.50"}},"externalId":"o-1","customerId":"c-1","status":"pending","couponCodes":["A","B"],"customParams":{{"advS1":"lit","advS2":"news letter"}}}}"#,
            s(&b, "eventId").unwrap()
        )
    );
    pause(30).await;
    assert_eq!(
        calls(&cb).length(),
        1,
        "callback gets the collector's answer"
    );
    assert!(s(&calls(&cb).get(0), "conversionId").is_some());
    // revenue share type by name, amount given as a number
    td(&[
        t("t1"),
        t("conversion"),
        obj(
            r#"{"conversionType":"Revenue share","amount":{"value":59.9},"externalId":1234,"couponCodes":[5,"B"]}"#,
        ),
    ]);
    let convs = until_sent(CONV, 2).await;
    let b = convs.get(1);
    assert_eq!(s(&b, "conversionType").as_deref(), Some("Revenue share"));
    assert_eq!(
        s(&b, "externalId").as_deref(),
        Some("1234"),
        "a number as text"
    );
    assert_eq!(
        stringify(&get(&b, "couponCodes")).as_deref(),
        Some(r#"["5","B"]"#)
    );
    assert_eq!(s(&get(&b, "amount"), "value").as_deref(), Some("59.90"));
    // external CID variant: no cookie needed
    clear_cookies();
    td(&[
        t("t1"),
        t("conversion"),
        obj(
            r#"{"conversionTypeCode":"sale","externalCid":"x@y.z","revenueOriginId":"ro-1","amount":{"value":"5"}}"#,
        ),
    ]);
    let convs = until_sent(CONV, 3).await;
    let b = convs.get(2);
    assert_eq!(s(&b, "externalCid").as_deref(), Some("x@y.z"));
    assert_eq!(s(&b, "revenueOriginId").as_deref(), Some("ro-1"));
    assert!(get(&b, "cid").is_undefined());
    // no CID, no external CID: nothing sent
    let before = sent(CONV).length();
    storage_clear();
    clear_cookies();
    td(&[
        t("t1"),
        t("conversion"),
        obj(r#"{"conversionTypeCode":"sale"}"#),
    ]);
    pause(30).await;
    assert_eq!(sent(CONV).length(), before);
    no_page_errors();
}

fn storage_clear() {
    ls_set("clicktrail", "");
}

#[wasm_bindgen_test]
async fn external_cid_command() {
    let cid = referred("t1", "/?aff=alice").await;
    td(&[
        t("t1"),
        t("externalCid"),
        obj(r#"{"externalCid":"cust@example.com","revenueOriginId":"ro-9"}"#),
    ]);
    let b = until_sent(EXT, 1).await.get(0);
    assert_eq!(s(&b, "cid"), Some(cid));
    assert_eq!(s(&b, "externalCid").as_deref(), Some("cust@example.com"));
    assert_eq!(s(&b, "revenueOriginId").as_deref(), Some("ro-9"));
    assert_eq!(s(&b, "tenantId").as_deref(), Some("t1"));
}

#[wasm_bindgen_test]
async fn signup_promise_resolves_and_rejects() {
    let cid = referred("t1", "/?aff=alice").await;
    let signup: js_sys::Function = get(&global("trackdesk"), "signup").into();
    let p = signup
        .call2(&JsValue::NULL, &t("user_123"), &t("user@example.com"))
        .unwrap();
    assert!(p.is_instance_of::<js_sys::Promise>());
    let r = wait(settled(&p)).await;
    assert_eq!(get(&r, "ok").as_bool(), Some(true));
    assert_eq!(get(&get(&r, "v"), "ok").as_bool(), Some(true));
    let b = sent(LEAD).get(0);
    assert_eq!(s(&b, "cid"), Some(cid));
    assert_eq!(s(&b, "customerKey").as_deref(), Some("user_123"));
    assert_eq!(s(&b, "email").as_deref(), Some("user@example.com"));
    // the collector rejects (422): a readable Error
    let p = signup
        .call2(&JsValue::NULL, &t("reject"), &t("x@y"))
        .unwrap();
    let r = wait(settled(&p)).await;
    assert_eq!(get(&r, "ok").as_bool(), Some(false));
    let e = get(&r, "v");
    assert!(e.is_instance_of::<js_sys::Error>());
    assert!(s(&e, "message").unwrap().contains("customerKey is wrong"));
    // collector down: rejects, the lead stays queued
    set_mode(JsValue::from(503));
    let p = signup
        .call2(&JsValue::NULL, &t("later"), &t("l@y"))
        .unwrap();
    let r = wait(settled(&p)).await;
    assert_eq!(get(&r, "ok").as_bool(), Some(false));
    assert!(ls_get("clicktrail_outbox").unwrap().contains("later"));
    set_mode(JsValue::NULL);
    // wrong types and no visitor CID: rejects, never throws
    clear_cookies();
    ls_set("clicktrail", "");
    let p = signup
        .call2(&JsValue::NULL, &JsValue::NULL, &obj("{}"))
        .unwrap();
    assert_eq!(get(&wait(settled(&p)).await, "ok").as_bool(), Some(false));
    let p = signup.call2(&JsValue::NULL, &t("k"), &t("e")).unwrap();
    assert_eq!(get(&wait(settled(&p)).await, "ok").as_bool(), Some(false));
    // the signup command form
    no_page_errors();
}

#[wasm_bindgen_test]
async fn tito_loaded_before_the_tracker() {
    referred("t1", "/?aff=alice").await;
    // a Tito-like widget already on the page
    let handlers = recorder();
    let tito =
        js_sys::Function::new_with_args("ev, fn", "window.__titoHandlers.calls.push([ev, fn]);");
    set_global("__titoHandlers", &handlers);
    set_global("tito", &tito);
    td(&[t("t1"), t("tito"), obj(r#"{"revenueOriginId":"ro-tito"}"#)]);
    let reg = calls(&handlers).get(0);
    assert_eq!(
        Array::from(&reg).get(0).as_string().as_deref(),
        Some("on:registration:finished")
    );
    let f: js_sys::Function = Array::from(&reg).get(1).into();
    f.call1(&JsValue::NULL, &obj(r#"{"email":"guest@example.com"}"#))
        .unwrap();
    let b = until_sent(EXT, 1).await.get(0);
    assert_eq!(s(&b, "externalCid").as_deref(), Some("guest@example.com"));
    assert_eq!(s(&b, "revenueOriginId").as_deref(), Some("ro-tito"));
    // a registration without email is skipped
    f.call1(&JsValue::NULL, &obj("{}")).unwrap();
    f.call1(&JsValue::NULL, &JsValue::NULL).unwrap();
    pause(30).await;
    assert_eq!(sent(EXT).length(), 1);
    set_global("tito", &JsValue::UNDEFINED);
}

#[wasm_bindgen_test]
async fn tito_loaded_after_the_tracker() {
    referred("t1", "/?aff=alice").await;
    set_global("tito", &JsValue::UNDEFINED);
    td(&[t("t1"), t("tito"), obj(r#"{"revenueOriginId":"ro-tito"}"#)]);
    // the tracker installed Tito's queue stub; Tito now loads and replays it
    let stub = global("tito");
    assert!(stub.is_function());
    let q = Array::from(&get(&stub, "q"));
    assert_eq!(q.length(), 1);
    let entry = Array::from(&q.get(0));
    assert_eq!(
        entry.get(0).as_string().as_deref(),
        Some("on:registration:finished")
    );
    let f: js_sys::Function = entry.get(1).into();
    f.call1(&JsValue::NULL, &obj(r#"{"email":"late@example.com"}"#))
        .unwrap();
    let b = until_sent(EXT, 1).await.get(0);
    assert_eq!(s(&b, "externalCid").as_deref(), Some("late@example.com"));
    set_global("tito", &JsValue::UNDEFINED);
}

#[wasm_bindgen_test]
async fn hostile_urls_are_ignored_or_escaped() {
    // markup is a valid code: sent JSON-escaped (the collector 404s it), never injected
    setup("/?aff=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E");
    td(&[t("t1"), t("click")]);
    let b = until_sent(CLICK, 1).await.get(0);
    assert_eq!(
        s(&b, "aff").as_deref(),
        Some("<img src=x onerror=alert(1)>")
    );
    pause(30).await;
    // too long, control characters, invalid percent-encoding: ignored
    let long = "x".repeat(10 * 1024);
    for url in [
        alloc::format!("/?aff={long}"),
        "/?aff=a%00b".into(),
        "/?aff=a%0Ab".into(),
        "/?aff=%E0%A4%A".into(),
        "/?aff=%ZZ".into(),
        "/?aff=%FF".into(),
    ] {
        setup(&url);
        let cb = recorder();
        td(&[t("t1"), t("click"), cb.clone().into()]);
        pause(10).await;
        assert_eq!(sent(CLICK).length(), 0, "{url:.40}");
        assert_eq!(calls(&cb).length(), 0);
        assert_eq!(cookie_value("trakdesk_cid"), None);
    }
    no_page_errors();
}

#[wasm_bindgen_test]
async fn malformed_and_foreign_cookies_are_replaced() {
    for bad in [
        "trakdesk_cid=garbage{",
        "trakdesk_cid={\"tenantId\":\"other\",\"cid\":\"0f8fad5b-d9cb-469f-a165-70867728950e\"}",
        "trakdesk_cid={\"tenantId\":\"t1\",\"cid\":\"not-a-uuid\"}",
        "trakdesk_cid={\"tenantId\":\"t1\"}",
    ] {
        setup("/?aff=alice");
        raw_cookie(&[bad, "; Path=/"].concat());
        let r = recorder();
        td(&[t("t1"), t("ready"), r.clone().into()]);
        assert!(get(&calls(&r).get(0), "cid").is_null(), "{bad}");
        td(&[t("t1"), t("click")]);
        let cid = cookie_cid("t1").expect("fresh cookie");
        let b = until_sent(CLICK, 1).await.get(0);
        assert_eq!(s(&b, "cid"), Some(cid));
    }
    no_page_errors();
}

#[wasm_bindgen_test]
async fn wrong_argument_types_and_throwing_callbacks_never_reach_the_page() {
    setup("/?aff=alice");
    let long = JsValue::from_str(&"v".repeat(10 * 1024));
    let weird = [
        vec![],
        vec![
            JsValue::from(1),
            JsValue::from(2),
            JsValue::from(3),
            JsValue::from(4),
        ],
        vec![t("t1")],
        vec![t("t1"), obj("{}")],
        vec![t("t1"), t("nope")],
        vec![t("<bad tenant>"), t("click")],
        vec![long.clone(), t("click")],
        vec![t("t1"), t("click"), t("notobj"), JsValue::from(5)],
        vec![t("t1"), t("conversion"), JsValue::NULL],
        vec![
            t("t1"),
            t("conversion"),
            obj(r#"{"amount":{"value":{}},"customParams":7,"couponCodes":{"a":1}}"#),
        ],
        vec![t("t1"), t("externalCid"), obj(r#"{"externalCid":5}"#)],
        vec![t("t1"), t("signup"), JsValue::from(true)],
        vec![t("t1"), t("tito"), JsValue::NULL],
        vec![t("t1"), t("consent"), t("yes")],
        vec![t("t1"), t("ready"), JsValue::from(1), JsValue::from(2)],
    ];
    for args in weird.iter() {
        td(args);
    }
    td(&[t("t1"), t("click"), obj("{}"), thrower().into()]);
    td(&[t("t1"), t("ready"), thrower().into()]);
    // 10 KB values are carried, not choked on
    let o = obj(r#"{"conversionTypeCode":"sale"}"#);
    js_sys::Reflect::set(&o, &t("externalId"), &long).unwrap();
    td(&[t("t1"), t("conversion"), o]);
    let convs = until_sent(CONV, 1).await;
    assert_eq!(
        s(&convs.get(0), "externalId").map(|x| x.len()),
        Some(10 * 1024)
    );
    // still working afterwards
    let r = recorder();
    td(&[t("t1"), t("ready"), r.clone().into()]);
    assert!(s(&calls(&r).get(0), "cid").is_some());
    pause(30).await;
    no_page_errors();
}

#[wasm_bindgen_test]
async fn outbox_stores_failed_sends_and_delivers_once() {
    setup("/?aff=alice");
    set_mode(JsValue::from(503));
    td(&[t("t1"), t("click")]);
    until_sent(CLICK, 1).await;
    pause(30).await;
    let stored = ls_get("clicktrail_outbox").expect("kept in the outbox");
    let ev = s(&sent(CLICK).get(0), "eventId").unwrap();
    assert!(stored.contains(&ev));
    // a network error keeps it too
    set_mode(t("network"));
    td(&[
        t("t1"),
        t("externalCid"),
        obj(r#"{"externalCid":"e","revenueOriginId":"r"}"#),
    ]);
    until_sent(EXT, 1).await;
    pause(30).await;
    assert_eq!(
        parse(&ls_get("clicktrail_outbox").unwrap())
            .dyn_into::<Array>()
            .unwrap()
            .length(),
        2
    );
    // pagehide: every pending event leaves at once with fetch keepalive, never sendBeacon
    let before = sent_records().length();
    let _ = web_sys_event("pagehide");
    let records = sent_records();
    assert_eq!(
        records.length(),
        before + 2,
        "both pending events fetched on pagehide"
    );
    for i in before..records.length() {
        let rec = records.get(i);
        assert!(s(&rec, "url")
            .unwrap()
            .starts_with("https://collector.test/tracking/"));
        assert_eq!(get(&get(&rec, "init"), "keepalive").as_bool(), Some(true));
        assert_eq!(s(&get(&rec, "init"), "method").as_deref(), Some("POST"));
    }
    assert_eq!(beacons().length(), 0, "no sendBeacon");
    // the collector comes back: the retry (4 s backoff after two failures) delivers each
    // event, same eventId
    pause(30).await;
    set_mode(JsValue::NULL);
    let ok = wait(wait_for(
        &js_sys::Function::new_no_args("return !localStorage.getItem('clicktrail_outbox')"),
        7000,
    ))
    .await;
    assert_eq!(ok.as_bool(), Some(true), "outbox drained");
    let clicks = sent(CLICK);
    assert_eq!(clicks.length(), 3);
    assert_eq!(s(&clicks.get(1), "eventId"), Some(ev.clone()));
    assert_eq!(s(&clicks.get(2), "eventId"), Some(ev));
    pause(2500).await;
    assert_eq!(sent(CLICK).length(), 3, "not sent again once acknowledged");
    assert_eq!(sent(EXT).length(), 3);
    // 4xx other than 429 are dropped
    set_mode(JsValue::from(422));
    td(&[
        t("t1"),
        t("conversion"),
        obj(r#"{"conversionTypeCode":"sale"}"#),
    ]);
    until_sent(CONV, 1).await;
    pause(30).await;
    assert_eq!(ls_get("clicktrail_outbox"), None);
    set_mode(JsValue::NULL);
    no_page_errors();
}

fn web_sys_event(name: &str) -> JsValue {
    let f = js_sys::Function::new_with_args("n", "window.dispatchEvent(new Event(n));");
    f.call1(&JsValue::NULL, &t(name))
        .unwrap_or(JsValue::UNDEFINED)
}

#[wasm_bindgen_test]
async fn spa_navigation_reruns_attribution() {
    setup("/app");
    td(&[t("t1"), t("click")]);
    pause(10).await;
    assert_eq!(sent(CLICK).length(), 0);
    push_url("/app/page?aff=carol");
    let b = until_sent(CLICK, 1).await.get(0);
    assert_eq!(s(&b, "aff").as_deref(), Some("carol"));
    assert!(cookie_cid("t1").is_some());
    // the same URL again (replaceState) is not a new click
    set_url("/app/page?aff=carol");
    pause(30).await;
    assert_eq!(sent(CLICK).length(), 1);
}

#[wasm_bindgen_test]
async fn popstate_reruns_attribution() {
    setup("/spa?aff=alice");
    td(&[t("t1"), t("click")]);
    until_sent(CLICK, 1).await;
    pause(30).await;
    let first = cookie_cid("t1").expect("cookie");
    // history entries the tracker's hooks do not see (History.prototype, not the wrapper),
    // then Back: only the browser's `popstate` tells the tracker that the URL changed
    js_sys::Function::new_no_args(
        "History.prototype.pushState.call(history, null, '', '/spa/offer?aff=bob');\
         History.prototype.pushState.call(history, null, '', '/spa/next');\
         history.back();",
    )
    .call0(&JsValue::NULL)
    .unwrap();
    let clicks = until_sent(CLICK, 2).await;
    assert_eq!(clicks.length(), 2, "popstate re-ran attribution");
    let b = clicks.get(1);
    assert_eq!(s(&b, "aff").as_deref(), Some("bob"));
    assert!(s(&b, "url").is_some_and(|u| u.ends_with("/spa/offer?aff=bob")));
    pause(30).await;
    let now = cookie_cid("t1").expect("cookie");
    assert_ne!(now, first, "last click: bob's CID replaced alice's");
    no_page_errors();
}

#[wasm_bindgen_test]
async fn rate_limited_429_goes_to_the_outbox_and_is_retried() {
    setup("/?aff=alice");
    set_mode(JsValue::from(429));
    let cb = recorder();
    td(&[t("t1"), t("click"), cb.clone().into()]);
    assert_eq!(calls(&cb).length(), 1, "a fresh visit calls back at once");
    until_sent(CLICK, 1).await;
    pause(30).await;
    let ev = s(&sent(CLICK).get(0), "eventId").unwrap();
    let stored = parse(&ls_get("clicktrail_outbox").expect("429 keeps it in the outbox"));
    let entry = Array::from(&stored).get(0);
    assert_eq!(s(&entry, "i"), Some(ev.clone()));
    assert_eq!(get(&entry, "n").as_f64(), Some(1.0), "one failed attempt");
    assert!(
        cookie_cid("t1").is_some(),
        "a 429 does not remove the cookie"
    );
    // retried after the 2 s backoff, with the same eventId, then removed
    set_mode(JsValue::NULL);
    let ok = wait(wait_for(
        &js_sys::Function::new_no_args("return !localStorage.getItem('clicktrail_outbox')"),
        6000,
    ))
    .await;
    assert_eq!(ok.as_bool(), Some(true), "outbox drained by the retry");
    let clicks = sent(CLICK);
    assert_eq!(clicks.length(), 2);
    assert_eq!(s(&clicks.get(1), "eventId"), Some(ev));
    no_page_errors();
}

#[wasm_bindgen_test]
async fn hidden_inputs_are_filled_including_later_ones() {
    let f = js_sys::Function::new_no_args(
        "document.body.insertAdjacentHTML('beforeend', '<form id=f1><input type=hidden name=trakdesk_cid><input data-trackdesk-cid></form>');",
    );
    f.call0(&JsValue::NULL).unwrap();
    let cid = referred("t1", "/?aff=alice").await;
    let read = js_sys::Function::new_no_args(
        "return [...document.querySelectorAll('#f1 input,#f2 input')].map(i => i.value).join(',')",
    );
    assert_eq!(
        read.call0(&JsValue::NULL).unwrap().as_string(),
        Some(alloc::format!("{cid},{cid}"))
    );
    js_sys::Function::new_no_args("document.body.insertAdjacentHTML('beforeend', '<form id=f2><input name=trakdesk_cid></form>');")
        .call0(&JsValue::NULL)
        .unwrap();
    pause(30).await;
    assert_eq!(
        read.call0(&JsValue::NULL).unwrap().as_string(),
        Some(alloc::format!("{cid},{cid},{cid}"))
    );
    js_sys::Function::new_no_args(
        "document.getElementById('f1').remove(); document.getElementById('f2').remove();",
    )
    .call0(&JsValue::NULL)
    .unwrap();
}

#[wasm_bindgen_test]
async fn bogus_code_after_a_fresh_click_on_the_same_page_keeps_the_cookie() {
    // a fresh click for alice, then (same page, SPA) a link with a bogus code:
    // the 404 unknown_affiliate must not remove alice's attribution
    let a = referred("t1", "/?aff=alice").await;
    push_url("/?aff=bogus");
    until_sent(CLICK, 2).await;
    pause(50).await;
    assert_eq!(cookie_cid("t1"), Some(a.clone()), "alice's cookie kept");
    assert!(ls_get("clicktrail").is_some_and(|m| m.contains(&a)));
}

#[wasm_bindgen_test]
async fn in_page_anchor_on_the_landing_page_is_not_another_click() {
    // a landing page's "#pricing" link (popstate) or a router adding a hash: same landing
    setup("/land?aff=alice");
    td(&[t("t1"), t("click")]);
    until_sent(CLICK, 1).await;
    js_sys::Function::new_no_args("location.hash = 'pricing';")
        .call0(&JsValue::NULL)
        .unwrap();
    pause(30).await;
    push_url("/land?aff=alice#faq");
    pause(30).await;
    assert_eq!(sent(CLICK).length(), 1, "one landing, one click");
    no_page_errors();
}

#[wasm_bindgen_test]
async fn a_conversion_with_an_unusable_amount_is_not_sent_without_it() {
    // a negative / non-finite / absurd / non-text amount must not become an amount-less
    // (zero revenue, full fixed commission) conversion: skipped like any wrong argument
    referred("t1", "/?aff=alice").await;
    for amount in [
        "{\"value\":-5}",
        "-5",
        "{\"value\":1e15}",
        "{\"value\":{}}",
        "{\"value\":true}",
    ] {
        let p = obj(&alloc::format!(
            "{{\"conversionTypeCode\":\"sale\",\"amount\":{amount}}}"
        ));
        td(&[t("t1"), t("conversion"), p]);
    }
    let nan = obj(r#"{"conversionTypeCode":"sale","amount":{}}"#);
    js_sys::Reflect::set(&get(&nan, "amount"), &t("value"), &JsValue::from(f64::NAN)).unwrap();
    td(&[t("t1"), t("conversion"), nan]);
    // still sent: no amount at all, and 0
    td(&[
        t("t1"),
        t("conversion"),
        obj(r#"{"conversionTypeCode":"sale"}"#),
    ]);
    td(&[
        t("t1"),
        t("conversion"),
        obj(r#"{"conversionTypeCode":"sale","amount":{"value":0}}"#),
    ]);
    pause(50).await;
    let convs = sent(CONV);
    assert_eq!(convs.length(), 2, "only the two usable conversions");
    assert_eq!(get(&convs.get(0), "amount"), JsValue::UNDEFINED);
    assert_eq!(
        s(&get(&convs.get(1), "amount"), "value").as_deref(),
        Some("0.00")
    );
    no_page_errors();
}
