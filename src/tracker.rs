//! The tracker: configuration, state, the `trackdesk` dispatcher and its commands,
//! attribution, transport with the outbox, Affitor mode, SPA hooks.
//!
//! Rule for reentrancy: the state is only borrowed inside `with(..)` and page code
//! (callbacks, the page's functions) is never called while it is borrowed.

use crate::attribution::{self, Answer, CookieOp, Model, Plan};
use crate::cmd::{self, Command, Delivery};
use crate::cookie::{self, Mirror, MIRROR_KEY};
use crate::outbox::{self, Entry};
use crate::url::{self, CodeError};
use crate::web::params::{self, Config};
use crate::web::storage::{self, Area};
use crate::web::Part;
use crate::web::{self, cookies, dom, history, http, js};
use crate::{json, time};
use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::sync::atomic::{AtomicBool, Ordering};
use js_sys::Function;
use wasm_bindgen::prelude::*;

/// Cookie lifetime until the collector tells the tenant's (60 days).
const DEFAULT_LIFETIME: i64 = 60 * 86_400;
/// Browsers cap cookies at 400 days.
const MAX_LIFETIME: i64 = 400 * 86_400;

/// Who waits for a send's outcome.
enum Waiter {
    /// A `click` callback held until the collector decided (last-click, other affiliate).
    Click(String, Option<Function>),
    /// `signup` helpers: resolve/reject.
    Promise(Function, Function),
    /// A command callback called with the collector's answer.
    Answer(Function),
}

struct Job {
    tenant: String,
    cmd: Command,
    params: JsValue,
    cb: Option<Function>,
    waiter: Option<Waiter>,
}

struct State {
    cfg: Config,
    /// The endpoint is on the page's own origin (SPEC §16 first-party mode): click
    /// requests ask the collector to set the cookie with `Set-Cookie` (docs/wire.md).
    first_party: bool,
    consent: bool,
    /// Commands waiting for consent; a `click` with the URL it was given on (the landing
    /// with the code, even if the single-page app navigated before consent).
    held: Vec<(Job, Option<String>)>,
    /// The tenant the helpers (`signup`, `getCid`) use: the last one seen.
    tenant: Option<String>,
    click_tenants: Vec<String>,
    last_href: String,
    domain: Option<Option<String>>,
    inflight: Vec<String>,
    /// The outbox when localStorage is unavailable.
    mem: Vec<Entry>,
    use_mem: bool,
    timer: u64,
    waiters: Vec<(String, Waiter)>,
    /// (CID, affiliate code) generated on this page (fresh visits): only the click that
    /// generated a CID may remove it (a later bogus code never does).
    fresh: Vec<(String, String)>,
    known_cid: Option<String>,
    observing: bool,
    /// (tenant, creation ms of the latest click sent): see [`last_click`].
    last_clicks: Vec<(String, u64)>,
    /// Queued `trackdesk` calls replayed in a later task (see [`run_deferred`]).
    deferred: Vec<[JsValue; 4]>,
}

/// The page's tracker state (wasm32 is single-threaded).
struct Global(RefCell<Option<State>>);
// SAFETY: wasm32-unknown-unknown without atomics has one thread.
unsafe impl Sync for Global {}
static STATE: Global = Global(RefCell::new(None));

static STARTED: AtomicBool = AtomicBool::new(false);

fn with<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    let mut g = STATE.0.try_borrow_mut().ok()?;
    g.as_mut().map(f)
}

// ---------------------------------------------------------------- start

/// Starts the tracker (called once by the loader with the script tag's options).
/// Never throws; a second call (or a second copy of the script) does nothing.
#[wasm_bindgen]
pub fn start(config: JsValue) {
    if STARTED.swap(true, Ordering::SeqCst) {
        return;
    }
    let w = web::global();
    if js::get(&w, "__clicktrail").as_bool() == Some(true) {
        return;
    }
    js::set(&w, "__clicktrail", &JsValue::TRUE);
    let cfg = params::config(&config);
    js::set_debug(cfg.debug);
    js::log_v("start", &config);
    // SPEC §16 first-party mode: the endpoint is on the page's own origin
    let first_party = url::origin(&cfg.endpoint)
        .is_some_and(|o| Some(o) == url::origin(&web::location(Part::Origin)));
    let affitor = cfg.affitor.clone();
    let consent = !cfg.consent_required;
    let use_mem = !storage::available(Area::Local);
    if use_mem {
        js::log("no localStorage: outbox in memory");
    }
    {
        if let Ok(mut g) = STATE.0.try_borrow_mut() {
            *g = Some(State {
                cfg,
                first_party,
                consent,
                held: Vec::new(),
                tenant: affitor.clone(),
                click_tenants: Vec::new(),
                last_href: String::new(),
                domain: None,
                inflight: Vec::new(),
                mem: Vec::new(),
                use_mem,
                timer: 0,
                waiters: Vec::new(),
                fresh: Vec::new(),
                known_cid: None,
                observing: false,
                last_clicks: Vec::new(),
                deferred: Vec::new(),
            });
        }
    }
    // Start-up without long tasks: the cookie and the click run now (the queue up to its
    // last `click` / `consent`, Affitor's click); everything else runs in later tasks.
    install_dispatcher(&w);
    if let Some(t) = affitor {
        install_affitor(&w, &t);
    }
    history::task(install_hooks);
    history::task(start_outbox);
}

