//! Outgoing webhooks: which events exist, the endpoint URL rule, the event body, the
//! `Clicktrail-Signature` header (sign and verify, the one implementation), the retry schedule
//! and when an endpoint that keeps failing is disabled.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

/// The kinds of events an endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A lead was recorded (`leads` table).
    Lead,
    /// A sale was recorded (a conversion of kind `sale`).
    Sale,
    /// A commission was reversed (refund, dispute, chargeback: a ledger reversal).
    Refund,
    /// A payout was recorded.
    Payout,
    /// An application was approved and its affiliate created.
    AffiliateApproved,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::Lead,
        EventKind::Sale,
        EventKind::Refund,
        EventKind::Payout,
        EventKind::AffiliateApproved,
    ];

    /// The name in the API, the body's `type` and the event id.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Lead => "lead",
            EventKind::Sale => "sale",
            EventKind::Refund => "refund",
            EventKind::Payout => "payout",
            EventKind::AffiliateApproved => "affiliate.approved",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The stable event id of the fact `row_id` of this kind: `evt_<kind>_<row id>`.
    pub fn event_id(self, row_id: i64) -> String {
        let k = match self {
            EventKind::AffiliateApproved => "affiliate_approved",
            k => k.as_str(),
        };
        format!("evt_{k}_{row_id}")
    }
}

/// Checks a subscription list: known kinds, at least one, no repeat; returned in the
/// canonical order of [`EventKind::ALL`].
pub fn parse_events(list: &[String]) -> Result<Vec<EventKind>, String> {
    if list.is_empty() {
        return Err("events: name at least one event kind".into());
    }
    let mut out = Vec::new();
    for s in list {
        let k = EventKind::parse(s).ok_or_else(|| {
            format!(
                "events: `{s}` is not one of {}",
                EventKind::ALL.map(EventKind::as_str).join(", ")
            )
        })?;
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out.sort_by_key(|k| EventKind::ALL.iter().position(|a| a == k));
    Ok(out)
}

/// An endpoint URL: `https://` anywhere, or `http://` only to the collector's own host
/// (`localhost`, `127.0.0.1`, `[::1]`: receivers on the same machine, tests). No credentials
/// in the URL, at most 2048 characters.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.len() > 2048 {
        return Err("url: at most 2048 characters".into());
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("url: must start with https://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err("url: has no host".into());
    }
    if authority.contains('@') {
        return Err("url: must not hold credentials".into());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("url: must not contain spaces".into());
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    match scheme {
        "https" => Ok(()),
        "http" if matches!(host, "localhost" | "127.0.0.1" | "::1") => Ok(()),
        "http" => Err("url: http:// is accepted only to localhost; use https://".into()),
        _ => Err("url: must start with https://".into()),
    }
}

/// What a fact says, as read from the store; the body is built from it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fact {
    /// The row id (ledger entry, lead, conversion, payout, affiliate sequence).
    pub id: i64,
    pub tenant: String,
    pub affiliate: Option<String>,
    /// The sale's or the payout's amount.
    pub amount_cents: Option<i64>,
    /// The commission earned (sale) or reversed (refund, negative).
    pub commission_cents: Option<i64>,
    pub currency: Option<String>,
    /// The sale's or reversed sale's conversion id, the lead's customer key, the payout's
    /// channel, the approved affiliate's name.
    pub reference: Option<String>,
    pub created_at: i64,
}

#[derive(Serialize)]
struct Body<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    tenant: &'a str,
    created: i64,
    data: Data<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Data<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    affiliate: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_cents: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commission_cents: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    currency: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversion_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    through: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// The event's JSON body (documented in docs/webhooks.md).
