//! The real binary under hostile clients: its memory stays bounded while they keep sending,
//! a match in another room keeps its 60 snapshots per second, a server-side stall does not
//! get well-paced players kicked, and a client that stops reading is dropped within the send
//! timeout and still reads the documented close.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::binary::Binary;
use common::raw::{frame, header, Raw};
use common::ws::{Client, Event};
use serde_json::json;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The tests of this file run one at a time: each loads the machine on purpose, and a test
/// that measures a match's pace must not measure another test's load.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Two players in a private room, playing (points to win: 21, so it lasts).
async fn live_match(b: &Binary) -> (Client, Client, String) {
    let (ta, tb) = (b.guest().await, b.guest().await);
    let (st, created) = b
        .post(
            "/api/v1/rooms",
            Some(&ta),
            json!({"config": {"points_to_win": 21}}),
        )
        .await;
    assert_eq!(st, 201, "{created}");
    let room = created["room"].as_str().unwrap().to_string();
    let (mut a, _) = Client::login(b.addr, &ta).await;
    let (mut c, _) = Client::login(b.addr, &tb).await;
    a.send(json!({"type": "join", "room": room})).await;
    a.expect("joined").await;
    c.send(json!({"type": "join", "room": room})).await;
    c.expect("joined").await;
    a.expect_room_state("playing").await;
    c.expect_room_state("playing").await;
    (a, c, room)
}

/// Snapshots seen by `c` over `d`: (tick, arrival) pairs.
async fn snapshots_for(c: &mut Client, d: Duration) -> Vec<(u64, Instant)> {
    let end = tokio::time::Instant::now() + d;
    let mut seen = Vec::new();
    loop {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return seen;
        }
        match tokio::time::timeout(left, c.next(Duration::from_secs(10))).await {
            Ok(Event::Msg(v)) if v["type"] == "snapshot" => {
                seen.push((v["tick"].as_u64().unwrap(), Instant::now()));
            }
            Ok(Event::Msg(v)) if v["type"] == "error" => panic!("error during the match: {v}"),
            Ok(Event::Msg(_)) => {}
            Ok(Event::Closed(code)) => panic!("the player was disconnected: {code:?}"),
            Err(_) => return seen,
        }
    }
}

/// The room kept its clock: every tick's snapshot arrived, in order, and game time kept pace
/// with the client's clock (a room that falls behind skips ticks without advancing its tick
/// number, so a slowed room shows as fewer ticks per second of the client's time).
fn assert_sixty_per_second(seen: &[(u64, Instant)]) {
    assert!(seen.len() > 60, "too few snapshots: {}", seen.len());
    for w in seen.windows(2) {
        assert_eq!(w[1].0, w[0].0 + 1, "a snapshot tick is missing or repeated");
    }
    let span = seen[seen.len() - 1].1 - seen[0].1;
    let ticks = (seen[seen.len() - 1].0 - seen[0].0) as f64;
    let rate = ticks / span.as_secs_f64();
    // 10 % below 60 Hz is what this shared 2-core machine's scheduling may cost on its own.
    assert!(
        rate >= 54.0,
        "the room ran at {rate:.1} ticks/s while hostile clients ran"
    );
}

/// Keep a client reading (so its socket never backs up) until `stop`.
fn drain(mut c: Client, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            if let Event::Closed(code) = c.next(Duration::from_secs(30)).await {
                panic!("a player was disconnected: {code:?}");
            }
        }
    })
}

