//! Validated runtime configuration, built from [`crate::cli::Settings`].
//!
//! Validation happens once at start with a clear message; the rest of the program works with
//! typed values.

use crate::cli::{LogSettings, Settings, StoreSettings};
use anyhow::{anyhow, bail, Context};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Which storage backend a database URL selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// Embedded SQLite file (the default); the path is relative to the working directory.
    Sqlite(PathBuf),
    /// A Postgres URL, passed to libpq as given.
    Postgres(String),
}

impl DatabaseUrl {
    /// Parse by scheme: `sqlite://path`, `sqlite:path`, `postgres://…`, `postgresql://…`.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if rest.is_empty() {
                bail!(
                    "RALLY_DATABASE_URL: sqlite URL has no path (expected sqlite://data/rally.db)"
                );
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(rest)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        bail!("RALLY_DATABASE_URL: unsupported scheme in {url:?} (expected sqlite://… or postgres://…)")
    }

    /// Where the server's own files (a generated root key, the outbox journal) go by default:
    /// next to the SQLite database, or in the data directory with Postgres.
    pub fn default_dir(&self, data_dir: &Path) -> PathBuf {
        match self {
            DatabaseUrl::Sqlite(p) => p
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".")),
            DatabaseUrl::Postgres(_) => data_dir.to_path_buf(),
        }
    }

    /// Where a generated root key goes by default (see [`DatabaseUrl::default_dir`]).
    pub fn default_root_key(&self, data_dir: &Path) -> PathBuf {
        self.default_dir(data_dir).join("root.key")
    }
}

impl StoreSettings {
    /// The database these settings select: `RALLY_DATABASE_URL`, or the SQLite file
    /// `rally.db` in `RALLY_DATA_DIR`.
    pub fn database(&self) -> anyhow::Result<DatabaseUrl> {
        match self.database_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => DatabaseUrl::parse(url),
            _ => {
                if self.data_dir.as_os_str().is_empty() {
                    bail!("RALLY_DATA_DIR: must not be empty");
                }
                Ok(DatabaseUrl::Sqlite(self.data_dir.join("rally.db")))
            }
        }
    }
}

impl LogSettings {
    /// The validated filter and format.
    pub fn validate(&self) -> anyhow::Result<(String, LogFormat)> {
        let format = match self.log_format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => bail!("RALLY_LOG_FORMAT: expected text or json, got {other:?}"),
        };
        tracing_subscriber::EnvFilter::try_new(&self.log)
            .map_err(|e| anyhow!("RALLY_LOG: invalid filter {:?}: {e}", self.log))?;
        Ok((self.log.clone(), format))
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything the server needs, validated.
#[derive(Clone, Debug)]
pub struct Config {
    /// Main listener address (as given; resolved when binding).
    pub bind: String,
    /// Storage backend.
    pub database: DatabaseUrl,
    /// Redis URL when running several instances.
    pub redis_url: Option<String>,
    /// Separate metrics listener.
    pub metrics_bind: Option<SocketAddr>,
    /// Root key file (resolved: explicit, or `<data dir>/root.key`).
    pub root_key_file: PathBuf,
    /// Whether the root key file was given explicitly.
    pub root_key_explicit: bool,
    /// The durable-write journal of a single instance (explicit, or `<data dir>/outbox.jsonl`);
    /// unused with Redis, where the journal lives in Redis.
    pub outbox_file: PathBuf,
    /// tracing filter.
    pub log: String,
    /// Log format.
    pub log_format: LogFormat,
    /// Token lifetime.
    pub token_ttl: Duration,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Auth attempts per client address per minute.
    pub auth_rate_per_minute: u32,
    /// Private rooms a player may create per minute (and at once).
    pub private_rooms_per_minute: u32,
    /// Largest HTTP JSON body.
    pub max_body_bytes: usize,
    /// How long the first request head of a connection may take (408 `request_timeout` after).
    pub http_head_timeout: Duration,
    /// How long an HTTP request body may take to arrive (408 `request_timeout` after).
    pub http_body_timeout: Duration,
    /// Database pool size.
    pub db_pool_size: u32,
    /// Graceful shutdown wait.
    pub shutdown_timeout: Duration,
    /// SO_SNDBUF for accepted connections (0 = kernel autotuning).
    pub socket_send_buffer: usize,
    /// HTTP worker threads (sessions run on them).
    pub http_workers: usize,
    /// Realtime engine settings.
    pub engine: EngineConfig,
    /// Multi-instance settings (used when `redis_url` is set).
    pub cluster: ClusterConfig,
}

/// Settings of the multi-instance registry (Redis).
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Prefix of every key and channel.
    pub prefix: String,
    /// Lease time-to-live; renewals run every third of it.
    pub lease_ttl: Duration,
    /// Address published with the heartbeat (None: the bound listener's).
    pub instance_addr: Option<String>,
    /// Bounded hand-over time on SIGTERM.
    pub drain_timeout: Duration,
}

