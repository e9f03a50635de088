//! Light cycles on the engine, end to end over real WebSockets (test-sized settings): rooms of
//! N seats, quick matches of 4, places in the result and the stored match, players who leave or
//! drop while the others play on, full snapshots before deltas, replays, ratings per game and
//! the game catalogue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::ws::{Client, Event};
use common::{Backend, TestServer};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

/// Short countdown and windows; a reconnect grace long enough to rejoin in, short enough to
/// wait out.
const FAST: &[&str] = &[
    "--countdown",
    "200ms",
    "--reconnect-grace",
    "1500ms",
    "--join-window",
    "2s",
    "--room-linger",
    "1s",
    "--matchmaking-interval",
    "50ms",
];

async fn server() -> TestServer {
    TestServer::start(Backend::Sqlite, FAST).await.unwrap()
}

/// A small, quick field: one round to win.
fn small(seats: u8) -> Value {
    json!({"seats": seats, "width": 16, "height": 16, "rounds_to_win": 1,
           "move_every": 4, "round_delay_ms": 300})
}

/// A private cycles room with `config`, joined by one fresh guest per seat; returns the
/// clients (by seat), their tokens, the room and the match id.
async fn private_room(
    s: &TestServer,
    config: Value,
    rated: bool,
    tokens: Vec<String>,
) -> (Vec<Client>, String, String) {
    let (st, created) = s
        .post(
            "/api/v1/rooms",
            Some(&tokens[0]),
            json!({"game": "cycles", "config": config, "rated": rated}),
        )
        .await;
    assert_eq!(st, 201, "{created}");
    let room = created["room"].as_str().unwrap().to_string();
    let match_id = created["match"].as_str().unwrap().to_string();
    let mut clients = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let (mut c, _) = Client::login(s.addr, t).await;
        c.send(json!({"type": "join", "room": room})).await;
        let j = c.expect("joined").await;
        assert_eq!(j["seat"], i, "{j}");
        assert_eq!(j["info"]["kind"], "cycles", "{j}");
        clients.push(c);
    }
    (clients, room, match_id)
}

async fn guests(s: &TestServer, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(s.guest().await);
    }
    out
}

/// What a client knows of the field, built from a full snapshot and kept up by deltas.
#[derive(Default)]
struct Field {
    /// The tick of the state held (None: waiting for a full snapshot).
    tick: Option<u64>,
    occupied: HashSet<(i64, i64)>,
    heads: Vec<(i64, i64, i64)>,
    status: Vec<i64>,
    fulls: u32,
    deltas: u32,
}

impl Field {
    /// Apply a snapshot's state; false when it was a delta against a state we do not hold
    /// (ignored, as the protocol says).
    fn apply(&mut self, tick: u64, state: &Value) -> bool {
        let heads = |v: &Value| -> Vec<(i64, i64, i64)> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|h| match h.as_array() {
                    Some(h) => (
                        h[0].as_i64().unwrap(),
                        h[1].as_i64().unwrap(),
                        h[2].as_i64().unwrap(),
                    ),
                    // No cycle this round (out before it started).
                    None => (-1, -1, -1),
                })
                .collect()
        };
        if state["full"] == true {
            self.occupied.clear();
            for trail in state["trails"].as_array().unwrap() {
                let cells: Vec<i64> = trail
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap())
                    .collect();
                for xy in cells.chunks(2) {
                    self.occupied.insert((xy[0], xy[1]));
                }
            }
            self.fulls += 1;
        } else {
            let since = state["since"].as_u64().unwrap();
            if self.tick != Some(since) {
                self.tick = None;
                return false;
            }
            let cells: Vec<i64> = state["cells"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            for c in cells.chunks(3) {
                self.occupied.insert((c[1], c[2]));
            }
            self.deltas += 1;
        }
        self.heads = heads(&state["heads"]);
        self.status = state["status"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        self.tick = Some(tick);
        true
    }

    /// A turn that keeps `seat` off walls and trails for one more cell, if it needs one.
    fn steer(&self, seat: usize, size: (i64, i64)) -> Option<&'static str> {
        let &(x, y, dir) = self.heads.get(seat)?;
        if self.status.get(seat) != Some(&0) {
            return None;
        }
        let free = |d: i64| {
            let (dx, dy) = [(0, -1), (1, 0), (0, 1), (-1, 0)][d.rem_euclid(4) as usize];
            let (nx, ny) = (x + dx, y + dy);
            nx >= 0 && ny >= 0 && nx < size.0 && ny < size.1 && !self.occupied.contains(&(nx, ny))
        };
        if free(dir) {
            return None;
        }
        if free(dir + 3) {
            Some("left")
        } else if free(dir + 1) {
            Some("right")
        } else {
            None
        }
    }
}

