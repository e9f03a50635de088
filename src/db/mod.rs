//! Storage: sync diesel over Postgres or SQLite behind one [`AnyConnection`], pooled with r2d2
//! and always used from the blocking pool ([`Db::run`]), never on an arbiter thread.
//!
//! The backend is chosen from the URL scheme by [`ConnectionManager`] itself (diesel's derived
//! `establish` tries every backend and hides the real error). Migrations are embedded per
//! backend and applied at start and by `rally migrate`.

pub mod matches;
pub mod players;
pub mod schema;
pub mod tournaments;

use crate::config::DatabaseUrl;
use crate::error::AppError;
use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Postgres migrations, embedded at compile time.
pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// SQLite migrations, embedded at compile time.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// How long a SQLite writer waits for a lock before failing (`busy_timeout`). Writes are short;
/// 5 s rides out a checkpoint or a burst of result writes without surfacing errors.
pub const SQLITE_BUSY_TIMEOUT_MS: u64 = 5_000;

/// Page cache of each pooled SQLite connection, KiB (`PRAGMA cache_size = -N`). SQLite's
/// default is 2,000 KiB per connection, filled as the database grows and kept for the
/// connection's life: with `RALLY_DB_POOL_SIZE` connections that is up to 16 MiB of resident
/// memory that grew with every round of stored matches and never came back
/// (docs/benchmarks.md, "Memory"). The file's pages stay in the kernel's page cache either
/// way (not the process's RSS), so a small cache costs a copy from it, not a disk read; the
/// statements rally runs touch a few pages each (indexed lookups, appends).
pub const SQLITE_CACHE_KIB: u64 = 256;

/// How long a readiness probe waits for a database connection: a database that cannot hand
/// one out within this is reported down (the pool's own checkout timeout, 5 s, is longer than
/// an orchestrator's probe timeout).
pub const PING_TIMEOUT: Duration = Duration::from_millis(1500);

/// One connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    /// PostgreSQL (production).
    Postgresql(PgConnection),
    /// SQLite (embedded default).
    Sqlite(SqliteConnection),
}

/// r2d2 manager that picks the backend from the URL scheme so users see libpq's or SQLite's
/// own error message, and applies the SQLite pragmas on every new connection.
#[derive(Clone, Debug)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Establishing failed (message from libpq or SQLite).
    #[error("{0}")]
    Connection(#[from] diesel::ConnectionError),
    /// A query (pragma or health check) failed.
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
}

impl ConnectionManager {
    /// A manager for `url`.
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url }
    }

    /// Open one connection, outside any pool.
    pub fn connect_once(&self) -> Result<AnyConnection, ConnectError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                Ok(AnyConnection::Postgresql(PgConnection::establish(url)?))
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                // busy_timeout first: switching to WAL takes a lock another connection may hold.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA cache_size = -{SQLITE_CACHE_KIB};"
                ))?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = AnyConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<AnyConnection, ConnectError> {
        self.connect_once()
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), ConnectError> {
        conn.batch_execute("SELECT 1").map_err(ConnectError::from)
    }

    fn has_broken(&self, _conn: &mut AnyConnection) -> bool {
        false
    }
}

/// How often a failing connection attempt is logged at most: while the database is down the
/// pool tries to connect many times a second, and one line per attempt floods the log.
pub const CONNECT_ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

/// The pool's connection errors, logged at most once per [`CONNECT_ERROR_LOG_EVERY`] (with
/// the number of attempts that failed since the last line).
#[derive(Debug, Default)]
struct ConnectErrorLog {
    state: parking_lot::Mutex<(Option<std::time::Instant>, u64)>,
}

impl r2d2::HandleError<ConnectError> for ConnectErrorLog {
    fn handle_error(&self, error: ConnectError) {
        let mut st = self.state.lock();
        st.1 += 1;
        if st.0.is_none_or(|t| t.elapsed() >= CONNECT_ERROR_LOG_EVERY) {
            tracing::error!(failed_attempts = st.1, error = %error, "cannot connect to the database");
            *st = (Some(std::time::Instant::now()), 0);
        }
    }
}

/// The database handle shared by the whole process.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<ConnectionManager>,
    /// Which backend this is (for the rare backend-specific statement).
    pub backend: Backend,
    /// False since the last connection checkout failed, until one succeeds again: lets paths
    /// that have a fallback ([`Db::answering`]) skip waiting for a database that is down.
    answering: Arc<AtomicBool>,
}

