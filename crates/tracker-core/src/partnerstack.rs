//! PartnerStack links and cookies, browser-free: the partner key of `?gspk=` /
//! `?ps_partner_key=` (both Base64), the click id of `?gsxid=` / `?ps_xid=`, the click's event
//! id, and the cookies PartnerStackJS keeps (names, values).

use crate::json;
use crate::url::{self, CodeError};
use alloc::string::String;
use alloc::vec::Vec;

/// The cookies PartnerStackJS keeps on the merchant's domain, written beside `trakdesk_cid` in
/// PartnerStack mode with its attributes (docs/partnerstack.md, "Cookies"), as
/// `(name, value)`: the partner key (percent-encoded where it is not URL-safe) in
/// `growSumoPartnerKey`, `ps_partner_key`, `_ps_partner_key_<P>` and `_grsmpk<P>`; the click
/// id (here: the CID, what the collector's lead API takes as `click_id`) in `gsxid`, `ps_xid`,
/// `_ps_xid_<P>_<C>` and `_gsxid<P><C>`; and `gspk`, Base64 of the key as in the link. `<P>`
/// names the programme (8 characters, [`tag`] of the tenant id), `<C>` the click (4
/// characters, [`tag`] of the CID): the same click always has the same names, so the
/// collector's `Set-Cookie` in first-party mode replaces the script's cookies.
pub fn cookies(tenant: &str, key: &str, cid: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    push_cookies(&mut out, tenant, key, cid);
    out
}

/// [`cookies`], appended to `out`.
pub fn push_cookies(out: &mut Vec<(String, String)>, tenant: &str, key: &str, cid: &str) {
    let p = tag(tenant, 8);
    let c = tag(cid, 4);
    let k = url::percent_encode(key);
    // (name, what follows it: 1 `<P>`, 2 `<P>_<C>`, 3 `<P><C>`; the value: 0 Base64 of the
    // key, 1 the key, 2 the CID)
    const ALL: [(&str, u8, u8); 9] = [
        ("gspk", 0, 0),
        ("gsxid", 0, 2),
        ("growSumoPartnerKey", 0, 1),
        ("ps_partner_key", 0, 1),
        ("ps_xid", 0, 2),
        ("_ps_partner_key_", 1, 1),
        ("_grsmpk", 1, 1),
        ("_ps_xid_", 2, 2),
        ("_gsxid", 3, 2),
    ];
    for (name, tail, value) in ALL {
        let mut n = String::from(name);
        if tail > 0 {
            n.push_str(&p);
        }
        if tail == 2 {
            n.push('_');
        }
        if tail > 1 {
            n.push_str(&c);
        }
        let v = match value {
            0 => base64_encode(key.as_bytes()),
            1 => k.clone(),
            _ => String::from(cid),
        };
        out.push((n, v));
    }
}

/// `n` (at most 10) letters and digits naming `s` in a cookie name: FNV-1a (64 bits) of its
/// UTF-8 bytes, written in base 62 (`0-9A-Za-z`), lowest digit first.
pub fn tag(s: &str, n: usize) -> String {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut out = String::with_capacity(n);
    for _ in 0..n.min(10) {
        out.push(DIGITS[(h % 62) as usize] as char);
        h /= 62;
    }
    out
}

/// The event id of a partner-link click: `gsxid:<click id>:<CID>` when that fits the
/// collector's bounds for event ids (1–128 characters, no control characters). The CID is
/// part of it: a link with a fixed click id (pasted in a blog or a newsletter) opened by two
/// visitors is two clicks, while the same visitor opening it again (reload, new tab: the
/// same CID from the cookie) is one.
pub fn click_event(xid: &str, cid: &str) -> Option<String> {
    Some(json::cat(&["gsxid:", xid, ":", cid])).filter(|e| url::valid_code(e))
}

