//! Inputs stamped with the tick they are for (`input.tick`, docs/protocol.md §9), over real
//! WebSockets: an input that arrives in time is applied at the tick it names, a late one at the
//! next tick (never retroactively), a tick named too far ahead at the documented bound; every
//! snapshot's `ack_ticks` says where each seat's acked input took effect; the replay records the
//! tick actually used and still verifies.
//!
//! Determinism on a loaded machine: the scheduled inputs are sent during the countdown, while
//! game time is frozen at tick 0, so where they land does not depend on how fast anything runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::ws::{Client, Event};
use common::{Backend, TestServer};
use rally::room::MAX_INPUT_LEAD_TICKS;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// A paddle moves this many units per tick (Pong defaults: 12000 / 60).
const STEP: i64 = 200;

/// Every playing snapshot seen, by tick.
#[derive(Default)]
struct Seen {
    snaps: BTreeMap<u64, Value>,
}

impl Seen {
    fn paddle(&self, tick: u64, seat: usize) -> i64 {
        self.snaps
            .get(&tick)
            .unwrap_or_else(|| panic!("no snapshot of tick {tick}"))["state"]["paddles"][seat]
            .as_i64()
            .unwrap()
    }

    fn last_tick(&self) -> u64 {
        self.snaps.keys().next_back().copied().unwrap_or(0)
    }

