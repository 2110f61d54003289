//! What the collector keeps of a page address: the URLs and referrers of clicks and the URL of a
//! tracker diagnostic are stored without the query parameters the product does not use (they can
//! carry emails, names, tokens) and without the fragment.

/// Query parameters always kept: the default affiliate parameter and PartnerStack's link
/// parameters. Every `utm_*` parameter is kept too ([`is_kept`]).
pub const KEPT_PARAMS: [&str; 5] = ["aff", "gspk", "gsxid", "ps_partner_key", "ps_xid"];

/// Whether a (decoded) parameter name is kept: one of [`KEPT_PARAMS`], `utm_*`, or one of
/// `extra` (the operator's further affiliate parameters). Names are compared exactly, as the
/// tracker reads them.
pub fn is_kept(name: &str, extra: &[String]) -> bool {
    KEPT_PARAMS.contains(&name) || name.starts_with("utm_") || extra.iter().any(|e| e == name)
}

/// `url` reduced to what the collector uses: scheme, host (without any `user:password@`), port
/// and path, plus only the kept query parameters ([`is_kept`]) in their order and spelling,
/// repeats included; the fragment is dropped. `None` when `url` is not an absolute
/// `scheme://host…` address (nothing of it is kept), or holds whitespace or control characters
/// before its fragment.
pub fn strip_url(url: &str, extra: &[String]) -> Option<String> {
    // the fragment goes first: a `?` after `#` is not a query
    let url = url.split('#').next().unwrap_or("");
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let sep = url.find("://")?;
    let scheme = &url[..sep];
    let mut sc = scheme.bytes();
    if !sc.next().is_some_and(|b| b.is_ascii_alphabetic())
        || !sc.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let rest = &url[sep + 3..];
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    // user:password@host -> host
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    out.push_str("://");
    out.push_str(host);
    out.push_str(path);
    let mut first = true;
    for pair in query.unwrap_or("").split('&') {
        let raw_name = pair.split('=').next().unwrap_or("");
        let kept = decode_name(raw_name).is_some_and(|n| is_kept(&n, extra));
        if kept {
            out.push(if first { '?' } else { '&' });
            out.push_str(pair);
            first = false;
        }
    }
    Some(out)
}

/// A query parameter name, percent-decoded (`+` is a space); `None` when it does not decode.
fn decode_name(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn s(url: &str) -> Option<String> {
        strip_url(url, &[])
    }

    #[test]
    fn keeps_only_the_product_parameters() {
        assert_eq!(
            s("https://shop.example/p/x?aff=alice&email=a@b.c&token=xyz&utm_source=n#frag")
                .as_deref(),
            Some("https://shop.example/p/x?aff=alice&utm_source=n")
        );
        assert_eq!(
            s("https://a.example/?gspk=a2F0&gsxid=Xy1&ps_partner_key=k&ps_xid=z&name=Jo")
                .as_deref(),
            Some("https://a.example/?gspk=a2F0&gsxid=Xy1&ps_partner_key=k&ps_xid=z")
        );
        assert_eq!(
            s("https://a.example/path?email=a%40b.c&utm_campaign=x&utm_medium=y").as_deref(),
            Some("https://a.example/path?utm_campaign=x&utm_medium=y")
        );
    }

    #[test]
    fn no_query_left_means_no_question_mark_and_no_fragment() {
        assert_eq!(
            s("https://a.example/x?email=a@b.c#top").as_deref(),
            Some("https://a.example/x")
        );
        assert_eq!(
            s("https://a.example/x?").as_deref(),
            Some("https://a.example/x")
        );
        assert_eq!(
            s("https://a.example#a?aff=b").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(
            s("http://a.example:8080/a/b/c").as_deref(),
            Some("http://a.example:8080/a/b/c")
        );
    }

    #[test]
    fn drops_credentials_in_the_authority() {
        assert_eq!(
            s("https://user:secret@a.example/x?aff=b").as_deref(),
            Some("https://a.example/x?aff=b")
        );
        assert_eq!(s("https://user@/x"), None);
    }

    #[test]
    fn configured_parameters_are_kept_and_names_compare_exactly() {
        let extra = vec!["ref".to_string(), "via".to_string()];
        assert_eq!(
            strip_url(
                "https://a.example/?ref=bob&via=c&refx=1&REF=2&Aff=3",
                &extra
            )
            .as_deref(),
            Some("https://a.example/?ref=bob&via=c")
        );
        assert_eq!(
            s("https://a.example/?ref=bob").as_deref(),
            Some("https://a.example/")
        );
    }

    #[test]
    fn percent_encoded_names_are_judged_decoded_and_kept_as_sent() {
        assert_eq!(
            s("https://a.example/?a%66f=j%20o&%65mail=a@b.c&utm%5Fterm=t").as_deref(),
            Some("https://a.example/?a%66f=j%20o&utm%5Fterm=t")
        );
        // a name that does not decode is not kept
        assert_eq!(
            s("https://a.example/?aff%zz=1&%ff=2&a%+1f=3&aff=ok").as_deref(),
            Some("https://a.example/?aff=ok")
        );
        assert_eq!(
            s("https://a.example/?aff%=1&aff%4").as_deref(),
            Some("https://a.example/")
        );
    }

    #[test]
    fn repeated_parameters_keep_their_order() {
        assert_eq!(
            s("https://a.example/?aff=a&x=1&aff=b&aff&=v&&utm_source").as_deref(),
            Some("https://a.example/?aff=a&aff=b&aff&utm_source")
        );
    }

    #[test]
    fn not_a_url_keeps_nothing() {
        for bad in [
            "",
            "not a url",
            "a.example/?aff=x",
            "/relative?aff=x",
            "//a.example/?aff=x",
            "mailto:a@b.c",
            "data:text/plain,a@b.c",
            "about:blank",
            "https://",
            "https:///path",
            "1http://a.example/",
            "ht tp://a.example/",
            "https://a.example/x y?aff=1",
            "https://a.example/\u{0}?aff=1",
            "https://a.example/?aff=1\n",
            "ja\u{e9}://a.example/",
        ] {
            assert_eq!(s(bad), None, "{bad:?}");
        }
        // whitespace inside the dropped fragment does not matter
        assert_eq!(
            s("https://a.example/?aff=1#a b").as_deref(),
            Some("https://a.example/?aff=1")
        );
    }

    #[test]
    fn huge_and_unicode_input() {
        let junk = "x=1&".repeat(250_000);
        let url = format!("https://a.example/p?{junk}aff=z&{junk}#{junk}");
        assert_eq!(s(&url).as_deref(), Some("https://a.example/p?aff=z"));
        let path = "/\u{e9}".repeat(50_000);
        let url = format!("https://\u{fc}ber.example{path}?email=\u{e9}");
        assert_eq!(s(&url), Some(format!("https://\u{fc}ber.example{path}")));
        assert_eq!(
            s("https://a.example/?\u{e9}=1&aff=\u{e9}").as_deref(),
            Some("https://a.example/?aff=\u{e9}")
        );
    }

    #[test]
    fn the_result_is_a_fixed_point() {
        for u in [
            "https://u:p@a.example/x?aff=a&e=b&utm_x=1#f",
            "https://a.example/?a%66f=1&%zz=2",
            "http://a.example",
        ] {
            let once = s(u).unwrap_or_default();
            assert_eq!(s(&once).unwrap_or_default(), once, "{u}");
        }
    }
}
