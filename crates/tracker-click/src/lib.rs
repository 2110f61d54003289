//! Click-first module (prototype, not shipped): the part of the tracker a landing needs
//! before anything else. On a page whose URL carries an affiliate code and whose visitor
//! holds no cookie for the tenant, it mints the CID, writes `trakdesk_cid`, sends the click
//! and hands the CID to the queued `click` callbacks; every other case (a cookie already
//! held, the mirror to restore, a landing already counted, no code) is left to the full
//! tracker, which then runs the `click` itself. The rules are tracker-core's
//! (`attribution::plan`, `attribution::server_cookie`, the cookie format, the query
//! parsing, the click body, the outbox entry): nothing is decided twice.
//!
//! Its shape is what keeps it small (docs/tracker.md, "Two modules"): **no allocator** — the
//! effects are written by tracker-core's writers (`json::Out`) straight into one fixed output
//! buffer, every other string is borrowed from the page's state; the page's state arrives
//! **pre-split** by the loader (the host from `location.hostname`, the first-party flag from
//! `URL#origin`, the time, 32 random bytes written into the module's memory); two coarse
//! imports: `g` reads one thing from the page (storage presence, or a cookie probe) and `a`
//! applies the whole list of effects in one call.

#![cfg_attr(target_arch = "wasm32", no_std)]

use clicktrail_tracker_core::attribution::{self, Model, Plan};
use clicktrail_tracker_core::cmd::{self, ClickBody, CookieSpec};
use clicktrail_tracker_core::cookie::{self, MIRROR_KEY};
use clicktrail_tracker_core::json::{self, Out};
use clicktrail_tracker_core::{outbox, time, url, uuid};

/// The attribution model the click module plans with. It only handles a visitor without a
/// cookie, for whom both models plan the same fresh click and both ask for the first-party
/// cookie (`data-attribution` decides between a repeat click's outcomes, the full tracker's
/// case): not reading the option keeps its parser out of the critical path (127 B br).
/// `tests::the_model_does_not_change_a_fresh_click` pins this.
const MODEL: Model = Model::Last;

/// Cookie lifetime until the collector tells the tenant's (60 days), as the full tracker.
pub const DEFAULT_LIFETIME: i64 = 60 * 86_400;

/// When the cookie written at `now_ms` expires (Unix seconds), as the callbacks' `expiredAt`
/// tells it: the full tracker's default lifetime, clamped to `time::format`'s last second
/// (9999-12-31T23:59:59Z, as far as `Date#toISOString` writes four-digit years).
pub fn expiry_secs(now_ms: u64) -> u64 {
    (now_ms / 1000 + DEFAULT_LIFETIME as u64).min(time::LAST)
}

/// Bytes of each buffer (the page's state, an answer, the effects, the click's body). A page
/// whose state or effects do not fit is left to the full tracker.
pub const CAP: usize = 64 * 1024;

/// What the page hands over: one NUL-separated string, in this order (see [`Input::parse`]),
/// then the arguments of `r` (time, first-party flag) and the random bytes.
pub struct Input<'a> {
    pub tenant: &'a str,
    /// `data-param`, a comma list ("" = `aff`).
    pub params: &'a str,
    /// `data-cookie-domain`.
    pub cookie_domain: &'a str,
    pub endpoint: &'a str,
    pub href: &'a str,
    pub referrer: &'a str,
    /// `document.cookie`.
    pub cookies: &'a str,
    /// `location.hostname` (lowercase, as the browser gives it).
    pub host: &'a str,
    pub now_ms: u64,
    /// The endpoint's origin is the page's (`URL#origin`, compared by the loader).
    pub first_party: bool,
    /// 16 bytes for the CID, 16 for the click's event id.
    pub random: [u8; 32],
    /// Only decide (a single-page app's move): a case with a code is the full tracker's,
    /// which counts the move; nothing is written, probed or sent.
    pub check: bool,
}

