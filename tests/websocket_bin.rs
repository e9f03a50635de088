//! `rally.v1.bin` end to end over real sockets: the `Sec-WebSocket-Protocol` negotiation, whole
//! matches in bin, JSON and bin players and spectators in one room seeing the same ticks, a
//! reconnect, hostile frames (text on a bin connection, malformed MessagePack, oversize), and
//! a bin client whose room lives on another instance.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cluster::TestCluster;
use common::raw::{frame, upgrade_request, Frame, Got, Raw};
use common::ws::{Client, Event};
use common::{Backend, TestServer};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// 1 point to win, short countdown and windows.
const FAST: &[&str] = &[
    "--points-to-win",
    "1",
    "--countdown",
    "200ms",
    "--reconnect-grace",
    "5s",
    "--join-window",
    "5s",
    "--room-linger",
    "1s",
    "--matchmaking-interval",
    "50ms",
];

async fn server() -> TestServer {
    TestServer::start(Backend::Sqlite, FAST).await.unwrap()
}

/// The upgrade with these `Sec-WebSocket-Protocol` header lines; returns the connection, the
/// status and the answer's `sec-websocket-protocol` (None when absent).
async fn upgrade(addr: std::net::SocketAddr, offers: &[&str]) -> (Raw, u16, Option<String>) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut raw = Raw::from_stream(stream);
    let mut req = upgrade_request(addr, "/ws");
    req.truncate(req.len() - 2);
    for o in offers {
        req.push_str(&format!("Sec-WebSocket-Protocol: {o}\r\n"));
    }
    req.push_str("\r\n");
    raw.stream.write_all(req.as_bytes()).await.unwrap();
    let (status, head) = raw.read_response().await;
    let proto = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("sec-websocket-protocol")
            .then(|| v.trim().to_string())
    });
    (raw, status, proto)
}

/// Plays until `match_end`, steering towards the ball (seat 0) or away from it (seat 1, so
/// that points come quickly); returns the end and every snapshot seen (tick → state).
async fn play_out(c: &mut Client, seat: usize) -> (Value, BTreeMap<u64, Value>) {
    let mut intent = "stop";
    let mut seen = BTreeMap::new();
    loop {
        match c.next(Duration::from_secs(30)).await {
            Event::Msg(v) if v["type"] == "snapshot" => {
                seen.insert(v["tick"].as_u64().unwrap(), v["state"].clone());
                let mut ball_y = v["state"]["ball"][1].as_i64().unwrap();
                if seat == 1 {
                    ball_y = 9000 - ball_y;
                }
                let pad_y = v["state"]["paddles"][seat].as_i64().unwrap();
                let want = common::play::follow(ball_y, pad_y);
                if want != intent {
                    intent = want;
                    c.input(want).await;
                }
            }
            Event::Msg(v) if v["type"] == "match_end" => return (v, seen),
            Event::Msg(v) if v["type"] == "error" => panic!("error while playing: {v}"),
            Event::Msg(_) => {}
            Event::Closed(code) => panic!("closed while playing: {code:?}"),
        }
    }
}

