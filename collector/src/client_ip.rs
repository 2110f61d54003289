//! The client's address behind trusted reverse proxies.
//!
//! Only a peer inside `[server] trusted_proxies` may name the client: then the hops listed in
//! `Forwarded` (RFC 7239) or else `X-Forwarded-For` are read from the right, skipping trusted
//! proxies; the first untrusted hop is the client. From any other peer the headers are ignored
//! (anyone can send them). Rate limits and logs use the result.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Request extension: whether the request names a client in forwarding headers that were not
/// believed (its peer is not a trusted proxy), i.e. the real client is unknown.
#[derive(Debug, Clone, Copy, Default)]
pub struct Forwarded {
    pub by_untrusted_peer: bool,
}

impl Forwarded {
    pub fn of(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Forwarded {
        let forwarded =
            headers.contains_key("forwarded") || headers.contains_key("x-forwarded-for");
        Forwarded {
            by_untrusted_peer: forwarded && !trusted.iter().any(|n| n.contains(&peer)),
        }
    }
}

pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_hops(headers);
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) => {
                client = *ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // an unparsable hop ("unknown", an obfuscated name): trust stops here
            None => break,
        }
    }
    client
}

/// The hops, left (original client) to right (nearest proxy); `None` for one that is not an IP.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|elem| {
                elem.split(';')
                    .map(str::trim)
                    .find_map(|pair| {
                        let (k, v) = pair.split_once('=')?;
                        k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
                    })
                    .map(parse_node)
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|h| parse_node(h.trim()))
        .collect()
}

/// `192.0.2.1`, `"[2001:db8::1]:4711"`, `192.0.2.1:80`.
fn parse_node(s: &str) -> Option<IpAddr> {
    let s = s.trim_matches('"');
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    s.rsplit_once(':')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        m
    }

    #[test]
    fn only_trusted_peers_name_the_client() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let xff = h(&[("x-forwarded-for", "203.0.113.9, 10.0.0.7")]);
        assert_eq!(
            client_ip(proxy, &xff, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // an untrusted peer's header is ignored
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_ip(stranger, &xff, &trusted), stranger);
        // no trusted proxies configured: ignored
        assert_eq!(client_ip(proxy, &xff, &[]), proxy);
        // a spoofed left-most entry does not win over the real client
        let spoof = h(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9")]);
        assert_eq!(
            client_ip(proxy, &spoof, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // RFC 7239 Forwarded, IPv6 with port
        let fwd = h(&[(
            "forwarded",
            r#"for="[2001:db8::1]:4711";proto=https, for=10.0.0.9"#,
        )]);
        assert_eq!(
            client_ip(proxy, &fwd, &trusted),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        let unknown = h(&[("forwarded", "for=unknown")]);
        assert_eq!(client_ip(proxy, &unknown, &trusted), proxy);
    }

    #[test]
    fn a_forward_from_an_untrusted_peer_is_marked() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "10.9.9.9".parse().unwrap();
        let xff = h(&[("x-forwarded-for", "203.0.113.9")]);
        let fwd = h(&[("forwarded", "for=203.0.113.9")]);
        assert!(!Forwarded::of(local, &xff, &trusted).by_untrusted_peer);
        assert!(Forwarded::of(other, &xff, &trusted).by_untrusted_peer);
        assert!(Forwarded::of(other, &fwd, &trusted).by_untrusted_peer);
        assert!(Forwarded::of(local, &xff, &[]).by_untrusted_peer);
        assert!(!Forwarded::of(other, &HeaderMap::new(), &trusted).by_untrusted_peer);
    }
}