impl ClusterConfig {
    /// How often leases are renewed and the directory re-announced: a third of the TTL, so
    /// two renewals may fail in a row before a lease expires.
    pub fn renew_every(&self) -> Duration {
        self.lease_ttl / 3
    }

    /// How long a cross-instance request (join, resign, create) waits for its answer.
    pub fn request_timeout(&self) -> Duration {
        self.lease_ttl
            .clamp(Duration::from_millis(500), Duration::from_secs(5))
    }
}

/// Settings of rooms, sessions and matchmaking. Every timer is configurable so tests run with
/// small ones (1–2 points, ~1 s windows); production defaults are in the README.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Ticks per second.
    pub tick_hz: u32,
    /// Snapshot every N ticks.
    pub snapshot_every: u32,
    /// Quick-match points to win.
    pub points_to_win: u32,
    /// Countdown before play and after a pause.
    pub countdown: Duration,
    /// Seat kept for a disconnected player.
    pub reconnect_grace: Duration,
    /// Time matched players have to join.
    pub join_window: Duration,
    /// Longest match.
    pub max_match_duration: Duration,
    /// Finished rooms stay this long.
    pub room_linger: Duration,
    /// Empty private rooms close after this long.
    pub room_idle_timeout: Duration,
    /// Time to send `auth`.
    pub ws_auth_timeout: Duration,
    /// Ping interval.
    pub ws_heartbeat_interval: Duration,
    /// Silence before a socket is dropped.
    pub ws_heartbeat_timeout: Duration,
    /// Outbound frames per session (mailbox, and frames waiting for the socket).
    pub session_queue: usize,
    /// Bytes of frames waiting for the socket per session before it counts as a slow reader.
    pub ws_max_queued_bytes: usize,
    /// A client that takes nothing from its socket (or answers no ping) for this long is
    /// dropped as a slow reader (close 4011).
    pub ws_send_timeout: Duration,
    /// WebSocket connections waiting to authenticate, in total.
    pub ws_max_pending: usize,
    /// WebSocket connections waiting to authenticate, per client address.
    pub ws_max_pending_per_ip: usize,
    /// Messages per room mailbox.
    pub room_queue: usize,
    /// Room arbiter threads.
    pub arbiters: usize,
    /// Matchmaker pairing interval.
    pub matchmaking_interval: Duration,
    /// Room checkpoint period (multi-instance only).
    pub checkpoint_interval: Duration,
}

/// Room arbiters and HTTP workers for `cores` CPU cores, where 0 means "choose". Together they
/// use one thread per core: rooms hand every snapshot to sessions on the HTTP workers, and
/// with more busy threads than cores that hand-off turns into sleeps and wake-ups (measured at
/// 300 rooms on 2 cores: 2 + 2 threads cost 80 % of a core, 1 + 1 cost 60 %; see
/// docs/benchmarks.md). Half the cores run rooms, the rest HTTP and sessions.
pub fn split_threads(cores: usize, arbiters: usize, http_workers: usize) -> (usize, usize) {
    let cores = cores.max(1);
    let arbiters = match arbiters {
        0 => (cores / 2).max(1),
        n => n,
    };
    let http_workers = match http_workers {
        0 => cores.saturating_sub(arbiters).max(1),
        n => n,
    };
    (arbiters, http_workers)
}

