# rally developer recipes. `just` lists them.

set dotenv-load := false

default:
    @just --list

# Run the server for development (embedded SQLite by default; set RALLY_DATABASE_URL /
# RALLY_REDIS_URL for Postgres/Redis). Auto-reloads when cargo-watch is installed.
dev *ARGS:
    if command -v cargo-watch >/dev/null; then cargo watch -w src -w migrations -w web -x 'run -- {{ARGS}}'; else cargo run -- {{ARGS}}; fi

# The test suite. Postgres/Redis tests run when RALLY_TEST_POSTGRES_URL / RALLY_TEST_REDIS_URL are set.
test *ARGS:
    cargo test {{ARGS}}

# Everything CI runs (starts Postgres and Redis when needed).
ci:
    bash .ci/run

# Lints: formatting and clippy with warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings

# Format the code.
fmt:
    cargo fmt --all

# Apply database migrations to the server's database (RALLY_DATABASE_URL, or rally.db in
# RALLY_DATA_DIR); `just migrate --create` creates a missing SQLite database.
migrate *ARGS:
    cargo run -- migrate {{ARGS}}

# Start the compose stack (two instances, Postgres, Redis, nginx, Prometheus, Alertmanager, Grafana).
up:
    docker compose up -d --build

# Stop the compose stack.
down:
    docker compose down

# The standard load test (docs/benchmarks.md): a fresh release server per room count, 60 Hz
# rooms, open-loop inputs; prints the table. `just bench 200` for one point; IDLE=19900 adds the
# idle-connection count; ENCODING=bin has the bots speak rally.v1.bin.
bench *ROOMS:
    bash benches/load.sh {{ROOMS}}

# rally against the floor (benches/floor, a naive tokio + tokio-tungstenite server) with the
# same load, back to back; prints both and the ratios. `just bench-vs-floor 200` for one point;
# ENCODING=bin drives rally in rally.v1.bin (the floor stays JSON).
bench-vs-floor *ROOMS:
    bash benches/vs-floor.sh {{ROOMS}}

# Memory: RSS per idle authenticated connection, per active room, and after the rooms end
# (docs/benchmarks.md "Memory"). `IDLE=0 ROOMS=200 CYCLES=3 just bench-memory` for rooms only.
bench-memory:
    bash benches/memory.sh

# The criterion micro-benchmarks of the engine (Pong tick, snapshot encode, input decode, room
# fan-out, bracket generation).
bench-engine *ARGS:
    cargo bench --bench engine -- {{ARGS}}

# The fault suite (tests/faults.rs): kill -9 of a room owner, of a tournament owner and of a
# session-only instance, SIGSTOP past the lease, SIGTERM, Redis FLUSHDB and restart, kill -9 as
# Redis loses its directory, Postgres unreachable for 10 s, on real instances with loadgen;
# every run checked for lost or doubled results. Needs
# RALLY_TEST_POSTGRES_URL and RALLY_TEST_REDIS_URL (CI runs it inside `cargo test`). Prints the
# figures of docs/reliability.md.
faults *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    log=$(mktemp)
    cargo test --test faults -- --test-threads=1 --nocapture {{ARGS}} 2>&1 | tee "$log"
    echo
    echo "figures (docs/reliability.md):"
    grep '^FAULT' "$log"

# Run the load generator against a running server, e.g. `just loadgen --rooms 50 --matches 1`.
loadgen *ARGS:
    cargo run --release -- loadgen {{ARGS}}

# Tests of the ops files with real programs (nginx, promtool, Prometheus).
ops-test:
    cargo build
    RALLY_BIN=${CARGO_TARGET_DIR:-target}/debug/rally bash ops/test/lint.sh
    RALLY_BIN=${CARGO_TARGET_DIR:-target}/debug/rally RALLY_EXPECT_WS=1 bash ops/test/nginx.sh
    RALLY_BIN=${CARGO_TARGET_DIR:-target}/debug/rally bash ops/test/prometheus.sh

# Browser end-to-end tests in headless Chromium.
browser-test:
    cargo build
    RALLY_BIN=${CARGO_TARGET_DIR:-target}/debug/rally bash tests/browser/run.sh

# Fuzz every cargo-fuzz target for 60 s each (fuzz/run.sh; needs nightly and cargo-fuzz):
# `just fuzz`, `just fuzz 300 tokens`. Crashes land in fuzz/artifacts/<target>/.
fuzz SECONDS="60" *TARGETS:
    bash fuzz/run.sh -t {{SECONDS}} {{TARGETS}}
