//! Nothing players were told is lost when the database is unreachable (issue 13 §1).
//!
//! Each test makes its own Postgres database unreachable for a while (`ALTER DATABASE …
//! ALLOW_CONNECTIONS false` + `pg_terminate_backend`, see `common::durable::Outage`) while
//! matches start, finish and are abandoned as no-shows; then checks that every write landed once
//! the database was back — rows `finished`/`abandoned` with the times the room saw, ratings
//! applied exactly once — also when the instance was killed with SIGKILL during the outage and
//! restarted (the outbox file), and when it was killed in a cluster and another instance took
//! its pending writes over (the Redis journal).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::cluster::{eventually, TestCluster};
use common::durable::{
    assert_rated_once, db_name, free_addr, readyz_until, row, sample, Binary, Outage, Pair,
};
use common::tournament::{admin, create, entrants, match_rows, organiser};
use common::ws::Client;
use common::{postgres_admin_url, Backend, PgDatabase, TestServer};
use deadpool_redis::redis;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Long enough that no test match ends by score or time on its own: matches end by
/// resignation or no-show, when the test decides.
const FLAGS: &[&str] = &[
    "--points-to-win",
    "21",
    "--countdown",
    "200ms",
    "--reconnect-grace",
    "60s",
    "--join-window",
    "4s",
    "--room-linger",
    "2s",
    "--matchmaking-interval",
    "50ms",
];

/// The same settings as environment variables (for the real binary).
fn env(flags: &[&str]) -> Vec<(String, String)> {
    flags
        .chunks(2)
        .map(|kv| {
            let name = kv[0].trim_start_matches("--").replace('-', "_");
            (format!("RALLY_{}", name.to_uppercase()), kv[1].to_string())
        })
        .collect()
}

fn pending(body: &Value) -> u64 {
    body["pending_writes"].as_u64().unwrap_or(u64::MAX)
}