impl<'a> Input<'a> {
    /// The NUL-separated fields; `None` when some are missing.
    pub fn parse(
        s: &'a str,
        now_ms: u64,
        first_party: bool,
        random: [u8; 32],
        check: bool,
    ) -> Option<Self> {
        // one loop over the fields (a call each inlined eight `next`s: 0.4 KB raw)
        let mut fields = url::split_ascii(s, 0);
        let mut f = [""; 8];
        for slot in &mut f {
            *slot = fields.next()?;
        }
        let [tenant, params, cookie_domain, endpoint, href, referrer, cookies, host] = f;
        Some(Input {
            tenant,
            params,
            cookie_domain,
            endpoint,
            href,
            referrer,
            cookies,
            host,
            now_ms,
            first_party,
            random,
            check,
        })
    }
}

/// What the page reads on request (`g`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Read {
    /// Whether localStorage holds the key.
    Local = 1,
    /// Whether sessionStorage holds the key.
    Session = 2,
    /// Writes the cookie string given as key, then answers `document.cookie`.
    CookieProbe = 3,
}

/// The module's answer to the loader.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Done {
    /// Nothing to do here (no code and a mirror or an outbox held; a code with a cookie held,
    /// or one that needs decoding): the full tracker runs the `click` in idle time.
    Later = 0,
    /// Cookie written, click sent, callbacks run.
    Clicked = 1,
    /// A case for the full tracker (cookie held, mirror, counted landing, a state too large):
    /// load it at once.
    Full = 2,
    /// No code and nothing held: the full tracker waits until the page needs it.
    Idle = 3,
    /// No code, a cookie held and no events to send: the full tracker waits until the page
    /// needs it, a CID field included (the loader starts it in idle time when a queued `click`
    /// has a callback, which gets the CID).
    Held = 5,
}

/// Text written into a fixed slice: no allocator, no growth. What does not fit is not
/// written and marks the buffer full (the module then writes nothing at all).
pub struct Buf<'a> {
    bytes: &'a mut [u8],
    len: usize,
    full: bool,
}

impl<'a> Buf<'a> {
    pub fn new(bytes: &'a mut [u8]) -> Self {
        Buf {
            bytes,
            len: 0,
            full: false,
        }
    }
    /// The text written; `None` when something did not fit.
    pub fn text(&self) -> Option<&str> {
        let b = self.bytes.get(..self.len).filter(|_| !self.full)?;
        // SAFETY: only whole `&str`s are copied in (`push_str` writes all of one or nothing).
        Some(unsafe { core::str::from_utf8_unchecked(b) })
    }
    fn clear(&mut self) {
        self.len = 0;
    }
}

impl Out for Buf<'_> {
    fn push_str(&mut self, s: &str) {
        match self.bytes.get_mut(self.len..self.len + s.len()) {
            Some(d) => {
                d.copy_from_slice(s.as_bytes());
                self.len += s.len();
            }
            None => self.full = true,
        }
    }
    fn last(&self) -> Option<u8> {
        self.bytes.get(self.len.checked_sub(1)?).copied()
    }
}

/// Effects, applied in order by the page, each `op`, `a`, `b` (NUL-separated): `c` cookie,
/// `o` outbox (key, a JSON array of entries to append to the stored array), `p` POST (url,
/// body), `k` callbacks (cid, expiry in Unix seconds: see [`expiry_secs`]), `s` session storage (key, value), `h` hand-over
/// (event id, created ms: the full tracker adopts the POST in flight).
fn op(out: &mut Buf, op: &str) {
    if out.len > 0 {
        out.push('\0');
    }
    out.push_str(op);
    out.push('\0');
}

