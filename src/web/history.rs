//! SPA navigation hooks (`pushState`, `replaceState`, `popstate`), events, timers.

use super::{ffi, js, window, Error, Result};
use js_sys::Function;

/// Wraps `history.pushState` and `history.replaceState` (in plain JS, see
/// [`ffi::hook_after`]): the page's call runs first (its exceptions reach the page
/// unchanged), then `after()`. Also listens to `popstate`.
pub fn hook(after: fn()) -> Result<()> {
    let history = window()
        .and_then(|w| w.history().ok())
        .ok_or(Error::Missing("history"))?;
    let f = js::func0(after);
    for name in ["pushState", "replaceState"] {
        ffi::hook_after(&history, name, &f);
    }
    on("popstate", after)
}

/// `window.addEventListener(event, f)`.
pub fn on(event: &str, f: fn()) -> Result<()> {
    let w = window().ok_or(Error::Missing("window"))?;
    w.add_event_listener_with_callback(event, &js::func0(f))?;
    Ok(())
}

/// `setTimeout(f, ms)`.
pub fn later(ms: u64, f: fn()) -> Result<()> {
    let w = window().ok_or(Error::Missing("window"))?;
    let cb: Function = js::func0(f);
    w.set_timeout_with_callback_and_timeout_and_arguments_0(&cb, ms.min(2_000_000_000) as i32)?;
    Ok(())
}

/// Runs `f` in a later task of its own: `scheduler.postTask` where available, else
/// `requestIdleCallback` (with a 200 ms timeout), else `setTimeout(f, 0)`.
pub fn task(f: fn()) {
    ffi::later_task(&js::func0(f));
}
