//! Database outages and quick matches for the durability tests.
//!
//! An outage makes one dedicated test database unreachable — `ALTER DATABASE … ALLOW_CONNECTIONS
//! false`, then `pg_terminate_backend` on every connection to it — and is lifted by [`Outage::end`]
//! or when dropped (also when the test panics). The Postgres server itself is never touched:
//! other tests keep running against it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use super::ws::Client;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use rally::db::matches::MatchRow;
use rally::db::Db;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The database name of a Postgres URL.
pub fn db_name(url: &str) -> String {
    url::Url::parse(url)
        .expect("postgres url")
        .path()
        .trim_start_matches('/')
        .to_string()
}

/// A database that refuses every connection until [`Outage::end`].
pub struct Outage {
    admin_url: String,
    db: String,
    active: bool,
    /// When it began.
    pub began: Instant,
}

impl Outage {
    /// Refuse new connections to `db` and cut the existing ones.
    pub fn begin(admin_url: &str, db: &str) -> Outage {
        let mut admin = diesel::PgConnection::establish(admin_url).expect("admin connection");
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {db} ALLOW_CONNECTIONS false; \
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{db}' AND pid <> pg_backend_pid();"
            ))
            .expect("begin outage");
        Outage {
            admin_url: admin_url.to_string(),
            db: db.to_string(),
            active: true,
            began: Instant::now(),
        }
    }

    /// Let connections in again.
    pub fn end(&mut self) {
        if !self.active {
            return;
        }
        self.active = false;
        match diesel::PgConnection::establish(&self.admin_url) {
            Ok(mut admin) => {
                if let Err(e) = admin.batch_execute(&format!(
                    "ALTER DATABASE {} ALLOW_CONNECTIONS true",
                    self.db
                )) {
                    eprintln!("could not end the outage of {}: {e}", self.db);
                }
            }
            Err(e) => eprintln!("could not end the outage of {}: {e}", self.db),
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.end();
    }
}

/// A guest made over HTTP at `addr`: (token, player id).
pub async fn guest(http: &reqwest::Client, addr: SocketAddr) -> (String, String) {
    let r = http
        .post(format!("http://{addr}/api/v1/auth/guest"))
        .json(&json!({}))
        .send()
        .await
        .expect("guest");
    assert_eq!(r.status().as_u16(), 201);
    let b: Value = r.json().await.expect("guest body");
    (
        b["token"].as_str().unwrap().to_string(),
        b["player"]["id"].as_str().unwrap().to_string(),
    )
}

/// Two guests quick-matched on the server at `addr` (nobody else queued meanwhile): both got
/// `match_found`; nobody joined yet.
pub struct Pair {
    pub clients: [Client; 2],
    pub tokens: [String; 2],
    pub ids: [String; 2],
    pub room: String,
}

impl Pair {
    pub async fn make(http: &reqwest::Client, addr: SocketAddr) -> Pair {
        let (ta, ia) = guest(http, addr).await;
        let (tb, ib) = guest(http, addr).await;
        let (mut a, _) = Client::login(addr, &ta).await;
        let (mut b, _) = Client::login(addr, &tb).await;
        a.send(json!({"type": "queue"})).await;
        a.expect("queued").await;
        b.send(json!({"type": "queue"})).await;
        b.expect("queued").await;
        let fa = a.expect("match_found").await;
        let fb = b.expect("match_found").await;
        assert_eq!(fa["room"], fb["room"]);
        Pair {
            clients: [a, b],
            tokens: [ta, tb],
            ids: [ia, ib],
            room: fa["room"].as_str().unwrap().to_string(),
        }
    }

    /// Player `i` joins; returns the `joined` message.
    pub async fn join(&mut self, i: usize) -> Value {
        let room = self.room.clone();
        let c = &mut self.clients[i];
        c.send(json!({"type": "join", "room": room})).await;
        c.expect("joined").await
    }

