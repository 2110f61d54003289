#!/usr/bin/env bash
# One idempotent set-up for a fresh machine: everything `npm start` and `npm test` need.
# Each step checks first, so a second run takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION="$(bash scripts/wasm-bindgen-version.sh)"   # the version pinned in Cargo.lock
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
export PATH="$HOME/.cargo/bin:$PATH"

# The toolchain pinned in rust-toolchain.toml. When the machine's stable toolchain is that very
# version (as on our machines), it is made available under the pinned name (the same link the
# machine image has) instead of downloading a second copy; otherwise rustup installs it.
if [ -f rust-toolchain.toml ]; then
  PINNED="$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)"
  HOST="$(RUSTUP_TOOLCHAIN=stable rustc -vV 2>/dev/null | sed -n 's/^host: //p')"
  TOOLCHAINS="${RUSTUP_HOME:-$HOME/.rustup}/toolchains"
  if [ -n "$PINNED" ] && [ -n "$HOST" ] && [ ! -e "$TOOLCHAINS/$PINNED-$HOST" ] &&
    [ "$(RUSTUP_TOOLCHAIN=stable rustc --version 2>/dev/null | awk '{print $2}')" = "$PINNED" ]; then
    say "using the installed stable toolchain as the pinned $PINNED"
    ln -s "$TOOLCHAINS/stable-$HOST" "$TOOLCHAINS/$PINNED-$HOST"
  fi
fi

# cargo install, retrying without --locked when the mirror lacks a pinned dependency.
cargo_install() {
  cargo install --locked "$@" || cargo install "$@"
}

if ! rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  cargo_install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if ! command -v wasm-pack >/dev/null; then
  say "installing wasm-pack (a few minutes, once)"
  cargo_install wasm-pack
fi

# The three engines of the end-to-end suite and what drives them, all from Debian:
# Chromium (+ its driver, a matched pair), Firefox ESR (driven over WebDriver BiDi by
# puppeteer-core), WebKitGTK's WebKitWebDriver + MiniBrowser under Xvfb (selenium-webdriver),
# uBlock Origin for Firefox (the real-blocker test) and sqlite3 (WebKit's cookie database).
# PostgreSQL: the collector's second backend; the tests start a throwaway cluster of their own
# (scripts/pg-test-cluster.sh), the package's own cluster is not used. nginx: the reverse-proxy
# end-to-end test runs deploy/nginx/collector.conf (openssl makes its certificate).
# python3-aiosmtpd: the SMTP server the email tests start and read (Debian's /usr/bin/python3).
APT_PACKAGES=(chromium chromium-driver firefox-esr webkit2gtk-driver xvfb xauth
  webext-ublock-origin-firefox sqlite3 postgresql nginx-light openssl python3-aiosmtpd)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]} (Debian)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x node_modules/.bin/esbuild ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci (esbuild, binaryen's wasm-opt, the browser drivers, the filter engine, the benchmark peer, Stripe's library that signs test webhooks)"
  npm ci --no-audit --no-fund --loglevel=error
fi
say "ready"
