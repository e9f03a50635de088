//! Test harness: start the real server on 127.0.0.1:0 through `rally::app::run`, on a fresh
//! SQLite file or a fresh Postgres database, and talk to it over real sockets.
//!
//! Postgres and Redis come from `RALLY_TEST_POSTGRES_URL` / `RALLY_TEST_REDIS_URL`. When unset,
//! tests that need them are skipped with a notice — except under CI (`CI` set), where a missing
//! service is a failure, never a skip. `.ci/run` sets both.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use rally::cli::Cli;
use rally::config::Config;
use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// Which database a test server uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The admin URL of the test Postgres, or None (skip) outside CI.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("RALLY_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but RALLY_TEST_POSTGRES_URL is not: Postgres tests must run in CI")
        }
        _ => {
            eprintln!("skipping Postgres test: set RALLY_TEST_POSTGRES_URL to run it");
            None
        }
    }
}

/// A fresh, uniquely named Postgres database; dropped by [`PgDatabase::drop`].
pub struct PgDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub fn create(admin_url: &str) -> PgDatabase {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let name = format!(
            "rally_test_{}",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let mut admin = diesel::PgConnection::establish(admin_url)
            .unwrap_or_else(|e| panic!("cannot connect to {admin_url}: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        let mut url = url::Url::parse(admin_url).expect("postgres url");
        url.set_path(&name);
        PgDatabase {
            admin_url: admin_url.to_string(),
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        if let Ok(mut admin) = diesel::PgConnection::establish(&self.admin_url) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub database_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    _pg: Option<PgDatabase>,
}

/// Build a `Config` from CLI-style arguments (the same parser `rally` uses).
pub fn config_from(args: &[String]) -> Config {
    let mut all = vec!["rally".to_string()];
    all.extend_from_slice(args);
    let cli = Cli::try_parse_from(all).expect("test settings parse");
    Config::from_settings(&cli.settings).expect("test settings valid")
}

impl TestServer {
    /// Start on `backend` with default test settings plus `extra` flags. Returns None when the
    /// backend is unavailable outside CI.
    pub async fn start(backend: Backend, extra: &[&str]) -> Option<TestServer> {
        let dir = tempfile::tempdir().expect("tempdir");
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgDatabase::create(&postgres_admin_url()?)),
        };
        let database_url = match &pg {
            Some(p) => p.url.clone(),
            None => format!("sqlite://{}", dir.path().join("rally.db").display()),
        };
        let mut args: Vec<String> = vec![
            "--database-url".into(),
            database_url.clone(),
            "--root-key-file".into(),
            dir.path().join("root.key").display().to_string(),
            // Every server its own journal (the default, `data/outbox.jsonl` for Postgres,
            // would be shared by the tests of this process, and is locked by the first).
            "--outbox-file".into(),
            dir.path().join("outbox.jsonl").display().to_string(),
            "--auth-rate-per-minute".into(),
            "10000".into(),
            "--private-rooms-per-minute".into(),
            "10000".into(),
            "--log".into(),
            std::env::var("RALLY_TEST_LOG").unwrap_or_else(|_| "error".into()),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        // The key file must exist when given explicitly with a registry; for SQLite it is
        // generated on first start.
        Some(Self::start_with(config_from(&args), dir, database_url, pg).await)
    }

    pub async fn start_with(
        config: Config,
        dir: tempfile::TempDir,
        database_url: String,
        pg: Option<PgDatabase>,
    ) -> TestServer {
        rally::telemetry::init(&config.log, config.log_format);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(rally::app::run(listener, config, async move {
                let _ = rx.await;
            }))
        });
        let base = format!("http://{addr}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        let server = TestServer {
            addr,
            base,
            http,
            dir,
            database_url,
            shutdown: Some(tx),
            thread: Some(thread),
            _pg: pg,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.http.get(format!("{}/healthz", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Some(t) = &self.thread {
                if t.is_finished() {
                    panic!("server thread exited during start-up");
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The `/metrics` exposition text.
    pub async fn metrics_text(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// Sum of the samples of `name` whose labels contain every `name="value"` pair given
    /// (0 when there is none). Metrics are process-wide: tests compare, never expect exact
    /// values other tests could also move.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = self.metrics_text().await;
        text.lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .filter(|l| {
                labels
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
            })
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .sum()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POST JSON, return (status, body).
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::read(req.send().await.expect("request")).await
    }

    /// GET, return (status, body).
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::read(req.send().await.expect("request")).await
    }

    pub async fn read(resp: reqwest::Response) -> (u16, Value) {
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    /// Register `name` and return its token.
    /// The replay of a match once its result is recorded (it is written after `match_end` is
    /// sent): waits until the match reads `finished`, failing the test after `within`.
    pub async fn finished_replay(&self, match_id: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (_, m) = self.get(&format!("/api/v1/matches/{match_id}"), None).await;
            if m["status"] == "finished" {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "not recorded: {m}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (st, replay) = self
            .get(&format!("/api/v1/matches/{match_id}/replay"), None)
            .await;
        assert_eq!(st, 200, "{replay}");
        replay
    }

    pub async fn register(&self, name: &str) -> String {
        let (s, b) = self
            .post(
                "/api/v1/auth/register",
                None,
                serde_json::json!({"name": name, "password": "correct-horse"}),
            )
            .await;
        assert_eq!(s, 201, "register {name}: {b}");
        b["token"].as_str().expect("token").to_string()
    }

    /// Create a guest and return its token.
    pub async fn guest(&self) -> String {
        let (s, b) = self
            .post("/api/v1/auth/guest", None, serde_json::json!({}))
            .await;
        assert_eq!(s, 201, "guest: {b}");
        b["token"].as_str().expect("token").to_string()
    }

    /// Run a rally subcommand against this server's database.
    pub fn rally_cli(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_rally"))
            .args(args)
            .env("RALLY_DATABASE_URL", &self.database_url)
            .env("RALLY_ROOT_KEY_FILE", self.dir.path().join("root.key"))
            .env("RALLY_LOG", "warn")
            .output()
            .expect("run rally")
    }

    /// Stop gracefully and wait for the server thread.
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

/// Assert the JSON error shape and code.
pub fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "body: {body}");
    assert_eq!(body["error"]["code"], want_code, "body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "body: {body}"
    );
}

/// Define a test that runs on SQLite and on Postgres.
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(s) = TestServer::start(Backend::Sqlite, &[]).await {
                    super::$name(s).await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(s) = TestServer::start(Backend::Postgres, &[]).await {
                    super::$name(s).await;
                }
            }
        }
    };
}

pub mod binary;
pub mod bot;
pub mod durable;
pub mod process;
pub mod raw;
pub mod tournament;
pub mod ws;
impl TestServer {
    /// Register `name`; return its token and player id.
    pub async fn register_with_id(&self, name: &str) -> (String, String) {
        let (s, b) = self
            .post(
                "/api/v1/auth/register",
                None,
                serde_json::json!({"name": name, "password": "correct-horse"}),
            )
            .await;
        assert_eq!(s, 201, "register {name}: {b}");
        (
            b["token"].as_str().expect("token").to_string(),
            b["player"]["id"].as_str().expect("id").to_string(),
        )
    }

    /// Create a guest; return its token and player id.
    pub async fn guest_with_id(&self) -> (String, String) {
        let (s, b) = self
            .post("/api/v1/auth/guest", None, serde_json::json!({}))
            .await;
        assert_eq!(s, 201, "guest: {b}");
        (
            b["token"].as_str().expect("token").to_string(),
            b["player"]["id"].as_str().expect("id").to_string(),
        )
    }

    /// A second handle on this server's database, to drive `rally::db` directly (as a room
    /// would) and to inspect rows.
    pub fn db(&self) -> rally::db::Db {
        let url = rally::config::DatabaseUrl::parse(&self.database_url).expect("database url");
        rally::db::Db::open(&url, 2).expect("open test database")
    }
}
pub mod cluster;
pub mod invariants;
pub mod play;
