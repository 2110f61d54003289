//! JS values: the functions the tracker hands out (behind the guard), reading hostile
//! page values through `js_sys::Reflect` (never throws), calling page callbacks, console.

use super::ffi;
use alloc::boxed::Box;
use alloc::string::String;
use core::sync::atomic::{AtomicBool, Ordering};
use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// The one Rust signature behind every function handed to the page (up to four
/// arguments, a return value, may throw). One signature = one set of wasm-bindgen
/// shims; each extra closure type costs ~1 KB of wasm.
pub type Fn4 = dyn Fn(JsValue, JsValue, JsValue, JsValue) -> Result<JsValue, JsValue>;

/// Guard modes (see [`ffi::guard`]): calls are queued after a trap / a Promise helper.
pub const QUEUE: u32 = 2;
pub const PROMISE: u32 = 4;

/// A JS function calling `f` (owned by the JS garbage collector), behind the guard:
/// it never throws, whatever `f` does (an `Err`, a panic).
/// (Taking the box, not a generic closure, keeps wasm-bindgen's shims to one copy.)
pub fn func(f: Box<Fn4>) -> Function {
    func_m(f, 0)
}

/// [`func`] with guard `mode` bits ([`QUEUE`], [`PROMISE`]).
pub fn func_m(f: Box<Fn4>, mode: u32) -> Function {
    ffi::guard(
        &Closure::<Fn4>::wrap(f).into_js_value(),
        mode | u32::from(debug()),
    )
}

/// A JS function running `f()` and returning `undefined`.
pub fn func0(f: fn()) -> Function {
    func(Box::new(move |_, _, _, _| {
        f();
        Ok(JsValue::UNDEFINED)
    }))
}

static DEBUG: AtomicBool = AtomicBool::new(false);

pub fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

pub fn debug() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// `console.log("[clicktrail]", msg)` when debug is on.
pub fn log(msg: &str) {
    log_v(msg, &JsValue::UNDEFINED);
}

/// Same, with a value printed by the console (left out when `undefined`, so a line
/// never ends in a stray "undefined").
pub fn log_v(msg: &str, v: &JsValue) {
    if debug() {
        let tag = JsValue::from_str("[clicktrail]");
        let msg = JsValue::from_str(msg);
        if v.is_undefined() {
            web_sys::console::log_2(&tag, &msg);
        } else {
            web_sys::console::log_3(&tag, &msg, v);
        }
    }
}

/// `console.warn(msg)`, debug or not: for what the page's owner must see (a mode the page
/// asks for that this build leaves out).
pub fn warn(msg: &str) {
    web_sys::console::warn_1(&JsValue::from_str(msg));
}

/// `log` of several pieces, joined only when debug is on.
pub fn logs(parts: &[&str]) {
    if debug() {
        log(&crate::json::cat(parts));
    }
}

/// `obj[key]`, `undefined` when `obj` is not an object or the getter throws (a revoked
/// Proxy, a throwing getter): page values are read only through this.
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() && !obj.is_function() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

pub fn get_i(obj: &JsValue, i: u32) -> JsValue {
    if !obj.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get_u32(obj, i).unwrap_or(JsValue::UNDEFINED)
}

/// `Array.isArray(v)` (false for a revoked Proxy, which makes it throw).
pub fn is_array(v: &JsValue) -> bool {
    v.is_object() && ffi::is_array(v)
}

/// A new array of `items`.
pub fn array(items: &[&JsValue]) -> Array {
    let a = Array::new();
    for v in items {
        a.push(v);
    }
    a
}

/// `obj[key] = v`; false when it throws (frozen object, revoked Proxy, setter).
pub fn set(obj: &JsValue, key: &str, v: &JsValue) -> bool {
    Reflect::set(obj, &JsValue::from_str(key), v).unwrap_or(false)
}

/// A string, or a finite number turned into text; anything else is `None`.
pub fn text(v: &JsValue) -> Option<String> {
    if let Some(s) = v.as_string() {
        return Some(s);
    }
    let n = v.as_f64()?;
    if n.is_finite() {
        v.unchecked_ref::<js_sys::Number>()
            .to_string_with_radix(10)
            .ok()
            .map(String::from)
    } else {
        None
    }
}

/// A non-empty string member.
pub fn get_text(obj: &JsValue, key: &str) -> Option<String> {
    text(&get(obj, key)).filter(|s| !s.is_empty())
}

/// `length` of an array-like, capped.
pub fn len(obj: &JsValue) -> u32 {
    get(obj, "length")
        .as_f64()
        .filter(|n| n.is_finite() && *n > 0.0)
        .map(|n| n.min(10_000.0) as u32)
        .unwrap_or(0)
}

pub fn as_function(v: &JsValue) -> Option<Function> {
    if v.is_function() {
        Some(v.clone().unchecked_into())
    } else {
        None
    }
}

/// Calls a page callback; a throwing callback is caught and logged.
pub fn call(f: &Function, arg: &JsValue) {
    if let Err(e) = f.call1(&JsValue::NULL, arg) {
        log_v("callback threw:", &e);
    }
}

/// A new plain object.
pub fn obj() -> JsValue {
    Object::new().into()
}

/// `new Error("clicktrail: " + msg)`.
pub fn error(msg: &str) -> JsValue {
    js_sys::Error::new(&crate::json::cat(&["clicktrail: ", msg])).into()
}

/// `{cid, expiredAt}` (or `{cid}` when `expired_at` is `None` and `with_exp` is false).
pub fn cid_object(cid: Option<&str>, expired_at: Option<&str>, with_exp: bool) -> JsValue {
    let o = obj();
    set(
        &o,
        "cid",
        &cid.map(JsValue::from_str).unwrap_or(JsValue::NULL),
    );
    if with_exp {
        set(
            &o,
            "expiredAt",
            &expired_at.map(JsValue::from_str).unwrap_or(JsValue::NULL),
        );
    }
    o
}
