#!/usr/bin/env bash
# Builds what a CDN serves into dist/: tracking.js (loader + wasm-bindgen glue, one
# minified classic script), clicktrail_bg.<id>.wasm (wasm-opt -Oz; <id> = 8 hex digits of
# its SHA-256, the name tracking.js fetches, cached immutable), the same bytes as
# clicktrail_bg.wasm (the old name, for existing preload tags), a .br (brotli 11) and .gz
# (gzip 9) beside each of them, and clicktrail.d.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

target_dir="${CARGO_TARGET_DIR:-target}"
# CLICKTRAIL_FEATURES=panic-test DIST_DIR=dist-panic: the deliberately panicking build of
# docs/tracker.md (never shipped); CLICKTRAIL_FEATURES=handover: the click-first prototype's
# full module (tests/bench/clickfirst/build.sh). Defaults: no features, dist/.
dist="${DIST_DIR:-dist}"
features_flag=()
if [ -n "${CLICKTRAIL_FEATURES:-}" ]; then features_flag=(--features "$CLICKTRAIL_FEATURES"); fi
# CLICKTRAIL_NO_DEFAULT=1: without the default features (the modes: affitor, partnerstack,
# tito), for a per-mode build of the full module, e.g. CLICKTRAIL_FEATURES=handover,tito
# (docs/tracker.md, "Per-mode builds of the full module").
if [ "${CLICKTRAIL_NO_DEFAULT:-}" = 1 ]; then features_flag+=(--no-default-features); fi
# LLVM's inliner runs with threshold 5 at opt-level "z"; 12 measured smallest for this
# crate (11-15 give the same binary, 10: +0.2 KB gzip, 16: +0.9 KB). Target code only
# (RUSTFLAGS with --target does not reach build scripts or proc macros).
RUSTFLAGS="${RUSTFLAGS:-} -C llvm-args=-inline-threshold=12" \
  cargo build -p clicktrail --profile wasm --target wasm32-unknown-unknown --quiet "${features_flag[@]}"
# --encode-into always: strings go to wasm with TextEncoder#encodeInto only (no ASCII
# fast-path loop in the glue); every browser that runs this wasm (reference types) has it.
wasm-bindgen --target web --encode-into always --out-dir target/pkg --out-name clicktrail \
  "$target_dir/wasm32-unknown-unknown/wasm/clicktrail.wasm"

mkdir -p "$dist"
# The features rustc >= 1.87 emits for wasm32 by default; wasm-opt must be told.
# --flatten --rereloop then -Oz twice (--converge) and no target_features section:
# 0.3 KB gzip less than a plain -Oz. Functions with one caller are inlined only up to 25
# instructions (-Oz: any size): 0.9 KB more raw wasm but 0.5 KB less gzip, because the
# copies inlined into the big command functions compress worse than calls (10-30 give
# 30.0-30.1 KB; 0: 30.3; 50: 30.3; unlimited: 30.6). See docs/tracker.md, size table.
features=(--enable-bulk-memory --enable-bulk-memory-opt --enable-mutable-globals --enable-sign-ext
  --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue)
opt=(--one-caller-inline-max-function-size=25 --flatten --rereloop -Oz -Oz --converge
  --strip-producers --strip-target-features "${features[@]}")
wasm-opt "${opt[@]}" --strip-debug target/pkg/clicktrail_bg.wasm -o "$dist/clicktrail_bg.wasm"
# The same optimisation keeping the function names (-g), for `npm run size`'s list of the
# largest functions: the code is the same, only the name section differs.
# (SIZE_DIR: where that copy goes; the click-first prototype's full module sets its own.)
size_dir="${SIZE_DIR:-$target_dir/size}"
mkdir -p "$size_dir"
wasm-opt "${opt[@]}" -g target/pkg/clicktrail_bg.wasm -o "$size_dir/clicktrail_named.wasm"
# One-letter import/export names in the wasm and the glue (see the script).
node scripts/minify-names.mjs "$dist/clicktrail_bg.wasm" target/pkg/clicktrail.js "${features[@]}"

# The build id in a custom section of the wasm and in its hashed name (see the script).
build_id="$(node scripts/edge-files.mjs wasm "$dist")"

# CT_BUILD: the loader fetches clicktrail_bg.<id>.wasm beside the script.
esbuild js/loader.js --bundle --format=iife --minify --target=es2018 \
  --log-override:empty-import-meta=silent --legal-comments=none \
  --define:CT_BUILD="\"$build_id\"" \
  --outfile="$dist/tracking.js" --log-level=warning
node scripts/edge-files.mjs compress "$dist/tracking.js" "$dist/clicktrail_bg.wasm"
cp js/clicktrail.d.ts "$dist/clicktrail.d.ts"
echo "built $dist/: $(ls "$dist" | tr '\n' ' ')"
