#!/usr/bin/env bash
# Everything: lint, native unit tests (tracker + collector), the size budget,
# the tracker's browser tests in real Chromium, and the end-to-end suite
# (real collector binary + Chromium, Firefox ESR and WebKitGTK, one harness: see
# tests/e2e/harness.mjs and docs/browsers.md; E2E_ENGINES=chromium,firefox,webkit picks).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The tests use nothing outside the repository: first a static check that no file names a
# folder beside it; then this script runs again, inside scripts/self-contained.sh, where
# the repository's parent folder is hidden (root + unshare; elsewhere a warning, or a failure
# with CLICKTRAIL_REQUIRE_ISOLATION=1).
if [ -z "${CLICKTRAIL_ISOLATED:-}" ]; then
  bash scripts/setup.sh
  step "self-contained: nothing outside the repository"
  bash scripts/self-contained.sh check
  exec bash scripts/self-contained.sh run bash scripts/test.sh "$@"
fi
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

step "format and lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy -p clicktrail --target wasm32-unknown-unknown --quiet -- -D warnings

step "native tests (tracker logic; collector router, differential, durability and cluster tests on SQLite and PostgreSQL)"
# one throwaway PostgreSQL cluster for the whole run (tests create a database each)
export CLICKTRAIL_PG_DIR="${CLICKTRAIL_PG_DIR:-$(mktemp -u /tmp/clicktrail-test-pg.XXXXXX)}"
eval "$(bash scripts/pg-test-cluster.sh start)"
trap 'bash scripts/pg-test-cluster.sh stop >/dev/null 2>&1 || true' EXIT
cargo test --workspace --quiet

step "build dist/, check the size budget and the TypeScript declarations"
bash scripts/build.sh
node scripts/size.mjs
tsc --noEmit --strict --lib es2020,dom tests/types/usage.ts

step "tracker browser tests (wasm-bindgen-test in headless Chromium)"
wasm-pack --log-level warn test --headless --chrome --chromedriver "$(command -v chromedriver)"
# a deliberately panicking build: nothing reaches the page's own trackdesk(...) call
wasm-pack --log-level warn test --headless --chrome --chromedriver "$(command -v chromedriver)" \
  -- --features panic-test --test panic

step "end-to-end tests (real collector; ${E2E_ENGINES:-chromium,firefox,webkit}; real filter lists; uBO in Firefox; ITP in WebKit)"
cargo build -p clicktrail-collector --quiet
# One test file at a time: each starts its own browsers, Xvfb and collectors (free ports).
node --test --test-concurrency=1 --test-timeout=300000 tests/e2e/

step "release artifact (npm run release, then its binary alone in an empty folder)"
bash scripts/release.sh
node --test --test-concurrency=1 tests/release/
