//! Recurly's API v3, the part the Recurly webhook needs: a JSON notification carries only ids
//! ("JSON payloads provide only metadata"), so the transaction it names, and the account the
//! transaction belongs to, are read back from Recurly with the tenant's private API key.
//!
//! Requests: `GET {base}/transactions/{id}`, `GET {base}/accounts/{id}` and, for a purchase
//! that names its invoice, `GET {base}/invoices/{id}/coupon_redemptions`, HTTP Basic with
//! the API key as user name and an empty password, `Accept: application/vnd.recurly.v2021-02-25+json`.
//! Each request is bounded (Recurly gives a webhook 5 seconds to answer). Any failure (not
//! reachable, timeout, a non-2xx answer, a body that is not the documented shape) is an
//! [`ApiError`], which the webhook answers with a 5xx so that Recurly delivers it again.

use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// Recurly's API host in the US region (EU sites: `https://v3.eu.recurly.com`).
pub const DEFAULT_BASE: &str = "https://v3.recurly.com";
/// The API version the collector reads (the shapes below are this version's).
pub const ACCEPT: &str = "application/vnd.recurly.v2021-02-25+json";
/// One request's bound: the requests (at most three) and the store must fit in Recurly's 5
/// seconds in the usual case; a slow API is a 502 and Recurly's retry.
const TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /transactions/{id}` (the fields read; others are ignored).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Transaction {
    pub id: Option<String>,
    pub uuid: Option<String>,
    /// On a refund: the id of the transaction it refunds.
    pub original_transaction_id: Option<String>,
    pub account: Option<AccountMini>,
    pub invoice: Option<InvoiceMini>,
    pub subscription_ids: Vec<String>,
    /// `authorization`, `capture`, `purchase`, `refund`, `verify`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub currency: Option<String>,
    /// Decimal, major units (`19.99`).
    pub amount: Option<Value>,
    /// `success`, `declined`, `void`, `pending`, ...
    pub status: Option<String>,
    pub success: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct AccountMini {
    pub id: Option<String>,
    pub code: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct InvoiceMini {
    pub id: Option<String>,
    pub number: Option<String>,
}

/// `GET /accounts/{id}` (the fields read).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Account {
    pub id: Option<String>,
    pub code: Option<String>,
    pub email: Option<String>,
    pub custom_fields: Vec<CustomField>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct CustomField {
    pub name: String,
    pub value: String,
}

impl Account {
    /// The value of the custom field `name`, if set.
    pub fn custom_field(&self, name: &str) -> Option<&str> {
        self.custom_fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.as_str())
    }
}

/// `GET /invoices/{id}/coupon_redemptions`: the coupons redeemed on an invoice (a list; the
/// first page, Recurly's default 20 per page, is read).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct CouponRedemptions {
    pub data: Vec<CouponRedemption>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct CouponRedemption {
    pub id: Option<String>,
    pub coupon: Option<CouponMini>,
}

/// The redeemed coupon: its `code` is the one the merchant chose (and the customer entered).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct CouponMini {
    pub id: Option<String>,
    pub code: Option<String>,
}

impl CouponRedemptions {
    /// The redeemed coupons' codes, in Recurly's order.
    pub fn codes(&self) -> Vec<String> {
        self.data
            .iter()
            .filter_map(|r| r.coupon.as_ref()?.code.as_deref())
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// Recurly's API could not answer what a notification names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError(pub String);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where and as whom to ask: a tenant's settings.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    pub base: &'a str,
    pub api_key: &'a str,
}

impl<'a> Site<'a> {
    /// `base` empty: [`DEFAULT_BASE`].
    pub fn new(base: &'a str, api_key: &'a str) -> Site<'a> {
        let base = if base.is_empty() { DEFAULT_BASE } else { base };
        Site { base, api_key }
    }

    pub async fn transaction(&self, id: &str) -> Result<Transaction, ApiError> {
        self.get(&format!("transactions/{}", path_segment(id)))
            .await
    }

    pub async fn account(&self, id: &str) -> Result<Account, ApiError> {
        self.get(&format!("accounts/{}", path_segment(id))).await
    }

    pub async fn invoice_coupon_redemptions(
        &self,
        invoice_id: &str,
    ) -> Result<CouponRedemptions, ApiError> {
        self.get(&format!(
            "invoices/{}/coupon_redemptions",
            path_segment(invoice_id)
        ))
        .await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let url = format!("{}/{path}", self.base.trim_end_matches('/'));
        let resp = client()?
            .get(&url)
            .basic_auth(self.api_key, Some(""))
            .header(reqwest::header::ACCEPT, ACCEPT)
            .send()
            .await
            .map_err(|e| ApiError(format!("GET {path}: Recurly's API not reachable: {e}")))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| ApiError(format!("GET {path}: reading the answer: {e}")))?;
        if !status.is_success() {
            return Err(ApiError(format!(
                "GET {path}: Recurly answered {status}{}",
                error_message(&body)
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            )));
        }
        serde_json::from_slice(&body)
            .map_err(|e| ApiError(format!("GET {path}: not the documented shape: {e}")))
    }
}

/// An id as one path segment (Recurly ids are `[a-z0-9]`; `uuid-...` and `code-...` too):
/// anything else is percent-encoded, so an id can never change the path.
fn path_segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2D", "-")
}

/// `{"error":{"type":"not_found","message":"..."}}`: the message.
fn error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error")?;
    let kind = e.get("type").and_then(Value::as_str).unwrap_or("error");
    let msg = e.get("message").and_then(Value::as_str).unwrap_or_default();
    Some(format!("{kind} {msg}").trim().chars().take(300).collect())
}

/// One client for every request (its connection pool is shared). Redirects are not followed,
/// so the API key is only ever sent to the configured host.
fn client() -> Result<&'static reqwest::Client, ApiError> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .timeout(TIMEOUT)
                .connect_timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("clicktrail-collector/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| ApiError(format!("no HTTP client: {e}")))
}

/// A tenant's Recurly settings, checked when the configuration is read: the webhook key needs
/// the API key (a notification alone cannot be recorded); the base URL is http(s).
pub fn check_settings(webhook_key: &str, api_key: &str, api_url: &str) -> Result<(), String> {
    if !webhook_key.is_empty() && api_key.trim().is_empty() {
        return Err("recurly_webhook_key needs recurly_api_key (Recurly's notifications carry only ids; the payment is read from Recurly's API)".into());
    }
    let url = api_url.trim();
    if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!(
            "recurly_api_url `{url}` must start with https:// (e.g. https://v3.eu.recurly.com)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_one_path_segment() {
        assert_eq!(path_segment("a1b2c3"), "a1b2c3");
        assert_eq!(path_segment("uuid-63b0"), "uuid-63b0");
        assert_eq!(path_segment("../x?y"), "%2E%2E%2Fx%3Fy");
    }

    #[test]
    fn errors_read_recurly_error_bodies() {
        let b =
            br#"{"error":{"type":"not_found","message":"Couldn't find Transaction","params":[]}}"#;
        assert_eq!(
            error_message(b).as_deref(),
            Some("not_found Couldn't find Transaction")
        );
        assert_eq!(error_message(b"<html>"), None);
    }

    #[test]
    fn settings() {
        assert!(check_settings("", "", "").is_ok());
        assert!(check_settings("k", "", "").is_err());
        assert!(check_settings("k", "key", "https://v3.eu.recurly.com").is_ok());
        assert!(check_settings("k", "key", "v3.eu.recurly.com").is_err());
    }
}
