#!/usr/bin/env bash
# Builds the click-first PROTOTYPE (not shipped) into target/clickfirst/: the click module
# (crates/tracker-click, wasm-opt -Oz) as click.wasm (+ click_named.wasm with function names
# for the size report) and tracking.js = the click-first loader (the critical path) with that
# module inlined (base64, esbuild --define:CT_CLICK), which loads the full module after the
# cookie: clicktrail_full.<id>.js (its wasm-bindgen glue and start-up, tests/bench/clickfirst/
# full.js) and the full module built with `--features handover` (it adopts the click the
# click module sent) into target/clickfirst/full/ (its own build id; dist/ is left as it is).
set -euo pipefail
cd "$(dirname "$0")/../../.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
target_dir="${CARGO_TARGET_DIR:-target}"
out="$target_dir/clickfirst"
mkdir -p "$out"
# inline threshold 12, as the full module (measured for the click module: default 9,804 B raw /
# 4,932 B br, 0: 10,759 / 5,380, 8-10: 9,121 / 4,529, 12-15: 9,021 / 4,485, 18: 11,773 / 5,157)
RUSTFLAGS="${RUSTFLAGS:-} -C llvm-args=-inline-threshold=12" \
  cargo build -p clicktrail-tracker-click --profile wasm --target wasm32-unknown-unknown --quiet
features=(--enable-bulk-memory --enable-bulk-memory-opt --enable-mutable-globals --enable-sign-ext
  --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue)
opt=(--flatten --rereloop -Oz -Oz --converge --strip-producers --strip-target-features "${features[@]}")
wasm-opt "${opt[@]}" --strip-debug "$target_dir/wasm32-unknown-unknown/wasm/clicktrail_tracker_click.wasm" -o "$out/click.wasm"
wasm-opt "${opt[@]}" -g "$target_dir/wasm32-unknown-unknown/wasm/clicktrail_tracker_click.wasm" -o "$out/click_named.wasm"
# the full module with the hand-over (also rewrites target/pkg's glue, which the loader bundles)
rm -rf "$out/full"
CLICKTRAIL_FEATURES=handover DIST_DIR="$out/full" SIZE_DIR="$out/full" bash scripts/build.sh >/dev/null
build_id="$(grep -o "clicktrail_bg\.[0-9a-f]\{8\}\.wasm" "$out/full/tracking.js" | head -1 | cut -d. -f2)"
rm -f "$out"/clicktrail_full.*.js
bundle() {
  esbuild "$1" --bundle --format=iife --minify --target=es2018 \
    --log-override:empty-import-meta=silent --legal-comments=none \
    --define:CT_BUILD="\"$build_id\"" "${@:2}" --log-level=warning
}
loader() { bundle tests/bench/clickfirst/loader.js "$@"; }
# after the cookie: the full module's glue and start-up, named by its build id
bundle tests/bench/clickfirst/full.js --outfile="$out/clicktrail_full.$build_id.js"
# inlined (compiled synchronously) ...
loader --define:CT_CLICK="\"$(base64 -w0 "$out/click.wasm")\"" --define:CT_CLICK_FILE='""' \
  --outfile="$out/tracking.js"
# ... or fetched beside the script (streaming compile): tracking-fetched.js + click.wasm
loader --define:CT_CLICK='""' --define:CT_CLICK_FILE='"click.wasm"' --outfile="$out/tracking-fetched.js"
echo "built $out/: $(ls "$out" | tr '\n' ' ')"