/// Later task: SPA navigation hooks and the `pagehide` flush.
fn install_hooks() {
    if let Err(e) = history::hook(on_navigate) {
        js::log_v("history hooks failed:", &e.into());
    }
    let _ = history::on("pagehide", on_pagehide);
}

/// Later task: prune the outbox (this and earlier pages) and send what is due.
fn start_outbox() {
    if with(|s| s.consent).unwrap_or(false) {
        update_outbox(|v| outbox::prune(v, web::now_ms()));
        flush_due();
    }
}

/// Later task: the queued commands after the last `click` / `consent`, in their order
/// (calls made meanwhile wait behind them).
fn run_deferred() {
    let calls = with(|s| core::mem::take(&mut s.deferred)).unwrap_or_default();
    for [t, c, p, cb] in calls {
        dispatch(t, c, p, cb);
    }
}

/// Test support: forget everything this page's tracker learnt (tenants, waiters,
/// held commands, in-memory outbox) without touching cookies or storage.
#[doc(hidden)]
pub fn reset_for_tests() {
    with(|s| {
        s.consent = !s.cfg.consent_required;
        s.held.clear();
        s.tenant = s.cfg.affitor.clone();
        s.click_tenants.clear();
        s.last_href.clear();
        s.domain = None;
        s.mem.clear();
        s.waiters.clear();
        s.fresh.clear();
        s.known_cid = None;
        s.last_clicks.clear();
        s.deferred.clear();
    });
}

fn install_dispatcher(w: &JsValue) {
    let f = js::func_m(
        Box::new(|t, c, p, cb| {
            page_call(t, c, p, cb);
            Ok(JsValue::UNDEFINED)
        }),
        js::QUEUE,
    );
    js::set(
        &f,
        "signup",
        &js::func_m(
            Box::new(|k, e, _, _| Ok(signup_promise(None, k, e))),
            js::PROMISE,
        ),
    );
    js::set(
        &f,
        "getCid",
        &js::func(Box::new(|_, _, _, _| Ok(get_cid_js()))),
    );
    js::set(&f, "__clicktrail", &JsValue::TRUE);

    let mut to = js::get(w, "TrackdeskObject");
    if !js::is_array(&to) {
        to = js::array(&[&"trackdesk".into()]).into();
        js::set(w, "TrackdeskObject", &to);
    }
    let mut names: Vec<String> = Vec::new();
    for i in 0..js::len(&to).min(16) {
        if let Some(n) = js::get_i(&to, i).as_string() {
            let ident = !n.is_empty()
                && n.len() <= 64
                && n != "__proto__"
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
                && !n.as_bytes().first().is_some_and(u8::is_ascii_digit);
            if ident && !names.contains(&n) {
                names.push(n);
            }
        }
    }
    if names.is_empty() {
        names.push("trackdesk".into());
    }
    let mut queues = Vec::new();
    for n in &names {
        let old = js::get(w, n);
        // Only replace the stub (a function) or nothing: never a page object such as `location`.
        if old.is_undefined() || old.is_null() || old.is_function() {
            queues.push(js::get(&old, "q"));
            js::set(w, n, &f);
        } else {
            js::logs(&["TrackdeskObject: not a stub, skipped: ", n]);
        }
    }
    js::set(&to, "f", &f);
    // Replayed in order: up to the last `click` / `consent` now (the cookie and the click
    // first), the rest in a later task.
    let mut calls = Vec::new();
    for q in queues {
        for i in 0..js::len(&q) {
            let a = js::get_i(&q, i);
            calls.push([
                js::get_i(&a, 0),
                js::get_i(&a, 1),
                js::get_i(&a, 2),
                js::get_i(&a, 3),
            ]);
        }
    }
    let split = calls
        .iter()
        .rposition(|a| {
            matches!(
                a[1].as_string().as_deref().and_then(Command::parse),
                Some(Command::Click | Command::Consent)
            )
        })
        .map_or(0, |i| i + 1);
    // (no `split_off`/`remove`: their panic paths bring formatting code into the wasm)
    let mut later = Vec::new();
    for (i, [t, c, p, cb]) in calls.into_iter().enumerate() {
        if i < split {
            dispatch(t, c, p, cb);
        } else {
            later.push([t, c, p, cb]);
        }
    }
    if !later.is_empty() {
        with(|s| s.deferred = later);
        history::task(run_deferred);
    }
}

/// The page's `trackdesk(...)`: behind the deferred queue replay while it waits.
fn page_call(t: JsValue, c: JsValue, p: JsValue, cb: JsValue) {
    let args = [t, c, p, cb];
    let Some(Some(args)) = with(|s| {
        if s.deferred.is_empty() {
            Some(args)
        } else {
            s.deferred.push(args);
            None
        }
    }) else {
        return;
    };
    let [t, c, p, cb] = args;
    dispatch(t, c, p, cb);
}