/// The outage the issue describes, in one process: three matches finish (by resignation), two
/// start and then finish, and a matched player never shows up, all while the database refuses
/// connections for 10 s. Players get `match_end` at once; `/readyz` says the database is down
/// and counts the pending writes; once it is back every write lands once, with the room's
/// times, and the players still connected get their `ratings`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_made_during_an_outage_land_once_it_is_over() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let Some(s) = TestServer::start(Backend::Postgres, FLAGS).await else {
        return;
    };
    let http = reqwest::Client::new();
    let db = s.db();
    let mut finishing = Vec::new();
    for _ in 0..3 {
        let mut p = Pair::make(&http, s.addr).await;
        let (mid, seats) = p.play().await;
        finishing.push((p, mid, seats));
    }
    // Their starts are in; from here on, every write waits for the database.
    readyz_until(
        &http,
        s.addr,
        Duration::from_secs(20),
        "starts written",
        |st, b| st == 200 && pending(b) == 0,
    )
    .await;
    let mut starting = vec![
        Pair::make(&http, s.addr).await,
        Pair::make(&http, s.addr).await,
    ];
    let mut no_show = Pair::make(&http, s.addr).await;

    let mut outage = Outage::begin(&admin, &db_name(&s.database_url));
    // Play starts during the outage; one matched player never comes.
    let mut started = Vec::new();
    for p in &mut starting {
        let (mid, seats) = p.play().await;
        started.push((mid, seats));
    }
    no_show.join(0).await;
    let (_, body) = readyz_until(
        &http,
        s.addr,
        Duration::from_secs(20),
        "readiness reports the database down",
        |st, b| st == 503 && b["database"] == "down",
    )
    .await;
    assert_eq!(body["status"], "unavailable", "{body}");
    // Results are announced at once: the result is journaled, not yet stored.
    for (p, _, seats) in &mut finishing {
        let t0 = std::time::Instant::now();
        let (mine, other) = p.resign(1).await;
        eprintln!(
            "figure: resign -> match_end during the outage {:?}",
            t0.elapsed()
        );
        assert_eq!(mine["outcome"], other["outcome"]);
        assert_eq!(mine["outcome"]["reason"], "resign");
        assert_eq!(mine["outcome"]["winner"], seats[0]);
    }
    for (p, (_, seats)) in starting.iter_mut().zip(&started) {
        let (mine, _) = p.resign(0).await;
        assert_eq!(mine["outcome"]["winner"], seats[1]);
    }
    let end = no_show.clients[0]
        .expect_within("match_end", Duration::from_secs(20))
        .await;
    assert_eq!(end["outcome"]["reason"], "abandoned");
    // 3 + 2 results, 2 starts, 1 no-show: all held, none lost.
    readyz_until(
        &http,
        s.addr,
        Duration::from_secs(20),
        "8 writes pending",
        |st, b| st == 503 && pending(b) == 8,
    )
    .await;
    let (_, mid0, _) = &finishing[0];
    assert_eq!(
        s.get(&format!("/api/v1/matches/{mid0}"), None).await.0,
        503,
        "reads during the outage answer 503"
    );
    tokio::time::sleep_until((outage.began + Duration::from_secs(10)).into()).await;
    outage.end();
    let back_ms = rally::db::now_ms();
    let back = std::time::Instant::now();

    readyz_until(
        &http,
        s.addr,
        Duration::from_secs(30),
        "every pending write applied",
        |st, b| st == 200 && pending(b) == 0,
    )
    .await;
    eprintln!(
        "figure: outage end -> 8 writes applied {:?}",
        back.elapsed()
    );
    for (p, mid, seats) in &finishing {
        assert_rated_once(&db, mid, &p.ids, seats[0]);
        let m = row(&db, mid);
        assert_eq!(m.end_reason.as_deref(), Some("resign"));
        // The room's time, not the time the database came back.
        assert!(m.finished_at.unwrap() < back_ms, "{m:?}");
    }
    for (p, (mid, seats)) in starting.iter().zip(&started) {
        assert_rated_once(&db, mid, &p.ids, seats[1]);
        let m = row(&db, mid);
        assert!(m.started_at.unwrap() < back_ms, "{m:?}");
        assert!(m.started_at.unwrap() <= m.finished_at.unwrap(), "{m:?}");
    }
    let nm = row(
        &db,
        end["match"].as_str().expect("match_end names the match"),
    );
    assert_eq!(
        (nm.status.as_str(), nm.end_reason.as_deref()),
        ("abandoned", Some("no_show")),
        "{nm:?}"
    );
    assert_eq!(nm.rating0_after, None);
    // Ratings are announced once they are stored, to the players still connected.
    for (p, mid, _) in &mut finishing {
        for c in &mut p.clients {
            let r = c.expect_within("ratings", Duration::from_secs(10)).await;
            assert_eq!(r["match"], mid.as_str(), "{r}");
        }
    }
}