/// Play `c` as `seat` until `match_end` (steering off walls and trails), checking that the
/// first snapshot is full and that deltas apply; returns the match_end message and the field.
async fn play_to_end(c: &mut Client, seat: usize, size: (i64, i64)) -> (Value, Field) {
    let mut f = Field::default();
    let mut seq = 0u64;
    let mut turned_at: Option<(i64, i64)> = None;
    loop {
        match c.next(Duration::from_secs(60)).await {
            Event::Msg(v) if v["type"] == "snapshot" => {
                if f.fulls == 0 {
                    assert_eq!(v["state"]["full"], true, "the first snapshot is full: {v}");
                }
                let tick = v["tick"].as_u64().unwrap();
                if !f.apply(tick, &v["state"]) {
                    continue;
                }
                let Some(&(x, y, _)) = f.heads.get(seat) else {
                    continue;
                };
                if turned_at == Some((x, y)) {
                    continue;
                }
                if let Some(turn) = f.steer(seat, size) {
                    seq += 1;
                    c.send(json!({"type": "input", "seq": seq, "input": turn}))
                        .await;
                    turned_at = Some((x, y));
                }
            }
            Event::Msg(v) if v["type"] == "match_end" => return (v, f),
            // A turn racing the crash of its cycle is refused; that is fine.
            Event::Msg(v) if v["type"] == "error" && v["code"] == "invalid_input" => {}
            Event::Msg(v) if v["type"] == "error" => panic!("error while playing: {v}"),
            Event::Msg(_) => {}
            Event::Closed(code) => panic!("closed while playing: {code:?}"),
        }
    }
}

