# Shared helpers for the ops test scripts (sourced, not run).
#
# Each script counts checks with ok/ko/skip, requires its programs with need/need_py, starts
# background processes with spawn (all killed by the EXIT trap, by pid, never by name) and ends
# with `summary`, whose last line is "N passed, N failed[, N skipped]".

# shellcheck shell=bash

OPS_TEST_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$OPS_TEST_DIR/../.." && pwd)"
RALLY_BIN="${RALLY_BIN:-/root/.cache/rally-target/debug/rally}"
# Debian's python3: python3-yaml and python3-websockets install into it (a pyenv or venv
# python3 earlier on PATH would not see them).
PY="${PYTHON:-/usr/bin/python3}"

PASSED=0
FAILED=0
SKIPPED=0
MISSING_PKGS=()
SPAWNED_PIDS=()
TMP=""

ok() { PASSED=$((PASSED + 1)); printf '  ok    %s\n' "$*"; }
ko() { FAILED=$((FAILED + 1)); printf '  FAIL  %s\n' "$*"; }
skip() { SKIPPED=$((SKIPPED + 1)); printf '  skip  %s\n' "$*"; }
section() { printf '\n== %s\n' "$*"; }

# check DESCRIPTION COMMAND...: ok when the command succeeds.
check() {
    local what="$1"
    shift
    if "$@"; then ok "$what"; else ko "$what"; fi
}

# need PROGRAM DEBIAN_PACKAGE: remember a missing program's package.
need() {
    command -v "$1" >/dev/null 2>&1 || MISSING_PKGS+=("$2 (for $1)")
}

# need_py MODULE DEBIAN_PACKAGE: a module importable by $PY.
need_py() {
    if [ ! -x "$PY" ]; then
        MISSING_PKGS+=("python3 (for $PY)")
    elif ! "$PY" -c "import $1" >/dev/null 2>&1; then
        MISSING_PKGS+=("$2 (python module $1 for $PY)")
    fi
}

# need_file PATH DEBIAN_PACKAGE_OR_HINT
need_file() {
    [ -e "$1" ] || MISSING_PKGS+=("$2 (for $1)")
}

# Stop when something is missing: this script installs nothing.
require_all() {
    if [ "${#MISSING_PKGS[@]}" -gt 0 ]; then
        echo "missing prerequisites (install them, e.g. apt-get install -y <package>):"
        printf '  - %s\n' "${MISSING_PKGS[@]}"
        FAILED=$((FAILED + 1))
        summary
    fi
}

# require_rally: the server binary under test.
require_rally() {
    if [ ! -x "$RALLY_BIN" ]; then
        echo "rally binary not found at RALLY_BIN=$RALLY_BIN (build it with cargo build, or set RALLY_BIN)"
        FAILED=$((FAILED + 1))
        summary
    fi
}

make_tmp() {
    TMP="$(mktemp -d "${TMPDIR:-/tmp}/rally-ops-test.XXXXXX")"
    chmod 755 "$TMP"
}

cleanup() {
    local pid
    for pid in "${SPAWNED_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${SPAWNED_PIDS[@]}"; do
        # Give each up to 5 s to exit, then force it.
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [ -n "$TMP" ] && [ -d "$TMP" ] && [ -z "${KEEP_TMP:-}" ]; then
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# spawn LOGFILE COMMAND...: start in the background, remember the pid in SPAWNED_PID.
spawn() {
    local log="$1"
    shift
    "$@" >"$log" 2>&1 &
    SPAWNED_PID=$!
    SPAWNED_PIDS+=("$SPAWNED_PID")
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL SECONDS [PID]: poll until URL answers 2xx/3xx; stop early when PID died.
wait_http() {
    local url="$1" secs="$2" pid="${3:-}" i
    for i in $(seq $((secs * 10))); do
        if curl -ksf -o /dev/null --max-time 1 "$url"; then return 0; fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        [ "$i" -gt 0 ] && sleep 0.1
    done
    return 1
}

# start_rally NAME PORT [ENV=VALUE...]: run $RALLY_BIN serve on 127.0.0.1:PORT with a fresh
# SQLite data directory (unless the caller's ENV overrides the database), wait for /healthz.
start_rally() {
    local name="$1" port="$2"
    shift 2
    mkdir -p "$TMP/$name"
    spawn "$TMP/$name.log" env -C "$TMP/$name" \
        RALLY_BIND="127.0.0.1:$port" \
        RALLY_DATABASE_URL="sqlite://$TMP/$name/data/rally.db" \
        RALLY_LOG="${RALLY_LOG:-warn}" \
        "$@" "$RALLY_BIN" serve
    if wait_http "http://127.0.0.1:$port/healthz" 30 "$SPAWNED_PID"; then
        ok "rally ($name) answers /healthz on 127.0.0.1:$port"
        return 0
    fi
    ko "rally ($name) did not start on 127.0.0.1:$port; its log:"
    sed 's/^/      /' "$TMP/$name.log" | tail -20
    return 1
}

summary() {
    echo
    if [ "$SKIPPED" -gt 0 ]; then
        echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
    else
        echo "$PASSED passed, $FAILED failed"
    fi
    [ "$FAILED" -eq 0 ] && exit 0
    exit 1
}
