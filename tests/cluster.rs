//! Several instances as one service (real Redis, real Postgres, the real binary as child
//! processes on 127.0.0.x): the whole protocol with players, spectators and subscribers on an
//! instance that does not own their room or tournament — they get what a local one gets, in
//! the same order —, placement across instances, and a timed loadgen run over several
//! instances. The faults (kills, pauses, Redis flushes) are in `tests/faults.rs`. Deadlines
//! derive from the configured lease TTL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::cluster::{eventually, Loadgen, TestCluster};
use common::play::{live, play, quick_match, read, QuickMatch};
use common::ws::Client;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Test-sized lease TTL: renewals every 500 ms.
const TTL: Duration = Duration::from_millis(1500);

fn flags(points: &'static str) -> Vec<&'static str> {
    vec![
        "--points-to-win",
        points,
        "--countdown",
        "200ms",
        "--reconnect-grace",
        "20s",
        "--join-window",
        "20s",
        "--room-linger",
        "1s",
        "--matchmaking-interval",
        "50ms",
        "--checkpoint-interval",
        "250ms",
    ]
}

fn games_played(c: &TestCluster, player: &str) -> i64 {
    use diesel::prelude::*;
    use rally::db::schema::players;
    let p = player.to_string();
    c.db()
        .run_sync(move |conn| {
            Ok(players::table
                .find(&p)
                .select(players::games_played)
                .first::<i64>(conn)?)
        })
        .unwrap()
}

fn match_row(c: &TestCluster, id: &str) -> rally::db::matches::MatchRow {
    let id = id.to_string();
    c.db()
        .run_sync(move |conn| rally::db::matches::get(conn, &id))
        .unwrap()
        .expect("match row")
}

/// The mean of a histogram over instances: (sum, count).
fn histogram_total(metrics: &str, name: &str) -> (f64, f64) {
    let val = |suffix: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(&format!("{name}_{suffix}")))
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .sum()
    };
    (val("sum"), val("count"))
}