pub fn event_body(kind: EventKind, f: &Fact) -> String {
    let r = f.reference.as_deref();
    let pick = |k: EventKind| if kind == k { r } else { None };
    let body = Body {
        id: kind.event_id(f.id),
        kind: kind.as_str(),
        tenant: &f.tenant,
        created: f.created_at,
        data: Data {
            affiliate: f.affiliate.as_deref(),
            amount_cents: f.amount_cents,
            commission_cents: f.commission_cents,
            currency: f.currency.as_deref(),
            conversion_id: if matches!(kind, EventKind::Sale | EventKind::Refund) {
                r
            } else {
                None
            },
            customer_key: pick(EventKind::Lead),
            through: pick(EventKind::Payout),
            name: pick(EventKind::AffiliateApproved),
        },
    };
    serde_json::to_string(&body).unwrap_or_default()
}

// ---------------------------------------------------------------- signature

/// The header a delivery carries.
pub const SIGNATURE_HEADER: &str = "Clicktrail-Signature";
/// A receiver should refuse a signature older than this (replays).
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length: this cannot fail
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", v1(secret, t, body))
}

/// The `v1` part: hex HMAC-SHA256 over `"{t}.{body}"` — Stripe's scheme, which the Stripe
/// and Recurly webhooks check with this same function.
pub fn v1(secret: &str, t: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, t, body).finalize().into_bytes())
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    Malformed,
    TooOld,
    Mismatch,
}

