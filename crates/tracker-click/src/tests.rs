//! Native tests of the click module: its effects against tracker-core's own (allocating)
//! functions, every case it leaves to the full tracker, hostile page state, and buffers that
//! are too small.

use super::*;
use clicktrail_tracker_core::json::Value;

const NOW: u64 = 1_700_000_000_000;

fn rnd() -> [u8; 32] {
    core::array::from_fn(|i| i as u8)
}

fn page<'a>(href: &'a str, cookies: &'a str) -> Input<'a> {
    Input {
        tenant: "demo",
        params: "",
        cookie_domain: "",
        endpoint: "https://ct.example",
        href,
        referrer: "https://blog.example/",
        cookies,
        host: host_of(href),
        now_ms: NOW,
        first_party: false,
        random: rnd(),
        check: false,
    }
}

/// The host of an absolute URL, as `location.hostname` gives it.
fn host_of(href: &str) -> &str {
    let rest = href.split("://").nth(1).unwrap_or("");
    let end = rest.find(['/', '?', '#', ':']).unwrap_or(rest.len());
    &rest[..end]
}

fn nothing(_: Read, _: &str, _: fn(&str) -> bool) -> bool {
    false
}

/// Runs the module with buffers of `cap` bytes; the effects as (op, a, b) triples.
fn run_with(
    inp: &Input,
    cap: usize,
    read: impl FnMut(Read, &str, fn(&str) -> bool) -> bool,
) -> (Done, Vec<(String, String, String)>) {
    let (mut o, mut b, mut s) = (vec![0u8; cap], vec![0u8; cap], [0u8; 256]);
    let (mut out, mut body) = (Buf::new(&mut o), Buf::new(&mut b));
    let done = run(inp, &mut out, &mut body, &mut s, read);
    if done != Done::Clicked {
        return (done, Vec::new());
    }
    let text = out.text().expect("effects fit");
    let f: Vec<&str> = text.split('\0').collect();
    assert_eq!(f.len() % 3, 0, "whole triples: {text:?}");
    let fx = f
        .chunks(3)
        .map(|c| (c[0].to_string(), c[1].to_string(), c[2].to_string()))
        .collect();
    (done, fx)
}

fn go(inp: &Input) -> (Done, Vec<(String, String, String)>) {
    run_with(inp, CAP, nothing)
}

fn cid() -> String {
    uuid::v4_from_bytes(core::array::from_fn(|i| i as u8))
}

fn event_id() -> String {
    uuid::v4_from_bytes(core::array::from_fn(|i| i as u8 + 16))
}

#[test]
fn fresh_landing_writes_the_cookie_first_then_sends_calls_back_and_stores() {
    let (done, fx) = go(&page("https://shop.example/?aff=alice#top", ""));
    assert_eq!(done, Done::Clicked);
    let ops: Vec<&str> = fx.iter().map(|e| e.0.as_str()).collect();
    // the probe found no domain (the reader answers nothing): one host-only cookie
    assert_eq!(ops, ["c", "o", "p", "k", "s", "h"]);
    assert_eq!(
        fx[0].1,
        cookie::set_string(
            cookie::NAME,
            &cookie::encode("demo", &cid()),
            DEFAULT_LIFETIME as u64,
            None,
            true
        )
    );
    assert_eq!(fx[2].1, "https://ct.example/tracking/click/v1");
    assert_eq!(
        fx[2].2,
        cmd::click_body(
            "demo",
            &event_id(),
            "alice",
            &cid(),
            "https://shop.example/?aff=alice#top",
            "https://blog.example/",
            None
        ),
        "the body is tracker-core's click body; third-party endpoint: no Set-Cookie asked"
    );
    assert_eq!(
        (fx[3].1.as_str(), fx[3].2.as_str()),
        (cid().as_str(), "1705184000"),
        "the callbacks get the CID and the expiry (now + 60 days, seconds)"
    );
    assert_eq!(
        (fx[4].1.as_str(), fx[4].2.as_str()),
        (
            attribution::landing_key("demo", "https://shop.example/?aff=alice").as_str(),
            "1"
        )
    );
    assert_eq!(
        (fx[5].1.as_str(), fx[5].2.as_str()),
        (event_id().as_str(), "1700000000000")
    );
}

#[test]
fn the_click_is_in_the_outbox_before_it_is_sent_in_the_full_trackers_format() {
    let (_, fx) = go(&page("https://shop.example/?aff=alice", ""));
    assert_eq!(fx[1].1, outbox::KEY);
    let entry = outbox::Entry {
        id: event_id(),
        path: String::from(cmd::CLICK),
        body: fx[2].2.clone(),
        created: NOW,
        attempts: 0,
        next: NOW,
        fresh: true,
    };
    assert_eq!(
        fx[1].2,
        outbox::encode(core::slice::from_ref(&entry)),
        "written as the full tracker writes it"
    );
    assert_eq!(outbox::decode(&fx[1].2), [entry]);
    assert_eq!(fx[5].1, event_id(), "the hand-over names the same event id");
}