// ---------------------------------------------------------------- dispatch

/// `trackdesk(tenantId, command, params?, callback?)`.
fn dispatch(t: JsValue, c: JsValue, p: JsValue, cb: JsValue) {
    let Some(tenant) = t.as_string().filter(|t| cookie::valid_tenant(t)) else {
        js::log_v("bad tenant id:", &t);
        return;
    };
    let name = c.as_string().unwrap_or_default();
    // A deliberately panicking build (`--features panic-test`, docs/tracker.md) proves
    // that a panic inside the wasm never reaches the page's `trackdesk(...)` call.
    #[cfg(feature = "panic-test")]
    if name == "panic" {
        panic!("clicktrail panic-test");
    }
    let Some(cmd) = Command::parse(&name) else {
        js::log_v("unknown command:", &c);
        return;
    };
    let (params, cb) = match js::as_function(&p) {
        Some(f) => (JsValue::UNDEFINED, Some(f)),
        None => (p, js::as_function(&cb)),
    };
    js::log_v(&crate::json::cat(&[&tenant, " ", &name]), &params);
    submit(Job {
        tenant,
        cmd,
        params,
        cb,
        waiter: None,
    });
}

/// A `click` without callback (SPA navigation, Affitor).
fn submit_click(tenant: String) {
    submit(Job {
        tenant,
        cmd: Command::Click,
        params: JsValue::UNDEFINED,
        cb: None,
        waiter: None,
    });
}

/// Runs a job now, or holds it until consent.
fn submit(job: Job) {
    let at = (job.cmd == Command::Click).then(href);
    let job = with(|s| {
        if job.cmd != Command::Consent {
            s.tenant = Some(job.tenant.clone());
        }
        if !s.consent && job.cmd.needs_consent() {
            js::log("held until consent");
            s.held.push((job, at.clone()));
            None
        } else {
            Some(job)
        }
    })
    .flatten();
    if let Some(job) = job {
        run(job, at);
    }
}

fn run(job: Job, at: Option<String>) {
    let Job {
        tenant,
        cmd,
        params,
        cb,
        waiter,
    } = job;
    match cmd {
        Command::Click => click(&tenant, cb, at),
        Command::Ready => {
            let cid = current(&tenant, true).map(|c| c.cid);
            if let Some(c) = &cid {
                note_cid(c);
            }
            if let Some(f) = cb {
                js::call(&f, &js::cid_object(cid.as_deref(), None, false));
            }
        }
        Command::Conversion => conversion(&tenant, &params, cb),
        Command::ExternalCid => match params::external_cid(&params) {
            Some((x, r)) => {
                let Some(cid) = current(&tenant, true).map(|c| c.cid) else {
                    js::log("externalCid: no CID");
                    return;
                };
                let id = web::new_uuid();
                let body = cmd::external_cid_body(&tenant, &id, &cid, &x, &r);
                send(cmd::EXTERNAL_CID, body, id, cb.map(Waiter::Answer));
            }
            None => js::log("externalCid: externalCid + revenueOriginId required"),
        },
        Command::Signup => lead(&tenant, &params, waiter.or(cb.map(Waiter::Answer))),
        Command::Tito => tito(&tenant, &params),
        Command::Consent => {
            let granted = params::consent_granted(&params);
            let held = with(|s| {
                s.consent = granted || !s.cfg.consent_required;
                if s.consent {
                    core::mem::take(&mut s.held)
                } else {
                    Vec::new()
                }
            })
            .unwrap_or_default();
            if granted {
                for (j, at) in held {
                    run(j, at);
                }
                flush_due();
            }
        }
    }
}

// ---------------------------------------------------------------- cookie + mirror

struct Current {
    cid: String,
    expired_at: Option<String>,
    aff: Option<String>,
}

fn now_secs() -> i64 {
    (web::now_ms() / 1000) as i64
}

fn href() -> String {
    web::location(Part::Href)
}

/// The landing page of `href`: without its fragment (an in-page `#anchor` link or a
/// router's hash is the same landing, not another click).
fn landing(href: &str) -> &str {
    url::split_ascii(href, b'#').next().unwrap_or(href)
}

fn mirror() -> Option<Mirror> {
    Mirror::parse(&storage::get(Area::Local, MIRROR_KEY)?)
}

/// Cookie attributes: Domain (configured or probed, cached) and Secure.
fn cookie_attrs() -> (Option<String>, bool) {
    let secure = web::location(Part::Protocol) == "https:";
    let (configured, cached) =
        with(|s| (s.cfg.cookie_domain.clone(), s.domain.clone())).unwrap_or_default();
    if configured.is_some() {
        return (configured, secure);
    }
    if let Some(d) = cached {
        return (d, secure);
    }
    let mut found = None;
    for cand in cookie::domain_candidates(&web::location(Part::Hostname)) {
        let _ = cookies::write(&cookie::set_string(
            "clicktrail_probe",
            "1",
            60,
            Some(&cand),
            secure,
        ));
        if cookies::get("clicktrail_probe").is_some() {
            let _ = cookies::write(&cookie::set_string(
                "clicktrail_probe",
                "",
                0,
                Some(&cand),
                secure,
            ));
            found = Some(cand);
            break;
        }
    }
    with(|s| s.domain = Some(found.clone()));
    (found, secure)
}

