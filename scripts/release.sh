#!/usr/bin/env bash
# npm run release: one artifact to install on a production server (no Rust, Node or npm there).
#
#   dist/release/clicktrail-<version>-<target>.tar.gz   and   dist/release/SHA256SUMS
#
# The tarball holds one folder, clicktrail-<version>-<target>/, with
#   bin/clicktrail-collector        the collector with the tracker files (tracking.js, the hashed
#                                   wasm, their .br/.gz) and the dashboard and portal built in
#   deploy/                         the systemd units and the nginx configuration
#   clicktrail.example.toml         an example configuration
#   LICENSE, README.md              the licence and the install steps (docs/production.md has more)
#
# <version> is the workspace's (Cargo.toml `[workspace.package]`), <target> the Rust host triple.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
say() { printf '\033[1m[release]\033[0m %s\n' "$*"; }

bash scripts/setup.sh
# a fresh tracker build: only this build's hashed wasm is built in
rm -rf dist
bash scripts/build.sh
say "building the collector (release, tracker built in)"
cargo build --release --locked -p clicktrail-collector --features embed-tracker --quiet
target_dir="${CARGO_TARGET_DIR:-target}"
bin="$target_dir/release/clicktrail-collector"

version="$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const p=JSON.parse(s).packages.find(p=>p.name==="clicktrail-collector");process.stdout.write(p.version)})')"
host="$(rustc -vV | sed -n 's/^host: //p')"
name="clicktrail-$version-$host"
out="dist/release"
stage="$out/$name"
rm -rf "$out"
mkdir -p "$stage/bin"
install -m 0755 "$bin" "$stage/bin/clicktrail-collector"
cp -r deploy "$stage/deploy"
cp collector/examples/clicktrail.toml "$stage/clicktrail.example.toml"
cp LICENSE "$stage/LICENSE"
cp deploy/README.release.md "$stage/README.md"

# the binary names the version and the build it carries (fails the release if it does not)
"$stage/bin/clicktrail-collector" --version | tee "$stage/VERSION"
grep -q "^clicktrail-collector $version (tracker build [0-9a-f]\{8\} built in)$" "$stage/VERSION"

# reproducible archive: sorted names, fixed owner and times
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@0" -C "$out" -czf "$out/$name.tar.gz" "$name"
rm -rf "$stage"
(cd "$out" && sha256sum "$name.tar.gz" > SHA256SUMS)
say "$out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1)); $(cat "$out/SHA256SUMS")"
