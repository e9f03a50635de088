//! After a rated match, the next match shows (and pairs by) the new ratings: the session keeps
//! the rating its `ratings` message carried instead of the one read when it authenticated
//! (issue 15: "both players at (1500) in a second match though their ratings had changed").
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::ws::Client;
use common::{Backend, TestServer};
use serde_json::{json, Value};

/// Quick-match two clients; returns the `room` message of the countdown.
async fn pair(a: &mut Client, b: &mut Client) -> Value {
    a.send(json!({"type": "queue"})).await;
    a.expect("queued").await;
    b.send(json!({"type": "queue"})).await;
    b.expect("queued").await;
    let room = a.expect("match_found").await["room"]
        .as_str()
        .unwrap()
        .to_string();
    b.expect("match_found").await;
    a.send(json!({"type": "join", "room": room})).await;
    a.expect("joined").await;
    b.send(json!({"type": "join", "room": room})).await;
    b.expect("joined").await;
    a.expect_room_state("countdown").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_match_shows_the_ratings_of_the_last_one() {
    let s = TestServer::start(
        Backend::Sqlite,
        &[
            "--points-to-win",
            "1",
            "--countdown",
            "200ms",
            "--matchmaking-interval",
            "50ms",
            "--room-linger",
            "1s",
        ],
    )
    .await
    .unwrap();
    let (ta, tb) = (s.guest().await, s.guest().await);
    let (mut a, wa) = Client::login(s.addr, &ta).await;
    let (mut b, _) = Client::login(s.addr, &tb).await;
    let id_a = wa["player"]["id"].as_str().unwrap().to_string();
    let first = pair(&mut a, &mut b).await;
    for p in first["players"].as_array().unwrap() {
        assert_eq!(p["rating"], 1500, "{first}");
    }
    // b resigns once play started: a rated result, ratings move.
    b.expect_room_state("playing").await;
    b.send(json!({"type": "resign"})).await;
    a.expect("match_end").await;
    let ratings = a.expect("ratings").await;
    b.expect("ratings").await;
    let after = |id: &str| -> i64 {
        ratings["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["player"] == id)
            .unwrap()["after"]
            .as_i64()
            .unwrap()
    };
    let changes = ratings["changes"].as_array().unwrap();
    let id_b = changes
        .iter()
        .find(|c| c["player"] != id_a.as_str())
        .unwrap()["player"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(after(&id_a) > 1500 && after(&id_b) < 1500, "{ratings}");
    // The second match, on the same sessions: the room shows the new ratings.
    let second = pair(&mut a, &mut b).await;
    let shown = |id: &str| -> i64 {
        second["players"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap()["rating"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(shown(&id_a), after(&id_a), "{second}");
    assert_eq!(shown(&id_b), after(&id_b), "{second}");
}
