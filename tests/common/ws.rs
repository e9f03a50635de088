//! A small WebSocket test client over tokio-tungstenite.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct Client {
    pub ws: Ws,
    pub seq: u64,
    /// Speaks `rally.v1.bin` (binary MessagePack frames) instead of JSON text. Messages are
    /// still built and read as JSON values: `send` encodes them (inputs in the compact form),
    /// `next` decodes them, expanding a compact Pong snapshot's `state` array into its named
    /// fields (the array itself is kept as `state_compact`).
    pub bin: bool,
}

/// The names of a Pong snapshot's compact state, by position (docs/protocol.md §12.4).
pub const PONG_STATE: [&str; 5] = ["tick", "ball", "paddles", "scores", "serving_in"];

/// A server `rally.v1.bin` frame as a JSON value (see [`Client::bin`]).
pub fn decode_bin(bytes: &[u8]) -> Value {
    let mut v = rally::protocol::bin::decode_server(bytes).expect("server sent rally.v1.bin");
    if v["type"] == "snapshot" {
        let compact = v["state"].take();
        let a = compact.as_array().expect("compact state is an array");
        assert_eq!(a.len(), PONG_STATE.len(), "pong state {compact}");
        let named: serde_json::Map<String, Value> = PONG_STATE
            .iter()
            .zip(a)
            .map(|(k, x)| (k.to_string(), x.clone()))
            .collect();
        v["state"] = Value::Object(named);
        v["state_compact"] = compact;
    }
    v
}

/// A client message as `rally.v1.bin` bytes (inputs compact, the rest in the map form).
pub fn encode_bin(v: &Value) -> Vec<u8> {
    if v["type"] == "input" {
        if let Ok(m) = serde_json::from_value::<rally::protocol::ClientMsg>(v.clone()) {
            return rally::protocol::bin::encode_client(&m);
        }
    }
    let mut out = Vec::new();
    rally::protocol::msgpack::write_value(&mut out, v);
    out
}

/// What ended a read.
#[derive(Debug)]
pub enum Event {
    Msg(Value),
    Closed(Option<u16>),
}

impl Client {
    pub async fn connect(addr: std::net::SocketAddr) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .expect("ws connect");
        Client {
            ws,
            seq: 0,
            bin: false,
        }
    }

    /// Connect offering `rally.v1.bin` (the server must choose it).
    pub async fn connect_bin(addr: std::net::SocketAddr) -> Client {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
        req.headers_mut()
            .insert("sec-websocket-protocol", "rally.v1.bin".parse().unwrap());
        let (ws, resp) = tokio_tungstenite::connect_async(req)
            .await
            .expect("ws connect");
        assert_eq!(
            resp.headers()
                .get("sec-websocket-protocol")
                .map(|h| h.to_str().unwrap()),
            Some("rally.v1.bin")
        );
        Client {
            ws,
            seq: 0,
            bin: true,
        }
    }

    /// [`Client::login`] over `rally.v1.bin`.
    pub async fn login_bin(addr: std::net::SocketAddr, token: &str) -> (Client, Value) {
        let mut c = Client::connect_bin(addr).await;
        c.send(json!({"type": "auth", "token": token})).await;
        let w = c.expect("welcome").await;
        (c, w)
    }

    /// Connect and authenticate; returns the client and the welcome message.
    pub async fn login(addr: std::net::SocketAddr, token: &str) -> (Client, Value) {
        let mut c = Client::connect(addr).await;
        c.send(json!({"type": "auth", "token": token})).await;
        let w = c.expect("welcome").await;
        (c, w)
    }

    pub async fn send(&mut self, v: Value) {
        let m = if self.bin {
            Message::binary(encode_bin(&v))
        } else {
            Message::text(v.to_string())
        };
        self.ws.send(m).await.expect("send");
    }

    pub async fn send_raw(&mut self, m: Message) {
        let _ = self.ws.send(m).await;
    }

    pub async fn input(&mut self, intent: &str) {
        self.seq += 1;
        let seq = self.seq;
        self.send(json!({"type": "input", "seq": seq, "input": intent}))
            .await;
    }

    /// Next message or close, within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Event {
        loop {
            let m = tokio::time::timeout(timeout, self.ws.next())
                .await
                .expect("timed out waiting for a message");
            match m {
                None => return Event::Closed(None),
                Some(Err(e)) => {
                    if std::env::var_os("RALLY_TEST_DEBUG").is_some() {
                        eprintln!("ws error: {e}");
                    }
                    return Event::Closed(None);
                }
                Some(Ok(Message::Text(t))) => {
                    assert!(!self.bin, "a text frame on a rally.v1.bin connection: {t}");
                    return Event::Msg(serde_json::from_str(&t).expect("server sent JSON"));
                }
                Some(Ok(Message::Binary(b))) => {
                    assert!(self.bin, "a binary frame on a rally.v1.json connection");
                    return Event::Msg(decode_bin(&b));
                }
                Some(Ok(Message::Close(f))) => return Event::Closed(f.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Skip messages until one of type `ty` arrives (panics on close or timeout).
    pub async fn expect(&mut self, ty: &str) -> Value {
        self.expect_within(ty, Duration::from_secs(15)).await
    }

    pub async fn expect_within(&mut self, ty: &str, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Event::Msg(v) if v["type"] == ty => return v,
                Event::Msg(v) if v["type"] == "error" && ty != "error" => {
                    panic!("expected {ty}, got error {v}")
                }
                Event::Msg(_) => continue,
                Event::Closed(c) => panic!("closed ({c:?}) while waiting for {ty}"),
            }
        }
    }

    /// Wait for a `room` message in `state`.
    pub async fn expect_room_state(&mut self, state: &str) -> Value {
        loop {
            let v = self.expect("room").await;
            if v["state"] == state {
                return v;
            }
        }
    }

    /// Skip messages until the socket closes; returns the close code.
    pub async fn expect_close(&mut self) -> Option<u16> {
        loop {
            match self.next(Duration::from_secs(15)).await {
                Event::Closed(c) => return c,
                Event::Msg(_) => continue,
            }
        }
    }

    /// Expect an error with `code` (skipping other messages).
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let v = self.expect("error").await;
        assert_eq!(v["code"], code, "{v}");
        v
    }

    pub async fn close(mut self) {
        let _ = self
            .ws
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await;
    }
}

impl Client {
    /// Connect with a tiny kernel receive buffer, so that not reading quickly backs up
    /// into the server (slow-client tests).
    pub async fn connect_small_buffer(addr: std::net::SocketAddr) -> Client {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.set_recv_buffer_size(2048).expect("rcvbuf");
        let stream = sock.connect(addr).await.expect("connect");
        let (ws, _) = tokio_tungstenite::client_async(
            format!("ws://{addr}/ws"),
            MaybeTlsStream::Plain(stream),
        )
        .await
        .expect("ws handshake");
        Client {
            ws,
            seq: 0,
            bin: false,
        }
    }
}
