//! The tracker: state and start-up; one file per job below (dispatcher, click, visitor
//! cookie, other commands, Affitor mode, navigation, transport). The decisions live in the
//! browser-free modules (`attribution`, `consent`, `outbox`, `cmd`); these files gather
//! their inputs and run their effects.
//!
//! Affitor mode, PartnerStack mode and the `tito` command are cargo features (all in the
//! default build; docs/tracker.md, "Per-mode builds of the full module"), cut at their entry
//! points: `start` (with [`left_out`]), `visitor::is_affitor` / `is_partnerstack`, and
//! `cmd::Command::Tito` with the `tito` function.
//!
//! Rule for reentrancy: the state is only borrowed inside `with(..)` and page code
//! (callbacks, the page's functions) is never called while it is borrowed.

use crate::attribution::{self, Answer, CookieOp, Plan};
use crate::cmd::{self, Command, Delivery};
use crate::consent::Gate;
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

/// The visitor's valid CID for a tenant (see `visitor::current`).
struct Current {
    cid: String,
    expired_at: Option<String>,
    aff: Option<String>,
}

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
    /// The endpoint is on the page's own origin (first-party mode): click
    /// requests ask the collector to set the cookie with `Set-Cookie` (docs/wire.md).
    first_party: bool,
    /// The consent gate; it holds commands, a `click` with the URL it was given on (the
    /// landing with the code, even if the single-page app navigated before consent).
    gate: Gate<(Job, Option<String>)>,
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
    known_cid: Option<String>,
    observing: bool,
    /// (tenant, creation ms of the latest applied click): see [`last_applied`].
    last_clicks: Vec<(String, u64)>,
    /// Clicks in flight, and the other events waiting for them (see `transport::attempt_as`).
    clicks_inflight: u32,
    after_click: Vec<Entry>,
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

#[cfg(feature = "affitor")]
mod affitor;
mod click;
mod commands;
mod dispatch;
mod navigation;
mod transport;
mod visitor;

use click::*;
use commands::*;
use dispatch::*;
use navigation::*;
use transport::*;
use visitor::*;

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
    let mut cfg = params::config(&config);
    js::set_debug(cfg.debug);
    js::log_v("start", &config);
    left_out(&mut cfg.affitor, cfg!(feature = "affitor"), "Affitor");
    left_out(
        &mut cfg.partnerstack,
        cfg!(feature = "partnerstack"),
        "PartnerStack",
    );
    // first-party mode: the endpoint is on the page's own origin
    let first_party = url::origin(&cfg.endpoint)
        .is_some_and(|o| Some(o) == url::origin(&web::location(Part::Origin)));
    let affitor = cfg.affitor.clone();
    let partnerstack = cfg.partnerstack.clone();
    let consent_required = cfg.consent_required;
    // No start-up probe of localStorage (a write and a removal in the first task, measured by
    // `npm run bench:start`): the first outbox write that fails moves the outbox to memory.
    let use_mem = false;
    {
        if let Ok(mut g) = STATE.0.try_borrow_mut() {
            *g = Some(State {
                cfg,
                first_party,
                gate: Gate::new(consent_required),
                tenant: affitor.clone().or(partnerstack.clone()),
                click_tenants: Vec::new(),
                last_href: String::new(),
                domain: None,
                inflight: Vec::new(),
                mem: Vec::new(),
                use_mem,
                timer: 0,
                waiters: Vec::new(),
                known_cid: None,
                observing: false,
                last_clicks: Vec::new(),
                deferred: Vec::new(),
                clicks_inflight: 0,
                after_click: Vec::new(),
            });
        }
    }
    // the click the click-first module sent, if any, is this tracker's from now on
    #[cfg(feature = "handover")]
    let handed = js::get(&config, "click");
    #[cfg(feature = "handover")]
    if handed.is_object() {
        adopt(&handed);
    }
    // Start-up without long tasks: the cookie and the click run now (the queue up to its
    // last `click` / `consent`, Affitor's click); everything else runs in later tasks.
    install_dispatcher(&w);
    #[cfg(feature = "affitor")]
    if let Some(t) = affitor {
        affitor::install_affitor(&w, &t);
    }
    // PartnerStack mode: the partner link's click (`window.growsumo` is the loader's)
    if let Some(t) = partnerstack {
        submit_click(t);
    }
    history::task(install_hooks);
    history::task(start_outbox);
}

/// A mode the page asks for (`data-affitor-program-id`, `data-partnerstack`) that this build
/// leaves out (`built` false: its cargo feature is off) is dropped with one console warning:
/// the page's `trackdesk(...)` calls still run, as on a Trackdesk page. (Held `affitor.*`
/// calls reject with the loader's "Affitor mode did not start".)
/// (Inlined: with the feature on, nothing of it is left in the wasm.)
#[inline(always)]
fn left_out(tenant: &mut Option<String>, built: bool, mode: &str) {
    if !built && tenant.take().is_some() {
        js::warn(&json::cat(&[
            "clicktrail: ",
            mode,
            " mode is not in this build of the tracker: ignored",
        ]));
    }
}

/// Later task: SPA navigation hooks and the `pagehide` flush. A navigation before the hooks
/// counts too (the loader starts this module at a single-page landing's first one).
fn install_hooks() {
    if let Err(e) = history::hook(on_navigate) {
        js::log_v("history hooks failed:", &e.into());
    }
    let _ = history::on("pagehide", on_pagehide);
    on_navigate();
}

/// Later task: prune the outbox (this and earlier pages) and send what is due.
fn start_outbox() {
    if with(|s| s.gate.open()).unwrap_or(false) {
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
        s.gate.reset();
        s.tenant = s.cfg.affitor.clone().or(s.cfg.partnerstack.clone());
        s.click_tenants.clear();
        s.last_href.clear();
        s.domain = None;
        s.mem.clear();
        s.waiters.clear();
        s.known_cid = None;
        s.last_clicks.clear();
        s.deferred.clear();
        s.clicks_inflight = 0;
        s.after_click.clear();
    });
}
