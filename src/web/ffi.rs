//! The tracker's own JS helpers (not browser APIs: those come typed from `web-sys` and
//! `js-sys`): the guard every handed-out function goes through, the history hook, the
//! later-task scheduler; plus the two typed declarations js-sys lacks in the form needed
//! (`Array.isArray` that reports a throw, `Promise#then` taking guarded functions).

use wasm_bindgen::prelude::*;

// `w` (guard): every function the tracker hands to the page or the browser goes through
// it, so nothing thrown in the wasm (a panic is a `WebAssembly.RuntimeError` trap with
// panic=abort) ever reaches the page's own call. After a trap the instance's state is not
// trusted again: every guarded function becomes a no-op; the dispatcher (mode 2) keeps the
// calls in its `q` like the snippet's stub, a Promise helper (mode 4) rejects. Mode 1: debug log.
// `t`: a later task. `h` (hook): wraps `o[n]` (history.pushState…) in plain JS: the page's
// function runs as before (its exceptions reach the page unchanged, even after a trap),
// then `a()`.
#[wasm_bindgen(inline_js = "let dead=0;\
export function w(f,m){const g=function(){if(!dead)try{return f.apply(this,arguments)}catch(e){\
if(!(e instanceof WebAssembly.RuntimeError||e instanceof RangeError)){if(m&1)try{console.log('[clicktrail]','error:',e)}catch(_){}return}\
dead=1;if(m&1)try{console.log('[clicktrail]','internal error: tracking stopped, later calls are queued',e)}catch(_){}}\
if(m&2)(g.q=g.q||[]).push(arguments);if(m&4)return Promise.reject(new Error('clicktrail: tracking stopped after an internal error'))};return g}\
export function t(f){const g=globalThis;try{if(g.scheduler&&g.scheduler.postTask){g.scheduler.postTask(f).catch(()=>{});return}\
if(g.requestIdleCallback){g.requestIdleCallback(f,{timeout:200});return}}catch(_){}g.setTimeout(f,0)}\
export function h(o,n,a){try{const f=o[n];if(typeof f=='function')o[n]=function(){const r=f.apply(this,arguments);a();return r}}catch(_){}}")]
extern "C" {
    /// The guard (see above): `f` wrapped so that it never throws.
    #[wasm_bindgen(js_name = w)]
    pub fn guard(f: &JsValue, mode: u32) -> js_sys::Function;
    /// `f` in a later task (postTask / requestIdleCallback / setTimeout 0).
    #[wasm_bindgen(js_name = t)]
    pub fn later_task(f: &js_sys::Function);
    /// `o[n]` replaced by a wrapper calling the original, then `after()`.
    #[wasm_bindgen(js_name = h)]
    pub fn hook_after(o: &JsValue, n: &str, after: &js_sys::Function);
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = Array, js_name = isArray)]
    fn is_array_or_throw(v: &JsValue) -> Result<bool, JsValue>;
    /// A Promise seen through `then(ok, err)` with (guarded) JS functions: js-sys's
    /// `Promise::then` takes Rust closures, which would bypass the guard.
    #[wasm_bindgen(js_name = Promise)]
    type Thenable;
    #[wasm_bindgen(catch, method, js_name = then)]
    fn then_fn(
        this: &Thenable,
        ok: &js_sys::Function,
        err: &js_sys::Function,
    ) -> Result<JsValue, JsValue>;
}

/// `p.then(ok, err)`; `Err` when `p` is not a promise after all (a page's fetch
/// replacement returning something else).
pub fn then(
    p: &js_sys::Promise,
    ok: &js_sys::Function,
    err: &js_sys::Function,
) -> Result<JsValue, JsValue> {
    use wasm_bindgen::JsCast;
    p.unchecked_ref::<Thenable>().then_fn(ok, err)
}

/// `Array.isArray(v)`; false when it throws (a revoked Proxy).
pub fn is_array(v: &JsValue) -> bool {
    is_array_or_throw(v).unwrap_or(false)
}
