//! The handful of JavaScript built-ins the tracker calls, declared here instead of
//! depending on `js-sys`: js-sys 0.3.107 links ~45 closure shims and its futures
//! support into every binary even when unused (measured: ~1.8 KB gzip).

use alloc::string::String;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(thread_local_v2, js_name = globalThis)]
    static GLOBAL_THIS: JsValue;

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

    #[wasm_bindgen(js_name = Array)]
    pub type Array;
    #[wasm_bindgen(constructor)]
    pub fn new() -> Array;
    #[wasm_bindgen(static_method_of = Array, js_name = isArray)]
    pub fn is_array(v: &JsValue) -> bool;
    #[wasm_bindgen(static_method_of = Array, js_name = of)]
    pub fn of1(a: &JsValue) -> Array;
    #[wasm_bindgen(static_method_of = Array, js_name = of)]
    pub fn of2(a: &JsValue, b: &JsValue) -> Array;
    #[wasm_bindgen(static_method_of = Array, js_name = of)]
    pub fn of3(a: &JsValue, b: &JsValue, c: &JsValue) -> Array;
    #[wasm_bindgen(method)]
    pub fn push(this: &Array, v: &JsValue) -> u32;

    #[wasm_bindgen(js_name = Promise)]
    pub type Promise;
    #[wasm_bindgen(constructor)]
    pub fn new(executor: &mut dyn FnMut(Function, Function)) -> Promise;

    #[wasm_bindgen(js_name = Uint8Array)]
    pub type Uint8Array;
    #[wasm_bindgen(constructor)]
    pub fn new(len: u32) -> Uint8Array;

    #[wasm_bindgen(js_name = Error)]
    pub type JsError;
    #[wasm_bindgen(constructor, js_class = "Error")]
    pub fn new(message: &str) -> JsError;

    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = get)]
    pub fn reflect_get(target: &JsValue, key: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = get)]
    pub fn reflect_get_u32(target: &JsValue, key: u32) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = set)]
    pub fn reflect_set(target: &JsValue, key: &JsValue, value: &JsValue) -> Result<bool, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = construct)]
    pub fn reflect_construct(target: &JsValue, args: &Array) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(catch, js_namespace = JSON, js_name = parse)]
    pub fn json_parse(text: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    pub fn date_now() -> f64;
    #[wasm_bindgen(js_namespace = Math, js_name = random)]
    pub fn math_random() -> f64;
    /// `Object()`: a new plain object.
    #[wasm_bindgen(js_name = Object)]
    pub fn object_new() -> JsValue;
    /// `String(v)`.
    #[wasm_bindgen(js_name = String)]
    pub fn js_string(v: &JsValue) -> String;
}

/// `globalThis`.
pub fn global() -> JsValue {
    GLOBAL_THIS.with(JsValue::clone)
}
