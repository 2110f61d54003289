#!/usr/bin/env bash
# Collector benchmark (npm run bench:collector): acknowledged durable clicks/s in three set-ups,
# one run, one table.
#
#   sqlite-1    one collector on the embedded SQLite file (group commit)
#   postgres-1  one collector on PostgreSQL
#   postgres-2  two collectors on the same PostgreSQL database, wrk driving both at once
#   noop        GET /healthz on one collector: what the HTTP stack alone answers on this machine;
#               every row's "x noop" is its clicks/s over this rate (run it first)
#
# sqlite-1 also samples the size of the SQLite write-ahead log (`-wal`) every 100 ms during the
# run and prints its peak and its size after the collector's clean stop.
# Every request is a click with a unique eventId and proposed CID (collector/bench/click.lua), so
# each is a real durable write; a 200 is sent only after the write is committed. After each run
# the report API counts the stored clicks: stored >= acknowledged, or the benchmark fails.
# Everything (wrk, collectors, PostgreSQL) shares this machine's cores.
#
# Knobs: DURATION (default 10s), CONNECTIONS (default 64 per wrk), THREADS (wrk threads,
# default 2, 1 per wrk in postgres-2), SCENARIOS (default "noop sqlite-1 postgres-1 postgres-2"),
# COLLECTOR_BIN (a built binary to measure instead of building this checkout).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DURATION="${DURATION:-10s}"
DB_DIR="${DB_DIR:-}"   # where the SQLite file goes (default: a temp dir); e.g. /dev/shm to take the disk out
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
SCENARIOS="${SCENARIOS:-noop sqlite-1 postgres-1 postgres-2}"

# COLLECTOR_BIN: measure that binary instead of building this checkout (e.g. two builds in turn)
if [ -n "${COLLECTOR_BIN:-}" ]; then
  BIN="$COLLECTOR_BIN"
else
  echo "==> building the collector (release)"
  cargo build --release -p clicktrail-collector --quiet
  BIN="$ROOT/target/release/clicktrail-collector"
fi
if ! command -v wrk >/dev/null 2>&1; then
  echo "==> installing wrk (apt-get)"
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

TMP="$(mktemp -d)"
PIDS=()
PG_STARTED=""
PG_DIR="/tmp/clicktrail-bench-pg-$$"
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ -n "$PG_STARTED" ]; then CLICKTRAIL_PG_DIR="$PG_DIR" bash "$ROOT/scripts/pg-test-cluster.sh" stop >/dev/null 2>&1 || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_collector DB NAME: starts one collector, sets ADDR (not in a subshell: PIDS must
# keep the process id, so that it is stopped and its statistics logged)
start_collector() {
  local db="$1" name="$2" port
  port="$(free_port)"; ADDR="127.0.0.1:$port"
  RUST_LOG=info "$BIN" serve --demo --rate-limit 0 --db "$db" --listen "$ADDR" \
    --dist "$TMP" --www "$TMP" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 200); do curl -fs "http://$ADDR/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
}

stop_collectors() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  PIDS=()
}

stored_clicks() {
  curl -fs -H 'Authorization: Bearer demo_secret_key' "http://$1/api/v1/report" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"]["clicks"])'
}

# wrk against one address; writes $TMP/wrk-<tag>.txt
run_wrk() { # addr tag threads salt
  wrk -t"$3" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$ROOT/collector/bench/click.lua" \
    "http://$1/tracking/click/v1" -- 0 "$3" "$4" >"$TMP/wrk-$2.txt"
}

# the largest size of FILE, sampled every 100 ms until $TMP/stop-sampling exists
sample_peak() { # file out
  local peak=0 size
  while [ ! -e "$TMP/stop-sampling" ]; do
    size="$(stat -c %s "$1" 2>/dev/null || echo 0)"
    [ "$size" -gt "$peak" ] && peak="$size"
    sleep 0.1
  done
  echo "$peak" >"$2"
}
mb() { python3 -c "print(f'{$1/1048576:.1f} MB')"; }

