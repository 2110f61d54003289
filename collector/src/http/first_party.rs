//! First-party mode: when the tracker is served through the page's own origin
//! (`https://shop.example/_ct/`, reverse-proxied here), the click answer also sets the
//! attribution cookie with `Set-Cookie`. A cookie set by the server is not capped by Safari's
//! ITP the way a cookie written by script is.
//!
//! Only when the click asks for it (`"cookie": {...}` in the body) AND the request comes from the
//! page's own origin (its Origin's host is the request's Host): a cookie set in answer to a
//! cross-site request would be a third-party cookie, which is what this avoids.

use axum::http::{header, HeaderMap, HeaderValue};
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

/// The cookies PartnerStackJS keeps, as `(name, value)`, with the names and values the tracker
/// writes in PartnerStack mode (docs/partnerstack.md, "Cookies"): the one rule of
/// `clicktrail_tracker_core::partnerstack`, so these replace the tracker's cookies of the
/// same click.
pub fn partnerstack_cookies(tenant_id: &str, code: &str, cid: &str) -> Vec<(String, String)> {
    clicktrail_tracker_core::partnerstack::cookies(tenant_id, code, cid)
}

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