/// Decodes Base64: the standard or the URL-safe alphabet, padding optional (but at most
/// two `=`, only at the end, completing the last group). A space reads as `+`: an
/// unencoded `+` in a query string is a space once decoded. Anything else: `None`.
/// (Unused low bits of the last character are ignored, as most decoders do.)
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let body = url::trim(s, b'=', false, true);
    let pad = s.len() - body.len();
    if body.len() % 4 == 1 || pad > 2 || (pad > 0 && !s.len().is_multiple_of(4)) {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in body.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' | b' ' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = ((acc << 6) | u32::from(v)) & 0xFFFF;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Standard Base64 with padding, what `btoa` gives (merchant code does `atob(gspk)`).
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let mut n = 0u32;
        for i in 0..3 {
            n = (n << 8) | u32::from(chunk.get(i).copied().unwrap_or(0));
        }
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// The longest click id kept: `gsxid:` + id + `:` + a 36-character CID is at most 128.
pub const MAX_XID: usize = 128 - 43;

/// A PartnerStack link in `search` (the page's query string): the partner key (from
/// `gspk`, else `ps_partner_key`: both Base64 of UTF-8 text, as PartnerStack writes its
/// links) and the link's click id (`gsxid`, else `ps_xid`, when it passes the same check;
/// [`click_event`] uses it when it is at most [`MAX_XID`] characters). The key must pass the affiliate-code check
/// (`url::valid_code`); a key that does not decode to such text is `Invalid`.
pub fn link(search: &str) -> Result<(String, Option<String>), CodeError> {
    // a non-empty value; one that does not percent-decode reads as "\0" (never valid)
    let get = |name: &str| {
        url::query_param(search, name)
            .map(|v| v.unwrap_or_else(|| String::from("\0")))
            .filter(|v| !v.is_empty())
    };
    let b = get("gspk")
        .or_else(|| get("ps_partner_key"))
        .ok_or(CodeError::Absent)?;
    let key = base64_decode(&b)
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|k| url::valid_code(k))
        .ok_or(CodeError::Invalid)?;
    let xid = get("gsxid")
        .or_else(|| get("ps_xid"))
        .filter(|x| url::valid_code(x));
    Ok((key, xid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;

    fn dec(s: &str) -> Option<String> {
        base64_decode(s).map(|b| String::from_utf8_lossy(&b).to_string())
    }

    #[test]
    fn decodes_both_alphabets_with_or_without_padding() {
        assert_eq!(dec("Ym9i").as_deref(), Some("bob"));
        assert_eq!(dec("YWxpY2U=").as_deref(), Some("alice"));
        assert_eq!(dec("YWxpY2U").as_deref(), Some("alice"));
        assert_eq!(dec("YQ==").as_deref(), Some("a"));
        assert_eq!(dec("YQ").as_deref(), Some("a"));
        // 0xFB 0xFF: "+/8" standard, "-_8" URL-safe, " /8" after `+` became a space
        assert_eq!(base64_decode("+/8="), Some(vec![0xFB, 0xFF]));
        assert_eq!(base64_decode("-_8"), Some(vec![0xFB, 0xFF]));
        assert_eq!(base64_decode(" /8="), Some(vec![0xFB, 0xFF]));
        assert_eq!(base64_decode(""), Some(vec![]));
    }

    #[test]
    fn rejects_hostile_base64() {
        for bad in [
            "Y",
            "YWxpY",
            "Y===",
            "YQ===",
            "YQ=",
            "=",
            "==",
            "====",
            "Ym9i=",
            "Y=Q=",
            "YQ==YQ==",
            "Ym9i\n",
            "Ym 9i!",
            "Ym9i%",
            "Ym9i\0",
            "Ym9i.",
            "ÿÿÿÿ",
            "Ym9é",
            "\u{202e}Ym9i",
        ] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn encodes_as_btoa() {
        assert_eq!(base64_encode(b"bob"), "Ym9i");
        assert_eq!(base64_encode(b"alice"), "YWxpY2U=");
        assert_eq!(base64_encode(b"a"), "YQ==");
        assert_eq!(base64_encode(&[0xFB, 0xFF]), "+/8=");
        assert_eq!(base64_encode(b""), "");
    }

    #[test]
    fn links() {
        let ok = |s: &str| link(s).map_err(|e| format!("{e:?}"));
        assert_eq!(
            ok("?gspk=Ym9i&gsxid=x1"),
            Ok(("bob".into(), Some("x1".into())))
        );
        // percent-encoded padding, URL-safe alphabet
        assert_eq!(ok("?gspk=YWxpY2U%3D"), Ok(("alice".into(), None)));
        // `ps_partner_key` is Base64 too (PartnerStack's own links), `ps_xid` its click id
        assert_eq!(
            ok("?a=1&ps_partner_key=cGFydCBuZXI%3D&ps_xid=z"),
            Ok(("part ner".into(), Some("z".into())))
        );
        assert_eq!(
            ok("?ps_partner_key=ZWRpdG9yaWFsZGVwYXJ0bWVudDkzODE&ps_xid=TnudC8JN9AUygR"),
            Ok((
                "editorialdepartment9381".into(),
                Some("TnudC8JN9AUygR".into())
            ))
        );
        // gspk wins over ps_partner_key; an empty gspk does not
        assert_eq!(
            ok("?ps_partner_key=eA&gspk=Ym9i").map(|k| k.0),
            Ok("bob".into())
        );
        assert_eq!(ok("?gspk=&ps_partner_key=eA").map(|k| k.0), Ok("x".into()));
        assert_eq!(link("?aff=bob"), Err(CodeError::Absent));
        assert_eq!(link("?gspk=&ps_partner_key="), Err(CodeError::Absent));
        assert_eq!(link(""), Err(CodeError::Absent));
        // not Base64, not UTF-8, a control character, empty or too long once decoded; a
        // plain (not Base64) `ps_partner_key` is not read as a key
        for bad in [
            "?gspk=Ym9iY",
            "?gspk=%ZZ",
            "?gspk=__8",
            "?gspk=AA%3D%3D",
            "?gspk=Cg",
            "?gspk=%3D%3D%3D%3D",
            "?ps_partner_key=%0A",
            "?ps_partner_key=%FF",
            "?ps_partner_key=jane-doe12",
            "?ps_partner_key=a.b",
        ] {
            assert_eq!(link(bad), Err(CodeError::Invalid), "{bad}");
        }
        let max = base64_encode("k".repeat(128).as_bytes());
        assert_eq!(ok(&format!("?gspk={max}")).map(|k| k.0.len()), Ok(128));
        let long = base64_encode("k".repeat(129).as_bytes());
        assert_eq!(link(&format!("?gspk={long}")), Err(CodeError::Invalid));
        // a click id with a control character or too long for a code is left out
        let id = "x".repeat(128);
        assert_eq!(
            ok(&format!("?gspk=Ym9i&gsxid={id}")).map(|k| k.1.map(|e| e.len())),
            Ok(Some(128))
        );
        assert_eq!(
            ok(&format!("?gspk=Ym9i&gsxid={id}y")).map(|k| k.1),
            Ok(None)
        );
        assert_eq!(ok("?gspk=Ym9i&gsxid=a%0Ab").map(|k| k.1), Ok(None));
        assert_eq!(
            ok("?gspk=Ym9i&gsxid=&ps_xid=p").map(|k| k.1),
            Ok(Some("p".into()))
        );
    }

    const CID: &str = "0b6f7c1e-3c1d-4e7a-9b1f-2a3b4c5d6e7f";

    #[test]
    fn click_events_are_per_visitor() {
        let other = "1b6f7c1e-3c1d-4e7a-9b1f-2a3b4c5d6e7f";
        let e = click_event("x1", CID);
        assert_eq!(
            e.as_deref(),
            Some("gsxid:x1:0b6f7c1e-3c1d-4e7a-9b1f-2a3b4c5d6e7f")
        );
        assert_ne!(e, click_event("x1", other));
        assert_eq!(e, click_event("x1", CID));
        let id = "é".repeat(MAX_XID);
        assert_eq!(click_event(&id, CID).map(|e| e.chars().count()), Some(128));
        assert_eq!(click_event(&format!("{id}y"), CID), None);
    }

    /// The names the collector's first-party `Set-Cookie` uses too (it calls [`cookies`]).
    #[test]
    fn cookie_names_and_values() {
        assert_eq!(tag("", 4), tag("", 4));
        assert_ne!(tag("demo", 8), tag("shop", 8));
        assert_eq!(tag("demo", 8).len(), 8);
        assert!(tag(CID, 10).bytes().all(|b| b.is_ascii_alphanumeric()));
        let c = cookies("shop", "jane/doe+12 é", CID);
        let got: Vec<(&str, &str)> = c.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let key = "jane%2Fdoe%2B12%20%C3%A9";
        assert_eq!(
            got,
            vec![
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
        );
    }
}
