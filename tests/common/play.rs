//! Hand-written players for the multi-instance tests: read with a deadline, play a match to
//! its end (tracking the ball or standing still) and come back through any live instance when
//! the connection drops or goes silent (protocol §5.5).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use super::cluster::TestCluster;
use super::ws::Client;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Live instances' addresses, shared by players that reconnect.
pub type Live = Arc<Mutex<Vec<SocketAddr>>>;

/// The addresses of `c`'s live instances.
/// The intent of a player that follows the ball with its paddle centre (a 200-unit dead zone).
pub fn follow(ball_y: i64, pad_y: i64) -> &'static str {
    if ball_y < pad_y - 200 {
        "up"
    } else if ball_y > pad_y + 200 {
        "down"
    } else {
        "stop"
    }
}

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
        let mut c = Client {
            ws,
            seq: 0,
            bin: false,
        };
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
                let want = follow(ball_y, pad_y);
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

/// A client read in the background and its messages dropped, while a test waits for something
/// else: a socket left unread fills up and the server closes it as a slow reader (4011).
pub struct Drained {
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<Client>,
}

/// Read `c` in the background until [`Drained::resume`].
pub fn drain(mut c: Client) -> Drained {
    let stop = Arc::new(tokio::sync::Notify::new());
    let told = stop.clone();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = told.notified() => return c,
                m = c.ws.next() => {
                    if m.is_none() {
                        return c;
                    }
                }
            }
        }
    });
    Drained { stop, task }
}

impl Drained {
    /// Stop reading in the background; the client, to read it again.
    pub async fn resume(self) -> Client {
        self.stop.notify_one();
        self.task.await.expect("reader task")
    }
}

/// How a connection driven by [`drive`] ended.
#[derive(Debug)]
pub struct OpenLoopEnd {
    /// The close code (None: dropped without a close frame, or not closed).
    pub code: Option<u16>,
    /// When the close, the drop or the `match_end` was read (or `until` passed).
    pub at: Instant,
    /// The last `error` message read, if any (e.g. `rate_limited`).
    pub error: Option<Value>,
    /// The `match_end`, when the match ended first.
    pub match_end: Option<Value>,
}

/// Two guests in a private room created on instance `ia` with the game `config` (e.g. a long
/// match: `{"points_to_win": 21, "serve_delay_ms": 3000}`), a connected to `ia` and b to `ib`,
/// both joined by code; play is starting.
pub async fn private_match(
    c: &TestCluster,
    ia: usize,
    ib: usize,
    config: Value,
    rated: bool,
) -> QuickMatch {
    let (ta, ida) = c.guest(ia).await;
    let (tb, idb) = c.guest(ib).await;
    let r = c
        .http
        .post(format!("http://{}/api/v1/rooms", c.addr(ia)))
        .bearer_auth(&ta)
        .json(&json!({"rated": rated, "config": config}))
        .send()
        .await
        .expect("create room");
    let (st, created) = super::TestServer::read(r).await;
    assert_eq!(st, 201, "{created}");
    let code = created["code"].as_str().unwrap().to_string();
    let room = created["room"].as_str().unwrap().to_string();
    let (mut a, _) = Client::login(c.addr(ia), &ta).await;
    let (mut b, _) = Client::login(c.addr(ib), &tb).await;
    a.send(json!({"type": "join", "code": code})).await;
    let ja = a.expect("joined").await;
    b.send(json!({"type": "join", "code": code})).await;
    b.expect("joined").await;
    QuickMatch {
        a,
        b,
        room,
        seat_a: ja["seat"].as_u64().unwrap() as usize,
        match_id: ja["match"].as_str().unwrap().to_string(),
        ta,
        tb,
        ida,
        idb,
    }
}

/// A player driven by [`drive`].
pub struct Driven {
    /// How each of its connections ended (closed, dropped, or the match ended), in order.
    pub ends: Arc<Mutex<Vec<OpenLoopEnd>>>,
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<Client>,
}

impl Driven {
    /// Stop driving; the client (connected and joined, unless the match ended).
    pub async fn stop(self) -> Client {
        self.stop.notify_one();
        self.task.await.expect("driver task")
    }

    /// The first recorded end, if any.
    pub fn first_end(&self) -> Option<(Option<u16>, Instant, Option<Value>)> {
        self.ends
            .lock()
            .unwrap()
            .first()
            .map(|e| (e.code, e.at, e.error.clone()))
    }
}

/// Drive a joined player: send inputs at `hz` open loop (on a timer, whatever the server
/// answers — also while its server stalls, so they pile up in the socket as a real client's
/// would) and read everything; whenever the connection closes, record how and rejoin `room`
/// through any live instance (protocol §5.5), input sequence numbers going on. Stops at the
/// match end or when told.
pub fn drive(mut c: Client, live: Live, token: String, room: String, hz: u32) -> Driven {
    let ends = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(tokio::sync::Notify::new());
    let (record, told) = (ends.clone(), stop.clone());
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(hz)));
        let mut error: Option<Value> = None;
        loop {
            let ended = tokio::select! {
                _ = told.notified() => return c,
                _ = tick.tick() => {
                    c.seq += 1;
                    let intent = if (c.seq / 30) % 2 == 0 { "up" } else { "down" };
                    let msg = json!({"type": "input", "seq": c.seq, "input": intent});
                    c.ws.send(Message::text(msg.to_string())).await.err().map(|_| None)
                }
                m = c.ws.next() => match m {
                    Some(Ok(Message::Close(f))) => Some(f.map(|f| u16::from(f.code))),
                    Some(Ok(Message::Text(t))) => {
                        let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                        if v["type"] == "error" {
                            error = Some(v);
                        } else if v["type"] == "match_end" {
                            record.lock().unwrap().push(OpenLoopEnd {
                                code: None,
                                at: Instant::now(),
                                error: error.take(),
                                match_end: Some(v),
                            });
                            return c;
                        }
                        None
                    }
                    Some(Ok(_)) => None,
                    None | Some(Err(_)) => Some(None),
                },
            };
            if let Some(code) = ended {
                record.lock().unwrap().push(OpenLoopEnd {
                    code,
                    at: Instant::now(),
                    error: error.take(),
                    match_end: None,
                });
                let seq = c.seq;
                c = rejoin(
                    &live,
                    &token,
                    &room,
                    Instant::now() + Duration::from_secs(60),
                )
                .await;
                c.seq = seq;
            }
        }
    });
    Driven { ends, stop, task }
}
