#!/usr/bin/env bash
# rally against the floor (benches/floor: a naive tokio + tokio-tungstenite server ticking the
# same Pong rooms), back to back, with the same load generator and the same measurements:
# for each room count, a fresh floor and then a fresh release rally (embedded SQLite), each
# driven by `rally loadgen --mode private` (60 Hz rooms, open-loop inputs at 60 Hz). Both
# servers' CPU and memory are read the same way, from /proc/<pid>, over the same window (from
# the end of the ramp to the end of the run). Prints one row per server and point, then the
# ratios rally / floor; appends the loadgen JSON reports to $OUT.
#
#   benches/vs-floor.sh                # 100 200 300 400 rooms
#   benches/vs-floor.sh 200            # one point
#
# ENCODING=bin drives rally in rally.v1.bin (`rally loadgen --encoding bin`); the floor always
# speaks JSON (it is the naive reference: one JSON snapshot per player per tick).
#
# RSS per room is the growth from a warmed-up baseline (each fresh server first plays
# WARMUP_ROOMS rooms for 3 s, as benches/memory.sh does) to the end of the window, divided by
# the rooms.
#
# Settings (environment): DURATION (20s), RAMP (5s), SEED (1), ENCODING (json), WARMUP_ROOMS
# (2; 0 = measure from the cold start, as before 2026-12-03), OUT. Loopback only; bounded in
# time by RAMP + DURATION per server and point (about 4 minutes for the four default points,
# after the build). Run it on a quiet machine: the output starts with the load average, and the
# table is Markdown, ready for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20s}
RAMP=${RAMP:-5s}
SEED=${SEED:-1}
WARMUP_ROOMS=${WARMUP_ROOMS:-2}
ENCODING=${ENCODING:-json}
case $ENCODING in json|bin) ;; *) echo "ENCODING must be json or bin" >&2; exit 2 ;; esac
TARGET_DIR=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$TARGET_DIR/bench/vs-floor-$(date +%Y%m%dT%H%M%S).jsonl}
ROOMS=("$@")
[ "${#ROOMS[@]}" -gt 0 ] || ROOMS=(100 200 300 400)

cargo build --release --locked --bin rally --example floor >&2
RALLY=$TARGET_DIR/release/rally
FLOOR=$TARGET_DIR/release/examples/floor
mkdir -p "$(dirname "$OUT")"
WORK=$(mktemp -d)
PID=
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
secs() { python3 -c 'import sys,re; m=re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", sys.argv[1]); v=float(m[1]); print(v/1000 if m[2]=="ms" else v*60 if m[2]=="m" else v)' "$1"; }
# CPU seconds (user + system) and RSS KiB of a process.
probe() { python3 - "$1" <<'EOF'
import os, sys
pid = sys.argv[1]
f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
ticks = os.sysconf("SC_CLK_TCK")
cpu = (int(f[11]) + int(f[12])) / ticks
rss = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:"))
print(cpu, rss)
EOF
}

start() {
  local kind=$1 port=$2 dir=$WORK/$1-$2
  mkdir -p "$dir"
  if [ "$kind" = floor ]; then
    "$FLOOR" "127.0.0.1:$port" >"$dir/log" 2>&1 &
  else
    RALLY_BIND=127.0.0.1:$port RALLY_DATABASE_URL="sqlite://$dir/rally.db" \
      RALLY_ROOT_KEY_FILE="$dir/root.key" RALLY_AUTH_RATE_PER_MINUTE=10000000 RALLY_LOG=warn \
      "$RALLY" >"$dir/log" 2>&1 &
  fi
  PID=$!
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then return; fi
    sleep 0.1
  done
  echo "$kind did not become ready" >&2
  cat "$dir/log" >&2
  exit 1
}

