//! A tournament survives SIGKILL: the real `rally` binary runs as a child process on a SQLite
//! file or a Postgres database, is killed during a match and again between rounds, and is
//! started again on the same database each time. The tournament finishes; every result
//! recorded before a kill is kept, interrupted matches are replayed from scratch, and no slot
//! has two results.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::bot::{self, Account, Style};
use common::tournament::{assert_one_result_per_slot, match_rows, Row};
use common::PgDatabase;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Test-sized settings, as environment variables of the child process.
const ENV: &[(&str, &str)] = &[
    ("RALLY_POINTS_TO_WIN", "1"),
    ("RALLY_COUNTDOWN", "200ms"),
    ("RALLY_RECONNECT_GRACE", "1500ms"),
    ("RALLY_JOIN_WINDOW", "1s"),
    ("RALLY_ROOM_LINGER", "500ms"),
    ("RALLY_MAX_MATCH_DURATION", "8s"),
    ("RALLY_AUTH_RATE_PER_MINUTE", "10000"),
    ("RALLY_LOG", "warn"),
];

/// One run of the binary.
struct Server {
    child: Child,
    addr: SocketAddr,
    base: String,
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn rally(db_url: &str, dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rally"));
    c.env("RALLY_DATABASE_URL", db_url)
        .env("RALLY_ROOT_KEY_FILE", dir.join("root.key"))
        .env("RALLY_OUTBOX_FILE", dir.join("outbox.jsonl"));
    for (k, v) in ENV {
        c.env(k, v);
    }
    c
}

impl Server {
    async fn start(db_url: &str, dir: &Path, addr: SocketAddr, run: u32) -> Server {
        let log = std::fs::File::create(dir.join(format!("server-{run}.log"))).unwrap();
        let child = rally(db_url, dir)
            .arg("serve")
            .env("RALLY_BIND", addr.to_string())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn rally");
        let base = format!("http://{addr}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(format!("{base}/healthz")).await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "rally did not start (see {})",
                dir.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server { child, addr, base }
    }

    /// SIGKILL: no shutdown hook runs, nothing is flushed.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let b: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status == 200 || status == 201, "{status} {b}");
    b
}

/// Poll the match rows until `ok` holds.
async fn wait_rows(url: &str, id: &str, what: &str, ok: impl Fn(&[Row]) -> bool) -> Vec<Row> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = match_rows(url, id);
        if ok(&rows) {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn has(rows: &[Row], slot: &str, status: &str) -> bool {
    rows.iter().any(|r| r.0 == slot && r.1 == status)
}

fn spawn_bot(
    addr: SocketAddr,
    who: &Account,
    id: &str,
    style: Style,
) -> tokio::task::JoinHandle<bot::Report> {
    tokio::spawn(bot::play(
        addr,
        who.clone(),
        id.to_string(),
        style,
        Duration::from_secs(120),
    ))
}

async fn survives_sigkill(db_url: String) {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let http = reqwest::Client::new();
    let server = Server::start(&db_url, dir.path(), addr, 1).await;
    let base = server.base.clone();

    // An organiser, a 4-player single elimination, a long no-show window (kills and restarts
    // must not turn into walkovers).
    bot::register(&http, &base, "boss").await;
    let out = rally(&db_url, dir.path())
        .args(["admin", "grant-organiser", "boss"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let org = bot::login(&http, &base, "boss").await;
    let t = post(
        &http,
        format!("{base}/api/v1/admin/tournaments"),
        &org,
        json!({"name": "Phoenix", "game": "pong", "format": "single_elimination",
               "capacity": 4, "no_show_timeout_ms": 30000}),
    )
    .await;
    let id = t["id"].as_str().unwrap().to_string();
    post(
        &http,
        format!("{base}/api/v1/admin/tournaments/{id}/open"),
        &org,
        json!({}),
    )
    .await;
    let mut p = Vec::new();
    for i in 0..4 {
        let a = bot::register(&http, &base, &format!("phx{i}")).await;
        post(
            &http,
            format!("{base}/api/v1/tournaments/{id}/join"),
            &a.token,
            json!({}),
        )
        .await;
        p.push(a);
    }
    // Seeds follow the join order: r1m0 is phx0 v phx3, r1m1 is phx1 v phx2.
    post(
        &http,
        format!("{base}/api/v1/admin/tournaments/{id}/start"),
        &org,
        json!({}),
    )
    .await;

    // r1m0 is played to the end.
    let a = [
        spawn_bot(addr, &p[0], &id, Style::Track { lag: 1 }),
        spawn_bot(addr, &p[3], &id, Style::Idle),
    ];
    let rows = wait_rows(&db_url, &id, "r1m0's result", |r| {
        has(r, "r1m0", "finished")
    })
    .await;
    let r1m0 = rows.iter().find(|r| r.0 == "r1m0").unwrap().clone();
    for b in a {
        b.abort();
    }
    // r1m1 is being played (two sharp trackers: a long rally) when the process is killed.
    let b = [
        spawn_bot(addr, &p[1], &id, Style::Track { lag: 1 }),
        spawn_bot(addr, &p[2], &id, Style::Track { lag: 1 }),
    ];
    wait_rows(&db_url, &id, "r1m1 playing", |r| has(r, "r1m1", "playing")).await;
    server.kill();
    for bot in b {
        bot.abort();
    }

    // Restart: r1m1 is replayed from scratch in a new room.
    let server = Server::start(&db_url, dir.path(), addr, 2).await;
    let rows = match_rows(&db_url, &id);
    assert!(
        rows.iter()
            .any(|r| r.0 == "r1m1" && r.1 == "abandoned" && r.2.as_deref() == Some("interrupted")),
        "{rows:?}"
    );
    assert!(rows.contains(&r1m0), "r1m0's result is kept: {rows:?}");
    let b = [
        spawn_bot(addr, &p[1], &id, Style::Track { lag: 3 }),
        spawn_bot(addr, &p[2], &id, Style::Track { lag: 9 }),
    ];
    // Round one completes; the final's room is created (its r1m0 player is not connected):
    // the process is killed between rounds.
    wait_rows(&db_url, &id, "the final's room", |r| {
        has(r, "r1m1", "finished") && has(r, "r2m0", "created")
    })
    .await;
    server.kill();
    for bot in b {
        bot.abort();
    }

    // Restart again: everybody plays; the tournament finishes.
    let server = Server::start(&db_url, dir.path(), addr, 3).await;
    let bots: Vec<_> = p
        .iter()
        .enumerate()
        .map(|(i, who)| {
            spawn_bot(
                addr,
                who,
                &id,
                Style::Track {
                    lag: 1 + 4 * i as u32,
                },
            )
        })
        .collect();
    for b in bots {
        let report = b.await.unwrap();
        assert_eq!(report.final_status.as_deref(), Some("finished"));
    }
    let view = bot::fetch_view(server.addr, &id).await;
    assert_eq!(view["status"], "finished", "{view}");
    assert!(view["champion"]["id"].is_string());
    let rows = match_rows(&db_url, &id);
    assert_eq!(assert_one_result_per_slot(&rows, &view), 3, "{rows:?}");
    assert!(
        rows.contains(&r1m0),
        "r1m0's result survived two kills: {rows:?}"
    );
    let interrupted: Vec<&str> = rows
        .iter()
        .filter(|r| r.2.as_deref() == Some("interrupted"))
        .map(|r| r.0.as_str())
        .collect();
    assert_eq!(interrupted, ["r1m1", "r2m0"], "{rows:?}");
    // The bracket agrees with the rows: r1m0's winner is in the final.
    let winner_seat = r1m0.3.unwrap() as usize;
    let r1m0_winner = &view["bracket"][0]["matches"][0]["players"][winner_seat]["id"];
    assert_eq!(
        &view["bracket"][1]["matches"][0]["players"][0]["id"],
        r1m0_winner
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("rally.db").display());
    survives_sigkill(url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_sigkill() {
    let Some(admin) = common::postgres_admin_url() else {
        return;
    };
    let db = PgDatabase::create(&admin);
    survives_sigkill(db.url.clone()).await;
}
