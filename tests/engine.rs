//! The realtime engine end to end over real WebSockets (test-sized settings).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::ws::{Client, Event};
use common::{Backend, TestServer};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// 1 point to win, short countdown and windows.
const FAST: &[&str] = &[
    "--points-to-win",
    "1",
    "--countdown",
    "200ms",
    "--reconnect-grace",
    "1500ms",
    "--join-window",
    "1s",
    "--room-linger",
    "1s",
    "--matchmaking-interval",
    "50ms",
];

async fn server(extra: &[&str]) -> TestServer {
    let mut args = FAST.to_vec();
    args.extend_from_slice(extra);
    TestServer::start(Backend::Sqlite, &args).await.unwrap()
}

/// Two guests quick-match; returns (client a, client b, room id).
async fn quick_match(s: &TestServer) -> (Client, Client, String, Value, Value) {
    let (ta, tb) = (s.guest().await, s.guest().await);
    let (mut a, _) = Client::login(s.addr, &ta).await;
    let (mut b, _) = Client::login(s.addr, &tb).await;
    a.send(json!({"type": "queue"})).await;
    a.expect("queued").await;
    b.send(json!({"type": "queue", "game": "pong"})).await;
    b.expect("queued").await;
    let fa = a.expect("match_found").await;
    let fb = b.expect("match_found").await;
    assert_eq!(fa["room"], fb["room"]);
    let room = fa["room"].as_str().unwrap().to_string();
    a.send(json!({"type": "join", "room": room})).await;
    let ja = a.expect("joined").await;
    b.send(json!({"type": "join", "room": room})).await;
    let jb = b.expect("joined").await;
    (a, b, room, ja, jb)
}