fn is_affitor(tenant: &str) -> bool {
    with(|s| s.cfg.affitor.as_deref() == Some(tenant)).unwrap_or(false)
}

fn write_cookie(tenant: &str, cid: &str, max_age: i64) {
    let (domain, secure) = cookie_attrs();
    let max_age = max_age.clamp(0, MAX_LIFETIME) as u64;
    let mut names = vec![(cookie::NAME, cookie::encode(tenant, cid))];
    if is_affitor(tenant) {
        names.push((cookie::AFFITOR_NAME, cid.to_string()));
    }
    for (name, value) in names {
        if domain.is_some() {
            // a host-only cookie of the same name would shadow ours: expire it
            let _ = cookies::write(&cookie::set_string(name, "", 0, None, secure));
        }
        if let Err(e) = cookies::write(&cookie::set_string(
            name,
            &value,
            max_age,
            domain.as_deref(),
            secure,
        )) {
            js::log_v("cookie write failed:", &e.into());
        }
    }
}

fn remove_cookie(tenant: &str) {
    let (domain, secure) = cookie_attrs();
    let mut names = vec![cookie::NAME];
    if is_affitor(tenant) {
        names.push(cookie::AFFITOR_NAME);
    }
    for name in names {
        let _ = cookies::write(&cookie::set_string(name, "", 0, domain.as_deref(), secure));
        let _ = cookies::write(&cookie::set_string(name, "", 0, None, secure));
    }
}

/// The visitor's valid CID for `tenant`; with `restore`, a cookie lost before its
/// expiry is rewritten from the localStorage mirror.
fn current(tenant: &str, restore: bool) -> Option<Current> {
    let all = cookies::all();
    let m = mirror().filter(|m| m.tenant == tenant);
    if let Some(cid) = cookie::cid_for(&all, tenant) {
        let m = m.filter(|m| m.cid == cid);
        return Some(Current {
            cid,
            expired_at: m.as_ref().and_then(|m| m.expired_at.clone()),
            aff: m.and_then(|m| m.aff),
        });
    }
    let consent = with(|s| s.consent).unwrap_or(false);
    if restore && consent && cookie::find(&all, cookie::NAME).is_none() {
        let m = m?;
        let left = m.seconds_left(now_secs())?;
        js::log("CID cookie restored from localStorage");
        write_cookie(tenant, &m.cid, left);
        return Some(Current {
            cid: m.cid,
            expired_at: m.expired_at,
            aff: m.aff,
        });
    }
    None
}

/// A CID is known: fill hidden inputs, decorate Stripe links, watch for new elements.
/// (The DOM work runs in a later task, not on the click's path.)
fn note_cid(cid: &str) {
    let first = with(|s| {
        s.known_cid = Some(cid.to_string());
        !core::mem::replace(&mut s.observing, true)
    })
    .unwrap_or(false);
    if first {
        history::task(start_dom);
    } else {
        refresh_dom();
    }
}

/// Later task: fill the page, then watch for elements added later.
fn start_dom() {
    refresh_dom();
    let f: Function = js::func0(refresh_dom).unchecked_into();
    if let Err(e) = dom::observe(&f) {
        js::log_v("MutationObserver failed:", &e.into());
    }
}

/// A CID was removed (unknown affiliate, expired, replaced): take it out of hidden inputs
/// and Stripe links, and stop filling it into elements added later.
fn forget_cid(cid: &str) {
    let stripe = with(|s| {
        if s.known_cid.as_deref() == Some(cid) {
            s.known_cid = None;
        }
        s.cfg.stripe
    })
    .unwrap_or(false);
    dom::clear_cid(cid, stripe);
}

fn refresh_dom() {
    if let Some((Some(cid), stripe)) = with(|s| (s.known_cid.clone(), s.cfg.stripe)) {
        dom::fill_cid(&cid);
        if stripe {
            dom::decorate_stripe(&cid);
        }
    }
}

// ---------------------------------------------------------------- click

fn click_callback(cb: Option<Function>, cid: &str, expired_at: Option<&str>) {
    if let Some(f) = cb {
        js::call(&f, &js::cid_object(Some(cid), expired_at, true));
    }
}

