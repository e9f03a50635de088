#!/usr/bin/env bash
# Instructions per room-tick: a figure that does not depend on what else the machine is doing
# (docs/benchmarks.md, "Instructions per room-tick").
#
# The release `rally` runs under `valgrind --tool=callgrind` with instrumentation off; `rally
# loadgen` (native, outside valgrind) starts ROOMS private 60 Hz Pong rooms with open-loop
# inputs at 60 Hz per bot and matches long enough not to end in the window. After the ramp and
# the countdown, instrumentation is switched on for WINDOW seconds (`callgrind_control -i on/off`);
# the room-ticks in that window are the calls of the snapshot encoder of the bots' encoding
# (ENCODING=json: `rally::protocol::snapshot_frame`; ENCODING=bin: every bot speaks
# rally.v1.bin and the encoder is `rally::protocol::bin::snapshot_head`) the profile counted
# (one per room and tick: a snapshot every tick is the default). The load generator does not
# scrape the server's /metrics (`--metrics-url` points at /readyz), so nothing but the load
# runs in the window; /metrics itself works under valgrind since rustix reads the aux vector
# through libc (Cargo.toml). The figure is every instruction the server process executed in the
# window, on all its threads (reading inputs, ticking, encoding, writing, timers, metrics) —
# kernel work is not counted — divided by those room-ticks. Also prints the functions with the
# most inclusive instructions (callgrind_annotate) and keeps the profile.
#
#   benches/callgrind.sh                  # 4 rooms, 10 s window, JSON
#   ENCODING=bin benches/callgrind.sh     # the same in rally.v1.bin
#   ROOMS=8 WINDOW=20 benches/callgrind.sh
#
# Settings (environment): ROOMS (4), WINDOW (10 s), RAMP (2 s), SETTLE (6 s: countdown and
# start), ENCODING (json or bin), OUT (directory for the profile; default $CARGO_TARGET_DIR/bench/callgrind-<time>),
# BIN (release binary; built when absent), TOP (functions to list, 25). Few rooms on purpose:
# under valgrind the server runs ~50 times slower and must still keep up with 60 Hz: the
# bots' count of tick gaps is printed (0 expected; gaps mean the server did not keep up).
set -euo pipefail
cd "$(dirname "$0")/.."

ROOMS=${ROOMS:-4}
WINDOW=${WINDOW:-10}
RAMP=${RAMP:-2}
SETTLE=${SETTLE:-6}
TOP=${TOP:-25}
ENCODING=${ENCODING:-json}
case $ENCODING in
  json) ENCODER=rally::protocol::snapshot_frame ;;
  bin) ENCODER=rally::protocol::bin::snapshot_head ;;
  *) echo "ENCODING must be json or bin" >&2; exit 2 ;;
esac
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
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.out" \
  "$BIN" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 600); do
  if curl -fsS "$URL/readyz" >/dev/null 2>&1; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.2
done
curl -fsS "$URL/readyz" >/dev/null || { echo "rally did not become ready" >&2; cat "$WORK/server.log" >&2; exit 1; }

# Warm-up: under valgrind the first authorizations run through code not translated yet and
# pass biscuit's 50 ms run limit (503); a few short runs first, failures ignored.
for _ in 1 2 3; do
  "$BIN" loadgen --url "$URL" --mode private --rooms 1 --duration 2s --progress 0 \
    --metrics-url "$URL/readyz" >/dev/null 2>&1 || true
done
total=$((RAMP + SETTLE + WINDOW + 5))
"$BIN" loadgen --url "$URL" --mode private --rooms "$ROOMS" --duration "${total}s" \
  --ramp "${RAMP}s" --input-hz 60 --seed 1 --points-to-win 21 --miss-rate 0 --progress 0 \
  --encoding "$ENCODING" --metrics-url "$URL/readyz" >"$WORK/loadgen.out" 2>"$WORK/loadgen.err" &
LG_PID=$!
sleep $((RAMP + SETTLE))
callgrind_control -i on "$SERVER_PID" >/dev/null
sleep "$WINDOW"
callgrind_control -i off "$SERVER_PID" >/dev/null
callgrind_control -d "$SERVER_PID" >/dev/null
set +e
wait "$LG_PID"
set -e
LG_PID=
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=

# The dump written by `-d` (callgrind.out.<n>), not the empty final one.
dump=$(find "$OUT" -name 'callgrind.out.*' -size +1k | sort | tail -n 1)
[ -n "$dump" ] || { echo "no callgrind dump in $OUT" >&2; exit 1; }
# Instructions, and room-ticks = calls of the encoding's snapshot encoder (one per tick of a
# room in play or counting down, with the default snapshot every tick) in the window.
read -r ir room_ticks < <(python3 - "$dump" "$ENCODER" <<'EOF'
import re, sys
ir = 0
names = {}
target = None
calls = 0
for line in open(sys.argv[1], errors="replace"):
    if line.startswith(("summary:", "totals:")) and not ir:
        ir = int(line.split()[1])
    m = re.match(r"(c?)fn=\((\d+)\)(?: (.*))?", line)
    if m:
        if m.group(3):
            names[m.group(2)] = m.group(3).strip()
        if m.group(1):
            target = names.get(m.group(2), "")
        continue
    if line.startswith("calls=") and target is not None:
        if target == sys.argv[2]:
            calls += int(line[6:].split()[0])
        target = None
print(ir, calls)
EOF
)
gaps=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]).get("tick_gaps", "?"))' "$WORK/loadgen.out" 2>/dev/null || echo "?")
[ "$room_ticks" -gt 0 ] || { echo "no room ticked in the window" >&2; cat "$WORK/loadgen.err" >&2; exit 1; }
echo "encoding $ENCODING, rooms $ROOMS, window ${WINDOW}s: $ir instructions, $room_ticks room-ticks (tick gaps seen by the bots over the run: $gaps)"
printf 'instructions per room-tick: %d\n' $((ir / room_ticks))
callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | grep -E '^ *[0-9,]+ ' | head -n "$TOP" > "$OUT/top.txt" || true
echo "top functions (inclusive) in $OUT/top.txt; profile: $dump"