async fn room_ids(c: &TestCluster, i: usize) -> (Vec<String>, u64) {
    let (s, body) = c.get(i, "/api/v1/rooms").await;
    assert_eq!(s, 200, "{body}");
    let ids = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    (ids, body["total"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_on_two_instances_play_and_a_third_watches() {
    let Some(c) = TestCluster::start(3, None, TTL, &flags("2")).await else {
        return;
    };
    let m = quick_match(&c, 0, 1).await;
    let (a, mut b, room, seat_a, match_id, ta) = (m.a, m.b, m.room, m.seat_a, m.match_id, m.ta);
    let ids = format!("{} {}", m.ida, m.idb);
    let owner = c.owner_of_room(&room).expect("the room has an owner");
    eprintln!("room {room} owned by instance {owner}");

    // A spectator on the third instance.
    let (tc, _) = c.guest(2).await;
    let (mut s, _) = Client::login(c.addr(2), &tc).await;
    s.send(json!({"type": "spectate", "room": room})).await;
    assert_eq!(s.expect("joined").await["role"], "spectator");
    s.expect("snapshot").await;

    // GET /api/v1/rooms answers the same on every instance.
    eventually(TTL, "the same room list on all three instances", || async {
        let lists = [
            room_ids(&c, 0).await,
            room_ids(&c, 1).await,
            room_ids(&c, 2).await,
        ];
        let same = lists.iter().all(|l| *l == lists[0]) && lists[0].0.contains(&room);
        same.then_some(())
    })
    .await;

    let player_a = tokio::spawn(play(a, live(&c), ta, room.clone(), seat_a, true));
    let end_b = b.expect_within("match_end", Duration::from_secs(60)).await;
    let end_s = s.expect_within("match_end", Duration::from_secs(60)).await;
    let end_a = player_a.await.unwrap();
    assert_eq!(end_a["outcome"], end_b["outcome"]);
    assert_eq!(
        end_a["outcome"], end_s["outcome"],
        "the spectator saw the same end"
    );
    assert_eq!(end_a["outcome"]["reason"], "score");
    assert_eq!(
        end_a["outcome"]["winner"].as_u64().unwrap() as usize,
        seat_a
    );
    // B (on instance 1) gets the rating change wherever the room ran.
    let ratings = b.expect("ratings").await;
    assert_eq!(ratings["changes"].as_array().unwrap().len(), 2);

    let row = match_row(&c, &match_id);
    assert_eq!(row.status, "finished");
    assert_eq!(row.winner_seat, Some(seat_a as i64));
    for id in ids.split(' ') {
        assert_eq!(games_played(&c, id), 1, "rated exactly once");
    }

    // Measured cross-instance latency (one way, publish → dispatch on the receiver).
    let (mut sum, mut count) = (0.0, 0.0);
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for i in 0..3 {
        let text = c.metrics(i).await;
        let (s1, c1) = histogram_total(&text, "rally_cross_instance_latency_seconds");
        sum += s1;
        count += c1;
        for l in text
            .lines()
            .filter(|l| l.starts_with("rally_cross_instance_latency_seconds_bucket"))
        {
            let le = l
                .split("le=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::INFINITY);
            let n: f64 = l.split_whitespace().last().unwrap().parse().unwrap();
            match buckets.iter_mut().find(|(b, _)| *b == le) {
                Some((_, m)) => *m += n,
                None => buckets.push((le, n)),
            }
        }
    }
    assert!(count > 100.0, "frames crossed instances: {count}");
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    let quantile = |q: f64| {
        buckets
            .iter()
            .find(|(_, n)| *n >= q * count)
            .map(|(le, _)| *le * 1000.0)
            .unwrap_or(f64::INFINITY)
    };
    eprintln!(
        "cross-instance latency: mean {:.3} ms, p50 <= {} ms, p99 <= {} ms over {count} messages",
        sum / count * 1000.0,
        quantile(0.5),
        quantile(0.99)
    );
}

/// What a player sees from now until the rating change (or `within`), as message types:
/// snapshots, game events and pongs left out (how many arrive depends on timing), room states
/// written `room:<state>`.
async fn transcript(c: &mut Client, within: Duration) -> Vec<String> {
    let end = Instant::now() + within;
    let mut seen = Vec::new();
    while let Some(v) = read(c, end.saturating_duration_since(Instant::now())).await {
        let ty = v["type"].as_str().unwrap_or("?").to_string();
        match ty.as_str() {
            "snapshot" | "event" | "pong" => continue,
            "room" => seen.push(format!("room:{}", v["state"].as_str().unwrap_or("?"))),
            _ => seen.push(ty.clone()),
        }
        if ty == "ratings" {
            break;
        }
    }
    seen
}

/// One quick match across two instances in which one player ends it with `action` (`leave`
/// or `resign`) mid-match — the player on the room's instance (`local`) or the other one.
/// Returns what the ender and the opponent saw from then on.
async fn end_mid_match(c: &TestCluster, action: &str, local: bool) -> (Vec<String>, Vec<String>) {
    let QuickMatch {
        mut a, mut b, room, ..
    } = quick_match(c, 0, 1).await;
    let owner = c.owner_of_room(&room).expect("owner");
    a.expect_room_state("playing").await;
    b.expect_room_state("playing").await;
    // `a` is on instance 0, `b` on 1.
    let a_is_local = owner == 0;
    let (ender, other) = if a_is_local == local {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    ender.send(json!({"type": action})).await;
    let within = Duration::from_secs(15);
    let (seen_ender, seen_other) =
        tokio::join!(transcript(ender, within), transcript(other, within));
    eprintln!(
        "{action} ({}): ender {seen_ender:?}, opponent {seen_other:?}",
        if local { "local" } else { "remote" }
    );
    (seen_ender, seen_other)
}

/// Issue 13 point 2: a player whose session is on another instance than the room's gets every
/// message a local player gets, in the same order — `leave` and `resign` mid-match end with
/// `match_end` and then `ratings` for the leaver, and the opponent never sees a spurious
/// `paused`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_or_resigning_from_another_instance_is_seen_as_from_the_room_s_own() {
    let Some(c) = TestCluster::start(2, None, TTL, &flags("21")).await else {
        return;
    };
    for action in ["leave", "resign"] {
        let (local_ender, local_other) = end_mid_match(&c, action, true).await;
        let (remote_ender, remote_other) = end_mid_match(&c, action, false).await;
        assert_eq!(remote_ender, local_ender, "{action}: the ender's messages");
        assert_eq!(
            remote_other, local_other,
            "{action}: the opponent's messages"
        );
        for seen in [&remote_ender, &remote_other] {
            let end = seen.iter().position(|t| t == "match_end");
            let ratings = seen.iter().position(|t| t == "ratings");
            assert!(
                matches!((end, ratings), (Some(e), Some(r)) if e < r),
                "{action}: match_end, then ratings: {seen:?}"
            );
            assert!(!seen.contains(&"room:paused".to_string()), "{seen:?}");
        }
        if action == "leave" {
            assert_eq!(remote_ender.first().map(String::as_str), Some("left"));
        }
    }
}

/// A player on a non-owning instance drops and comes back (to either instance): the room
/// pauses, the seat is held, `welcome.room` leads back, and the match goes on to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_player_reconnects_and_finishes() {
    let Some(c) = TestCluster::start(3, None, TTL, &flags("2")).await else {
        return;
    };
    let m = quick_match(&c, 0, 1).await;
    let owner = c.owner_of_room(&m.room).unwrap();
    let (mut a, b) = (m.a, m.b);
    a.expect_room_state("playing").await;
    // Drop the player whose session is not on the owner (a is on 0, b on 1).
    let (dropper, mut stayer, token, stayer_token, seat) = if owner != 0 {
        (a, b, m.ta, m.tb, m.seat_a)
    } else {
        (b, a, m.tb, m.ta, 1 - m.seat_a)
    };
    dropper.close().await;
    stayer.expect_room_state("paused").await;
    // Back through an instance that does not own the room either.
    let via = (0..3).find(|i| *i != owner).unwrap();
    let (mut back, welcome) = Client::login(c.addr(via), &token).await;
    assert_eq!(welcome["room"], m.room.as_str(), "the seat is held");
    back.send(json!({"type": "join", "room": m.room})).await;
    let j = back.expect("joined").await;
    assert_eq!(j["seat"].as_u64().unwrap() as usize, seat);
    stayer.expect_room_state("playing").await;
    let lv = live(&c);
    let p1 = tokio::spawn(play(back, lv.clone(), token, m.room.clone(), seat, true));
    let p2 = tokio::spawn(play(
        stayer,
        lv,
        stayer_token,
        m.room.clone(),
        1 - seat,
        false,
    ));
    let end = p1.await.unwrap();
    p2.await.unwrap();
    assert_eq!(end["outcome"]["reason"], "score");
    assert_eq!(match_row(&c, &m.match_id).epoch, 1, "the room never moved");
}

/// Issue 13 point 6: a burst of quick matches spreads over the instances — placement counts
/// the placements still in flight, not only the last heartbeats — within one of N/K each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_rooms_spreads_evenly_over_the_instances() {
    let Some(c) = TestCluster::start(3, None, TTL, &flags("2")).await else {
        return;
    };
    const PAIRS: usize = 12;
    let mut clients = Vec::new();
    for i in 0..2 * PAIRS {
        let at = i % 3;
        let (t, _) = c.guest(at).await;
        let (cl, _) = Client::login(c.addr(at), &t).await;
        clients.push(cl);
    }
    for cl in &mut clients {
        cl.send(json!({"type": "queue"})).await;
    }
    let mut rooms = std::collections::HashSet::new();
    for cl in &mut clients {
        let f = cl
            .expect_within("match_found", Duration::from_secs(30))
            .await;
        rooms.insert(f["room"].as_str().unwrap().to_string());
    }
    assert_eq!(rooms.len(), PAIRS, "one room per pair");
    let per = eventually(TTL, "every room has an owner", || async {
        let per = c.rooms_by_instance();
        (per.iter().sum::<usize>() == PAIRS).then_some(per)
    })
    .await;
    eprintln!("{PAIRS} rooms over 3 instances: {per:?}");
    let fair = PAIRS / 3;
    assert!(
        per.iter().all(|n| n.abs_diff(fair) <= 1),
        "within one of {fair} each: {per:?}"
    );
}

/// Issue 13 point 6: a placement request that goes unanswered (its target is paused) makes the
/// room on the placing instance with the ids the request named; when the target wakes up and
/// handles the request, the match row already exists and it creates nothing: one room, one
/// match row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_placement_makes_one_room() {
    // A longer lease: the paused target still looks alive when the placement is decided.
    let ttl = Duration::from_secs(3);
    let Some(c) = TestCluster::start(2, None, ttl, &flags("2")).await else {
        return;
    };
    let (token, _) = c.guest(0).await;
    let create = || async {
        let t0 = Instant::now();
        let r = c
            .http
            .post(format!("http://{}/api/v1/rooms", c.addr(0)))
            .bearer_auth(&token)
            .json(&json!({"game": "pong"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        (r.json::<Value>().await.unwrap(), t0.elapsed())
    };
    // The first room stays on instance 0 (a tie goes to the asking instance)...
    let (first, _) = create().await;
    let first_room = first["room"].as_str().unwrap().to_string();
    assert_eq!(c.owner_of_room(&first_room), Some(0));
    // ...so the next one is placed on instance 1, which does not answer.
    c.stop(1);
    let (second, took) = create().await;
    c.cont(1);
    let room = second["room"].as_str().unwrap().to_string();
    eprintln!("created after {took:?} (unanswered placement)");
    assert!(
        took >= Duration::from_millis(500),
        "the request to the paused instance was waited for"
    );
    // Instance 1 handles the late request now: its insert is refused, nothing starts there.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        c.owner_of_room(&room),
        Some(0),
        "the room runs on instance 0"
    );
    let rows = common::invariants::all_matches(&c);
    assert_eq!(rows.len(), 2, "one match row per room: {rows:?}");
    assert_eq!(
        rows.iter().filter(|r| r.room_id == room).count(),
        1,
        "{rows:?}"
    );
    assert_eq!(
        rows.iter().find(|r| r.room_id == room).unwrap().id,
        second["match"].as_str().unwrap()
    );
    // The room works: joined by its code.
    let (mut p, _) = Client::login(c.addr(1), &token).await;
    p.send(json!({"type": "join", "code": second["code"]}))
        .await;
    assert_eq!(p.expect("joined").await["room"], room.as_str());
}

/// Issue 13 point 7: any instance serves a tournament subscription; the events are relayed
/// from the owner like room traffic; unsubscribing stops them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tournament_events_reach_subscribers_on_any_instance() {
    use common::bot;
    let Some(c) = TestCluster::start(2, None, TTL, &flags("1")).await else {
        return;
    };
    let http = reqwest::Client::new();
    let base = |i: usize| format!("http://{}", c.addr(i));
    bot::register(&http, &base(0), "boss").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(["admin", "grant-organiser", "boss"])
        .env("RALLY_DATABASE_URL", &c.pg.url)
        .env("RALLY_ROOT_KEY_FILE", c.dir.path().join("root.key"))
        .env("RALLY_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success());
    let org = bot::login(&http, &base(0), "boss").await;
    let r = http
        .post(format!("{}/api/v1/admin/tournaments", base(0)))
        .bearer_auth(&org)
        .json(&json!({"name": "Relay", "game": "pong", "format": "single_elimination", "capacity": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http
        .post(format!("{}/api/v1/admin/tournaments/{id}/open", base(0)))
        .bearer_auth(&org)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // A viewer on the instance that does not run the tournament.
    let (viewer, _) = c.guest(1).await;
    let (mut v, _) = Client::login(c.addr(1), &viewer).await;
    v.send(json!({"type": "subscribe", "tournament": id})).await;
    v.expect("subscribed").await;
    let state = v.expect("tournament").await;
    assert_eq!(state["event"], "state");
    assert_eq!(state["view"]["status"], "registration");
    // A player enters through instance 1 (forwarded to the owner): the event comes back.
    let join = |name: &'static str| {
        let (http, base1, id) = (http.clone(), base(1), id.clone());
        async move {
            let a = bot::register(&http, &base1, name).await;
            let r = http
                .post(format!("{base1}/api/v1/tournaments/{id}/join"))
                .bearer_auth(&a.token)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
        }
    };
    join("relay1").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let e = v
            .expect_within("tournament", deadline - Instant::now())
            .await;
        if e["event"] == "entrants" {
            assert_eq!(e["count"], 1);
            break;
        }
    }
    v.send(json!({"type": "unsubscribe", "tournament": id}))
        .await;
    v.expect("unsubscribed").await;
    // Events already on their way before the unsubscription may still arrive.
    while read(&mut v, Duration::from_millis(500)).await.is_some() {}
    join("relay2").await;
    while let Some(m) = read(&mut v, Duration::from_secs(1)).await {
        assert_ne!(m["type"], "tournament", "no event after unsubscribe: {m}");
    }
}

/// A timed loadgen run over several instances ends at its cut (it used to wait for match ends
/// that never came to players who left from a non-owning instance) and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_loadgen_run_over_several_instances_ends_at_its_cut() {
    let Some(c) = TestCluster::start(2, None, TTL, &flags("21")).await else {
        return;
    };
    let t0 = Instant::now();
    let run = Loadgen::start(
        &c,
        &[0, 1],
        &[
            "--rooms",
            "3",
            "--duration",
            "4s",
            "--timeout",
            "60s",
            "--input-hz",
            "30",
        ],
    );
    let (ok, report, out) = run.finish().await;
    let took = t0.elapsed();
    assert!(ok, "loadgen failed:\n{out}");
    assert_eq!(report["errors"], 0, "{report}");
    assert!(report["matches_cut"].as_u64().unwrap() >= 1, "{report}");
    assert!(
        took < Duration::from_secs(40),
        "ended soon after its 4 s cut, not at its timeout: {took:?}"
    );
}

/// Newest connection wins across instances: a second session of the same player on another
/// instance closes the first with 4010, and the second keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_session_on_another_instance_takes_over() {
    let Some(c) = TestCluster::start(2, None, TTL, &flags("2")).await else {
        return;
    };
    let (token, _) = c.guest(0).await;
    let (mut first, _) = Client::login(c.addr(0), &token).await;
    // Presence is written asynchronously: let the first session's write land.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut second, _) = Client::login(c.addr(1), &token).await;
    let code = tokio::time::timeout(TTL * 2, first.expect_close())
        .await
        .expect("the older session is closed");
    assert_eq!(code, Some(4010));
    second.send(json!({"type": "where"})).await;
    second.expect("location").await;
    assert!(
        read(&mut second, Duration::from_millis(500))
            .await
            .is_none(),
        "the newer session stays open and quiet"
    );
}

/// A light-cycles room of four (players on both instances) fails over: its owner is killed
/// mid-match, the survivor adopts it from its checkpoint, every player rejoins through the
/// survivor and gets a full snapshot first, and the match goes on from where it was (no tick
/// goes back to the start) to its end, with places stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_four_player_cycles_room_fails_over_from_its_checkpoint() {
    let Some(mut c) = TestCluster::start(2, None, TTL, &flags("1")).await else {
        return;
    };
    let mut tokens = Vec::new();
    for i in 0..4 {
        tokens.push(c.guest(i % 2).await.0);
    }
    // A big, slow field: nobody crashes while the test looks.
    let config = json!({"seats": 4, "width": 64, "height": 64, "rounds_to_win": 1,
                        "move_every": 30, "round_delay_ms": 10000});
    let r = c
        .http
        .post(format!("http://{}/api/v1/rooms", c.addr(0)))
        .bearer_auth(&tokens[0])
        .json(&json!({"game": "cycles", "config": config}))
        .send()
        .await
        .unwrap();
    let (st, created) = common::TestServer::read(r).await;
    assert_eq!(st, 201, "{created}");
    let room = created["room"].as_str().unwrap().to_string();
    let match_id = created["match"].as_str().unwrap().to_string();
    let mut clients = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let (mut cl, _) = Client::login(c.addr(i % 2), t).await;
        cl.send(json!({"type": "join", "room": room})).await;
        assert_eq!(cl.expect("joined").await["seat"], i);
        clients.push(cl);
    }
    clients[0].expect_room_state("playing").await;
    let owner = c.owner_of_room(&room).expect("owner");
    let survivor = 1 - owner;
    // Play a while, then wait for a checkpoint that has it.
    let mut before = 0;
    while before < 60 {
        before = clients[0].expect("snapshot").await["tick"]
            .as_u64()
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    c.kill9(owner);
    drop(clients);
    let lv = live(&c);
    lv.lock().unwrap().retain(|a| *a == c.addr(survivor));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut back = Vec::new();
    for t in &tokens {
        back.push(common::play::rejoin(&lv, t, &room, deadline).await);
    }
    // The first snapshot after the rejoin is full, and the match resumed past the checkpoint.
    let mut first = None;
    while first.is_none() {
        let v = read(&mut back[0], Duration::from_secs(20)).await.unwrap();
        if v["type"] == "snapshot" {
            first = Some(v);
        }
    }
    let first = first.unwrap();
    assert_eq!(first["state"]["full"], true, "{first}");
    assert!(
        first["tick"].as_u64().unwrap() >= 30,
        "resumed from the checkpoint, not from the start: {first}"
    );
    back[0].expect_room_state("playing").await;
    // Three leave: the one left wins; the result is stored with places.
    for seat in [3, 2, 1] {
        back[seat].send(json!({"type": "leave"})).await;
        back[seat].expect("left").await;
    }
    let end = back[0].expect("match_end").await;
    assert_eq!(end["outcome"]["places"], json!([1, 2, 3, 4]), "{end}");
    let row = eventually(Duration::from_secs(10), "the result stored", || async {
        let row = match_row(&c, &match_id);
        (row.status == "finished").then_some(row)
    })
    .await;
    assert!(row.epoch >= 2, "taken over: {row:?}");
}
