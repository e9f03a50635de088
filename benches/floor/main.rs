//! The floor: a bare WebSocket game server, **a measuring stick, not a product**.
//!
//! It does what a naive server does and nothing clever: plain tokio (multi-threaded runtime)
//! and tokio-tungstenite (4 KiB read buffer), a task per connection that reads, a task per
//! connection that writes whatever its unbounded channel brings — **one write per frame** — and
//! a task per room that ticks 60 Hz Pong, encodes **one JSON snapshot per tick** and sends it
//! to each player's channel, then each event the same way. No persistence, no metrics, no
//! limits, no auth beyond a made-up token, no spectators, no reconnection.
//!
//! It speaks the subset of rally's protocol that `rally loadgen --mode private` uses — guest
//! auth (`POST /api/v1/auth/guest`), a private room (`POST /api/v1/rooms`, join by id or
//! code), `auth`, `join`, `input`, `ping`, `resign`, `leave`, and the `welcome`, `joined`,
//! `room`, `snapshot`, `event`, `match_end` messages — with rally's own Pong simulation and
//! message encoder, so both servers do the same game work and send the same bytes.
//!
//! `just bench-vs-floor` (benches/vs-floor.sh) runs the same load against it and against rally.
//!
//!     cargo run --release --example floor -- 127.0.0.1:9000

use futures_util::{SinkExt, StreamExt};
use rally::game::{self, GameEvent};
use rally::protocol::{self, ClientMsg, SeatView, ServerMsg};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Out = mpsc::UnboundedSender<String>;

/// What a room's task hears from its players.
enum ToRoom {
    Join {
        player: String,
        name: String,
        out: Out,
        reply: Out,
    },
    Input {
        seat: usize,
        seq: u64,
        input: Value,
    },
    Leave {
        seat: usize,
    },
}

struct RoomRef {
    tx: mpsc::UnboundedSender<ToRoom>,
}

#[derive(Default)]
struct Server {
    rooms: Mutex<HashMap<String, Arc<RoomRef>>>,
    next: AtomicU64,
}

impl Server {
    fn id(&self, prefix: &str) -> String {
        format!("{prefix}{:06}", self.next.fetch_add(1, Ordering::Relaxed))
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let listener = TcpListener::bind(&bind).await?;
    eprintln!("floor listening on {bind}");
    let server = Arc::new(Server::default());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(server.clone(), stream));
    }
}

/// Serve HTTP requests on one connection (keep-alive) until it upgrades or closes.
async fn connection(server: Arc<Server>, mut stream: TcpStream) {
    let mut buf = Vec::new();
    loop {
        let Some(end) = read_head(&mut stream, &mut buf).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let mut lines = head.lines();
        let mut first = lines.next().unwrap_or("").split_whitespace();
        let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut rest = buf.split_off(end + 4);
        buf.clear();
        if headers
            .get("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
        {
            let key = headers
                .get("sec-websocket-key")
                .cloned()
                .unwrap_or_default();
            let resp = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
                derive_accept_key(key.as_bytes())
            );
            if stream.write_all(resp.as_bytes()).await.is_err() {
                return;
            }
            let config = WebSocketConfig::default().read_buffer_size(4096);
            let ws = WebSocketStream::from_partially_read(stream, rest, Role::Server, Some(config))
                .await;
            return session(server, ws).await;
        }
        while rest.len() < len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => rest.extend_from_slice(&chunk[..n]),
            }
        }
        buf = rest.split_off(len);
        let (status, body) = route(&server, method, path);
        let resp = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(end);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn route(server: &Arc<Server>, method: &str, path: &str) -> (&'static str, String) {
    match (method, path) {
        ("POST", "/api/v1/auth/guest") => {
            let id = server.id("P");
            let player = json!({"id": id, "name": format!("guest-{id}"), "role": "guest",
                "guest": true, "rating": 1500.0, "rating_deviation": 350.0, "games_played": 0,
                "created_at": 0});
            // The token is the player id: the floor trusts it.
            (
                "201 Created",
                json!({"token": id, "player": player}).to_string(),
            )
        }
        ("POST", "/api/v1/rooms") => {
            let id = server.id("R");
            let (tx, rx) = mpsc::unbounded_channel();
            let room = Arc::new(RoomRef { tx });
            server
                .rooms
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.clone(), room);
            tokio::spawn(run_room(server.clone(), id.clone(), rx));
            (
                "201 Created",
                json!({"room": id, "code": id, "match": format!("M{id}")}).to_string(),
            )
        }
        ("GET", "/healthz" | "/readyz") => ("200 OK", "{}".into()),
        _ => (
            "404 Not Found",
            r#"{"error":{"code":"not_found","message":"floor"}}"#.into(),
        ),
    }
}

