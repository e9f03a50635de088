#!/usr/bin/env bash
# The standard load test (docs/benchmarks.md): for each room count, a fresh release `rally` on
# 127.0.0.1 (embedded SQLite in a temporary directory) and `rally loadgen` against it — private
# 60 Hz Pong rooms, inputs open loop at 60 Hz, a ramp, then a timed window. Prints one table
# row per room count and appends every loadgen JSON report to $OUT (JSON lines).
#
#   benches/load.sh                 # 50 100 200 300 400 rooms
#   benches/load.sh 200             # one point
#   IDLE=19900 benches/load.sh      # also the idle-connection count
#
# Settings (environment): DURATION (20s), RAMP (5s), INPUT_HZ (60), SEED (1), ENCODING (json, or
# bin: the bots speak rally.v1.bin, `rally loadgen --encoding bin`), BIN (the release
# binary; built when absent), OUT (target/bench/load-<time>.jsonl), IDLE (0 = skip),
# IDLE_HOLD (10s). Loopback only; bounded in time by DURATION per point.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20s}
RAMP=${RAMP:-5s}
INPUT_HZ=${INPUT_HZ:-60}
SEED=${SEED:-1}
ENCODING=${ENCODING:-json}
case $ENCODING in json|bin) ;; *) echo "ENCODING must be json or bin" >&2; exit 2 ;; esac
IDLE=${IDLE:-0}
IDLE_HOLD=${IDLE_HOLD:-10s}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=${BIN:-$TARGET_DIR/release/rally}
OUT=${OUT:-$TARGET_DIR/bench/load-$(date +%Y%m%dT%H%M%S).jsonl}
ROOMS=("$@")
[ "${#ROOMS[@]}" -gt 0 ] || ROOMS=(50 100 200 300 400)

if [ ! -x "$BIN" ]; then
  echo "building $BIN" >&2
  cargo build --release --locked >&2
fi
mkdir -p "$(dirname "$OUT")"
WORK=$(mktemp -d)
SERVER_PID=
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() {
  local port=$1
  local dir=$WORK/server-$port
  mkdir -p "$dir"
  (
    cd "$dir"
    RALLY_BIND=127.0.0.1:$port \
      RALLY_DATABASE_URL="sqlite://$dir/rally.db" \
      RALLY_ROOT_KEY_FILE="$dir/root.key" \
      RALLY_AUTH_RATE_PER_MINUTE=10000000 \
      RALLY_LOG=warn \
      exec "$BIN" >"$dir/server.log" 2>&1
  ) &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then return; fi
    sleep 0.1
  done
  echo "rally did not become ready; its log:" >&2
  cat "$dir/server.log" >&2
  exit 1
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

printf '%-6s %9s %9s %9s %12s %10s %11s %10s %8s %7s\n' rooms p50_ms p99_ms p999_ms lateness_p99 server_cpu loadgen_cpu KiB/room matches errors
status=0
for n in "${ROOMS[@]}"; do
  port=$(free_port)
  start_server "$port"
  set +e
  "$BIN" loadgen --url "http://127.0.0.1:$port" --mode private --rooms "$n" \
    --duration "$DURATION" --ramp "$RAMP" --input-hz "$INPUT_HZ" --seed "$SEED" \
    --encoding "$ENCODING" --progress 0 >"$WORK/out" 2>"$WORK/err"
  rc=$?
  set -e
  stop_server
  last=$(tail -n 1 "$WORK/out")
  if ! printf '%s' "$last" | python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null; then
    echo "rooms $n: no JSON report (exit $rc)" >&2
    cat "$WORK/err" >&2
    status=1
    continue
  fi
  printf '%s\n' "$last" >>"$OUT"
  [ "$rc" = 0 ] || status=1
  printf '%s' "$last" | python3 -c '
import json, sys
r = json.load(sys.stdin)
s = r["servers"][0]
lat = s["tick_lateness_ms"]["p99_le"]
per_room = (s["rss_mib"] - s["rss_before_mib"]) * 1024 / max(r["rooms"], 1)
print("%-6d %9.2f %9.2f %9.2f %12s %9.0f%% %10.0f%% %10.0f %8d %7d" % (
    r["rooms"], r["latency_ms"]["p50"], r["latency_ms"]["p99"], r["latency_ms"]["p999"],
    ("<= %g ms" % lat) if lat is not None else "> 50 ms", s["cpu_percent"],
    r["loadgen_cpu_percent"], per_room, r["matches_completed"] + r["matches_cut"],
    r["errors"]))
'
done

if [ "$IDLE" -gt 0 ]; then
  port=$(free_port)
  start_server "$port"
  set +e
  "$BIN" loadgen --url "http://127.0.0.1:$port" --rooms 0 --idle "$IDLE" \
    --duration "$IDLE_HOLD" --progress 5s >"$WORK/out" 2>"$WORK/err"
  rc=$?
  set -e
  stop_server
  last=$(tail -n 1 "$WORK/out")
  printf '%s\n' "$last" >>"$OUT"
  [ "$rc" = 0 ] || { status=1; tail -n 5 "$WORK/err" >&2; }
  printf '%s' "$last" | python3 -c '
import json, sys
r = json.load(sys.stdin)
s = r["servers"][0]
per = (s["rss_mib"] - s["rss_before_mib"]) * 1024 / max(r["idle_connected"], 1)
print("idle connections: %d/%d held (%d failed, %d dropped); server sessions %d, RSS %.1f MiB (%.1f KiB per connection); connect p99 %.1f ms" % (
    r["idle_connected"], r["idle_target"], r["idle_failed"], r["idle_dropped"], s["sessions"],
    s["rss_mib"], per, r["connect_ms"]["p99"]))
'
fi
echo "reports: $OUT" >&2
exit "$status"