/// Reads until `match_end`; every snapshot seen (tick → state).
async fn watch_out(c: &mut Client) -> (Value, BTreeMap<u64, Value>) {
    let mut seen = BTreeMap::new();
    loop {
        match c.next(Duration::from_secs(30)).await {
            Event::Msg(v) if v["type"] == "snapshot" => {
                seen.insert(v["tick"].as_u64().unwrap(), v["state"].clone());
            }
            Event::Msg(v) if v["type"] == "match_end" => return (v, seen),
            Event::Msg(_) => {}
            Event::Closed(code) => panic!("closed while watching: {code:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiation_answers_the_chosen_subprotocol() {
    let s = server().await;
    let t = s.guest().await;
    for (offers, want) in [
        (&[][..], None),
        (&["rally.v1.bin"][..], Some("rally.v1.bin")),
        (&["rally.v1.json"][..], Some("rally.v1.json")),
        (
            &["chat, rally.v1.bin, rally.v1.json"][..],
            Some("rally.v1.bin"),
        ),
        (
            &["rally.v1.json", "rally.v1.bin"][..],
            Some("rally.v1.json"),
        ),
        (&["rally.v2.bin, chat"][..], None),
    ] {
        let (mut raw, status, proto) = upgrade(s.addr, offers).await;
        assert_eq!(status, 101, "{offers:?}");
        assert_eq!(proto.as_deref(), want, "{offers:?}");
        // The connection speaks what was answered (JSON when nothing was).
        let bin = want == Some("rally.v1.bin");
        let auth = json!({"type": "auth", "token": t});
        if bin {
            raw.send(&frame(true, 2, &common::ws::encode_bin(&auth)))
                .await;
        } else {
            raw.send(&frame(true, 1, auth.to_string().as_bytes())).await;
        }
        match raw.next(Duration::from_secs(10)).await {
            Got::Frame(Frame::Binary(b)) if bin => {
                assert_eq!(common::ws::decode_bin(&b)["type"], "welcome")
            }
            Got::Frame(Frame::Text(t)) if !bin => {
                assert_eq!(
                    serde_json::from_str::<Value>(&t).unwrap()["type"],
                    "welcome"
                )
            }
            other => panic!("{offers:?}: {other:?}"),
        }
    }
}

/// A JSON player, a bin player, a bin spectator and a JSON spectator in one room: the same
/// ticks with the same states, the same end; then the bin players' ratings arrive in bin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_encodings_in_one_room_see_the_same_ticks() {
    let s = server().await;
    let (ta, tb, tc, td) = (
        s.guest().await,
        s.guest().await,
        s.guest().await,
        s.guest().await,
    );
    let (st, created) = s
        .post(
            "/api/v1/rooms",
            Some(&ta),
            json!({"rated": true, "config": {"points_to_win": 1}}),
        )
        .await;
    assert_eq!(st, 201, "{created}");
    let code = created["code"].as_str().unwrap().to_string();
    let room = created["room"].as_str().unwrap().to_string();
    let (mut a, _) = Client::login(s.addr, &ta).await;
    let (mut b, wb) = Client::login_bin(s.addr, &tb).await;
    assert_eq!(wb["protocol"], 1);
    let (mut c, _) = Client::login_bin(s.addr, &tc).await;
    let (mut d, _) = Client::login(s.addr, &td).await;
    for x in [&mut c, &mut d] {
        x.send(json!({"type": "spectate", "room": room})).await;
        assert_eq!(x.expect("joined").await["role"], "spectator");
    }
    a.send(json!({"type": "join", "code": code})).await;
    let seat_a = a.expect("joined").await["seat"].as_u64().unwrap() as usize;
    b.send(json!({"type": "join", "code": code})).await;
    let jb = b.expect("joined").await;
    assert_eq!(jb["info"]["kind"], "pong", "{jb}");
    let seat_b = jb["seat"].as_u64().unwrap() as usize;
    let (pa, pb, wc, wd) = tokio::join!(
        play_out(&mut a, seat_a),
        play_out(&mut b, seat_b),
        watch_out(&mut c),
        watch_out(&mut d)
    );
    let ends = [&pa.0, &pb.0, &wc.0, &wd.0];
    for e in ends {
        assert_eq!(e["outcome"], pa.0["outcome"], "{e}");
        assert_eq!(e["rated"], true);
    }
    let views = [&pa.1, &pb.1, &wc.1, &wd.1];
    for v in views {
        assert!(v.len() > 30, "a whole match of snapshots: {}", v.len());
    }
    // Every tick two clients both saw carries the same state, whatever the encoding.
    let mut compared = 0;
    for (tick, state) in &pa.1 {
        for v in &views[1..] {
            if let Some(other) = v.get(tick) {
                assert_eq!(other, state, "tick {tick}");
                compared += 1;
            }
        }
    }
    assert!(compared > 60, "{compared} ticks compared");
    // The bin player's compact state is the JSON state's values, in order.
    let r = b.expect("ratings").await;
    assert_eq!(r["changes"].as_array().unwrap().len(), 2, "{r}");
    a.expect("ratings").await;
}

/// Two bin players quick-match and play to a persisted result; the bin snapshot is compact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_quick_match_in_bin() {
    let s = server().await;
    let (ta, tb) = (s.guest().await, s.guest().await);
    let (mut a, _) = Client::login_bin(s.addr, &ta).await;
    let (mut b, _) = Client::login_bin(s.addr, &tb).await;
    a.send(json!({"type": "queue"})).await;
    assert_eq!(a.expect("queued").await["game"], "pong");
    b.send(json!({"type": "queue"})).await;
    let room = a.expect("match_found").await["room"]
        .as_str()
        .unwrap()
        .to_string();
    b.expect("match_found").await;
    for x in [&mut a, &mut b] {
        x.send(json!({"type": "join", "room": room})).await;
    }
    let ja = a.expect("joined").await;
    let jb = b.expect("joined").await;
    let snap = a.expect("snapshot").await;
    let compact = snap["state_compact"].as_array().unwrap();
    assert_eq!(compact[0], snap["tick"]);
    assert_eq!(snap["acks"].as_array().unwrap().len(), 2);
    let match_id = ja["match"].as_str().unwrap().to_string();
    let ((end, snaps), (end_b, _)) = tokio::join!(
        play_out(&mut a, ja["seat"].as_u64().unwrap() as usize),
        play_out(&mut b, jb["seat"].as_u64().unwrap() as usize)
    );
    assert!(snaps.len() > 10);
    assert_eq!(end["outcome"], end_b["outcome"]);
    assert_eq!(end["match"], match_id.as_str());
    let replay = s.finished_replay(&match_id, Duration::from_secs(10)).await;
    // Inputs sent in the compact form were applied: the replay logged them.
    assert!(
        !replay["log"]["inputs"].as_array().unwrap().is_empty(),
        "{replay}"
    );
    // ping / pong and where in bin.
    a.send(json!({"type": "ping", "id": 9, "client_time": 12.5}))
        .await;
    let p = a.expect("pong").await;
    assert_eq!(
        (p["id"].as_u64(), p["client_time"].as_f64()),
        (Some(9), Some(12.5))
    );
}

/// A bin player drops mid-match and comes back in bin: the room resumes, acks continue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_in_bin_resumes_the_match() {
    let s = server().await;
    let (ta, tb) = (s.guest().await, s.guest().await);
    let (st, created) = s
        .post(
            "/api/v1/rooms",
            Some(&ta),
            json!({"config": {"points_to_win": 5}}),
        )
        .await;
    assert_eq!(st, 201);
    let code = created["code"].as_str().unwrap().to_string();
    let room = created["room"].as_str().unwrap().to_string();
    let (mut a, _) = Client::login(s.addr, &ta).await;
    let (mut b, _) = Client::login_bin(s.addr, &tb).await;
    a.send(json!({"type": "join", "code": code})).await;
    a.expect("joined").await;
    b.send(json!({"type": "join", "code": code})).await;
    let seat_b = b.expect("joined").await["seat"].as_u64().unwrap() as usize;
    b.expect_room_state("playing").await;
    b.input("up").await;
    b.input("down").await;
    // Wait until both inputs are acked.
    loop {
        let snap = b.expect("snapshot").await;
        if snap["acks"][seat_b] == 2 {
            break;
        }
    }
    drop(b);
    a.expect_room_state("paused").await;
    let (mut b, w) = Client::login_bin(s.addr, &tb).await;
    assert_eq!(w["room"], room.as_str(), "{w}");
    b.send(json!({"type": "join", "room": room})).await;
    assert_eq!(b.expect("joined").await["seat"], seat_b as u64);
    let snap = b.expect("snapshot").await;
    assert_eq!(
        snap["acks"][seat_b], 2,
        "acks survive the reconnect: {snap}"
    );
    b.expect_room_state("playing").await;
    b.seq = 2;
    b.input("up").await;
    loop {
        let snap = b.expect("snapshot").await;
        if snap["acks"][seat_b] == 3 {
            break;
        }
    }
    b.send(json!({"type": "resign"})).await;
    let end = b.expect("match_end").await;
    assert_eq!(end["outcome"]["reason"], "resign", "{end}");
}

