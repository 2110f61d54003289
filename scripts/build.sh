#!/usr/bin/env bash
# Builds what a CDN serves into dist/ (docs/tracker.md, "Two modules"):
# - tracking.js: the loader (js/loader.js, one minified classic script) with the click module
#   (crates/tracker-click) inlined, the critical path;
# - clicktrail_full.<id>.js: a full module's wasm-bindgen glue and start-up (js/full.js),
#   added after the cookie;
# - clicktrail_bg.<id>.wasm: a full module (wasm-opt -Oz; <id> = 8 hex digits of its SHA-256),
#   one per page mode (below); the Trackdesk pages' one also as clicktrail_bg.wasm (the old
#   name, for existing preload tags);
# - a .br (brotli 11) and .gz (gzip 9) beside each of them, and clicktrail.d.ts.
# Hashed names are cached immutable. $SIZE_DIR (default target/size) gets the copies with
# function names for `npm run size` and tracking-fetched.js + clicktrail_click.<hash>.wasm (the
# click module fetched beside the loader instead: measured by `npm run bench:browser`, not
# shipped).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

target_dir="${CARGO_TARGET_DIR:-target}"
# CLICKTRAIL_FEATURES=panic-test DIST_DIR=dist-panic: the deliberately panicking build of
# docs/tracker.md (never shipped). The full module always has `handover` (it adopts the click
# the click module sent).
dist="${DIST_DIR:-dist}"
size_dir="${SIZE_DIR:-$target_dir/size}"
mkdir -p "$dist" "$size_dir"
# The features rustc >= 1.87 emits for wasm32 by default; wasm-opt must be told.
features=(--enable-bulk-memory --enable-bulk-memory-opt --enable-mutable-globals --enable-sign-ext
  --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue)
# --flatten --rereloop then -Oz twice (--converge) and no target_features section:
# 0.3 KB gzip less than a plain -Oz. Functions with one caller are inlined only up to 25
# instructions (-Oz: any size): 0.9 KB more raw wasm but 0.5 KB less gzip, because the
# copies inlined into the big command functions compress worse than calls (10-30 give
# 30.0-30.1 KB; 0: 30.3; 50: 30.3; unlimited: 30.6). See docs/tracker.md, size table.
opt=(--one-caller-inline-max-function-size=25 --flatten --rereloop -Oz -Oz --converge
  --strip-producers --strip-target-features "${features[@]}")

# esbuild bundles and minifies; terser then compresses the result further (two passes:
# 116 B br less on tracking.js than esbuild alone). The last argument is --outfile=FILE.
bundle() {
  local out="${*: -1}"
  out="${out#--outfile=}"
  esbuild "$1" --bundle --format=iife --minify --target=es2018 \
    --log-override:empty-import-meta=silent --legal-comments=none "${@:2}" --log-level=warning
  terser "$out" --compress passes=2 --mangle --ecma 2018 --output "$out"
}

