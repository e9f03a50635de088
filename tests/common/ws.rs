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
        Client { ws, seq: 0 }
    }

    /// Connect and authenticate; returns the client and the welcome message.
    pub async fn login(addr: std::net::SocketAddr, token: &str) -> (Client, Value) {
        let mut c = Client::connect(addr).await;
        c.send(json!({"type": "auth", "token": token})).await;
        let w = c.expect("welcome").await;
        (c, w)
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("send");
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
                    return Event::Msg(serde_json::from_str(&t).expect("server sent JSON"))
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
        Client { ws, seq: 0 }
    }
}
