//! SPA navigation hooks (`pushState`, `replaceState`, `popstate`), events, timers.

use super::{ffi, js, window, Result};
use wasm_bindgen::JsValue;

/// Wraps `history.pushState` and `history.replaceState` (in plain JS, see
/// [`ffi::hook_after`]): the page's call runs first (its exceptions reach the page
/// unchanged), then `after()`. Also listens to `popstate`.
pub fn hook(after: fn()) -> Result<()> {
    let history = js::get(&window(), "history");
    let f = js::func0(after);
    for name in ["pushState", "replaceState"] {
        ffi::hook_after(&history, name, &f);
    }
    on("popstate", after)
}

/// `window.addEventListener(event, f)`.
pub fn on(event: &str, f: fn()) -> Result<()> {
    js::invoke(
        &window(),
        "addEventListener",
        &[&event.into(), &js::func0(f)],
    )?;
    Ok(())
}

/// `setTimeout(f, ms)`.
pub fn later(ms: u64, f: fn()) -> Result<()> {
    js::invoke(
        &window(),
        "setTimeout",
        &[&js::func0(f), &JsValue::from(ms.min(2_000_000_000) as u32)],
    )?;
    Ok(())
}

/// Runs `f` in a later task of its own: `scheduler.postTask` where available, else
/// `requestIdleCallback` (with a 200 ms timeout), else `setTimeout(f, 0)`.
pub fn task(f: fn()) {
    ffi::later_task(&js::func0(f));
}
