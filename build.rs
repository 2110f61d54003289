//! Size builds (`opt-level` "z"/"s", i.e. `--profile wasm`) of the wasm tracker are
//! `no_std` with their own panic handler and a small allocator: std's panic and
//! formatting machinery costs ~1.5 KB gzip (5%). Every other build (tests, debug) keeps
//! std, so wasm-bindgen-test and its panic reporting work unchanged.
//! `CT_STD=1` turns it off (to measure what `no_std` saves).
fn main() {
    println!("cargo::rustc-check-cfg=cfg(tiny)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CT_STD");
    let wasm = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|a| a == "wasm32");
    let small = std::env::var("OPT_LEVEL").is_ok_and(|o| o == "z" || o == "s");
    if wasm && small && std::env::var("CT_STD").is_err() {
        println!("cargo::rustc-cfg=tiny");
    }
}
