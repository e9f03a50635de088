//! A raw-TCP WebSocket client for hostile-input tests: it sends whatever bytes a test builds
//! (frames a WebSocket library would refuse to send) and parses the server's frames itself.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// A server frame.
#[derive(Debug, PartialEq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

/// What a read ended with.
#[derive(Debug)]
pub enum Got {
    Frame(Frame),
    /// The server closed the TCP connection (EOF).
    Eof,
    /// The connection was reset.
    Reset,
    Timeout,
}

/// The upgrade request for `path`.
pub fn upgrade_request(addr: SocketAddr, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n"
    )
}

/// A masked client frame.
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x9a, 0x1c, 0x3e, 0x57];
    let mut f = header(fin, opcode, payload.len() as u64);
    f.extend_from_slice(&mask);
    f.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    f
}

/// The first bytes of a masked client frame header declaring `len` payload bytes (without the
/// mask key).
pub fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    if len < 126 {
        f.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        f.push(0x80 | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&len.to_be_bytes());
    }
    f
}

/// A text frame with a JSON message.
pub fn text(v: &Value) -> Vec<u8> {
    frame(true, 1, v.to_string().as_bytes())
}

impl Raw {
    /// Open a TCP connection from `from` (a loopback source address, or any) and send the
    /// upgrade; returns the client and the HTTP status line's code with the response body.
    pub async fn open(addr: SocketAddr, from: Option<IpAddr>) -> (Raw, u16, String) {
        let sock = TcpSocket::new_v4().expect("socket");
        if let Some(ip) = from {
            sock.bind(SocketAddr::new(ip, 0)).expect("bind source");
        }
        let stream = sock.connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        let mut raw = Raw {
            stream,
            buf: Vec::new(),
        };
        raw.send(upgrade_request(addr, "/ws").as_bytes()).await;
        let (status, body) = raw.read_response().await;
        (raw, status, body)
    }

    /// A client on a connected stream (the caller sends its own upgrade request).
    pub fn from_stream(stream: TcpStream) -> Raw {
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    /// Open and expect the upgrade to succeed.
    pub async fn connect(addr: SocketAddr) -> Raw {
        let (raw, status, body) = Raw::open(addr, None).await;
        assert_eq!(status, 101, "upgrade refused: {body}");
        raw
    }

    /// Read an HTTP response head (and a content-length body).
    pub async fn read_response(&mut self) -> (u16, String) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
                let status: u16 = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .expect("status");
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                let start = end + 4;
                while self.buf.len() < start + len {
                    self.fill(deadline).await.expect("body");
                }
                let body = String::from_utf8_lossy(&self.buf[start..start + len]).to_string();
                self.buf.drain(..start + len);
                return (status, format!("{head}\r\n\r\n{body}"));
            }
            self.fill(deadline).await.expect("response head");
        }
    }

    async fn fill(&mut self, deadline: tokio::time::Instant) -> Result<(), Got> {
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
            Err(_) => Err(Got::Timeout),
            Ok(Ok(0)) => Err(Got::Eof),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => Err(Got::Reset),
            Ok(Err(_)) => Err(Got::Eof),
        }
    }

    /// Send bytes (errors ignored: the server may already have closed).
    pub async fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    pub async fn send_json(&mut self, v: Value) {
        self.send(&text(&v)).await;
    }

    /// The next server frame, or how the connection ended.
    pub async fn next(&mut self, timeout: Duration) -> Got {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some((f, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return Got::Frame(f);
            }
            if let Err(g) = self.fill(deadline).await {
                return g;
            }
        }
    }

    /// The next text message as JSON (skipping pings and pongs); panics on anything else.
    pub async fn expect_json(&mut self) -> Value {
        loop {
            match self.next(Duration::from_secs(10)).await {
                Got::Frame(Frame::Text(t)) => return serde_json::from_str(&t).expect("json"),
                Got::Frame(Frame::Ping(_) | Frame::Pong(_)) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Read until the server's close frame: the `error` code seen before it and the close code.
    pub async fn expect_error_and_close(&mut self) -> (Option<String>, Option<u16>) {
        let mut error = None;
        loop {
            match self.next(Duration::from_secs(10)).await {
                Got::Frame(Frame::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).expect("json");
                    if v["type"] == "error" {
                        error = v["code"].as_str().map(str::to_string);
                    }
                }
                Got::Frame(Frame::Close(code, _)) => return (error, code),
                Got::Frame(_) => {}
                other => panic!("connection ended without a close frame: {other:?}"),
            }
        }
    }

    /// Authenticate with `token`; returns the welcome.
    pub async fn auth(&mut self, token: &str) -> Value {
        self.send_json(serde_json::json!({"type": "auth", "token": token}))
            .await;
        let w = self.expect_json().await;
        assert_eq!(w["type"], "welcome", "{w}");
        w
    }
}

/// Parse one server frame (unmasked) from the start of `b`.
pub fn parse(b: &[u8]) -> Option<(Frame, usize)> {
    if b.len() < 2 {
        return None;
    }
    assert_eq!(b[1] & 0x80, 0, "server frames are never masked");
    let (len, at) = match b[1] & 0x7F {
        126 => (u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize, 4),
        127 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(b.get(2..10)?);
            (u64::from_be_bytes(a) as usize, 10)
        }
        n => (n as usize, 2),
    };
    let payload = b.get(at..at + len)?.to_vec();
    let f = match b[0] & 0x0F {
        1 => Frame::Text(String::from_utf8(payload).expect("server text is UTF-8")),
        2 => Frame::Binary(payload),
        8 => {
            let code = (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
            let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or_default()).to_string();
            Frame::Close(code, reason)
        }
        9 => Frame::Ping(payload),
        10 => Frame::Pong(payload),
        op => panic!("unexpected server opcode {op}"),
    };
    Some((f, at + len))
}