/// Backend in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

impl Db {
    /// Create the data directory when needed, open the pool, and check one connection so a bad
    /// URL fails at start with the driver's own message.
    pub fn open(url: &DatabaseUrl, pool_size: u32) -> anyhow::Result<Db> {
        let backend = match url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).with_context(|| {
                        format!("cannot create data directory {}", dir.display())
                    })?;
                }
                Backend::Sqlite
            }
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        };
        let manager = ConnectionManager::new(url.clone());
        // Fail fast with the real error instead of r2d2's generic timeout.
        manager
            .connect_once()
            .with_context(|| format!("cannot connect to the database ({})", redact(url)))?;
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            .connection_timeout(Duration::from_secs(5))
            .error_handler(Box::new(ConnectErrorLog::default()))
            .build(manager)
            .context("cannot build the database pool")?;
        Ok(Db {
            pool,
            backend,
            answering: Arc::new(AtomicBool::new(true)),
        })
    }

    /// Apply pending migrations for this backend; returns how many ran.
    pub fn migrate(&self) -> anyhow::Result<usize> {
        let mut conn = self
            .pool
            .get()
            .context("cannot get a database connection")?;
        let applied = match &mut *conn {
            AnyConnection::Postgresql(c) => c.run_pending_migrations(PG_MIGRATIONS),
            AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        }
        .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
        Ok(applied.len())
    }

    /// Run `f` with a pooled connection on the blocking pool. Rooms never call this directly;
    /// they hand results to a task that does.
    pub async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, AppError> + Send + 'static,
    {
        self.run_within(None, f).await
    }

    /// [`Db::run`] waiting at most `checkout` for a connection (None: the pool's 5 s).
    pub async fn run_within<T, F>(&self, checkout: Option<Duration>, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, AppError> + Send + 'static,
    {
        let (pool, answering) = (self.pool.clone(), self.answering.clone());
        actix_web::web::block(move || {
            let got = match checkout {
                Some(t) => pool.get_timeout(t),
                None => pool.get(),
            };
            answering.store(got.is_ok(), Ordering::Relaxed);
            let mut conn = got?;
            f(&mut conn).map_err(|e| unavailable_if_broken(&mut conn, e))
        })
        .await?
    }

    /// False when the last attempt to get a connection failed (and none succeeded since): the
    /// database is probably down. A hint for paths with a fallback, never a reason to skip a
    /// write.
    pub fn answering(&self) -> bool {
        self.answering.load(Ordering::Relaxed)
    }

    /// Run `f` synchronously (CLI subcommands, start-up).
    pub fn run_sync<T>(
        &self,
        f: impl FnOnce(&mut AnyConnection) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let mut conn = self.pool.get()?;
        f(&mut conn)
    }

    /// Readiness probe: one round trip, with a connection obtained within [`PING_TIMEOUT`].
    pub async fn ping(&self) -> Result<(), AppError> {
        self.run_within(Some(PING_TIMEOUT), |conn| {
            conn.batch_execute("SELECT 1")
                .map_err(|e| AppError::unavailable("database unavailable").with_cause(e))
        })
        .await
    }
}

/// A query that failed because the connection broke (the server went away, an administrator
/// terminated it, the network dropped) is `unavailable` — the database is down, retry later —
/// not an internal error. Checked only when a query failed with an internal error: one
/// `SELECT 1` on the same connection tells the two apart.
fn unavailable_if_broken(conn: &mut AnyConnection, e: AppError) -> AppError {
    if e.kind != crate::error::ErrorKind::Internal || conn.batch_execute("SELECT 1").is_ok() {
        return e;
    }
    let mut u = AppError::unavailable("database unavailable");
    u.cause = e.cause;
    u
}

/// The URL without its password, for messages.
pub fn redact(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
        DatabaseUrl::Postgres(u) => match url::Url::parse(u) {
            Ok(mut parsed) => {
                if parsed.password().is_some() {
                    let _ = parsed.set_password(Some("***"));
                }
                parsed.to_string()
            }
            Err(_) => "postgres://(unparseable)".to_string(),
        },
    }
}

/// Current time as Unix milliseconds (the storage format for timestamps).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// True when `e` is a unique-constraint violation (name taken, duplicate id).
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
