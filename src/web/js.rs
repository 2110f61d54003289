//! Reading hostile JS values with `Reflect`, calling page functions safely, console.

use super::ffi::{self, Function};
use alloc::boxed::Box;
use alloc::string::String;
use core::sync::atomic::{AtomicBool, Ordering};
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
pub fn func(f: Box<Fn4>) -> JsValue {
    func_m(f, 0)
}

/// [`func`] with guard `mode` bits ([`QUEUE`], [`PROMISE`]).
pub fn func_m(f: Box<Fn4>, mode: u32) -> JsValue {
    ffi::guard(
        &Closure::<Fn4>::wrap(f).into_js_value(),
        mode | u32::from(debug()),
    )
}

/// A JS function running `f()` and returning `undefined`.
pub fn func0(f: fn()) -> JsValue {
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
        let mut args = [&tag, &msg, v].to_vec();
        if v.is_undefined() {
            args.pop();
        }
        let _ = invoke(&get(&super::window(), "console"), "log", &args);
    }
}

/// `log` of several pieces, joined only when debug is on.
pub fn logs(parts: &[&str]) {
    if debug() {
        log(&crate::json::cat(parts));
    }
}

/// `obj[method](...args)`; `Err` when there is no such method or it throws.
pub fn invoke(obj: &JsValue, method: &str, args: &[&JsValue]) -> super::Result<JsValue> {
    let f = as_function(&get(obj, method)).ok_or(super::Error::Missing("method"))?;
    let arg = |i: usize| args.get(i).copied().unwrap_or(ffi::U);
    Ok(ffi::call_n(
        &f,
        obj,
        args.len().min(3) as u32,
        arg(0),
        arg(1),
        arg(2),
    )?)
}

/// `obj[key]`, `undefined` when `obj` is not an object or the getter throws.
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() && !obj.is_function() {
        return JsValue::UNDEFINED;
    }
    ffi::reflect_get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

pub fn get_i(obj: &JsValue, i: u32) -> JsValue {
    if !obj.is_object() {
        return JsValue::UNDEFINED;
    }
    ffi::reflect_get(obj, &JsValue::from(i)).unwrap_or(JsValue::UNDEFINED)
}

/// `globalThis[ns][method](...args)`, caught.
pub fn call_global(ns: &str, method: &str, args: &[&JsValue]) -> super::Result<JsValue> {
    invoke(&get(&super::window(), ns), method, args)
}

/// `Array.isArray(v)`; `false` when it throws (a revoked Proxy).
pub fn is_array(v: &JsValue) -> bool {
    call_global("Array", "isArray", &[v]).is_ok_and(|r| r.as_bool() == Some(true))
}

/// `Array.of(...items)` (up to three).
pub fn array(items: &[&JsValue]) -> JsValue {
    call_global("Array", "of", items).unwrap_or(JsValue::UNDEFINED)
}

/// `new globalThis[ctor](...args)` (up to three arguments).
pub fn construct(ctor: &str, args: &[&JsValue]) -> super::Result<JsValue> {
    Ok(ffi::reflect_construct(
        &get(&super::window(), ctor),
        &array(args),
    )?)
}

pub fn set(obj: &JsValue, key: &str, v: &JsValue) -> bool {
    ffi::reflect_set(obj, &JsValue::from_str(key), v).unwrap_or(false)
}

/// A string, or a finite number turned into text; anything else is `None`.
pub fn text(v: &JsValue) -> Option<String> {
    if let Some(s) = v.as_string() {
        return Some(s);
    }
    let n = v.as_f64()?;
    if n.is_finite() {
        invoke(&super::window(), "String", &[v]).ok()?.as_string()
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

/// A new plain object (`Object()`).
pub fn obj() -> JsValue {
    invoke(&super::window(), "Object", &[]).unwrap_or(JsValue::UNDEFINED)
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
