//! [`BotClient`]: one WebSocket session — connect and authenticate, send and receive typed
//! messages with timeouts, measure round-trip time and the server clock offset with `ping`.

use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::error::{truncate, BotError, BotResult};
use super::stats::Hist;
use super::wire::{self, Incoming, PongReply, Welcome};
use crate::protocol::bin::{self, BIN_SUBPROTOCOL};
use crate::protocol::{ClientMsg, Encoding};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// tungstenite's read buffer, bytes. Its default, 128 KiB, is zero-filled on every read, which
/// was measured to cost half of a small server's CPU when hundreds of bots share the machine
/// (issue 6). Server frames are ~100–300 bytes; 4 KiB holds a dozen per read.
pub const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Largest server message a bot accepts, bytes: far above any rally message (a snapshot is a few
/// hundred bytes), low enough that a broken server cannot make a bot allocate without bound.
pub const MAX_INCOMING_BYTES: usize = 1024 * 1024;
/// Outstanding pings remembered for RTT; older ones are forgotten (their pongs are ignored).
const MAX_OUTSTANDING_PINGS: usize = 16;

/// Connection settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Bound on the TCP connect plus the WebSocket handshake.
    pub connect_timeout: Duration,
    /// Bound on `auth` → `welcome`.
    pub auth_timeout: Duration,
    /// tungstenite read buffer (see [`READ_BUFFER_BYTES`]).
    pub read_buffer_bytes: usize,
    /// The wire encoding: JSON (no `Sec-WebSocket-Protocol` offered, as before encodings
    /// existed) or `rally.v1.bin` (offered, and required in the answer).
    pub encoding: Encoding,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            auth_timeout: Duration::from_secs(10),
            read_buffer_bytes: READ_BUFFER_BYTES,
            encoding: Encoding::Json,
        }
    }
}

/// Frames and bytes through one client (data frames only; control frames are not counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Data frames (text or binary) received.
    pub frames_in: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Data frames sent.
    pub frames_out: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
}

/// One WebSocket session with a rally server.
///
/// Not cancel-safe across `.await`s of its own methods beyond what tungstenite guarantees: run
/// one operation at a time (each bot owns its client).
pub struct BotClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The encoding the connection speaks.
    encoding: Encoding,
    /// Messages read while waiting for something else (a `pong`), delivered first.
    inbox: VecDeque<Incoming>,
    welcome: Option<Welcome>,
    next_ping_id: u64,
    /// Next input sequence number; strictly increasing over the whole connection.
    next_seq: u64,
    /// Pings sent and not yet answered: (id, sent at).
    pings: VecDeque<(u64, Instant)>,
    rtt: Hist,
    last_rtt: Option<Duration>,
    /// (rtt, server − client clock offset in ms) of the lowest-RTT sample so far.
    best_clock: Option<(Duration, f64)>,
    traffic: Traffic,
    connect_time: Duration,
    auth_time: Option<Duration>,
}

impl std::fmt::Debug for BotClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotClient")
            .field("session", &self.welcome.as_ref().map(|w| &w.session))
            .field("traffic", &self.traffic)
            .finish_non_exhaustive()
    }
}

impl BotClient {
    /// Opens a WebSocket to `ws_url` (`ws://host:port/ws`) without authenticating; the server
    /// expects [`BotClient::authenticate`] within its auth window.
    pub async fn open(ws_url: &str, config: &ClientConfig) -> BotResult<Self> {
        Self::open_from(ws_url, config, None).await
    }

