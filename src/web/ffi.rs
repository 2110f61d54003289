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

#[wasm_bindgen(inline_js = "export function g(){return globalThis}\
export function c(f,t,n,a,b,d){return n>2?f.call(t,a,b,d):n>1?f.call(t,a,b):n>0?f.call(t,a):f.call(t)}")]
extern "C" {
    /// `globalThis`.
    #[wasm_bindgen(js_name = g)]
    pub fn global() -> JsValue;
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
