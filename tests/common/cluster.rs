//! Several real `rally` processes (the built binary) on 127.0.0.x loopback addresses, sharing
//! one fresh Postgres database and one Redis key prefix: the multi-instance test harness.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use super::{postgres_admin_url, PgDatabase};
use deadpool_redis::redis;
use serde_json::Value;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Redis URL for tests, or None (skip) outside CI.
pub fn redis_url() -> Option<String> {
    match std::env::var("RALLY_TEST_REDIS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but RALLY_TEST_REDIS_URL is not: Redis tests must run in CI")
        }
        _ => {
            eprintln!("skipping Redis test: set RALLY_TEST_REDIS_URL to run it");
            None
        }
    }
}

/// One child process.
pub struct Instance {
    pub addr: SocketAddr,
    pub child: Child,
    pub log: std::path::PathBuf,
}

/// A set of instances.
pub struct TestCluster {
    pub pg: PgDatabase,
    pub prefix: String,
    pub redis_url: String,
    pub dir: tempfile::TempDir,
    pub instances: Vec<Option<Instance>>,
    pub addrs: Vec<SocketAddr>,
    pub http: reqwest::Client,
    pub ttl: Duration,
    extra: Vec<String>,
}

fn free_port(ip: &str) -> SocketAddr {
    let l = std::net::TcpListener::bind(format!("{ip}:0")).expect("bind");
    l.local_addr().expect("addr")
}