    /// Like [`BotClient::open`], with the TCP connection bound to the local address `local`
    /// (port chosen by the kernel) when given: spreading many connections over several
    /// loopback source addresses (127.0.0.x) lifts the limit of one address's ephemeral ports.
    pub async fn open_from(
        ws_url: &str,
        config: &ClientConfig,
        local: Option<IpAddr>,
    ) -> BotResult<Self> {
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(config.read_buffer_bytes)
            .write_buffer_size(0)
            .max_message_size(Some(MAX_INCOMING_BYTES))
            .max_frame_size(Some(MAX_INCOMING_BYTES));
        let started = Instant::now();
        let encoding = config.encoding;
        let request = || {
            let mut request = ws_url.into_client_request()?;
            if encoding == Encoding::Bin {
                // tungstenite fails the handshake unless the server answers with it.
                request.headers_mut().insert(
                    "sec-websocket-protocol",
                    tungstenite::http::HeaderValue::from_static(BIN_SUBPROTOCOL),
                );
            }
            Ok::<_, tungstenite::Error>(request)
        };
        let connecting = async {
            let Some(local) = local else {
                // Nagle off: inputs are tiny and latency-sensitive.
                return tokio_tungstenite::connect_async_with_config(
                    request()?,
                    Some(ws_config),
                    true,
                )
                .await;
            };
            let stream = connect_tcp_from(ws_url, local)
                .await
                .map_err(tungstenite::Error::Io)?;
            tokio_tungstenite::client_async_with_config(
                request()?,
                MaybeTlsStream::Plain(stream),
                Some(ws_config),
            )
            .await
        };
        let (ws, _response) = tokio::time::timeout(config.connect_timeout, connecting)
            .await
            .map_err(|_| BotError::Timeout {
                waiting_for: "the WebSocket handshake",
                after: config.connect_timeout,
            })?
            .map_err(|e| BotError::Connect {
                url: ws_url.to_owned(),
                source: Box::new(e),
            })?;
        Ok(Self {
            ws,
            encoding,
            inbox: VecDeque::new(),
            welcome: None,
            next_ping_id: 1,
            next_seq: 1,
            pings: VecDeque::new(),
            rtt: Hist::default(),
            last_rtt: None,
            best_clock: None,
            traffic: Traffic::default(),
            connect_time: started.elapsed(),
            auth_time: None,
        })
    }

    /// Opens a WebSocket and authenticates with `token`.
    pub async fn connect(ws_url: &str, token: &str, config: &ClientConfig) -> BotResult<Self> {
        Self::connect_from(ws_url, token, config, None).await
    }

    /// [`BotClient::connect`] from the local address `local` (see [`BotClient::open_from`]).
    pub async fn connect_from(
        ws_url: &str,
        token: &str,
        config: &ClientConfig,
        local: Option<IpAddr>,
    ) -> BotResult<Self> {
        let mut client = Self::open_from(ws_url, config, local).await?;
        client.authenticate(token, config.auth_timeout).await?;
        Ok(client)
    }

    /// Takes over what `old` (a connection this one replaces after a drop) carried: the input
    /// sequence (so sequences keep increasing for the seat), traffic counts and RTT samples.
    pub fn inherit(&mut self, old: &BotClient) {
        self.next_seq = self.next_seq.max(old.next_seq);
        self.traffic.frames_in += old.traffic.frames_in;
        self.traffic.bytes_in += old.traffic.bytes_in;
        self.traffic.frames_out += old.traffic.frames_out;
        self.traffic.bytes_out += old.traffic.bytes_out;
        self.rtt.add(&old.rtt);
    }

    /// Sends `auth` and waits for `welcome`. A rejected token is `BotError::Server` with code
    /// `unauthorized` (the server then closes with 4001).
    pub async fn authenticate(&mut self, token: &str, timeout: Duration) -> BotResult<&Welcome> {
        let started = Instant::now();
        self.send(&ClientMsg::Auth {
            token: token.to_owned(),
        })
        .await?;
        let welcome = self
            .wait_for("welcome", timeout, |m| match m {
                Incoming::Welcome(w) => Some(w),
                _ => None,
            })
            .await?;
        self.auth_time = Some(started.elapsed());
        Ok(self.welcome.insert(welcome))
    }

    /// The `welcome` message, once authenticated.
    pub fn welcome(&self) -> Option<&Welcome> {
        self.welcome.as_ref()
    }

    /// TCP connect + WebSocket handshake time.
    pub fn connect_time(&self) -> Duration {
        self.connect_time
    }

    /// `auth` → `welcome` time, once authenticated.
    pub fn auth_time(&self) -> Option<Duration> {
        self.auth_time
    }

    /// Frames and bytes so far.
    pub fn traffic(&self) -> Traffic {
        self.traffic
    }

    /// The encoding the connection speaks.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Sends one message, in the connection's encoding.
    pub async fn send(&mut self, msg: &ClientMsg) -> BotResult<()> {
        if self.encoding == Encoding::Bin {
            return self.send_binary(bin::encode_client(msg)).await;
        }
        let text = serde_json::to_string(msg).map_err(|e| BotError::Decode {
            reason: format!("cannot encode a client message: {e}"),
            frame: String::new(),
        })?;
        self.send_text(text).await
    }

    /// Sends a raw binary frame (a `rally.v1.bin` message, or malformed bytes in tests).
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> BotResult<()> {
        let len = bytes.len() as u64;
        self.ws
            .send(Message::binary(bytes))
            .await
            .map_err(ws_error)?;
        self.traffic.frames_out += 1;
        self.traffic.bytes_out += len;
        Ok(())
    }

