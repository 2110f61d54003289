//! Click-first module (prototype, not shipped): the part of the tracker a landing needs
//! before anything else. On a page whose URL carries an affiliate code and whose visitor
//! holds no cookie for the tenant, it mints the CID, writes `trakdesk_cid`, sends the click
//! and hands the CID to the queued `click` callbacks; every other case (a cookie already
//! held, the mirror to restore, a landing already counted, no code) is left to the full
//! tracker, which then runs the `click` itself. The rules are tracker-core's
//! (`attribution::plan`, `attribution::server_cookie`, the cookie format, the query
//! parsing, the click body): nothing is decided twice.
//!
//! Two coarse imports instead of web-sys: `g` reads one thing from the page (storage, or a
//! cookie probe) and `a` applies the whole list of effects in one call. The page's state
//! arrives in one string (`run`'s argument, NUL-separated fields, see [`Input`]).

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use clicktrail_tracker_core::attribution::{self, Model, Plan};
use clicktrail_tracker_core::cmd::{self, CookieSpec};
use clicktrail_tracker_core::cookie::{self, MIRROR_KEY};
use clicktrail_tracker_core::{outbox, time, url, uuid};

/// Cookie lifetime until the collector tells the tenant's (60 days), as the full tracker.
pub const DEFAULT_LIFETIME: i64 = 60 * 86_400;

/// What the page hands over, one NUL-separated string, in this order.
pub struct Input<'a> {
    pub tenant: &'a str,
    /// `data-param`, a comma list ("" = `aff`).
    pub params: &'a str,
    /// `data-attribution`.
    pub attribution: &'a str,
    /// `data-cookie-domain`.
    pub cookie_domain: &'a str,
    pub endpoint: &'a str,
    pub href: &'a str,
    pub referrer: &'a str,
    /// `document.cookie`.
    pub cookies: &'a str,
    pub now_ms: u64,
    /// 32 random bytes as 64 hex digits (the CID and the event id).
    pub random: &'a str,
}

impl<'a> Input<'a> {
    pub fn parse(s: &'a str) -> Option<Input<'a>> {
        let mut f = url::split_ascii(s, 0);
        let mut next = || f.next();
        Some(Input {
            tenant: next()?,
            params: next()?,
            attribution: next()?,
            cookie_domain: next()?,
            endpoint: next()?,
            href: next()?,
            referrer: next()?,
            cookies: next()?,
            now_ms: clicktrail_tracker_core::json::parse_u64(next()?)?,
            random: next()?,
        })
    }
}

/// What the page reads on request (`g`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Read {
    Local = 1,
    Session = 2,
    /// Writes the cookie string given as key, then returns `document.cookie`.
    CookieProbe = 3,
}

/// The module's answer to the loader.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Done {
    /// Nothing to do here (no code): the full tracker runs the `click` in idle time.
    Later = 0,
    /// Cookie written, click sent, callbacks run.
    Clicked = 1,
    /// A case for the full tracker (cookie held, mirror, counted landing): load it at once.
    Full = 2,
}

/// Effects, applied in order by the page: `c` cookie, `o` outbox (key, a JSON array of
/// entries to append to the stored array), `p` POST (url, body), `k` callbacks (cid,
/// expiredAt), `s`/`l` session/local storage (key, value), `h` hand-over (event id, created
/// ms: the full tracker adopts the POST in flight).
/// Written straight into one NUL-separated string (no `String` per field: 189 B raw, 78 B br
/// less wasm).
#[derive(Default)]
pub struct Effects(String);

impl Effects {
    fn push(&mut self, op: &str, a: &str, b: &str) {
        for f in [op, a, b] {
            if !self.0.is_empty() {
                self.0.push('\0');
            }
            self.0.push_str(f);
        }
    }
    /// NUL-joined, as the page reads them.
    pub fn encode(&self) -> &str {
        &self.0
    }
    /// The fields, in order (op, a, b, op, …).
    pub fn parts(&self) -> Vec<&str> {
        url::split_ascii(&self.0, 0).collect()
    }
}

fn hex16(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        let h = |c: u8| (c as char).to_digit(16);
        *o = (h(*b.get(2 * i)?)? * 16 + h(*b.get(2 * i + 1)?)?) as u8;
    }
    Some(out)
}

