//! The `trakdesk_cid` cookie: raw JSON value, parsing, `Set-Cookie` strings, domain probe.

use crate::json::{self, push_u64, Out};
use crate::uuid::is_uuid;
use alloc::string::String;
use alloc::vec::Vec;

pub const NAME: &str = "trakdesk_cid";
pub const AFFITOR_NAME: &str = "affitor_click_id";

/// Tenant ids end up in a cookie and in URLs: 1–64 of `[A-Za-z0-9._-]`.
pub fn valid_tenant(t: &str) -> bool {
    (1..=64).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `{"tenantId":"T","cid":"<uuid>"}` exactly.
pub fn encode(tenant: &str, cid: &str) -> String {
    let mut s = String::new();
    push_encode(&mut s, tenant, cid);
    s
}

/// [`encode`] appended to `out`.
#[inline(always)]
pub fn push_encode(out: &mut (impl Out + ?Sized), tenant: &str, cid: &str) {
    json::Obj::on(out).s("tenantId", tenant).s("cid", cid).end();
}

/// `(tenantId, cid)` from a cookie value; `None` when malformed.
/// A URL-encoded value written by other code is accepted too.
pub fn parse(value: &str) -> Option<(String, String)> {
    let decoded;
    let mut v = crate::url::trim(value, crate::url::WS, true, true);
    if v.starts_with('%') {
        decoded = crate::url::percent_decode(v)?;
        v = &decoded;
    }
    let obj = json::parse(v)?;
    let tenant = obj.str_of("tenantId")?;
    let cid = obj.str_of("cid")?;
    if valid_tenant(tenant) && is_uuid(cid) {
        Some((tenant.into(), cid.into()))
    } else {
        None
    }
}

/// The raw value of cookie `name` in a `document.cookie` string.
pub fn find<'a>(all: &'a str, name: &str) -> Option<&'a str> {
    crate::url::split_ascii(all, b';').find_map(|part| {
        let part = crate::url::trim(part, crate::url::WS, true, false);
        part.strip_prefix(name)?.strip_prefix("=")
    })
}

/// The CID for `tenant` among all `trakdesk_cid` cookies (host-only and domain cookies
/// can coexist); `None` when none parses for that tenant.
pub fn cid_for(all: &str, tenant: &str) -> Option<String> {
    crate::url::split_ascii(all, b';')
        .filter_map(|part| {
            crate::url::trim(part, crate::url::WS, true, false)
                .strip_prefix(NAME)?
                .strip_prefix('=')
        })
        .filter_map(parse)
        .find(|(t, _)| t == tenant)
        .map(|(_, cid)| cid)
}

/// The localStorage mirror `clicktrail`: `{tenantId, cid, aff, expiredAt}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub tenant: String,
    pub cid: String,
    pub aff: Option<String>,
    pub expired_at: Option<String>,
}

pub const MIRROR_KEY: &str = "clicktrail";

impl Mirror {
    pub fn encode(&self) -> String {
        json::Obj::new()
            .s("tenantId", &self.tenant)
            .s("cid", &self.cid)
            .opt("aff", self.aff.as_deref())
            .opt("expiredAt", self.expired_at.as_deref())
            .end()
    }
    pub fn parse(s: &str) -> Option<Mirror> {
        let v = json::parse(s)?;
        let tenant = v.str_of("tenantId")?;
        let cid = v.str_of("cid")?;
        if !valid_tenant(tenant) || !is_uuid(cid) {
            return None;
        }
        Some(Mirror {
            tenant: tenant.into(),
            cid: cid.into(),
            aff: v
                .str_of("aff")
                .filter(|a| crate::url::valid_code(a))
                .map(String::from),
            expired_at: v
                .str_of("expiredAt")
                .filter(|e| crate::time::parse(e).is_some())
                .map(String::from),
        })
    }
    /// Seconds left before `expiredAt` (`None`: unknown or past).
    pub fn seconds_left(&self, now_secs: i64) -> Option<i64> {
        let left = crate::time::parse(self.expired_at.as_deref()?)? - now_secs;
        if left > 0 {
            Some(left)
        } else {
            None
        }
    }
}

