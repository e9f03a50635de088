# syntax=docker/dockerfile:1
#
# rally container image.
#
#   docker build -t rally .                 # runtime image (the default, last stage)
#   docker build --target dev -t rally:dev .  # toolchain + cargo-watch, for `compose --profile dev`
#
# Stages: chef (toolchain + cargo-chef) -> planner (dependency recipe) -> builder (dependencies
# cooked in their own cached layer, then rally in release mode) -> runtime (debian-slim,
# non-root). The web client under web/ is embedded into the binary at compile time and the
# migrations under migrations/ too, so the runtime image holds one binary and no other files.
# Configuration is RALLY_* environment variables only (README.md, "Configuration");
# secrets are mounted at run time (compose secrets), never copied into the image.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm
ARG CARGO_CHEF_VERSION=0.1.78
ARG CARGO_WATCH_VERSION=8.5.3

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS chef
# pq-sys builds a bundled libpq that links the system OpenSSL; libsqlite3-sys bundles SQLite.
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
ARG CARGO_CHEF_VERSION
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /app

# The recipe lists dependencies only: it changes when Cargo.toml/Cargo.lock change, not when
# src/ does, so the cook layer below stays cached across ordinary code changes.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin rally \
    && cp target/release/rally /usr/local/bin/rally \
    && /usr/local/bin/rally --version

# Development: the toolchain with cargo-watch; compose mounts the source at /src.
# Debug builds read web/ from disk, so client edits show up without a rebuild.
FROM chef AS dev
ARG CARGO_WATCH_VERSION
RUN cargo install cargo-watch --locked --version "${CARGO_WATCH_VERSION}"
WORKDIR /src
ENV RALLY_BIND=0.0.0.0:8080 \
    CARGO_TARGET_DIR=/target
EXPOSE 8080
CMD ["cargo", "watch", "-w", "src", "-w", "web", "-w", "migrations", "-w", "Cargo.toml", "-x", "run -- serve"]

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# libssl3: the bundled libpq's TLS; ca-certificates: verifying Postgres/Redis over TLS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 rally \
    && useradd --system --uid 10001 --gid rally --home-dir /var/lib/rally --shell /usr/sbin/nologin rally \
    && mkdir -p /var/lib/rally/data \
    && chown -R rally:rally /var/lib/rally
COPY --from=builder /usr/local/bin/rally /usr/local/bin/rally
COPY ops/docker/entrypoint.sh /usr/local/bin/rally-entrypoint
WORKDIR /var/lib/rally
USER 10001:10001
# Defaults for a single container: listen on every interface, embedded SQLite (and a generated
# root key) in /var/lib/rally/data (mount a volume there to keep them). compose.yaml overrides
# the database with Postgres and adds Redis and a shared root key.
ENV RALLY_BIND=0.0.0.0:8080 \
    RALLY_DATABASE_URL=sqlite:///var/lib/rally/data/rally.db \
    RALLY_LOG_FORMAT=json
EXPOSE 8080
# `rally healthcheck` probes /readyz on RALLY_BIND: unhealthy while the database or Redis is down.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["rally", "healthcheck"]
ENTRYPOINT ["rally-entrypoint"]
CMD ["rally", "serve"]