/// Verifies a header against the body as received (constant-time comparison); any one `v1`
/// may match (several appear while a secret is being rotated).
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - t).abs() > tolerance_secs {
        return Err(SignatureError::TooOld);
    }
    if sigs
        .iter()
        .any(|s| mac(secret, t, body).verify_slice(s).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

// ---------------------------------------------------------------- retries

/// First retry after a failed delivery.
pub const FIRST_RETRY_SECS: i64 = 60;
/// The longest wait between two attempts.
pub const MAX_RETRY_SECS: i64 = 6 * 3600;
/// An endpoint whose deliveries have all failed for this long is disabled.
pub const DISABLE_AFTER_SECS: i64 = 3 * 86_400;

/// When a delivery that failed `attempts` times (1 = once) is tried again: 1 min, 2, 4, ...
/// doubling up to 6 h, then every 6 h. The first day holds 12 attempts; nothing is given up
/// while the endpoint is enabled.
pub fn next_retry(now: i64, attempts: i64) -> i64 {
    let shift = attempts.clamp(1, 30) - 1;
    let wait = FIRST_RETRY_SECS
        .checked_shl(shift as u32)
        .unwrap_or(MAX_RETRY_SECS)
        .min(MAX_RETRY_SECS);
    now.saturating_add(wait)
}

/// Whether an endpoint failing since `failing_since` (its first failure with no success
/// since) is disabled at `now`.
pub fn should_disable(failing_since: Option<i64>, now: i64) -> bool {
    failing_since.is_some_and(|s| now.saturating_sub(s) >= DISABLE_AFTER_SECS)
}

/// Whether an HTTP status acknowledges a delivery (any 2xx).
pub fn acknowledged(status: u16) -> bool {
    (200..300).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trip_and_refusals() {
        let body = br#"{"id":"evt_sale_1"}"#;
        let h = sign("whsec_abc", 1000, body);
        assert!(h.starts_with("t=1000,v1="));
        assert_eq!(verify("whsec_abc", &h, body, 1100, 300), Ok(()));
        assert_eq!(
            verify("whsec_other", &h, body, 1100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec_abc", &h, b"{}", 1100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec_abc", &h, body, 1400, 300),
            Err(SignatureError::TooOld)
        );
        assert_eq!(
            verify("whsec_abc", "v1=00", body, 1000, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify("whsec_abc", "t=1000,v1=zz", body, 1000, 300),
            Err(SignatureError::Malformed)
        );
        // a second v1 (secret rotation) is accepted when one matches
        let two = format!("t=1000,v1=00ff,{}", &h[7..]);
        assert_eq!(verify("whsec_abc", &two, body, 1000, 300), Ok(()));
    }

    #[test]
    fn signature_matches_an_independent_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"; here the
        // signed string is "<t>.<body>", so t and body are chosen to spell that data.
        let h = sign("Jefe", 0, b"what do ya want for nothing?");
        // HMAC-SHA256("Jefe", "0.what do ya want for nothing?") computed with openssl:
        // printf '0.what do ya want for nothing?' | openssl dgst -sha256 -hmac Jefe
        let expected = "t=0,v1=".to_string() + OPENSSL_JEFE;
        assert_eq!(h, expected);
    }
    const OPENSSL_JEFE: &str = include_str!("../tests/fixtures/webhook_jefe.hex");

    #[test]
    fn retries_double_then_cap_and_span_more_than_a_day() {
        assert_eq!(next_retry(0, 1), 60);
        assert_eq!(next_retry(0, 2), 120);
        assert_eq!(next_retry(0, 3), 240);
        assert_eq!(next_retry(0, 9), 60 * 256);
        assert_eq!(next_retry(0, 10), MAX_RETRY_SECS);
        assert_eq!(next_retry(0, 1000), MAX_RETRY_SECS);
        assert_eq!(next_retry(i64::MAX, 5), i64::MAX);
        // the schedule keeps trying past a day: the sum of the waits of attempts 1..=n
        let mut t = 0;
        let mut n = 0;
        while t < 86_400 {
            n += 1;
            t = next_retry(t, n);
        }
        assert!((10..=14).contains(&n), "{n} attempts in the first day");
        // and reaches the disable limit after a bounded number of attempts
        while t < DISABLE_AFTER_SECS {
            n += 1;
            t = next_retry(t, n);
        }
        assert!(n < 30, "{n}");
    }

    #[test]
    fn disable_after_three_days_of_failures() {
        assert!(!should_disable(None, 10 * 86_400));
        assert!(!should_disable(Some(100), 100 + DISABLE_AFTER_SECS - 1));
        assert!(should_disable(Some(100), 100 + DISABLE_AFTER_SECS));
        assert!(acknowledged(200) && acknowledged(204) && !acknowledged(301));
        assert!(!acknowledged(503) && !acknowledged(404));
    }

    #[test]
    fn urls() {
        assert!(check_url("https://shop.example/hooks").is_ok());
        assert!(check_url("http://127.0.0.1:8080/h").is_ok());
        assert!(check_url("http://localhost/h").is_ok());
        assert!(check_url("http://[::1]:9/h").is_ok());
        for bad in [
            "http://shop.example/h",
            "http://127.0.0.1.evil.example/h",
            "ftp://x/y",
            "https://",
            "https://user:pw@shop.example/",
            "shop.example",
            "https://shop.example/a b",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn events_and_ids() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_events(&l(&["payout", "sale", "sale"])),
            Ok(vec![EventKind::Sale, EventKind::Payout])
        );
        assert!(parse_events(&[]).is_err());
        assert!(parse_events(&l(&["sales"]))
            .unwrap_err()
            .contains("`sales`"));
        assert_eq!(EventKind::Sale.event_id(7), "evt_sale_7");
        assert_eq!(
            EventKind::AffiliateApproved.event_id(3),
            "evt_affiliate_approved_3"
        );
        let f = Fact {
            id: 7,
            tenant: "demo".into(),
            affiliate: Some("anna".into()),
            amount_cents: Some(4999),
            commission_cents: Some(1000),
            currency: Some("EUR".into()),
            reference: Some("conv_1".into()),
            created_at: 1700000000,
        };
        let v: serde_json::Value = serde_json::from_str(&event_body(EventKind::Sale, &f)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": "evt_sale_7", "type": "sale", "tenant": "demo",
                "created": 1700000000, "data": {"affiliate": "anna", "amountCents": 4999,
                "commissionCents": 1000, "currency": "EUR", "conversionId": "conv_1"}})
        );
    }
}