/// One hostile client, looping until `stop`: each kind of abuse, from a source address of its
/// own (127.0.0.2 …) so the per-address bound on waiting connections is what refuses the
/// flood, not the total.
async fn hostile(addr: std::net::SocketAddr, kind: u8, stop: Arc<AtomicBool>) {
    let from: IpAddr = format!("127.0.0.{}", 2 + kind).parse().unwrap();
    while !stop.load(Ordering::Relaxed) {
        let (mut c, status, _) = Raw::open(addr, Some(from)).await;
        if status != 101 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        match kind {
            // Declares 64 MiB and streams the payload as fast as the socket takes it.
            0 => {
                let mut f = header(true, 1, 64 << 20);
                f.extend_from_slice(&[1, 2, 3, 4]);
                c.send(&f).await;
                let chunk = vec![b'x'; 64 * 1024];
                for _ in 0..64 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    c.send(&chunk).await;
                }
            }
            // Fragments up to and past the reassembly limit, again and again.
            1 => {
                c.send(&frame(false, 1, &[b' '; 4000])).await;
                for _ in 0..8 {
                    c.send(&frame(false, 0, &[b' '; 4000])).await;
                }
            }
            // A frame of the largest size allowed, trickled (the auth window ends it).
            2 => {
                let mut f = header(true, 1, rally::protocol::MAX_FRAME_BYTES as u64);
                f.extend_from_slice(&[1, 2, 3, 4]);
                c.send(&f).await;
                for _ in 0..40 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    c.send(&[b' '; 64]).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            // A message flood (the rate limit closes it) with garbage mixed in.
            _ => {
                let mut burst = Vec::new();
                for i in 0..400 {
                    burst.extend(frame(
                        true,
                        1,
                        format!("{{\"type\":\"ping\",\"id\":{i}}}").as_bytes(),
                    ));
                    burst.extend(frame(true, 1, b"nope"));
                }
                c.send(&burst).await;
            }
        }
        // Read whatever the server answered (without waiting long for it).
        let _ = tokio::time::timeout(Duration::from_millis(200), read_to_close(&mut c)).await;
    }
}

