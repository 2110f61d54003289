//! First-party mode: when the tracker is served through the page's own origin
//! (`https://shop.example/_ct/`, reverse-proxied here), the click answer also sets the
//! attribution cookie with `Set-Cookie`. A cookie set by the server is not capped by Safari's
//! ITP the way a cookie written by script is.
//!
//! Only when the click asks for it (`"cookie": {...}` in the body) AND the request comes from the
//! page's own origin (its Origin's host is the request's Host): a cookie set in answer to a
//! cross-site request would be a third-party cookie, which is what this avoids.

use axum::http::{header, HeaderMap, HeaderValue};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;

use super::types::{nonempty, Bounded, MAX_DOMAIN};

/// `"cookie": {"domain": string|null, "secure": bool, "affitor": bool, "partnerstack": bool}` in
/// a click body: the attributes the tracker would have written itself.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CookieRequest {
    #[serde(default, deserialize_with = "nonempty")]
    pub domain: Option<Bounded<MAX_DOMAIN>>,
    #[serde(default)]
    pub secure: bool,
    /// Affitor mode: also `affitor_click_id`.
    #[serde(default)]
    pub affitor: bool,
    /// PartnerStack mode: also the cookies PartnerStackJS keeps ([`partnerstack_cookies`]),
    /// as the tracker writes them.
    #[serde(default)]
    pub partnerstack: bool,
}

/// The cookie names (Trackdesk's spelling, and Affitor's).
pub const TRAKDESK_COOKIE: &str = "trakdesk_cid";
pub const AFFITOR_COOKIE: &str = "affitor_click_id";

/// The `Set-Cookie` values for a click answer (none unless first-party, see the module doc).
/// `code`: the click's affiliate code as sent (a PartnerStack partner key may be an alias).
pub fn set_cookies(
    req: &CookieRequest,
    headers: &HeaderMap,
    tenant_id: &str,
    cid: &str,
    code: &str,
    max_age_secs: i64,
) -> Vec<HeaderValue> {
    let Some(origin_host) = same_origin_host(headers) else {
        return Vec::new();
    };
    let mut attrs = format!("; Path=/; Max-Age={max_age_secs}; SameSite=Lax");
    if req.secure {
        attrs.push_str("; Secure");
    }
    if let Some(d) = req
        .domain
        .as_deref()
        .and_then(|d| cookie_domain(d, &origin_host))
    {
        attrs.push_str("; Domain=");
        attrs.push_str(&d);
    }
    // raw JSON, not URL-encoded: merchant code does JSON.parse(cookie)
    let value = serde_json::json!({"tenantId": tenant_id, "cid": cid}).to_string();
    let mut out = vec![format!("{TRAKDESK_COOKIE}={value}{attrs}")];
    if req.affitor {
        out.push(format!("{AFFITOR_COOKIE}={cid}{attrs}"));
    }
    if req.partnerstack {
        for (name, v) in partnerstack_cookies(tenant_id, code, cid) {
            out.push(format!("{name}={v}{attrs}"));
        }
    }
    out.into_iter()
        .filter_map(|c| match HeaderValue::from_str(&c) {
            Ok(v) => Some(v),
            Err(_) => {
                tracing::warn!("first-party cookie not set: not a valid header value");
                None
            }
        })
        .collect()
}

/// The cookies PartnerStackJS keeps, with the names and values the tracker writes in
/// PartnerStack mode (docs/partnerstack.md, "Cookies"), as `(name, value)`: the partner key
/// `code` (percent-encoded where it is not URL-safe) in `growSumoPartnerKey`, `ps_partner_key`,
/// `_ps_partner_key_<P>` and `_grsmpk<P>`; the CID in `gsxid`, `ps_xid`, `_ps_xid_<P>_<C>` and
/// `_gsxid<P><C>`; `gspk`, Base64 of the key. `<P>` = [`tag`] of the tenant id (8), `<C>` =
/// [`tag`] of the CID (4): the names the tracker gave the same click's cookies, so these
/// replace them.
pub fn partnerstack_cookies(tenant_id: &str, code: &str, cid: &str) -> Vec<(String, String)> {
    let (p, c) = (tag(tenant_id, 8), tag(cid, 4));
    let key = utf8_percent_encode(code, NOT_UNRESERVED).to_string();
    vec![
        ("gspk".into(), STANDARD.encode(code)),
        ("gsxid".into(), cid.into()),
        ("growSumoPartnerKey".into(), key.clone()),
        ("ps_partner_key".into(), key.clone()),
        ("ps_xid".into(), cid.into()),
        (format!("_ps_partner_key_{p}"), key.clone()),
        (format!("_grsmpk{p}"), key),
        (format!("_ps_xid_{p}_{c}"), cid.into()),
        (format!("_gsxid{p}{c}"), cid.into()),
    ]
}

