//! Query-string parsing, percent-coding and affiliate-code validation.

use alloc::string::String;
use alloc::vec::Vec;
/// Position of the ASCII byte `b` in `s`.
///
/// This and [`split_ascii`] replace `str::find(char)` / `str::split(char)`: core's char
/// searcher brings slice-index panics and their formatting code into the wasm (~2 KB).
pub fn find_ascii(s: &str, b: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        if c == b {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// `s` split at every ASCII byte `sep`.
pub fn split_ascii(s: &str, sep: u8) -> SplitAscii<'_> {
    SplitAscii { rest: Some(s), sep }
}

pub struct SplitAscii<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> Iterator for SplitAscii<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let r = self.rest?;
        match find_ascii(r, self.sep) {
            Some(i) => {
                self.rest = r.get(i + 1..);
                r.get(..i)
            }
            None => {
                self.rest = None;
                Some(r)
            }
        }
    }
}

/// The byte [`trim`] reads as any ASCII whitespace (space, tab, LF, FF, CR: what
/// `str::trim_ascii` trims).
pub const WS: u8 = 0;

/// `s` without leading (`front`) and trailing (`back`) copies of the ASCII byte `b` ([`WS`]:
/// any ASCII whitespace). One loop for every trim the tracker needs: core's `trim_ascii*`
/// and `str::trim_*_matches(char)` bring a function each into the wasm (0.1–0.3 KB raw).
pub fn trim(s: &str, b: u8, front: bool, back: bool) -> &str {
    let hit = |c: &u8| *c == b || (b == WS && c.is_ascii_whitespace());
    let mut t = s.as_bytes();
    while let (true, [c, rest @ ..]) = (front, t) {
        if !hit(c) {
            break;
        }
        t = rest;
    }
    while let (true, [rest @ .., c]) = (back, t) {
        if !hit(c) {
            break;
        }
        t = rest;
    }
    // SAFETY: only ASCII bytes (`b`, whitespace) were taken off the ends of a `str`: what is
    // left starts and ends on a character boundary.
    unsafe { core::str::from_utf8_unchecked(t) }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
/// Invalid `%` escapes or invalid UTF-8 give `None`.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let hi = hex(*b.get(i + 1)?)?;
                let lo = hex(*b.get(i + 2)?)?;
                out.push(hi * 16 + lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes everything except unreserved characters.
pub fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
            out.push(c as char);
        } else {
            out.push('%');
            out.push(HEX[(c >> 4) as usize] as char);
            out.push(HEX[(c & 15) as usize] as char);
        }
    }
    out
}

/// The first value of `name` in a query string (`?a=1&b=2` or `a=1&b=2`).
/// `Some(None)` when the first occurrence cannot be decoded.
pub fn query_param(search: &str, name: &str) -> Option<Option<String>> {
    query_param_with(search, name, percent_decode)
}

/// [`query_param`] with another decoder of keys and values (see [`undecoded`]).
fn query_param_with<'a, S: AsRef<str>>(
    search: &'a str,
    name: &str,
    decode: impl Fn(&'a str) -> Option<S>,
) -> Option<Option<S>> {
    let q = search.strip_prefix("?").unwrap_or(search);
    let q = split_ascii(q, b'#').next().unwrap_or("");
    for pair in split_ascii(q, b'&') {
        let (k, v) = match find_ascii(pair, b'=') {
            Some(i) => (pair.get(..i)?, pair.get(i + 1..)?),
            None => (pair, ""),
        };
        if decode(k).is_some_and(|k| k.as_ref() == name) {
            return Some(decode(v));
        }
    }
    None
}

/// 1–128 characters, no control characters (U+0000–U+001F, U+007F–U+009F: checked on the
/// UTF-8 bytes, where the second range is `C2 80`–`C2 9F`; no decoding).
pub fn valid_code(s: &str) -> bool {
    let b = s.as_bytes();
    let n = b.iter().filter(|&&c| (c & 0xC0) != 0x80).count();
    let control = b.iter().enumerate().any(|(i, &c)| {
        c < 0x20 || c == 0x7F || (c == 0xC2 && matches!(b.get(i + 1), Some(0x80..=0x9F)))
    });
    (1..=128).contains(&n) && !control
}

