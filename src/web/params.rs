//! The one place where values the page hands over (the loader's config object, command
//! params, Tito's registration data) are read, into plain Rust structs. Reads go through
//! `js_sys::Reflect` ([`js::get`]): a getter that throws or a revoked Proxy reads as absent.

use super::js;
use crate::attribution::Model;
use crate::cmd::{self, Conversion};
use crate::{cookie, url};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use wasm_bindgen::JsValue;

/// The tracker's options, from the loader's `data-*` attributes.
pub struct Config {
    pub endpoint: String,
    pub params: Vec<String>,
    pub cookie_domain: Option<String>,
    pub model: Model,
    pub affitor: Option<String>,
    /// PartnerStack mode (`tracking.js?partnerstack=T` / `data-partnerstack`): the tenant.
    pub partnerstack: Option<String>,
    pub consent_required: bool,
    pub stripe: bool,
    pub debug: bool,
}

/// Every value validated; anything unusable is the default.
pub fn config(c: &JsValue) -> Config {
    let endpoint = js::get(c, "endpoint")
        .as_string()
        .map(|s| url::trim(s.trim_ascii(), b'/', false, true).to_string())
        .unwrap_or_default();
    let mut params = Vec::new();
    let p = js::get(c, "params");
    let mut push = |s: &str| url::push_param_name(&mut params, s);
    if js::is_array(&p) {
        for i in 0..js::len(&p) {
            if let Some(s) = js::get_i(&p, i).as_string() {
                push(&s);
            }
        }
    } else if let Some(s) = p.as_string() {
        url::split_ascii(&s, b',').for_each(&mut push);
    }
    if params.is_empty() {
        params.push("aff".into());
    }
    let string = |k: &str| js::get(c, k).as_string();
    let debug = js::get(c, "debug");
    Config {
        endpoint,
        params,
        cookie_domain: string("cookieDomain").and_then(|d| cookie::configured_domain(&d)),
        model: Model::parse(string("attribution").as_deref()),
        affitor: string("affitorProgramId").filter(|t| cookie::valid_tenant(t)),
        partnerstack: string("partnerstack").filter(|t| cookie::valid_tenant(t)),
        consent_required: string("consent").as_deref() == Some("required"),
        stripe: string("stripe").as_deref() == Some("links"),
        debug: debug.as_bool() == Some(true) || debug.as_string().as_deref() == Some("true"),
    }
}

/// `conversion` params; `Err` names why the call is skipped. `search`: the page's
/// query string (for `customParams` `{queryParam: "name"}`).
pub fn conversion(p: &JsValue, search: &str) -> Result<Conversion, &'static str> {
    let mut c = Conversion {
        type_code: js::get_text(p, "conversionTypeCode"),
        type_name: js::get_text(p, "conversionType"),
        external_id: js::get_text(p, "externalId"),
        customer_id: js::get_text(p, "customerId"),
        status: js::get_text(p, "status"),
        revenue_origin_id: js::get_text(p, "revenueOriginId"),
        external_cid: js::get_text(p, "externalCid"),
        ..Default::default()
    };
    let amount = js::get(p, "amount");
    let value = if amount.is_object() {
        js::get(&amount, "value")
    } else {
        amount
    };
    c.amount = match value.as_f64() {
        // a number is sent as a 2-decimal string (the collector rejects JSON numbers)
        Some(n) => cmd::amount_from_number(n),
        _ => value.as_string(),
    };
    if c.amount.is_none() && !value.is_undefined() && !value.is_null() {
        // not an amount-less (zero revenue) conversion: a wrong argument, ignored
        return Err("bad amount");
    }
    let coupons = js::get(p, "couponCodes");
    if js::is_array(&coupons) {
        for i in 0..js::len(&coupons).min(50) {
            if let Some(s) = js::text(&js::get_i(&coupons, i)).filter(|s| !s.is_empty()) {
                c.coupons.push(s);
            }
        }
    } else if let Some(s) = js::get_text(p, "couponCodes") {
        c.coupons.push(s);
    }
    let custom = js::get(p, "customParams");
    for k in ["advS1", "advS2", "advS3", "advS4", "advS5"] {
        let v = js::get(&custom, k);
        let resolved = match js::get(&v, "queryParam").as_string() {
            Some(name) => url::query_param(search, &name).flatten(),
            None => js::text(&v),
        };
        if let Some(r) = resolved.filter(|r| !r.is_empty()) {
            c.custom.push((k.to_string(), r));
        }
    }
    Ok(c)
}

/// `signup` params.
pub struct Lead {
    pub customer_key: Option<String>,
    pub email: Option<String>,
}

pub fn lead(p: &JsValue) -> Lead {
    Lead {
        customer_key: js::get_text(p, "customerKey"),
        email: js::get_text(p, "email"),
    }
}

/// `externalCid` params: (`externalCid`, `revenueOriginId`), both required.
pub fn external_cid(p: &JsValue) -> Option<(String, String)> {
    Some((
        js::get_text(p, "externalCid")?,
        js::get_text(p, "revenueOriginId")?,
    ))
}

/// `consent` params: `{granted: true}` exactly.
pub fn consent_granted(p: &JsValue) -> bool {
    js::get(p, "granted").as_bool() == Some(true)
}

/// The `tito` command's values (builds with the `tito` feature).
#[cfg(feature = "tito")]
pub mod tito {
    use super::js;
    use alloc::string::String;
    use wasm_bindgen::JsValue;

    /// `tito` params: `revenueOriginId`.
    pub fn revenue_origin(p: &JsValue) -> Option<String> {
        js::get_text(p, "revenueOriginId")
    }

    /// Tito's `registration:finished` data: `email`.
    pub fn email(data: &JsValue) -> Option<String> {
        js::get_text(data, "email")
    }
}