/// `n` (at most 10) letters and digits naming `s` in a cookie name, as the tracker computes
/// them: FNV-1a (64 bits) of the UTF-8 bytes, in base 62 (`0-9A-Za-z`), lowest digit first.
pub fn tag(s: &str, n: usize) -> String {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut h = s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (0..n.min(10))
        .map(|_| {
            let d = DIGITS[(h % 62) as usize] as char;
            h /= 62;
            d
        })
        .collect()
}

/// What `growSumoPartnerKey` keeps unencoded: `A-Z a-z 0-9 - _ . ~` (as the tracker's
/// `url::percent_encode`).
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The Origin's host when the Origin names the same host (and port) as the Host header.
fn same_origin_host(headers: &HeaderMap) -> Option<String> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let (scheme, authority) = origin.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    let (o_host, o_port) = split_authority(authority, default_port)?;
    let (h_host, h_port) = split_authority(host, default_port)?;
    (o_host == h_host && o_port == h_port).then_some(o_host)
}

/// `("shop.example", 443)` from `Shop.Example` or `shop.example:443` (IPv6 in brackets).
fn split_authority(a: &str, default_port: u16) -> Option<(String, u16)> {
    if a.is_empty() || a.contains(['/', '@', '?', '#']) {
        return None;
    }
    let (host, port) = match a.rfind(':') {
        Some(i) if !a[i..].contains(']') => {
            let port = a[i + 1..].parse().ok()?;
            (&a[..i], port)
        }
        _ => (a, default_port),
    };
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), port))
}

