#!/usr/bin/env bash
# Prints the wasm-bindgen version pinned in Cargo.lock: the wasm-bindgen-cli that
# processes the wasm must be exactly this version. Use it instead of a hard-coded number:
#   WASM_BINDGEN_VERSION="$(bash scripts/wasm-bindgen-version.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."
version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
if [ -z "$version" ]; then
  echo "wasm-bindgen-version: no wasm-bindgen package in Cargo.lock" >&2
  exit 1
fi
echo "$version"
