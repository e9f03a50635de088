#!/usr/bin/env bash
# Browser end-to-end tests of the rally web client: starts a rally server with test-sized
# settings on a free loopback port, runs run.mjs in Debian's Chromium through playwright-core,
# stops the server. Screenshots go to target/browser-artifacts/. Exits non-zero on failure; the
# last line is "N passed, N failed".
#   RALLY_BIN   server binary (default /root/.cache/rally-target/debug/rally)
#   CHROMIUM    browser (default /usr/bin/chromium)
#   ONLY        run only scenarios whose name contains this text
set -euo pipefail
cd "$(dirname "$0")"
HERE=$(pwd)
ROOT=$(cd ../.. && pwd)
export RALLY_BIN="${RALLY_BIN:-/root/.cache/rally-target/debug/rally}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export ARTIFACTS="$ROOT/target/browser-artifacts"

fail() { echo "$*" >&2; echo "0 passed, 1 failed"; exit 1; }
[ -x "$RALLY_BIN" ] || fail "no rally binary at $RALLY_BIN (build it, or set RALLY_BIN)"
[ -x "$CHROMIUM" ] || fail "no Chromium at $CHROMIUM (apt-get install -y chromium)"
command -v node >/dev/null || fail "node is not installed"
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null || fail "npm ci failed in tests/browser"
fi

rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"
work=$(mktemp -d)
port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
export RALLY_URL="http://127.0.0.1:$port"
export RALLY_DATABASE_URL="sqlite://$work/rally.db"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  cp "$work/server.log" "$ARTIFACTS/server.log" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Test-sized settings: one point wins, short countdown, an 8 s grace (a reload on a loaded
# machine took over 2 s and forfeited); generous auth rate (every
# scenario signs in several browsers from 127.0.0.1).
( cd "$work" && exec env RALLY_BIND="127.0.0.1:$port" \
    RALLY_ROOT_KEY_FILE="$work/root.key" \
    RALLY_LOG="${RALLY_LOG:-warn}" \
    RALLY_POINTS_TO_WIN=1 RALLY_COUNTDOWN=300ms RALLY_RECONNECT_GRACE=8s \
    RALLY_JOIN_WINDOW=3s RALLY_ROOM_LINGER=3s RALLY_MATCHMAKING_INTERVAL=50ms \
    RALLY_AUTH_RATE_PER_MINUTE=1000 RALLY_PRIVATE_ROOMS_PER_MINUTE=1000 RALLY_SHUTDOWN_TIMEOUT=1s \
    "$RALLY_BIN" serve >"$work/server.log" 2>&1 ) &
server_pid=$!
for _ in $(seq 1 100); do
  if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$RALLY_URL/readyz" 2>/dev/null; then
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "rally exited at start"; }
  sleep 0.1
done
export RALLY_ROOT_KEY_FILE="$work/root.key"

set +e
node "$HERE/run.mjs"
rc=$?
set -e
exit $rc