// One copy each of tracker-core's writers the module calls more than once (they are
// `#[inline(always)]` for the full tracker, which calls each once).
#[inline(never)]
fn attributes(out: &mut Buf, max_age: u64, domain: Option<&str>, secure: bool) {
    cookie::push_attributes(out, max_age, domain, secure)
}
#[inline(never)]
fn landing_key(out: &mut Buf, tenant: &str, landing: &str) {
    attribution::push_landing_key(out, tenant, landing)
}
#[inline(never)]
fn v4(out: &mut Buf, r: &[u8; 32], at: usize) {
    let mut h = [0; 16];
    for (i, x) in h.iter_mut().enumerate() {
        *x = r.get(at + i).copied().unwrap_or(0);
    }
    uuid::push_v4(out, h)
}

const PROBE: &str = "clicktrail_probe";

fn has_probe(all: &str) -> bool {
    cookie::find(all, PROBE).is_some()
}

fn any(_: &str) -> bool {
    true
}

/// The click-first decision and its effects, written into `out` (`body`: room for the click's
/// body, `scratch`: for the configured cookie domain, lowercased). `read(what, key, check)`
/// answers `check` of what the page holds (`false` when it holds nothing).
pub fn run(
    inp: &Input,
    out: &mut Buf,
    body: &mut Buf,
    scratch: &mut [u8],
    mut read: impl FnMut(Read, &str, fn(&str) -> bool) -> bool,
) -> Done {
    if !cookie::valid_tenant(inp.tenant) {
        return Done::Full;
    }
    let landing = url::split_ascii(inp.href, b'#').next().unwrap_or(inp.href);
    let search = landing
        .get(url::find_ascii(landing, b'?').unwrap_or(landing.len())..)
        .unwrap_or("");
    let mut names = [""; url::MAX_PARAMS];
    let found = url::affiliate_code_with(
        search,
        url::param_names(inp.params, &mut names),
        url::undecoded,
    );
    // what the visitor holds is the full tracker's: any `trakdesk_cid` (this tenant's: a
    // repeat click waits for the collector's answer; another tenant's: rare, and reading it
    // needs the JSON reader), a mirror to restore, events in the outbox to send
    let cookie = cookie::find(inp.cookies, cookie::NAME).is_some();
    let code = match found {
        Ok(code)
            if !cookie
                && !read(Read::Local, MIRROR_KEY, any)
                && !read(Read::Local, outbox::KEY, any) =>
        {
            code
        }
        Ok(_) => return Done::Full,
        // No code: without events to send, the full tracker has nothing to do until the page
        // needs it (a call, a navigation, a CID field when a cookie is held), unless a mirror
        // restores a lost cookie. No percent-decoder here: a `%` may hide a code or its
        // parameter's name, which the full tracker, in idle time, decodes
        Err(url::CodeError::Absent)
            if url::find_ascii(search, b'%').is_none() && !read(Read::Local, outbox::KEY, any) =>
        {
            return if cookie {
                Done::Held
            } else if read(Read::Local, MIRROR_KEY, any) {
                Done::Later
            } else {
                Done::Idle
            };
        }
        Err(_) => return Done::Later,
    };
    if inp.check {
        return Done::Full;
    }
    out.clear();
    landing_key(out, inp.tenant, landing);
    let counted = out.text().is_some_and(|key| read(Read::Session, key, any));
    if attribution::plan(MODEL, Some(code), false, None, counted) != Plan::Fresh {
        return Done::Full;
    }
    let (mut cid, mut id) = ([0u8; 36], [0u8; 36]);
    let (mut cid, mut id) = (Buf::new(&mut cid), Buf::new(&mut id));
    v4(&mut cid, &inp.random, 0);
    v4(&mut id, &inp.random, 16);
    let (Some(cid), Some(id)) = (cid.text(), id.text()) else {
        return Done::Full;
    };
    // cookie attributes: the configured Domain, else the widest the browser accepts
    let secure = inp.href.starts_with("https:");
    let domain = match cookie::configured_domain_in(inp.cookie_domain) {
        Some(d) => {
            let Some(low) = scratch.get_mut(..d.len()) else {
                return Done::Full;
            };
            low.copy_from_slice(d.as_bytes());
            low.make_ascii_lowercase();
            // SAFETY: `configured_domain_in` accepts ASCII letters, digits, `.` and `-` only.
            Some(unsafe { core::str::from_utf8_unchecked(low) })
        }
        None => cookie::domain_candidates_in(inp.host).find(|cand| {
            let mut probe = |value: &str, max_age| {
                out.clear();
                out.push_str(PROBE);
                out.push('=');
                out.push_str(value);
                attributes(out, max_age, Some(cand), secure);
                out.text()
                    .is_some_and(|set| read(Read::CookieProbe, set, has_probe))
            };
            let ok = probe("1", 60);
            if ok {
                probe("", 0);
            }
            ok
        }),
    };
    out.clear();
    let max_age = DEFAULT_LIFETIME as u64;
    if domain.is_some() {
        // the host-only copy an earlier page may have written
        op(out, "c");
        out.push_str(cookie::NAME);
        out.push('=');
        attributes(out, 0, None, secure);
        out.push('\0');
    }
    op(out, "c");
    out.push_str(cookie::NAME);
    out.push('=');
    cookie::push_encode(out, inp.tenant, cid);
    attributes(out, max_age, domain, secure);
    out.push('\0');
    let spec = CookieSpec {
        domain,
        secure,
        affitor: false,
        partnerstack: false,
    };
    let fresh = Plan::Fresh;
    let server = attribution::server_cookie(inp.first_party, MODEL, &fresh, code, None);
    body.clear();
    cmd::push_click_body(
        body,
        &ClickBody {
            tenant: inp.tenant,
            event_id: id,
            aff: code,
            cid,
            url: inp.href,
            referrer: inp.referrer,
            cookie: server.then_some(&spec),
        },
    );
    let Some(body) = body.text() else {
        return Done::Full;
    };
    // the outbox entry first (the full tracker's key and format): a click whose POST fails,
    // or whose page closes before the answer, is retried with the same event id by the full
    // tracker (now, or on a later page); the collector drops the duplicate
    op(out, "o");
    out.push_str(outbox::KEY);
    out.push_str("\0[");
    outbox::push_entry(
        out,
        &outbox::Entry {
            id,
            path: cmd::CLICK,
            body,
            created: inp.now_ms,
            attempts: 0,
            next: inp.now_ms,
            fresh: true,
        },
    );
    out.push(']');
    op(out, "p");
    out.push_str(inp.endpoint);
    out.push_str(cmd::CLICK);
    out.push('\0');
    out.push_str(body);
    // the expiry in Unix seconds: the loader formats it (`Date#toISOString`, RFC 3339 as
    // `time::format` writes it: 233 B br less wasm than `time::push_format`)
    op(out, "k");
    out.push_str(cid);
    out.push('\0');
    json::push_u64(out, expiry_secs(inp.now_ms));
    // storage after the cookie and the request: the landing counted (the localStorage
    // mirror of the cookie is the full tracker's, written when it adopts this click)
    op(out, "s");
    landing_key(out, inp.tenant, landing);
    out.push_str("\x001");
    op(out, "h");
    out.push_str(id);
    out.push('\0');
    json::push_u64(out, inp.now_ms);
    if out.text().is_none() {
        return Done::Full;
    }
    Done::Clicked
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::*;
    use core::cell::UnsafeCell;

    #[link(wasm_import_module = "c")]
    extern "C" {
        /// Reads `what` for key `(ptr, len)`: -1 when the page holds nothing, else the length
        /// of the answer written into [`q`]'s buffer (0 for storage: presence is the answer).
        fn g(what: u32, ptr: *const u8, len: usize) -> i32;
        /// Applies the NUL-separated effects at `(ptr, len)`.
        fn a(ptr: *const u8, len: usize);
    }

    /// A static buffer (zero bytes in the module: it is not in the data section).
    struct Static<const N: usize>(UnsafeCell<[u8; N]>);
    // SAFETY: wasm32 without atomics has one thread.
    unsafe impl<const N: usize> Sync for Static<N> {}
    impl<const N: usize> Static<N> {
        const fn new() -> Self {
            Static(UnsafeCell::new([0; N]))
        }
        #[allow(clippy::mut_from_ref)]
        fn get(&self) -> &mut [u8; N] {
            // SAFETY: one thread, and each buffer has one user at a time (the page writes
            // between calls, `r` reads and writes during its call).
            unsafe { &mut *self.0.get() }
        }
    }

    static IN: Static<CAP> = Static::new();
    static ANS: Static<CAP> = Static::new();
    static OUT: Static<CAP> = Static::new();
    static BODY: Static<CAP> = Static::new();
    static LOW: Static<256> = Static::new();
    static RND: Static<32> = Static::new();

    /// Where the page writes its state (at most `n` bytes); null when `n` is over [`CAP`].
    #[no_mangle]
    pub extern "C" fn b(n: usize) -> *mut u8 {
        if n > CAP {
            return core::ptr::null_mut();
        }
        IN.get().as_mut_ptr()
    }

    /// Where the page writes an answer of `g` (at most `n` bytes); null when over [`CAP`].
    #[no_mangle]
    pub extern "C" fn q(n: usize) -> *mut u8 {
        if n > CAP {
            return core::ptr::null_mut();
        }
        ANS.get().as_mut_ptr()
    }

    /// Where the page writes 32 random bytes (`crypto.getRandomValues`).
    #[no_mangle]
    pub extern "C" fn n() -> *mut u8 {
        RND.get().as_mut_ptr()
    }

    /// Runs the click-first decision on the page state the page wrote into [`b`]'s buffer
    /// (`len` bytes), at `now` (ms), `first_party` 1 or 0, `check` 1: only decide
    /// ([`Input::check`]). Returns [`Done`].
    #[no_mangle]
    pub extern "C" fn r(len: usize, now: f64, first_party: u32, check: u32) -> u32 {
        let Some(s) = IN.get().get(..len) else {
            return Done::Full as u32;
        };
        // SAFETY: the page writes with `TextEncoder#encodeInto`, which only writes whole
        // UTF-8 sequences (lone surrogates become U+FFFD), and `len` is what it wrote.
        let s = unsafe { core::str::from_utf8_unchecked(s) };
        let Some(inp) = Input::parse(s, now as u64, first_party == 1, *RND.get(), check == 1)
        else {
            return Done::Full as u32;
        };
        let (mut out, mut body) = (Buf::new(OUT.get()), Buf::new(BODY.get()));
        let done = run(&inp, &mut out, &mut body, LOW.get(), |what, key, check| {
            // SAFETY: the import reads `len` bytes at `ptr`, which `key` keeps alive.
            let got = unsafe { g(what as u32, key.as_ptr(), key.len()) };
            let answer = usize::try_from(got).ok().and_then(|n| ANS.get().get(..n));
            // SAFETY: as `r`'s input (`encodeInto`).
            answer.is_some_and(|v| check(unsafe { core::str::from_utf8_unchecked(v) }))
        });
        if done == Done::Clicked {
            if let Some(e) = out.text() {
                // SAFETY: as above.
                unsafe { a(e.as_ptr(), e.len()) };
            }
        }
        done as u32
    }

    /// No heap: tracker-core links `alloc`, which needs a global allocator, but nothing this
    /// module calls allocates (the wasm has no allocator code). Should something ever ask,
    /// the answer is "out of memory", which traps: the loader leaves the click to the full
    /// tracker.
    struct NoHeap;
    // SAFETY: never hands out memory.
    unsafe impl core::alloc::GlobalAlloc for NoHeap {
        unsafe fn alloc(&self, _: core::alloc::Layout) -> *mut u8 {
            core::ptr::null_mut()
        }
        unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {}
    }
    #[global_allocator]
    static HEAP: NoHeap = NoHeap;

    /// A panic traps; the loader catches it and leaves the click to the full tracker.
    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        core::arch::wasm32::unreachable()
    }
}

#[cfg(test)]
mod tests;