/// The `Domain` attribute to send: `domain` if it is the page's host or a parent domain of it
/// (never a bare top-level name, never for an IP address, only DNS characters).
fn cookie_domain(domain: &str, origin_host: &str) -> Option<String> {
    let d = domain.trim_start_matches('.').to_ascii_lowercase();
    let dns = !d.is_empty()
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let ip = origin_host.starts_with('[') || origin_host.parse::<std::net::IpAddr>().is_ok();
    if !dns || ip {
        return None;
    }
    let parent = d.contains('.') && origin_host.ends_with(&format!(".{d}"));
    (d == origin_host || parent).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    fn req(domain: Option<&str>, secure: bool, affitor: bool) -> CookieRequest {
        CookieRequest {
            domain: domain.map(|d| serde_json::from_value(serde_json::json!(d)).unwrap()),
            secure,
            affitor,
            partnerstack: false,
        }
    }

    const CID: &str = "0b6f7c1e-3c1d-4e7a-9b1f-2a3b4c5d6e7f";

    #[test]
    fn same_origin_only() {
        let r = req(None, true, false);
        let set = |o: Option<&str>, host: &str| {
            set_cookies(&r, &headers(o, host), "demo", CID, "bob", 86_400).len()
        };
        assert_eq!(set(Some("https://shop.example"), "shop.example"), 1);
        assert_eq!(set(Some("https://Shop.Example"), "shop.example:443"), 1);
        assert_eq!(set(Some("http://localhost:8080"), "localhost:8080"), 1);
        assert_eq!(set(Some("http://localhost:8080"), "localhost:3000"), 0);
        assert_eq!(set(Some("https://shop.example"), "collector.example"), 0);
        assert_eq!(set(Some("https://shop.example"), "shop.example:8443"), 0);
        assert_eq!(set(Some("null"), "shop.example"), 0);
        assert_eq!(set(None, "shop.example"), 0);
    }

    #[test]
    fn attributes_and_values() {
        let h = headers(Some("https://www.shop.example"), "www.shop.example");
        let c = set_cookies(&req(None, false, false), &h, "demo", CID, "bob", 5_184_000);
        assert_eq!(
            c[0],
            format!(
                "trakdesk_cid={{\"tenantId\":\"demo\",\"cid\":\"{CID}\"}}; Path=/; Max-Age=5184000; SameSite=Lax"
            )
        );
        let c = set_cookies(
            &req(Some(".shop.example"), true, true),
            &h,
            "demo",
            CID,
            "bob",
            60,
        );
        assert_eq!(c.len(), 2);
        let attrs = "; Path=/; Max-Age=60; SameSite=Lax; Secure; Domain=shop.example";
        assert!(c[0].to_str().unwrap().ends_with(attrs), "{:?}", c[0]);
        assert_eq!(c[1], format!("affitor_click_id={CID}{attrs}"));
        for c in &c {
            assert!(!c.to_str().unwrap().contains("HttpOnly"));
        }
        // PartnerStack mode: its cookies, same attributes, a key that is not URL-safe
        let ps = CookieRequest {
            partnerstack: true,
            ..req(Some(".shop.example"), true, false)
        };
        let c = set_cookies(&ps, &h, "demo", CID, ">>>???é", 60);
        assert_eq!(c.len(), 10);
        assert_eq!(c[1], format!("gspk=Pj4+Pz8/w6k={attrs}"));
        assert_eq!(c[2], format!("gsxid={CID}{attrs}"));
        assert_eq!(
            c[3],
            format!("growSumoPartnerKey=%3E%3E%3E%3F%3F%3F%C3%A9{attrs}")
        );
        assert_eq!(
            c[4],
            format!("ps_partner_key=%3E%3E%3E%3F%3F%3F%C3%A9{attrs}")
        );
        assert_eq!(c[5], format!("ps_xid={CID}{attrs}"));
        assert_eq!(c[8], format!("_ps_xid_oSnJV8C7_t1Fm={CID}{attrs}"));
    }

    /// The vectors the tracker's `partnerstack::cookies` test asserts too (two implementations
    /// of one rule, held together by the same expected names).
    #[test]
    fn partnerstack_cookie_names_as_the_tracker_writes_them() {
        let names: Vec<(String, String)> = partnerstack_cookies("shop", "jane/doe+12 é", CID);
        let key = "jane%2Fdoe%2B12%20%C3%A9";
        let want: Vec<(String, String)> = [
            ("gspk", "amFuZS9kb2UrMTIgw6k="),
            ("gsxid", CID),
            ("growSumoPartnerKey", key),
            ("ps_partner_key", key),
            ("ps_xid", CID),
            ("_ps_partner_key_Pq6umY1o", key),
            ("_grsmpkPq6umY1o", key),
            ("_ps_xid_Pq6umY1o_t1Fm", CID),
            ("_gsxidPq6umY1ot1Fm", CID),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        assert_eq!(names, want);
    }

    #[test]
    fn domain_only_if_host_or_parent() {
        assert_eq!(
            cookie_domain("shop.example", "www.shop.example").as_deref(),
            Some("shop.example")
        );
        assert_eq!(
            cookie_domain("www.shop.example", "www.shop.example").as_deref(),
            Some("www.shop.example")
        );
        assert_eq!(
            cookie_domain("localhost", "localhost").as_deref(),
            Some("localhost")
        );
        for (d, host) in [
            ("other.example", "www.shop.example"),
            ("hop.example", "www.shop.example"),
            ("example", "www.shop.example"),
            ("sub.www.shop.example", "www.shop.example"),
            ("shop.example; HttpOnly", "www.shop.example"),
            ("127.0.0.1", "127.0.0.1"),
            ("..", "www.shop.example"),
        ] {
            assert_eq!(cookie_domain(d, host), None, "{d} on {host}");
        }
    }
}