fn click(tenant: &str, cb: Option<Function>, at: Option<String>) {
    let href = at.unwrap_or_else(href);
    // `location.search` of that href (query_param stops at a `#`)
    let page = landing(&href);
    let search = page.get(url::find_ascii(page, b'?').unwrap_or(page.len())..);
    let Some((model, params, first_party)) = with(|s| {
        if !s.click_tenants.iter().any(|t| t == tenant) {
            s.click_tenants.push(tenant.to_string());
        }
        s.last_href = landing(&href).to_string();
        (s.cfg.model, s.cfg.params.clone(), s.first_party)
    }) else {
        return;
    };
    let code = match url::affiliate_code(search.unwrap_or(""), &params) {
        Ok(c) => Some(c),
        Err(CodeError::Invalid) => {
            js::log("invalid affiliate code ignored");
            None
        }
        Err(CodeError::Absent) => None,
    };
    let cur = current(tenant, true);
    let key = attribution::landing_key(tenant, landing(&href));
    let counted = code.is_some() && storage::get(Area::Session, &key).is_some();
    if counted {
        js::log("landing URL already counted");
    }
    let plan = attribution::plan(
        model,
        code.as_deref(),
        cur.is_some(),
        cur.as_ref().and_then(|c| c.aff.as_deref()),
        counted,
    );
    let (Some(code), Plan::Fresh | Plan::Repeat { .. }) = (code, &plan) else {
        if let Some(c) = cur {
            note_cid(&c.cid);
            click_callback(cb, &c.cid, c.expired_at.as_deref());
        }
        return;
    };
    storage::set(Area::Session, &key, "1");
    match (plan, cur) {
        (Plan::Repeat { wait }, Some(c)) => {
            note_cid(&c.cid);
            let waiter = if wait {
                Some(Waiter::Click(tenant.to_string(), cb))
            } else {
                click_callback(cb, &c.cid, c.expired_at.as_deref());
                None
            };
            let server_cookie =
                first_party && (model == Model::Last || c.aff.as_deref() == Some(&code));
            send_click(tenant, &code, &c.cid, &href, waiter, server_cookie);
        }
        _ => {
            let cid = web::new_uuid();
            let exp = time::format(now_secs() + DEFAULT_LIFETIME);
            write_cookie(tenant, &cid, DEFAULT_LIFETIME);
            let m = Mirror {
                tenant: tenant.into(),
                cid: cid.clone(),
                aff: Some(code.clone()),
                expired_at: Some(exp.clone()),
            };
            storage::set(Area::Local, MIRROR_KEY, &m.encode());
            with(|s| s.fresh.push((cid.clone(), code.clone())));
            note_cid(&cid);
            click_callback(cb, &cid, Some(&exp));
            send_click(tenant, &code, &cid, &href, None, first_party);
        }
    }
}

/// `server_cookie`: the collector may set the cookie for this click (first-party mode,
/// and not a first-click visitor whose cookie may belong to another affiliate).
fn send_click(
    tenant: &str,
    aff: &str,
    cid: &str,
    href: &str,
    waiter: Option<Waiter>,
    server_cookie: bool,
) {
    let referrer = web::document().map(|d| d.referrer()).unwrap_or_default();
    let id = web::new_uuid();
    let spec = server_cookie.then(|| {
        let (domain, secure) = cookie_attrs();
        cmd::CookieSpec {
            domain,
            secure,
            affitor: is_affitor(tenant),
        }
    });
    let body = cmd::click_body(tenant, &id, aff, cid, href, &referrer, spec.as_ref());
    set_last_click(tenant, web::now_ms());
    send(cmd::CLICK, body, id, waiter);
}

/// Applies the collector's answer to a click (on this page or a later one): the decision
/// is [`attribution::settle`]; this only gathers its inputs and runs its effects.
fn click_answer(e: &Entry, status: u16, d: Delivery, text: &str) {
    let Some(req) = json::parse(&e.body) else {
        return;
    };
    let (Some(tenant), Some(sent), Some(aff)) =
        (req.str_of("tenantId"), req.str_of("cid"), req.str_of("aff"))
    else {
        return;
    };
    let answer = match d {
        Delivery::Retry => return,
        Delivery::Done => {
            let Some(v) = json::parse(text) else {
                js::log("click answer not JSON");
                return;
            };
            let Some(cid) = v.str_of("cid").filter(|c| crate::uuid::is_uuid(c)) else {
                return;
            };
            Answer::Ok {
                cid: cid.to_ascii_lowercase(),
                expired_at: v
                    .str_of("expiredAt")
                    .filter(|x| time::parse(x).is_some())
                    .map(String::from),
            }
        }
        Delivery::Drop
            if status == 404 && cmd::error_code(text).as_deref() == Some("unknown_affiliate") =>
        {
            Answer::UnknownAffiliate
        }
        Delivery::Drop => Answer::Rejected,
    };
    let m = mirror().filter(|m| m.tenant == tenant);
    let Some((model, fresh_here)) = with(|s| {
        (
            s.cfg.model,
            s.fresh.iter().any(|(c, a)| c == sent && a == aff),
        )
    }) else {
        return;
    };
    let fresh = fresh_here
        || m.as_ref()
            .is_some_and(|m| m.cid == sent && m.aff.as_deref() == Some(aff));
    let server_cookie = req.get("cookie").is_some();
    // What the visitor holds, as recorded before this answer: in first-party mode the
    // answer's Set-Cookie has already replaced the cookie, so the mirror tells.
    let held = if server_cookie {
        match &m {
            Some(m) => Some(m.cid.clone()),
            None => Some(sent.to_string()),
        }
    } else {
        cookie::cid_for(&cookies::all(), tenant)
    };
    let now = now_secs();
    let input = attribution::Sent {
        model,
        cid: sent,
        fresh,
        latest: e.created >= last_click(tenant),
        held: held.as_deref(),
        held_left: m.as_ref().and_then(|m| m.seconds_left(now)),
        server_cookie,
    };
    let expires = match &answer {
        Answer::Ok { expired_at, .. } => expired_at.as_deref().and_then(time::parse),
        _ => None,
    };
    let out = attribution::settle(&input, &answer, expires, now, DEFAULT_LIFETIME);
    match out.cookie {
        CookieOp::None => {}
        CookieOp::Write(cid, left) => write_cookie(tenant, &cid, left),
        CookieOp::Remove => {
            js::log("click not attributed (unknown affiliate or already expired): cookie removed");
            remove_cookie(tenant);
        }
    }
    if out.drop_mirror && m.as_ref().is_some_and(|m| m.cid == sent) {
        storage::remove(Area::Local, MIRROR_KEY);
    }
    if let Some((cid, expired_at)) = out.mirror {
        let m = Mirror {
            tenant: tenant.into(),
            cid,
            aff: Some(aff.into()),
            expired_at,
        };
        storage::set(Area::Local, MIRROR_KEY, &m.encode());
    }
    if let Some(old) = out.clear {
        forget_cid(&old);
    }
    if let Some(cid) = out.note {
        note_cid(&cid);
    }
}