/// Why a URL gives no affiliate code.
#[derive(Debug, PartialEq, Eq)]
pub enum CodeError {
    /// None of the parameters carries a value.
    Absent,
    /// The first non-empty value is not acceptable.
    Invalid,
}

/// The affiliate code: the first non-empty value among `names`, validated.
pub fn affiliate_code(search: &str, names: &[String]) -> Result<String, CodeError> {
    affiliate_code_with(search, names, percent_decode)
}

/// The decoder of the click-first module: text with nothing to decode as it is (borrowed: no
/// allocation), `None` (undecodable) when it holds a `%` escape or a `+`. With it,
/// [`affiliate_code_with`] gives [`affiliate_code`]'s answer for every URL whose code and
/// parameter name need no decoding and [`CodeError::Invalid`] (or no match) otherwise: the
/// click-first module leaves those rare URLs to the full tracker and carries no
/// percent-decoder (1.3 KB of wasm with the UTF-8 check it needs).
pub fn undecoded(s: &str) -> Option<&str> {
    (find_ascii(s, b'%').is_none() && find_ascii(s, b'+').is_none()).then_some(s)
}

/// [`affiliate_code`] with another decoder (see [`undecoded`]).
pub fn affiliate_code_with<'a, S: AsRef<str>>(
    search: &'a str,
    names: &[impl AsRef<str>],
    decode: impl Fn(&'a str) -> Option<S> + Copy,
) -> Result<S, CodeError> {
    for name in names {
        match query_param_with(search, name.as_ref(), decode) {
            None => {}
            Some(Some(v)) if v.as_ref().is_empty() => {}
            Some(Some(v)) if valid_code(v.as_ref()) => return Ok(v),
            Some(_) => return Err(CodeError::Invalid),
        }
    }
    Err(CodeError::Absent)
}

/// At most this many `data-param` names.
pub const MAX_PARAMS: usize = 16;

/// The query parameter names of the `data-param` option: a comma list, each trimmed,
/// 1–64 bytes, at most [`MAX_PARAMS`]; `aff` when none is left. Without allocating: the
/// names are borrowed from `list` into `out`.
pub fn param_names<'a>(list: &'a str, out: &'a mut [&'a str; MAX_PARAMS]) -> &'a [&'a str] {
    let mut n = 0;
    for s in split_ascii(list, b',').filter_map(param_name) {
        if let Some(slot) = out.get_mut(n) {
            *slot = s;
            n += 1;
        }
    }
    if n == 0 {
        return &["aff"];
    }
    out.get(..n).unwrap_or(&[])
}

/// One `data-param` name, trimmed, when acceptable (1–64 bytes).
#[inline(always)]
pub fn param_name(s: &str) -> Option<&str> {
    let s = trim(s, WS, true, true);
    (!s.is_empty() && s.len() <= 64).then_some(s)
}

/// Adds one `data-param` name to `names` when it is acceptable (see [`param_names`]).
pub fn push_param_name(names: &mut alloc::vec::Vec<String>, s: &str) {
    if let Some(s) = param_name(s).filter(|_| names.len() < MAX_PARAMS) {
        names.push(String::from(s));
    }
}

/// Sets `name=value` in `url`'s query (replacing earlier values), keeping the fragment.
pub fn set_query_param(url: &str, name: &str, value: &str) -> String {
    edit_query(url, name, Some(value))
}

/// `url` without any `name=` in its query (no `?` left when the query becomes empty).
pub fn remove_query_param(url: &str, name: &str) -> String {
    edit_query(url, name, None)
}

/// The origin (`scheme://host[:port]`, lowercase) of an absolute http(s) URL.
pub fn origin(url: &str) -> Option<String> {
    let i = url.as_bytes().windows(3).position(|w| w == b"://")?;
    let rest = url.get(i + 3..)?;
    let end = rest
        .bytes()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let host = rest.get(..end)?;
    if host.is_empty() || host.bytes().any(|b| b == b'@') {
        return None;
    }
    let mut o = String::from(url.get(..i + 3)?);
    o.push_str(host);
    Some(o.to_ascii_lowercase())
}

