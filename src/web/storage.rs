//! localStorage / sessionStorage; unavailable storage (privacy modes, sandboxed
//! iframes, a throwing getter, quota) behaves as empty and writes report failure.

use super::{js, window};
use alloc::string::String;
use wasm_bindgen::JsValue;

#[derive(Clone, Copy)]
pub enum Area {
    Local,
    Session,
}

fn area(a: Area) -> JsValue {
    js::get(
        &window(),
        if let Area::Local = a {
            "localStorage"
        } else {
            "sessionStorage"
        },
    )
}

pub fn get(a: Area, key: &str) -> Option<String> {
    js::invoke(&area(a), "getItem", &[&key.into()])
        .ok()?
        .as_string()
}

pub fn set(a: Area, key: &str, value: &str) -> bool {
    js::invoke(&area(a), "setItem", &[&key.into(), &value.into()]).is_ok()
}

pub fn remove(a: Area, key: &str) {
    let _ = js::invoke(&area(a), "removeItem", &[&key.into()]);
}

/// Whether `a` can be written (probe with a test key).
pub fn available(a: Area) -> bool {
    let ok = set(a, "clicktrail_probe", "1");
    remove(a, "clicktrail_probe");
    ok
}
