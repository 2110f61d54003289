//! Shared browser-test harness: a stand-in collector behind `window.fetch` /
//! `navigator.sendBeacon`, page reset helpers and small JS utilities.
//! Each `tests/*.rs` file is its own page (own wasm instance, own `start`).
#![allow(dead_code)]

use alloc::string::String;
use alloc::vec::Vec;
use js_sys::{Array, Promise, Reflect};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
const w = window;
function uuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
}
function json(status, obj) {
  return new Response(JSON.stringify(obj), { status, headers: { "Content-Type": "application/json" } });
}
// What the browser does with a first-party collector's Set-Cookie (docs/wire.md): the
// same raw JSON, the attributes the click body asked for. Not a script write of the
// tracker: recorded apart.
const cookieDesc = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
function setCookie(b, cid) {
  const attrs = "; Path=/; Max-Age=2592000; SameSite=Lax" + (b.cookie.secure ? "; Secure" : "") +
    (b.cookie.domain ? "; Domain=" + b.cookie.domain : "");
  const set = (v) => { w.__serverCookies.push(v); cookieDesc.set.call(document, v); };
  set("trakdesk_cid=" + JSON.stringify({ tenantId: b.tenantId, cid }) + attrs);
  if (b.cookie.affitor) set("affitor_click_id=" + cid + attrs);
}
// Records every document.cookie assignment made by page code (the tracker).
export function record_cookie_writes() {
  w.__cookieWrites = [];
  Object.defineProperty(document, "cookie", {
    configurable: true,
    get() { return cookieDesc.get.call(document); },
    set(v) { w.__cookieWrites.push(String(v)); cookieDesc.set.call(document, v); },
  });
}
export function cookie_writes() { return w.__cookieWrites || []; }
export function server_cookies() { return w.__serverCookies; }
// A stand-in for the collector, answering as docs/wire.md says.
function collector(rec) {
  const b = rec.body || {};
  // a first-party set-up proxies the collector under /_ct (prefix stripped)
  const path = new URL(rec.url, location.href).pathname.replace(/^\/_ct\//, "/");
  if (path === "/tracking/click/v1") {
    if (typeof b.aff !== "string" || b.aff === "bogus" || b.aff.indexOf("<") >= 0)
      return json(404, { error: { code: "unknown_affiliate", message: "no such affiliate" } });
    const owners = w.__owners;
    let cid = b.cid;
    if (!/^[0-9a-f-]{36}$/.test(cid || "") || (owners[cid] && owners[cid] !== b.aff)) cid = uuid();
    owners[cid] = b.aff;
    if (b.cookie && typeof b.cookie === "object") setCookie(b, cid);
    return json(200, { cid, expiredAt: new Date(Date.now() + 30 * 864e5).toISOString().replace(/\.\d+Z$/, "Z") });
  }
  if (path === "/tracking/lead/v1")
    return b.customerKey === "reject"
      ? json(422, { error: { code: "invalid_field", message: "customerKey is wrong" } })
      : json(200, { ok: true });
  if (path === "/tracking/conversion/v1")
    return json(200, { conversionId: uuid(), status: "approved", commission: { value: "1.00" }, attributed: true });
  if (path === "/tracking/external-cid/v1") return json(200, { ok: true });
  return json(404, { error: { code: "not_found", message: path } });
}
export function install() {
  if (w.__installed) return;
  w.__installed = true;
  w.__sent = []; w.__beacons = []; w.__errors = []; w.__owners = {}; w.__mode = null; w.__logs = [];
  w.__serverCookies = [];
  w.__collector = collector;
  w.addEventListener("error", (e) => w.__errors.push(String(e.message)));
  w.addEventListener("unhandledrejection", (e) => w.__errors.push("unhandled: " + String(e.reason)));
  w.fetch = function (url, init) {
    const rec = { url: String(url), init, body: null };
    try { rec.body = JSON.parse(init.body); } catch (_) {}
    w.__sent.push(rec);
    const m = typeof w.__mode === "function" ? w.__mode(rec) : w.__mode;
    if (m === "network") return Promise.reject(new TypeError("Failed to fetch"));
    if (m instanceof Response) return Promise.resolve(m);
    if (m && typeof m.then === "function") return m; // a delayed answer
    if (typeof m === "number")
      return Promise.resolve(json(m, { error: { code: m === 429 ? "rate_limited" : "unavailable", message: "forced " + m } }));
    return Promise.resolve(collector(rec));
  };
  navigator.sendBeacon = function (url, data) { w.__beacons.push({ url: String(url), data: String(data) }); return true; };
}
export function clear_cookies() {
  for (const c of document.cookie.split(";")) {
    const name = c.split("=")[0].trim();
    if (name) document.cookie = name + "=; Path=/; Max-Age=0";
  }
}
export function reset() {
  install();
  clear_cookies();
  try { localStorage.clear(); } catch (_) {}
  try { sessionStorage.clear(); } catch (_) {}
  w.__sent.length = 0; w.__beacons.length = 0; w.__errors.length = 0; w.__owners = {}; w.__mode = null;
  w.__serverCookies.length = 0;
  if (w.__cookieWrites) w.__cookieWrites.length = 0;
}
export function owner(cid) { return w.__owners[cid] || null; }
export function html(h) { document.body.insertAdjacentHTML("beforeend", h); }
export function eval_js(src) { return Function(src)(); }
export function fire(name) { window.dispatchEvent(new Event(name)); }
export function set_url(u) { history.replaceState(null, "", u); }
export function push_url(u) { history.pushState(null, "", u); }
export function sent(path) {
  return w.__sent.filter((r) => !path || new URL(r.url, location.href).pathname === path).map((r) => r.body);
}
export function sent_records() { return w.__sent; }
export function beacons() { return w.__beacons; }
export function errors() { return w.__errors; }
export function set_mode(m) { w.__mode = m; }
export function mode_fn(src) { w.__mode = src; }
export function cookie_value(name) {
  for (const c of document.cookie.split("; ")) {
    const i = c.indexOf("=");
    if (c.slice(0, i) === name) return c.slice(i + 1);
  }
  return null;
}
export function raw_cookie(s) { document.cookie = s; }
export function cookie_string() { return document.cookie; }
export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }
// A function that records its arguments (first one) in f.calls.
export function recorder() {
  const f = function (x) { f.calls.push(x); };
  f.calls = [];
  return f;
}
export function thrower() { return function () { throw new Error("merchant callback bug"); }; }
// Calls window[name](...args); a synchronous exception is recorded, never rethrown.
export function call_global(name, args) {
  try { return w[name].apply(null, args); } catch (e) { w.__errors.push("threw: " + e); return undefined; }
}
export function global(name) { return w[name]; }
export function set_global(name, v) { w[name] = v; }
export function config(o) { return JSON.parse(o); }
export function parse(s) { try { return JSON.parse(s); } catch (_) { return undefined; } }
export function stringify(v) { return JSON.stringify(v); }
export function ls_get(k) { try { return localStorage.getItem(k); } catch (_) { return null; } }
export function ls_set(k, v) { localStorage.setItem(k, v); }
export function wait_for(pred, ms) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    (function tick() {
      let ok = false;
      try { ok = pred(); } catch (_) {}
      if (ok || Date.now() - t0 > ms) resolve(ok); else setTimeout(tick, 10);
    })();
  });
}
export function settled(p) {
  return Promise.resolve(p).then((v) => ({ ok: true, v }), (e) => ({ ok: false, v: e }));
}
"#)]
extern "C" {
    pub fn install();
    pub fn reset();
    pub fn clear_cookies();
    pub fn set_url(u: &str);
    pub fn push_url(u: &str);
    /// Parsed bodies sent by fetch to `path` ("" = all).
    pub fn sent(path: &str) -> Array;
    pub fn sent_records() -> Array;
    pub fn beacons() -> Array;
    pub fn errors() -> Array;
    pub fn set_mode(m: JsValue);
    pub fn cookie_value(name: &str) -> Option<String>;
    pub fn raw_cookie(s: &str);
    pub fn cookie_string() -> String;
    pub fn sleep(ms: u32) -> Promise;
    pub fn recorder() -> js_sys::Function;
    pub fn thrower() -> js_sys::Function;
    pub fn call_global(name: &str, args: &Array) -> JsValue;
    pub fn global(name: &str) -> JsValue;
    pub fn set_global(name: &str, v: &JsValue);
    pub fn config(json: &str) -> JsValue;
    pub fn parse(s: &str) -> JsValue;
    pub fn stringify(v: &JsValue) -> Option<String>;
    pub fn ls_get(k: &str) -> Option<String>;
    pub fn ls_set(k: &str, v: &str);
    pub fn wait_for(pred: &js_sys::Function, ms: u32) -> Promise;
    pub fn settled(p: &JsValue) -> Promise;
    pub fn record_cookie_writes();
    /// `document.cookie` assignments made by page code since `reset`.
    pub fn cookie_writes() -> Array;
    /// `Set-Cookie`s applied by the stand-in first-party collector since `reset`.
    pub fn server_cookies() -> Array;
    /// The affiliate the stand-in collector recorded for a CID.
    pub fn owner(cid: &str) -> Option<String>;
    pub fn html(h: &str);
    pub fn eval_js(src: &str) -> JsValue;
    /// `window.dispatchEvent(new Event(name))`.
    pub fn fire(name: &str);
}