/// A `document.cookie` assignment. `max_age` 0 deletes.
pub fn set_string(
    name: &str,
    value: &str,
    max_age: u64,
    domain: Option<&str>,
    secure: bool,
) -> String {
    let mut s = String::with_capacity(name.len() + value.len() + 64);
    s.push_str(name);
    s.push('=');
    s.push_str(value);
    push_attributes(&mut s, max_age, domain, secure);
    s
}

/// The attributes of a [`set_string`] (`; Path=/; Max-Age=…`), appended to `s` after its
/// `name=value`.
#[inline(always)]
pub fn push_attributes(
    s: &mut (impl Out + ?Sized),
    max_age: u64,
    domain: Option<&str>,
    secure: bool,
) {
    s.push_str("; Path=/; Max-Age=");
    push_u64(s, max_age);
    s.push_str("; SameSite=Lax");
    if let Some(d) = domain {
        s.push_str("; Domain=");
        s.push_str(d);
    }
    if secure {
        s.push_str("; Secure");
    }
}

/// The `data-cookie-domain` option: without leading dots, lowercase, only letters, digits,
/// dots and hyphens; `None` (probe the widest domain) otherwise.
pub fn configured_domain(d: &str) -> Option<String> {
    configured_domain_in(d).map(str::to_ascii_lowercase)
}

/// [`configured_domain`] before it is lowercased (no allocation: the click module lowercases
/// it in a buffer of its own).
#[inline(always)]
pub fn configured_domain_in(d: &str) -> Option<&str> {
    let d = crate::url::trim(
        crate::url::trim(d, crate::url::WS, true, true),
        b'.',
        true,
        false,
    );
    let ok = !d.is_empty()
        && d.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    ok.then_some(d)
}

/// Domains to try for the widest cookie, widest first; empty on localhost, IPs, single labels.
pub fn domain_candidates(host: &str) -> Vec<String> {
    let host = host.to_ascii_lowercase();
    let mut out = Vec::new();
    for c in domain_candidates_in(&host) {
        out.push(String::from(c));
    }
    out
}

/// [`domain_candidates`] of a lowercase host (as `location.hostname` is), without allocating.
pub fn domain_candidates_in(host: &str) -> Candidates<'_> {
    let host = crate::url::trim(host, b'.', false, true);
    let is_ipv4 = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let none = host.is_empty()
        || is_ipv4
        || host.bytes().any(|b| b == b':')
        || host.starts_with("[")
        || !host.bytes().any(|b| b == b'.')
        || host == "localhost"
        || host.ends_with(".localhost");
    Candidates {
        host,
        at: if none { None } else { Some(host.len()) },
    }
}

/// The iterator of [`domain_candidates_in`]: every suffix of the host starting at a label
/// boundary, from two labels up, widest first, then the host itself.
pub struct Candidates<'a> {
    host: &'a str,
    /// Where the search for the next `.` goes on from (backwards); `None`: done.
    at: Option<usize>,
}

