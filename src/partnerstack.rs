//! PartnerStack links, browser-free: the partner key of `?gspk=` (Base64) or
//! `?ps_partner_key=` (plain), the click id of `?gsxid=` / `?ps_xid=`, and the Base64 of the
//! `gspk` cookie.

use crate::json;
use crate::url::{self, CodeError};
use alloc::string::String;
use alloc::vec::Vec;

/// Cookies PartnerStack's own script keeps, written beside `trakdesk_cid` in PartnerStack
/// mode: `gspk` (Base64 of the partner key, as in the link), `gsxid` (here: the CID),
/// `growSumoPartnerKey` (the key, percent-encoded where it is not URL-safe).
pub const GSPK: &str = "gspk";
pub const GSXID: &str = "gsxid";
pub const KEY_COOKIE: &str = "growSumoPartnerKey";

/// Decodes Base64: the standard or the URL-safe alphabet, padding optional (but at most
/// two `=`, only at the end, completing the last group). A space reads as `+`: an
/// unencoded `+` in a query string is a space once decoded. Anything else: `None`.
/// (Unused low bits of the last character are ignored, as most decoders do.)
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let body = url::trim_byte(s, b'=', false);
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

/// A PartnerStack link in `search` (the page's query string): the partner key (from
/// `gspk`, Base64 of UTF-8 text, else `ps_partner_key`, plain) and the click's event id
/// (`gsxid:` + `gsxid` or `ps_xid`, when that fits the collector's bounds for event ids:
/// 1–128 characters, no control characters). The key must pass the affiliate-code check
/// (`url::valid_code`); a key that does not decode to such text is `Invalid`.
pub fn link(search: &str) -> Result<(String, Option<String>), CodeError> {
    // a non-empty value; one that does not percent-decode reads as "\0" (never valid)
    let get = |name: &str| {
        url::query_param(search, name)
            .map(|v| v.unwrap_or_else(|| String::from("\0")))
            .filter(|v| !v.is_empty())
    };
    let key = match get("gspk") {
        Some(b) => base64_decode(&b).and_then(|b| String::from_utf8(b).ok()),
        None => Some(get("ps_partner_key").ok_or(CodeError::Absent)?),
    }
    .filter(|k| url::valid_code(k))
    .ok_or(CodeError::Invalid)?;
    let event = get("gsxid")
        .or_else(|| get("ps_xid"))
        .map(|x| json::cat(&["gsxid:", &x]))
        .filter(|e| url::valid_code(e));
    Ok((key, event))
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
            Ok(("bob".into(), Some("gsxid:x1".into())))
        );
        // percent-encoded padding, URL-safe alphabet, and a plain key
        assert_eq!(ok("?gspk=YWxpY2U%3D"), Ok(("alice".into(), None)));
        assert_eq!(
            ok("?a=1&ps_partner_key=part%20ner&ps_xid=z"),
            Ok(("part ner".into(), Some("gsxid:z".into())))
        );
        // gspk wins over ps_partner_key; an empty gspk does not
        assert_eq!(
            ok("?ps_partner_key=x&gspk=Ym9i").map(|k| k.0),
            Ok("bob".into())
        );
        assert_eq!(ok("?gspk=&ps_partner_key=x").map(|k| k.0), Ok("x".into()));
        assert_eq!(link("?aff=bob"), Err(CodeError::Absent));
        assert_eq!(link("?gspk=&ps_partner_key="), Err(CodeError::Absent));
        assert_eq!(link(""), Err(CodeError::Absent));
        // not Base64, not UTF-8, a control character, empty or too long once decoded
        for bad in [
            "?gspk=Ym9iY",
            "?gspk=%ZZ",
            "?gspk=__8",
            "?gspk=AA%3D%3D",
            "?gspk=Cg",
            "?gspk=%3D%3D%3D%3D",
            "?ps_partner_key=%0A",
            "?ps_partner_key=%FF",
        ] {
            assert_eq!(link(bad), Err(CodeError::Invalid), "{bad}");
        }
        let max = base64_encode("k".repeat(128).as_bytes());
        assert_eq!(ok(&format!("?gspk={max}")).map(|k| k.0.len()), Ok(128));
        let long = base64_encode("k".repeat(129).as_bytes());
        assert_eq!(link(&format!("?gspk={long}")), Err(CodeError::Invalid));
        // a click id beyond the event id bounds (or with a control character) is left out
        let id = "x".repeat(122);
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
            Ok(Some("gsxid:p".into()))
        );
    }
}
