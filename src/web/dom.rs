//! DOM: hidden CID inputs, Stripe link decoration, MutationObserver.

use super::{document, Error, Result};
use js_sys::Function;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlInputElement};

fn each(selector: &str, mut f: impl FnMut(&Element)) {
    let Some(list) = document().and_then(|d| d.query_selector_all(selector).ok()) else {
        return;
    };
    for i in 0..list.length() {
        if let Some(el) = list.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
            f(&el);
        }
    }
}

fn set_attr(el: &Element, name: &str, value: &str) {
    if el.get_attribute(name).as_deref() != Some(value) {
        let _ = el.set_attribute(name, value);
    }
}

const CID_FIELDS: &str = "input[name=\"trakdesk_cid\"],[data-trackdesk-cid]";
const STRIPE_LINKS: &str = "a[href^=\"https://buy.stripe.com/\"]";
const STRIPE_ELEMENTS: &str = "stripe-pricing-table,stripe-buy-button";

/// Fills `input[name="trakdesk_cid"]` and `[data-trackdesk-cid]` with the CID.
pub fn fill_cid(cid: &str) {
    each(CID_FIELDS, |el| match el.dyn_ref::<HtmlInputElement>() {
        Some(input) => {
            if input.value() != cid {
                input.set_value(cid);
            }
        }
        None => set_attr(el, "data-trackdesk-cid", cid),
    });
}

/// Adds `client_reference_id` to Stripe Payment Links and the `client-reference-id`
/// attribute to Stripe pricing tables / buy buttons.
pub fn decorate_stripe(cid: &str) {
    each(STRIPE_LINKS, |el| {
        if let Some(href) = el.get_attribute("href") {
            set_attr(
                el,
                "href",
                &crate::url::set_query_param(&href, "client_reference_id", cid),
            );
        }
    });
    each(STRIPE_ELEMENTS, |el| {
        set_attr(el, "client-reference-id", cid)
    });
}

/// Takes `cid` out of everything [`fill_cid`] and [`decorate_stripe`] put it in (the CID
/// was removed: unknown affiliate, expired, replaced). Other values are left alone.
pub fn clear_cid(cid: &str, stripe: bool) {
    each(CID_FIELDS, |el| {
        if let Some(input) = el.dyn_ref::<HtmlInputElement>() {
            if input.value() == cid {
                input.set_value("");
            }
        }
        if el.get_attribute("data-trackdesk-cid").as_deref() == Some(cid) {
            set_attr(el, "data-trackdesk-cid", "");
        }
    });
    if !stripe {
        return;
    }
    each(STRIPE_LINKS, |el| {
        if let Some(href) = el.get_attribute("href") {
            let search = href.get(crate::url::find_ascii(&href, b'?').unwrap_or(href.len())..);
            let carried =
                crate::url::query_param(search.unwrap_or(""), "client_reference_id").flatten();
            if carried.as_deref() == Some(cid) {
                set_attr(
                    el,
                    "href",
                    &crate::url::remove_query_param(&href, "client_reference_id"),
                );
            }
        }
    });
    each(STRIPE_ELEMENTS, |el| {
        if el.get_attribute("client-reference-id").as_deref() == Some(cid) {
            let _ = el.remove_attribute("client-reference-id");
        }
    });
}

/// Calls `f` whenever elements are added anywhere in the document.
pub fn observe(f: &Function) -> Result<()> {
    let root = document()
        .and_then(|d| d.document_element())
        .ok_or(Error::Missing("documentElement"))?;
    let obs = web_sys::MutationObserver::new(f)?;
    let init = web_sys::MutationObserverInit::new();
    init.set_child_list(true);
    init.set_subtree(true);
    obs.observe_with_options(&root, &init)?;
    Ok(())
}