    /// Both join and wait until play runs; returns (match id, seat of each player).
    pub async fn play(&mut self) -> (String, [u64; 2]) {
        let ja = self.join(0).await;
        let jb = self.join(1).await;
        for c in &mut self.clients {
            c.expect_room_state("playing").await;
        }
        (
            ja["match"].as_str().unwrap().to_string(),
            [ja["seat"].as_u64().unwrap(), jb["seat"].as_u64().unwrap()],
        )
    }

    /// Player `i` resigns; both get `match_end` (returned: player `i`'s, the other's).
    pub async fn resign(&mut self, i: usize) -> (Value, Value) {
        self.clients[i].send(json!({"type": "resign"})).await;
        let mine = self.clients[i].expect("match_end").await;
        let other = self.clients[1 - i].expect("match_end").await;
        (mine, other)
    }
}

/// A match row (panics when missing).
pub fn row(db: &Db, id: &str) -> MatchRow {
    let id = id.to_string();
    db.run_sync(|c| rally::db::matches::get(c, &id))
        .unwrap()
        .expect("match row")
}

/// A player's (rating, games played).
pub fn player(db: &Db, id: &str) -> (f64, i64) {
    let id = id.to_string();
    let p = db
        .run_sync(|c| rally::db::players::by_id(c, &id))
        .unwrap()
        .expect("player row");
    (p.rating, p.games_played)
}

/// The result of a rated match is in the database exactly once: finished, won by `winner_seat`,
/// each player rated once (one game played, current rating = the rating stored on the match).
pub fn assert_rated_once(db: &Db, match_id: &str, ids: &[String; 2], winner_seat: u64) {
    let m = row(db, match_id);
    assert_eq!(m.status, "finished", "{m:?}");
    assert_eq!(m.winner_seat, Some(winner_seat as i64), "{m:?}");
    assert!(m.started_at.is_some(), "no started_at: {m:?}");
    let after = [m.rating0_after, m.rating1_after];
    for (seat, after) in after.iter().enumerate() {
        let pid = m.player(seat as u8).expect("seated").to_string();
        assert!(ids.contains(&pid), "{m:?}");
        let (rating, games) = player(db, &pid);
        assert_eq!(games, 1, "player {pid} rated {games} times: {m:?}");
        assert_eq!(Some(rating), *after, "player {pid}: {m:?}");
    }
    let winner = m.player(winner_seat as u8).unwrap().to_string();
    let (won, _) = player(db, &winner);
    assert!(won > 1500.0, "the winner gained nothing: {m:?}");
}

/// Poll `/readyz` at `addr` until `ok` holds for its (status, body); returns them.
pub async fn readyz_until(
    http: &reqwest::Client,
    addr: SocketAddr,
    within: Duration,
    what: &str,
    ok: impl Fn(u16, &Value) -> bool,
) -> (u16, Value) {
    let end = Instant::now() + within;
    loop {
        if let Ok(r) = http.get(format!("http://{addr}/readyz")).send().await {
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            if ok(status, &body) {
                return (status, body);
            }
            assert!(Instant::now() < end, "{what}: last /readyz {status} {body}");
        } else {
            assert!(Instant::now() < end, "{what}: /readyz unreachable");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of one metric sample line `name{labels…}` in an exposition text (0 when absent).
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
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

/// One run of the real `rally` binary (single instance), killed when dropped.
pub struct Binary {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    pub log: std::path::PathBuf,
}

impl Binary {
    /// Start `rally` on `addr` with `env`, logging to `log`; waits until `/healthz` answers
    /// (start-up finishes the previous run's pending writes before listening).
    pub async fn start(
        addr: SocketAddr,
        env: &[(String, String)],
        log: &std::path::Path,
    ) -> Binary {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rally"));
        cmd.env("RALLY_BIND", addr.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn rally");
        let http = reqwest::Client::new();
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("http://{addr}/healthz")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "rally exited ({status}):\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < end, "rally did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Binary {
            child,
            addr,
            log: log.to_path_buf(),
        }
    }

    /// SIGKILL: no shutdown hook runs.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.addr))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- rally log ({}) ---\n{}",
                self.log.display(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

/// A free loopback address.
pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}
