//! The WebSocket upgrade: actix-http hands every request that asks for `Upgrade: websocket`
//! (and `CONNECT`) to this service together with the raw connection, instead of the App. It
//! answers errors itself as JSON (the App's error shape), admits the connection against the
//! pending-connection bounds, writes the `101` and starts a [`Session`] that owns the socket
//! from then on. The upgrade task itself ends there: actix-http's connection task (its
//! dispatcher, ~3 KiB) is not kept for the connection's life; [`Upgrades::drain`] is what
//! lets a graceful shutdown wait for the sessions instead.

use super::actor::Session;
use super::admission::{Admission, Refusal};
use super::conn::{self, Outlet, QueueBounds, Reader};
use super::frame::Limits;
use crate::api::wire::HttpIo;
use crate::app::AppState;
use crate::protocol;
use actix::Actor;
use actix_codec::Framed;
use actix_http::{h1, HttpMessage, Request};
use bytes::BytesMut;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// The only path that upgrades.
pub const WS_PATH: &str = "/ws";
/// How long writing an HTTP answer on the raw connection may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// What the upgrade service needs, shared by every HTTP worker.
#[derive(Clone)]
pub struct Upgrades {
    app: Arc<AppState>,
    admission: Arc<Admission>,
    live: Arc<Live>,
}

/// The upgraded connections whose session has not ended yet.
#[derive(Default)]
struct Live {
    count: AtomicUsize,
    ended: Notify,
}

/// Held by a session for its connection's life: the connection counts as live until it drops.
pub struct LiveGuard(Arc<Live>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.ended.notify_waiters();
        }
    }
}

impl Upgrades {
    /// For this server's state.
    pub fn new(app: Arc<AppState>) -> Upgrades {
        let cfg = &app.engine.config;
        let admission = Admission::new(cfg.ws_max_pending, cfg.ws_max_pending_per_ip);
        Upgrades {
            app,
            admission,
            live: Arc::default(),
        }
    }

    /// Upgraded connections whose session is still running.
    pub fn live(&self) -> usize {
        self.live.count.load(Ordering::Acquire)
    }

    /// Wait until every session has ended (its close handshake done), or `timeout`; returns
    /// how many are still live. Graceful shutdown calls this after telling the clients, before
    /// it stops the workers the sessions run on.
    pub async fn drain(&self, timeout: Duration) -> usize {
        let wait = async {
            loop {
                let ended = self.live.ended.notified();
                if self.live() == 0 {
                    return;
                }
                ended.await;
            }
        };
        let _ = tokio::time::timeout(timeout, wait).await;
        self.live()
    }

    /// The actix-http upgrade service factory (one per worker).
    pub fn factory(
        &self,
    ) -> impl actix_service::ServiceFactory<
        (Request, Framed<HttpIo, h1::Codec>),
        Config = (),
        Response = (),
        Error = Infallible,
        InitError = (),
    > + Clone {
        let this = self.clone();
        actix_service::fn_service(move |(req, framed): (Request, Framed<HttpIo, h1::Codec>)| {
            let this = this.clone();
            async move {
                this.upgrade(req, framed).await;
                Ok::<(), Infallible>(())
            }
        })
    }