    /// Sends a raw text frame (for tests of malformed input).
    pub async fn send_text(&mut self, text: String) -> BotResult<()> {
        let len = text.len() as u64;
        self.ws.send(Message::text(text)).await.map_err(ws_error)?;
        self.traffic.frames_out += 1;
        self.traffic.bytes_out += len;
        Ok(())
    }

    /// Sends a raw frame of any kind (binary, oversized) for tests of the server's limits.
    pub async fn send_raw(&mut self, message: Message) -> BotResult<()> {
        self.ws.send(message).await.map_err(ws_error)
    }

    /// Takes the next input sequence number (1, 2, …). Sequences increase over the whole
    /// connection, across matches, so they are strictly increasing whatever scope the server
    /// checks them in.
    pub fn next_input_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Continues sequence numbers from `next` (for example after reconnecting to a room whose
    /// snapshots ack a higher sequence for our seat).
    pub fn set_next_input_seq(&mut self, next: u64) {
        self.next_seq = next;
    }

    /// Sends an `input` with sequence `seq` and the game-specific value `input`.
    pub async fn send_input(&mut self, seq: u64, input: serde_json::Value) -> BotResult<()> {
        self.send(&ClientMsg::Input {
            seq,
            input,
            tick: None,
        })
        .await
    }

    /// The next message, waiting at most `timeout`. A server `error` message is returned as
    /// `Err(BotError::Server)`, a close as `Err(BotError::Closed)`; `pong` answers are measured
    /// (see [`BotClient::rtt`]) and also returned.
    pub async fn recv(&mut self, timeout: Duration) -> BotResult<Incoming> {
        if let Some(m) = self.inbox.pop_front() {
            return Ok(m);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        self.recv_socket(deadline, timeout).await
    }

    /// Receives until `pick` accepts a message, dropping the others, for at most `timeout`
    /// overall. Errors and closes end the wait.
    pub async fn wait_for<T>(
        &mut self,
        what: &'static str,
        timeout: Duration,
        mut pick: impl FnMut(Incoming) -> Option<T>,
    ) -> BotResult<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msg = match self.inbox.pop_front() {
                Some(m) => m,
                None => self
                    .recv_socket(deadline, timeout)
                    .await
                    .map_err(|e| match e {
                        BotError::Timeout { after, .. } => BotError::Timeout {
                            waiting_for: what,
                            after,
                        },
                        other => other,
                    })?,
            };
            let name = msg.type_name().to_owned();
            match pick(msg) {
                Some(t) => return Ok(t),
                None => {
                    tracing::trace!(waiting_for = what, skipped = %name, "bot skipped a message")
                }
            }
        }
    }