#[actix_web::test]
async fn the_catalogue_lists_both_games() {
    let s = server().await;
    let (st, body) = s.get("/api/v1/games", None).await;
    assert_eq!(st, 200, "{body}");
    let games = body["games"].as_array().unwrap();
    let kinds: Vec<&str> = games.iter().map(|g| g["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["pong", "cycles"]);
    assert_eq!(games[0]["seats"], json!({"min": 2, "max": 2}));
    assert_eq!(games[0]["default_queue_size"], 2);
    assert_eq!(games[1]["seats"], json!({"min": 2, "max": 8}));
    assert_eq!(games[1]["default_queue_size"], 4);
    assert_eq!(games[1]["default_config"]["seats"], 4, "{body}");
    assert!(games[0]["default_config"]["points_to_win"].is_number());
    s.stop();
}

#[actix_web::test]
async fn queue_checks_the_game_and_the_size() {
    let s = server().await;
    let (mut c, _) = Client::login(s.addr, &s.guest().await).await;
    for bad in [
        json!({"type": "queue", "game": "chess"}),
        json!({"type": "queue", "game": "cycles", "size": 9}),
        json!({"type": "queue", "game": "cycles", "size": 1}),
        json!({"type": "queue", "game": "pong", "size": 3}),
    ] {
        c.send(bad.clone()).await;
        let e = c.expect("error").await;
        assert_eq!(e["code"], "invalid_field", "{bad} → {e}");
    }
    c.send(json!({"type": "queue", "game": "cycles", "size": 3}))
        .await;
    let q = c.expect("queued").await;
    assert_eq!(
        (q["game"].as_str(), q["size"].as_u64()),
        (Some("cycles"), Some(3))
    );
    c.send(json!({"type": "cancel_queue"})).await;
    c.expect("queue_left").await;
    // Pong's default size is echoed too.
    c.send(json!({"type": "queue"})).await;
    let q = c.expect("queued").await;
    assert_eq!(
        (q["game"].as_str(), q["size"].as_u64()),
        (Some("pong"), Some(2))
    );
    s.stop();
}

#[actix_web::test]
async fn a_quick_match_of_four_forms_one_room() {
    let s = server().await;
    let tokens = guests(&s, 5).await;
    let mut clients = Vec::new();
    for t in &tokens[..4] {
        let (mut c, _) = Client::login(s.addr, t).await;
        c.send(json!({"type": "queue", "game": "cycles", "size": 4}))
            .await;
        c.expect("queued").await;
        clients.push(c);
    }
    // A pong player in the queue at the same time never joins the group.
    let (mut p, _) = Client::login(s.addr, &tokens[4]).await;
    p.send(json!({"type": "queue"})).await;
    p.expect("queued").await;
    let mut rooms = HashSet::new();
    for c in &mut clients {
        let found = c.expect("match_found").await;
        rooms.insert(found["room"].as_str().unwrap().to_string());
    }
    assert_eq!(rooms.len(), 1, "one room for the four: {rooms:?}");
    let room = rooms.into_iter().next().unwrap();
    let mut seats = HashSet::new();
    for c in &mut clients {
        c.send(json!({"type": "join", "room": room})).await;
        let j = c.expect("joined").await;
        assert_eq!(j["info"]["seats"], 4, "{j}");
        seats.insert(j["seat"].as_u64().unwrap());
    }
    assert_eq!(seats.len(), 4);
    let r = clients[0].expect_room_state("playing").await;
    assert_eq!(r["players"].as_array().unwrap().len(), 4, "{r}");
    let snap = clients[0].expect("snapshot").await;
    assert_eq!(snap["state"]["full"], true, "{snap}");
    assert_eq!(snap["state"]["heads"].as_array().unwrap().len(), 4);
    s.stop();
}

#[actix_web::test]
async fn four_players_play_to_a_winner_with_places_stored_and_replayable() {
    let s = server().await;
    let tokens = guests(&s, 4).await;
    let (clients, _room, match_id) = private_room(&s, small(4), false, tokens).await;
    let mut handles = Vec::new();
    for (seat, mut c) in clients.into_iter().enumerate() {
        handles.push(tokio::spawn(async move {
            let (end, f) = play_to_end(&mut c, seat, (16, 16)).await;
            (end, f.fulls, f.deltas)
        }));
    }
    let mut ends = Vec::new();
    for h in handles {
        let (end, fulls, deltas) = h.await.unwrap();
        assert!(fulls >= 1);
        assert!(
            deltas > 0,
            "the shared frames are deltas: {fulls} fulls, {deltas} deltas"
        );
        ends.push(end);
    }
    let outcome = &ends[0]["outcome"];
    let places: Vec<u64> = outcome["places"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap())
        .collect();
    assert_eq!(places.len(), 4, "{outcome}");
    assert!(places.contains(&1), "{outcome}");
    for e in &ends {
        assert_eq!(e["outcome"], *outcome);
    }
    let replay = s.finished_replay(&match_id, Duration::from_secs(10)).await;
    assert_eq!(replay["players"].as_array().unwrap().len(), 4);
    let (_, m) = s.get(&format!("/api/v1/matches/{match_id}"), None).await;
    let stored: Vec<u64> = m["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["place"].as_u64().unwrap())
        .collect();
    assert_eq!(stored, places, "{m}");
    // The recorded match re-simulates to the same final state.
    let out = s.rally_cli(&["replay", "verify", &match_id]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    s.stop();
}

#[actix_web::test]
async fn players_who_leave_do_not_end_the_others_match() {
    let s = server().await;
    let mut tokens = Vec::new();
    for name in ["ana", "ben", "cyd", "dee"] {
        tokens.push(s.register(name).await);
    }
    // A big, slow field: nobody crashes while the others leave.
    let config = json!({"seats": 4, "width": 64, "height": 64, "rounds_to_win": 1,
                        "move_every": 30, "round_delay_ms": 10000});
    let (mut clients, _room, match_id) = private_room(&s, config, true, tokens.clone()).await;
    for c in &mut clients {
        c.expect_room_state("playing").await;
    }
    // Seat 3 leaves: it is out (last place), the others play on.
    clients[3].send(json!({"type": "leave"})).await;
    clients[3].expect("left").await;
    let out = loop {
        let e = clients[0].expect("event").await;
        if e["event"]["name"] == "out" {
            break e;
        }
    };
    assert_eq!(out["event"]["data"]["seat"], 3, "{out}");
    let before = clients[0].expect("snapshot").await["tick"]
        .as_u64()
        .unwrap();
    let after = clients[0].expect("snapshot").await["tick"]
        .as_u64()
        .unwrap();
    assert!(after > before, "the match goes on");
    // The leaver may queue again at once.
    clients[3].send(json!({"type": "queue"})).await;
    clients[3].expect("queued").await;
    // Seat 2 leaves, then seat 1: seat 0 is the last one in and wins.
    for seat in [2, 1] {
        clients[seat].send(json!({"type": "leave"})).await;
        clients[seat].expect("left").await;
    }
    let end = clients[0].expect("match_end").await;
    assert_eq!(end["outcome"]["winner"], 0, "{end}");
    assert_eq!(end["outcome"]["places"], json!([1, 2, 3, 4]), "{end}");
    let replay = s.finished_replay(&match_id, Duration::from_secs(10)).await;
    assert_eq!(
        replay["log"]["removals"].as_array().unwrap().len(),
        3,
        "{replay}"
    );
    let out = s.rally_cli(&["replay", "verify", &match_id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Rated: each player has a cycles rating now, ordered by place; Pong ratings untouched.
    let (_, board) = s.get("/api/v1/leaderboard?game=cycles", None).await;
    let names: Vec<&str> = board["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ana", "ben", "cyd", "dee"], "{board}");
    let (_, pong) = s.get("/api/v1/leaderboard", None).await;
    assert!(pong["items"].as_array().unwrap().is_empty(), "{pong}");
    let (st, bad) = s.get("/api/v1/leaderboard?game=chess", None).await;
    common::assert_error(st, &bad, 400, "validation");
    let (_, me) = s.get("/api/v1/me", Some(&tokens[0])).await;
    assert_eq!(me["ratings"]["cycles"]["games_played"], 1, "{me}");
    assert!(
        me["ratings"]["cycles"]["rating"].as_i64().unwrap() > 1500,
        "{me}"
    );
    assert_eq!(me["ratings"]["pong"]["games_played"], 0, "{me}");
    assert_eq!(me["rating"], 1500, "the top-level rating is Pong's: {me}");
    s.stop();
}

#[actix_web::test]
async fn an_away_player_is_out_after_the_grace_while_the_room_plays_on() {
    let s = server().await;
    let tokens = guests(&s, 3).await;
    let config = json!({"seats": 3, "width": 64, "height": 64, "rounds_to_win": 1,
                        "move_every": 30, "round_delay_ms": 10000});
    let (mut clients, room, _) = private_room(&s, config, false, tokens.clone()).await;
    for c in &mut clients {
        c.expect_room_state("playing").await;
    }
    // Seat 2 drops: the room keeps playing and shows it away.
    let gone = clients.pop().unwrap();
    drop(gone);
    let r = loop {
        let r = clients[0].expect("room").await;
        if r["players"][2]["connected"] == false {
            break r;
        }
    };
    assert_eq!(r["state"], "playing", "{r}");
    // Seat 1 drops too and comes back within the grace: a full snapshot first, then deltas.
    let c1 = clients.pop().unwrap();
    drop(c1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (mut c1, _) = Client::login(s.addr, &tokens[1]).await;
    c1.send(json!({"type": "join", "room": room})).await;
    c1.expect("joined").await;
    let first = c1.expect("snapshot").await;
    assert_eq!(first["state"]["full"], true, "{first}");
    let mut field = Field::default();
    field.apply(first["tick"].as_u64().unwrap(), &first["state"]);
    let next = c1.expect("snapshot").await;
    assert_eq!(next["state"]["full"], false, "{next}");
    assert!(field.apply(next["tick"].as_u64().unwrap(), &next["state"]));
    // After the grace seat 2 is out (forfeit); the match goes on for the two left.
    let out = loop {
        let e = clients[0]
            .expect_within("event", Duration::from_secs(5))
            .await;
        if e["event"]["name"] == "out" {
            break e;
        }
    };
    assert_eq!(out["event"]["data"]["seat"], 2, "{out}");
    assert_eq!(out["event"]["data"]["reason"], "forfeit", "{out}");
    let r = clients[0].expect("room").await;
    assert_eq!(r["state"], "playing", "{r}");
    let t0 = clients[0].expect("snapshot").await["tick"]
        .as_u64()
        .unwrap();
    let t1 = clients[0].expect("snapshot").await["tick"]
        .as_u64()
        .unwrap();
    assert!(t1 > t0);
    // A spectator gets the full state first as well.
    let (mut spec, _) = Client::login(s.addr, &s.guest().await).await;
    spec.send(json!({"type": "spectate", "room": room})).await;
    spec.expect("joined").await;
    let first = spec.expect("snapshot").await;
    assert_eq!(first["state"]["full"], true, "{first}");
    s.stop();
}