/// Read until the server's close frame or the end of the connection.
async fn read_to_close(c: &mut Raw) {
    loop {
        match c.next(Duration::from_secs(2)).await {
            common::raw::Got::Frame(common::raw::Frame::Close(..)) => return,
            common::raw::Got::Frame(_) => {}
            _ => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_and_a_match_keeps_ticking_under_hostile_clients() {
    let _serial = SERIAL.lock().await;
    let b = Binary::start(&[("RALLY_WS_AUTH_TIMEOUT", "2s")]).await;
    let (mut a, c, _) = live_match(&b).await;
    let stop = Arc::new(AtomicBool::new(false));
    let other = drain(c, stop.clone());
    // The match ticks before the abuse starts; memory now is the baseline.
    snapshots_for(&mut a, Duration::from_millis(500)).await;
    let baseline = b.rss_kib();
    let mut abusers = Vec::new();
    for kind in 0..4u8 {
        for _ in 0..4 {
            abusers.push(tokio::spawn(hostile(b.addr, kind, stop.clone())));
        }
    }
    // An idle upgrade flood from one more address, past the per-address bound.
    let mut idle = Vec::new();
    let mut refused = 0;
    for _ in 0..100 {
        let (c, status, _) = Raw::open(b.addr, Some("127.0.0.9".parse().unwrap())).await;
        if status == 101 {
            idle.push(c);
        } else {
            assert_eq!(status, 429);
            refused += 1;
        }
    }
    assert!(refused > 0, "the idle flood was never refused");
    // While they keep at it: the match's snapshots and the server's memory.
    let mut peak = 0;
    let mut seen = Vec::new();
    for _ in 0..8 {
        seen.extend(snapshots_for(&mut a, Duration::from_millis(500)).await);
        peak = peak.max(b.rss_kib());
    }
    stop.store(true, Ordering::Relaxed);
    for h in abusers {
        let _ = h.await;
    }
    assert_sixty_per_second(&seen);
    let grown = peak.saturating_sub(baseline);
    eprintln!("rss baseline {baseline} KiB, peak {peak} KiB under hostile clients");
    // Without header-first limits one streaming client alone took 32 MiB; here 16 abusers
    // and 100 idle upgrades run for 4 s. What they may cost: their sessions and the frames
    // allowed in flight (a few MiB), not the payloads they declare.
    assert!(
        grown < 24 * 1024,
        "RSS grew by {grown} KiB (baseline {baseline} KiB, peak {peak} KiB)"
    );
    other.await.expect("the other player was disconnected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stall_does_not_get_well_paced_players_kicked() {
    let _serial = SERIAL.lock().await;
    let b = Binary::start(&[]).await;
    let (a, c, _) = live_match(&b).await;
    let before = metric(&b, "rally_ws_disconnects_total", "rate_limited").await;
    // Both players send an input every 1/60 s, whatever happens, and read everything.
    let stop = Arc::new(AtomicBool::new(false));
    let players: Vec<_> = [a, c]
        .into_iter()
        .map(|mut p| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_micros(16_667));
                // A client keeping to 60/s: when this test process itself is starved of CPU it
                // sends late, never a catch-up burst.
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut arrivals = Vec::new();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    tokio::select! {
                        _ = every.tick() => {
                            i += 1;
                            p.input(if i % 2 == 0 { "up" } else { "down" }).await;
                        }
                        e = p.next(Duration::from_secs(30)) => match e {
                            Event::Msg(v) if v["type"] == "snapshot" => {
                                arrivals.push(Instant::now());
                            }
                            // The room's mailbox may overflow with the backlog the stall
                            // created: documented, the connection stays.
                            Event::Msg(v) if v["type"] == "error" && v["code"] == "input_dropped" => {}
                            Event::Msg(v) if v["type"] == "error" => {
                                panic!("error: {v}")
                            }
                            Event::Msg(_) => {}
                            Event::Closed(code) => panic!("disconnected with {code:?}"),
                        }
                    }
                }
                arrivals
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    b.signal("STOP");
    tokio::time::sleep(Duration::from_secs(3)).await;
    b.signal("CONT");
    let resumed = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for p in players {
        let arrivals = p.await.expect("a player was kicked");
        let after_stall = arrivals.iter().filter(|t| **t > resumed).count();
        assert!(
            after_stall > 60,
            "only {after_stall} snapshots in the 3 s after the stall"
        );
    }
    let after = metric(&b, "rally_ws_disconnects_total", "rate_limited").await;
    assert_eq!(after, before, "a player was closed with 4008");
}

async fn metric(b: &Binary, name: &str, reason: &str) -> f64 {
    let text = b
        .http
        .get(b.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with(name) && (reason.is_empty() || l.contains(&format!("\"{reason}\"")))
        })
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_within_the_send_timeout_and_reads_4011() {
    let _serial = SERIAL.lock().await;
    // Kernel buffers left to autotuning (megabytes): only the send timeout can bound this.
    let b = Binary::start(&[
        ("RALLY_WS_SEND_TIMEOUT", "2s"),
        ("RALLY_WS_HEARTBEAT_INTERVAL", "250ms"),
        ("RALLY_WS_HEARTBEAT_TIMEOUT", "30s"),
    ])
    .await;
    let (a, c, room) = live_match(&b).await;
    let stop = Arc::new(AtomicBool::new(false));
    let players = [drain(a, stop.clone()), drain(c, stop.clone())];
    let t = b.guest().await;
    let mut slow = Raw::connect(b.addr).await;
    slow.auth(&t).await;
    slow.send_json(json!({"type": "spectate", "room": room}))
        .await;
    let slow_before = metric(&b, "rally_slow_client_disconnects_total", "").await;
    // It keeps talking but stops reading.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut id = 0;
    loop {
        id += 1;
        slow.send_json(json!({"type": "ping", "id": id})).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if metric(&b, "rally_slow_client_disconnects_total", "").await > slow_before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a client that does not read was not dropped within 20 s (send timeout 2 s)"
        );
    }
    // Reading again, it finds everything the kernel held, then the error and close 4011 —
    // not a reset.
    let (error, code) = slow.expect_error_and_close().await;
    assert_eq!((error.as_deref(), code), (Some("rate_limited"), Some(4011)));
    for p in &players {
        assert!(!p.is_finished(), "a reading player was disconnected");
    }
    stop.store(true, Ordering::Relaxed);
    for p in players {
        p.await.expect("a reading player was disconnected");
    }
}