/// SIGKILL during the outage, single instance: the writes are in the outbox file; the next
/// start finishes them before it listens, then empties the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_sigkill_finishes_the_pending_writes() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let pg = PgDatabase::create(&admin);
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let mut vars = env(FLAGS);
    vars.extend([
        ("RALLY_DATABASE_URL".to_string(), pg.url.clone()),
        (
            "RALLY_ROOT_KEY_FILE".to_string(),
            dir.path().join("root.key").display().to_string(),
        ),
        (
            "RALLY_OUTBOX_FILE".to_string(),
            outbox.display().to_string(),
        ),
        (
            "RALLY_AUTH_RATE_PER_MINUTE".to_string(),
            "10000".to_string(),
        ),
        ("RALLY_LOG".to_string(), "warn,rally=info".to_string()),
    ]);
    let addr = free_addr();
    let first = Binary::start(addr, &vars, &dir.path().join("first.log")).await;
    let http = reqwest::Client::new();
    let mut pairs = Vec::new();
    for _ in 0..3 {
        let mut p = Pair::make(&http, addr).await;
        let (mid, seats) = p.play().await;
        pairs.push((p, mid, seats));
    }
    let mut no_show = Pair::make(&http, addr).await;
    readyz_until(
        &http,
        addr,
        Duration::from_secs(20),
        "starts written",
        |st, b| st == 200 && pending(b) == 0,
    )
    .await;

    let mut outage = Outage::begin(&admin, &pg.name);
    no_show.join(0).await;
    for (p, _, _) in &mut pairs {
        p.resign(1).await;
    }
    let end = no_show.clients[0]
        .expect_within("match_end", Duration::from_secs(20))
        .await;
    assert_eq!(end["outcome"]["reason"], "abandoned");
    let no_show_match = end["match"].as_str().unwrap().to_string();
    // The metrics show them pending (and retried).
    let text = eventually(Duration::from_secs(20), "pending gauges", || async {
        let t = first.metrics().await;
        (sample(&t, "rally_durable_pending_writes", &[("kind", "finish")]) == 3.0
            && sample(&t, "rally_durable_pending_writes", &[("kind", "abandon")]) == 1.0
            && sample(&t, "rally_durable_oldest_pending_seconds", &[]) > 0.0)
            .then_some(t)
    })
    .await;
    assert!(
        sample(&text, "rally_durable_retries_total", &[("kind", "finish")]) >= 1.0,
        "no retry counted"
    );
    first.kill9();
    outage.end();

    let restart = std::time::Instant::now();
    let second = Binary::start(addr, &vars, &dir.path().join("second.log")).await;
    eprintln!(
        "figure: restart (4 pending writes finished) -> listening {:?}",
        restart.elapsed()
    );
    // Listening means the previous run's writes are in.
    let db = {
        let url = rally::config::DatabaseUrl::parse(&pg.url).unwrap();
        rally::db::Db::open(&url, 2).unwrap()
    };
    for (p, mid, seats) in &pairs {
        assert_rated_once(&db, mid, &p.ids, seats[0]);
    }
    assert_eq!(row(&db, &no_show_match).status, "abandoned");
    let text = second.metrics().await;
    assert_eq!(
        sample(
            &text,
            "rally_durable_recovered_total",
            &[("source", "file")]
        ),
        4.0
    );
    assert_eq!(
        sample(
            &text,
            "rally_durable_writes_total",
            &[("kind", "finish"), ("result", "applied")]
        ),
        3.0
    );
    // Emptied down to the line naming its database.
    eventually(
        Duration::from_secs(10),
        "the outbox file emptied",
        || async {
            let text = std::fs::read_to_string(&outbox).unwrap_or_default();
            (text.lines().count() == 1 && text.contains("\"op\":\"database\"")).then_some(())
        },
    )
    .await;
}