/// The click-first decision and its effects. `read` answers the page reads.
pub fn run(inp: &Input, mut read: impl FnMut(Read, &str) -> Option<String>) -> (Done, Effects) {
    let mut fx = Effects::default();
    if !cookie::valid_tenant(inp.tenant) {
        return (Done::Full, fx);
    }
    let landing = url::split_ascii(inp.href, b'#').next().unwrap_or(inp.href);
    let search = landing.get(url::find_ascii(landing, b'?').unwrap_or(landing.len())..);
    let names = url::param_names(inp.params);
    // no percent-decoder here: a code (or its parameter's name) that needs decoding is no
    // code for this module, and the full tracker, started in idle time, does that click
    let Ok(code) = url::affiliate_code_with(search.unwrap_or(""), &names, url::undecoded) else {
        return (Done::Later, fx);
    };
    // any `trakdesk_cid` (this tenant's: a repeat click waits for the collector's answer;
    // another tenant's: rare, and reading it needs the JSON reader) or a mirror to restore:
    // the full tracker's case
    if cookie::find(inp.cookies, cookie::NAME).is_some() || read(Read::Local, MIRROR_KEY).is_some()
    {
        return (Done::Full, fx);
    }
    let key = attribution::landing_key(inp.tenant, landing);
    let counted = read(Read::Session, &key).is_some();
    let model = Model::parse(Some(inp.attribution));
    if attribution::plan(model, Some(&code), false, None, counted) != Plan::Fresh {
        return (Done::Full, fx);
    }
    let (Some(a), Some(b)) = (
        inp.random.get(..32).and_then(hex16),
        inp.random.get(32..64).and_then(hex16),
    ) else {
        return (Done::Full, fx);
    };
    let (cid, id) = (uuid::v4_from_bytes(a), uuid::v4_from_bytes(b));
    let now = (inp.now_ms / 1000) as i64;
    let exp = time::format(now + DEFAULT_LIFETIME);
    // cookie attributes: the configured Domain, else the widest the browser accepts
    let secure = inp.href.starts_with("https:");
    let host = url::origin(inp.href).unwrap_or_default();
    let host = host
        .get(url::find_ascii(&host, b':').map_or(0, |i| i + 3)..)
        .unwrap_or("");
    let host = url::split_ascii(host, b':').next().unwrap_or("");
    let domain = cookie::configured_domain(inp.cookie_domain).or_else(|| {
        cookie::domain_candidates(host).into_iter().find(|cand| {
            let set = cookie::set_string("clicktrail_probe", "1", 60, Some(cand), secure);
            let ok = read(Read::CookieProbe, &set)
                .is_some_and(|all| cookie::find(&all, "clicktrail_probe").is_some());
            if ok {
                let unset = cookie::set_string("clicktrail_probe", "", 0, Some(cand), secure);
                let _ = read(Read::CookieProbe, &unset);
            }
            ok
        })
    });
    let value = cookie::encode(inp.tenant, &cid);
    if domain.is_some() {
        fx.push(
            "c",
            &cookie::set_string(cookie::NAME, "", 0, None, secure),
            "",
        );
    }
    let max_age = DEFAULT_LIFETIME as u64;
    let set = cookie::set_string(cookie::NAME, &value, max_age, domain.as_deref(), secure);
    fx.push("c", &set, "");
    let first_party = url::origin(inp.endpoint).is_some_and(|o| Some(o) == url::origin(inp.href));
    let spec =
        attribution::server_cookie(first_party, model, &Plan::Fresh, &code, None).then(|| {
            CookieSpec {
                domain: domain.clone(),
                secure,
                affitor: false,
                partnerstack: false,
            }
        });
    let body = cmd::click_body(
        inp.tenant,
        &id,
        &code,
        &cid,
        inp.href,
        inp.referrer,
        spec.as_ref(),
    );
    // the outbox entry first (the full tracker's key and format): a click whose POST fails,
    // or whose page closes before the answer, is retried with the same event id by the full
    // tracker (now, or on a later page); the collector drops the duplicate
    let entry = outbox::Entry {
        id: id.clone(),
        path: String::from(cmd::CLICK),
        body: body.clone(),
        created: inp.now_ms,
        attempts: 0,
        next: inp.now_ms,
        fresh: true,
    };
    fx.push("o", outbox::KEY, &outbox::encode(&[entry]));
    let mut target = String::from(inp.endpoint);
    target.push_str(cmd::CLICK);
    fx.push("p", &target, &body);
    fx.push("k", &cid, &exp);
    // storage after the cookie and the request: the landing counted (the localStorage
    // mirror of the cookie is the full tracker's, written when it adopts this click)
    fx.push("s", &key, "1");
    let mut created = String::new();
    clicktrail_tracker_core::json::push_u64(&mut created, inp.now_ms);
    fx.push("h", &id, &created);
    (Done::Clicked, fx)
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::*;
    use core::cell::RefCell;

    #[link(wasm_import_module = "c")]
    extern "C" {
        /// Reads `what` for key `(ptr, len)`; the answer is written into [`b`]'s buffer;
        /// returns its length, or -1 for none.
        fn g(what: u32, ptr: *const u8, len: usize) -> i32;
        /// Applies the NUL-separated effects at `(ptr, len)`.
        fn a(ptr: *const u8, len: usize);
    }

    struct Buf(RefCell<Vec<u8>>);
    // SAFETY: wasm32 without atomics has one thread.
    unsafe impl Sync for Buf {}
    static BUF: Buf = Buf(RefCell::new(Vec::new()));

    /// A buffer of `n` bytes the page writes into (its pointer); the next `g`/`r` reads it.
    #[no_mangle]
    pub extern "C" fn b(n: usize) -> *mut u8 {
        let mut v = BUF.0.borrow_mut();
        v.clear();
        v.resize(n, 0);
        v.as_mut_ptr()
    }

    fn take(n: usize) -> Option<String> {
        let mut v = core::mem::take(&mut *BUF.0.borrow_mut());
        v.truncate(n);
        // SAFETY: the page writes with `TextEncoder#encodeInto`, which only writes whole
        // UTF-8 sequences (lone surrogates become U+FFFD), and `n` is what it wrote.
        Some(unsafe { String::from_utf8_unchecked(v) })
    }

    /// Runs the click-first decision on the page state the page wrote into the buffer
    /// (`n` bytes). Returns [`Done`].
    #[no_mangle]
    pub extern "C" fn r(n: usize) -> u32 {
        let Some(s) = take(n) else {
            return Done::Full as u32;
        };
        let Some(inp) = Input::parse(&s) else {
            return Done::Full as u32;
        };
        let (done, fx) = run(&inp, |what, key| {
            // SAFETY: the import reads `len` bytes at `ptr`, which `key` keeps alive.
            let got = unsafe { g(what as u32, key.as_ptr(), key.len()) };
            usize::try_from(got).ok().and_then(take)
        });
        if done == Done::Clicked {
            let e = fx.encode();
            // SAFETY: as above.
            unsafe { a(e.as_ptr(), e.len()) };
        }
        done as u32
    }

    #[global_allocator]
    static ALLOC: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
        // SAFETY: wasm32-unknown-unknown without atomics is single-threaded.
        unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

    /// A panic traps; the loader catches it and leaves the click to the full tracker.
    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        core::arch::wasm32::unreachable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RND: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn page<'a>(href: &'a str, cookies: &'a str) -> Input<'a> {
        Input {
            tenant: "demo",
            params: "",
            attribution: "",
            cookie_domain: "",
            endpoint: "https://ct.example",
            href,
            referrer: "https://blog.example/",
            cookies,
            now_ms: 1_700_000_000_000,
            random: RND,
        }
    }

    fn nothing(_: Read, _: &str) -> Option<String> {
        None
    }

    #[test]
    fn fresh_landing_writes_the_cookie_first_then_sends_calls_back_and_stores() {
        let (done, fx) = run(&page("https://shop.example/?aff=alice#top", ""), nothing);
        assert_eq!(done, Done::Clicked);
        let ops: Vec<&str> = fx.parts().chunks(3).map(|c| c[0]).collect();
        // the probe found no domain (the reader answers nothing): one host-only cookie
        assert_eq!(ops, ["c", "o", "p", "k", "s", "h"]);
        let cid = uuid::v4_from_bytes(
            *b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
        );
        assert!(fx.parts()[1].starts_with(&alloc::format!(
            "trakdesk_cid={{\"tenantId\":\"demo\",\"cid\":\"{cid}\"}}; Path=/; Max-Age=5184000"
        )));
        assert_eq!(fx.parts()[7], "https://ct.example/tracking/click/v1");
        let body = fx.parts()[8];
        assert!(body.contains("\"aff\":\"alice\"") && body.contains(&cid));
        assert!(
            !body.contains("\"cookie\""),
            "third-party endpoint: no Set-Cookie asked"
        );
        assert_eq!(fx.parts()[10], cid);
        assert_eq!(
            fx.parts()[11],
            time::format(1_700_000_000 + DEFAULT_LIFETIME)
        );
        assert_eq!(
            fx.parts()[13],
            "clicktrail_landing:demo:https://shop.example/?aff=alice"
        );
    }

    #[test]
    fn the_click_is_in_the_outbox_before_it_is_sent() {
        let (_, fx) = run(&page("https://shop.example/?aff=alice", ""), nothing);
        assert_eq!(fx.parts()[4], outbox::KEY);
        let entries = outbox::decode(fx.parts()[5]);
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!(e.path, cmd::CLICK);
        assert_eq!(
            e.body,
            fx.parts()[8],
            "the entry holds the body the POST sends"
        );
        assert!(e.body.contains(&alloc::format!("\"eventId\":\"{}\"", e.id)));
        assert_eq!(
            fx.parts()[16],
            e.id,
            "the hand-over names the same event id"
        );
        assert_eq!(
            (e.created, e.next, e.attempts, e.fresh),
            (1_700_000_000_000, 1_700_000_000_000, 0, true)
        );
    }

    #[test]
    fn first_party_mode_asks_the_collector_for_the_cookie() {
        let mut p = page("https://shop.example/p?aff=alice", "");
        p.endpoint = "https://shop.example/_ct";
        let (_, fx) = run(&p, nothing);
        assert!(fx.parts()[8].contains("\"cookie\":{\"domain\":null,\"secure\":true"));
    }

    #[test]
    fn the_widest_domain_the_browser_accepts_is_used() {
        let mut probes = Vec::new();
        let (_, fx) = run(
            &page("https://www.shop.example/?aff=alice", ""),
            |what, key| {
                if what == Read::CookieProbe {
                    probes.push(String::from(key));
                    // the browser accepts shop.example
                    return Some(String::from(
                        if key.contains("Domain=shop.example") && key.contains("=1;") {
                            "clicktrail_probe=1"
                        } else {
                            ""
                        },
                    ));
                }
                None
            },
        );
        // widest first (from two labels up), then the probe cookie is expired again
        assert!(
            probes[0].contains("clicktrail_probe=1;") && probes[0].contains("Domain=shop.example")
        );
        assert!(probes[1].contains("clicktrail_probe=;") && probes[1].contains("Max-Age=0"));
        assert!(
            fx.parts()[1].starts_with("trakdesk_cid=; Path=/; Max-Age=0"),
            "host-only copy expired"
        );
        assert!(fx.parts()[4].ends_with("; Domain=shop.example; Secure"));
    }

    #[test]
    fn every_other_case_is_left_to_the_full_tracker() {
        let cookie =
            "trakdesk_cid={\"tenantId\":\"demo\",\"cid\":\"0a0b0c0d-0000-4000-8000-000000000000\"}";
        assert_eq!(
            run(&page("https://s.example/?aff=a", cookie), nothing).0,
            Done::Full
        );
        assert_eq!(run(&page("https://s.example/", ""), nothing).0, Done::Later);
        assert_eq!(
            run(&page("https://s.example/?aff=", ""), nothing).0,
            Done::Later
        );
        let mirror = |w: Read, _: &str| (w == Read::Local).then(|| String::from("{}"));
        assert_eq!(
            run(&page("https://s.example/?aff=a", ""), mirror).0,
            Done::Full
        );
        let counted = |w: Read, _: &str| (w == Read::Session).then(|| String::from("1"));
        assert_eq!(
            run(&page("https://s.example/?aff=a", ""), counted).0,
            Done::Full
        );
        let mut bad = page("https://s.example/?aff=a", "");
        bad.random = "zz";
        assert_eq!(run(&bad, nothing).0, Done::Full);
        bad = page("https://s.example/?aff=a", "");
        bad.tenant = "no spaces";
        assert_eq!(run(&bad, nothing).0, Done::Full);
    }

    #[test]
    fn hostile_page_state_never_panics() {
        for s in [
            "",
            "\0\0\0",
            "a\0b\0c\0d\0e\0f\0g\0h\0x\0y",
            "t\0\0\0\0\0\u{0}\0\0 1\0",
        ] {
            if let Some(inp) = Input::parse(s) {
                let _ = run(&inp, nothing);
            }
        }
        let inp = Input::parse(
            "demo\0aff,,ref\0first\0..\0::\0http://[::1]/?ref=%FF&aff=%E2%82\0\0;;\x001\0",
        )
        .unwrap();
        assert_eq!(
            run(&inp, nothing).0,
            Done::Later,
            "an undecodable code is no code"
        );
        let inp =
            Input::parse("demo\0ref\0first\0..\0::\0http://[::1]/?ref=x\0\0;;\x001\0").unwrap();
        assert_eq!(
            run(&inp, nothing).0,
            Done::Full,
            "no random bytes: nothing written"
        );
    }
}