impl TestCluster {
    /// Start `n` instances on 127.0.0.2.. with lease TTL `ttl` and `extra` flags. None when
    /// Postgres or Redis is not configured (outside CI).
    pub async fn start(
        n: usize,
        redis_url: Option<String>,
        ttl: Duration,
        extra: &[&str],
    ) -> Option<TestCluster> {
        let redis_url = match redis_url {
            Some(u) => u,
            None => self::redis_url()?,
        };
        let pg = PgDatabase::create(&postgres_admin_url()?);
        let dir = tempfile::tempdir().expect("tempdir");
        rally::auth::RootKey::load_or_generate(&dir.path().join("root.key"), true)
            .expect("root key");
        let prefix = format!("rallytest:{}", ulid::Ulid::new().to_string().to_lowercase());
        let addrs = (0..n)
            .map(|i| free_port(&format!("127.0.0.{}", i + 2)))
            .collect();
        let mut c = TestCluster {
            pg,
            prefix,
            redis_url,
            dir,
            instances: Vec::new(),
            addrs,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            ttl,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        // The first instance migrates the fresh database alone.
        for i in 0..n {
            let inst = c.spawn(i);
            c.instances.push(Some(inst));
            c.wait_ready(i).await;
        }
        Some(c)
    }

    fn spawn(&self, i: usize) -> Instance {
        let addr = self.addrs[i];
        let log = self.dir.path().join(format!("instance-{i}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_rally"))
            .args(&self.extra)
            .env("RALLY_BIND", addr.to_string())
            .env("RALLY_DATABASE_URL", &self.pg.url)
            .env("RALLY_REDIS_URL", &self.redis_url)
            .env("RALLY_REDIS_PREFIX", &self.prefix)
            .env("RALLY_ROOT_KEY_FILE", self.dir.path().join("root.key"))
            .env("RALLY_LEASE_TTL", format!("{}ms", self.ttl.as_millis()))
            .env("RALLY_AUTH_RATE_PER_MINUTE", "10000")
            .env("RALLY_PRIVATE_ROOMS_PER_MINUTE", "10000")
            .env(
                "RALLY_LOG",
                std::env::var("RALLY_TEST_LOG").unwrap_or_else(|_| "warn,rally=info".into()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn rally");
        Instance { addr, child, log }
    }

    /// Start instance `i` again (after a kill).
    pub async fn restart(&mut self, i: usize) {
        let inst = self.spawn(i);
        self.instances[i] = Some(inst);
        self.wait_ready(i).await;
    }

    async fn wait_ready(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self
                .http
                .get(format!("http://{}/readyz", self.addrs[i]))
                .send()
                .await
            {
                if r.status().is_success() {
                    return;
                }
            }
            if let Some(inst) = self.instances.get_mut(i).and_then(|x| x.as_mut()) {
                if let Ok(Some(status)) = inst.child.try_wait() {
                    panic!("instance {i} exited ({status}):\n{}", self.log_tail(i));
                }
            }
            assert!(Instant::now() < deadline, "instance {i} not ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines of an instance's log (for failure messages).
    pub fn log_tail(&self, i: usize) -> String {
        let path = self.dir.path().join(format!("instance-{i}.log"));
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub fn addr(&self, i: usize) -> SocketAddr {
        self.addrs[i]
    }

    pub fn pid(&self, i: usize) -> u32 {
        self.instances[i].as_ref().expect("running").child.id()
    }

    fn signal(&self, i: usize, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid(i).to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} instance {i}");
    }

    /// kill -9.
    pub fn kill9(&mut self, i: usize) {
        self.signal(i, "KILL");
        if let Some(mut inst) = self.instances[i].take() {
            let _ = inst.child.wait();
        }
    }

    /// SIGSTOP.
    pub fn stop(&self, i: usize) {
        self.signal(i, "STOP");
    }

    /// SIGCONT.
    pub fn cont(&self, i: usize) {
        self.signal(i, "CONT");
    }

    /// SIGTERM and wait for the exit.
    pub fn terminate(&mut self, i: usize) -> std::process::ExitStatus {
        self.signal(i, "TERM");
        let mut inst = self.instances[i].take().expect("running");
        inst.child.wait().expect("wait")
    }

    pub fn alive(&self) -> Vec<usize> {
        (0..self.instances.len())
            .filter(|i| self.instances[*i].is_some())
            .collect()
    }

    pub async fn get(&self, i: usize, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("http://{}{}", self.addrs[i], path))
            .send()
            .await
            .expect("request");
        super::TestServer::read(r).await
    }

    pub async fn metrics(&self, i: usize) -> String {
        self.http
            .get(format!("http://{}/metrics", self.addrs[i]))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// A guest made through instance `i`: (token, player id).
    pub async fn guest(&self, i: usize) -> (String, String) {
        let r = self
            .http
            .post(format!("http://{}/api/v1/auth/guest", self.addrs[i]))
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("guest");
        let (s, b) = super::TestServer::read(r).await;
        assert_eq!(s, 201, "{b}");
        (
            b["token"].as_str().unwrap().to_string(),
            b["player"]["id"].as_str().unwrap().to_string(),
        )
    }

    /// A synchronous Redis connection to inspect keys.
    pub fn redis(&self) -> redis::Connection {
        redis::Client::open(self.redis_url.as_str())
            .expect("redis url")
            .get_connection()
            .expect("redis connect")
    }

    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    /// A Redis string value, None when missing or Redis is down.
    pub fn redis_get(&self, rest: &str) -> Option<String> {
        let mut c = redis::Client::open(self.redis_url.as_str())
            .ok()?
            .get_connection()
            .ok()?;
        redis::cmd("GET").arg(self.key(rest)).query(&mut c).ok()?
    }

    /// The index of the instance that holds the room's lease.
    pub fn owner_of_room(&self, room: &str) -> Option<usize> {
        let owner = self.redis_get(&format!("lease:room:{room}"))?;
        let info: Value = serde_json::from_str(&self.redis_get(&format!("inst:{owner}"))?).ok()?;
        let addr: SocketAddr = info["addr"].as_str()?.parse().ok()?;
        self.addrs.iter().position(|a| *a == addr)
    }

    /// The index of the instance whose id is `id` (from its heartbeat's address).
    pub fn index_of(&self, id: &str) -> Option<usize> {
        let info: Value = serde_json::from_str(&self.redis_get(&format!("inst:{id}"))?).ok()?;
        let addr: SocketAddr = info["addr"].as_str()?.parse().ok()?;
        self.addrs.iter().position(|a| *a == addr)
    }

    /// Rooms per instance index, from the room leases in Redis.
    pub fn rooms_by_instance(&self) -> Vec<usize> {
        let mut counts = vec![0; self.addrs.len()];
        let mut conn = self.redis();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(self.key("lease:room:*"))
            .query(&mut conn)
            .unwrap_or_default();
        for k in keys {
            let owner: Option<String> = redis::cmd("GET").arg(&k).query(&mut conn).ok().flatten();
            if let Some(i) = owner.and_then(|o| self.index_of(&o)) {
                counts[i] += 1;
            }
        }
        counts
    }

    /// The rooms whose lease instance `i` holds.
    pub fn rooms_of(&self, i: usize) -> Vec<String> {
        let mut conn = self.redis();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(self.key("lease:room:*"))
            .query(&mut conn)
            .unwrap_or_default();
        keys.into_iter()
            .filter_map(|k| {
                let owner: Option<String> =
                    redis::cmd("GET").arg(&k).query(&mut conn).ok().flatten();
                (owner.and_then(|o| self.index_of(&o)) == Some(i))
                    .then(|| k.rsplit(':').next().unwrap_or_default().to_string())
            })
            .collect()
    }

    /// Sum of a counter (all label sets starting with `prefix`) over the live instances.
    pub async fn counter(&self, prefix: &str) -> f64 {
        self.counter_on(&self.alive(), prefix).await
    }

    /// Sum of a counter over the instances `on` (a paused one would not answer).
    pub async fn counter_on(&self, on: &[usize], prefix: &str) -> f64 {
        let mut n = 0.0;
        for &i in on {
            n += self
                .metrics(i)
                .await
                .lines()
                .filter(|l| l.starts_with(prefix))
                .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
                .sum::<f64>();
        }
        n
    }

    /// The instance id holding the room's lease.
    pub fn lease_owner(&self, room: &str) -> Option<String> {
        self.redis_get(&format!("lease:room:{room}"))
    }

    /// A database handle on the shared database.
    pub fn db(&self) -> rally::db::Db {
        let url = rally::config::DatabaseUrl::parse(&self.pg.url).expect("database url");
        rally::db::Db::open(&url, 2).expect("open test database")
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for inst in self.instances.iter_mut().flatten() {
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(inst.child.id().to_string())
                .status();
            let _ = inst.child.kill();
            let _ = inst.child.wait();
        }
        if std::thread::panicking() {
            for i in 0..self.addrs.len() {
                eprintln!("--- instance {i} log tail ---\n{}", self.log_tail(i));
            }
        }
        // Remove this test's keys (never FLUSHALL: the Redis may be shared).
        if let Ok(client) = redis::Client::open(self.redis_url.as_str()) {
            if let Ok(mut c) = client.get_connection() {
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{}:*", self.prefix))
                    .query(&mut c)
                    .unwrap_or_default();
                for k in keys {
                    let _ = redis::cmd("DEL").arg(k).query::<()>(&mut c);
                }
            }
        }
    }
}

/// Poll `f` until it returns Some, or panic at `deadline` with `what`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < end, "not within {deadline:?}: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A Redis server of the test's own, on a spare port (the shared one is never restarted).
pub struct OwnRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    pub fn start(port: u16) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis {
            port,
            child: Some(child),
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

impl OwnRedis {
    /// A redis-server on a free port.
    pub fn spare() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        OwnRedis::start(port)
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// A `rally loadgen` run (the real binary) against a cluster.
pub struct Loadgen {
    child: Child,
    started: Instant,
}

impl Loadgen {
    /// Start `rally loadgen` with `args`, its bots spread over every instance in `urls`.
    pub fn start(c: &TestCluster, instances: &[usize], args: &[&str]) -> Loadgen {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rally"));
        cmd.arg("loadgen");
        for i in instances {
            cmd.arg("--url").arg(format!("http://{}", c.addr(*i)));
        }
        cmd.args(["--progress", "0"])
            .args(args)
            .env("RALLY_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Loadgen {
            child: cmd.spawn().expect("spawn rally loadgen"),
            started: Instant::now(),
        }
    }

    /// Wait for the exit: whether it exited 0, its report (the JSON last line of stdout), and
    /// stderr for failure messages.
    pub async fn finish(self) -> (bool, Value, String) {
        let started = self.started;
        let out = tokio::task::spawn_blocking(move || self.child.wait_with_output())
            .await
            .expect("join")
            .expect("loadgen output");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let report = stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<Value>(l).ok())
            .unwrap_or(Value::Null);
        eprintln!(
            "loadgen exited {} after {:?}: {}",
            out.status,
            started.elapsed(),
            stdout.lines().rev().nth(1).unwrap_or("")
        );
        (out.status.success(), report, format!("{stdout}\n{stderr}"))
    }
}