/// A single instance killed mid-match and restarted without its outbox file (lost with its
/// disk): nothing can resume the match (rooms alone keep no checkpoint), so the start-up sweep
/// abandons it as `interrupted` — nobody rated, the epoch bumped — instead of leaving it
/// `playing` for good. A match finished before the kill keeps its result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_left_playing_by_a_killed_instance_is_abandoned_at_restart() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let pg = PgDatabase::create(&admin);
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let mut vars = env(FLAGS);
    vars.extend([
        ("RALLY_DATABASE_URL".to_string(), pg.url.clone()),
        (
            "RALLY_ROOT_KEY_FILE".to_string(),
            dir.path().join("root.key").display().to_string(),
        ),
        (
            "RALLY_OUTBOX_FILE".to_string(),
            outbox.display().to_string(),
        ),
        (
            "RALLY_AUTH_RATE_PER_MINUTE".to_string(),
            "10000".to_string(),
        ),
        ("RALLY_LOG".to_string(), "warn,rally=info".to_string()),
    ]);
    let addr = free_addr();
    let first = Binary::start(addr, &vars, &dir.path().join("first.log")).await;
    let http = reqwest::Client::new();
    let mut done = Pair::make(&http, addr).await;
    let (done_mid, done_seats) = done.play().await;
    done.resign(1).await;
    let mut cut = Pair::make(&http, addr).await;
    let (cut_mid, _) = cut.play().await;
    readyz_until(
        &http,
        addr,
        Duration::from_secs(20),
        "writes in",
        |st, b| st == 200 && pending(b) == 0,
    )
    .await;
    first.kill9();
    std::fs::remove_file(&outbox).unwrap();

    let second = Binary::start(addr, &vars, &dir.path().join("second.log")).await;
    let db = {
        let url = rally::config::DatabaseUrl::parse(&pg.url).unwrap();
        rally::db::Db::open(&url, 2).unwrap()
    };
    let m = eventually(Duration::from_secs(20), "the cut match abandoned", || {
        let m = row(&db, &cut_mid);
        async move { (m.status == "abandoned").then_some(m) }
    })
    .await;
    assert_eq!(m.end_reason.as_deref(), Some("interrupted"), "{m:?}");
    assert_eq!(m.epoch, 2, "fenced: {m:?}");
    assert_eq!(m.rating0_after, None, "nobody rated: {m:?}");
    for id in &cut.ids {
        assert_eq!(
            common::durable::player(&db, id).1,
            0,
            "no game counted for {id}"
        );
    }
    assert_rated_once(&db, &done_mid, &done.ids, done_seats[0]);
    let text = second.metrics().await;
    assert_eq!(sample(&text, "rally_matches_stranded_total", &[]), 1.0);
}

/// SIGKILL during the outage, two instances on Redis: the dead instance's journal is taken
/// over by the survivor, which writes the results once the database is back; meanwhile nobody
/// adopts (and thereby fences off) the dead instance's rooms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_survivor_finishes_the_writes_of_an_instance_killed_during_the_outage() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let Some(mut c) = TestCluster::start(2, None, Duration::from_secs(1), FLAGS).await else {
        return;
    };
    let http = reqwest::Client::new();
    let mut pairs = Vec::new();
    for _ in 0..4 {
        let mut p = Pair::make(&http, c.addr(0)).await;
        // Play on the room's owner (no cross-instance hop in this test).
        let owner = eventually(Duration::from_secs(10), "room owner", || async {
            c.owner_of_room(&p.room)
        })
        .await;
        for i in 0..2 {
            let (client, _) = Client::login(c.addr(owner), &p.tokens[i]).await;
            p.clients[i] = client;
        }
        let (mid, seats) = p.play().await;
        pairs.push((p, mid, seats, owner));
    }
    let victim = pairs[0].3;
    let survivor = 1 - victim;
    let victim_id = c.lease_owner(&pairs[0].0.room).expect("lease");
    let on_victim = pairs.iter().filter(|p| p.3 == victim).count();
    for i in 0..2 {
        readyz_until(
            &http,
            c.addr(i),
            Duration::from_secs(20),
            "starts written",
            |st, b| st == 200 && pending(b) == 0,
        )
        .await;
    }

    let mut outage = Outage::begin(&admin, &c.pg.name);
    for (p, _, _, _) in &mut pairs {
        let (mine, _) = p.resign(1).await;
        assert_eq!(mine["outcome"]["reason"], "resign");
    }
    c.kill9(victim);
    let killed = std::time::Instant::now();
    // After one lease TTL the victim's heartbeat is gone and the survivor takes its journal.
    eventually(
        Duration::from_secs(20),
        "the survivor took the journal over",
        || async {
            let t = c.metrics(survivor).await;
            (sample(&t, "rally_durable_recovered_total", &[("source", "redis")])
                >= on_victim as f64)
                .then_some(())
        },
    )
    .await;
    eprintln!(
        "figure: kill -9 -> journal taken over {:?}",
        killed.elapsed()
    );
    let mut redis = c.redis();
    let left: i64 = redis::cmd("EXISTS")
        .arg(c.key(&format!("outbox:{victim_id}")))
        .query(&mut redis)
        .unwrap();
    assert_eq!(left, 0, "the victim's journal was moved");
    let (_, body) = c.get(survivor, "/readyz").await;
    assert_eq!(pending(&body), pairs.len() as u64, "{body}");
    // The survivor's orphan scans keep running during the outage; keep it going a while.
    tokio::time::sleep_until((outage.began + Duration::from_secs(10)).into()).await;
    outage.end();

    readyz_until(
        &http,
        c.addr(survivor),
        Duration::from_secs(30),
        "every pending write applied",
        |st, b| st == 200 && pending(b) == 0,
    )
    .await;
    let db = c.db();
    for (p, mid, seats, _) in &pairs {
        assert_rated_once(&db, mid, &p.ids, seats[0]);
    }
    let holds: Vec<(String, i64)> = redis::cmd("HGETALL")
        .arg(c.key("outbox-holds"))
        .query(&mut redis)
        .unwrap();
    assert!(holds.is_empty(), "holds left: {holds:?}");
    let t = c.metrics(survivor).await;
    assert_eq!(
        sample(&t, "rally_failovers_total", &[("kind", "room")]),
        0.0,
        "a room whose result was pending was adopted"
    );
}