/// One WebSocket: a reader (this task) and a writer task, one write per frame.
async fn session(server: Arc<Server>, ws: WebSocketStream<TcpStream>) {
    let (mut sink, mut stream) = ws.split();
    let (out, mut outbox) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(text) = outbox.recv().await {
            if sink.send(Message::text(text)).await.is_err() {
                return;
            }
        }
    });
    let mut player: Option<String> = None;
    let mut room: Option<(Arc<RoomRef>, usize)> = None;
    let (seat_tx, mut seat_rx) = mpsc::unbounded_channel::<String>();
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else {
            continue;
        };
        let Ok(msg) = protocol::parse_client(&text) else {
            continue;
        };
        match msg {
            ClientMsg::Auth { token } => {
                let _ = out.send(
                    ServerMsg::Welcome {
                        protocol: protocol::PROTOCOL_VERSION,
                        session: &token,
                        player: json!({"id": token, "name": format!("guest-{token}"),
                            "role": "guest", "rating": 1500}),
                        room: None,
                        server_time: 0,
                    }
                    .encode(),
                );
                player = Some(token);
            }
            ClientMsg::Ping { id, client_time } => {
                let _ = out.send(
                    ServerMsg::Pong {
                        id,
                        client_time,
                        server_time: 0,
                    }
                    .encode(),
                );
            }
            ClientMsg::Join { room: r, code } => {
                let id = r.or(code).unwrap_or_default();
                let found = server
                    .rooms
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&id)
                    .cloned();
                let (Some(found), Some(p)) = (found, player.clone()) else {
                    continue;
                };
                let _ = found.tx.send(ToRoom::Join {
                    name: format!("guest-{p}"),
                    player: p,
                    out: out.clone(),
                    reply: seat_tx.clone(),
                });
                // The room answers with the seat (as text) once it has sent `joined`.
                if let Some(seat) = seat_rx.recv().await.and_then(|s| s.parse().ok()) {
                    room = Some((found, seat));
                }
            }
            ClientMsg::Input { seq, input, .. } => {
                if let Some((r, seat)) = &room {
                    let _ = r.tx.send(ToRoom::Input {
                        seat: *seat,
                        seq,
                        input,
                    });
                }
            }
            ClientMsg::Resign | ClientMsg::Leave => {
                if let Some((r, seat)) = room.take() {
                    let _ = r.tx.send(ToRoom::Leave { seat });
                }
            }
            _ => {}
        }
    }
    if let Some((r, seat)) = room {
        let _ = r.tx.send(ToRoom::Leave { seat });
    }
    writer.abort();
}

struct Seat {
    player: String,
    name: String,
    out: Out,
    last_seq: u64,
    /// The tick `last_seq` took effect at (the snapshot's `ack_ticks`, as rally sends it).
    ack_tick: u64,
}

/// A room: waits for two players, counts down, ticks Pong at 60 Hz until someone wins or
/// leaves.
async fn run_room(server: Arc<Server>, id: String, mut rx: mpsc::UnboundedReceiver<ToRoom>) {
    let mut game = match game::create("pong", &json!({"points_to_win": 5}), 1) {
        Ok(g) => g,
        Err(_) => return,
    };
    let info = game.info();
    let mut seats: Vec<Seat> = Vec::new();
    let broadcast = |seats: &[Seat], text: &str| {
        for s in seats {
            let _ = s.out.send(text.to_string());
        }
    };
    let room_msg = |seats: &[Seat], state: &str| {
        let players: Vec<SeatView> = seats
            .iter()
            .enumerate()
            .map(|(i, s)| SeatView {
                seat: i as u8,
                id: s.player.clone(),
                name: s.name.clone(),
                connected: true,
                rating: 1500,
            })
            .collect();
        ServerMsg::Room {
            room: &id,
            state,
            players: &players,
            spectators: 0,
            remaining_ms: None,
        }
        .encode()
    };
    // Waiting for two players.
    while seats.len() < 2 {
        match rx.recv().await {
            Some(ToRoom::Join {
                player,
                name,
                out,
                reply,
            }) => {
                let seat = seats.len();
                let _ = out.send(
                    ServerMsg::Joined {
                        room: &id,
                        r#match: &format!("M{id}"),
                        role: "player",
                        seat: Some(seat as u8),
                        info: &info,
                        tick_hz: 60,
                    }
                    .encode(),
                );
                let _ = reply.send(seat.to_string());
                seats.push(Seat {
                    player,
                    name,
                    out,
                    last_seq: 0,
                    ack_tick: 0,
                });
                broadcast(&seats, &room_msg(&seats, "waiting"));
            }
            Some(_) => {}
            None => return,
        }
    }
    broadcast(&seats, &room_msg(&seats, "playing"));
    let mut ticker = tokio::time::interval(Duration::from_micros(16_667));
    let mut events = Vec::new();
    let mut ended_by: Option<usize> = None;
    loop {
        ticker.tick().await;
        while let Ok(m) = rx.try_recv() {
            match m {
                ToRoom::Input { seat, seq, input } => {
                    if game.apply_input(seat as u8, &input).is_ok() {
                        seats[seat].last_seq = seq;
                        seats[seat].ack_tick = game.tick() + 1;
                    }
                }
                ToRoom::Leave { seat } => ended_by = Some(seat),
                ToRoom::Join { .. } => {}
            }
        }
        events.clear();
        game.step(&mut events);
        let acks: Vec<u64> = seats.iter().map(|s| s.last_seq).collect();
        let ack_ticks: Vec<u64> = seats.iter().map(|s| s.ack_tick).collect();
        let snap = protocol::snapshot_frame(game.tick(), &acks, &ack_ticks, &game.snapshot());
        broadcast(&seats, &snap);
        for e in events
            .iter()
            .filter(|e| !matches!(e, GameEvent::Ended { .. }))
        {
            broadcast(
                &seats,
                &ServerMsg::Event {
                    tick: game.tick(),
                    event: e,
                }
                .encode(),
            );
        }
        let outcome = match ended_by {
            Some(seat) => Some(game.end_by_forfeit(seat as u8, game::EndReason::Resign)),
            None => game.outcome(),
        };
        if let Some(outcome) = outcome {
            let end = ServerMsg::MatchEnd {
                room: &id,
                r#match: &format!("M{id}"),
                outcome: &outcome,
                rated: false,
            }
            .encode();
            broadcast(&seats, &end);
            broadcast(&seats, &room_msg(&seats, "finished"));
            server
                .rooms
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            return;
        }
    }
}