RESULTS=$WORK/results
: >"$RESULTS"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
status=0
ramp_s=$(secs "$RAMP")
dur_s=$(secs "$DURATION")
for n in "${ROOMS[@]}"; do
  for kind in floor rally; do
    port=$(free_port)
    start "$kind" "$port"
    encoding=json
    [ "$kind" = rally ] && encoding=$ENCODING
    # Warm-up (as benches/memory.sh): a short run of WARMUP_ROOMS rooms, so that what a server
    # allocates once (runtime and arbiter threads touching their stacks, the allocator's
    # arenas, the database pool's first pages, metric series) is in the baseline and not
    # divided among the rooms: without it, a fixed ~2 MiB was counted as ~20 KiB per room at
    # 100 rooms and ~5 at 400 (docs/benchmarks.md, "Memory").
    if [ "$WARMUP_ROOMS" -gt 0 ]; then
      "$RALLY" loadgen --url "http://127.0.0.1:$port" --mode private --rooms "$WARMUP_ROOMS" \
        --duration 3s --ramp 1s --input-hz 60 --seed "$SEED" --progress 0 \
        --metrics-url "http://127.0.0.1:$port/readyz" --encoding "$encoding" >/dev/null 2>&1 || true
      sleep 2
    fi
    read -r _ rss0 < <(probe "$PID")
    "$RALLY" loadgen --url "http://127.0.0.1:$port" --mode private --rooms "$n" \
      --duration "$DURATION" --ramp "$RAMP" --input-hz 60 --seed "$SEED" --progress 0 \
      --encoding "$encoding" >"$WORK/out" 2>"$WORK/err" &
    lg=$!
    sleep "$ramp_s"
    read -r cpu1 _ < <(probe "$PID")
    t1=$(date +%s.%N)
    sleep "$dur_s"
    read -r cpu2 rss2 < <(probe "$PID")
    t2=$(date +%s.%N)
    set +e
    wait "$lg"
    rc=$?
    set -e
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
    last=$(tail -n 1 "$WORK/out")
    if ! printf '%s' "$last" | python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null; then
      echo "$kind, $n rooms: no report (exit $rc)" >&2
      tail -n 5 "$WORK/err" >&2
      status=1
      continue
    fi
    [ "$rc" = 0 ] || status=1
    printf '{"server":"%s","report":%s}\n' "$kind" "$last" >>"$OUT"
    printf '%s %s %s %s %s %s %s %s\n' "$kind" "$n" "$cpu1" "$cpu2" "$t1" "$t2" "$rss0" "$rss2" >>"$RESULTS"
    printf '%s' "$last" >"$WORK/report-$kind-$n.json"
  done
done

python3 - "$RESULTS" "$WORK" "$LOAD0" <<'EOF'
import json, os, sys
rows = {}
for line in open(sys.argv[1]):
    kind, n, c1, c2, t1, t2, r0, r2 = line.split()
    n = int(n)
    r = json.load(open(f"{sys.argv[2]}/report-{kind}-{n}.json"))
    cpu = (float(c2) - float(c1)) / (float(t2) - float(t1)) * 100
    kib_room = (int(r2) - int(r0)) / max(n, 1)
    lat = r["latency_ms"]
    # Tick lateness: only rally exports it (the floor has no metrics).
    late = None
    if kind == "rally" and r.get("servers"):
        late = r["servers"][0].get("tick_lateness_ms", {}).get("p99_le")
    per_frame = r["bytes_in"] / r["frames_in"] if r.get("frames_in") else 0.0
    rows[(kind, n)] = (cpu, kib_room, lat["p50"], lat["p99"], r["errors"], late, per_frame, r.get("encoding", "json"))
load_end = os.getloadavg()
print("load average at start %s, at end %.2f %.2f %.2f" % (sys.argv[3], *load_end))
print()
print("| server | encoding | rooms | p50 ms | p99 ms | tick lateness p99 | CPU % of a core | KiB/room | bytes/frame to clients | errors |")
print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|")
for (kind, n), (cpu, kib, p50, p99, err, late, per_frame, enc) in sorted(rows.items(), key=lambda x: (x[0][1], x[0][0])):
    lt = "–" if kind == "floor" else ("≤ %g ms" % late if late is not None else "> 50 ms")
    print("| %s | %s | %d | %.2f | %.2f | %s | %.1f | %.1f | %.0f | %d |" % (kind, enc, n, p50, p99, lt, cpu, kib, per_frame, err))
print()
print("ratios rally / floor (below 1.0 rally does less):")
for n in sorted({n for _, n in rows}):
    if ("rally", n) in rows and ("floor", n) in rows:
        r, f = rows[("rally", n)], rows[("floor", n)]
        print("  %4d rooms: CPU %.2f, p99 %.2f, memory per room %.2f" % (
            n, r[0] / f[0] if f[0] else float("nan"), r[3] / f[3] if f[3] else float("nan"),
            r[1] / f[1] if f[1] else float("nan")))
EOF
echo "reports: $OUT" >&2
exit "$status"
