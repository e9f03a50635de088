//! A tournament bot for tests: a real WebSocket client that subscribes to a tournament, joins
//! every match it is called to (by the `match_ready` event, or by the room its `welcome`
//! names after a reconnect), plays it, and returns when the tournament is over. It reconnects
//! when the server goes away (the restart tests kill it with SIGKILL).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// How a bot plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Follow the ball, re-deciding every `lag` snapshots (1 = every snapshot). A larger lag
    /// misses fast balls sooner, so matches between trackers end.
    Track { lag: u32 },
    /// Join, but never move.
    Idle,
}

/// What a bot saw.
#[derive(Debug, Default)]
pub struct Report {
    /// `match_end` messages of the matches it played.
    pub matches: Vec<Value>,
    /// Every `tournament` event received, in order.
    pub events: Vec<Value>,
    /// The tournament's final status (`finished` or `cancelled`).
    pub final_status: Option<String>,
    /// Times the connection was lost and made again.
    pub reconnects: u32,
    /// Other messages worth a look when a test fails (welcome, errors, joins).
    pub log: Vec<Value>,
}

/// A registered bot account.
#[derive(Clone, Debug)]
pub struct Account {
    pub name: String,
    pub id: String,
    pub token: String,
}

/// Register `name` on the server at `base` (`http://addr`).
pub async fn register(http: &reqwest::Client, base: &str, name: &str) -> Account {
    let r = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"name": name, "password": "correct-horse"}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status().as_u16(), 201, "register {name}");
    let b: Value = r.json().await.unwrap();
    Account {
        name: name.to_string(),
        id: b["player"]["id"].as_str().unwrap().to_string(),
        token: b["token"].as_str().unwrap().to_string(),
    }
}

/// Log `name` in again (after a role change).
pub async fn login(http: &reqwest::Client, base: &str, name: &str) -> String {
    let r = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"name": name, "password": "correct-horse"}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status().as_u16(), 200, "login {name}");
    let b: Value = r.json().await.unwrap();
    b["token"].as_str().unwrap().to_string()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(ws: &mut Ws, v: Value) -> bool {
    ws.send(Message::text(v.to_string())).await.is_ok()
}

/// Connect and authenticate, retrying until `deadline` (the server may be restarting).
async fn connect(addr: SocketAddr, token: &str, deadline: Instant) -> (Ws, Value) {
    loop {
        assert!(Instant::now() < deadline, "bot could not reconnect in time");
        if let Ok(Ok((mut ws, _))) = tokio::time::timeout(
            Duration::from_secs(2),
            tokio_tungstenite::connect_async(format!("ws://{addr}/ws")),
        )
        .await
        {
            if send(&mut ws, json!({"type": "auth", "token": token})).await {
                while let Ok(Some(Ok(m))) =
                    tokio::time::timeout(Duration::from_secs(5), ws.next()).await
                {
                    if let Message::Text(t) = m {
                        let v: Value = serde_json::from_str(&t).unwrap();
                        if v["type"] == "welcome" {
                            return (ws, v);
                        }
                        if v["type"] == "error" {
                            break;
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Play tournament `tournament` as `me` until it is over (or `limit` passes: panic).
pub async fn play(
    addr: SocketAddr,
    me: Account,
    tournament: String,
    style: Style,
    limit: Duration,
) -> Report {
    let deadline = Instant::now() + limit;
    let mut report = Report::default();
    let mut first = true;
    // Input sequence numbers only grow, across reconnects too (a room keeps the last one).
    let mut seq = 0u64;
    loop {
        if !first {
            report.reconnects += 1;
        }
        first = false;
        let (mut ws, welcome) = connect(addr, &me.token, deadline).await;
        report.log.push(welcome.clone());
        send(
            &mut ws,
            json!({"type": "subscribe", "tournament": tournament}),
        )
        .await;
        if let Some(room) = welcome["room"].as_str() {
            send(&mut ws, json!({"type": "join", "room": room})).await;
        }
        let mut seat: Option<usize> = None;
        let (mut intent, mut snaps) = ("stop", 0u32);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{}: tournament did not finish in time",
                me.name
            );
            let msg = match tokio::time::timeout(left, ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<Value>(&t).unwrap(),
                Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => break,
                Ok(Some(Ok(_))) => continue,
                Err(_) => panic!("{}: tournament did not finish in time", me.name),
            };
            match msg["type"].as_str().unwrap_or("") {
                "tournament" => {
                    report.events.push(msg.clone());
                    let status = match msg["event"].as_str() {
                        Some("status") => msg["status"].as_str(),
                        Some("state") => msg["view"]["status"].as_str(),
                        _ => None,
                    };
                    if let Some(s @ ("finished" | "cancelled")) = status {
                        report.final_status = Some(s.to_string());
                        return report;
                    }
                    let mine = msg["players"]
                        .as_array()
                        .is_some_and(|ps| ps.iter().any(|p| p["id"] == me.id.as_str()));
                    if msg["event"] == "match_ready" && mine {
                        let room = msg["room"].clone();
                        send(&mut ws, json!({"type": "join", "room": room})).await;
                    }
                }
                "error"
                    if msg["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("no running tournament")) =>
                {
                    // Over (or not ours to follow any more): the HTTP view says which.
                    let view = fetch_view(addr, &tournament).await;
                    let status = view["status"].as_str().unwrap_or("").to_string();
                    if status == "finished" || status == "cancelled" {
                        report.final_status = Some(status);
                        return report;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    send(
                        &mut ws,
                        json!({"type": "subscribe", "tournament": tournament}),
                    )
                    .await;
                }
                "error" | "joined" => report.log.push(msg.clone()),
                _ => {}
            }
            match msg["type"].as_str().unwrap_or("") {
                "joined" if msg["role"] == "player" => {
                    seat = msg["seat"].as_u64().map(|s| s as usize);
                    intent = "stop";
                }
                "snapshot" => {
                    let (Some(seat), Style::Track { lag }) = (seat, style) else {
                        continue;
                    };
                    snaps += 1;
                    if snaps % lag.max(1) != 0 {
                        continue;
                    }
                    let ball_y = msg["state"]["ball"][1].as_i64().unwrap_or(4500);
                    let pad_y = msg["state"]["paddles"][seat].as_i64().unwrap_or(4500);
                    let want = super::play::follow(ball_y, pad_y);
                    if want != intent {
                        intent = want;
                        seq += 1;
                        send(&mut ws, json!({"type": "input", "seq": seq, "input": want})).await;
                    }
                }
                "match_end" => {
                    report.matches.push(msg);
                    seat = None;
                }
                _ => {}
            }
        }
    }
}

/// `GET /api/v1/tournaments/{id}` (panics unless 200).
pub async fn fetch_view(addr: SocketAddr, tournament: &str) -> Value {
    let r = reqwest::get(format!("http://{addr}/api/v1/tournaments/{tournament}"))
        .await
        .expect("get tournament");
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}