/// A whole number setting. The message names the variable and its flag, wherever the value
/// came from (clap would name only the flag).
fn number<T: FromStr>(name: &str, value: &str) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    value.trim().parse::<T>().map_err(|e| {
        anyhow!(
            "{name} (--{}): invalid number {value:?}: {e}",
            name.trim_start_matches("RALLY_")
                .to_ascii_lowercase()
                .replace('_', "-")
        )
    })
}

fn duration(name: &str, value: &str) -> anyhow::Result<Duration> {
    humantime::parse_duration(value)
        .map_err(|e| anyhow!("{name}: invalid duration {value:?}: {e} (examples: 30s, 24h)"))
}

impl Config {
    /// Validate settings. Errors name the variable and the expected form.
    pub fn from_settings(s: &Settings) -> anyhow::Result<Config> {
        let bind = s.listen.bind.clone();
        bind.to_socket_addrs()
            .map_err(|e| anyhow!("RALLY_BIND: {bind:?} is not host:port ({e})"))?;
        let database = s.store.database()?;
        let redis_url = s.redis_url.clone().filter(|u| !u.trim().is_empty());
        if let Some(url) = &redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                bail!("RALLY_REDIS_URL: expected redis://host:port, got {url:?}");
            }
            if matches!(database, DatabaseUrl::Sqlite(_)) {
                bail!(
                    "RALLY_REDIS_URL is set but RALLY_DATABASE_URL is SQLite: several instances \
                     cannot share a SQLite file; use postgres://…"
                );
            }
            if s.root_key_file.is_none() {
                bail!(
                    "RALLY_REDIS_URL is set but RALLY_ROOT_KEY_FILE is not: every instance must \
                     load the same root key, so rally will not generate one"
                );
            }
        }
        let metrics_bind = match &s.metrics_bind {
            Some(m) if !m.trim().is_empty() => Some(
                m.parse::<SocketAddr>()
                    .with_context(|| format!("RALLY_METRICS_BIND: {m:?} is not ip:port"))?,
            ),
            _ => None,
        };
        let (log, log_format) = s.logging.validate()?;
        let token_ttl = duration("RALLY_TOKEN_TTL", &s.token_ttl)?;
        if token_ttl < Duration::from_secs(60) {
            bail!("RALLY_TOKEN_TTL: must be at least 60s");
        }
        let trusted_proxies = s
            .trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<IpNet>()
                    .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| anyhow!("RALLY_TRUSTED_PROXIES: {p:?} is not an address or CIDR"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let auth_rate_per_minute: u32 =
            number("RALLY_AUTH_RATE_PER_MINUTE", &s.auth_rate_per_minute)?;
        if auth_rate_per_minute == 0 {
            bail!("RALLY_AUTH_RATE_PER_MINUTE: must be at least 1");
        }
        let private_rooms_per_minute: u32 = number(
            "RALLY_PRIVATE_ROOMS_PER_MINUTE",
            &s.private_rooms_per_minute,
        )?;
        if private_rooms_per_minute == 0 {
            bail!("RALLY_PRIVATE_ROOMS_PER_MINUTE: must be at least 1");
        }
        let max_body_bytes: usize = number("RALLY_MAX_BODY_BYTES", &s.max_body_bytes)?;
        if max_body_bytes < 1024 {
            bail!("RALLY_MAX_BODY_BYTES: must be at least 1024");
        }
        let http_head_timeout = duration("RALLY_HTTP_HEAD_TIMEOUT", &s.http_head_timeout)?;
        if http_head_timeout < Duration::from_millis(100) {
            bail!("RALLY_HTTP_HEAD_TIMEOUT: must be at least 100ms");
        }
        let http_body_timeout = duration("RALLY_HTTP_BODY_TIMEOUT", &s.http_body_timeout)?;
        if http_body_timeout < Duration::from_millis(100) {
            bail!("RALLY_HTTP_BODY_TIMEOUT: must be at least 100ms");
        }
        let db_pool_size: u32 = number("RALLY_DB_POOL_SIZE", &s.db_pool_size)?;
        if db_pool_size == 0 {
            bail!("RALLY_DB_POOL_SIZE: must be at least 1");
        }
        let (root_key_file, root_key_explicit) = match &s.root_key_file {
            Some(p) => (p.clone(), true),
            None => (database.default_root_key(&s.store.data_dir), false),
        };
        let outbox_file = s
            .outbox_file
            .clone()
            .unwrap_or_else(|| database.default_dir(&s.store.data_dir).join("outbox.jsonl"));
        let tick_hz: u32 = number("RALLY_TICK_HZ", &s.tick_hz)?;
        if !(10..=240).contains(&tick_hz) {
            bail!("RALLY_TICK_HZ: must be between 10 and 240");
        }
        let snapshot_every: u32 = number("RALLY_SNAPSHOT_EVERY", &s.snapshot_every)?;
        if !(1..=60).contains(&snapshot_every) {
            bail!("RALLY_SNAPSHOT_EVERY: must be between 1 and 60");
        }
        let points_to_win: u32 = number("RALLY_POINTS_TO_WIN", &s.points_to_win)?;
        if !(1..=21).contains(&points_to_win) {
            bail!("RALLY_POINTS_TO_WIN: must be between 1 and 21");
        }
        let session_queue: usize = number("RALLY_SESSION_QUEUE", &s.session_queue)?;
        if session_queue < 8 {
            bail!("RALLY_SESSION_QUEUE: must be at least 8");
        }
        let ws_max_queued_bytes: usize =
            number("RALLY_WS_MAX_QUEUED_BYTES", &s.ws_max_queued_bytes)?;
        if ws_max_queued_bytes < 4096 {
            bail!("RALLY_WS_MAX_QUEUED_BYTES: must be at least 4096");
        }
        let ws_max_pending: usize = number("RALLY_WS_MAX_PENDING", &s.ws_max_pending)?;
        let ws_max_pending_per_ip: usize =
            number("RALLY_WS_MAX_PENDING_PER_IP", &s.ws_max_pending_per_ip)?;
        if ws_max_pending == 0 || ws_max_pending_per_ip == 0 {
            bail!("RALLY_WS_MAX_PENDING and RALLY_WS_MAX_PENDING_PER_IP: must be at least 1");
        }
        let room_queue: usize = number("RALLY_ROOM_QUEUE", &s.room_queue)?;
        if room_queue < 8 {
            bail!("RALLY_ROOM_QUEUE: must be at least 8");
        }
        let socket_send_buffer: usize = number("RALLY_SOCKET_SEND_BUFFER", &s.socket_send_buffer)?;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let (arbiters, http_workers) = split_threads(
            cores,
            number("RALLY_ARBITERS", &s.arbiters)?,
            number("RALLY_HTTP_WORKERS", &s.http_workers)?,
        );
        let engine = EngineConfig {
            tick_hz,
            snapshot_every,
            points_to_win,
            countdown: duration("RALLY_COUNTDOWN", &s.countdown)?,
            reconnect_grace: duration("RALLY_RECONNECT_GRACE", &s.reconnect_grace)?,
            join_window: duration("RALLY_JOIN_WINDOW", &s.join_window)?,
            max_match_duration: duration("RALLY_MAX_MATCH_DURATION", &s.max_match_duration)?,
            room_linger: duration("RALLY_ROOM_LINGER", &s.room_linger)?,
            room_idle_timeout: duration("RALLY_ROOM_IDLE_TIMEOUT", &s.room_idle_timeout)?,
            ws_auth_timeout: duration("RALLY_WS_AUTH_TIMEOUT", &s.ws_auth_timeout)?,
            ws_heartbeat_interval: duration(
                "RALLY_WS_HEARTBEAT_INTERVAL",
                &s.ws_heartbeat_interval,
            )?,
            ws_heartbeat_timeout: duration("RALLY_WS_HEARTBEAT_TIMEOUT", &s.ws_heartbeat_timeout)?,
            session_queue,
            ws_max_queued_bytes,
            ws_send_timeout: duration("RALLY_WS_SEND_TIMEOUT", &s.ws_send_timeout)?,
            ws_max_pending,
            ws_max_pending_per_ip,
            room_queue,
            arbiters,
            matchmaking_interval: duration("RALLY_MATCHMAKING_INTERVAL", &s.matchmaking_interval)?,
            checkpoint_interval: duration("RALLY_CHECKPOINT_INTERVAL", &s.checkpoint_interval)?,
        };
        if engine.checkpoint_interval < Duration::from_millis(50) {
            bail!("RALLY_CHECKPOINT_INTERVAL: must be at least 50ms");
        }
        if engine.ws_send_timeout < Duration::from_millis(100) {
            bail!("RALLY_WS_SEND_TIMEOUT: must be at least 100ms");
        }
        if engine.ws_heartbeat_timeout <= engine.ws_heartbeat_interval {
            bail!("RALLY_WS_HEARTBEAT_TIMEOUT: must be longer than RALLY_WS_HEARTBEAT_INTERVAL");
        }
        let lease_ttl = duration("RALLY_LEASE_TTL", &s.lease_ttl)?;
        if lease_ttl < Duration::from_millis(300) {
            bail!("RALLY_LEASE_TTL: must be at least 300ms");
        }
        let prefix = s.redis_prefix.trim().to_string();
        if prefix.is_empty() || prefix.contains(char::is_whitespace) {
            bail!("RALLY_REDIS_PREFIX: must be a non-empty word without spaces");
        }
        let cluster = ClusterConfig {
            prefix,
            lease_ttl,
            instance_addr: s.instance_addr.clone().filter(|a| !a.trim().is_empty()),
            drain_timeout: duration("RALLY_DRAIN_TIMEOUT", &s.drain_timeout)?,
        };
        Ok(Config {
            cluster,
            socket_send_buffer,
            http_workers,
            engine,
            bind,
            database,
            redis_url,
            metrics_bind,
            root_key_file,
            root_key_explicit,
            outbox_file,
            log,
            log_format,
            token_ttl,
            trusted_proxies,
            auth_rate_per_minute,
            private_rooms_per_minute,
            max_body_bytes,
            http_head_timeout,
            http_body_timeout,
            db_pool_size,
            shutdown_timeout: duration("RALLY_SHUTDOWN_TIMEOUT", &s.shutdown_timeout)?,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn threads_default_to_one_per_core_split_between_rooms_and_http() {
        assert_eq!(super::split_threads(1, 0, 0), (1, 1));
        assert_eq!(super::split_threads(2, 0, 0), (1, 1));
        assert_eq!(super::split_threads(8, 0, 0), (4, 4));
        assert_eq!(super::split_threads(3, 0, 0), (1, 2));
        assert_eq!(super::split_threads(8, 2, 0), (2, 6));
        assert_eq!(super::split_threads(8, 0, 3), (4, 3));
        assert_eq!(super::split_threads(0, 0, 0), (1, 1));
    }

    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn settings(args: &[&str]) -> Settings {
        let mut all = vec!["rally"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all)
            .map(|c| c.settings)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn defaults_are_valid_and_embedded() {
        let c = Config::from_settings(&settings(&[])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.database,
            DatabaseUrl::Sqlite(PathBuf::from("data/rally.db"))
        );
        assert_eq!(c.root_key_file, PathBuf::from("data/root.key"));
        assert_eq!(c.token_ttl, Duration::from_secs(24 * 3600));
        assert_eq!(c.cluster.prefix, "rally");
        assert_eq!(c.cluster.lease_ttl, Duration::from_secs(10));
        assert_eq!(c.cluster.renew_every(), Duration::from_secs(10) / 3);
        assert_eq!(c.cluster.request_timeout(), Duration::from_secs(5));
        assert_eq!(c.engine.checkpoint_interval, Duration::from_secs(1));
    }

    #[test]
    fn the_data_dir_holds_the_default_database_and_key() {
        let c = Config::from_settings(&settings(&["--data-dir", "/srv/rally"]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.database,
            DatabaseUrl::Sqlite(PathBuf::from("/srv/rally/rally.db"))
        );
        assert_eq!(c.root_key_file, PathBuf::from("/srv/rally/root.key"));
        // An explicit SQLite URL keeps its key next to it; Postgres keeps it in the data dir.
        let c = Config::from_settings(&settings(&[
            "--data-dir",
            "/srv/rally",
            "--database-url",
            "sqlite://elsewhere/x.db",
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.root_key_file, PathBuf::from("elsewhere/root.key"));
        let c = Config::from_settings(&settings(&[
            "--data-dir",
            "/srv/rally",
            "--database-url",
            "postgres://db/rally",
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.root_key_file, PathBuf::from("/srv/rally/root.key"));
    }

    #[test]
    fn settings_follow_their_subcommand() {
        use crate::cli::{AdminAction, Command};
        let cmd = |args: &[&str]| {
            let mut all = vec!["rally"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).map(Cli::into_command)
        };
        match cmd(&["serve", "--bind", "127.0.0.1:9000", "--points-to-win", "3"]) {
            Ok(Command::Serve(s)) => {
                assert_eq!(s.listen.bind, "127.0.0.1:9000");
                assert_eq!(s.points_to_win, "3");
            }
            other => panic!("{other:?}"),
        }
        match cmd(&["--bind", "127.0.0.1:9001"]) {
            Ok(Command::Serve(s)) => assert_eq!(s.listen.bind, "127.0.0.1:9001"),
            other => panic!("{other:?}"),
        }
        match cmd(&["migrate", "--data-dir", "/d", "--create"]) {
            Ok(Command::Migrate(m)) => {
                assert!(m.create);
                assert_eq!(
                    m.store.database().unwrap_or_else(|e| panic!("{e}")),
                    DatabaseUrl::Sqlite(PathBuf::from("/d/rally.db"))
                );
            }
            other => panic!("{other:?}"),
        }
        match cmd(&[
            "admin",
            "grant-organiser",
            "bob",
            "--database-url",
            "sqlite://x.db",
        ]) {
            Ok(Command::Admin {
                action: AdminAction::GrantOrganiser { name, db },
            }) => {
                assert_eq!(name, "bob");
                assert_eq!(db.store.database_url.as_deref(), Some("sqlite://x.db"));
            }
            other => panic!("{other:?}"),
        }
        // A subcommand takes only the settings it uses; server settings are not migrate's.
        assert!(cmd(&["migrate", "--tick-hz", "30"]).is_err());
        assert!(cmd(&["--bind", "127.0.0.1:9000", "serve"]).is_err());
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (args, needle) in [
            (
                vec!["--points-to-win", "abc"],
                "RALLY_POINTS_TO_WIN (--points-to-win)",
            ),
            (vec!["--tick-hz=-1"], "RALLY_TICK_HZ"),
            (vec!["--db-pool-size", "many"], "RALLY_DB_POOL_SIZE"),
            (vec!["--http-workers", "2.5"], "RALLY_HTTP_WORKERS"),
            (vec!["--database-url", "mysql://x"], "RALLY_DATABASE_URL"),
            (vec!["--token-ttl", "forever"], "RALLY_TOKEN_TTL"),
            (vec!["--log-format", "xml"], "RALLY_LOG_FORMAT"),
            (vec!["--bind", "nope"], "RALLY_BIND"),
            (
                vec!["--trusted-proxies", "1.2.3.4,zzz"],
                "RALLY_TRUSTED_PROXIES",
            ),
            (vec!["--redis-url", "redis://127.0.0.1:6379"], "SQLite"),
            (vec!["--lease-ttl", "100ms"], "RALLY_LEASE_TTL"),
            (vec!["--lease-ttl", "soon"], "RALLY_LEASE_TTL"),
            (vec!["--redis-prefix", "a b"], "RALLY_REDIS_PREFIX"),
            (
                vec!["--checkpoint-interval", "1ms"],
                "RALLY_CHECKPOINT_INTERVAL",
            ),
            (vec!["--drain-timeout", "x"], "RALLY_DRAIN_TIMEOUT"),
            (
                vec![
                    "--redis-url",
                    "redis://127.0.0.1:6379",
                    "--database-url",
                    "postgres://localhost/x",
                ],
                "RALLY_ROOT_KEY_FILE",
            ),
        ] {
            let err = Config::from_settings(&settings(&args))
                .err()
                .map(|e| e.to_string());
            let err = err.unwrap_or_default();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }
}
