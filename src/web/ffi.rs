//! The few JavaScript entry points the tracker imports, declared here instead of
//! depending on `js-sys` (js-sys 0.3.107 links ~45 closure shims and its futures support
//! into every binary even when unused: ~1.8 KB gzip).
//!
//! Everything else (`Array.isArray`, `Array.of`, `JSON.parse`, `Date.now`, `fetch`,
//! `then` …) is reached with `Reflect.get` + `Function.prototype.call` through
//! [`super::js::invoke`]: each distinct import costs a wasm import entry, a wasm shim
//! and a JS glue function, and every call through `invoke` is caught (a revoked Proxy
//! or a page that replaced a built-in cannot throw into the page through the tracker).

use wasm_bindgen::prelude::*;

// `w` (guard): every function the tracker hands to the page or the browser goes through
// it, so nothing thrown in the wasm (a panic is a `WebAssembly.RuntimeError` trap with
// panic=abort) ever reaches the page's own call. After a trap the instance's state is not
// trusted again: every guarded function becomes a no-op; the dispatcher (mode 2) keeps the
// calls in its `q` like the snippet's stub, a Promise helper (mode 4) rejects. Mode 1: debug log.
// `h` (hook): wraps `o[n]` (history.pushState…) in plain JS: the page's function runs as
// before (its exceptions reach the page unchanged, even after a trap), then `a()`.
#[wasm_bindgen(inline_js = "export function g(){return globalThis}\
export function c(f,t,n,a,b,d){return n>2?f.call(t,a,b,d):n>1?f.call(t,a,b):n>0?f.call(t,a):f.call(t)}\
let dead=0;\
export function w(f,m){const g=function(){if(!dead)try{return f.apply(this,arguments)}catch(e){\
if(!(e instanceof WebAssembly.RuntimeError||e instanceof RangeError)){if(m&1)try{console.log('[clicktrail]','error:',e)}catch(_){}return}\
dead=1;if(m&1)try{console.log('[clicktrail]','internal error: tracking stopped, later calls are queued',e)}catch(_){}}\
if(m&2)(g.q=g.q||[]).push(arguments);if(m&4)return Promise.reject(new Error('clicktrail: tracking stopped after an internal error'))};return g}\
export function t(f){const g=globalThis;try{if(g.scheduler&&g.scheduler.postTask){g.scheduler.postTask(f).catch(()=>{});return}\
if(g.requestIdleCallback){g.requestIdleCallback(f,{timeout:200});return}}catch(_){}g.setTimeout(f,0)}\
export function h(o,n,a){try{const f=o[n];if(typeof f=='function')o[n]=function(){const r=f.apply(this,arguments);a();return r}}catch(_){}}")]
extern "C" {
    /// `globalThis`.
    #[wasm_bindgen(js_name = g)]
    pub fn global() -> JsValue;
    /// The guard (see above): `f` wrapped so that it never throws.
    #[wasm_bindgen(js_name = w)]
    pub fn guard(f: &JsValue, mode: u32) -> JsValue;
    /// `f` in a later task (postTask / requestIdleCallback / setTimeout 0).
    #[wasm_bindgen(js_name = t)]
    pub fn later_task(f: &JsValue);
    /// `o[n]` replaced by a wrapper calling the original, then `after()`.
    #[wasm_bindgen(js_name = h)]
    pub fn hook_after(o: &JsValue, n: &str, after: &JsValue);
    /// `f.call(this, ...)` with the first `n` of `a`, `b`, `c` (one import for every arity:
    /// each import is a wasm shim plus a JS glue function).
    #[wasm_bindgen(catch, js_name = c)]
    pub fn call_n(
        f: &JsValue,
        this: &JsValue,
        n: u32,
        a: &JsValue,
        b: &JsValue,
        c: &JsValue,
    ) -> Result<JsValue, JsValue>;
}

#[wasm_bindgen]
extern "C" {
    /// A JS function.
    #[wasm_bindgen(js_name = Function)]
    pub type Function;

    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = get)]
    pub fn reflect_get(target: &JsValue, key: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = set)]
    pub fn reflect_set(target: &JsValue, key: &JsValue, value: &JsValue) -> Result<bool, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = construct)]
    pub fn reflect_construct(target: &JsValue, args: &JsValue) -> Result<JsValue, JsValue>;
}

pub const U: &JsValue = &JsValue::UNDEFINED;

impl Function {
    pub fn call0(&self, ctx: &JsValue) -> Result<JsValue, JsValue> {
        call_n(self, ctx, 0, U, U, U)
    }
    pub fn call1(&self, ctx: &JsValue, a: &JsValue) -> Result<JsValue, JsValue> {
        call_n(self, ctx, 1, a, U, U)
    }
    pub fn call2(&self, ctx: &JsValue, a: &JsValue, b: &JsValue) -> Result<JsValue, JsValue> {
        call_n(self, ctx, 2, a, b, U)
    }
    pub fn call3(
        &self,
        ctx: &JsValue,
        a: &JsValue,
        b: &JsValue,
        c: &JsValue,
    ) -> Result<JsValue, JsValue> {
        call_n(self, ctx, 3, a, b, c)
    }
}