/// Next `tournament` event named `event` on `c` (other messages skipped).
async fn tournament_event(c: &mut Client, event: &str) -> Value {
    loop {
        let v = c.expect_within("tournament", Duration::from_secs(30)).await;
        if v["event"] == event {
            return v;
        }
    }
}

async fn view(s: &TestServer, id: &str) -> Value {
    let (st, v) = s.get(&format!("/api/v1/tournaments/{id}"), None).await;
    assert_eq!(st, 200, "{v}");
    v
}

/// A tournament's final ends during the outage. Persist, then announce: players get
/// `match_end` (the result is journaled) but the tournament announces nothing until the result
/// is stored; then it records it and crowns the champion. A registration that was due to close
/// during the outage closes once the database is back. Organiser actions meanwhile get a 503;
/// a player already connected can still subscribe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tournament_waits_for_its_result_and_resumes_after_the_outage() {
    let Some(admin_url) = postgres_admin_url() else {
        return;
    };
    let Some(s) = TestServer::start(Backend::Postgres, FLAGS).await else {
        return;
    };
    let org = organiser(&s, "orgdur").await;
    let t = create(
        &s,
        &org,
        json!({"name": "Final", "capacity": 2, "no_show_timeout_ms": 30000}),
    )
    .await;
    let id = t["id"].as_str().unwrap().to_string();
    admin(&s, &org, &id, "open").await;
    let players = entrants(&s, &id, "fin", 2).await;
    let (mut a, _) = Client::login(s.addr, &players[0].token).await;
    let (mut b, _) = Client::login(s.addr, &players[1].token).await;
    a.send(json!({"type": "subscribe", "tournament": id})).await;
    a.expect("subscribed").await;
    admin(&s, &org, &id, "start").await;
    let ready = tournament_event(&mut a, "match_ready").await;
    let room = ready["room"].as_str().unwrap().to_string();
    for c in [&mut a, &mut b] {
        c.send(json!({"type": "join", "room": room})).await;
        c.expect("joined").await;
    }
    a.expect_room_state("playing").await;
    b.expect_room_state("playing").await;
    // Another tournament whose registration closes by itself in the middle of the outage.
    let later = create(
        &s,
        &org,
        json!({"name": "Later", "capacity": 4,
               "registration_closes_at": rally::db::now_ms() + 3000}),
    )
    .await;
    let later_id = later["id"].as_str().unwrap().to_string();
    admin(&s, &org, &later_id, "open").await;

    let mut outage = Outage::begin(&admin_url, &db_name(&s.database_url));
    // A session admitted before the outage subscribes during it: re-authorized without the
    // database (its token's checks still run), like a join.
    b.send(json!({"type": "subscribe", "tournament": id})).await;
    b.expect("subscribed").await;
    let state = b.expect("tournament").await;
    assert_eq!(state["event"], "state", "{state}");
    b.send(json!({"type": "resign"})).await;
    let end = a.expect("match_end").await;
    assert_eq!(end["outcome"]["reason"], "resign");
    b.expect("match_end").await;
    // An organiser is told the database is unavailable; nothing changes.
    let (st, body) = s
        .post(
            &format!("/api/v1/admin/tournaments/{later_id}/cancel"),
            Some(&org),
            json!({}),
        )
        .await;
    common::assert_error(st, &body, 503, "unavailable");
    // Nothing is announced before it is stored.
    let quiet_until = outage.began + Duration::from_secs(8);
    loop {
        let left = quiet_until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        match tokio::time::timeout(left, a.ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                assert!(
                    v["type"] != "tournament" || v["event"] == "state",
                    "announced during the outage: {v}"
                );
            }
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("connection lost during the outage: {other:?}"),
            Err(_) => break,
        }
    }
    tokio::time::sleep_until((outage.began + Duration::from_secs(10)).into()).await;
    outage.end();

    let finished = tournament_event(&mut a, "match_finished").await;
    assert_eq!(finished["winner"], players[0].id.as_str(), "{finished}");
    let champion = tournament_event(&mut a, "champion").await;
    assert_eq!(champion["player"]["id"], players[0].id.as_str());
    assert_eq!(view(&s, &id).await["status"], "finished");
    let rows = match_rows(&s.database_url, &id);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].1, "finished");
    // The missed registration close happened once the database answered again.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let v = view(&s, &later_id).await;
        if v["status"] == "registration" && v["registration_open"] == false {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not closed: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Redis journal comes back after Redis lost it (a flush, a restart without persistence):
/// every round an instance re-journals what it still holds, holds included, so a survivor
/// could still take it over and nobody adopts the held match. Here the journal keys of this
/// test's prefix are deleted during the outage (never FLUSHDB: the Redis is shared).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_redis_journal_is_written_again() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let Some(c) = TestCluster::start(1, None, Duration::from_secs(1), FLAGS).await else {
        return;
    };
    let http = reqwest::Client::new();
    let mut p = Pair::make(&http, c.addr(0)).await;
    let (mid, seats) = p.play().await;
    readyz_until(
        &http,
        c.addr(0),
        Duration::from_secs(20),
        "start written",
        |st, b| st == 200 && pending(b) == 0,
    )
    .await;
    let mut outage = Outage::begin(&admin, &c.pg.name);
    p.resign(1).await;
    let mut redis = c.redis();
    let journal_keys = |redis: &mut redis::Connection| -> Vec<String> {
        redis::cmd("KEYS")
            .arg(c.key("outbox:*"))
            .query(redis)
            .unwrap()
    };
    let hold = |redis: &mut redis::Connection| -> Option<i64> {
        redis::cmd("HGET")
            .arg(c.key("outbox-holds"))
            .arg(format!("match:{mid}"))
            .query(redis)
            .unwrap()
    };
    let keys = journal_keys(&mut redis);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(hold(&mut redis), Some(1));
    let _: () = redis::cmd("DEL")
        .arg(&keys[0])
        .arg(c.key("outbox-holds"))
        .query(&mut redis)
        .unwrap();
    eventually(Duration::from_secs(10), "the journal written again", || {
        let mut r = c.redis();
        let back = journal_keys(&mut r).len() == 1 && hold(&mut r) == Some(1);
        async move { back.then_some(()) }
    })
    .await;
    outage.end();
    readyz_until(
        &http,
        c.addr(0),
        Duration::from_secs(30),
        "the result applied",
        |st, b| st == 200 && pending(b) == 0,
    )
    .await;
    assert_rated_once(&c.db(), &mid, &p.ids, seats[0]);
    assert!(
        journal_keys(&mut redis).is_empty(),
        "the journal was emptied"
    );
    assert_eq!(hold(&mut redis), None);
}
