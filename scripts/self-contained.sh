#!/usr/bin/env bash
# The tests use nothing outside the repository (test data is in tests/fixtures/, see its
# SOURCES.md; the rest comes from what scripts/setup.sh installs). Two guards, both used by
# scripts/test.sh:
#
#   bash scripts/self-contained.sh check        # no tracked file names a folder beside the repository
#   bash scripts/self-contained.sh run CMD...   # CMD with the repository's parent folder hidden
#
# `run`, as root with util-linux `unshare`: CMD runs in a private mount namespace in which the
# repository's parent folder is an empty tmpfs holding only the repository (bound back in), so
# reading a sibling folder fails (ENOENT) instead of quietly working on a machine that happens
# to have it. The toolchains under $HOME (~/.cargo, ~/.rustup, ~/.cache, ~/.npm) and the git
# directory of a `git worktree` checkout are bound back too when the parent folder holds them;
# /usr, /tmp (the PostgreSQL test cluster), the browsers and node_modules are untouched. Nothing leaks out: the mounts end with CMD.
# Where that is impossible (not root, no unshare, the repository at /), CMD runs as it is after
# a warning; CLICKTRAIL_REQUIRE_ISOLATION=1 turns the warning into a failure.
# CMD sees CLICKTRAIL_ISOLATED=1 (isolated) or =0 (not).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd -P)"
PARENT="$(dirname "$REPO")"
say() { printf '\033[1m[self-contained]\033[0m %s\n' "$*" >&2; }

# What refers to a folder beside the repository (the sibling `shared/` that once held the
# test data). This file is the one place allowed to name it.
PATTERN='\.\./shared|shared/fixtures'

check() {
  local hits
  if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    hits="$(git -C "$REPO" grep -nIE "$PATTERN" -- . ':!scripts/self-contained.sh' || true)"
  else # an unpacked archive: every file but what is built or installed
    hits="$(grep -rnIE "$PATTERN" "$REPO" --exclude-dir=.git --exclude-dir=target \
      --exclude-dir=node_modules --exclude-dir=dist --exclude=self-contained.sh || true)"
  fi
  if [ -n "$hits" ]; then
    say "FAIL: these lines refer to a folder outside the repository; put what they need in"
    say "tests/fixtures/ (with its source and licence in tests/fixtures/SOURCES.md):"
    printf '%s\n' "$hits" >&2
    return 1
  fi
  say "no file refers to a folder beside the repository"
}

not_isolated() {
  if [ "${CLICKTRAIL_REQUIRE_ISOLATION:-0}" = 1 ]; then
    say "FAIL: cannot hide the folders beside the repository: $1 (CLICKTRAIL_REQUIRE_ISOLATION=1)"
    exit 1
  fi
  say "WARNING: not isolated ($1): a test reading outside the repository is not caught here;"
  say "run as root with util-linux unshare to catch it"
  CLICKTRAIL_ISOLATED=0 exec "$@"
}

run() {
  [ "$#" -gt 0 ] || { say "usage: $0 run CMD..."; exit 2; }
  [ "$(id -u)" -eq 0 ] || not_isolated "not root" "$@"
  command -v unshare >/dev/null || not_isolated "no unshare command" "$@"
  [ "$PARENT" != / ] || not_isolated "the repository is at /$(basename "$REPO"), its parent is /" "$@"
  unshare --mount true 2>/dev/null || not_isolated "unshare --mount is not permitted here" "$@"
  # Folders under $HOME the toolchains live in, and the git directory of a `git worktree`
  # checkout: kept when the parent folder would hide them.
  local keep=() p gitdir
  gitdir="$(git -C "$REPO" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)"
  for p in "${CARGO_HOME:-$HOME/.cargo}" "${RUSTUP_HOME:-$HOME/.rustup}" "$HOME/.cache" "$HOME/.npm" \
    ${gitdir:+"$gitdir"}; do
    [ -d "$p" ] || continue
    p="$(cd "$p" && pwd -P)"
    case "$p/" in
      "$REPO"/*) ;;
      "$PARENT"/) not_isolated "$p, which the tests need, is the repository's parent" "$@" ;;
      "$PARENT"/*) keep+=("$p") ;;
    esac
  done
  # Where the repository waits while the parent is covered: any writable folder outside it.
  local base park=""
  for base in /run /dev/shm /var/tmp /tmp; do
    case "$base/" in "$PARENT"/* | "$REPO"/*) continue ;; esac
    park="$(mktemp -d "$base/clicktrail-isolate.XXXXXX" 2>/dev/null)" && break
  done
  [ -n "$park" ] || not_isolated "no writable folder outside $PARENT to park the repository in" "$@"
  # In the new namespace (propagation private: nothing is seen outside it):
  #   1. park the repository (and what is kept) on a mount point outside the parent,
  #   2. cover the parent with an empty tmpfs (same mode as the parent, e.g. 1777 for /tmp),
  #   3. move the repository (and what is kept) back to their own paths on it.
  # shellcheck disable=SC2016
  exec unshare --mount --propagation private -- bash -euo pipefail -c '
    repo="$1" parent="$2" park="$3" nkeep="$4"; shift 4
    keep=("${@:1:$nkeep}"); shift "$nkeep"
    # on failure: detach the parked mounts (this namespace only), remove the empty folders
    # (never rm -r: the repository is mounted there)
    trap "for d in \"\$park\".* \"\$park\"; do umount -l \"\$d\" 2>/dev/null; rmdir \"\$d\" 2>/dev/null; done; true" EXIT
    mount --bind "$repo" "$park"
    for i in "${!keep[@]}"; do mkdir "$park.$i" && mount --bind "${keep[$i]}" "$park.$i"; done
    mount -t tmpfs -o "mode=$(stat -c %a "$parent")" clicktrail-isolate "$parent"
    mkdir -p "$repo" && mount --move "$park" "$repo"
    allowed=("$(basename "$repo")")
    for i in "${!keep[@]}"; do
      mkdir -p "${keep[$i]}" && mount --move "$park.$i" "${keep[$i]}" && rmdir "$park.$i"
      rel="${keep[$i]#"$parent"/}"; allowed+=("${rel%%/*}")
    done
    rmdir "$park"
    trap - EXIT
    cd "$repo"
    # The guard itself: the parent folder holds the repository (and what was kept), nothing else.
    for name in $(ls -A "$parent"); do
      case " ${allowed[*]} " in *" $name "*) ;; *)
        echo "isolation failed: $parent still holds $name" >&2; exit 1 ;;
      esac
    done
    printf "\033[1m[self-contained]\033[0m %s\n" "isolated: $parent holds only ${allowed[*]}" >&2
    CLICKTRAIL_ISOLATED=1 exec "$@"
  ' isolate "$REPO" "$PARENT" "$park" "${#keep[@]}" "${keep[@]}" "$@"
}

case "${1:-}" in
  check) check ;;
  run) shift; run "$@" ;;
  *) say "usage: $0 check | run CMD..."; exit 2 ;;
esac
