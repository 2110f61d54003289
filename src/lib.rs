//! clicktrail tracker: the browser half of clicktrail, compiled to WebAssembly.
//!
//! Browser-free logic lives in the `no_std` core (`crates/tracker-core`, its files compiled
//! in here) with native unit tests; the `web` layer (wasm32 only) is a thin wrapper over the
//! browser APIs, and `tracker` ties them together.
//!
//! Size builds (`--profile wasm`, see build.rs: `cfg(tiny)`) are `no_std` (with `alloc`),
//! with their own panic handler and a small allocator: std's panic and formatting
//! machinery would cost ~1.5 KB gzip. A panic (there should be none) traps.

#![cfg_attr(tiny, no_std)]

extern crate alloc;

// The rules, browser-free and `no_std`, are written once, in `crates/tracker-core`, and
// compiled into this crate as its own modules (the same files; `clicktrail::url`,
// `crate::cookie`, ...). Linked as a dependency instead, the same code made the shipped wasm
// 334 B gzip larger (LTO inlines differently across a crate boundary): docs/tracker.md.
#[path = "../crates/tracker-core/src/attribution.rs"]
pub mod attribution;
#[path = "../crates/tracker-core/src/cmd.rs"]
pub mod cmd;
#[path = "../crates/tracker-core/src/consent.rs"]
pub mod consent;
#[path = "../crates/tracker-core/src/cookie.rs"]
pub mod cookie;
#[path = "../crates/tracker-core/src/json.rs"]
pub mod json;
#[path = "../crates/tracker-core/src/outbox.rs"]
pub mod outbox;
#[path = "../crates/tracker-core/src/partnerstack.rs"]
pub mod partnerstack;
#[path = "../crates/tracker-core/src/time.rs"]
pub mod time;
#[path = "../crates/tracker-core/src/url.rs"]
pub mod url;
#[path = "../crates/tracker-core/src/uuid.rs"]
pub mod uuid;

#[cfg(target_arch = "wasm32")]
mod tracker;
#[cfg(target_arch = "wasm32")]
mod web;

#[cfg(target_arch = "wasm32")]
pub use tracker::{reset_for_tests, start};

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    // SAFETY: wasm32-unknown-unknown without atomics is single-threaded.
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[cfg(tiny)]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