# figures of one wrk output: acked seconds p50 p99 (latencies in ms)
figures() {
  python3 - "$1" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
total = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", t).group(1))
m = re.search(r"requests in ([\d.]+)(\w+)", t)
secs = float(m.group(1)) * {"s": 1, "m": 60, "ms": 0.001}[m.group(2)]
non2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", t) or [0, 0])[1])
def ms(label):
    v = re.search(r"^\s*" + label + r"\s+([\d.]+)(us|ms|s)", t, re.M)
    return float(v.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[v.group(2)]
print(total - non2xx, secs, ms("50%"), ms("99%"))
PY
}

RESULTS="$TMP/results.txt"
: >"$RESULTS"
NOOP_RATE=""
report_row() { # scenario acked secs p50 p99 stored note
  local rate ratio="-"
  rate="$(python3 -c "print(round($2/$3))")"
  [ -n "$NOOP_RATE" ] && ratio="$(python3 -c "print(f'{$rate/$NOOP_RATE:.2f}')")"
  printf '%-11s %10s %12s %8s %9s %9s %10s  %s\n' "$1" "$2" "$rate" "$ratio" "$4" "$5" "$6" "$7" >>"$RESULTS"
  if [ "$6" -lt "$2" ]; then echo "DURABILITY FAILED in $1: stored $6 < acknowledged $2" >&2; exit 1; fi
}

pg_base=""
ensure_pg() {
  if [ -z "$pg_base" ]; then
    eval "$(CLICKTRAIL_PG_DIR="$PG_DIR" bash "$ROOT/scripts/pg-test-cluster.sh" start)"
    PG_STARTED=1
    pg_base="$CLICKTRAIL_TEST_PG"
  fi
}
pg_db() { # name -> url of a new database
  local base="${pg_base%/*}"
  psql "$pg_base" -qc "CREATE DATABASE $1" >/dev/null
  echo "$base/$1"
}

for s in $SCENARIOS; do
  echo "==> $s: wrk ${DURATION}, ${CONNECTIONS} connections per wrk"
  case "$s" in
    noop)
      start_collector "$TMP/noop.db" noop; a="$ADDR"
      wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://$a/healthz" >"$TMP/wrk-$s.txt"
      read -r acked secs p50 p99 < <(figures "$TMP/wrk-$s.txt")
      stop_collectors
      NOOP_RATE="$(python3 -c "print(round($acked/$secs))")"
      report_row "$s" "$acked" "$secs" "$p50" "$p99" "$acked" "GET /healthz: no write"
      ;;
    sqlite-1)
      sqlite_file="${DB_DIR:-$TMP}/clicktrail-bench-$$.db"
      start_collector "$sqlite_file" sqlite; a="$ADDR"
      rm -f "$TMP/stop-sampling"
      sample_peak "$sqlite_file-wal" "$TMP/wal-peak" & sampler=$!
      run_wrk "$a" "$s" "$THREADS" 1
      touch "$TMP/stop-sampling"; wait "$sampler"
      read -r acked secs p50 p99 < <(figures "$TMP/wrk-$s.txt")
      stored="$(stored_clicks "$a")"; stop_collectors
      wal_after="$(stat -c %s "$sqlite_file-wal" 2>/dev/null || echo 0)"
      db_size="$(stat -c %s "$sqlite_file")"
      stats=$(grep -o 'mean_batch=[^ ]*' "$TMP/sqlite.log" | tail -1 || true)
      rm -f "$sqlite_file" "$sqlite_file-wal" "$sqlite_file-shm"
      report_row "$s" "$acked" "$secs" "$p50" "$p99" "$stored" \
        "group commit ${stats:-}; database $(mb "$db_size"), WAL peak $(mb "$(cat "$TMP/wal-peak")"), after stop $(mb "$wal_after")"
      ;;
    postgres-1)
      ensure_pg; db="$(pg_db bench1)"
      start_collector "$db" pg1; a="$ADDR"
      run_wrk "$a" "$s" "$THREADS" 2
      read -r acked secs p50 p99 < <(figures "$TMP/wrk-$s.txt")
      stored="$(stored_clicks "$a")"; stop_collectors
      stats=$(grep -o 'mean_batch=[^ ]*' "$TMP/pg1.log" | tail -1 || true)
      report_row "$s" "$acked" "$secs" "$p50" "$p99" "$stored" "batches ${stats:-}"
      ;;
    postgres-2)
      ensure_pg; db="$(pg_db bench2)"
      start_collector "$db" pg2a; a="$ADDR"; start_collector "$db" pg2b; b="$ADDR"
      run_wrk "$a" "$s-a" 1 3 & wa=$!
      run_wrk "$b" "$s-b" 1 4 & wb=$!
      wait "$wa" "$wb"
      read -r acked_a secs_a p50_a p99_a < <(figures "$TMP/wrk-$s-a.txt")
      read -r acked_b secs_b p50_b p99_b < <(figures "$TMP/wrk-$s-b.txt")
      stored="$(stored_clicks "$a")"; stop_collectors
      acked=$((acked_a + acked_b))
      secs=$(python3 -c "print(max($secs_a, $secs_b))")
      p50=$(python3 -c "print(max($p50_a, $p50_b))")
      p99=$(python3 -c "print(max($p99_a, $p99_b))")
      report_row "$s" "$acked" "$secs" "$p50" "$p99" "$stored" "two collectors (p50/p99: the worse of the two)"
      ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
  esac
done

echo
echo "==> collector benchmark ($(nproc) cores, everything on this machine)"
printf '%-11s %10s %12s %8s %9s %9s %10s  %s\n' scenario acked "acked/s" "x noop" "p50 ms" "p99 ms" stored note
cat "$RESULTS"
echo "durability check: OK - stored >= acknowledged in every scenario"