pub async fn wait(p: Promise) -> JsValue {
    js_sys::futures::JsFuture::from(p)
        .await
        .unwrap_or(JsValue::UNDEFINED)
}

pub async fn pause(ms: u32) {
    wait(sleep(ms)).await;
}

/// Waits until `n` requests went to `path` (or 3 s).
pub async fn until_sent(path: &str, n: u32) -> Array {
    for _ in 0..300 {
        let a = sent(path);
        if a.length() >= n {
            return a;
        }
        pause(10).await;
    }
    sent(path)
}

pub fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

pub fn s(v: &JsValue, k: &str) -> Option<String> {
    get(v, k).as_string()
}

pub fn calls(f: &js_sys::Function) -> Array {
    get(f, "calls").into()
}

pub fn arr(items: &[JsValue]) -> Array {
    items.iter().collect()
}

/// `trackdesk(...)` through the page's global (whatever it is now).
pub fn td(args: &[JsValue]) -> JsValue {
    call_global("trackdesk", &arr(args))
}

pub fn obj(json: &str) -> JsValue {
    parse(json)
}

pub fn strs(a: &Array) -> Vec<String> {
    a.iter()
        .map(|v| stringify(&v).unwrap_or_default())
        .collect()
}

/// `(tenantId, cid)` of the `trakdesk_cid` cookie, checked to be exactly the wire format.
pub fn cookie_cid(tenant: &str) -> Option<String> {
    let raw = cookie_value("trakdesk_cid")?;
    let v = parse(&raw);
    let cid = s(&v, "cid")?;
    let expected = alloc::format!("{{\"tenantId\":\"{tenant}\",\"cid\":\"{cid}\"}}");
    assert_eq!(
        raw, expected,
        "cookie value must be exactly the Trackdesk JSON"
    );
    assert!(
        clicktrail::uuid::is_uuid(&cid) && cid.as_bytes()[14] == b'4',
        "cid is a UUID v4: {cid}"
    );
    Some(cid)
}

pub fn no_page_errors() {
    let e = errors();
    assert_eq!(e.length(), 0, "page saw exceptions: {:?}", strs(&e));
}
