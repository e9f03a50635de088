//! The `rally` command line. Every setting can be given as a flag or as a `RALLY_*`
//! environment variable (the README's configuration table lists them all).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// rally: a realtime authoritative game server.
#[derive(Parser, Debug)]
#[command(name = "rally", version, about, args_override_self = true)]
pub struct Cli {
    /// Settings shared by every subcommand.
    #[command(flatten)]
    pub settings: Settings,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Account administration.
    Admin {
        /// What to do.
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Exit 0 when the local server answers `/readyz` (for container health checks).
    Healthcheck {
        /// Base URL to probe; defaults to the configured bind address.
        #[arg(long)]
        url: Option<String>,
    },
    /// Token utilities.
    Token {
        /// What to do.
        #[command(subcommand)]
        action: TokenAction,
    },
}

/// `rally admin …`
#[derive(Subcommand, Debug)]
pub enum AdminAction {
    /// Give a registered player the organiser role.
    GrantOrganiser {
        /// Player name (case-insensitive).
        name: String,
    },
    /// Take the organiser role away; that player's live tokens stop working.
    RevokeOrganiser {
        /// Player name (case-insensitive).
        name: String,
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

/// Runtime settings. Durations accept humantime syntax (`30s`, `24h`, `500ms`).
#[derive(Args, Debug, Clone)]
pub struct Settings {
    /// Address the HTTP/WebSocket listener binds.
    #[arg(long, env = "RALLY_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Database URL: `sqlite://path` (embedded default) or `postgres://…`.
    #[arg(
        long,
        env = "RALLY_DATABASE_URL",
        default_value = "sqlite://data/rally.db"
    )]
    pub database_url: String,
    /// Redis URL; unset means the in-process registry (single instance).
    #[arg(long, env = "RALLY_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Separate listener for `/metrics`; unset serves `/metrics` on the main listener.
    #[arg(long, env = "RALLY_METRICS_BIND")]
    pub metrics_bind: Option<String>,
    /// File holding the biscuit root private key (hex). Generated next to the SQLite database
    /// when absent (single instance only).
    #[arg(long, env = "RALLY_ROOT_KEY_FILE")]
    pub root_key_file: Option<PathBuf>,
    /// tracing filter, e.g. `info,rally=debug`.
    #[arg(long, env = "RALLY_LOG", default_value = "info")]
    pub log: String,
    /// Log format: `text` or `json`.
    #[arg(long, env = "RALLY_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Lifetime of issued tokens.
    #[arg(long, env = "RALLY_TOKEN_TTL", default_value = "24h")]
    pub token_ttl: String,
    /// Comma-separated proxy addresses or CIDRs whose `X-Forwarded-For` is believed.
    #[arg(long, env = "RALLY_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// Login/register/guest attempts allowed per client address per minute.
    #[arg(long, env = "RALLY_AUTH_RATE_PER_MINUTE", default_value_t = 20)]
    pub auth_rate_per_minute: u32,
    /// Largest accepted HTTP JSON body, in bytes.
    #[arg(long, env = "RALLY_MAX_BODY_BYTES", default_value_t = 16 * 1024)]
    pub max_body_bytes: usize,
    /// Database connection pool size.
    #[arg(long, env = "RALLY_DB_POOL_SIZE", default_value_t = 8)]
    pub db_pool_size: u32,
    /// How long to wait for in-flight requests on shutdown.
    #[arg(long, env = "RALLY_SHUTDOWN_TIMEOUT", default_value = "10s")]
    pub shutdown_timeout: String,
}
