#!/usr/bin/env bash
# Memory (docs/benchmarks.md, "Memory"): one fresh release `rally` (embedded SQLite), then
#
#   1. IDLE authenticated idle connections held for IDLE_HOLD (`rally loadgen --idle`):
#      server RSS growth per connection;
#   2. CYCLES times: ROOMS private 60 Hz Pong rooms for DURATION after RAMP (`rally loadgen
#      --mode private`): RSS growth per active room at the end of the window, then the RSS
#      SETTLE seconds after the server counts no room and no session any more (every match
#      over and stored, every room past its linger, every connection closed) — RSS back to
#      the baseline or not.
#
# The baseline is the RSS after startup, before the first room. A warm-up (2 rooms for 3 s)
# follows; the per-connection and per-room figures are growth from after it, so that one-time
# costs of the first rooms are not divided among them; it is printed against the baseline.
#
# RSS is VmRSS of the server from /proc/<pid>/status (the same figure `/metrics` exports as
# rally_process_resident_memory_bytes), sampled by this script; "peak" is the RSS at the end
# of the room window. Memory figures do not depend on the machine's load; the window is short.
#
#   benches/memory.sh                  # 2000 idle connections; 200 rooms, 2 cycles
#   IDLE=0 ROOMS=100 CYCLES=3 benches/memory.sh
#
# Settings (environment): IDLE (2000; 0 = skip), IDLE_HOLD (10s), ROOMS (200), CYCLES (2),
# DURATION (12s), RAMP (3s), SETTLE (10: seconds after the rooms end), BIN (the release
# binary; built when absent), SERVER_ENV (extra VAR=value words for the server, e.g.
# "MALLOC_ARENA_MAX=2").
set -euo pipefail
cd "$(dirname "$0")/.."

IDLE=${IDLE:-2000}
IDLE_HOLD=${IDLE_HOLD:-10s}
ROOMS=${ROOMS:-200}
CYCLES=${CYCLES:-2}
DURATION=${DURATION:-12s}
RAMP=${RAMP:-3s}
SETTLE=${SETTLE:-10}
SERVER_ENV=${SERVER_ENV:-}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=${BIN:-$TARGET_DIR/release/rally}

if [ ! -x "$BIN" ]; then
  echo "building $BIN" >&2
  cargo build --release --locked --bin rally >&2
fi
WORK=$(mktemp -d)
SERVER_PID=
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$port
# shellcheck disable=SC2086 # SERVER_ENV is a list of words on purpose
# Every bot connects from 127.0.0.1 within the ramp: more may wait to authenticate at once
# than the default per-address bound on a busy machine (as tests/memory.rs).
env RALLY_BIND=127.0.0.1:$port RALLY_DATABASE_URL="sqlite://$WORK/rally.db" \
  RALLY_ROOT_KEY_FILE="$WORK/root.key" RALLY_AUTH_RATE_PER_MINUTE=10000000 RALLY_LOG=warn \
  RALLY_WS_MAX_PENDING_PER_IP=1000 $SERVER_ENV "$BIN" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  if curl -fsS "$URL/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "$URL/readyz" >/dev/null || { echo "rally did not become ready" >&2; cat "$WORK/server.log" >&2; exit 1; }

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
# Rooms and sessions the server still counts (rally_rooms, rally_sessions, every state).
live() { curl -fsS "$URL/metrics" | awk '/^rally_(rooms|sessions)\{/ {s += $NF} END {print s + 0}'; }
# Wait (up to 90 s: the reconnection grace is 30 s, the linger 10 s) until the server counts
# no room and no session; prints the seconds waited.
wait_gone() {
  local t0 n
  t0=$(date +%s)
  while n=$(live) && [ "$n" != 0 ] && [ $(( $(date +%s) - t0 )) -lt 90 ]; do sleep 0.5; done
  echo $(( $(date +%s) - t0 ))
}

echo "server: $BIN ${SERVER_ENV:+($SERVER_ENV)}"
# The baseline: RSS after startup, before the first room.
boot=$(rss_kib)
echo "baseline after startup (before the first room): $(mib "$boot") MiB"
# Warm-up: one short room run, so that one-time costs (thread stacks, the pulse timers,
# database page caches, the metrics registry) are in the baseline, not in the first figure.
"$BIN" loadgen --url "$URL" --mode private --rooms 2 --duration 3s --ramp 1s --progress 0 \
  >/dev/null 2>&1 || true
sleep 2
start=$(rss_kib)
echo "after the warm-up (the reference for the per-room figures): $(mib "$start") MiB ($(awk -v a="$start" -v b="$boot" 'BEGIN {printf "%+.1f", (a - b) / 1024}') MiB: one-time costs of the first rooms)"

if [ "$IDLE" -gt 0 ]; then
  before=$(rss_kib)
  "$BIN" loadgen --url "$URL" --rooms 0 --idle "$IDLE" --duration "$IDLE_HOLD" --progress 0 \
    --metrics-url "$URL/readyz" >"$WORK/idle.out" 2>"$WORK/idle.err" &
  lg=$!
  # Sample while the connections are held (the load generator closes them at the end).
  held=0
  while kill -0 "$lg" 2>/dev/null; do
    r=$(rss_kib)
    [ "$r" -gt "$held" ] && held=$r
    sleep 0.5
  done
  wait "$lg" || { echo "idle run failed:" >&2; tail -n 5 "$WORK/idle.err" >&2; exit 1; }
  connected=$(tail -n 1 "$WORK/idle.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["idle_connected"])')
  sleep "$SETTLE"
  after=$(rss_kib)
  awk -v b="$before" -v h="$held" -v a="$after" -v n="$connected" -v t="$IDLE" 'BEGIN {
    printf "idle: %d/%d connections held; RSS %.1f -> %.1f MiB: %.2f KiB per connection; %.1f MiB after they closed\n",
      n, t, b / 1024, h / 1024, (h - b) / n, a / 1024 }'
fi

for c in $(seq 1 "$CYCLES"); do
  before=$(rss_kib)
  "$BIN" loadgen --url "$URL" --mode private --rooms "$ROOMS" --duration "$DURATION" \
    --ramp "$RAMP" --input-hz 60 --seed "$c" --progress 0 --metrics-url "$URL/metrics" \
    >"$WORK/rooms.out" 2>"$WORK/rooms.err" || tail -n 3 "$WORK/rooms.err" >&2
  # The load generator read the server's RSS at the end of the window: the peak with every
  # room playing.
  peak=$(tail -n 1 "$WORK/rooms.out" | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["servers"][0]["rss_mib"] * 1024))') || {
    echo "cycle $c: no report" >&2; tail -n 5 "$WORK/rooms.err" >&2; exit 1; }
  errors=$(tail -n 1 "$WORK/rooms.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["errors"])')
  # Every room over (its linger too) and every session closed, then SETTLE more seconds.
  waited=$(wait_gone)
  sleep "$SETTLE"
  after=$(rss_kib)
  awk -v c="$c" -v r="$ROOMS" -v b="$before" -v p="$peak" -v a="$after" -v s="$SETTLE" -v e="$errors" -v z="$start" -v o="$boot" -v w="$waited" 'BEGIN {
    printf "cycle %d: %d rooms: RSS %.1f -> %.1f MiB (%.1f KiB per room, %d errors); rooms and sessions gone %ds after the load, %ds later: %.1f MiB (%+.1f MiB against the startup baseline, %+.1f against the warm-up)\n",
      c, r, b / 1024, p / 1024, (p - b) / r, e, w, s, a / 1024, (a - o) / 1024, (a - z) / 1024 }'
done
