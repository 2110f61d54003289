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

#[wasm_bindgen(inline_js = "export function g(){return globalThis}")]
extern "C" {
    /// `globalThis`.
    #[wasm_bindgen(js_name = g)]
    pub fn global() -> JsValue;
}

#[wasm_bindgen]
extern "C" {
    /// A JS function.
    #[wasm_bindgen(js_name = Function)]
    pub type Function;
    #[wasm_bindgen(method, catch, js_name = call)]
    pub fn call0(this: &Function, ctx: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch, js_name = call)]
    pub fn call1(this: &Function, ctx: &JsValue, a: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch, js_name = call)]
    pub fn call2(
        this: &Function,
        ctx: &JsValue,
        a: &JsValue,
        b: &JsValue,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch, js_name = call)]
    pub fn call3(
        this: &Function,
        ctx: &JsValue,
        a: &JsValue,
        b: &JsValue,
        c: &JsValue,
    ) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = get)]
    pub fn reflect_get(target: &JsValue, key: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = set)]
    pub fn reflect_set(target: &JsValue, key: &JsValue, value: &JsValue) -> Result<bool, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = construct)]
    pub fn reflect_construct(target: &JsValue, args: &JsValue) -> Result<JsValue, JsValue>;
}