    /// Read snapshots on `c` until `until` holds for one; returns that one.
    async fn read_until(
        &mut self,
        c: &mut Client,
        what: &str,
        until: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what}");
            match c.next(left).await {
                Event::Msg(v) if v["type"] == "snapshot" => {
                    let tick = v["tick"].as_u64().unwrap();
                    if tick > 0 {
                        self.snaps.insert(tick, v.clone());
                    }
                    if until(&v) {
                        return v;
                    }
                }
                Event::Msg(v) if v["type"] == "error" => {
                    panic!("error while waiting for {what}: {v}")
                }
                Event::Msg(_) => {}
                Event::Closed(code) => panic!("closed ({code:?}) while waiting for {what}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_take_effect_at_the_tick_they_name_late_ones_at_the_next_and_replays_verify() {
    // A long countdown: the scheduled inputs below surely arrive while game time is frozen.
    let s = TestServer::start(
        Backend::Sqlite,
        &["--countdown", "3s", "--room-linger", "1s"],
    )
    .await
    .unwrap();
    let (ta, tb) = (s.guest().await, s.guest().await);
    // The ball rests 5 s before the first serve: no point (which would re-centre things)
    // can interfere with the paddle positions checked below.
    let (_, created) = s
        .post(
            "/api/v1/rooms",
            Some(&ta),
            json!({"config": {"points_to_win": 21, "serve_delay_ms": 5000}}),
        )
        .await;
    let room = created["room"].as_str().unwrap().to_string();
    let match_id = created["match"].as_str().unwrap().to_string();
    let (mut a, _) = Client::login(s.addr, &ta).await;
    let (mut b, _) = Client::login(s.addr, &tb).await;
    a.send(json!({"type": "join", "room": room})).await;
    let sa = a.expect("joined").await["seat"].as_u64().unwrap() as usize;
    b.send(json!({"type": "join", "room": room})).await;
    let sb = b.expect("joined").await["seat"].as_u64().unwrap() as usize;
    a.expect_room_state("countdown").await;

    // A malformed tick is refused like any bad field.
    a.send(json!({"type": "input", "seq": 1, "input": "up", "tick": -3}))
        .await;
    let e = a.expect("error").await;
    assert_eq!(e["code"], "invalid_field", "{e}");

    // During the countdown (game tick 0, the next tick is 1): a presses up for tick 5 and
    // releases for tick 10; b names a tick far in the future, held only up to the bound.
    a.send(json!({"type": "input", "seq": 1, "input": "up", "tick": 5}))
        .await;
    a.send(json!({"type": "input", "seq": 2, "input": "stop", "tick": 10}))
        .await;
    b.send(json!({"type": "input", "seq": 1, "input": "down", "tick": 1_000_000}))
        .await;
    // b then says nothing more; keep its socket read so the server never sees a slow reader.
    let drain_b = tokio::spawn(async move {
        loop {
            if let Event::Closed(_) = b.next(Duration::from_secs(60)).await {
                break;
            }
        }
    });
    let far = 1 + MAX_INPUT_LEAD_TICKS;
    let mut seen = Seen::default();
    seen.read_until(&mut a, "the far-future input", |v| {
        v["tick"].as_u64().unwrap() >= far + 2
    })
    .await;
    let y0 = seen.paddle(1, sa);
    // Up takes effect exactly at tick 5: the snapshot of tick 5 is the first that moved.
    for t in 1..5 {
        assert_eq!(
            seen.paddle(t, sa),
            y0,
            "a's paddle moved before tick 5 (tick {t})"
        );
        assert_eq!(
            seen.snaps[&t]["acks"][sa], 0,
            "acked before tick 5 (tick {t})"
        );
        assert_eq!(seen.snaps[&t]["ack_ticks"][sa], 0);
    }
    assert_eq!(seen.paddle(5, sa), y0 - STEP);
    assert_eq!(seen.snaps[&5]["acks"][sa], 1);
    assert_eq!(seen.snaps[&5]["ack_ticks"][sa], 5);
    // Stop takes effect exactly at tick 10: the paddle moved during ticks 5..=9 only.
    assert_eq!(seen.paddle(9, sa), y0 - 5 * STEP);
    assert_eq!(seen.paddle(10, sa), y0 - 5 * STEP);
    assert_eq!(seen.snaps[&9]["ack_ticks"][sa], 5);
    assert_eq!(seen.snaps[&10]["acks"][sa], 2);
    assert_eq!(seen.snaps[&10]["ack_ticks"][sa], 10);
    // b's far-future tick is applied at the bound: next tick + MAX_INPUT_LEAD_TICKS.
    let yb = seen.paddle(1, sb);
    assert_eq!(seen.paddle(far - 1, sb), yb, "b moved before the bound");
    assert_eq!(seen.snaps[&(far - 1)]["acks"][sb], 0);
    assert_eq!(seen.paddle(far, sb), yb + STEP);
    assert_eq!(seen.snaps[&far]["acks"][sb], 1);
    assert_eq!(seen.snaps[&far]["ack_ticks"][sb], far);

    // Late: a names tick 1, long past. It is applied at the next tick after it arrives — after
    // every tick already seen, never retroactively.
    let before = seen.last_tick();
    a.send(json!({"type": "input", "seq": 3, "input": "down", "tick": 1}))
        .await;
    let acked = seen
        .read_until(&mut a, "the late input's ack", |v| v["acks"][sa] == 3)
        .await;
    let late = acked["ack_ticks"][sa].as_u64().unwrap();
    assert!(
        late > before,
        "applied at {late}, before tick {before} was seen"
    );
    assert_eq!(
        late,
        acked["tick"].as_u64().unwrap(),
        "first acked in its own tick"
    );
    assert_eq!(
        seen.paddle(late - 1, sa),
        y0 - 5 * STEP,
        "moved before {late}"
    );
    assert_eq!(seen.paddle(late, sa), y0 - 4 * STEP);

    // An input without a tick behaves as before the field existed: the next tick.
    let before = seen.last_tick();
    a.send(json!({"type": "input", "seq": 4, "input": "stop"}))
        .await;
    let acked = seen
        .read_until(&mut a, "the untimed input's ack", |v| v["acks"][sa] == 4)
        .await;
    let untimed = acked["ack_ticks"][sa].as_u64().unwrap();
    assert!(untimed > before);
    assert_eq!(untimed, acked["tick"].as_u64().unwrap());
    let stopped = seen.paddle(untimed, sa);
    assert_eq!(
        stopped,
        seen.paddle(untimed - 1, sa),
        "stop applied at {untimed}"
    );

    // The replay records the tick each input was actually applied at (the log's tick is
    // `game.tick()` before the step, so one less than the ack tick) and verifies.
    a.send(json!({"type": "resign"})).await;
    a.expect("match_end").await;
    let replay = s.finished_replay(&match_id, Duration::from_secs(15)).await;
    let logged = |seat: usize| -> Vec<(u64, String)> {
        replay["log"]["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i[1].as_u64() == Some(seat as u64))
            .map(|i| (i[0].as_u64().unwrap(), i[2].as_str().unwrap().to_string()))
            .collect()
    };
    assert_eq!(
        logged(sa),
        vec![
            (4, "up".to_string()),
            (9, "stop".to_string()),
            (late - 1, "down".to_string()),
            (untimed - 1, "stop".to_string()),
        ],
        "{replay}"
    );
    assert_eq!(logged(sb), vec![(far - 1, "down".to_string())], "{replay}");
    let out = s.rally_cli(&["replay", "verify", &match_id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drain_b.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seat_cannot_hold_more_than_its_share_of_scheduled_inputs() {
    let s = TestServer::start(Backend::Sqlite, &["--countdown", "3s"])
        .await
        .unwrap();
    let (ta, tb) = (s.guest().await, s.guest().await);
    let (_, created) = s
        .post(
            "/api/v1/rooms",
            Some(&ta),
            json!({"config": {"points_to_win": 21}}),
        )
        .await;
    let room = created["room"].as_str().unwrap().to_string();
    let (mut a, _) = Client::login(s.addr, &ta).await;
    let (mut b, _) = Client::login(s.addr, &tb).await;
    a.send(json!({"type": "join", "room": room})).await;
    let sa = a.expect("joined").await["seat"].as_u64().unwrap() as usize;
    b.send(json!({"type": "join", "room": room})).await;
    let sb = b.expect("joined").await["seat"].as_u64().unwrap() as usize;
    a.expect_room_state("countdown").await;
    let dropped_before = s
        .metric("rally_inputs_total", &[("result", "dropped")])
        .await;
    // a floods inputs held for a later tick (alternating, so none is a repeat): only its share
    // (half of the room's 64) is held; the rest are dropped.
    let share = rally::room::MAX_PENDING_INPUTS as u64 / 2;
    for seq in 1..=share + 8 {
        let intent = if seq % 2 == 0 { "up" } else { "down" };
        a.send(json!({"type": "input", "seq": seq, "input": intent, "tick": 20}))
            .await;
    }
    // b's input still gets in, and is applied at its tick.
    b.send(json!({"type": "input", "seq": 1, "input": "up", "tick": 3}))
        .await;
    let mut seen = Seen::default();
    let v = seen
        .read_until(&mut a, "both seats' inputs applied", |v| {
            v["tick"].as_u64().unwrap() >= 21
        })
        .await;
    assert_eq!(v["acks"][sa], share, "a's held inputs: {v}");
    assert_eq!(v["ack_ticks"][sa], 20);
    assert_eq!(v["acks"][sb], 1, "{v}");
    assert_eq!(v["ack_ticks"][sb], 3);
    let dropped = s
        .metric("rally_inputs_total", &[("result", "dropped")])
        .await
        - dropped_before;
    assert!(
        dropped >= 8.0,
        "the excess was not counted as dropped: {dropped}"
    );
}
