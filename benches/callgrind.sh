#!/usr/bin/env bash
# Instructions per room-tick: a figure that does not depend on what else the machine is doing
# (docs/benchmarks.md, "Instructions per room-tick").
#
# The release `rally` runs under `valgrind --tool=callgrind` with collection off; `rally
# loadgen` (native, outside valgrind) starts ROOMS private 60 Hz Pong rooms with open-loop
# inputs at 60 Hz per bot and matches long enough not to end in the window. After the ramp and
# the countdown, collection is switched on for WINDOW seconds (`callgrind_control -i on/off`);
# the server's own `rally_ticks_total` (ticks of rooms in play) read before and after gives the
# room-ticks in that window. The figure is every instruction the server process executed in the
# window, on all its threads (reading inputs, ticking, encoding, writing, timers, metrics) —
# kernel work is not counted — divided by those room-ticks. Also prints the functions with the
# most inclusive instructions (callgrind_annotate) and keeps the profile.
#
#   benches/callgrind.sh            # 4 rooms, 10 s window
#   ROOMS=8 WINDOW=20 benches/callgrind.sh
#
# Settings (environment): ROOMS (4), WINDOW (10 s), RAMP (2 s), SETTLE (6 s: countdown and
# start), OUT (directory for the profile; default $CARGO_TARGET_DIR/bench/callgrind-<time>),
# BIN (release binary; built when absent), TOP (functions to list, 25). Few rooms on purpose:
# under valgrind the server runs ~50 times slower and must still keep up with 60 Hz (the
# script fails when ticks were skipped in the window, which would make the figure meaningless).
set -euo pipefail
cd "$(dirname "$0")/.."

ROOMS=${ROOMS:-4}
WINDOW=${WINDOW:-10}
RAMP=${RAMP:-2}
SETTLE=${SETTLE:-6}
TOP=${TOP:-25}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=${BIN:-$TARGET_DIR/release/rally}
OUT=${OUT:-$TARGET_DIR/bench/callgrind-$(date +%Y%m%dT%H%M%S)}

command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
if [ ! -x "$BIN" ]; then
  echo "building $BIN" >&2
  cargo build --release --locked --bin rally >&2
fi
mkdir -p "$OUT"
WORK=$(mktemp -d)
SERVER_PID=
LG_PID=
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  if [ -n "$LG_PID" ]; then kill "$LG_PID" 2>/dev/null || true; wait "$LG_PID" 2>/dev/null || true; fi
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$port
RALLY_BIND=127.0.0.1:$port RALLY_DATABASE_URL="sqlite://$WORK/rally.db" \
  RALLY_ROOT_KEY_FILE="$WORK/root.key" RALLY_AUTH_RATE_PER_MINUTE=10000000 RALLY_LOG=warn \
  RALLY_ARBITERS=1 RALLY_HTTP_WORKERS=1 \
  valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$OUT/callgrind.out" \
  "$BIN" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 600); do
  if curl -fsS "$URL/readyz" >/dev/null 2>&1; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.2
done
curl -fsS "$URL/readyz" >/dev/null || { echo "rally did not become ready" >&2; cat "$WORK/server.log" >&2; exit 1; }

# A counter of the server, summed over its label sets.
counter() {
  curl -fsS --max-time 30 "$URL/metrics" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%d\n", s }'
}

total=$((RAMP + SETTLE + WINDOW + 30))
"$BIN" loadgen --url "$URL" --mode private --rooms "$ROOMS" --duration "${total}s" \
  --ramp "${RAMP}s" --input-hz 60 --seed 1 --points-to-win 1000 --progress 0 \
  --metrics-url "$URL/readyz" >"$WORK/loadgen.out" 2>"$WORK/loadgen.err" &
LG_PID=$!
sleep $((RAMP + SETTLE))
ticks0=$(counter rally_ticks_total)
skipped0=$(counter rally_ticks_skipped_total)
callgrind_control -i on "$SERVER_PID" >/dev/null
sleep "$WINDOW"
callgrind_control -i off "$SERVER_PID" >/dev/null
ticks1=$(counter rally_ticks_total)
skipped1=$(counter rally_ticks_skipped_total)
callgrind_control -d "$SERVER_PID" >/dev/null
kill "$LG_PID" 2>/dev/null || true
wait "$LG_PID" 2>/dev/null || true
LG_PID=
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=

# The dump written by `-d` (callgrind.out.<n>), not the empty final one.
dump=$(find "$OUT" -name 'callgrind.out.*' -size +1k | sort | tail -n 1)
[ -n "$dump" ] || { echo "no callgrind dump in $OUT" >&2; exit 1; }
ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
room_ticks=$((ticks1 - ticks0))
skipped=$((skipped1 - skipped0))
[ "$room_ticks" -gt 0 ] || { echo "no room ticked in the window" >&2; cat "$WORK/loadgen.err" >&2; exit 1; }
echo "rooms $ROOMS, window ${WINDOW}s: $ir instructions, $room_ticks room-ticks, $skipped skipped"
printf 'instructions per room-tick: %d\n' $((ir / room_ticks))
callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | sed -n '1,/^-- Auto-annotated/p' |
  grep -E '^ *[0-9,]+ ' | head -n "$TOP" > "$OUT/top.txt" || true
echo "top functions (inclusive) in $OUT/top.txt; profile: $dump"
if [ "$skipped" -gt 0 ]; then
  echo "ticks were skipped in the window: the server did not keep up under valgrind; use fewer ROOMS" >&2
  exit 1
fi