/// Key of the creation time (ms) of the latest click sent for a tenant.
fn last_key(tenant: &str) -> String {
    crate::json::cat(&["clicktrail_last:", tenant])
}

/// Creation time of the latest click sent for `tenant` (this page or an earlier one).
fn last_click(tenant: &str) -> u64 {
    let stored = storage::get(Area::Local, &last_key(tenant))
        .and_then(|v| json::parse_u64(&v))
        .unwrap_or(0);
    let here = with(|s| {
        s.last_clicks
            .iter()
            .find(|(t, _)| t == tenant)
            .map(|(_, at)| *at)
    })
    .flatten()
    .unwrap_or(0);
    stored.max(here)
}

fn set_last_click(tenant: &str, at: u64) {
    with(|s| {
        s.last_clicks.retain(|(t, _)| t != tenant);
        s.last_clicks.push((tenant.to_string(), at));
    });
    let mut v = String::new();
    json::push_u64(&mut v, at);
    storage::set(Area::Local, &last_key(tenant), &v);
}

// ---------------------------------------------------------------- other commands

fn conversion(tenant: &str, p: &JsValue, cb: Option<Function>) {
    let c = match params::conversion(p, &web::location(Part::Search)) {
        Ok(c) => c,
        Err(why) => return js::logs(&["conversion skipped: ", why]),
    };
    let cid = current(tenant, true).map(|c| c.cid);
    let id = web::new_uuid();
    match cmd::conversion_body(&c, tenant, &id, cid.as_deref()) {
        Ok(body) => send(cmd::CONVERSION, body, id, cb.map(Waiter::Answer)),
        Err(why) => js::logs(&["conversion skipped: ", why]),
    }
}

fn reject(rej: &Function, msg: &str) {
    js::call(rej, &js::error(msg));
}

fn lead(tenant: &str, p: &JsValue, waiter: Option<Waiter>) {
    let fail = |msg: &str| {
        js::logs(&["signup skipped: ", msg]);
        if let Some(Waiter::Promise(_, rej)) = &waiter {
            reject(rej, msg);
        }
    };
    let params::Lead {
        customer_key,
        email,
    } = params::lead(p);
    let Some(key) = customer_key else {
        return fail("customerKey (a non-empty string) is required");
    };
    let cid = current(tenant, true).map(|c| c.cid);
    // Affitor's API takes a lead with the customer key alone (an organic visitor: its
    // documented `await affitor.signup(...)` must not reject); Trackdesk's needs a CID.
    if cid.is_none() && !is_affitor(tenant) {
        return fail("no click ID for this visitor (not referred by an affiliate)");
    }
    let id = web::new_uuid();
    let body = cmd::lead_body(tenant, &id, cid.as_deref(), &key, email.as_deref());
    send(cmd::LEAD, body, id, waiter);
}

/// `trackdesk.signup(customerKey, email)` / `affitor.signup(...)`: a Promise.
fn signup_promise(tenant: Option<String>, key: JsValue, email: JsValue) -> JsValue {
    // the executor runs synchronously inside `new Promise`: it only keeps resolve/reject
    let mut fns = None;
    let promise = js_sys::Promise::new(&mut |res, rej| fns = Some((res, rej)));
    if let Some((res, rej)) = fns {
        let tenant = tenant.or_else(|| with(|s| s.tenant.clone()).flatten());
        match tenant {
            Some(tenant) => {
                let params: JsValue = js::obj();
                js::set(&params, "customerKey", &key);
                js::set(&params, "email", &email);
                submit(Job {
                    tenant,
                    cmd: Command::Signup,
                    params,
                    cb: None,
                    waiter: Some(Waiter::Promise(res, rej)),
                });
            }
            None => reject(
                &rej,
                "no tenant yet: call trackdesk(tenantId, \"click\") first",
            ),
        }
    }
    promise.into()
}

