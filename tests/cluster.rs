//! Several instances as one service (real Redis, real Postgres, the real binary as child
//! processes on 127.0.0.x): cross-instance play and spectating, kill -9 failover, a paused
//! owner fenced off, a Redis restart. Deadlines derive from the configured lease TTL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::cluster::{eventually, TestCluster};
use common::ws::Client;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Test-sized lease TTL: renewals every 500 ms, takeover within ~1.5 s of a death.
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
        "--drain-timeout",
        "3s",
        "--shutdown-timeout",
        "2s",
    ]
}

/// How long a failover may take: the dead owner's lease must lapse (TTL), a survivor's next
/// scan must see it (a third of the TTL), plus scheduling slack on a busy 2-core machine.
fn takeover_deadline() -> Duration {
    TTL + TTL / 3 + TTL
}

/// Next text message as JSON, or None on close / silence for `within`.
async fn read(c: &mut Client, within: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(within, c.ws.next()).await {
            Err(_) => return None,
            Ok(None) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).ok(),
            Ok(Some(Ok(Message::Close(_)))) => return None,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// Connect to the first live instance that answers, log in, and (re)join `room`, retrying
/// while the room is between owners.
async fn rejoin(
    live: &Arc<Mutex<Vec<SocketAddr>>>,
    token: &str,
    room: &str,
    deadline: Instant,
) -> Client {
    let mut k = 0usize;
    loop {
        assert!(Instant::now() < deadline, "could not rejoin {room} in time");
        let addrs = live.lock().unwrap().clone();
        let addr = addrs[k % addrs.len()];
        k += 1;
        let Ok(Ok((ws, _))) = tokio::time::timeout(
            Duration::from_secs(2),
            tokio_tungstenite::connect_async(format!("ws://{addr}/ws")),
        )
        .await
        else {
            continue;
        };
        let mut c = Client { ws, seq: 0 };
        c.send(json!({"type": "auth", "token": token})).await;
        let Some(w) = read(&mut c, Duration::from_secs(3)).await else {
            continue;
        };
        if w["type"] != "welcome" {
            continue;
        }
        // welcome.room points the player back to the room, wherever it runs now.
        if w["room"] != room {
            eprintln!("rejoin via {addr}: welcome.room is {}", w["room"]);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        loop {
            c.send(json!({"type": "join", "room": room})).await;
            let mut joined = false;
            let mut retry = false;
            while let Some(v) = read(&mut c, Duration::from_secs(3)).await {
                if v["type"] == "joined" {
                    joined = true;
                    break;
                }
                if v["type"] == "error" {
                    eprintln!("rejoin via {addr}: {v}");
                    retry = true;
                    break;
                }
            }
            if joined {
                return c;
            }
            if !retry || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Play `seat` until the match ends: track the ball (or stand still), reconnecting to a live
/// instance whenever the connection drops or goes silent. Returns the `match_end` message.
async fn play(
    mut c: Client,
    live: Arc<Mutex<Vec<SocketAddr>>>,
    token: String,
    room: String,
    seat: usize,
    track: bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut intent = "stop";
    let mut ping = 0u64;
    let mut last_ping = Instant::now();
    loop {
        assert!(Instant::now() < deadline, "match did not end");
        if last_ping.elapsed() > Duration::from_millis(400) {
            ping += 1;
            c.send(json!({"type": "ping", "id": ping})).await;
            last_ping = Instant::now();
        }
        match read(&mut c, Duration::from_millis(1200)).await {
            Some(v) if v["type"] == "snapshot" && track => {
                let ball_y = v["state"]["ball"][1].as_i64().unwrap_or(4500);
                let pad_y = v["state"]["paddles"][seat].as_i64().unwrap_or(4500);
                let want = if ball_y < pad_y - 200 {
                    "up"
                } else if ball_y > pad_y + 200 {
                    "down"
                } else {
                    "stop"
                };
                if want != intent {
                    intent = want;
                    c.input(want).await;
                }
            }
            Some(v) if v["type"] == "match_end" => return v,
            Some(_) => {}
            None => {
                eprintln!("seat {seat}: connection dropped or silent; rejoining");
                // Dropped (killed instance, 1012 from a moved room) or silent (paused
                // instance): come back through any live instance.
                c = rejoin(&live, &token, &room, deadline).await;
                intent = "stop";
            }
        }
    }
}

/// Both guests queue (a on instance `ia`, b on `ib`) and join the room they are matched into.
async fn quick_match(
    c: &TestCluster,
    ia: usize,
    ib: usize,
) -> (
    Client,
    Client,
    String,
    usize,
    String,
    String,
    String,
    String,
) {
    let (ta, ida) = c.guest(ia).await;
    let (tb, idb) = c.guest(ib).await;
    let (mut a, _) = Client::login(c.addr(ia), &ta).await;
    let (mut b, _) = Client::login(c.addr(ib), &tb).await;
    a.send(json!({"type": "queue"})).await;
    a.expect("queued").await;
    b.send(json!({"type": "queue"})).await;
    b.expect("queued").await;
    let fa = a.expect("match_found").await;
    let fb = b.expect("match_found").await;
    assert_eq!(
        fa["room"], fb["room"],
        "matched into one room across instances"
    );
    let room = fa["room"].as_str().unwrap().to_string();
    a.send(json!({"type": "join", "room": room})).await;
    let ja = a.expect("joined").await;
    b.send(json!({"type": "join", "room": room})).await;
    let jb = b.expect("joined").await;
    assert_ne!(ja["seat"], jb["seat"]);
    let seat_a = ja["seat"].as_u64().unwrap() as usize;
    let match_id = ja["match"].as_str().unwrap().to_string();
    (a, b, room, seat_a, match_id, ta, tb, format!("{ida} {idb}"))
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

fn counter(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
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
    let (a, mut b, room, seat_a, match_id, ta, _tb, ids) = quick_match(&c, 0, 1).await;
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

    let live = Arc::new(Mutex::new(vec![c.addr(0), c.addr(1), c.addr(2)]));
    let player_a = tokio::spawn(play(a, live.clone(), ta, room.clone(), seat_a, true));
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

/// Find the owner, let the match run until a checkpoint exists, then return the owner.
async fn running_with_checkpoint(c: &TestCluster, room: &str, a: &mut Client) -> usize {
    a.expect_room_state("playing").await;
    let owner = c.owner_of_room(room).expect("owner");
    eventually(TTL, "a checkpoint", || async {
        c.redis_get(&format!("ckpt:{room}"))
            .filter(|v| v.contains("\"playing\""))
    })
    .await;
    owner
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_owner_resumes_the_match_on_a_survivor() {
    let Some(mut c) = TestCluster::start(3, None, TTL, &flags("3")).await else {
        return;
    };
    let (mut a, b, room, seat_a, match_id, ta, tb, ids) = quick_match(&c, 0, 1).await;
    let owner = running_with_checkpoint(&c, &room, &mut a).await;
    let old_lease = c.lease_owner(&room).unwrap();
    eprintln!("killing instance {owner}, owner of {room}");

    let killed_at = Instant::now();
    c.kill9(owner);
    let live = Arc::new(Mutex::new(
        c.alive().into_iter().map(|i| c.addr(i)).collect::<Vec<_>>(),
    ));
    // A survivor takes the room over within the lease TTL (plus one scan period).
    let new_lease = eventually(
        takeover_deadline(),
        "a survivor claims the room",
        || async { c.lease_owner(&room).filter(|o| *o != old_lease) },
    )
    .await;
    let took = killed_at.elapsed();
    eprintln!("room adopted by {new_lease} after {took:?}");
    assert!(took <= takeover_deadline());

    // The players come back through the survivors and finish the match.
    let pa = tokio::spawn(play(a, live.clone(), ta, room.clone(), seat_a, true));
    let pb = tokio::spawn(play(b, live.clone(), tb, room.clone(), 1 - seat_a, false));
    let end_a = pa.await.unwrap();
    let end_b = pb.await.unwrap();
    assert_eq!(end_a["outcome"], end_b["outcome"]);
    assert_eq!(end_a["outcome"]["reason"], "score");

    let row = eventually(Duration::from_secs(5), "the result is recorded", || async {
        Some(match_row(&c, &match_id)).filter(|r| r.status == "finished")
    })
    .await;
    assert!(
        row.epoch >= 2,
        "the survivor took the match over (epoch {})",
        row.epoch
    );
    for id in ids.split(' ') {
        assert_eq!(
            games_played(&c, id),
            1,
            "the result is recorded exactly once"
        );
    }
    let failovers: f64 = {
        let mut n = 0.0;
        for i in c.alive() {
            n += counter(&c.metrics(i).await, "rally_failovers_total{kind=\"room\"}");
        }
        n
    };
    assert!(failovers >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_owner_steps_down_and_its_late_writes_are_refused() {
    let Some(c) = TestCluster::start(3, None, TTL, &flags("3")).await else {
        return;
    };
    let (mut a, b, room, seat_a, match_id, ta, tb, ids) = quick_match(&c, 0, 1).await;
    let owner = running_with_checkpoint(&c, &room, &mut a).await;
    let old_lease = c.lease_owner(&room).unwrap();
    let old_epoch = match_row(&c, &match_id).epoch;

    let stopped_at = Instant::now();
    c.stop(owner);
    let live = Arc::new(Mutex::new(
        (0..3)
            .filter(|i| *i != owner)
            .map(|i| c.addr(i))
            .collect::<Vec<_>>(),
    ));
    eventually(
        takeover_deadline(),
        "a survivor claims the room",
        || async { c.lease_owner(&room).filter(|o| *o != old_lease) },
    )
    .await;
    assert!(stopped_at.elapsed() <= takeover_deadline());

    let pa = tokio::spawn(play(a, live.clone(), ta, room.clone(), seat_a, true));
    let pb = tokio::spawn(play(b, live.clone(), tb, room.clone(), 1 - seat_a, false));
    let end_a = pa.await.unwrap();
    pb.await.unwrap();
    assert_eq!(end_a["outcome"]["reason"], "score");
    let row = eventually(Duration::from_secs(5), "the result is recorded", || async {
        Some(match_row(&c, &match_id)).filter(|r| r.status == "finished")
    })
    .await;
    assert!(row.epoch > old_epoch);

    // The old owner wakes up: it learns it lost the room and steps down...
    c.cont(owner);
    eventually(TTL * 2, "the old owner steps down", || async {
        c.log_tail(owner).contains("stepping down").then_some(())
    })
    .await;
    // ...and whatever it still tries to write carries its old epoch, which Postgres refuses.
    let late = rally::db::matches::FinishedMatch {
        id: match_id.clone(),
        epoch: old_epoch,
        scores: [0, 3],
        winner_seat: Some(1 - seat_a as u8),
        end_reason: "resign".into(),
        input_log: "{\"inputs\":[]}".into(),
        final_hash: "stale".into(),
        ticks: 1,
        duration_ms: 1,
    };
    let outcome = c
        .db()
        .run_sync(move |conn| rally::db::matches::finish(conn, &late))
        .unwrap();
    assert_eq!(outcome, rally::db::matches::FinishOutcome::StaleEpoch);
    let after = match_row(&c, &match_id);
    assert_eq!(
        after.winner_seat, row.winner_seat,
        "the result was not overwritten"
    );
    assert_eq!(after.end_reason, row.end_reason);
    assert_eq!(after.epoch, row.epoch);
    for id in ids.split(' ') {
        assert_eq!(games_played(&c, id), 1, "no second rating change");
    }
}

/// A Redis server of the test's own, on a spare port (the shared one is never restarted).
struct OwnRedis {
    child: Option<std::process::Child>,
}

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
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
        OwnRedis { child: Some(child) }
    }

    fn kill(&mut self) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_is_rebuilt_within_one_lease_period() {
    // Only run where the shared test services are configured (same gate as the others).
    if common::cluster::redis_url().is_none() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = OwnRedis::start(port);
    let url = format!("redis://127.0.0.1:{port}");
    let Some(c) = TestCluster::start(2, Some(url), TTL, &flags("3")).await else {
        return;
    };
    let (mut a, b, room, seat_a, match_id, ta, tb, ids) = quick_match(&c, 0, 1).await;
    a.expect_room_state("playing").await;
    a.expect("snapshot").await;

    // Redis goes away and comes back empty.
    redis.kill();
    tokio::time::sleep(TTL / 3).await;
    let _redis = OwnRedis::start(port);
    let back = Instant::now();
    // Within one lease period the owners re-announce: lease, room record, listing, presence.
    eventually(TTL + TTL / 3, "the registry is rebuilt", || async {
        let lease = c.lease_owner(&room)?;
        c.redis_get(&format!("room:{room}"))?;
        let (pa, pb) = {
            let mut it = ids.split(' ');
            (
                it.next().unwrap().to_string(),
                it.next().unwrap().to_string(),
            )
        };
        c.redis_get(&format!("presence:{pa}"))?;
        c.redis_get(&format!("presence:{pb}"))?;
        c.redis_get(&format!("proom:{pa}"))?;
        let listed =
            room_ids(&c, 0).await.0.contains(&room) && room_ids(&c, 1).await.0.contains(&room);
        (listed && !lease.is_empty()).then_some(())
    })
    .await;
    eprintln!(
        "registry rebuilt {:?} after Redis came back",
        back.elapsed()
    );

    // Play continues (or resumes) to a result recorded once.
    let live = Arc::new(Mutex::new(vec![c.addr(0), c.addr(1)]));
    let pa = tokio::spawn(play(a, live.clone(), ta, room.clone(), seat_a, true));
    let pb = tokio::spawn(play(b, live.clone(), tb, room.clone(), 1 - seat_a, false));
    let end_a = pa.await.unwrap();
    let end_b = pb.await.unwrap();
    assert_eq!(end_a["outcome"], end_b["outcome"]);
    let row = eventually(Duration::from_secs(5), "the result is recorded", || async {
        Some(match_row(&c, &match_id)).filter(|r| r.status == "finished")
    })
    .await;
    assert_eq!(row.epoch, 1, "nobody had to take the match over");
    for id in ids.split(' ') {
        assert_eq!(games_played(&c, id), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_rooms_over_and_clients_reconnect() {
    let Some(mut c) = TestCluster::start(2, None, TTL, &flags("3")).await else {
        return;
    };
    let (mut a, b, room, seat_a, match_id, ta, tb, ids) = quick_match(&c, 0, 1).await;
    let owner = running_with_checkpoint(&c, &room, &mut a).await;
    let old_lease = c.lease_owner(&room).unwrap();
    let t0 = Instant::now();
    let status = c.terminate(owner);
    assert!(status.success(), "clean exit: {status}");
    // Handed over at once (the final checkpoint is written and the lease released), well
    // before the lease could have lapsed.
    eventually(TTL, "the survivor adopts the room", || async {
        c.lease_owner(&room).filter(|o| *o != old_lease)
    })
    .await;
    eprintln!("handed over {:?} after SIGTERM", t0.elapsed());
    let live = Arc::new(Mutex::new(
        c.alive().into_iter().map(|i| c.addr(i)).collect::<Vec<_>>(),
    ));
    let pa = tokio::spawn(play(a, live.clone(), ta, room.clone(), seat_a, true));
    let pb = tokio::spawn(play(b, live.clone(), tb, room.clone(), 1 - seat_a, false));
    let end_a = pa.await.unwrap();
    pb.await.unwrap();
    assert_eq!(end_a["outcome"]["reason"], "score");
    let row = eventually(Duration::from_secs(5), "the result is recorded", || async {
        Some(match_row(&c, &match_id)).filter(|r| r.status == "finished")
    })
    .await;
    assert!(row.epoch >= 2);
    for id in ids.split(' ') {
        assert_eq!(games_played(&c, id), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_session_instance_pauses_the_room_and_the_player_comes_back() {
    let Some(mut c) = TestCluster::start(3, None, TTL, &flags("2")).await else {
        return;
    };
    let (mut a, mut b, room, seat_a, match_id, ta, tb, _) = quick_match(&c, 0, 1).await;
    a.expect_room_state("playing").await;
    let owner = c.owner_of_room(&room).unwrap();
    // Kill an instance that hosts a player's session but not the room.
    let (victim, victim_is_a) = if owner == 1 { (0, true) } else { (1, false) };
    c.kill9(victim);
    let killed = Instant::now();
    let watcher = if victim_is_a { &mut b } else { &mut a };
    // The owner notices the missing heartbeat (lease TTL, then two upkeep rounds) and
    // detaches the remote session as it would a dropped local one: the room pauses.
    let paused = watcher
        .expect_within("room", takeover_deadline() + TTL)
        .await;
    let paused = if paused["state"] == "paused" {
        paused
    } else {
        watcher.expect_room_state("paused").await
    };
    assert!(killed.elapsed() <= takeover_deadline() + TTL, "{paused}");
    // The player comes back through a survivor and the match finishes.
    let live = Arc::new(Mutex::new(
        c.alive().into_iter().map(|i| c.addr(i)).collect::<Vec<_>>(),
    ));
    let pa = tokio::spawn(play(a, live.clone(), ta, room.clone(), seat_a, true));
    let pb = tokio::spawn(play(b, live.clone(), tb, room.clone(), 1 - seat_a, false));
    let end_a = pa.await.unwrap();
    pb.await.unwrap();
    assert_eq!(end_a["outcome"]["reason"], "score");
    let row = eventually(Duration::from_secs(5), "the result is recorded", || async {
        Some(match_row(&c, &match_id)).filter(|r| r.status == "finished")
    })
    .await;
    assert_eq!(row.epoch, 1, "the room never moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_tournament_owner_mid_round_finishes_on_the_survivors() {
    use common::bot::{self, Style};
    use common::tournament::{assert_one_result_per_slot, match_rows};
    let mut extra = flags("1");
    extra.extend(["--max-match-duration", "8s"]);
    let Some(mut c) = TestCluster::start(3, None, TTL, &extra).await else {
        return;
    };
    let http = reqwest::Client::new();
    let base = |i: usize| format!("http://{}", c.addr(i));
    // An organiser creates the tournament on instance 0, which owns it (its lease).
    bot::register(&http, &base(0), "boss").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(["admin", "grant-organiser", "boss"])
        .env("RALLY_DATABASE_URL", &c.pg.url)
        .env("RALLY_ROOT_KEY_FILE", c.dir.path().join("root.key"))
        .env("RALLY_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let org = bot::login(&http, &base(0), "boss").await;
    let post = |url: String, token: String, body: Value| {
        let http = http.clone();
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let st = r.status().as_u16();
            let b: Value = r.json().await.unwrap_or(Value::Null);
            assert!(st == 200 || st == 201, "{st} {b}");
            b
        }
    };
    let t = post(
        format!("{}/api/v1/admin/tournaments", base(0)),
        org.clone(),
        json!({"name": "Hydra", "game": "pong", "format": "single_elimination",
               "capacity": 4, "no_show_timeout_ms": 30000}),
    )
    .await;
    let id = t["id"].as_str().unwrap().to_string();
    assert!(
        c.redis_get(&format!("lease:tournament:{id}")).is_some(),
        "the creating instance holds the tournament's lease"
    );
    let owner_lease = c.redis_get(&format!("lease:tournament:{id}")).unwrap();
    post(
        format!("{}/api/v1/admin/tournaments/{id}/open", base(0)),
        org.clone(),
        json!({}),
    )
    .await;
    // Four entrants, connected to the two other instances: their join requests are forwarded
    // to the owning instance.
    let mut players = Vec::new();
    for i in 0..4 {
        let at = 1 + i % 2;
        let a = bot::register(&http, &base(at), &format!("hyd{i}")).await;
        post(
            format!("{}/api/v1/tournaments/{id}/join", base(at)),
            a.token.clone(),
            json!({}),
        )
        .await;
        players.push((a, at));
    }
    post(
        format!("{}/api/v1/admin/tournaments/{id}/start", base(2)),
        org.clone(),
        json!({}),
    )
    .await;
    let bots: Vec<_> = players
        .iter()
        .enumerate()
        .map(|(i, (who, at))| {
            tokio::spawn(bot::play(
                c.addr(*at),
                who.clone(),
                id.clone(),
                Style::Track {
                    lag: 1 + 4 * i as u32,
                },
                Duration::from_secs(150),
            ))
        })
        .collect();
    // Mid-round: a first-round match is being played on the owner.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = match_rows(&c.pg.url, &id);
        if rows
            .iter()
            .any(|r| r.0.starts_with("r1") && r.1 == "playing")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no match started: {rows:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = Instant::now();
    c.kill9(0);
    // A survivor adopts the tournament within the lease TTL (plus one scan).
    let new_owner = eventually(
        takeover_deadline(),
        "a survivor adopts the tournament",
        || {
            let key = format!("lease:tournament:{id}");
            let c = &c;
            let owner_lease = owner_lease.clone();
            async move { c.redis_get(&key).filter(|o| *o != owner_lease) }
        },
    )
    .await;
    eprintln!(
        "tournament adopted by {new_owner} after {:?}",
        killed.elapsed()
    );
    // Everybody keeps playing through the survivors; the tournament finishes there.
    for b in bots {
        let report = b.await.unwrap();
        assert_eq!(
            report.final_status.as_deref(),
            Some("finished"),
            "{report:?}"
        );
    }
    let view = bot::fetch_view(c.addr(1), &id).await;
    assert_eq!(view["status"], "finished", "{view}");
    let rows = match_rows(&c.pg.url, &id);
    assert_eq!(assert_one_result_per_slot(&rows, &view), 3, "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r.1 == "abandoned" && r.2.as_deref() == Some("interrupted")),
        "the match in flight was replayed: {rows:?}"
    );
    let mut failovers = 0.0;
    for i in c.alive() {
        failovers += counter(
            &c.metrics(i).await,
            "rally_failovers_total{kind=\"tournament\"}",
        );
    }
    assert!(failovers >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_bots_whose_instance_dies_resume_through_the_other() {
    use rally::bot::loadgen::{self, Mode, Options};
    let Some(mut c) = TestCluster::start(2, None, TTL, &flags("3")).await else {
        return;
    };
    let mut opts = Options::new(String::new(), 3, 1);
    opts.urls = (0..2).map(|i| format!("http://{}", c.addr(i))).collect();
    opts.mode = Mode::Quick;
    opts.seed = 11;
    opts.progress_every = None;
    opts.timeout = Duration::from_secs(120);
    let run = tokio::spawn(loadgen::run(opts));
    // Bots alternate between the instances, so every room has a player on instance 0.
    eventually(Duration::from_secs(30), "three rooms playing", || async {
        let mut playing = 0.0;
        for i in c.alive() {
            playing += counter(&c.metrics(i).await, "rally_rooms{state=\"playing\"}");
        }
        (playing >= 3.0).then_some(())
    })
    .await;
    c.kill9(0);
    let report = run.await.expect("loadgen task").expect("valid options");
    let json = serde_json::to_string(&report).unwrap_or_default();
    assert_eq!(report.errors, 0, "{json}\n{}", c.log_tail(1));
    assert_eq!(report.matches_completed, 3, "{json}");
    assert_eq!(report.instances, 2);
    // At least the three bots connected to the dead instance came back through the other.
    assert!(report.reconnects_ok >= 3, "{json}");
    assert_eq!(report.reconnects_failed, 0, "{json}");
    assert!(report.ok(), "{json}");
}
