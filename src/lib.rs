//! # rally
//!
//! A realtime, authoritative game server: every game room and every tournament is an actix
//! actor that owns fixed-tick state; clients send inputs and receive snapshots.
//!
//! # Layout
//! - [`app`]: builds the shared state and the HTTP/WebSocket server; `app::run` is what `main`
//!   and the tests call.
//! - [`commands`]: the non-serving subcommands (migrate, admin, healthcheck, token, replay).
//! - [`cli`]: the `rally` command line (clap) and the configuration it produces.
//! - [`config`]: validated runtime configuration ([`config::Config`]).
//! - [`error`]: the one application error type, mapped to HTTP statuses and WebSocket close codes.
//! - [`ids`]: typed, application-generated ids (ULID text) for players, rooms, matches, tournaments.
//! - [`db`]: diesel over Postgres or SQLite (chosen by URL scheme), r2d2 pool on the blocking
//!   pool, embedded migrations per backend, queries.
//! - [`durable`]: the outbox that journals results, starts, no-shows and seats (a file, or
//!   Redis) and writes them to the database, retrying through outages of any length.
//! - [`auth`]: biscuit tokens (issue, verify, attenuate, revoke), the single `authorize`
//!   function, argon2 passwords, login rate limits, and the `Player` / `Organiser` extractors.
//! - [`api`]: the HTTP route table and handlers (`/api/v1/...`, `/healthz`, `/readyz`).
//! - [`metrics`]: the Prometheus recorder, upkeep, the metrics contract and HTTP middleware.
//! - [`telemetry`]: tracing subscriber (text or JSON).
//! - [`web`]: the browser client, embedded in the binary at compile time.
//! - [`protocol`]: the WebSocket wire protocol types, limits, error and close codes.
//! - [`game`]: the pure `Game` trait and the games (Pong, light cycles; docs/games.md).
//! - [`registry`]: which room lives where and presence; in-process alone, or with Redis:
//!   heartbeats, leases on owned resources, the shared directory, placement, pub/sub routing
//!   between instances (one delivery path for local and remote sessions), checkpoints and
//!   failover. It knows rooms and tournaments only through its own message types and ports.
//! - [`room`], [`session`], [`matchmaking`]: room actors (ticks, fan-out), WebSocket sessions,
//!   the quick-match queue (shared through Redis with a leased leader).
//! - [`roles`]: role changes made by `rally admin` reach the player's live sessions (audit-log
//!   poll, a fresh token over the WebSocket).
//! - [`replay`]: the input log format and replay verification by re-simulation (pure).
//! - [`tournament`]: the tournament actors (one per unfinished tournament, restored at
//!   start-up) around the pure bracket state machine, rebuild and planning.
//! - [`matchmaking`]: the quick-match queue actor and the pure rating maths.
//! - [`bot`]: bot clients that speak the wire protocol (tests, `rally loadgen`).

pub mod api;
pub mod app;
pub mod auth;
pub mod bot;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod durable;
pub mod error;
pub mod game;
pub mod ids;
pub mod matchmaking;
pub mod metrics;
pub mod protocol;
pub mod registry;
pub mod replay;
pub mod roles;
pub mod room;
pub mod session;
pub mod telemetry;
pub mod tournament;
pub mod web;