fn get_cid_js() -> JsValue {
    let tenant = with(|s| s.tenant.clone()).flatten();
    let cid = match tenant {
        Some(t) => current(&t, true).map(|c| c.cid),
        None => cookie::find(&cookies::all(), cookie::NAME)
            .and_then(cookie::parse)
            .map(|(_, c)| c),
    };
    cid.map(JsValue::from).unwrap_or(JsValue::NULL)
}

fn tito(tenant: &str, p: &JsValue) {
    let Some(roi) = params::tito(p) else {
        js::log("tito: revenueOriginId required");
        return;
    };
    let w = web::global();
    let tenant = tenant.to_string();
    let handler = js::func(Box::new(move |data, _, _, _| {
        match params::tito_email(&data) {
            Some(email) => {
                let params: JsValue = js::obj();
                js::set(&params, "externalCid", &email.into());
                js::set(&params, "revenueOriginId", &JsValue::from_str(&roi));
                submit(Job {
                    tenant: tenant.clone(),
                    cmd: Command::ExternalCid,
                    params,
                    cb: None,
                    waiter: None,
                });
            }
            None => js::log("tito: no email, skipped"),
        }
        Ok(JsValue::UNDEFINED)
    }));
    let f = match js::as_function(&js::get(&w, "tito")) {
        Some(f) => f,
        None => {
            // Tito's own queue stub, so Tito picks the registration up when it loads
            let stub = js::func(Box::new(|a, b, c, _| {
                let t = js::get(&web::global(), "tito");
                let mut q = js::get(&t, "q");
                if !js::is_array(&q) {
                    q = js::array(&[]).into();
                    js::set(&t, "q", &q);
                }
                let args = if c.is_undefined() {
                    js::array(&[&a, &b])
                } else {
                    js::array(&[&a, &b, &c])
                };
                q.unchecked_ref::<js_sys::Array>().push(&args);
                Ok(JsValue::UNDEFINED)
            }));
            js::set(&w, "tito", &stub);
            stub
        }
    };
    if let Err(e) = f.call2(&w, &"on:registration:finished".into(), &handler) {
        js::log_v("tito threw:", &e);
    }
}

// ---------------------------------------------------------------- Affitor mode

fn install_affitor(w: &JsValue, tenant: &str) {
    let a: JsValue = js::obj();
    let t = tenant.to_string();
    js::set(
        &a,
        "signup",
        &js::func_m(
            Box::new(move |k, e, _, _| Ok(signup_promise(Some(t.clone()), k, e))),
            js::PROMISE,
        ),
    );
    let t = tenant.to_string();
    js::set(
        &a,
        "getClickId",
        &js::func(Box::new(move |_, _, _, _| {
            Ok(current(&t, true)
                .map(|c| JsValue::from(c.cid))
                .unwrap_or(JsValue::NULL))
        })),
    );
    let t = tenant.to_string();
    let track = js::func(Box::new(move |_, _, _, _| {
        submit_click(t.clone());
        Ok(JsValue::UNDEFINED)
    }));
    js::set(&a, "trackClick", &track);
    let old_queue = js::get(w, "affitorQueue");
    js::set(w, "affitor", &a);
    submit_click(tenant.to_string());

    // affitorQueue entries: ["method", ...args]; later pushes run at once
    let aa = a.clone();
    let run_entry = move |entry: JsValue| -> JsValue {
        let Some(name) = js::get_i(&entry, 0).as_string() else {
            return JsValue::UNDEFINED;
        };
        match js::as_function(&js::get(&aa, &name)) {
            Some(f) if matches!(name.as_str(), "signup" | "getClickId" | "trackClick") => f
                .call2(&aa, &js::get_i(&entry, 1), &js::get_i(&entry, 2))
                .unwrap_or(JsValue::UNDEFINED),
            _ => {
                js::logs(&["affitorQueue: unknown ", &name]);
                JsValue::UNDEFINED
            }
        }
    };
    for i in 0..js::len(&old_queue) {
        run_entry(js::get_i(&old_queue, i));
    }
    let q: JsValue = js::obj();
    js::set(
        &q,
        "push",
        &js::func(Box::new(move |e, _, _, _| Ok(run_entry(e)))),
    );
    js::set(w, "affitorQueue", &q);
}

// ---------------------------------------------------------------- SPA

fn on_navigate() {
    let href = href();
    let href = landing(&href);
    let tenants = with(|s| {
        if s.last_href == href {
            Vec::new()
        } else {
            s.last_href = href.to_string();
            s.click_tenants.clone()
        }
    })
    .unwrap_or_default();
    for tenant in tenants {
        submit_click(tenant);
    }
}

// ---------------------------------------------------------------- transport + outbox

fn load(s: &State) -> Vec<Entry> {
    if s.use_mem {
        s.mem.clone()
    } else {
        outbox::decode(&storage::get(Area::Local, outbox::KEY).unwrap_or_default())
    }
}

fn store(s: &mut State, v: Vec<Entry>) {
    if s.use_mem {
        s.mem = v;
    } else if v.is_empty() {
        storage::remove(Area::Local, outbox::KEY);
    } else if !storage::set(Area::Local, outbox::KEY, &outbox::encode(&v)) {
        js::log("localStorage full: outbox in memory");
        s.use_mem = true;
        s.mem = v;
    }
}

