//! DOM: hidden CID inputs, Stripe link decoration, MutationObserver.

use super::ffi::Function;
use super::{document, js, Result};
use wasm_bindgen::JsValue;

fn each(selector: &str, mut f: impl FnMut(&JsValue)) {
    let Ok(list) = js::invoke(&document(), "querySelectorAll", &[&selector.into()]) else {
        return;
    };
    for i in 0..js::len(&list) {
        f(&js::get_i(&list, i));
    }
}

fn attr(el: &JsValue, name: &str) -> Option<String> {
    js::invoke(el, "getAttribute", &[&name.into()])
        .ok()?
        .as_string()
}

fn set_attr(el: &JsValue, name: &str, value: &str) {
    if attr(el, name).as_deref() != Some(value) {
        let _ = js::invoke(el, "setAttribute", &[&name.into(), &value.into()]);
    }
}

use alloc::string::String;

/// Fills `input[name="trakdesk_cid"]` and `[data-trackdesk-cid]` with the CID.
pub fn fill_cid(cid: &str) {
    each("input[name=\"trakdesk_cid\"],[data-trackdesk-cid]", |el| {
        if js::get(el, "tagName")
            .as_string()
            .is_some_and(|t| t.eq_ignore_ascii_case("input"))
        {
            if js::get(el, "value").as_string().as_deref() != Some(cid) {
                js::set(el, "value", &JsValue::from_str(cid));
            }
        } else {
            set_attr(el, "data-trackdesk-cid", cid);
        }
    });
}

/// Adds `client_reference_id` to Stripe Payment Links and the `client-reference-id`
/// attribute to Stripe pricing tables / buy buttons.
pub fn decorate_stripe(cid: &str) {
    each("a[href^=\"https://buy.stripe.com/\"]", |el| {
        if let Some(href) = attr(el, "href") {
            set_attr(
                el,
                "href",
                &crate::url::set_query_param(&href, "client_reference_id", cid),
            );
        }
    });
    each("stripe-pricing-table,stripe-buy-button", |el| {
        set_attr(el, "client-reference-id", cid)
    });
}

/// Takes `cid` out of everything [`fill_cid`] and [`decorate_stripe`] put it in (the CID
/// was removed: unknown affiliate, expired, replaced). Other values are left alone.
pub fn clear_cid(cid: &str, stripe: bool) {
    each("input[name=\"trakdesk_cid\"],[data-trackdesk-cid]", |el| {
        if js::get(el, "value").as_string().as_deref() == Some(cid) {
            js::set(el, "value", &JsValue::from_str(""));
        }
        if attr(el, "data-trackdesk-cid").as_deref() == Some(cid) {
            set_attr(el, "data-trackdesk-cid", "");
        }
    });
    if !stripe {
        return;
    }
    each("a[href^=\"https://buy.stripe.com/\"]", |el| {
        if let Some(href) = attr(el, "href") {
            let search = href.get(crate::url::find_ascii(&href, b'?').unwrap_or(href.len())..);
            if crate::url::query_param(search.unwrap_or(""), "client_reference_id")
                .flatten()
                .as_deref()
                == Some(cid)
            {
                set_attr(
                    el,
                    "href",
                    &crate::url::remove_query_param(&href, "client_reference_id"),
                );
            }
        }
    });
    each("stripe-pricing-table,stripe-buy-button", |el| {
        if attr(el, "client-reference-id").as_deref() == Some(cid) {
            let _ = js::invoke(el, "removeAttribute", &[&"client-reference-id".into()]);
        }
    });
}

/// Calls `f` whenever elements are added anywhere in the document.
pub fn observe(f: &Function) -> Result<()> {
    let root = js::get(&document(), "documentElement");
    let obs = js::construct("MutationObserver", &[f.as_ref()])?;
    let init = super::http::parse_json(r#"{"childList":true,"subtree":true}"#);
    js::invoke(&obs, "observe", &[&root, &init])?;
    Ok(())
}
