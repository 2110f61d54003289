//! `document.cookie`.

use super::{document, js, Result};
use alloc::string::String;
use wasm_bindgen::JsValue;

pub fn all() -> String {
    js::get(&document(), "cookie")
        .as_string()
        .unwrap_or_default()
}

/// Assigns one `name=value; attributes` string.
pub fn write(assignment: &str) -> Result<()> {
    super::ffi::reflect_set(
        &document(),
        &JsValue::from_str("cookie"),
        &JsValue::from_str(assignment),
    )?;
    Ok(())
}

/// The raw value of cookie `name`.
pub fn get(name: &str) -> Option<String> {
    crate::cookie::find(&all(), name).map(String::from)
}
