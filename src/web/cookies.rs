//! `document.cookie`.

use super::{document, Error, Result};
use alloc::string::String;
use wasm_bindgen::JsCast;

fn html_document() -> Option<web_sys::HtmlDocument> {
    // `cookie` is an accessor of Document in every browser (HTMLDocument in the IDL)
    document().map(|d| d.unchecked_into())
}

pub fn all() -> String {
    html_document()
        .and_then(|d| d.cookie().ok())
        .unwrap_or_default()
}

/// Assigns one `name=value; attributes` string.
pub fn write(assignment: &str) -> Result<()> {
    html_document()
        .ok_or(Error::Missing("document"))?
        .set_cookie(assignment)?;
    Ok(())
}

/// The raw value of cookie `name`.
pub fn get(name: &str) -> Option<String> {
    crate::cookie::find(&all(), name).map(String::from)
}