/// Hostile frames on a bin connection: each has its documented error and close code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_on_a_bin_connection() {
    let s = server().await;
    let t = s.guest().await;
    // A text frame: text_not_supported, then close 1003.
    let mut raw = bin_conn(s.addr, &t).await;
    raw.send(&frame(true, 1, br#"{"type":"where"}"#)).await;
    let e = next_bin(&mut raw).await;
    assert_eq!(e["code"], "text_not_supported", "{e}");
    assert_eq!(next_close(&mut raw).await, Some(1003));

    // Malformed MessagePack (truncated, garbage, bin type, trailing bytes): invalid_bin, the
    // connection stays; an unknown compact code: unknown_type; a bad compact input:
    // invalid_field.
    let mut raw = bin_conn(s.addr, &t).await;
    for (bytes, want) in [
        (&[0x92, 0x02][..], "invalid_bin"),
        (&[0xc1, 0xff, 0x00][..], "invalid_bin"),
        (&[0xc4, 0x01, 0x00][..], "invalid_bin"),
        (&[0x90, 0x90][..], "invalid_bin"),
        (&[0x07][..], "invalid_bin"),
        (&[0x91, 0x63][..], "unknown_type"),
        (
            &[0x93, 0x02, 0xa1, b'x', 0xa2, b'u', b'p'][..],
            "invalid_field",
        ),
        (
            &[
                0x81, 0xa4, b't', b'y', b'p', b'e', 0xa5, b'd', b'a', b'n', b'c', b'e',
            ][..],
            "unknown_type",
        ),
    ] {
        raw.send(&frame(true, 2, bytes)).await;
        let e = next_bin(&mut raw).await;
        assert_eq!(e["type"], "error");
        assert_eq!(e["code"], want, "{bytes:x?}: {e}");
    }
    // Still usable.
    raw.send(&frame(
        true,
        2,
        &common::ws::encode_bin(&json!({"type": "where"})),
    ))
    .await;
    assert_eq!(next_bin(&mut raw).await["type"], "location");
    // Ten protocol errors close it with 4000 (as JSON does).
    for _ in 0..10 {
        raw.send(&frame(true, 2, &[0xc1])).await;
    }
    let mut codes = Vec::new();
    let close = loop {
        match raw.next(Duration::from_secs(10)).await {
            Got::Frame(Frame::Binary(b)) => codes.push(common::ws::decode_bin(&b)["code"].clone()),
            Got::Frame(Frame::Close(code, _)) => break code,
            Got::Frame(_) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(close, Some(4000), "{codes:?}");
    assert!(
        !codes.is_empty() && codes.iter().all(|c| c == "invalid_bin"),
        "{codes:?}"
    );

    // Over the frame limit: too_big, close 1009.
    let mut raw = bin_conn(s.addr, &t).await;
    raw.send(&frame(
        true,
        2,
        &vec![0xc0; rally::protocol::MAX_FRAME_BYTES + 1],
    ))
    .await;
    let e = next_bin(&mut raw).await;
    assert_eq!(e["code"], "too_big", "{e}");
    assert_eq!(next_close(&mut raw).await, Some(1009));

    // The rate limit applies to binary frames as to text ones.
    let mut raw = bin_conn(s.addr, &t).await;
    let ping = common::ws::encode_bin(&json!({"type": "ping", "id": 1}));
    let mut burst = Vec::new();
    for _ in 0..(rally::protocol::MAX_MESSAGES_PER_SEC + rally::protocol::MESSAGE_BURST + 50) {
        burst.extend(frame(true, 2, &ping));
    }
    raw.send(&burst).await;
    assert_eq!(next_close(&mut raw).await, Some(4008));
}

/// A raw connection that negotiated `rally.v1.bin` and authenticated.
async fn bin_conn(addr: std::net::SocketAddr, token: &str) -> Raw {
    let (mut raw, status, proto) = upgrade(addr, &["rally.v1.bin"]).await;
    assert_eq!((status, proto.as_deref()), (101, Some("rally.v1.bin")));
    let auth = common::ws::encode_bin(&json!({"type": "auth", "token": token}));
    raw.send(&frame(true, 2, &auth)).await;
    assert_eq!(next_bin(&mut raw).await["type"], "welcome");
    raw
}

async fn next_bin(raw: &mut Raw) -> Value {
    loop {
        match raw.next(Duration::from_secs(10)).await {
            Got::Frame(Frame::Binary(b)) => return common::ws::decode_bin(&b),
            Got::Frame(Frame::Ping(_)) => {}
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
}

async fn next_close(raw: &mut Raw) -> Option<u16> {
    loop {
        match raw.next(Duration::from_secs(10)).await {
            Got::Frame(Frame::Close(code, _)) => return code,
            Got::Frame(_) => {}
            other => panic!("expected a close, got {other:?}"),
        }
    }
}

/// A bin player and a bin spectator connected to the instance that does not own the room:
/// frames cross Redis as JSON and reach them in bin, the same ticks as the local JSON player.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bin_client_whose_room_lives_on_another_instance() {
    let Some(c) = TestCluster::start(
        2,
        None,
        Duration::from_millis(1500),
        &[
            "--points-to-win",
            "1",
            "--countdown",
            "200ms",
            "--join-window",
            "20s",
        ],
    )
    .await
    else {
        return;
    };
    let (ta, _) = c.guest(0).await;
    let (tb, _) = c.guest(1).await;
    let (tc, _) = c.guest(1).await;
    let r = c
        .http
        .post(format!("http://{}/api/v1/rooms", c.addr(0)))
        .bearer_auth(&ta)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (st, created) = TestServer::read(r).await;
    assert_eq!(st, 201, "{created}");
    let room = created["room"].as_str().unwrap().to_string();
    let code = created["code"].as_str().unwrap().to_string();
    let owner = c.owner_of_room(&room).expect("owner");
    let other = 1 - owner;
    let (mut a, _) = Client::login(c.addr(owner), &ta).await;
    let (mut b, _) = Client::login_bin(c.addr(other), &tb).await;
    let (mut w, _) = Client::login_bin(c.addr(other), &tc).await;
    w.send(json!({"type": "spectate", "room": room})).await;
    w.expect("joined").await;
    a.send(json!({"type": "join", "code": code})).await;
    let seat_a = a.expect("joined").await["seat"].as_u64().unwrap() as usize;
    b.send(json!({"type": "join", "code": code})).await;
    let seat_b = b.expect("joined").await["seat"].as_u64().unwrap() as usize;
    let (pa, pb, pw) = tokio::join!(
        play_out(&mut a, seat_a),
        play_out(&mut b, seat_b),
        watch_out(&mut w)
    );
    assert_eq!(pa.0["outcome"], pb.0["outcome"]);
    assert_eq!(pa.0["outcome"], pw.0["outcome"]);
    let mut compared = 0;
    for (tick, state) in &pa.1 {
        for v in [&pb.1, &pw.1] {
            if let Some(other) = v.get(tick) {
                assert_eq!(other, state, "tick {tick}");
                compared += 1;
            }
        }
    }
    assert!(compared > 30, "{compared} ticks compared");
}
