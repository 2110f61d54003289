//! Commands, request bodies and answer classification (docs/wire.md), browser-free.

use crate::json::{self, str_array, Obj, Out};
use alloc::string::String;
use alloc::vec::Vec;

pub const CLICK: &str = "/tracking/click/v1";
pub const CONVERSION: &str = "/tracking/conversion/v1";
pub const EXTERNAL_CID: &str = "/tracking/external-cid/v1";
pub const LEAD: &str = "/tracking/lead/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Click,
    Ready,
    Conversion,
    ExternalCid,
    Signup,
    /// Only in builds with the `tito` feature: without it, "tito" is an unknown command.
    #[cfg(feature = "tito")]
    Tito,
    Consent,
}

impl Command {
    pub fn parse(s: &str) -> Option<Command> {
        Some(match s {
            "click" => Command::Click,
            "ready" => Command::Ready,
            "conversion" => Command::Conversion,
            "externalCid" => Command::ExternalCid,
            "signup" => Command::Signup,
            #[cfg(feature = "tito")]
            "tito" => Command::Tito,
            "consent" => Command::Consent,
            _ => return None,
        })
    }
    /// Commands that write cookies or send, held back until consent.
    pub fn needs_consent(self) -> bool {
        !matches!(self, Command::Ready | Command::Consent)
    }
}

/// What became of a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Done,
    Retry,
    Drop,
}

/// 2xx done; 429, 5xx and network errors (status 0) retry; other statuses dropped.
pub fn classify(status: u16) -> Delivery {
    match status {
        200..=299 => Delivery::Done,
        0 | 429 | 500..=599 => Delivery::Retry,
        _ => Delivery::Drop,
    }
}

/// `code: message` from a collector error body, or `HTTP <status>`.
pub fn error_text(status: u16, body: &str) -> String {
    let parsed = json::parse(body);
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let mut s = String::new();
    match (
        err.and_then(|e| e.str_of("code")),
        err.and_then(|e| e.str_of("message")),
    ) {
        (Some(c), Some(m)) => {
            s.push_str(c);
            s.push_str(": ");
            s.push_str(m);
        }
        (Some(c), None) => s.push_str(c),
        _ => {
            s.push_str("HTTP ");
            json::push_u64(&mut s, u64::from(status));
        }
    }
    s
}

/// The error code of a collector error body.
pub fn error_code(body: &str) -> Option<String> {
    json::parse(body)?
        .get("error")?
        .str_of("code")
        .map(String::from)
}

/// First-party mode (docs/wire.md): the attributes of the cookie the collector sets with
/// `Set-Cookie` in its answer, exactly those the tracker would write.
/// `D`: the domain's type (`&str` in the click module, which has no allocator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSpec<D = String> {
    /// The cookie's Domain attribute (`None`: host-only).
    pub domain: Option<D>,
    /// The page is https: `Secure`.
    pub secure: bool,
    /// Affitor mode: `affitor_click_id` too.
    pub affitor: bool,
    /// PartnerStack mode: `gspk`, `gsxid`, `growSumoPartnerKey` too (sent only when true).
    pub partnerstack: bool,
}

impl<D: AsRef<str>> CookieSpec<D> {
    /// `{"domain":"example.com"|null,"secure":true,"affitor":false[,"partnerstack":true]}`
    pub fn json(&self) -> String {
        let mut s = String::new();
        self.push_json(&mut s);
        s
    }
    /// [`CookieSpec::json`] appended to `out`.
    #[inline(always)]
    pub fn push_json(&self, out: &mut (impl Out + ?Sized)) {
        let flag = |b: bool| if b { "true" } else { "false" };
        let o = Obj::on(out)
            .with("domain", |out| match &self.domain {
                Some(d) => json::push_str_lit(out, d.as_ref()),
                None => out.push_str("null"),
            })
            .raw("secure", flag(self.secure))
            .raw("affitor", flag(self.affitor));
        if self.partnerstack {
            o.raw("partnerstack", "true")
        } else {
            o
        }
        .end();
    }
}

pub fn click_body(
    tenant: &str,
    event_id: &str,
    aff: &str,
    cid: &str,
    url: &str,
    referrer: &str,
    cookie: Option<&CookieSpec>,
) -> String {
    let mut s = String::new();
    push_click_body(
        &mut s,
        &ClickBody {
            tenant,
            event_id,
            aff,
            cid,
            url,
            referrer,
            cookie,
        },
    );
    s
}

/// A click's fields, for [`push_click_body`].
pub struct ClickBody<'a, D = String> {
    pub tenant: &'a str,
    pub event_id: &'a str,
    pub aff: &'a str,
    pub cid: &'a str,
    pub url: &'a str,
    pub referrer: &'a str,
    pub cookie: Option<&'a CookieSpec<D>>,
}

