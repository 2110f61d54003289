//! SPA navigation hooks (`pushState`, `replaceState`, `popstate`), events, timers.

use super::{js, window, Result};
use alloc::boxed::Box;
use wasm_bindgen::JsValue;

/// Wraps `history.pushState` and `history.replaceState`: the page's call runs first
/// (its exceptions reach the page unchanged), then `after()`. Also listens to `popstate`.
pub fn hook(after: fn()) -> Result<()> {
    let history = js::get(&window(), "history");
    for name in ["pushState", "replaceState"] {
        let Some(orig) = js::as_function(&js::get(&history, name)) else {
            continue;
        };
        let h = history.clone();
        let wrapped = js::func(Box::new(move |a, b, c, _| {
            let r = if c.is_undefined() {
                orig.call2(&h, &a, &b)
            } else {
                orig.call3(&h, &a, &b, &c)
            }?;
            after();
            Ok(r)
        }));
        js::set(&history, name, &wrapped);
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