#[test]
fn first_party_mode_asks_the_collector_for_the_cookie() {
    let mut p = page("https://shop.example/p?aff=alice", "");
    p.endpoint = "https://shop.example/_ct";
    p.first_party = true;
    let (_, fx) = go(&p);
    assert!(fx[2]
        .2
        .ends_with(r#","cookie":{"domain":null,"secure":true,"affitor":false}}"#));
    assert_eq!(fx[2].1, "https://shop.example/_ct/tracking/click/v1");
}

/// The click module plans with one model ([`MODEL`]) because, for a visitor without a cookie,
/// tracker-core's rules give the same plan and the same first-party request under both.
#[test]
fn the_model_does_not_change_a_fresh_click() {
    for code in [None, Some("alice")] {
        for counted in [false, true] {
            let plan = |m| attribution::plan(m, code, false, None, counted);
            assert_eq!(plan(Model::First), plan(Model::Last));
            for first_party in [false, true] {
                let server =
                    |m| attribution::server_cookie(first_party, m, &plan(m), "alice", None);
                assert_eq!(server(Model::First), server(Model::Last));
            }
        }
    }
}

#[test]
fn the_widest_domain_the_browser_accepts_is_used() {
    let mut probes = Vec::new();
    let mut p = page("https://www.shop.example/?aff=alice", "");
    p.first_party = true;
    p.endpoint = "https://www.shop.example";
    let (_, fx) = run_with(&p, CAP, |what, key, check| {
        if what != Read::CookieProbe {
            return false; // no mirror, not counted
        }
        probes.push(String::from(key));
        // the browser accepts shop.example
        check(
            if key.contains("Domain=shop.example") && key.contains("=1;") {
                "a=b; clicktrail_probe=1"
            } else {
                "a=b"
            },
        )
    });
    // widest first (from two labels up), then the probe cookie is expired again
    assert_eq!(
        probes,
        [
            cookie::set_string("clicktrail_probe", "1", 60, Some("shop.example"), true),
            cookie::set_string("clicktrail_probe", "", 0, Some("shop.example"), true),
        ]
    );
    assert_eq!(
        fx[0].1,
        cookie::set_string(cookie::NAME, "", 0, None, true),
        "host-only copy expired"
    );
    assert!(fx[1].1.ends_with("; Domain=shop.example; Secure"));
    assert!(fx[3]
        .2
        .contains(r#""cookie":{"domain":"shop.example","secure":true"#));
}

#[test]
fn a_configured_domain_is_used_lowercased_without_a_probe() {
    let mut p = page("http://www.shop.example/?aff=alice", "");
    p.cookie_domain = " ..Shop.EXAMPLE ";
    let (_, fx) = run_with(&p, CAP, |what, _, _| {
        assert_ne!(what, Read::CookieProbe, "no probe with data-cookie-domain");
        false
    });
    assert_eq!(
        fx[1].1,
        cookie::set_string(
            cookie::NAME,
            &cookie::encode("demo", &cid()),
            DEFAULT_LIFETIME as u64,
            cookie::configured_domain(p.cookie_domain).as_deref(),
            false
        )
    );
    assert!(fx[1].1.ends_with("; Domain=shop.example"));
    // not a domain: the probe decides (here: nothing accepted, host-only)
    p.cookie_domain = "shop example";
    let mut probed = false;
    let (_, fx) = run_with(&p, CAP, |what, _, _| {
        probed |= what == Read::CookieProbe;
        false
    });
    assert!(probed);
    assert_eq!(fx[0].0, "c");
    assert!(!fx[0].1.contains("Domain="));
    // longer than the module's buffer for it: the full tracker's case
    let long = format!("{}.example", "a".repeat(300));
    p.cookie_domain = &long;
    assert_eq!(go(&p).0, Done::Full);
}

#[test]
fn data_param_names_the_parameters() {
    let mut p = page("https://s.example/?ref=bob&aff=alice", "");
    p.params = " ref , aff";
    assert!(go(&p).1[2].2.contains(r#""aff":"bob""#));
    p.params = ",, ,";
    assert!(
        go(&p).1[2].2.contains(r#""aff":"alice""#),
        "no name left: aff"
    );
}

#[test]
fn every_other_case_is_left_to_the_full_tracker() {
    let held = format!(
        "x=1; trakdesk_cid={}",
        cookie::encode("other", "0a0b0c0d-0000-4000-8000-000000000000")
    );
    assert_eq!(go(&page("https://s.example/?aff=a", &held)).0, Done::Full);
    // no code, nothing held: the full tracker only when the page needs it
    assert_eq!(go(&page("https://s.example/", "")).0, Done::Idle);
    assert_eq!(go(&page("https://s.example/?aff=", "")).0, Done::Idle);
    assert_eq!(go(&page("https://s.example/?utm=a&x", "x=1")).0, Done::Idle);
    // no code, a cookie held (any tenant's) and nothing to send: the full tracker only when
    // the page needs it (a CID field too)
    assert_eq!(go(&page("https://s.example/", &held)).0, Done::Held);
    let mine = format!(
        "trakdesk_cid={}",
        cookie::encode("demo", "0a0b0c0d-0000-4000-8000-000000000000")
    );
    assert_eq!(go(&page("https://s.example/?utm=a", &mine)).0, Done::Held);
    let with_mirror = |w: Read, k: &str, _: fn(&str) -> bool| w == Read::Local && k == MIRROR_KEY;
    assert_eq!(
        run_with(&page("https://s.example/", &mine), CAP, with_mirror).0,
        Done::Held
    );
    // no code, events to send or a mirror without its cookie: the full tracker in idle time
    let p = page("https://s.example/", "");
    for key in [MIRROR_KEY, outbox::KEY] {
        let holds = |w: Read, k: &str, _: fn(&str) -> bool| w == Read::Local && k == key;
        assert_eq!(run_with(&p, CAP, holds).0, Done::Later, "{key}");
    }
    let outbox_held = |w: Read, k: &str, _: fn(&str) -> bool| w == Read::Local && k == outbox::KEY;
    assert_eq!(
        run_with(&page("https://s.example/", &mine), CAP, outbox_held).0,
        Done::Later
    );
    // a `%` with a cookie held: the full tracker's decoder decides
    assert_eq!(
        go(&page("https://s.example/?utm=%20", &mine)).0,
        Done::Later
    );
    // a landing with events in the outbox: the full tracker at once
    let p = page("https://s.example/?aff=a", "");
    let outbox = |w: Read, k: &str, _: fn(&str) -> bool| w == Read::Local && k == outbox::KEY;
    assert_eq!(run_with(&p, CAP, outbox).0, Done::Full);
    // any `%` may hide a code: the full tracker's decoder decides
    assert_eq!(go(&page("https://s.example/?utm=%20", "")).0, Done::Later);
    // a code that needs decoding: the full tracker's decoder, in idle time
    assert_eq!(
        go(&page("https://s.example/?aff=al%69ce", "")).0,
        Done::Later
    );
    assert_eq!(
        go(&page("https://s.example/?a%66f=alice", "")).0,
        Done::Later
    );
    let p = page("https://s.example/?aff=a", "");
    let mirror = |w: Read, _: &str, _: fn(&str) -> bool| w == Read::Local;
    assert_eq!(run_with(&p, CAP, mirror).0, Done::Full);
    let counted = |w: Read, k: &str, _: fn(&str) -> bool| {
        w == Read::Session && k == "clicktrail_landing:demo:https://s.example/?aff=a"
    };
    assert_eq!(run_with(&p, CAP, counted).0, Done::Full);
    let mut bad = page("https://s.example/?aff=a", "");
    bad.tenant = "no spaces";
    assert_eq!(go(&bad).0, Done::Full);
}

#[test]
fn text_the_page_controls_is_escaped_as_tracker_core_escapes_it() {
    let mut p = page(
        "https://s.example/\u{e9}?q=\"\\\u{2028}&aff=\u{2603}<x>#\u{1}",
        "",
    );
    p.referrer = "https://r.example/\u{2029}\n\"";
    let (done, fx) = go(&p);
    assert_eq!(done, Done::Clicked);
    assert_eq!(
        fx[2].2,
        cmd::click_body(
            "demo",
            &event_id(),
            "\u{2603}<x>",
            &cid(),
            p.href,
            p.referrer,
            None
        )
    );
    // and it is JSON that reads back to the same text
    let body = clicktrail_tracker_core::json::parse(&fx[2].2).expect("JSON");
    assert_eq!(body.str_of("url"), Some(p.href));
    assert_eq!(body.str_of("referrer"), Some(p.referrer));
    assert!(matches!(
        clicktrail_tracker_core::json::parse(&fx[1].2),
        Some(Value::Arr(_))
    ));
}

#[test]
fn effects_that_do_not_fit_are_not_written_at_all() {
    let p = page("https://s.example/?aff=alice", "");
    let (_, fx) = go(&p);
    let need = fx
        .iter()
        .map(|(o, a, b)| o.len() + a.len() + b.len() + 3)
        .sum::<usize>()
        - 1;
    assert_eq!(
        run_with(&p, need, nothing).0,
        Done::Clicked,
        "exactly enough"
    );
    assert_eq!(
        run_with(&p, need - 1, nothing).0,
        Done::Full,
        "one byte short"
    );
    // a body (a long URL) over the buffer
    let long = format!("https://s.example/?aff=alice&x={}", "y".repeat(CAP));
    assert_eq!(go(&page(&long, "")).0, Done::Full);
}

#[test]
fn the_buffer_takes_whole_strings_only() {
    let mut b = [0u8; 4];
    let mut buf = Buf::new(&mut b);
    buf.push('a');
    buf.push('\u{e9}');
    assert_eq!(buf.text(), Some("a\u{e9}"));
    assert_eq!(buf.last(), Some(0xA9));
    buf.push_str("xy");
    assert_eq!(buf.text(), None, "full: nothing half-written is readable");
    let mut b = [0u8; 2];
    let mut buf = Buf::new(&mut b);
    buf.push('\u{2603}');
    assert_eq!(
        buf.text(),
        None,
        "a character that does not fit is not split"
    );
}

#[test]
fn hostile_page_state_never_panics() {
    assert!(Input::parse("", 0, false, rnd(), false).is_none());
    assert!(Input::parse("a\0b\0c", 0, false, rnd(), false).is_none());
    for s in [
        "\0\0\0\0\0\0\0\0",
        "a\0b\0c\0d\0e\0f\0g\0h\0i\0j\0k",
        "t\0\0\0\0\0\0\0\0",
        "demo\0aff,,ref\0first\0..\0http://[::1]/?ref=%FF&aff=%E2%82\0\0;;\0[::1]",
        "demo\0ref\0first\0..\0::\0?ref=x\0\0;;\0",
        "demo\0\0\0\0\0?aff=x\0\0\0.",
        "demo\0\0\0\0\0?aff=x\0\0\0..a..b..",
        "demo\0\0\0\0\0?aff=x\0\0trakdesk_cid\0a.b",
        "demo\0\0\0.\0\0https://x/?aff=\u{7f}\0\0\0x",
        "demo\0\u{e9},\u{2603}\0FIRST\0\u{e9}.example\0\u{e9}\0https://\u{e9}/?\u{2603}=1&aff=\u{e9}\0\u{e9}\0\u{e9}\0\u{e9}.\u{e9}",
    ] {
        for (fp, check) in [(false, false), (true, false), (false, true)] {
            if let Some(inp) = Input::parse(s, u64::MAX, fp, [0xff; 32], check) {
                for cap in [0, 1, 64, 300, CAP] {
                    let _ = run_with(&inp, cap, |_, _, check| check("clicktrail_probe=1"));
                }
            }
        }
    }
    let inp = Input::parse(
        "demo\0aff,,ref\0first\0..\0http://[::1]/?ref=%FF&aff=%E2%82\0\0;;\0[::1]",
        1,
        false,
        rnd(),
        false,
    )
    .unwrap();
    assert_eq!(go(&inp).0, Done::Later, "an undecodable code is no code");
    // the largest time: the expiry is clamped to the last second time::format writes
    let mut p = page("https://s.example/?aff=a", "");
    p.now_ms = u64::MAX;
    let (done, fx) = go(&p);
    assert_eq!(done, Done::Clicked);
    assert_eq!(fx[3].2, time::LAST.to_string());
    assert_eq!(time::format(time::LAST as i64), "9999-12-31T23:59:59Z");
    assert_eq!(time::format(time::LAST as i64 + 1), "9999-12-31T23:59:59Z");
}

#[test]
fn a_check_decides_without_writing_probing_or_sending() {
    let mine = format!(
        "trakdesk_cid={}",
        cookie::encode("demo", "0a0b0c0d-0000-4000-8000-000000000000")
    );
    let check = |href, cookies| Input {
        check: true,
        ..page(href, cookies)
    };
    let mut asked = Vec::new();
    let probe = |w: Read, k: &str, _: fn(&str) -> bool| {
        asked.push((w, k.to_string()));
        false
    };
    // a code: the full tracker's (it counts the move), and nothing written or probed
    assert_eq!(
        run_with(&check("https://s.example/?aff=bob", ""), CAP, probe).0,
        Done::Full
    );
    assert!(asked.iter().all(|(w, _)| *w == Read::Local), "{asked:?}");
    // no code: as a landing's decision
    assert_eq!(go(&check("https://s.example/next", "")).0, Done::Idle);
    assert_eq!(go(&check("https://s.example/next", &mine)).0, Done::Held);
    assert_eq!(
        go(&check("https://s.example/?aff=bob", &mine)).0,
        Done::Full
    );
}