fn edit_query(url: &str, name: &str, value: Option<&str>) -> String {
    let (base, frag) = match find_ascii(url, b'#') {
        Some(i) => (url.get(..i).unwrap_or(url), url.get(i..).unwrap_or("")),
        None => (url, ""),
    };
    let (path, query) = match find_ascii(base, b'?') {
        Some(i) => (
            base.get(..i).unwrap_or(base),
            base.get(i + 1..).unwrap_or(""),
        ),
        None => (base, ""),
    };
    let mut out = String::with_capacity(url.len() + name.len() + 40);
    out.push_str(path);
    out.push('?');
    for pair in split_ascii(query, b'&') {
        let key = split_ascii(pair, b'=').next().unwrap_or("");
        if pair.is_empty() || percent_decode(key).as_deref() == Some(name) {
            continue;
        }
        out.push_str(pair);
        out.push('&');
    }
    match value {
        Some(value) => {
            out.push_str(&percent_encode(name));
            out.push('=');
            out.push_str(&percent_encode(value));
        }
        // the `&` after the last kept pair, or the `?` of an empty query
        None => {
            out.pop();
        }
    }
    out.push_str(frag);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_click_first_decoder_agrees_or_leaves_the_url_to_the_full_tracker() {
        let n = names(&["ref", "aff"]);
        for search in [
            "?aff=alice",
            "?x=1&aff=bob&y",
            "?aff=&ref=carol",
            "?aff",
            "",
            "?utm_campaign=summer%20sale&aff=alice",
            "?aff=al%69ce",
            "?aff=a+b",
            "?%61ff=alice",
            "?aff=%FF",
            "?ref=\u{1}",
            "?aff=ok#aff=no",
        ] {
            let full = affiliate_code(search, &n);
            let plain = affiliate_code_with(search, &n, undecoded).map(String::from);
            // the same code, or none for the click-first module (the full tracker's case)
            assert!(
                plain == full || plain.is_err(),
                "{search}: {plain:?} vs {full:?}"
            );
            let needs_decoding =
                search.contains("%61") || search.contains("al%69") || search.contains("a+b");
            assert_eq!(plain.is_ok(), full.is_ok() && !needs_decoding, "{search}");
        }
    }

    #[test]
    fn control_characters_are_found_on_the_bytes_as_char_is_control_finds_them() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let s = format!("a{c}\u{a0}");
            assert_eq!(valid_code(&s), !c.is_control(), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn data_param_lists_without_allocating() {
        let mut out = [""; MAX_PARAMS];
        assert_eq!(param_names(" ref , aff,,", &mut out), ["ref", "aff"]);
        let mut out = [""; MAX_PARAMS];
        assert_eq!(param_names(" , ", &mut out), ["aff"], "none left: aff");
        let long = format!("{},ok", "x".repeat(65));
        let mut out = [""; MAX_PARAMS];
        assert_eq!(
            param_names(&long, &mut out),
            ["ok"],
            "over 64 bytes: skipped"
        );
        let many = (0..20)
            .map(|i| format!("p{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut out = [""; MAX_PARAMS];
        let got = param_names(&many, &mut out);
        assert_eq!(got.len(), MAX_PARAMS);
        assert_eq!(got.last(), Some(&"p15"));
        // the full tracker's list (push_param_name) keeps the same names
        let mut v = Vec::new();
        many.split(',').for_each(|s| push_param_name(&mut v, s));
        assert_eq!(v, got);
    }

    #[test]
    fn splits_bytes() {
        let v: Vec<&str> = split_ascii("a;b;;é;", b';').collect();
        assert_eq!(v, ["a", "b", "", "é", ""]);
        assert_eq!(split_ascii("", b';').collect::<Vec<_>>(), [""]);
        assert_eq!(find_ascii("éa=b", b'='), Some(3));
        assert_eq!(find_ascii("ab", b'='), None);
        assert_eq!(trim("//a/b//", b'/', false, true), "//a/b");
        assert_eq!(trim("..é.x.", b'.', true, false), "é.x.");
        assert_eq!(trim("///", b'/', false, true), "");
        assert_eq!(trim("", b'.', true, false), "");
        assert_eq!(trim("///", b'/', true, true), "");
        for s in [
            "",
            " ",
            " \t a b \r\n\x0c",
            "\u{a0}x\u{a0}",
            "\x0bv\x0b",
            " é ",
        ] {
            assert_eq!(trim(s, WS, true, true), s.trim_ascii(), "{s:?}");
            assert_eq!(trim(s, WS, true, false), s.trim_ascii_start(), "{s:?}");
            assert_eq!(trim(s, WS, false, true), s.trim_ascii_end(), "{s:?}");
        }
    }

    #[test]
    fn decodes() {
        assert_eq!(percent_decode("a%20b+c%C3%A9").as_deref(), Some("a b cé"));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ZZ"), None);
        assert_eq!(percent_decode("%C3"), None);
        assert_eq!(percent_decode("%FF%FE"), None);
        assert_eq!(percent_decode("é%"), None);
        assert_eq!(percent_encode("a b/é"), "a%20b%2F%C3%A9");
    }

    #[test]
    fn finds_params() {
        assert_eq!(
            query_param("?x=1&aff=bob&aff=eve", "aff"),
            Some(Some("bob".into()))
        );
        assert_eq!(query_param("aff", "aff"), Some(Some(String::new())));
        assert_eq!(query_param("?a%66f=j%20o", "aff"), Some(Some("j o".into())));
        assert_eq!(query_param("?affx=1", "aff"), None);
        assert_eq!(query_param("?aff=%zz", "aff"), Some(None));
        assert_eq!(query_param("", "aff"), None);
        assert_eq!(query_param("?a=1#aff=2", "aff"), None);
    }

    #[test]
    fn picks_the_affiliate_code() {
        let n = names(&["ref", "aff"]);
        assert_eq!(affiliate_code("?aff=alice", &n), Ok("alice".into()));
        assert_eq!(affiliate_code("?ref=&aff=alice", &n), Ok("alice".into()));
        assert_eq!(affiliate_code("?ref=bob&aff=alice", &n), Ok("bob".into()));
        assert_eq!(affiliate_code("?x=1", &n), Err(CodeError::Absent));
        assert_eq!(affiliate_code("?aff=", &n), Err(CodeError::Absent));
        assert_eq!(
            affiliate_code("?aff=%3Cscript%3Ealert(1)%3C%2Fscript%3E", &n),
            Ok("<script>alert(1)</script>".into())
        );
        assert_eq!(affiliate_code("?aff=a%0Ab", &n), Err(CodeError::Invalid));
        assert_eq!(affiliate_code("?aff=a%7Fb", &n), Err(CodeError::Invalid));
        assert_eq!(affiliate_code("?aff=a%C2%85b", &n), Err(CodeError::Invalid));
        assert_eq!(affiliate_code("?aff=%E0%A4%A", &n), Err(CodeError::Invalid));
        let long = "x".repeat(10 * 1024);
        assert_eq!(
            affiliate_code(&format!("?aff={long}"), &n),
            Err(CodeError::Invalid)
        );
        let ok128 = "é".repeat(128);
        assert_eq!(
            affiliate_code(&format!("?aff={}", percent_encode(&ok128)), &n),
            Ok(ok128)
        );
        assert_eq!(affiliate_code("?aff=x", &[]), Err(CodeError::Absent));
    }

    #[test]
    fn sets_params() {
        assert_eq!(
            set_query_param("https://buy.stripe.com/abc", "client_reference_id", "u-1"),
            "https://buy.stripe.com/abc?client_reference_id=u-1"
        );
        assert_eq!(
            set_query_param(
                "https://buy.stripe.com/abc?x=1&client_reference_id=old#f",
                "client_reference_id",
                "n"
            ),
            "https://buy.stripe.com/abc?x=1&client_reference_id=n#f"
        );
        assert_eq!(
            set_query_param("https://b/a?", "k", "v w"),
            "https://b/a?k=v%20w"
        );
        assert_eq!(
            remove_query_param(
                "https://b/a?x=1&client_reference_id=c#f",
                "client_reference_id"
            ),
            "https://b/a?x=1#f"
        );
        assert_eq!(
            remove_query_param("https://b/a?client_reference_id=c", "client_reference_id"),
            "https://b/a"
        );
        assert_eq!(remove_query_param("https://b/a", "k"), "https://b/a");
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://Shop.Example/_ct").as_deref(),
            Some("https://shop.example")
        );
        assert_eq!(
            origin("http://localhost:8080").as_deref(),
            Some("http://localhost:8080")
        );
        assert_eq!(
            origin("https://c.test?x#y").as_deref(),
            Some("https://c.test")
        );
        assert_eq!(origin("/relative"), None);
        assert_eq!(origin("https://user@evil.test/"), None);
        assert_eq!(origin("https:///x"), None);
    }
}
