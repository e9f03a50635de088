#!/usr/bin/env bash
# Build the cargo-fuzz targets and run each for a time or a number of executions, one after the
# other, under `nice`. Prints one summary line per target (the figures of docs/security.md,
# "Fuzzing") and exits non-zero if any target found a crash, a timeout or a leak.
#
#   fuzz/run.sh                      # every target, 60 s each (what `just fuzz` runs)
#   fuzz/run.sh -t 300 tokens        # one target for 300 s
#   fuzz/run.sh -n 10000000 configs  # one target for 10 million executions
#   fuzz/run.sh -n 10000000 -t 900   # each: 10 million executions or 900 s, what comes first
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# Environment:
#   RALLY_FUZZ_TARGET_DIR  where cargo builds (default: $CARGO_TARGET_DIR/fuzz if set, else
#                          fuzz/target, ignored by git)
#   RALLY_FUZZ_WORK        working corpora and crash artifacts (default fuzz/, whose corpus/
#                          and artifacts/ are ignored by git); the committed seeds in
#                          fuzz/seeds/<target> are read, never written
#   RALLY_FUZZ_NICE        nice level (default 10: the machine is shared)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
all=(client_messages ws_frames replay_file configs tokens)
seconds=""
runs=""
while getopts "t:n:h" opt; do
    case $opt in
        t) seconds=$OPTARG ;;
        n) runs=$OPTARG ;;
        *) sed -n '2,20p' "$0"; exit 2 ;;
    esac
done
[ -n "$seconds$runs" ] || seconds=60
shift $((OPTIND - 1))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

target_dir=${RALLY_FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/fuzz}}
target_dir=${target_dir:-$here/target}
work=${RALLY_FUZZ_WORK:-$here}
nice_level=${RALLY_FUZZ_NICE:-10}

# Largest input per target: a frame of 8 KiB plus its header, a token of 4 KiB plus a
# header, a replay of a few minutes of inputs, a request body.
max_len() {
    case $1 in
        ws_frames) echo 9000 ;;
        client_messages) echo 8192 ;;
        replay_file) echo 16384 ;;
        tokens) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

echo "building ${targets[*]} (release, debug assertions and overflow checks on, no sanitizer) into $target_dir"
# `cargo fuzz build` takes one target or none (all).
one=()
[ ${#targets[@]} -eq 1 ] && one=("${targets[0]}")
(cd "$here" && nice -n "$nice_level" cargo +nightly fuzz build -O -a -s none \
    --target-dir "$target_dir" "${one[@]}" >&2)
bin_dir=$target_dir/x86_64-unknown-linux-gnu/release

failed=()
summary=()
for t in "${targets[@]}"; do
    corpus=$work/corpus/$t
    artifacts=$work/artifacts/$t
    log=$work/artifacts/$t.log
    mkdir -p "$corpus" "$artifacts"
    seeds=()
    [ -d "$here/seeds/$t" ] && seeds=("$here/seeds/$t")
    limit=()
    [ -n "$seconds" ] && limit+=(-max_total_time="$seconds")
    [ -n "$runs" ] && limit+=(-runs="$runs")
    dict=()
    [ -f "$here/dict/$t.dict" ] && dict=(-dict="$here/dict/$t.dict")
    echo "== $t: ${limit[*]}, corpus $corpus"
    start=$(date +%s)
    set +e
    nice -n "$nice_level" "$bin_dir/$t" "$corpus" "${seeds[@]}" "${limit[@]}" "${dict[@]}" \
        -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=512 \
        -print_final_stats=1 -close_fd_mask=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1
    rc=$?
    set -e
    elapsed=$(($(date +%s) - start))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
    last=$(grep -E '#[0-9]+.*(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1 || true)
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | awk '{print $2}')
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | awk '{print $2}')
    units=$(find "$corpus" -type f | wc -l)
    crashes=$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
    line=$(printf '%-16s execs=%s exec/s=%s time=%ss cov=%s ft=%s corpus=%s crashes=%s rc=%s' \
        "$t" "$execs" "$rate" "$elapsed" "${cov:-?}" "${ft:-?}" "$units" "$crashes" "$rc")
    echo "$line"
    summary+=("$line")
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        failed+=("$t")
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -5 || true
    fi
done

echo
echo "fuzz summary ($(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?')):"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]} (inputs in $work/artifacts/<target>/, logs in $work/artifacts/<target>.log)"
    exit 1
fi