impl<'a> Iterator for Candidates<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let b = self.host.as_bytes();
        while let Some(at) = self.at {
            if at == 0 {
                self.at = None;
                return Some(self.host);
            }
            let i = at - 1;
            self.at = Some(i);
            if b.get(i) == Some(&b'.') {
                let suffix = self.host.get(i + 1..)?;
                if suffix.bytes().any(|b| b == b'.') {
                    return Some(suffix);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::{format, vec};

    const CID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    #[test]
    fn encodes_exactly() {
        assert_eq!(
            encode("demo", CID),
            format!("{{\"tenantId\":\"demo\",\"cid\":\"{CID}\"}}")
        );
        assert_eq!(
            parse(&encode("demo", CID)),
            Some(("demo".into(), CID.into()))
        );
    }

    #[test]
    fn parses_hostile_values() {
        assert_eq!(
            parse(&format!(
                "%7B%22tenantId%22%3A%22t%22%2C%22cid%22%3A%22{CID}%22%7D"
            )),
            Some(("t".into(), CID.into()))
        );
        for bad in [
            String::new(),
            "garbage".into(),
            "{}".into(),
            format!("{{\"tenantId\":\"t\",\"cid\":\"{CID}x\"}}"),
            format!("{{\"tenantId\":\"t;x\",\"cid\":\"{CID}\"}}"),
            format!("{{\"tenantId\":1,\"cid\":\"{CID}\"}}"),
            "{\"tenantId\":\"t\",\"cid\":\"not-a-uuid-not-a-uuid-not-a-uuid-123\"}".into(),
            "%ZZ".into(),
            "{".repeat(10_000),
            format!("[\"{CID}\"]"),
        ] {
            assert_eq!(parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn finds_cookies() {
        let all = format!(
            "a=1; trakdesk_cid_x=2; trakdesk_cid={{\"tenantId\":\"t\",\"cid\":\"{CID}\"}}; b=3"
        );
        assert_eq!(
            find(&all, NAME).and_then(parse),
            Some(("t".into(), CID.into()))
        );
        assert_eq!(find("x=1", NAME), None);
        assert_eq!(find("", NAME), None);
        assert_eq!(find("trakdesk_cid=", NAME), Some(""));
    }

    #[test]
    fn builds_set_cookie() {
        assert_eq!(
            set_string("n", "v", 60, Some("example.com"), true),
            "n=v; Path=/; Max-Age=60; SameSite=Lax; Domain=example.com; Secure"
        );
        assert_eq!(
            set_string("n", "", 0, None, false),
            "n=; Path=/; Max-Age=0; SameSite=Lax"
        );
    }

    #[test]
    fn several_cookies() {
        let other = encode("other", CID);
        let mine = encode("t", "11111111-1111-4111-8111-111111111111");
        let all = format!("trakdesk_cid=garbage; trakdesk_cid={other}; trakdesk_cid={mine}");
        assert_eq!(
            cid_for(&all, "t").as_deref(),
            Some("11111111-1111-4111-8111-111111111111")
        );
        assert_eq!(cid_for(&all, "nope"), None);
    }

    #[test]
    fn mirror() {
        let m = Mirror {
            tenant: "t".into(),
            cid: CID.into(),
            aff: Some("<a>".into()),
            expired_at: Some("2027-01-15T08:00:00Z".into()),
        };
        assert_eq!(Mirror::parse(&m.encode()), Some(m.clone()));
        assert_eq!(m.seconds_left(1_800_000_000 - 10), Some(10));
        assert_eq!(m.seconds_left(1_800_000_000), None);
        assert_eq!(Mirror::parse("{\"tenantId\":\"t\",\"cid\":\"x\"}"), None);
        let odd = Mirror::parse(&format!(
            "{{\"tenantId\":\"t\",\"cid\":\"{CID}\",\"aff\":\"\\u0000\",\"expiredAt\":\"soon\"}}"
        ))
        .unwrap();
        assert_eq!((odd.aff, odd.expired_at), (None, None));
    }

    #[test]
    fn tenants() {
        assert!(valid_tenant("demo-1.x_y"));
        assert!(!valid_tenant(""));
        assert!(!valid_tenant("a b"));
        assert!(!valid_tenant("a\"b"));
        assert!(!valid_tenant(&"x".repeat(65)));
    }

    #[test]
    fn domain_list() {
        assert_eq!(
            domain_candidates("shop.example.co.uk"),
            vec!["co.uk", "example.co.uk", "shop.example.co.uk"]
        );
        assert_eq!(domain_candidates("Example.com."), vec!["example.com"]);
        assert_eq!(
            domain_candidates_in("a.b.shop.example..").collect::<Vec<_>>(),
            ["shop.example", "b.shop.example", "a.b.shop.example"]
        );
        assert_eq!(domain_candidates_in("localhost").count(), 0);
        assert_eq!(
            configured_domain_in(" ..Shop.Example "),
            Some("Shop.Example")
        );
        assert_eq!(
            configured_domain("..Shop.Example").as_deref(),
            Some("shop.example")
        );
        assert_eq!(configured_domain_in("a b"), None);
        for none in [
            "localhost",
            "127.0.0.1",
            "::1",
            "[::1]",
            "intranet",
            "",
            "app.localhost",
        ] {
            assert!(domain_candidates(none).is_empty(), "{none}");
        }
    }
}