    async fn upgrade(&self, req: Request, framed: Framed<HttpIo, h1::Codec>) {
        // Only the socket and the bytes read past the request head are kept: the rest of the
        // dispatcher's state (its read and write buffers, the codec) is dropped here, not
        // held for the life of the connection.
        let (mut io, early) = {
            let parts = framed.into_parts();
            (parts.io.into_inner(), parts.read_buf)
        };
        let started = std::time::Instant::now();
        let status = match self.admit(&req) {
            Err(answer) => {
                answer.write(&mut io).await;
                answer.status
            }
            Ok((accept, ticket)) => {
                let negotiated = protocol::bin::negotiate(
                    req.headers()
                        .get_all(actix_http::header::SEC_WEBSOCKET_PROTOCOL)
                        .filter_map(|v| v.to_str().ok()),
                );
                let subprotocol = negotiated
                    .answer
                    .map(|p| format!("sec-websocket-protocol: {p}\r\n"))
                    .unwrap_or_default();
                let head = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: {accept}\r\n{subprotocol}\r\n"
                );
                let written =
                    tokio::time::timeout(ANSWER_TIMEOUT, io.write_all(head.as_bytes())).await;
                record(101, started);
                if !matches!(written, Ok(Ok(()))) {
                    return;
                }
                // The request head is not needed any more (nor kept for the connection's life).
                drop(req);
                self.run(io, early, ticket, negotiated.encoding);
                return;
            }
        };
        record(status, started);
    }

    /// Validate the request and take a pending-connection place: the accept key and the
    /// ticket, or the HTTP answer to give.
    fn admit(&self, req: &Request) -> Result<(String, super::admission::Ticket), Answer> {
        if req.method() == actix_http::Method::CONNECT {
            return Err(Answer::new(
                405,
                "method_not_allowed",
                "CONNECT is not supported",
            ));
        }
        if req.path() != WS_PATH {
            return Err(Answer::new(
                404,
                "not_found",
                "no such WebSocket endpoint; use /ws",
            ));
        }
        if let Err(e) = actix_http::ws::verify_handshake(req.head()) {
            let status = if req.method() == actix_http::Method::GET {
                400
            } else {
                405
            };
            return Err(Answer::new(
                status,
                if status == 405 {
                    "method_not_allowed"
                } else {
                    "validation"
                },
                &format!("not a valid WebSocket upgrade: {e}"),
            ));
        }
        let key = req
            .headers()
            .get(actix_http::header::SEC_WEBSOCKET_KEY)
            .map(|k| k.as_bytes())
            .unwrap_or_default();
        let accept = actix_http::ws::hash_key(key);
        let accept = String::from_utf8_lossy(&accept).into_owned();
        let ip = crate::auth::ratelimit::client_ip_from(
            req.peer_addr(),
            req.headers(),
            &self.app.config.trusted_proxies,
        )
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        match self.admission.admit(ip) {
            Ok(ticket) => Ok((accept, ticket)),
            Err(r) => {
                let reason = match r {
                    Refusal::PerAddress => "per_address",
                    Refusal::Total => "total",
                };
                metrics::counter!("rally_ws_refused_total", "reason" => reason).increment(1);
                tracing::debug!(%ip, reason, "websocket upgrade refused: too many pending");
                let retry = self.app.engine.config.ws_auth_timeout.as_secs().max(1);
                Err(match r {
                    Refusal::PerAddress => Answer::new(
                        429,
                        "rate_limited",
                        "too many connections from your address are waiting to authenticate",
                    ),
                    Refusal::Total => Answer::new(
                        503,
                        "unavailable",
                        "too many connections are waiting to authenticate; try again shortly",
                    ),
                }
                .retry_after(retry))
            }
        }
    }

    /// Start the session on the upgraded socket (it owns the socket from now on).
    fn run(
        &self,
        io: TcpStream,
        early: BytesMut,
        ticket: super::admission::Ticket,
        encoding: protocol::Encoding,
    ) {
        conn::ensure_pulse();
        let cfg = &self.app.engine.config;
        let io = Arc::new(io);
        let limits = Limits {
            max_frame: protocol::MAX_FRAME_BYTES,
            max_message: protocol::MAX_MESSAGE_BYTES,
        };
        let bounds = QueueBounds {
            frames: cfg.session_queue,
            bytes: cfg.ws_max_queued_bytes,
        };
        let reader = Reader::new(io.clone(), limits, &early);
        drop(early);
        let outlet = Outlet::new(io, bounds, encoding);
        self.live.count.fetch_add(1, Ordering::AcqRel);
        let live = LiveGuard(self.live.clone());
        let app = self.app.clone();
        Session::create(move |ctx| {
            actix::AsyncContext::add_stream(ctx, reader);
            Session::new(app, outlet, encoding, ticket, live)
        });
    }
}

/// `GET /ws` without `Upgrade: websocket` reaches the App, not the upgrade service: 400 in
/// the API's error shape.
pub async fn plain_request() -> actix_web::HttpResponse {
    actix_web::HttpResponse::BadRequest().json(serde_json::json!({
        "error": {
            "code": "validation",
            "message": "this endpoint only accepts WebSocket upgrades (Upgrade: websocket)",
        }
    }))
}

fn record(status: u16, started: std::time::Instant) {
    metrics::counter!("rally_http_requests_total", "method" => "GET", "route" => WS_PATH, "status" => status.to_string())
        .increment(1);
    metrics::histogram!("rally_http_request_duration_seconds", "method" => "GET", "route" => WS_PATH)
        .record(started.elapsed().as_secs_f64());
}

/// An HTTP error answered on the raw connection, in the API's JSON error shape.
struct Answer {
    status: u16,
    body: String,
    retry_after: Option<u64>,
}

impl Answer {
    fn new(status: u16, code: &str, message: &str) -> Answer {
        let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
        Answer {
            status,
            body,
            retry_after: None,
        }
    }

    fn retry_after(mut self, secs: u64) -> Answer {
        self.retry_after = Some(secs);
        self
    }

    async fn write(&self, io: &mut TcpStream) {
        let reason = match self.status {
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            429 => "Too Many Requests",
            _ => "Service Unavailable",
        };
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nx-content-type-options: nosniff\r\n",
            self.status,
            self.body.len()
        );
        if self.status == 405 {
            head.push_str("allow: GET\r\n");
        }
        if let Some(s) = self.retry_after {
            head.push_str(&format!("retry-after: {s}\r\n"));
        }
        head.push_str("\r\n");
        head.push_str(&self.body);
        let _ = tokio::time::timeout(ANSWER_TIMEOUT, async {
            io.write_all(head.as_bytes()).await?;
            io.shutdown().await
        })
        .await;
    }
}
