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
        printf '  - %s\n' "${MISSING_PKGS[@]}" | sort -u
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

# free_port [ADDR]: a TCP port on ADDR (default 127.0.0.1) that nothing uses right now.
# shellcheck disable=SC2120 # callers in other scripts pass ADDR
free_port() {
    "$PY" -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1]); s.close()' "${1:-127.0.0.1}"
}

# wait_http URL SECONDS [PID]: poll until URL answers 2xx/3xx; stop early when PID died.
wait_http() {
    local url="$1" secs="$2" pid="${3:-}"
    for _ in $(seq $((secs * 10))); do
        if curl -ksf -o /dev/null --max-time 1 "$url"; then return 0; fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        sleep 0.1
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

# The nginx template and the variables it may use (ops/nginx/rally.conf.template's header).
NGINX_TEMPLATE="$REPO_ROOT/ops/nginx/rally.conf.template"
# shellcheck disable=SC2016 # literal ${…}: envsubst's list of variables to substitute
TEMPLATE_VARS='${RALLY_UPSTREAMS} ${LISTEN_HTTP} ${LISTEN_HTTPS} ${LISTEN_STATUS} ${HTTPS_REDIRECT_PORT} ${SERVER_NAME} ${TLS_CERT} ${TLS_KEY}'

# render_site DIR UPSTREAMS: render the template and a loopback main config into DIR; sets
# HTTP_PORT, HTTPS_PORT, STATUS_PORT.
render_site() {
    local dir="$1" upstreams="$2"
    mkdir -p "$dir/logs" "$dir/certs"
    HTTP_PORT=$(free_port)
    HTTPS_PORT=$(free_port)
    STATUS_PORT=$(free_port)
    "$REPO_ROOT/ops/nginx/make-dev-cert.sh" "$dir/certs" localhost >/dev/null
    RALLY_UPSTREAMS="$upstreams" \
    LISTEN_HTTP="127.0.0.1:$HTTP_PORT" \
    LISTEN_HTTPS="127.0.0.1:$HTTPS_PORT" \
    LISTEN_STATUS="127.0.0.1:$STATUS_PORT" \
    HTTPS_REDIRECT_PORT=":$HTTPS_PORT" \
    SERVER_NAME="localhost" \
    TLS_CERT="$dir/certs/server.crt" \
    TLS_KEY="$dir/certs/server.key" \
        envsubst "$TEMPLATE_VARS" <"$NGINX_TEMPLATE" >"$dir/rally.conf"
    cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
daemon off;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $dir/logs/access.log;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    include $dir/rally.conf;
}
EOF
}

# start_nginx DIR: nginx -t, then run it in the foreground (as a background job).
start_nginx() {
    local dir="$1"
    if nginx -t -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" >"$dir/nginx-t.log" 2>&1; then
        ok "nginx -t accepts the rendered template ($(basename "$dir"))"
    else
        ko "nginx -t rejects the rendered template ($(basename "$dir")):"
        sed 's/^/      /' "$dir/nginx-t.log"
        return 1
    fi
    spawn "$dir/logs/stdout.log" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log"
    if wait_http "http://127.0.0.1:$STATUS_PORT/nginx_status" 10 "$SPAWNED_PID"; then
        ok "nginx started ($(basename "$dir"))"
    else
        ko "nginx did not start ($(basename "$dir")):"
        sed 's/^/      /' "$dir/logs/error.log" | tail -20
        return 1
    fi
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
