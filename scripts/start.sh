#!/usr/bin/env bash
# The main job: set up, build the tracker and the collector, and run the collector
# with the demo tenant on the embedded SQLite file ./clicktrail.db.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cargo build --release -p clicktrail-collector --quiet
exec target/release/clicktrail-collector serve --demo \
  --db "${CLICKTRAIL_DB:-clicktrail.db}" --listen "${CLICKTRAIL_LISTEN:-127.0.0.1:8080}" "$@"
