//! Reading a Stripe event's object, written once for the handlers that use it
//! ([`super::stripe`], [`super::stripe_money`], [`super::stripe_rules`]): the typed
//! `data.object` (422 naming the field's path), the ids kept, and the visitor named by a
//! session's `client_reference_id` or Affitor's metadata.

use serde::de::DeserializeOwned;
use serde_json::Value;

use clicktrail_domain::Cid;
use clicktrail_store::Target;

use super::stripe_types::{Event, Metadata, AFFITOR_CLICK_ID, AFFITOR_CUSTOMER_KEY};
use crate::http::error::AppError;
use crate::http::types::MAX_ID;

/// `data.object` as `T`; a wrong field is a 422 naming its path in the event.
pub(crate) fn object<T: DeserializeOwned>(event: &Event) -> Result<T, AppError> {
    let obj = event.data.as_ref().map_or(&Value::Null, |d| &d.object);
    serde_path_to_error::deserialize(obj).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "data.object".to_string()
        } else {
            format!("data.object.{path}")
        };
        AppError::invalid(&field, e.inner().to_string())
    })
}

/// An id we keep (at most 128 characters).
pub(crate) fn capped(v: Option<&str>) -> Option<String> {
    v.filter(|x| !x.is_empty() && x.chars().count() <= MAX_ID)
        .map(str::to_string)
}

/// Who the payment belongs to: `client_reference_id` (the CID), else Affitor's metadata
/// (`affitor_click_id`, `affitor_customer_key`); and the customer key, if any.
pub(crate) fn target_from_metadata(
    meta: Option<&Metadata>,
    client_reference_id: Option<&str>,
) -> (Target, Option<String>) {
    let get = |k: &str| meta.and_then(|m| m.get(k)).map(String::as_str);
    let key = capped(get(AFFITOR_CUSTOMER_KEY));
    let cid = client_reference_id
        .and_then(Cid::parse)
        .or_else(|| get(AFFITOR_CLICK_ID).and_then(Cid::parse));
    let target = match (&cid, &key) {
        (Some(c), _) => Target::Cid(c.clone()),
        (None, Some(k)) => Target::CustomerKey(k.clone()),
        (None, None) => Target::None,
    };
    (target, key)
}
