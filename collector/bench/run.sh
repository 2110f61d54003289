#!/usr/bin/env bash
# Collector benchmark (npm run bench:collector).
#
# Builds the release binary, starts it with --demo on a temp SQLite file and a free loopback
# port (rate limit off), drives POST /tracking/click/v1 with wrk for a bounded time and bounded
# concurrency, prints acknowledged clicks/s and p50/p99 latency, then checks through the report
# API that every acknowledged click is stored (each one was fsync'd before its 200).
#
# Knobs: DURATION (default 10s), CONNECTIONS (default 64), THREADS (wrk threads, default 2),
# RATE (optional: pace the load to RATE requests/s in total instead of saturating; the Lua
# script gives every request the next slot of a fixed schedule, so latency is measured at a
# known offered load as long as CONNECTIONS is large enough to carry it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
RATE="${RATE:-}"

echo "==> building the collector (release)"
cargo build --release -p clicktrail-collector --quiet
BIN="$ROOT/target/release/clicktrail-collector"

if ! command -v wrk >/dev/null 2>&1; then
  echo "==> installing wrk (apt-get)"
  if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >/dev/null; else sudo apt-get install -y wrk >/dev/null; fi
fi

TMP="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))"
ADDR="127.0.0.1:$PORT"
RUST_LOG=info "$BIN" serve --demo --rate-limit 0 --db "$TMP/bench.db" --listen "$ADDR" \
  --dist "$TMP" --www "$TMP" >"$TMP/server.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

for _ in $(seq 1 100); do
  curl -fs "http://$ADDR/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "==> wrk: $THREADS threads, $CONNECTIONS connections, $DURATION, ${RATE:+paced to ~$RATE req/s, }unique click per request (collector/bench/click.lua)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$ROOT/collector/bench/click.lua" \
  "http://$ADDR/tracking/click/v1" ${RATE:+-- "$RATE" "$THREADS"} | tee "$TMP/wrk.txt"

total=$(awk '/requests in/ {print $1}' "$TMP/wrk.txt")
secs=$(awk '/requests in/ {gsub(",","",$4); print $4}' "$TMP/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$TMP/wrk.txt"); non2xx=${non2xx:-0}
errors=$(awk '/Socket errors/ {n=0; for(i=1;i<=NF;i++) if ($i ~ /^[0-9]+,?$/) {gsub(",","",$i); n+=$i}; print n}' "$TMP/wrk.txt"); errors=${errors:-0}
p50=$(awk '/Latency Distribution/ {d=1} d && $1=="50%" {print $2}' "$TMP/wrk.txt")
p99=$(awk '/Latency Distribution/ {d=1} d && $1=="99%" {print $2}' "$TMP/wrk.txt")
acked=$((total - non2xx))
rate=$(awk -v a="$acked" -v s="${secs%s}" 'BEGIN { printf "%.0f", a / s }')

stored=$(curl -fs -H 'Authorization: Bearer demo_secret_key' "http://$ADDR/api/v1/report" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"]["clicks"])')

echo
echo "==> collector benchmark ($(nproc) cores)"
echo "acknowledged clicks:   $acked in $secs (non-2xx: $non2xx, socket errors: $errors)"
echo "acknowledged clicks/s: $rate"
echo "latency p50:           $p50"
echo "latency p99:           $p99"
echo "stored clicks:         $stored (report API)"
kill -TERM "$SERVER" 2>/dev/null || true
wait "$SERVER" 2>/dev/null || true
stats=$(grep -o 'commits=.*max_batch=[0-9]*' "$TMP/server.log" | tail -1 || true)
echo "group commit:          ${stats:-n/a} (one fsync'd transaction per commit)"
if [ "$stored" -ge "$acked" ]; then
  echo "durability check:      OK - every acknowledged click is stored (stored >= acknowledged; the excess are requests wrk did not wait for)"
else
  echo "durability check:      FAILED - $((acked - stored)) acknowledged clicks are missing" >&2
  exit 1
fi
