//! The `rally` command line. Every setting is a flag or a `RALLY_*` environment variable (the
//! README's configuration table lists them all). Settings are given after the subcommand that
//! uses them (`rally serve --bind 0.0.0.0:8080`, `rally migrate --database-url …`); `rally`
//! alone is `rally serve` and takes the server's settings directly. Each subcommand takes only
//! the settings it uses, and its `--help` lists them with their variable and default.
//!
//! Values are kept as text here and validated in [`crate::config`], so that an invalid value
//! is reported with the name of its environment variable (`RALLY_POINTS_TO_WIN: …`) whether it
//! came from the environment or from the flag.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// rally: a realtime authoritative game server.
///
/// `rally` alone runs the server (`rally serve`). Settings are flags or RALLY_* environment
/// variables; see `rally serve --help`.
#[derive(Parser, Debug)]
#[command(
    name = "rally",
    version,
    about,
    args_override_self = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// The server's settings when no subcommand is given (`rally` = `rally serve`).
    #[command(flatten)]
    pub settings: Settings,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The subcommand to run: `serve` with the top-level settings when none was given.
    pub fn into_command(self) -> Command {
        self.command
            .unwrap_or_else(|| Command::Serve(Box::new(self.settings)))
    }
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default).
    Serve(Box<Settings>),
    /// Apply pending database migrations to the server's database and exit.
    ///
    /// An SQLite database that does not exist is not created (the server creates it at its
    /// first start) unless `--create` is given.
    Migrate(MigrateArgs),
    /// Account administration, on the server's database (which must exist and be migrated).
    Admin {
        /// What to do.
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Exit 0 when the local server answers `/readyz` (for container health checks).
    Healthcheck(HealthcheckArgs),
    /// Token utilities (offline: no key, no database).
    Token {
        /// What to do.
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Match replays.
    Replay {
        /// What to do.
        #[command(subcommand)]
        action: ReplayAction,
    },
    /// Drive a running server with bot players and measure it; prints a summary and, as the last
    /// line of stdout, one JSON object. Exits non-zero on any error.
    Loadgen(Box<LoadgenArgs>),
}

/// `rally migrate`
#[derive(Args, Debug, Clone)]
pub struct MigrateArgs {
    /// Create the SQLite database when it does not exist yet (without this flag a missing
    /// database is an error naming the path looked at).
    #[arg(long)]
    pub create: bool,
    /// Where the database is.
    #[command(flatten)]
    pub store: StoreSettings,
    /// Logging.
    #[command(flatten)]
    pub logging: LogSettings,
}

/// `rally healthcheck`
#[derive(Args, Debug, Clone)]
pub struct HealthcheckArgs {
    /// Base URL to probe; defaults to the address in `RALLY_BIND` (`0.0.0.0` probed as
    /// `127.0.0.1`).
    #[arg(long)]
    pub url: Option<String>,
    /// The server's listener.
    #[command(flatten)]
    pub listen: ListenSettings,
}

/// The settings of a subcommand that reads the server's database and logs.
#[derive(Args, Debug, Clone)]
pub struct DatabaseArgs {
    /// Where the database is.
    #[command(flatten)]
    pub store: StoreSettings,
    /// Logging.
    #[command(flatten)]
    pub logging: LogSettings,
}

/// `rally loadgen …`
#[derive(Args, Debug, Clone)]
pub struct LoadgenArgs {
    /// Base URL of a server instance; repeat for several (bots are spread over them, and a bot
    /// whose instance goes away reconnects through another).
    #[arg(long = "url", default_value = "http://127.0.0.1:8080")]
    pub urls: Vec<String>,
    /// Concurrent rooms (0 with --idle only); each holds `--seats` bots.
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// The game the bots play: `pong` (the default) or `cycles` (light cycles; the bots steer
    /// off walls and trails).
    #[arg(long, default_value = "pong")]
    pub game: String,
    /// Players per room (quick match: the queue's group size); default the game's
    /// `default_queue_size` (pong 2, cycles 4), within its seat range.
    #[arg(long)]
    pub seats: Option<u8>,
    /// Complete matches to play per room slot (ignored with --duration).
    #[arg(long, default_value_t = 1)]
    pub matches: usize,
    /// Timed run (e.g. 30s): keep starting matches for this long, then leave the ones still
    /// running (reported as matches_cut). Replaces --matches.
    #[arg(long)]
    pub duration: Option<String>,
    /// Start the bots (private: the room slots) evenly over this time (e.g. 10s).
    #[arg(long, default_value = "0s")]
    pub ramp: String,
    /// Inputs per second per bot, sent open loop on a fixed schedule whatever the server
    /// answers; 0 sends only when the bot's intent changes (as the web client does).
    #[arg(long, default_value_t = 60.0)]
    pub input_hz: f64,
    /// Fraction of players (0–1) that drop their connection once in each match and resume it
    /// (through the next --url).
    #[arg(long, default_value_t = 0.0)]
    pub reconnect_rate: f64,
    /// Open this many authenticated idle connections (guest accounts) first and hold them for
    /// the whole run; with --rooms 0, for --duration.
    #[arg(long, default_value_t = 0)]
    pub idle: usize,
    /// Exit non-zero when the input→snapshot latency p99 exceeds this many milliseconds.
    #[arg(long)]
    pub max_p99_ms: Option<f64>,
    /// Metrics endpoint of an instance, scraped for its CPU, memory and tick lateness; repeat
    /// per instance. Default: <url>/metrics of each --url.
    #[arg(long)]
    pub metrics_url: Vec<String>,
    /// How bots get into rooms: quick match or private rooms joined by code.
    #[arg(long, value_enum, default_value_t = crate::bot::loadgen::Mode::Quick)]
    pub mode: crate::bot::loadgen::Mode,
    /// Probability that a bot misplays an approaching ball (so matches end).
    #[arg(long, default_value_t = 0.3)]
    pub miss_rate: f64,
    /// Seed for every bot's choices; random (and reported) when absent.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Bound on the whole run; bots still running then count as errors.
    #[arg(long, default_value = "10m")]
    pub timeout: String,
    /// Points to win in private rooms (quick matches use the server's setting).
    #[arg(long)]
    pub points_to_win: Option<u32>,
    /// Interval of the progress line on stderr; 0 disables it.
    #[arg(long, default_value = "5s")]
    pub progress: String,
    /// Longest wait in the quick-match queue.
    #[arg(long, default_value = "2m")]
    pub queue_timeout: String,
    /// Longest silence tolerated inside a match (must exceed the server's join and reconnect
    /// windows).
    #[arg(long, default_value = "60s")]
    pub idle_timeout: String,
    /// Runtime threads for the bots (1: a single-threaded runtime, cheapest per message).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Tournament mode: `--players` bots register, enter this tournament (registration must be
    /// open), play every match they are called to, and exit 0 once it has finished.
    /// `--rooms`, `--matches` and `--mode` do not apply.
    #[arg(long)]
    pub tournament: Option<String>,
    /// Bots entering the tournament (with `--tournament`).
    #[arg(long, default_value_t = 8)]
    pub players: usize,
    /// The wire encoding the bots speak: `json` (rally.v1.json, the default) or `bin`
    /// (rally.v1.bin, negotiated with Sec-WebSocket-Protocol).
    #[arg(long, default_value = "json", value_parser = ["json", "bin"])]
    pub encoding: String,
    /// Logging (the bots log failures at WARN).
    #[command(flatten)]
    pub logging: LogSettings,
}

/// `rally replay …`
#[derive(Subcommand, Debug)]
pub enum ReplayAction {
    /// Re-simulate a finished match and check its final state hash: exit 0 when it matches,
    /// non-zero with the reason otherwise.
    Verify {
        /// A replay JSON file (as served by `GET /api/v1/matches/{id}/replay`), or a match id
        /// looked up in the server's database.
        target: String,
        /// Where the database is (for a match id).
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

/// `rally admin …`
#[derive(Subcommand, Debug)]
pub enum AdminAction {
    /// Give a registered player the organiser role.
    GrantOrganiser {
        /// Player name (case-insensitive).
        name: String,
        /// Where the database is.
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Take the organiser role away; that player's live tokens stop working.
    RevokeOrganiser {
        /// Player name (case-insensitive).
        name: String,
        /// Where the database is.
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

/// `rally token …`
#[derive(Subcommand, Debug)]
pub enum TokenAction {
    /// Attenuate a token offline by appending a block of Datalog checks (no key needed).
    Attenuate {
        /// The token to attenuate (base64). Use `-` to read it from standard input.
        #[arg(long)]
        token: String,
        /// Datalog checks to append, e.g. `check if operation("spectate")`.
        #[arg(long = "check", required = true)]
        checks: Vec<String>,
    },
    /// Print the Datalog content of a token (no verification).
    Inspect {
        /// The token (base64). Use `-` to read it from standard input.
        #[arg(long)]
        token: String,
    },
}

/// The server's settings (`rally serve`). Durations accept humantime syntax (`30s`, `24h`,
/// `500ms`).
#[derive(Args, Debug, Clone)]
pub struct Settings {
    /// The listener.
    #[command(flatten)]
    pub listen: ListenSettings,
    /// Where the data is.
    #[command(flatten)]
    pub store: StoreSettings,
    /// Logging.
    #[command(flatten)]
    pub logging: LogSettings,
    /// Redis URL; unset means the in-process registry (single instance).
    #[arg(long, env = "RALLY_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Separate listener for `/metrics`; unset serves `/metrics` on the main listener.
    #[arg(long, env = "RALLY_METRICS_BIND")]
    pub metrics_bind: Option<String>,
    /// File holding the biscuit root private key (hex). Generated when absent (single instance
    /// only). [default: root.key next to the SQLite database; in RALLY_DATA_DIR with Postgres]
    #[arg(long, env = "RALLY_ROOT_KEY_FILE")]
    pub root_key_file: Option<PathBuf>,
    /// Journal of results and other writes not yet in the database (single instance; with
    /// Redis the journal is in Redis). [default: outbox.jsonl next to the SQLite database; in
    /// RALLY_DATA_DIR with Postgres]
    #[arg(long, env = "RALLY_OUTBOX_FILE")]
    pub outbox_file: Option<PathBuf>,
    /// Lifetime of issued tokens.
    #[arg(long, env = "RALLY_TOKEN_TTL", default_value = "24h")]
    pub token_ttl: String,
    /// Comma-separated proxy addresses or CIDRs whose `X-Forwarded-For` is believed.
    #[arg(long, env = "RALLY_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// Login/register/guest attempts allowed per client address per minute.
    #[arg(long, env = "RALLY_AUTH_RATE_PER_MINUTE", default_value = "20")]
    pub auth_rate_per_minute: String,
    /// Private rooms a player may create per minute (429 past it); with
    /// RALLY_ROOM_IDLE_TIMEOUT this bounds the empty private rooms one player can hold open.
    #[arg(long, env = "RALLY_PRIVATE_ROOMS_PER_MINUTE", default_value = "10")]
    pub private_rooms_per_minute: String,
    /// Largest accepted HTTP JSON body, in bytes.
    #[arg(long, env = "RALLY_MAX_BODY_BYTES", default_value = "16384")]
    pub max_body_bytes: String,
    /// How long the first request head of a connection may take to arrive (408 after).
    #[arg(long, env = "RALLY_HTTP_HEAD_TIMEOUT", default_value = "5s")]
    pub http_head_timeout: String,
    /// How long a request body may take to arrive once a handler reads it (408 after).
    #[arg(long, env = "RALLY_HTTP_BODY_TIMEOUT", default_value = "10s")]
    pub http_body_timeout: String,
    /// Database connection pool size.
    #[arg(long, env = "RALLY_DB_POOL_SIZE", default_value = "8")]
    pub db_pool_size: String,
    /// How long to wait for in-flight requests on shutdown.
    #[arg(long, env = "RALLY_SHUTDOWN_TIMEOUT", default_value = "10s")]
    pub shutdown_timeout: String,
    /// Simulation rate of rooms, ticks per second.
    #[arg(long, env = "RALLY_TICK_HZ", default_value = "60")]
    pub tick_hz: String,
    /// Send a snapshot every N ticks (1 = every tick).
    #[arg(long, env = "RALLY_SNAPSHOT_EVERY", default_value = "1")]
    pub snapshot_every: String,
    /// Points to win a quick-match Pong game (private rooms and tournaments may set their own).
    #[arg(long, env = "RALLY_POINTS_TO_WIN", default_value = "5")]
    pub points_to_win: String,
    /// Countdown before play starts and after a pause.
    #[arg(long, env = "RALLY_COUNTDOWN", default_value = "3s")]
    pub countdown: String,
    /// How long a disconnected player keeps the seat before forfeiting.
    #[arg(long, env = "RALLY_RECONNECT_GRACE", default_value = "30s")]
    pub reconnect_grace: String,
    /// How long matched players have to join their room before the no-show rule applies.
    #[arg(long, env = "RALLY_JOIN_WINDOW", default_value = "15s")]
    pub join_window: String,
    /// Longest a match may run; then the leader on points wins (a draw when level).
    #[arg(long, env = "RALLY_MAX_MATCH_DURATION", default_value = "15m")]
    pub max_match_duration: String,
    /// How long a finished room stays reachable (results, late spectators) before it stops.
    #[arg(long, env = "RALLY_ROOM_LINGER", default_value = "10s")]
    pub room_linger: String,
    /// A private room nobody sits in closes after this long.
    #[arg(long, env = "RALLY_ROOM_IDLE_TIMEOUT", default_value = "10m")]
    pub room_idle_timeout: String,
    /// Time a new WebSocket has to send its `auth` message.
    #[arg(long, env = "RALLY_WS_AUTH_TIMEOUT", default_value = "5s")]
    pub ws_auth_timeout: String,
    /// Interval between server pings on each WebSocket.
    #[arg(long, env = "RALLY_WS_HEARTBEAT_INTERVAL", default_value = "5s")]
    pub ws_heartbeat_interval: String,
    /// A WebSocket silent for this long (no pong, no message) is dropped.
    #[arg(long, env = "RALLY_WS_HEARTBEAT_TIMEOUT", default_value = "15s")]
    pub ws_heartbeat_timeout: String,
    /// Outbound frames queued per session before it counts as a slow client and is dropped.
    #[arg(long, env = "RALLY_SESSION_QUEUE", default_value = "256")]
    pub session_queue: String,
    /// Bytes of outbound frames waiting for a client's socket before it counts as a slow
    /// reader and is dropped (close 4011).
    #[arg(long, env = "RALLY_WS_MAX_QUEUED_BYTES", default_value = "65536")]
    pub ws_max_queued_bytes: String,
    /// A client whose socket takes nothing, or who answers no ping, for this long while it
    /// is heard from is dropped as a slow reader (close 4011).
    #[arg(long, env = "RALLY_WS_SEND_TIMEOUT", default_value = "10s")]
    pub ws_send_timeout: String,
    /// WebSocket connections allowed to wait for authentication at once, in total (beyond:
    /// HTTP 503 before the upgrade).
    #[arg(long, env = "RALLY_WS_MAX_PENDING", default_value = "1024")]
    pub ws_max_pending: String,
    /// WebSocket connections allowed to wait for authentication at once per client address
    /// (beyond: HTTP 429 before the upgrade).
    #[arg(long, env = "RALLY_WS_MAX_PENDING_PER_IP", default_value = "32")]
    pub ws_max_pending_per_ip: String,
    /// Messages queued per room (inputs beyond it are dropped and counted).
    #[arg(long, env = "RALLY_ROOM_QUEUE", default_value = "256")]
    pub room_queue: String,
    /// Arbiter threads that run rooms; 0 = half the CPU cores (at least one).
    #[arg(long, env = "RALLY_ARBITERS", default_value = "0")]
    pub arbiters: String,
    /// HTTP worker threads (they also run the WebSocket sessions); 0 = the cores the room
    /// arbiters leave (at least one).
    #[arg(long, env = "RALLY_HTTP_WORKERS", default_value = "0")]
    pub http_workers: String,
    /// SO_SNDBUF for client connections, bytes; 0 keeps the kernel's autotuning. A small value
    /// bounds per-connection kernel memory and makes slow clients show up sooner.
    #[arg(long, env = "RALLY_SOCKET_SEND_BUFFER", default_value = "0")]
    pub socket_send_buffer: String,
    /// How often the matchmaker tries to pair queued players.
    #[arg(long, env = "RALLY_MATCHMAKING_INTERVAL", default_value = "250ms")]
    pub matchmaking_interval: String,
    /// Prefix of every Redis key and channel (several deployments, or tests, can share one
    /// Redis).
    #[arg(long, env = "RALLY_REDIS_PREFIX", default_value = "rally")]
    pub redis_prefix: String,
    /// Lease time-to-live of rooms, tournaments and the matchmaker leader (multi-instance):
    /// an owner that stops renewing loses its resources to a survivor after this long.
    #[arg(long, env = "RALLY_LEASE_TTL", default_value = "10s")]
    pub lease_ttl: String,
    /// Address other components may use to reach this instance (published with its
    /// heartbeat); defaults to the bound listener address.
    #[arg(long, env = "RALLY_INSTANCE_ADDR")]
    pub instance_addr: Option<String>,
    /// How often a room writes its checkpoint to Redis (multi-instance failover).
    #[arg(long, env = "RALLY_CHECKPOINT_INTERVAL", default_value = "1s")]
    pub checkpoint_interval: String,
    /// On SIGTERM with Redis, how long rooms get to hand over to other instances.
    #[arg(long, env = "RALLY_DRAIN_TIMEOUT", default_value = "5s")]
    pub drain_timeout: String,
}

/// The main listener (`rally serve`, and `rally healthcheck` which probes it).
#[derive(Args, Debug, Clone)]
pub struct ListenSettings {
    /// Address the HTTP/WebSocket listener binds.
    #[arg(long, env = "RALLY_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
}

/// Where the server keeps its data. `rally serve`, `migrate`, `admin` and `replay verify`
/// take the same settings, so they find the same database.
#[derive(Args, Debug, Clone)]
pub struct StoreSettings {
    /// Data directory: the default SQLite database (`rally.db`) and a generated root key
    /// (`root.key`) live here. A relative path is taken from the working directory.
    #[arg(long, env = "RALLY_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://PATH` (embedded) or `postgres://…`.
    /// [default: sqlite://<RALLY_DATA_DIR>/rally.db]
    #[arg(long, env = "RALLY_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// Log filter and format.
#[derive(Args, Debug, Clone)]
pub struct LogSettings {
    /// tracing filter, e.g. `info,rally=debug` (`rally::http=debug` adds a line per
    /// successful request).
    #[arg(long, env = "RALLY_LOG", default_value = "info")]
    pub log: String,
    /// Log format: `text` (coloured only on a terminal; `NO_COLOR` turns colour off) or
    /// `json` (one object per line).
    #[arg(long, env = "RALLY_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}