/// Play as seat `seat`: track the ball with the paddle until the match ends; returns the
/// match_end message and the number of snapshots seen.
async fn track_until_end(c: &mut Client, seat: usize) -> (Value, u64) {
    let mut intent = "stop";
    let mut snaps = 0;
    loop {
        match c.next(Duration::from_secs(30)).await {
            Event::Msg(v) if v["type"] == "snapshot" => {
                snaps += 1;
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
            Event::Msg(v) if v["type"] == "match_end" => return (v, snaps),
            Event::Msg(v) if v["type"] == "error" => panic!("error while playing: {v}"),
            Event::Msg(_) => {}
            Event::Closed(code) => panic!("closed while playing: {code:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_match_plays_to_a_persisted_rated_result() {
    let s = server(&[]).await;
    let (mut a, mut b, room, ja, jb) = quick_match(&s).await;
    assert_eq!(ja["role"], "player");
    let seat_a = ja["seat"].as_u64().unwrap() as usize;
    assert_ne!(ja["seat"], jb["seat"]);
    assert_eq!(ja["info"]["field"]["width"], 16000);
    // a tracks the ball, b stands still: a wins 1–0.
    let (end_a, snaps) = track_until_end(&mut a, seat_a).await;
    let end_b = b.expect("match_end").await;
    assert_eq!(end_a["outcome"], end_b["outcome"]);
    assert_eq!(end_a["outcome"]["reason"], "score");
    assert_eq!(
        end_a["outcome"]["winner"].as_u64().unwrap() as usize,
        seat_a
    );
    assert_eq!(end_a["room"], room.as_str());
    assert!(snaps > 10, "only {snaps} snapshots");
    assert_eq!(end_a["rated"], true);
    // The result is persisted and ratings move: winner up, loser down.
    let ratings = a.expect("ratings").await;
    let changes = ratings["changes"].as_array().unwrap();
    for c in changes {
        let won = c["seat"].as_u64().unwrap() as usize == seat_a;
        assert_eq!(won, c["after"].as_i64() > c["before"].as_i64(), "{ratings}");
    }
    // The match row is finished with the result, and its replay verifies by re-simulation.
    let match_id = ja["match"].as_str().unwrap();
    let (st, m) = s.get(&format!("/api/v1/matches/{match_id}"), None).await;
    assert_eq!(st, 200, "{m}");
    assert_eq!(m["status"], "finished");
    assert_eq!(m["winner_seat"].as_u64().unwrap() as usize, seat_a);
    assert_eq!(m["end_reason"], "score");
    let (st, replay) = s
        .get(&format!("/api/v1/matches/{match_id}/replay"), None)
        .await;
    assert_eq!(st, 200, "{replay}");
    assert!(!replay["log"]["inputs"].as_array().unwrap().is_empty());
    let (st, frames) = s
        .get(
            &format!("/api/v1/matches/{match_id}/replay/frames?every=10"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{frames}");
    let frames = frames["frames"].as_array().unwrap();
    assert!(frames.len() >= 3);
    // The last frame is the final score.
    assert_eq!(
        frames.last().unwrap()["scores"],
        m["players"]
            .as_array()
            .map(|p| json!([p[0]["score"], p[1]["score"]]))
            .unwrap()
    );
    let (st, body) = s
        .get(
            &format!("/api/v1/matches/{match_id}/replay/frames?every=0"),
            None,
        )
        .await;
    common::assert_error(st, &body, 400, "validation");
    let out = s.rally_cli(&["replay", "verify", match_id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok:"));
    // The player is free again: where → no room; can queue again.
    a.send(json!({"type": "where"})).await;
    assert_eq!(a.expect("location").await["room"], Value::Null);
    a.send(json!({"type": "queue"})).await;
    a.expect("queued").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_room_by_code_and_spectator_is_read_only() {
    let s = server(&[]).await;
    let (ta, tb, tc) = (s.guest().await, s.guest().await, s.guest().await);
    let (st, created) = s
        .post(
            "/api/v1/rooms",
            Some(&ta),
            json!({"config": {"points_to_win": 1}}),
        )
        .await;
    assert_eq!(st, 201, "{created}");
    let code = created["code"].as_str().unwrap().to_string();
    let room = created["room"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 6);
    // Private rooms are not listed.
    let (_, list) = s.get("/api/v1/rooms", None).await;
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["id"] != room.as_str()));
    let (mut a, _) = Client::login(s.addr, &ta).await;
    let (mut b, _) = Client::login(s.addr, &tb).await;
    let (mut c, _) = Client::login(s.addr, &tc).await;
    a.send(json!({"type": "join", "code": code})).await;
    assert_eq!(a.expect("joined").await["seat"], 0);
    b.send(json!({"type": "join", "code": code.to_lowercase()}))
        .await;
    assert_eq!(b.expect("joined").await["seat"], 1);
    // A third player cannot sit, but can watch.
    c.send(json!({"type": "join", "code": code})).await;
    c.expect_error("room_full").await;
    c.send(json!({"type": "spectate", "room": room})).await;
    let j = c.expect("joined").await;
    assert_eq!(j["role"], "spectator");
    // The players are told someone is watching.
    loop {
        let r = a.expect("room").await;
        if r["spectators"] == 1 {
            break;
        }
    }
    assert_eq!(j["seat"], Value::Null);
    let snap = c.expect("snapshot").await;
    assert!(snap["tick"].as_u64().is_some());
    c.input("up").await;
    c.expect_error("not_a_player").await;
    c.send(json!({"type": "resign"})).await;
    c.expect_error("not_a_player").await;
    // The spectator sees the end, unrated by default.
    let (end, _) = track_until_end(&mut a, 0).await;
    assert_eq!(end["rated"], false);
    let end_c = c.expect("match_end").await;
    assert_eq!(end_c["outcome"], end["outcome"]);
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_rooms_are_listed_with_pagination() {
    let s = server(&[]).await;
    let (_a, _b, room, _, _) = quick_match(&s).await;
    let (st, list) = s.get("/api/v1/rooms?limit=1", None).await;
    assert_eq!(st, 200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], room.as_str());
    assert_eq!(items[0]["game"], "pong");
    assert_eq!(items[0]["players"].as_array().unwrap().len(), 2);
    let (st, body) = s.get("/api/v1/rooms?limit=1000", None).await;
    assert_eq!(
        (st, &body["limit"]),
        (200, &json!(100)),
        "limits are capped: {body}"
    );
    let (st, body) = s.get("/api/v1/rooms?limit=0", None).await;
    common::assert_error(st, &body, 400, "validation");
    let (st, body) = s.get("/api/v1/rooms?limit=abc", None).await;
    common::assert_error(st, &body, 400, "validation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_inside_grace_resumes_and_absence_forfeits() {
    let s = server(&[]).await;
    let ta = s.guest().await;
    let tb = s.guest().await;
    let (mut a, _) = Client::login(s.addr, &ta).await;
    let (mut b, _) = Client::login(s.addr, &tb).await;
    a.send(json!({"type": "queue"})).await;
    b.send(json!({"type": "queue"})).await;
    let room = a.expect("match_found").await["room"]
        .as_str()
        .unwrap()
        .to_string();
    b.expect("match_found").await;
    a.send(json!({"type": "join", "room": room})).await;
    let seat_a = a.expect("joined").await["seat"].as_u64().unwrap();
    b.send(json!({"type": "join", "room": room})).await;
    b.expect("joined").await;
    a.expect_room_state("playing").await;

    // b drops: a sees the pause with the remaining grace time.
    drop(b);
    let paused = a.expect_room_state("paused").await;
    assert!(paused["remaining_ms"].as_u64().unwrap() <= 1500);
    // b comes back (as after a page reload): welcome names the room; join resumes.
    let (mut b, welcome) = Client::login(s.addr, &tb).await;
    assert_eq!(welcome["room"], room.as_str());
    b.send(json!({"type": "where"})).await;
    assert_eq!(b.expect("location").await["room"], room.as_str());
    b.send(json!({"type": "join", "room": room})).await;
    b.expect("joined").await;
    a.expect_room_state("countdown").await;
    a.expect_room_state("playing").await;
    assert!(s.metric("rally_reconnections_total", &[]).await >= 1.0);

    // b drops again and stays away: b forfeits after the grace window.
    drop(b);
    a.expect_room_state("paused").await;
    let end = a.expect_within("match_end", Duration::from_secs(5)).await;
    assert_eq!(end["outcome"]["reason"], "forfeit");
    assert_eq!(end["outcome"]["winner"].as_u64().unwrap(), seat_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resign_gives_the_opponent_the_win() {
    let s = server(&[]).await;
    let (mut a, mut b, _, ja, _) = quick_match(&s).await;
    a.expect_room_state("playing").await;
    a.send(json!({"type": "resign"})).await;
    let end = b.expect("match_end").await;
    assert_eq!(end["outcome"]["reason"], "resign");
    assert_ne!(end["outcome"]["winner"], ja["seat"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_running_match_is_a_resignation() {
    let s = server(&[]).await;
    let (mut a, mut b, room, _, jb) = quick_match(&s).await;
    b.expect_room_state("playing").await;
    b.send(json!({"type": "leave"})).await;
    assert_eq!(b.expect("left").await["room"], room.as_str());
    let end = a.expect("match_end").await;
    assert_eq!(end["outcome"]["reason"], "resign");
    assert_ne!(end["outcome"]["winner"], jb["seat"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matched_player_who_never_joins_is_dropped_and_the_other_requeued() {
    let s = server(&[]).await;
    let (ta, tb, tc) = (s.guest().await, s.guest().await, s.guest().await);
    let (mut a, _) = Client::login(s.addr, &ta).await;
    let (mut b, _) = Client::login(s.addr, &tb).await;
    a.send(json!({"type": "queue"})).await;
    b.send(json!({"type": "queue"})).await;
    let room = a.expect("match_found").await["room"]
        .as_str()
        .unwrap()
        .to_string();
    b.expect("match_found").await;
    a.send(json!({"type": "join", "room": room})).await;
    a.expect("joined").await;
    // b never joins: after the join window a is told and put back in the queue...
    let end = a.expect("match_end").await;
    assert_eq!(end["outcome"]["reason"], "abandoned");
    a.expect("queued").await;
    // ...at the front: a newcomer is matched with a.
    let (mut c, _) = Client::login(s.addr, &tc).await;
    c.send(json!({"type": "queue"})).await;
    let fa = a.expect("match_found").await;
    let fc = c.expect("match_found").await;
    assert_eq!(fa["room"], fc["room"]);
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_takes_over_the_session() {
    let s = server(&[]).await;
    let t = s.guest().await;
    let (mut first, _) = Client::login(s.addr, &t).await;
    let (mut second, _) = Client::login(s.addr, &t).await;
    let err = first.expect("error").await;
    assert_eq!(err["code"], "conflict");
    assert_eq!(first.expect_close().await, Some(4010));
    second.send(json!({"type": "ping", "id": 1})).await;
    assert_eq!(second.expect("pong").await["id"], 1);
    assert!(s.metric("rally_session_takeovers_total", &[]).await >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_mid_match_keeps_the_seat() {
    let s = server(&[]).await;
    let (ta, tb) = (s.guest().await, s.guest().await);
    let (mut a, _) = Client::login(s.addr, &ta).await;
    let (mut b, _) = Client::login(s.addr, &tb).await;
    a.send(json!({"type": "queue"})).await;
    b.send(json!({"type": "queue"})).await;
    let room = a.expect("match_found").await["room"]
        .as_str()
        .unwrap()
        .to_string();
    b.expect("match_found").await;
    a.send(json!({"type": "join", "room": room})).await;
    let seat = a.expect("joined").await["seat"].clone();
    b.send(json!({"type": "join", "room": room})).await;
    b.expect("joined").await;
    a.expect_room_state("playing").await;
    // A second tab of player a: the first socket is closed with 4010, the new one rejoins.
    let (mut a2, welcome) = Client::login(s.addr, &ta).await;
    assert_eq!(welcome["room"], room.as_str());
    assert_eq!(a.expect_close().await, Some(4010));
    a2.send(json!({"type": "join", "room": room})).await;
    let j = a2.expect("joined").await;
    assert_eq!(j["seat"], seat);
    a2.expect("snapshot").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_errors_and_documented_close_codes() {
    let s = server(&["--ws-auth-timeout", "500ms"]).await;
    let t = s.guest().await;

    // Before auth: anything but auth is refused (and counted as a protocol error).
    let mut c = Client::connect(s.addr).await;
    c.send(json!({"type": "ping", "id": 1})).await;
    c.expect_error("not_authenticated").await;
    // No auth in time: 4002.
    assert_eq!(c.expect_close().await, Some(4002));

    // A bad token: error then 4001.
    let mut c = Client::connect(s.addr).await;
    c.send(json!({"type": "auth", "token": "forged"})).await;
    c.expect_error("unauthorized").await;
    assert_eq!(c.expect_close().await, Some(4001));

    let (mut c, _) = Client::login(s.addr, &t).await;
    c.send_raw(Message::text("{not json")).await;
    c.expect_error("invalid_json").await;
    c.send(json!({"type": "teleport"})).await;
    c.expect_error("unknown_type").await;
    c.send(json!({"type": "input", "seq": "one", "input": "up"}))
        .await;
    c.expect_error("invalid_field").await;
    c.send(json!({"type": "join"})).await;
    c.expect_error("invalid_field").await;
    c.send(json!({"type": "auth", "token": t})).await;
    c.expect_error("already_authenticated").await;
    c.input("up").await;
    c.expect_error("not_in_room").await;
    c.send(json!({"type": "join", "room": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}))
        .await;
    c.expect_error("not_found").await;
    c.send(json!({"type": "join", "code": "ZZZZZZ"})).await;
    c.expect_error("not_found").await;
    // A fragmented message is reassembled.
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let (p1, p2) = (br#"{"type":"ping","#.to_vec(), br#""id":42}"#.to_vec());
    c.send_raw(Message::Frame(Frame::message(
        p1,
        OpCode::Data(Data::Text),
        false,
    )))
    .await;
    c.send_raw(Message::Frame(Frame::message(
        p2,
        OpCode::Data(Data::Continue),
        true,
    )))
    .await;
    assert_eq!(c.expect("pong").await["id"], 42);
    // The session still works after those errors.
    c.send(json!({"type": "ping", "id": 7, "client_time": 1.5}))
        .await;
    let p = c.expect("pong").await;
    assert_eq!(
        (p["id"].as_u64(), p["client_time"].as_f64()),
        (Some(7), Some(1.5))
    );
    // Binary frames: error then 1003.
    c.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    c.expect_error("binary_not_supported").await;
    assert_eq!(c.expect_close().await, Some(1003));

    // Oversized frame: 1009.
    let (mut c, _) = Client::login(s.addr, &t).await;
    c.send_raw(Message::text(format!(
        "{{\"type\":\"ping\",\"id\":1,\"pad\":\"{}\"}}",
        "x".repeat(rally::protocol::MAX_FRAME_BYTES)
    )))
    .await;
    assert_eq!(c.expect_close().await, Some(1009));

    // Too many protocol errors: 4000.
    let (mut c, _) = Client::login(s.addr, &t).await;
    for _ in 0..=rally::protocol::MAX_PROTOCOL_ERRORS {
        c.send_raw(Message::text("nope")).await;
    }
    assert_eq!(c.expect_close().await, Some(4000));

    // A flood past the rate limit: rate_limited then 4008.
    let (mut c, _) = Client::login(s.addr, &t).await;
    for i in 0..(rally::protocol::MESSAGE_BURST + 100) {
        c.send_raw(Message::text(json!({"type": "ping", "id": i}).to_string()))
            .await;
    }
    let mut saw_error = false;
    let code = loop {
        match c.next(Duration::from_secs(10)).await {
            Event::Msg(v) if v["type"] == "error" => {
                assert_eq!(v["code"], "rate_limited");
                saw_error = true;
            }
            Event::Msg(_) => {}
            Event::Closed(code) => break code,
        }
    };
    assert!(saw_error);
    assert_eq!(code, Some(4008));
}

/// Read snapshots for `d` and return the highest tick seen.
async fn ticks_for(c: &mut Client, d: Duration) -> u64 {
    let end = tokio::time::Instant::now() + d;
    let mut max = 0;
    while tokio::time::Instant::now() < end {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, c.next(Duration::from_secs(5))).await {
            Ok(Event::Msg(v)) if v["type"] == "snapshot" => {
                max = max.max(v["tick"].as_u64().unwrap_or(0));
            }
            Ok(Event::Msg(_)) => {}
            Ok(Event::Closed(code)) => panic!("closed {code:?}"),
            Err(_) => break,
        }
    }
    max
}

async fn private_match(s: &TestServer, points: u32) -> (Client, Client, String) {
    let (ta, tb) = (s.guest().await, s.guest().await);
    let (_, created) = s
        .post(
            "/api/v1/rooms",
            Some(&ta),
            json!({"config": {"points_to_win": points}}),
        )
        .await;
    let room = created["room"].as_str().unwrap().to_string();
    let (mut a, _) = Client::login(s.addr, &ta).await;
    let (mut b, _) = Client::login(s.addr, &tb).await;
    a.send(json!({"type": "join", "room": room})).await;
    a.expect("joined").await;
    b.send(json!({"type": "join", "room": room})).await;
    b.expect("joined").await;
    a.expect_room_state("playing").await;
    b.expect_room_state("playing").await;
    (a, b, room)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_while_other_rooms_keep_ticking() {
    // Fast ticks and a tiny outbound queue make the backlog build in seconds.
    let s = server(&[
        "--tick-hz",
        "240",
        "--session-queue",
        "8",
        "--socket-send-buffer",
        "4096",
    ])
    .await;
    let (a, b, room) = private_match(&s, 21).await;
    let (mut c, d, _) = private_match(&s, 21).await;
    // Everyone else keeps reading (their sockets must not back up).
    let mut drainers = Vec::new();
    for mut x in [a, b, d] {
        drainers.push(tokio::spawn(async move {
            loop {
                if let Event::Closed(code) = x.next(Duration::from_secs(60)).await {
                    return code;
                }
            }
        }));
    }
    // The slow client spectates room 1 and then stops reading.
    let t = s.guest().await;
    let mut slow = Client::connect_small_buffer(s.addr).await;
    slow.send(json!({"type": "auth", "token": t})).await;
    slow.expect("welcome").await;
    slow.send(json!({"type": "spectate", "room": room})).await;
    slow.expect("joined").await;

    let before = ticks_for(&mut c, Duration::from_millis(200)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last_tick = before;
    loop {
        let tc = ticks_for(&mut c, Duration::from_millis(250)).await;
        assert!(tc > last_tick, "room 2 stopped ticking at {tc}");
        last_tick = tc;
        let slow_count = s.metric("rally_slow_client_disconnects_total", &[]).await;
        if slow_count >= 1.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "slow client never dropped"
        );
    }
    // Room 2 went on ticking well past the point where the slow client was dropped.
    let after = ticks_for(&mut c, Duration::from_millis(300)).await;
    assert!(after > before + 100, "before {before}, after {after}");
    // When the slow client reads again it finds the documented close code.
    assert_eq!(
        slow.expect_close().await,
        Some(rally::protocol::close::SLOW_CLIENT)
    );
    // Nobody else was dropped.
    for d in drainers {
        assert!(!d.is_finished(), "a reading client was disconnected");
        d.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_private_room_closes_after_the_idle_timeout() {
    let s = server(&["--room-idle-timeout", "500ms"]).await;
    let t = s.guest().await;
    let (_, created) = s.post("/api/v1/rooms", Some(&t), json!({})).await;
    let code = created["code"].as_str().unwrap().to_string();
    let match_id = created["match"].as_str().unwrap().to_string();
    let (mut c, _) = Client::login(s.addr, &t).await;
    // Sitting down and leaving again restarts the idle clock.
    c.send(json!({"type": "join", "code": code})).await;
    c.expect("joined").await;
    c.send(json!({"type": "leave"})).await;
    c.expect("left").await;
    // Idle timeout (500 ms) + linger (1 s), polled by spectating (which does not sit down)
    // until the code no longer resolves.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        c.send(json!({"type": "spectate", "code": code})).await;
        let v = loop {
            match c.next(Duration::from_secs(5)).await {
                Event::Msg(v) if v["type"] == "joined" || v["type"] == "error" => break v,
                Event::Msg(_) => {}
                Event::Closed(code) => panic!("closed {code:?}"),
            }
        };
        if v["type"] == "error" {
            assert_eq!(v["code"], "not_found", "{v}");
            break;
        }
        c.send(json!({"type": "leave"})).await;
        c.expect("left").await;
        assert!(tokio::time::Instant::now() < deadline, "room never closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The abandoned row is written off the room's thread: poll for it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, m) = s.get(&format!("/api/v1/matches/{match_id}"), None).await;
        if m["status"] == "abandoned" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "match never abandoned: {m}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_dropped_by_the_heartbeat() {
    let s = server(&[
        "--ws-heartbeat-interval",
        "100ms",
        "--ws-heartbeat-timeout",
        "400ms",
    ])
    .await;
    let t = s.guest().await;
    let (mut c, _) = Client::login(s.addr, &t).await;
    // Not reading means not answering the server's pings (tungstenite answers on read).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // The socket is closed (tungstenite may hit the closed socket answering the queued pings
    // before it surfaces the close frame, so the reason is read from the server's metrics).
    let code = c.expect_close().await;
    assert!(matches!(code, None | Some(4009)), "{code:?}");
    let counted = s
        .metric(
            "rally_ws_disconnects_total",
            &[("reason", "heartbeat_timeout")],
        )
        .await;
    assert!(counted >= 1.0, "no heartbeat disconnect counted");
    // A peer that keeps reading answers pings and stays connected well past the timeout.
    let (mut c, _) = Client::login(s.addr, &t).await;
    let end = tokio::time::Instant::now() + Duration::from_millis(1200);
    while tokio::time::Instant::now() < end {
        c.send(json!({"type": "ping", "id": 1})).await;
        c.expect("pong").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_fragmented_message_is_refused() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let s = server(&[]).await;
    let t = s.guest().await;
    let (mut c, _) = Client::login(s.addr, &t).await;
    // Each fragment is under the frame limit; together they exceed the message limit.
    let chunk = vec![b' '; rally::protocol::MAX_FRAME_BYTES / 2];
    c.send_raw(Message::Frame(Frame::message(
        b"{\"type\":\"ping\",".to_vec(),
        OpCode::Data(Data::Text),
        false,
    )))
    .await;
    for _ in 0..3 {
        c.send_raw(Message::Frame(Frame::message(
            chunk.clone(),
            OpCode::Data(Data::Continue),
            false,
        )))
        .await;
    }
    c.send_raw(Message::Frame(Frame::message(
        b"\"id\":1}".to_vec(),
        OpCode::Data(Data::Continue),
        true,
    )))
    .await;
    assert_eq!(
        c.expect_close().await,
        Some(rally::protocol::close::TOO_BIG)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_intent_is_acked_but_not_applied_or_recorded_again() {
    let s = server(&[]).await;
    let (ta, tb) = (s.guest().await, s.guest().await);
    let (_, created) = s
        .post(
            "/api/v1/rooms",
            Some(&ta),
            json!({"config": {"points_to_win": 21}}),
        )
        .await;
    let room = created["room"].as_str().unwrap().to_string();
    let match_id = created["match"].as_str().unwrap().to_string();
    let (mut a, _) = Client::login(s.addr, &ta).await;
    let (mut b, _) = Client::login(s.addr, &tb).await;
    a.send(json!({"type": "join", "room": room})).await;
    let seat = a.expect("joined").await["seat"].as_u64().unwrap() as usize;
    b.send(json!({"type": "join", "room": room})).await;
    b.expect("joined").await;
    a.expect_room_state("playing").await;
    let repeated_before = s
        .metric("rally_inputs_total", &[("result", "repeated")])
        .await;
    // An open-loop client: the same intent every frame, then a change.
    for intent in ["up", "up", "up", "up", "down", "down"] {
        a.input(intent).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every input is acked, repeats included.
    loop {
        let v = a.expect("snapshot").await;
        if v["acks"][seat].as_u64() == Some(6) {
            break;
        }
    }
    let repeated = s
        .metric("rally_inputs_total", &[("result", "repeated")])
        .await
        - repeated_before;
    assert!(repeated >= 4.0, "3 repeats of up and 1 of down: {repeated}");
    a.send(json!({"type": "resign"})).await;
    a.expect("match_end").await;
    let replay = s.finished_replay(&match_id, Duration::from_secs(10)).await;
    let intents: Vec<&str> = replay["log"]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i[1].as_u64() == Some(seat as u64))
        .filter_map(|i| i[2].as_str())
        .collect();
    assert_eq!(intents, ["up", "down"], "{replay}");
    // The recorded replay still verifies by re-simulation.
    let out = s.rally_cli(&["replay", "verify", &match_id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
