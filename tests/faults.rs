//! The fault suite (issue 13): several real `rally` processes on one Postgres and one Redis,
//! driven by `rally loadgen` (the real binary) or by hand-written players, and broken the way an
//! operator would see them break — kill -9 of a room owner, of a tournament owner and of an
//! instance that only holds sessions; SIGSTOP past the lease (an owner, and a session-only
//! instance) while players send inputs open loop; SIGTERM; Redis FLUSHDB and a Redis restart
//! (on a redis-server of the test's own); kill -9 of an owner as Redis loses its directory (the
//! stranded-match sweep); Postgres unreachable for 10 s (`ALTER DATABASE … ALLOW_CONNECTIONS
//! false` on the test's database, its connections terminated).
//!
//! Every scenario then checks what must hold whatever happened ([`invariants`]): each match has
//! exactly one result row and none is stuck, ratings are the chain of the results, every replay
//! verifies (the taken-over ones included), Redis keeps nothing of finished rooms; loadgen exits
//! 0 with zero errors; and the resume time (fault → seat rejoined) is under the bound
//! docs/reliability.md documents. Each prints one `FAULT` line with its figures (`just faults`
//! collects them). Deadlines derive from the test lease TTL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::bot;
use common::cluster::{eventually, Loadgen, OwnRedis, TestCluster};
use common::durable::Outage;
use common::invariants::{assert_consistent, Allow, Checked};
use common::play::{drain, drive, live, play, private_match, quick_match, Driven, QuickMatch};
use common::tournament::{assert_one_result_per_slot, match_rows};
use common::ws::Client;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Test-sized lease TTL: renewals every 500 ms, a dead owner's rooms adopted within ~2 s.
const TTL: Duration = Duration::from_millis(1500);

/// Server settings of the suite: short matches, short windows.
fn server_flags() -> Vec<&'static str> {
    vec![
        "--points-to-win",
        "2",
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
        "--max-match-duration",
        "60s",
    ]
}

/// How long resuming may take after an instance dies: its leases lapse (one TTL), a survivor's
/// scan adopts the room (a third), the players still routed to the dead owner are told at once
/// (the adopter's `moved`) or notice at their instance's next round (a third), and a client
/// retries its join with a back-off of up to one second — plus scheduling slack for three debug
/// servers and the bots on two shared cores (one more TTL and a second).
fn resume_bound() -> Duration {
    TTL + TTL / 3 + TTL / 3 + Duration::from_secs(1) + TTL + Duration::from_secs(1)
}

/// loadgen arguments of a quick-match run: `rooms` rooms, one match each.
fn quick_run(rooms: &str) -> Vec<&str> {
    vec![
        "--rooms",
        rooms,
        "--matches",
        "1",
        "--miss-rate",
        "0.5",
        "--input-hz",
        "30",
        "--seed",
        "13",
        "--timeout",
        "150s",
        "--idle-timeout",
        "45s",
    ]
}

/// Wait until `n` rooms are playing and have written a checkpoint of play.
async fn rooms_playing(c: &TestCluster, n: usize) {
    eventually(Duration::from_secs(60), "rooms playing", || async {
        let playing = c.counter("rally_rooms{state=\"playing\"}").await as usize;
        let ckpts = common::invariants::keys(c, "ckpt:*").len();
        (playing >= n && ckpts >= n).then_some(())
    })
    .await;
    // A checkpoint of play, not of the countdown.
    tokio::time::sleep(Duration::from_millis(600)).await;
}

/// The instance owning the most rooms.
fn busiest(c: &TestCluster) -> usize {
    let rooms = c.rooms_by_instance();
    let (i, n) = rooms.iter().enumerate().max_by_key(|(_, n)| **n).unwrap();
    assert!(*n > 0, "no instance owns a room: {rooms:?}");
    i
}