# One full module per page mode, so a page downloads only its mode's code (docs/tracker.md,
# "Per-mode builds"): t = Trackdesk pages (Tito included), a = + Affitor, p = + PartnerStack,
# x = both. Each is its own build: wasm-bindgen glue (clicktrail_full.<id>.js) and wasm
# (clicktrail_bg.<id>.wasm), one id. The Trackdesk build is also clicktrail_bg.wasm (the
# hash-free name of existing preload tags). CLICKTRAIL_MODES="t": that build only (the other
# modes' ids then name it).
declare -A mode_features=([t]="tito" [a]="tito,affitor" [p]="tito,partnerstack" [x]="tito,affitor,partnerstack")
declare -A ids=()
full_module() {
  local mode="$1" out
  # LLVM's inliner runs with threshold 5 at opt-level "z"; 12 measured smallest for this
  # crate (11-15 give the same binary, 10: +0.2 KB gzip, 16: +0.9 KB). Target code only
  # (RUSTFLAGS with --target does not reach build scripts or proc macros).
  RUSTFLAGS="${RUSTFLAGS:-} -C llvm-args=-inline-threshold=12" \
    cargo build -p clicktrail --profile wasm --target wasm32-unknown-unknown --quiet \
    --no-default-features --features "handover,${mode_features[$mode]}${CLICKTRAIL_FEATURES:+,$CLICKTRAIL_FEATURES}"
  # --encode-into always: strings go to wasm with TextEncoder#encodeInto only (no ASCII
  # fast-path loop in the glue); every browser that runs this wasm (reference types) has it.
  wasm-bindgen --target web --encode-into always --out-dir target/pkg --out-name clicktrail \
    "$target_dir/wasm32-unknown-unknown/wasm/clicktrail.wasm"
  if [ "$mode" = t ]; then out="$dist/clicktrail_bg.wasm"; else out="$size_dir/clicktrail_bg.$mode.wasm"; fi
  wasm-opt "${opt[@]}" --strip-debug target/pkg/clicktrail_bg.wasm -o "$out"
  # The same optimisation keeping the function names (-g), for `npm run size`'s list of the
  # largest functions: the code is the same, only the name section differs.
  wasm-opt "${opt[@]}" -g target/pkg/clicktrail_bg.wasm -o "$size_dir/clicktrail_named.$mode.wasm"
  # One-letter import/export names in the wasm and the glue (see the script).
  node scripts/minify-names.mjs "$out" target/pkg/clicktrail.js "${features[@]}" >/dev/null
  # its glue and start-up (added by the loader after the cookie), then the build id of both
  # in a custom section of the wasm and in their hashed names (see the script)
  local ps=false
  case "$mode" in p | x) ps=true ;; esac
  bundle js/full.js --define:CT_BUILD='"__CT_BUILD__"' --define:CT_PARTNERSTACK=$ps --outfile="$size_dir/full.$mode.js"
  ids[$mode]="$(node scripts/edge-files.mjs wasm "$dist" "$out" "$size_dir/full.$mode.js")"
}
# (x last: target/pkg keeps the all-modes glue, which `npm run bench:browser` bundles with the
# earlier one-module loader)
for mode in ${CLICKTRAIL_MODES:-t a p x}; do full_module "$mode"; done
build_defines=()
for mode in t a p x; do build_defines+=(--define:CT_BUILD_${mode^^}="\"${ids[$mode]:-${ids[t]}}\""); done

# The click module: no wasm-bindgen. Inline threshold 12, as the full
# module (measured for it: default 9,804 B raw / 4,932 B br, 0: 10,759 / 5,380, 8-10:
# 9,121 / 4,529, 12-15: 9,021 / 4,485, 18: 11,773 / 5,157).
RUSTFLAGS="${RUSTFLAGS:-} -C llvm-args=-inline-threshold=12" \
  cargo build -p clicktrail-tracker-click --profile wasm --target wasm32-unknown-unknown --quiet
click_opt=(--one-caller-inline-max-function-size=25 --flatten --rereloop -Oz -Oz --converge --strip-producers --strip-target-features "${features[@]}")
click_src="$target_dir/wasm32-unknown-unknown/wasm/clicktrail_tracker_click.wasm"
wasm-opt "${click_opt[@]}" --strip-debug "$click_src" -o "$size_dir/click.wasm"
wasm-opt "${click_opt[@]}" -g "$click_src" -o "$size_dir/click_named.wasm"
click_file="$(node scripts/edge-files.mjs click "$size_dir" "$size_dir/click.wasm")"

# the critical path: the loader carrying the click module (hex: each byte two characters,
# which keeps the wasm's byte patterns for brotli: 4.3 KB br against base64's 5.2 KB; compiled
# off the main thread: no round trip before the cookie) ...
click_hex="$(od -An -v -tx1 "$size_dir/click.wasm" | tr -d ' \n')"
bundle js/loader.js "${build_defines[@]}" --define:CT_CLICK="\"$click_hex\"" \
  --define:CT_CLICK_FILE='""' --outfile="$dist/tracking.js"
# ... or fetching it beside the script (streaming compile; 1.2 KB br less): measured, not shipped
bundle js/loader.js "${build_defines[@]}" --define:CT_CLICK='""' --define:CT_CLICK_FILE="\"$click_file\"" \
  --outfile="$size_dir/tracking-fetched.js"
node scripts/edge-files.mjs compress "$dist/tracking.js" "$dist/clicktrail_bg.wasm"
cp js/clicktrail.d.ts "$dist/clicktrail.d.ts"
echo "built $dist/ (full modules: t ${ids[t]}${ids[a]:+, a ${ids[a]}}${ids[p]:+, p ${ids[p]}}${ids[x]:+, x ${ids[x]}}): $(ls "$dist" | tr '\n' ' ')"