/// [`click_body`] appended to `out`.
#[inline(always)]
pub fn push_click_body<D: AsRef<str>>(out: &mut (impl Out + ?Sized), c: &ClickBody<D>) {
    let o = Obj::on(out)
        .s("tenantId", c.tenant)
        .s("eventId", c.event_id)
        .s("aff", c.aff)
        .s("cid", c.cid)
        .s("url", c.url)
        .s("referrer", c.referrer);
    match c.cookie {
        Some(spec) => o.with("cookie", |out| spec.push_json(out)),
        None => o,
    }
    .end();
}

/// A lead; without `cid` (an organic Affitor visitor) the collector links the customer
/// key alone (docs/wire.md).
pub fn lead_body(
    tenant: &str,
    event_id: &str,
    cid: Option<&str>,
    customer_key: &str,
    email: Option<&str>,
) -> String {
    Obj::new()
        .s("tenantId", tenant)
        .s("eventId", event_id)
        .opt("cid", cid)
        .s("customerKey", customer_key)
        .opt("email", email)
        .end()
}

pub fn external_cid_body(
    tenant: &str,
    event_id: &str,
    cid: &str,
    external_cid: &str,
    revenue_origin_id: &str,
) -> String {
    Obj::new()
        .s("tenantId", tenant)
        .s("eventId", event_id)
        .s("cid", cid)
        .s("externalCid", external_cid)
        .s("revenueOriginId", revenue_origin_id)
        .end()
}

/// A numeric `amount` as the collector wants it: a string with two decimals
/// (`59.9` -> `"59.90"`); `None` for negative, non-finite or absurd values.
pub fn amount_from_number(n: f64) -> Option<String> {
    if !(n.is_finite() && (0.0..1e12).contains(&n)) {
        return None;
    }
    let cents = (n * 100.0 + 0.5) as u64;
    let mut s = String::new();
    json::push_u64(&mut s, cents / 100);
    s.push('.');
    if cents % 100 < 10 {
        s.push('0');
    }
    json::push_u64(&mut s, cents % 100);
    Some(s)
}

/// `advS1` … `advS5`.
pub fn is_custom_key(k: &str) -> bool {
    matches!(k, "advS1" | "advS2" | "advS3" | "advS4" | "advS5")
}

/// A `conversion` command's parameters, already read from the JS object.
#[derive(Debug, Default, Clone)]
pub struct Conversion {
    /// `conversionTypeCode` (preferred) or `conversionType`.
    pub type_code: Option<String>,
    pub type_name: Option<String>,
    pub amount: Option<String>,
    pub external_id: Option<String>,
    pub customer_id: Option<String>,
    pub status: Option<String>,
    pub coupons: Vec<String>,
    pub revenue_origin_id: Option<String>,
    pub external_cid: Option<String>,
    /// Resolved custom params (`advS1`..`advS5`, string values).
    pub custom: Vec<(String, String)>,
}

