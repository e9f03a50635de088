//! Hand-written players for the multi-instance tests: read with a deadline, play a match to
//! its end (tracking the ball or standing still) and come back through any live instance when
//! the connection drops or goes silent (protocol §5.5).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use super::cluster::TestCluster;
use super::ws::Client;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Live instances' addresses, shared by players that reconnect.
pub type Live = Arc<Mutex<Vec<SocketAddr>>>;

/// The addresses of `c`'s live instances.
pub fn live(c: &TestCluster) -> Live {
    Arc::new(Mutex::new(
        c.alive().into_iter().map(|i| c.addr(i)).collect(),
    ))
}

/// Next text message as JSON, or None on close / silence for `within`.
pub async fn read(c: &mut Client, within: Duration) -> Option<Value> {
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
pub async fn rejoin(live: &Live, token: &str, room: &str, deadline: Instant) -> Client {
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
pub async fn play(
    mut c: Client,
    live: Live,
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

/// Two guests matched into one room, both joined.
pub struct QuickMatch {
    /// The guest who queued on the first instance.
    pub a: Client,
    /// The guest who queued on the second.
    pub b: Client,
    pub room: String,
    pub seat_a: usize,
    pub match_id: String,
    pub ta: String,
    pub tb: String,
    pub ida: String,
    pub idb: String,
}

impl QuickMatch {
    pub fn seat_b(&self) -> usize {
        1 - self.seat_a
    }
}

/// Both guests queue (a on instance `ia`, b on `ib`) and join the room they are matched into.
pub async fn quick_match(c: &TestCluster, ia: usize, ib: usize) -> QuickMatch {
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
    QuickMatch {
        a,
        b,
        room,
        seat_a,
        match_id,
        ta,
        tb,
        ida,
        idb,
    }
}
