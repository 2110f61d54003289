//! clicktrail tracker: the browser half of clicktrail, compiled to WebAssembly.
//!
//! Browser-free logic lives in plain modules with native unit tests; the `web` layer
//! (wasm32 only) is a thin wrapper over the browser APIs, and `tracker` ties them together.
//!
//! Size builds (`--profile wasm`, see build.rs: `cfg(tiny)`) are `no_std` (with `alloc`),
//! with their own panic handler and a small allocator: std's panic and formatting
//! machinery would cost ~1.5 KB gzip. A panic (there should be none) traps.

#![cfg_attr(tiny, no_std)]

extern crate alloc;

pub mod attribution;
pub mod cmd;
pub mod consent;
pub mod cookie;
pub mod json;
pub mod outbox;
pub mod partnerstack;
pub mod time;
pub mod url;
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