    async fn recv_socket(
        &mut self,
        deadline: tokio::time::Instant,
        timeout: Duration,
    ) -> BotResult<Incoming> {
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => {
                    return Err(BotError::Timeout {
                        waiting_for: "a message",
                        after: timeout,
                    })
                }
                Ok(None) => {
                    return Err(BotError::Closed {
                        code: None,
                        reason: "the connection ended without a close frame".into(),
                    })
                }
                Ok(Some(Err(e))) => return Err(ws_error(e)),
                Ok(Some(Ok(frame))) => frame,
            };
            let msg = match frame {
                Message::Text(text) if self.encoding == Encoding::Json => {
                    self.traffic.frames_in += 1;
                    self.traffic.bytes_in += text.len() as u64;
                    wire::decode(text.as_str()).map_err(|e| BotError::Decode {
                        reason: e.to_string(),
                        frame: truncate(text.as_str(), 300),
                    })?
                }
                Message::Binary(b) if self.encoding == Encoding::Bin => {
                    self.traffic.frames_in += 1;
                    self.traffic.bytes_in += b.len() as u64;
                    wire::decode_bin(&b).map_err(|reason| BotError::Decode {
                        reason,
                        frame: format!("{:02x?}", &b[..b.len().min(100)]),
                    })?
                }
                Message::Text(text) => {
                    return Err(BotError::Unexpected {
                        expected: "a binary frame (rally.v1.bin)",
                        got: format!("a text frame: {}", truncate(text.as_str(), 300)),
                    })
                }
                Message::Binary(b) => {
                    return Err(BotError::Unexpected {
                        expected: "a text frame",
                        got: format!("a binary frame of {} bytes", b.len()),
                    })
                }
                // tungstenite answers pings itself (on the next read or write).
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                Message::Close(frame) => {
                    return Err(BotError::Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    })
                }
            };
            return match msg {
                Incoming::Error(e) => Err(BotError::Server {
                    code: e.code,
                    message: e.message,
                }),
                Incoming::Pong(p) => {
                    self.on_pong(&p);
                    Ok(Incoming::Pong(p))
                }
                other => Ok(other),
            };
        }
    }

    /// Sends a `ping` (clock sync / RTT probe) without waiting; its `pong` is measured when it
    /// arrives through [`BotClient::recv`]. Returns the ping id.
    pub async fn send_ping(&mut self) -> BotResult<u64> {
        let id = self.next_ping_id;
        self.next_ping_id += 1;
        let sent = Instant::now();
        self.send(&ClientMsg::Ping {
            id,
            client_time: unix_ms(),
        })
        .await?;
        if self.pings.len() == MAX_OUTSTANDING_PINGS {
            self.pings.pop_front();
        }
        self.pings.push_back((id, sent));
        Ok(id)
    }

    /// Sends a `ping` and waits for its `pong`; messages that arrive meanwhile are kept and
    /// returned by the next [`BotClient::recv`] calls, in order. Returns the round-trip time.
    pub async fn ping(&mut self, timeout: Duration) -> BotResult<Duration> {
        let id = self.send_ping().await?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut held = Vec::new();
        let result = loop {
            match self.recv_socket(deadline, timeout).await {
                Ok(Incoming::Pong(p)) if p.id == id => break Ok(self.last_rtt.unwrap_or_default()),
                Ok(other) => held.push(other),
                Err(BotError::Timeout { after, .. }) => {
                    break Err(BotError::Timeout {
                        waiting_for: "pong",
                        after,
                    })
                }
                Err(e) => break Err(e),
            }
        };
        for m in held.into_iter().rev() {
            self.inbox.push_front(m);
        }
        result
    }

    fn on_pong(&mut self, p: &PongReply) {
        let Some(pos) = self.pings.iter().position(|&(id, _)| id == p.id) else {
            return;
        };
        let Some((_, sent)) = self.pings.remove(pos) else {
            return;
        };
        let rtt = sent.elapsed();
        self.rtt.record(rtt);
        self.last_rtt = Some(rtt);
        // NTP-style: the server read its clock about half an RTT after the client did. The
        // lowest-RTT sample bounds the error best.
        let offset = p.server_time as f64 - (p.client_time + rtt.as_secs_f64() * 500.0);
        if self.best_clock.is_none_or(|(best, _)| rtt < best) {
            self.best_clock = Some((rtt, offset));
        }
    }

    /// Round-trip times measured by `ping`/`pong`.
    pub fn rtt(&self) -> &Hist {
        &self.rtt
    }

    /// The most recent round-trip time.
    pub fn last_rtt(&self) -> Option<Duration> {
        self.last_rtt
    }

    /// Estimated `server clock − client clock`, milliseconds, from the lowest-RTT ping so far.
    pub fn clock_offset_ms(&self) -> Option<f64> {
        self.best_clock.map(|(_, offset)| offset)
    }

    /// Ends the connection abruptly, as a lost network would: the TCP stream is shut down
    /// without a WebSocket close frame. Later reads and writes fail.
    pub async fn drop_connection(&mut self) {
        if let MaybeTlsStream::Plain(tcp) = self.ws.get_mut() {
            let _ = tcp.shutdown().await;
        }
    }

    /// Closes the socket normally (1000) and waits briefly for the server's close frame.
    pub async fn close(mut self) {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        };
        if self.ws.close(Some(frame)).await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

/// Maps a tungstenite error: a connection that is already gone is a close, anything else a
/// WebSocket failure.
fn ws_error(e: tungstenite::Error) -> BotError {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            BotError::Closed {
                code: None,
                reason: e.to_string(),
            }
        }
        other => BotError::Ws(Box::new(other)),
    }
}

/// A TCP connection to `ws_url`'s host and port from the local address `local`, Nagle off.
async fn connect_tcp_from(ws_url: &str, local: IpAddr) -> std::io::Result<TcpStream> {
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_owned());
    let url = url::Url::parse(ws_url).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "ws" {
        return Err(bad("a source address can only be chosen for ws:// URLs"));
    }
    let host = url.host_str().ok_or_else(|| bad("no host in the URL"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let mut last = bad("the host name resolved to no address of the source address's family");
    for addr in tokio::net::lookup_host((host, port)).await? {
        if addr.is_ipv4() != local.is_ipv4() {
            continue;
        }
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(local, 0))?;
        match socket.connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The local clock as Unix milliseconds (what `ping.client_time` carries).
pub fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}