fn update_outbox(f: impl FnOnce(&mut Vec<Entry>)) {
    with(|s| {
        let mut v = load(s);
        f(&mut v);
        store(s, v);
    });
}

/// Hands an event to the transport: written to the outbox first, then sent.
fn send(path: &str, body: String, id: String, waiter: Option<Waiter>) {
    let now = web::now_ms();
    let e = Entry {
        id: id.clone(),
        path: path.into(),
        body,
        created: now,
        attempts: 0,
        next: now,
    };
    let stored = e.clone();
    with(move |s| {
        if let Some(w) = waiter {
            s.waiters.push((id, w));
        }
        let mut v = load(s);
        outbox::put(&mut v, stored, now);
        store(s, v);
    });
    attempt(e);
}

fn attempt(e: Entry) {
    let url = with(|s| {
        if s.inflight.contains(&e.id) {
            None
        } else {
            s.inflight.push(e.id.clone());
            Some(crate::json::cat(&[
                s.cfg.endpoint.as_str(),
                e.path.as_str(),
            ]))
        }
    })
    .flatten();
    let Some(url) = url else {
        return;
    };
    js::logs(&["POST ", &url, " ", &e.body]);
    http::post(&url, &e.body.clone(), move |status, text| {
        let d = cmd::classify(status);
        with(|s| s.inflight.retain(|x| *x != e.id));
        let now = web::now_ms();
        match d {
            Delivery::Retry => update_outbox(|v| outbox::failed(v, &e.id, now)),
            _ => update_outbox(|v| v.retain(|x| x.id != e.id)),
        }
        let why = cmd::error_text(status, &text);
        match d {
            Delivery::Done => {}
            Delivery::Drop => js::logs(&["dropped ", &e.path, ": ", &why]),
            Delivery::Retry => js::logs(&["will retry ", &e.path, ": ", &why]),
        }
        settle(&e, status, d, &text, &why);
        if d == Delivery::Retry {
            schedule();
        }
    });
}

fn settle(e: &Entry, status: u16, d: Delivery, text: &str, why: &str) {
    if e.path == cmd::CLICK {
        click_answer(e, status, d, text);
    }
    let waiter = with(|s| {
        s.waiters
            .iter()
            .position(|(id, _)| *id == e.id)
            .map(|i| s.waiters.swap_remove(i).1)
    })
    .flatten();
    match (waiter, d) {
        (Some(Waiter::Click(tenant, cb)), _) => {
            if let Some(c) = current(&tenant, true) {
                note_cid(&c.cid);
                click_callback(cb, &c.cid, c.expired_at.as_deref());
            }
        }
        (Some(Waiter::Promise(res, _)), Delivery::Done) => js::call(&res, &http::parse_json(text)),
        (Some(Waiter::Promise(_, rej)), Delivery::Drop) => reject(&rej, why),
        (Some(Waiter::Promise(_, rej)), Delivery::Retry) => reject(
            &rej,
            &crate::json::cat(&["not acknowledged (", why, "); queued and retried later"]),
        ),
        (Some(Waiter::Answer(f)), Delivery::Done) => js::call(&f, &http::parse_json(text)),
        _ => {}
    }
}

/// Arms one timer for the earliest pending retry.
fn schedule() {
    let now = web::now_ms();
    let at = with(|s| {
        let next = outbox::next_time(
            &load(s)
                .into_iter()
                .filter(|e| !s.inflight.contains(&e.id))
                .collect::<Vec<_>>(),
        )?;
        let next = next.max(now);
        if s.timer != 0 && s.timer <= next && s.timer > now {
            return None;
        }
        s.timer = next;
        Some(next)
    })
    .flatten();
    if let Some(at) = at {
        let _ = history::later(at - now + 50, on_timer);
    }
}

fn on_timer() {
    with(|s| s.timer = 0);
    flush_due();
}

/// Sends every outbox event whose retry time has come (from this or earlier pages).
fn flush_due() {
    let now = web::now_ms();
    let due = with(|s| {
        if !s.consent {
            return Vec::new();
        }
        let v = load(s);
        let ids = outbox::due(&v, now);
        v.into_iter()
            .filter(|e| ids.contains(&e.id) && !s.inflight.contains(&e.id))
            .collect()
    })
    .unwrap_or_default();
    for e in due {
        attempt(e);
    }
    schedule();
}

/// `pagehide`: every pending event leaves now, whatever its retry time, with
/// `fetch(…, {keepalive: true})` (never `sendBeacon`: blockers drop beacons to another
/// site while `sendBeacon` still returns `true`). They stay in the outbox until a fetch is
/// acknowledged (the collector drops duplicates by eventId).
fn on_pagehide() {
    let pending = with(|s| {
        if !s.consent {
            return Vec::new();
        }
        load(s)
            .into_iter()
            .filter(|e| !s.inflight.contains(&e.id))
            .collect()
    })
    .unwrap_or_default();
    for e in pending {
        attempt(e);
    }
}
