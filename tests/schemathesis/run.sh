#!/usr/bin/env bash
# Schemathesis against a real rally server, driven by the server's own OpenAPI document
# (GET /api/v1/openapi.json): generated requests to every operation, checked for
#   not_a_server_error           no 5xx, whatever is sent
#   status_code_conformance      every status is one the document lists for the operation
#   content_type_conformance     every answer has the documented content type
#   response_schema_conformance  every body matches its documented schema (errors included)
# Starts its own server (debug binary) in a temporary directory on a free loopback port, with
# an organiser token and a guest token so that authenticated routes run their handlers (not
# only their 401). Bounded: two runs of at most RALLY_ST_SECONDS each (default 100 s).
# Exit non-zero on any failure; the last line says "schemathesis: passed" or what failed.
#   RALLY_BIN          server binary (default $CARGO_TARGET_DIR/debug/rally)
#   RALLY_ST_SECONDS   time budget of each of the two runs
#   RALLY_ST_VENV      where schemathesis is installed (created when missing)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
SCHEMATHESIS_VERSION=4.32.5
TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/rally-target}"
RALLY_BIN="${RALLY_BIN:-$TARGET/debug/rally}"
SECONDS_PER_RUN="${RALLY_ST_SECONDS:-100}"
VENV="${RALLY_ST_VENV:-$HOME/.cache/rally-schemathesis}"

fail() { echo "$*" >&2; echo "schemathesis: FAILED ($*)"; exit 1; }
[ -x "$RALLY_BIN" ] || fail "no rally binary at $RALLY_BIN (cargo build, or set RALLY_BIN)"

# A virtualenv of its own, with the pinned version (nothing else on the machine changes).
st="$VENV/bin/schemathesis"
if ! { [ -x "$st" ] && "$st" --version 2>/dev/null | grep -q " $SCHEMATHESIS_VERSION\$"; }; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION" || fail "pip install schemathesis"
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "${KEEP_LOG:-}" ]; then cp "$work/server.log" "$KEEP_LOG" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A generous auth rate (every generated login/register/guest comes from 127.0.0.1; the 429
# itself is documented and checked in tests/http.rs) and short room windows.
export RALLY_DATABASE_URL="sqlite://$work/rally.db" RALLY_ROOT_KEY_FILE="$work/root.key"
( cd "$work" && exec env RALLY_BIND="127.0.0.1:$port" RALLY_LOG="${RALLY_LOG:-warn}" \
    RALLY_AUTH_RATE_PER_MINUTE=100000 RALLY_ROOM_IDLE_TIMEOUT=20s RALLY_SHUTDOWN_TIMEOUT=1s \
    "$RALLY_BIN" serve >"$work/server.log" 2>&1 ) &
server_pid=$!
for _ in $(seq 1 150); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "rally exited at start"; }
  sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null || fail "rally did not become ready"

token_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }
post() { curl -fsS -X POST -H 'content-type: application/json' -d "$2" "$base$1"; }
post /api/v1/auth/register '{"name":"st-organiser","password":"organiser-password"}' >/dev/null
(cd "$work" && "$RALLY_BIN" admin grant-organiser st-organiser >/dev/null) || fail "grant-organiser"
organiser=$(post /api/v1/auth/login '{"name":"st-organiser","password":"organiser-password"}' | token_of)
guest=$(post /api/v1/auth/guest '{}' | token_of)
# Something to read: a tournament with an entrant, so the tournament routes have a real view.
post /api/v1/auth/register '{"name":"st-player","password":"player-password"}' >/dev/null
player=$(post /api/v1/auth/login '{"name":"st-player","password":"player-password"}' | token_of)
tid=$(curl -fsS -X POST -H 'content-type: application/json' -H "authorization: Bearer $organiser" \
  -d '{"name":"Schemathesis cup","game":"pong","format":"round_robin","capacity":4}' \
  "$base/api/v1/admin/tournaments" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -fsS -X POST -H "authorization: Bearer $organiser" "$base/api/v1/admin/tournaments/$tid/open" >/dev/null
curl -fsS -X POST -H "authorization: Bearer $player" "$base/api/v1/tournaments/$tid/join" >/dev/null

# One worker: several make CPython 3.11's ast.parse (used by hypothesis to describe filters)
# fail with "AST constructor recursion depth mismatch", an error of the tool, not of rally.
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
run() {
  local name=$1 token=$2; shift 2
  echo "--- schemathesis: $name (at most ${SECONDS_PER_RUN}s)"
  nice -n 10 "$st" run "$base/api/v1/openapi.json" \
    --checks "$checks" \
    --header "Authorization: Bearer $token" \
    --max-time "$SECONDS_PER_RUN" \
    --request-timeout 10 \
    --workers 1 \
    --seed 12 \
    --suppress-health-check too_slow,filter_too_much \
    --warnings off \
    "$@"
}

status=0
# The organiser reaches every route; logout and refresh would revoke its token mid-run.
run "every route, organiser token" "$organiser" \
  --exclude-path-regex '^/api/v1/auth/(logout|refresh)$' || status=1
# A guest: the routes that revoke or replace the token, and the guest-only upgrade.
run "token routes, guest token" "$guest" \
  --include-path-regex '^/api/v1/(auth/(logout|refresh|upgrade)|me|rooms)$' || status=1

# What the runs reached, as the server tells it: handlers behind the tokens ran, not only 401s.
echo "--- reached: $(curl -fsS -H "authorization: Bearer $organiser" "$base/api/v1/admin/audit?limit=1" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])') audited organiser actions, \
$(curl -fsS "$base/api/v1/tournaments?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])') tournaments"

if grep -q ' ERROR ' "$work/server.log"; then
  echo "--- server ERROR lines:"
  grep ' ERROR ' "$work/server.log" | head -20
fi
[ "$status" = 0 ] || fail "see the failures above"
echo "schemathesis: passed"
