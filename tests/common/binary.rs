//! The real `rally` binary as a child process (SQLite in a temp dir): for tests that read its
//! memory from /proc or stop it with signals.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Binary {
    pub addr: SocketAddr,
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl Binary {
    /// Start with the test defaults plus `env` (`RALLY_*` settings).
    pub async fn start(env: &[(&str, &str)]) -> Binary {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        let log = std::fs::File::create(dir.path().join("rally.log")).expect("log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rally"));
        cmd.env("RALLY_BIND", addr.to_string())
            .env(
                "RALLY_DATABASE_URL",
                format!("sqlite://{}", dir.path().join("rally.db").display()),
            )
            .env("RALLY_ROOT_KEY_FILE", dir.path().join("root.key"))
            .env("RALLY_AUTH_RATE_PER_MINUTE", "10000")
            .env("RALLY_PRIVATE_ROOMS_PER_MINUTE", "10000")
            .env(
                "RALLY_LOG",
                std::env::var("RALLY_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn rally");
        let b = Binary {
            addr,
            child,
            dir,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = b.http.get(b.url("/healthz")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(std::time::Instant::now() < deadline, "rally did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        b
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory, KiB (VmRSS of /proc/PID/status).
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmRSS")
    }

    /// Send a signal (`STOP`, `CONT`, …).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig}");
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let v = resp.json().await.unwrap_or(Value::Null);
        (status, v)
    }

    pub async fn guest(&self) -> String {
        let (s, b) = self
            .post("/api/v1/auth/guest", None, serde_json::json!({}))
            .await;
        assert_eq!(s, 201, "{b}");
        b["token"].as_str().expect("token").to_string()
    }

    /// The log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rally.log")).unwrap_or_default()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- rally log tail ---\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}
