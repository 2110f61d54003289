#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks.
#
#   eval "$(bash scripts/pg-test-cluster.sh start)"   # prints `export CLICKTRAIL_TEST_PG=...`
#   ...                                                # tests create their own databases on it
#   bash scripts/pg-test-cluster.sh stop
#
# Installs Debian's `postgresql` package when its server binaries are missing (CI), `initdb`s a
# cluster in a temporary directory as the `postgres` user (initdb refuses root), starts it on a
# free loopback port (unix socket in the same directory) and prints the base URL. `stop` stops
# it and removes the directory. The directory is $CLICKTRAIL_PG_DIR (default
# /tmp/clicktrail-test-pg); `start` on a directory whose cluster is running prints its URL again.
# Everything but the `export` line goes to stderr.
set -euo pipefail

dir="${CLICKTRAIL_PG_DIR:-/tmp/clicktrail-test-pg}"

find_bin() {
  local b
  b="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$b" ] && [ -x "$b/initdb" ]; then
    echo "$b"
  fi
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  local p
  for p in $(seq 55432 55632); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

start() {
  local bin port
  bin="$(find_bin)"
  if [ -z "$bin" ]; then
    echo "PostgreSQL server binaries missing: installing Debian's postgresql package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    bin="$(find_bin)"
    [ -n "$bin" ] || { echo "postgresql installed but initdb not found" >&2; exit 1; }
  fi
  if [ -f "$dir/url" ] && as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    echo "export CLICKTRAIL_TEST_PG=$(cat "$dir/url")"
    return 0
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  port="$(free_port)"
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400" start >&2 ||
    { cat "$dir/log" >&2; exit 1; }
  echo "postgres://postgres@127.0.0.1:$port/postgres" >"$dir/url"
  echo "$bin" >"$dir/bin"
  echo "export CLICKTRAIL_TEST_PG=$(cat "$dir/url")"
}

stop() {
  if [ -f "$dir/bin" ] && [ -d "$dir/data" ]; then
    as_pg "$(cat "$dir/bin")/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