/// The body for `/tracking/conversion/v1`; `Err` names what is missing.
pub fn conversion_body(
    c: &Conversion,
    tenant: &str,
    event_id: &str,
    cid: Option<&str>,
) -> Result<String, &'static str> {
    let mut o = Obj::new().s("tenantId", tenant).s("eventId", event_id);
    o = match (&c.external_cid, &c.revenue_origin_id, cid) {
        (Some(x), Some(r), _) => o.s("externalCid", x).s("revenueOriginId", r),
        (Some(_), None, _) => return Err("externalCid needs revenueOriginId"),
        (None, _, Some(cid)) => o
            .s("cid", cid)
            .opt("revenueOriginId", c.revenue_origin_id.as_deref()),
        (None, _, None) => return Err("no CID for this visitor (and no externalCid)"),
    };
    o = match (&c.type_code, &c.type_name) {
        (Some(t), _) => o.s("conversionTypeCode", t),
        (None, Some(t)) => o.s("conversionType", t),
        (None, None) => return Err("conversionTypeCode (or conversionType) missing"),
    };
    if let Some(a) = &c.amount {
        o = o.raw("amount", &Obj::new().s("value", a).end());
    }
    o = o
        .opt("externalId", c.external_id.as_deref())
        .opt("customerId", c.customer_id.as_deref())
        .opt("status", c.status.as_deref());
    if !c.coupons.is_empty() {
        o = o.raw("couponCodes", &str_array(&c.coupons));
    }
    if !c.custom.is_empty() {
        let mut p = Obj::new();
        for (k, v) in &c.custom {
            p = p.s(k, v);
        }
        o = o.raw("customParams", &p.end());
    }
    Ok(o.end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;
    use alloc::vec;

    #[test]
    fn commands() {
        assert_eq!(Command::parse("click"), Some(Command::Click));
        assert_eq!(Command::parse("externalCid"), Some(Command::ExternalCid));
        assert_eq!(Command::parse("Click"), None);
        // a build without the `tito` feature answers it as an unknown command
        assert_eq!(Command::parse("tito").is_some(), cfg!(feature = "tito"));
        assert_eq!(Command::parse(""), None);
        assert!(!Command::Ready.needs_consent());
        assert!(Command::Click.needs_consent());
    }

    #[test]
    fn classifies() {
        assert_eq!(classify(200), Delivery::Done);
        assert_eq!(classify(204), Delivery::Done);
        assert_eq!(classify(0), Delivery::Retry);
        assert_eq!(classify(429), Delivery::Retry);
        assert_eq!(classify(503), Delivery::Retry);
        assert_eq!(classify(404), Delivery::Drop);
        assert_eq!(classify(422), Delivery::Drop);
        assert_eq!(classify(301), Delivery::Drop);
    }

    #[test]
    fn errors() {
        let b = r#"{"error":{"code":"unknown_affiliate","message":"no such affiliate"}}"#;
        assert_eq!(error_text(404, b), "unknown_affiliate: no such affiliate");
        assert_eq!(error_code(b).as_deref(), Some("unknown_affiliate"));
        assert_eq!(error_text(502, "<html>"), "HTTP 502");
        assert_eq!(error_code("<html>"), None);
    }

    #[test]
    fn bodies() {
        let b = click_body("t", "e", "<b>\"x", "c", "https://s/?aff=%3Cb%3E", "", None);
        let v = parse(&b).unwrap();
        assert_eq!(v.str_of("aff"), Some("<b>\"x"));
        assert_eq!(v.str_of("referrer"), Some(""));
        assert_eq!(v.get("cookie"), None);
        let spec = CookieSpec {
            domain: Some("shop.example".into()),
            secure: true,
            affitor: false,
            partnerstack: false,
        };
        let b = click_body("t", "e", "a", "c", "u", "r", Some(&spec));
        assert!(
            b.ends_with(r#","cookie":{"domain":"shop.example","secure":true,"affitor":false}}"#)
        );
        let host_only = CookieSpec::<String> {
            domain: None,
            secure: false,
            affitor: true,
            partnerstack: false,
        };
        assert_eq!(
            host_only.json(),
            r#"{"domain":null,"secure":false,"affitor":true}"#
        );
        let ps = CookieSpec {
            partnerstack: true,
            ..host_only
        };
        assert_eq!(
            ps.json(),
            r#"{"domain":null,"secure":false,"affitor":true,"partnerstack":true}"#
        );
        assert_eq!(
            lead_body("t", "e", Some("c"), "k", None),
            r#"{"tenantId":"t","eventId":"e","cid":"c","customerKey":"k"}"#
        );
        assert_eq!(
            lead_body("t", "e", None, "k", Some("a@b")),
            r#"{"tenantId":"t","eventId":"e","customerKey":"k","email":"a@b"}"#
        );
        assert_eq!(
            external_cid_body("t", "e", "c", "a@b", "r"),
            r#"{"tenantId":"t","eventId":"e","cid":"c","externalCid":"a@b","revenueOriginId":"r"}"#
        );
    }

    #[test]
    fn conversions() {
        let mut c = Conversion {
            type_code: Some("sale".into()),
            amount: Some("100.50".into()),
            ..Default::default()
        };
        c.coupons = vec!["A".into()];
        c.custom = vec![("advS1".into(), "x".into())];
        c.external_id = Some("o-1".into());
        assert_eq!(
            conversion_body(&c, "t", "e", Some("cid")).unwrap(),
            r#"{"tenantId":"t","eventId":"e","cid":"cid","conversionTypeCode":"sale","amount":{"value":"100.50"},"externalId":"o-1","couponCodes":["A"],"customParams":{"advS1":"x"}}"#
        );
        assert_eq!(
            conversion_body(&c, "t", "e", None),
            Err("no CID for this visitor (and no externalCid)")
        );
        c.external_cid = Some("x@y".into());
        assert!(conversion_body(&c, "t", "e", None).is_err());
        c.revenue_origin_id = Some("ro".into());
        let v = parse(&conversion_body(&c, "t", "e", Some("cid")).unwrap()).unwrap();
        assert_eq!(v.str_of("externalCid"), Some("x@y"));
        assert_eq!(v.get("cid"), None);
        let d = Conversion {
            type_name: Some("Sale".into()),
            ..Default::default()
        };
        assert!(conversion_body(&d, "t", "e", Some("c"))
            .unwrap()
            .contains(r#""conversionType":"Sale""#));
        assert!(conversion_body(&Conversion::default(), "t", "e", Some("c")).is_err());
        assert_eq!(amount_from_number(59.9).as_deref(), Some("59.90"));
        assert_eq!(amount_from_number(0.0).as_deref(), Some("0.00"));
        assert_eq!(amount_from_number(100.5).as_deref(), Some("100.50"));
        assert_eq!(amount_from_number(4.05).as_deref(), Some("4.05"));
        assert_eq!(amount_from_number(1234.567).as_deref(), Some("1234.57"));
        assert_eq!(amount_from_number(-1.0), None);
        assert_eq!(amount_from_number(f64::NAN), None);
        assert_eq!(amount_from_number(1e13), None);
        assert!(is_custom_key("advS5") && !is_custom_key("advS6") && !is_custom_key("__proto__"));
    }
}