/// Fault → play again: from `from` until every room that paused (or was adopted paused) on the
/// instances `on` is counting down or playing again — the gauges `rally_rooms{state}` polled
/// every 100 ms. None when no room paused (and resumed) within `within`.
fn watch_resume(
    c: &TestCluster,
    on: Vec<usize>,
    from: Instant,
    within: Duration,
) -> tokio::task::JoinHandle<Option<Duration>> {
    let urls: Vec<String> = on
        .iter()
        .map(|i| format!("http://{}/metrics", c.addr(*i)))
        .collect();
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut seen = false;
        while from.elapsed() < within {
            let mut paused = 0.0;
            for u in &urls {
                let Ok(r) = http.get(u).send().await else {
                    continue;
                };
                let text = r.text().await.unwrap_or_default();
                paused += text
                    .lines()
                    .filter(|l| l.starts_with("rally_rooms{state=\"paused\"}"))
                    .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
                    .sum::<f64>();
            }
            if paused > 0.0 {
                seen = true;
            } else if seen {
                return Some(from.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    })
}

/// The measured fault → play-again time, checked against `bound`.
/// Zero when no room was seen paused (its players were back before a poll saw it; loadgen's
/// own checks say whether play went on).
async fn resumed(watch: tokio::task::JoinHandle<Option<Duration>>, bound: Duration) -> Duration {
    let took = watch.await.unwrap().unwrap_or_default();
    assert!(
        took <= bound,
        "play resumed after {took:?}, over the bound {bound:?}"
    );
    took
}

/// loadgen exited 0 with no error; returns its report.
fn assert_clean_run(ok: bool, report: &Value, out: &str) {
    assert!(ok, "loadgen failed:\n{out}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["reconnects_failed"], 0, "{report}");
}

/// The largest time loadgen measured from a lost connection to the seat rejoined, checked
/// against the documented bound.
fn resume_ms(report: &Value) -> f64 {
    let max = report["resume_ms"]["max"].as_f64().unwrap_or(0.0);
    assert!(
        max <= resume_bound().as_millis() as f64,
        "resume took {max} ms, over the bound {:?}: {report}",
        resume_bound()
    );
    max
}

fn print_fault(
    name: &str,
    play_again: Duration,
    resume_ms: f64,
    checked: &Checked,
    report: &Value,
) {
    println!(
        "FAULT {name}: play_again_ms={} rejoin_max_ms={resume_ms:.0} matches={} taken_over={} \
         replays_verified={} reconnects={} errors={}",
        play_again.as_millis(),
        checked.finished,
        checked.taken_over,
        checked.replays_verified,
        report["reconnects_ok"],
        report["errors"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_room_owner() {
    let Some(mut c) = TestCluster::start(3, None, TTL, &server_flags()).await else {
        return;
    };
    let run = Loadgen::start(&c, &[0, 1, 2], &quick_run("4"));
    rooms_playing(&c, 3).await;
    let owner = busiest(&c);
    eprintln!(
        "killing instance {owner} (rooms {:?})",
        c.rooms_by_instance()
    );
    let dead_room = c.rooms_of(owner).pop().unwrap();
    c.kill9(owner);
    let watch = watch_resume(&c, c.alive(), Instant::now(), Duration::from_secs(60));
    // Reaching a room that died with its instance: a fast `unavailable` (join again), not a
    // wait for the dead instance's answer.
    let survivor = c.alive()[0];
    let (t, _) = c.guest(survivor).await;
    let (mut v, _) = Client::login(c.addr(survivor), &t).await;
    let asked = Instant::now();
    v.send(json!({"type": "spectate", "room": dead_room})).await;
    let answer = v.expect_within("error", TTL * 2).await;
    let answered = asked.elapsed();
    assert_eq!(answer["code"], "unavailable", "{answer}");
    assert!(
        answered < Duration::from_millis(500),
        "answered after {answered:?}"
    );
    let (ok, report, out) = run.finish().await;
    assert_clean_run(ok, &report, &out);
    assert_eq!(report["matches_completed"], 4, "{report}");
    assert!(report["reconnects_ok"].as_u64().unwrap() >= 1, "{report}");
    let resume = resume_ms(&report);
    let checked = assert_consistent(&c, Allow::default()).await;
    assert!(checked.taken_over >= 1, "{checked:?}");
    assert!(c.counter("rally_failovers_total{kind=\"room\"}").await >= 1.0);
    let again = resumed(watch, resume_bound()).await;
    print_fault("kill -9 room owner", again, resume, &checked, &report);
    println!(
        "FAULT kill -9 room owner: dead_room_answer_ms={}",
        answered.as_millis()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_session_only_instance() {
    let Some(mut c) = TestCluster::start(3, None, TTL, &server_flags()).await else {
        return;
    };
    // Two rooms over three instances: one instance holds only sessions (bots are spread over
    // all three).
    let run = Loadgen::start(&c, &[0, 1, 2], &quick_run("2"));
    rooms_playing(&c, 2).await;
    let rooms = c.rooms_by_instance();
    let Some(victim) = rooms.iter().position(|n| *n == 0) else {
        panic!("every instance owns a room: {rooms:?}");
    };
    eprintln!("killing session-only instance {victim} (rooms {rooms:?})");
    c.kill9(victim);
    let watch = watch_resume(&c, c.alive(), Instant::now(), resume_bound());
    let (ok, report, out) = run.finish().await;
    assert_clean_run(ok, &report, &out);
    assert_eq!(report["matches_completed"], 2, "{report}");
    let resume = resume_ms(&report);
    let checked = assert_consistent(&c, Allow::default()).await;
    assert_eq!(checked.taken_over, 0, "no room moved: {checked:?}");
    // Its players reconnect through the survivors at once and may take their seats back
    // before the owners notice the instance is gone: their rooms need not pause at all.
    let again = resumed(watch, resume_bound()).await;
    print_fault(
        "kill -9 session-only instance",
        again,
        resume,
        &checked,
        &report,
    );
}

/// One hand-written player of a scenario: where its session is, and its driver.
struct Hand {
    /// The instance its session is connected to (at first).
    at: usize,
    /// Its private room.
    room: String,
    driven: Driven,
}

/// Three long private rooms (players on instances 0–1, 1–2, 2–0), both players driven open
/// loop at 60 inputs/s: whichever instance a fault hits holds sessions of rooms on it and
/// elsewhere. Returns the players, two per room, in order.
async fn hands(c: &TestCluster) -> Vec<Hand> {
    let lv = live(c);
    let mut out = Vec::new();
    for (ia, ib) in [(0, 1), (1, 2), (2, 0)] {
        let m = private_match(c, ia, ib, long_match(), false).await;
        for (at, client, token) in [(ia, m.a, m.ta), (ib, m.b, m.tb)] {
            out.push(Hand {
                at,
                room: m.room.clone(),
                driven: drive(client, lv.clone(), token, m.room.clone(), 60),
            });
        }
    }
    out
}

/// End the hand-written matches: stop driving, and the first player of each room resigns.
async fn resign_hands(hands: Vec<Hand>) {
    let mut it = hands.into_iter();
    while let (Some(x), Some(y)) = (it.next(), it.next()) {
        let (mut a, mut b) = (x.driven.stop().await, y.driven.stop().await);
        a.send(json!({"type": "resign"})).await;
        a.expect("match_end").await;
        b.expect("match_end").await;
    }
}

/// SIGSTOP of a room owner past its lease, then SIGCONT, while every player sends inputs open
/// loop (loadgen at 30/s, hand-written players at 60/s): during the stall they pile up in the
/// paused instance's sockets. Survivors adopt its rooms. When it wakes up, every session on it
/// — in a room it owned (the room steps down) or in a room elsewhere (whose owner let the
/// silent session go) — is closed with 1012 at once, never with 4008 for the backlog the
/// stall created (issue 13 points 3 and 4); the players rejoin and play on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_of_a_room_owner_past_its_lease() {
    let Some(c) = TestCluster::start(3, None, TTL, &server_flags()).await else {
        return;
    };
    let hands = hands(&c).await;
    let run = Loadgen::start(&c, &[0, 1, 2], &quick_run("3"));
    rooms_playing(&c, 6).await;
    // The owner to pause: one holding sessions in rooms elsewhere (the zombie case), and in
    // its own rooms if there is such an instance.
    let rooms = c.rooms_by_instance();
    let owners: Vec<usize> = hands
        .iter()
        .map(|h| c.owner_of_room(&h.room).expect("owner"))
        .collect();
    let kinds = |v: usize| {
        let on: Vec<usize> = (0..hands.len()).filter(|&i| hands[i].at == v).collect();
        let local = on.iter().any(|&i| owners[i] == v);
        let remote = on.iter().any(|&i| owners[i] != v);
        (remote, local)
    };
    let owner = (0..3)
        .filter(|&v| rooms[v] > 0 && kinds(v).0)
        .max_by_key(|&v| kinds(v).1)
        .unwrap_or_else(|| panic!("no owner with remote sessions: {rooms:?} {owners:?}"));
    eprintln!(
        "pausing instance {owner} (rooms {rooms:?}; sessions remote/local: {:?})",
        kinds(owner)
    );
    let epochs_before: Vec<(String, i64)> = common::invariants::all_matches(&c)
        .into_iter()
        .map(|r| (r.id, r.epoch))
        .collect();
    c.stop(owner);
    let stopped = Instant::now();
    // Its leases lapse and survivors adopt its rooms; the owners of the other rooms let its
    // silent sessions go; then it wakes up.
    let others: Vec<usize> = (0..3).filter(|i| *i != owner).collect();
    eventually(TTL * 4, "a survivor adopts a room", || async {
        (c.counter_on(&others, "rally_failovers_total{kind=\"room\"}")
            .await
            >= 1.0)
            .then_some(())
    })
    .await;
    let watch = watch_resume(&c, others.clone(), stopped, Duration::from_secs(60));
    tokio::time::sleep(TTL * 2).await;
    c.cont(owner);
    let woke = Instant::now();
    // Each session on the woken instance is told at once: 1012, not 4008 for its backlog.
    let mut told = Duration::ZERO;
    for h in hands.iter().filter(|h| h.at == owner) {
        let (code, at, error) =
            eventually(TTL * 2, "a session on the woken instance is told", || {
                let end = h.driven.first_end();
                async move { end }
            })
            .await;
        assert_eq!(
            code,
            Some(1012),
            "close 1012, then rejoin (last error {error:?})"
        );
        assert!(
            error.as_ref().is_none_or(|e| e["code"] != "rate_limited"),
            "punished for the stall's backlog: {error:?}"
        );
        let after = at.saturating_duration_since(woke);
        assert!(after <= TTL, "told {after:?} after SIGCONT");
        told = told.max(after);
    }
    resign_hands(hands).await;
    let woke_after = woke.duration_since(stopped);
    let (ok, report, out) = run.finish().await;
    assert_clean_run(ok, &report, &out);
    assert_eq!(report["matches_completed"], 3, "{report}");
    let resume = resume_ms(&report);
    eventually(TTL * 2, "the woken owner steps down", || async {
        c.log_tail(owner).contains("stepping down").then_some(())
    })
    .await;
    let checked = assert_consistent(&c, Allow::default()).await;
    assert_eq!(checked.finished, 6, "{checked:?}");
    assert!(checked.taken_over >= 1, "{checked:?}");
    // Whatever the old owner still writes carries its old epoch, which Postgres refuses: the
    // result its adopter recorded stands.
    let taken = common::invariants::all_matches(&c)
        .into_iter()
        .find(|r| r.epoch >= 2)
        .unwrap();
    let old_epoch = epochs_before
        .iter()
        .find(|(id, _)| *id == taken.id)
        .map_or(1, |(_, e)| *e);
    let late = rally::db::matches::FinishedMatch {
        id: taken.id.clone(),
        epoch: old_epoch,
        scores: vec![0, 9],
        winner_seat: Some(1),
        places: vec![2, 1],
        unseated: Vec::new(),
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
    let after = common::invariants::all_matches(&c)
        .into_iter()
        .find(|r| r.id == taken.id)
        .unwrap();
    assert_eq!(
        (after.final_hash, after.winner_seat),
        (taken.final_hash, taken.winner_seat)
    );
    // The players whose sessions were on the paused instance wait for it to wake up (they are
    // told at once then): the bound is the pause plus a resume.
    let again = resumed(watch, woke_after + resume_bound()).await;
    print_fault(
        "SIGSTOP room owner past its lease",
        again,
        resume,
        &checked,
        &report,
    );
    println!(
        "FAULT SIGSTOP room owner past its lease: told_after_sigcont_max_ms={} paused_ms={}",
        told.as_millis(),
        woke_after.as_millis()
    );
}

/// The zombie-session case: an instance holding a player's session (not the room) is paused
/// past its lease while the player keeps sending inputs open loop; the room's owner drops the
/// session (the room pauses, the seat is held). When the instance wakes up, the session is
/// told at once (close 1012, not 4008 for the backlog), the player rejoins through any
/// instance and the match is played to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_of_a_session_only_instance_past_its_lease() {
    let Some(c) = TestCluster::start(3, None, TTL, &server_flags()).await else {
        return;
    };
    let mut m = quick_match(&c, 0, 1).await;
    m.a.expect_room_state("playing").await;
    let owner = c.owner_of_room(&m.room).unwrap();
    // Pause the instance of a player whose room is elsewhere; that player keeps sending inputs
    // open loop (60/s) into the silent socket.
    let victim_is_a = owner != 0;
    let victim = if victim_is_a { 0 } else { 1 };
    let lv = live(&c);
    let (seat_a, room) = (m.seat_a, m.room.clone());
    let (zombie, mut watcher, zombie_token) = if victim_is_a {
        (m.a, m.b, m.ta.clone())
    } else {
        (m.b, m.a, m.tb.clone())
    };
    let zombie = drive(zombie, lv.clone(), zombie_token, room.clone(), 60);
    c.stop(victim);
    let stopped = Instant::now();
    // The owner notices the missing heartbeat and pauses the room, keeping the seat.
    watcher.expect_room_state("paused").await;
    eprintln!("room paused {:?} after SIGSTOP", stopped.elapsed());
    tokio::time::sleep(TTL).await;
    c.cont(victim);
    let woke = Instant::now();
    // The paused instance's session is closed with 1012 at once (before: 36 s of silence),
    // not 4008 for the inputs that piled up during the stall.
    let (code, at, error) =
        eventually(TTL * 2, "the session on the woken instance is told", || {
            let end = zombie.first_end();
            async move { end }
        })
        .await;
    assert_eq!(
        code,
        Some(1012),
        "close 1012: reconnect and rejoin ({error:?})"
    );
    assert!(
        error.as_ref().is_none_or(|e| e["code"] != "rate_limited"),
        "punished for the stall's backlog: {error:?}"
    );
    let told = at.saturating_duration_since(woke);
    eprintln!("session told to reconnect {told:?} after SIGCONT");
    // It rejoined; now both play to the end (a tracks the ball and wins by score).
    let zombie = zombie.stop().await;
    let (ca, cb) = if victim_is_a {
        (zombie, watcher)
    } else {
        (watcher, zombie)
    };
    let pa = tokio::spawn(play(ca, lv.clone(), m.ta, room.clone(), seat_a, true));
    let pb = tokio::spawn(play(cb, lv, m.tb, room, 1 - seat_a, false));
    let end = pa.await.unwrap();
    pb.await.unwrap();
    assert_eq!(
        end["outcome"]["reason"], "score",
        "played to the end, not forfeited"
    );
    let checked = assert_consistent(&c, Allow::default()).await;
    assert_eq!(checked.finished, 1);
    assert!(c.counter("rally_routes_lost_total").await >= 1.0);
    println!(
        "FAULT SIGSTOP session-only instance: told_after_sigcont_ms={} matches={} taken_over={}",
        told.as_millis(),
        checked.finished,
        checked.taken_over
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_of_a_room_owner() {
    let Some(mut c) = TestCluster::start(3, None, TTL, &server_flags()).await else {
        return;
    };
    let run = Loadgen::start(&c, &[0, 1, 2], &quick_run("3"));
    rooms_playing(&c, 3).await;
    let owner = busiest(&c);
    let t0 = Instant::now();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != owner).collect();
    let watch = watch_resume(&c, survivors, t0, Duration::from_secs(20));
    let status = c.terminate(owner);
    assert!(status.success(), "clean exit: {status}");
    let (ok, report, out) = run.finish().await;
    assert_clean_run(ok, &report, &out);
    assert_eq!(report["matches_completed"], 3, "{report}");
    let resume = resume_ms(&report);
    let checked = assert_consistent(&c, Allow::default()).await;
    assert!(checked.taken_over >= 1, "{checked:?}");
    let again = resumed(watch, resume_bound()).await;
    print_fault("SIGTERM room owner", again, resume, &checked, &report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_flushdb_is_invisible_to_players() {
    if common::cluster::redis_url().is_none() {
        return;
    }
    let redis = OwnRedis::spare();
    let Some(c) = TestCluster::start(2, Some(redis.url()), TTL, &server_flags()).await else {
        return;
    };
    let run = Loadgen::start(&c, &[0, 1], &quick_run("3"));
    rooms_playing(&c, 3).await;
    let mut conn = c.redis();
    let () = deadpool_redis::redis::cmd("FLUSHDB")
        .query(&mut conn)
        .unwrap();
    let flushed = Instant::now();
    // Within a lease period every owner has re-announced its rooms.
    eventually(TTL * 2, "the directory is rebuilt", || async {
        (common::invariants::keys(&c, "lease:room:*").len() >= 3).then_some(())
    })
    .await;
    let rebuilt = flushed.elapsed();
    let (ok, report, out) = run.finish().await;
    assert_clean_run(ok, &report, &out);
    assert_eq!(report["matches_completed"], 3, "{report}");
    assert_eq!(
        report["reconnects_ok"], 0,
        "nobody was disconnected: {report}"
    );
    let checked = assert_consistent(&c, Allow::default()).await;
    assert_eq!(checked.taken_over, 0, "no room changed owner: {checked:?}");
    println!(
        "FAULT Redis FLUSHDB: directory_rebuilt_ms={} reconnects=0 matches={} taken_over=0",
        rebuilt.as_millis(),
        checked.finished
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_is_rebuilt_within_a_lease_period() {
    if common::cluster::redis_url().is_none() {
        return;
    }
    let mut redis = OwnRedis::spare();
    let port = redis.port;
    let Some(c) = TestCluster::start(2, Some(redis.url()), TTL, &server_flags()).await else {
        return;
    };
    let run = Loadgen::start(&c, &[0, 1], &quick_run("3"));
    rooms_playing(&c, 3).await;
    redis.kill();
    tokio::time::sleep(TTL / 3).await;
    let _redis = OwnRedis::start(port);
    let back = Instant::now();
    eventually(TTL * 2, "the directory is rebuilt", || async {
        (common::invariants::keys(&c, "lease:room:*").len() >= 3).then_some(())
    })
    .await;
    let rebuilt = back.elapsed();
    let (ok, report, out) = run.finish().await;
    assert_clean_run(ok, &report, &out);
    assert_eq!(report["matches_completed"], 3, "{report}");
    let resume = resume_ms(&report);
    let checked = assert_consistent(&c, Allow::default()).await;
    println!(
        "FAULT Redis restart: directory_rebuilt_ms={} resume_max_ms={resume:.0} matches={} \
         reconnects={}",
        rebuilt.as_millis(),
        checked.finished,
        report["reconnects_ok"]
    );
}

/// How long the stranded-match sweep may take to abandon a match nobody can adopt: the row is
/// at least one sweep period old, then seen stranded by two sweeps a period apart (a period is
/// `SWEEP_EVERY_TTLS` lease TTLs), so at most three periods after the match was created —
/// plus slack for three debug servers on two busy cores (two TTLs and a second).
fn sweep_bound() -> Duration {
    TTL * rally::room::sweep::SWEEP_EVERY_TTLS * 3 + TTL * 2 + Duration::from_secs(1)
}

/// kill -9 of a room owner while Redis loses its directory (FLUSHDB at the same moment): no
/// record is left to adopt the room from, so nobody can resume the match. The survivor's
/// player is told to reconnect (its room has had no owner for two rounds: 1012); the
/// stranded-match sweep abandons the match as `interrupted` (nobody rated) instead of leaving
/// it `playing` for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_room_owner_as_redis_loses_its_directory() {
    if common::cluster::redis_url().is_none() {
        return;
    }
    let redis = OwnRedis::spare();
    let Some(mut c) = TestCluster::start(2, Some(redis.url()), TTL, &server_flags()).await else {
        return;
    };
    let QuickMatch {
        a,
        b,
        room,
        match_id,
        ta,
        tb,
        ..
    } = private_match(&c, 0, 1, long_match(), true).await;
    let owner = c.owner_of_room(&room).expect("owner");
    let survivor = 1 - owner;
    let mut other = if survivor == 0 { a } else { b };
    other.expect_room_state("playing").await;
    eventually(Duration::from_secs(10), "a checkpoint of play", || async {
        (!common::invariants::keys(&c, "ckpt:*").is_empty()).then_some(())
    })
    .await;
    c.kill9(owner);
    let killed = Instant::now();
    let mut conn = c.redis();
    let () = deadpool_redis::redis::cmd("FLUSHDB")
        .query(&mut conn)
        .unwrap();
    let code = tokio::time::timeout(resume_bound(), other.expect_close())
        .await
        .expect("the survivor's player is told its room is gone");
    assert_eq!(code, Some(1012));
    let swept = eventually(sweep_bound(), "the stranded match abandoned", || async {
        let row = common::invariants::all_matches(&c)
            .into_iter()
            .find(|r| r.id == match_id)?;
        (row.status == "abandoned").then_some((row, killed.elapsed()))
    })
    .await;
    let (row, after) = swept;
    assert_eq!(row.end_reason.as_deref(), Some("interrupted"), "{row:?}");
    assert_eq!(row.rating0_after, None, "nobody rated: {row:?}");
    assert_eq!(row.epoch, 2, "the sweep fences the row: {row:?}");
    // Coming back, the player is not sent to the dead room.
    let token = if survivor == 0 { ta } else { tb };
    let (_, welcome) = Client::login(c.addr(survivor), &token).await;
    assert_eq!(welcome["room"], Value::Null, "{welcome}");
    let checked = assert_consistent(&c, Allow::default()).await;
    assert_eq!((checked.finished, checked.abandoned), (0, 1), "{checked:?}");
    assert_eq!(
        c.counter("rally_matches_stranded_total").await,
        1.0,
        "swept once"
    );
    println!(
        "FAULT kill -9 room owner + Redis FLUSHDB: match_abandoned_after_ms={} matches=0 \
         abandoned=1",
        after.as_millis()
    );
}

/// A match that does not end on its own while a test looks (21 points, a serve every 3 s:
/// several minutes even with idle paddles).
fn long_match() -> Value {
    json!({"points_to_win": 21, "serve_delay_ms": 3000})
}

/// How long after a database outage ends every pending write is in: the longest retry delay
/// (with its jitter) and one connection attempt — plus slack for three debug servers and the
/// bots on two shared cores (one TTL and a second).
fn writes_landed_bound() -> Duration {
    rally::durable::MAX_BACKOFF.mul_f64(1.2) + Duration::from_secs(1) + TTL + Duration::from_secs(1)
}

/// Postgres unreachable for 10 s (`ALTER DATABASE … ALLOW_CONNECTIONS false` and every
/// connection to it cut) while loadgen plays over the three instances and a rated match is
/// resigned in the middle of the outage: play goes on and nobody is disconnected; players get
/// `match_end` at once (the result is journaled in Redis); `/readyz` says the database is down
/// and counts the pending writes; once the database answers again every write lands, once,
/// within the documented bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_unreachable_for_10_s() {
    let Some(admin) = common::postgres_admin_url() else {
        return;
    };
    let Some(c) = TestCluster::start(3, None, TTL, &server_flags()).await else {
        return;
    };
    // A rated private room long enough to still be in play during the outage, its players on
    // two instances; it ends by resignation when the test says.
    let QuickMatch { mut a, mut b, .. } = private_match(&c, 0, 1, long_match(), true).await;
    a.expect_room_state("playing").await;
    b.expect_room_state("playing").await;
    let (a, b) = (drain(a), drain(b));
    let run = Loadgen::start(&c, &[0, 1, 2], &quick_run("3"));
    rooms_playing(&c, 4).await;

    let mut outage = Outage::begin(&admin, &c.pg.name);
    eventually(
        Duration::from_secs(20),
        "/readyz reports the database down",
        || async {
            let (st, body) = c.get(0, "/readyz").await;
            (st == 503 && body["database"] == "down").then_some(())
        },
    )
    .await;
    // A result made during the outage is announced at once: journaled, not yet stored.
    let (mut a, mut b) = (a.resume().await, b.resume().await);
    a.send(json!({"type": "resign"})).await;
    let told = Instant::now();
    a.expect("match_end").await;
    b.expect("match_end").await;
    let announced = told.elapsed();
    // The pending writes (their peak) until the database is back.
    let mut pending = 0.0f64;
    while outage.began.elapsed() < Duration::from_secs(10) {
        pending = pending.max(c.counter("rally_durable_pending_writes").await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(pending >= 1.0, "no write was pending during the outage");
    outage.end();
    let back = Instant::now();
    let landed = eventually(
        writes_landed_bound() * 2,
        "every pending write in the database",
        || async {
            for i in c.alive() {
                let (st, body) = c.get(i, "/readyz").await;
                if st != 200 || body["pending_writes"] != 0 {
                    return None;
                }
            }
            Some(back.elapsed())
        },
    )
    .await;
    assert!(
        landed <= writes_landed_bound(),
        "pending writes landed {landed:?} after the outage, over the bound {:?}",
        writes_landed_bound()
    );
    let (a, b) = (drain(a), drain(b));
    let (ok, report, out) = run.finish().await;
    assert_clean_run(ok, &report, &out);
    assert_eq!(report["matches_completed"], 3, "{report}");
    assert_eq!(
        report["reconnects_ok"], 0,
        "nobody was disconnected: {report}"
    );
    let checked = assert_consistent(&c, Allow::default()).await;
    assert_eq!(checked.finished, 4, "{checked:?}");
    assert_eq!(checked.taken_over, 0, "no room changed owner: {checked:?}");
    drop((a.resume().await, b.resume().await));
    println!(
        "FAULT Postgres unreachable 10 s: match_end_during_outage_ms={} pending_peak={pending} \
         writes_landed_after_ms={} matches={} reconnects=0 errors=0",
        announced.as_millis(),
        landed.as_millis(),
        checked.finished,
    );
}

/// A tournament whose owning instance is killed mid-round is played to its end, by play: the
/// bots (spread over every instance, the owner's included) reconnect through the survivors,
/// the adopted tournament replays the interrupted matches in new rooms, and nobody wins by
/// walkover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_tournament_owner_is_played_to_the_end() {
    let mut flags = server_flags();
    flags[1] = "1";
    let Some(mut c) = TestCluster::start(3, None, TTL, &flags).await else {
        return;
    };
    let (id, org) = tournament_on(&c, 0, 4).await;
    let owner_lease = c.redis_get(&format!("lease:tournament:{id}")).unwrap();
    let run = Loadgen::start(
        &c,
        &[0, 1, 2],
        &[
            "--tournament",
            &id,
            "--players",
            "4",
            "--miss-rate",
            "0.4",
            "--seed",
            "21",
            "--timeout",
            "150s",
            "--idle-timeout",
            "45s",
        ],
    );
    eventually(Duration::from_secs(60), "four entrants", || async {
        let view = bot::fetch_view(c.addr(1), &id).await;
        (view["entrants"].as_array().map_or(0, |e| e.len()) == 4).then_some(())
    })
    .await;
    admin(&c, 1, &org, &id, "start").await;
    eventually(
        Duration::from_secs(60),
        "a first-round match playing",
        || async {
            match_rows(&c.pg.url, &id)
                .iter()
                .any(|r| r.0.starts_with("r1") && r.1 == "playing")
                .then_some(())
        },
    )
    .await;
    let killed = Instant::now();
    c.kill9(0);
    let adopted = eventually(TTL * 4, "a survivor adopts the tournament", || async {
        c.redis_get(&format!("lease:tournament:{id}"))
            .filter(|o| *o != owner_lease)
            .map(|_| killed.elapsed())
    })
    .await;
    let (ok, report, out) = run.finish().await;
    assert!(ok, "loadgen --tournament failed:\n{out}");
    assert_eq!(report["status"], "finished", "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    let view = bot::fetch_view(c.addr(1), &id).await;
    let rows = match_rows(&c.pg.url, &id);
    assert_eq!(assert_one_result_per_slot(&rows, &view), 3, "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r.1 == "abandoned" && r.2.as_deref() == Some("interrupted")),
        "the match in flight was replayed: {rows:?}"
    );
    // By play: every result is a score, none a walkover.
    for r in rows.iter().filter(|r| r.1 == "finished") {
        assert_eq!(r.2.as_deref(), Some("score"), "decided by play: {rows:?}");
    }
    let checked = assert_consistent(&c, Allow::default()).await;
    assert!(
        c.counter("rally_failovers_total{kind=\"tournament\"}")
            .await
            >= 1.0
    );
    println!(
        "FAULT kill -9 tournament owner: adopted_after_ms={} matches={} replayed={} reconnects={} \
         errors=0",
        adopted.as_millis(),
        checked.finished,
        report["replayed"],
        report["reconnects"]
    );
}

/// An organiser creates a tournament of `capacity` on instance `at` (which owns it) and opens
/// registration; returns its id and the organiser's token.
async fn tournament_on(c: &TestCluster, at: usize, capacity: u32) -> (String, String) {
    let http = reqwest::Client::new();
    let base = format!("http://{}", c.addr(at));
    bot::register(&http, &base, "boss").await;
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
    let org = bot::login(&http, &base, "boss").await;
    let t = post(
        &format!("{base}/api/v1/admin/tournaments"),
        &org,
        json!({"name": "Hydra", "game": "pong", "format": "single_elimination",
               "capacity": capacity, "no_show_timeout_ms": 30000}),
    )
    .await;
    let id = t["id"].as_str().unwrap().to_string();
    admin(c, at, &org, &id, "open").await;
    (id, org)
}

async fn admin(c: &TestCluster, at: usize, org: &str, id: &str, action: &str) -> Value {
    post(
        &format!(
            "http://{}/api/v1/admin/tournaments/{id}/{action}",
            c.addr(at)
        ),
        org,
        json!({}),
    )
    .await
}

async fn post(url: &str, token: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    let b: Value = r.json().await.unwrap_or(Value::Null);
    assert!(st == 200 || st == 201, "{url}: {st} {b}");
    b
}
