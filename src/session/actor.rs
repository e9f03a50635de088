//! The session actor's transport side: the socket's frames in and out, the heartbeat, the
//! slow-reader rule, the rate limit and the closing handshake. What the messages mean is in
//! [`super::handlers`].

use super::admission::Ticket;
use super::conn::{self, Outlet, ReadEvent, Refused};
use super::frame::{Incoming, Violation};
use super::pacing::Pacing;
use super::upgrade::LiveGuard;
use crate::app::AppState;
use crate::auth::Principal;
use crate::ids::{RoomId, TournamentId};
use crate::matchmaking::queue::{Cancel, Matchmaker};
use crate::metrics as m;
use crate::protocol::{self, close, code, Encoding, ServerMsg};
use crate::registry::{RoomHandle, TournamentHandle};
use crate::room::messages::{Detach, JoinRole, Outbound, SessionEvent};
use crate::room::Engine;
use actix::prelude::*;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a closing connection waits for the client's close frame (and keeps reading, so the
/// close never turns into a TCP reset) before the socket is closed.
pub const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// How often a closing connection checks whether its close handshake is complete.
const CLOSE_POLL: Duration = Duration::from_millis(50);
/// Server pings remembered while unanswered (each heartbeat interval adds one).
const MAX_OUTSTANDING_PINGS: usize = 16;

pub(super) type Ctx = Context<Session>;

/// One WebSocket connection.
pub struct Session {
    pub(super) id: String,
    pub(super) app: Arc<AppState>,
    pub(super) engine: Arc<Engine>,
    pub(super) matchmaker: Addr<Matchmaker>,
    pub(super) principal: Option<Principal>,
    /// The token presented at auth, re-checked for each join/spectate (attenuation).
    pub(super) token: Option<String>,
    /// Frames out.
    pub(super) outlet: Outlet,
    /// The encoding negotiated at the upgrade (`Sec-WebSocket-Protocol`): every frame in and
    /// out is in it.
    pub(super) encoding: Encoding,
    /// This connection's place among those not authenticated yet (given back at auth).
    ticket: Option<Ticket>,
    /// Last time anything arrived from the peer (heartbeat).
    last_heard: Instant,
    /// Server pings not answered yet: (payload counter, sent at), oldest first.
    pings: VecDeque<(u64, Instant)>,
    next_ping: u64,
    pacing: Pacing,
    pub(super) protocol_errors: u32,
    pub(super) room: Option<(RoomHandle, JoinRole)>,
    /// Set when the room let this session go at the end of a match: inputs already in flight
    /// are dropped silently instead of answered with `not_in_room`.
    pub(super) released: bool,
    /// The room that last let this session go (for the re-queue check).
    pub(super) released_from: Option<RoomId>,
    /// The game of the last room this session sat in as a player: a `ratings` frame updates
    /// the session's rating (its Pong rating) only after a Pong match.
    pub(super) last_game: Option<String>,
    /// Tournaments whose live events this session receives, wherever they run (unsubscribed
    /// on stop).
    pub(super) subscriptions: HashMap<TournamentId, TournamentHandle>,
    /// Set once a close frame is queued: until then, the deadline of the closing handshake.
    closing: Option<Instant>,
    /// The client sent its close frame.
    peer_closed: bool,
    disconnect_reason: &'static str,
    /// Dropped with the actor: the connection no longer counts as live (graceful shutdown
    /// waits for the live ones).
    _live: LiveGuard,
}

impl Session {
    /// A session on an upgraded connection.
    pub(super) fn new(
        app: Arc<AppState>,
        outlet: Outlet,
        encoding: Encoding,
        ticket: Ticket,
        live: LiveGuard,
    ) -> Self {
        let now = Instant::now();
        Session {
            id: ulid::Ulid::new().to_string(),
            engine: app.engine.clone(),
            matchmaker: app.matchmaker.clone(),
            app,
            principal: None,
            token: None,
            outlet,
            encoding,
            ticket: Some(ticket),
            last_heard: now,
            pings: VecDeque::new(),
            next_ping: 1,
            pacing: Pacing::new(protocol::MAX_MESSAGES_PER_SEC, protocol::MESSAGE_BURST, now),
            protocol_errors: 0,
            room: None,
            released: false,
            released_from: None,
            last_game: None,
            subscriptions: HashMap::new(),
            closing: None,
            peer_closed: false,
            disconnect_reason: "client_closed",
            _live: live,
        }
    }

    /// The connection authenticated: it no longer counts against the pending bounds.
    pub(super) fn admitted(&mut self) {
        if let Some(mut t) = self.ticket.take() {
            t.release();
        }
    }

    /// Write a message encoded as JSON by a room, a tournament or another instance: as it is,
    /// or in `rally.v1.bin` on a bin connection (see [`protocol::bin::from_server_json`]).
    pub(super) fn write_json(&mut self, ctx: &mut Ctx, json: bytestring::ByteString) {
        let frame = match self.encoding {
            Encoding::Json => json.into_bytes(),
            Encoding::Bin => Bytes::from(protocol::bin::from_server_json(&json)),
        };
        self.write(ctx, frame);
    }

    /// Write a message already in this connection's encoding (a frame that does not fit the
    /// outbound queue makes this client a slow reader).
    pub(super) fn write(&mut self, ctx: &mut Ctx, frame: Bytes) {
        if self.closing.is_some() {
            return;
        }
        m::engine().frames_out.increment(1);
        m::engine().bytes_out.increment(frame.len() as u64);
        match self.outlet.data(frame) {
            Ok(()) => {}
            Err(Refused::Slow) => self.slow_reader(ctx, "outbound queue overflowed", false),
            Err(Refused::Closed) => {
                if self.outlet.broken() {
                    ctx.stop();
                }
            }
        }
    }

    /// Write what rooms wrote to this socket while the session held it (`joined` first).
    pub(super) fn release_held(&mut self, ctx: &mut Ctx) {
        if self.outlet.release() == Err(Refused::Slow) {
            self.slow_reader(ctx, "outbound queue overflowed", false);
        }
    }

    pub(super) fn send(&mut self, ctx: &mut Ctx, msg: ServerMsg<'_>) {
        let frame = msg.encode_for(self.encoding);
        self.write(ctx, frame);
    }

    pub(super) fn error(&mut self, ctx: &mut Ctx, code: &str, message: &str) {
        self.send(ctx, ServerMsg::Error { code, message });
    }

    /// Send an error, close with `close_code` (after the frames already queued), stop.
    pub(super) fn fail(
        &mut self,
        ctx: &mut Ctx,
        close_code: u16,
        err: &str,
        message: &str,
        reason: &'static str,
    ) {
        self.close_with(
            ctx,
            close_code,
            Some((err, message)),
            reason,
            false,
            CLOSE_LINGER,
        );
    }

    /// Drop a client that does not read: the frames waiting for it are discarded and the
    /// error and close 4011 written in their place; the connection is kept (reading and
    /// discarding) for up to the send timeout more so the client can still read them.
    /// `counted`: the caller already counted it in `rally_slow_client_disconnects_total`.
    fn slow_reader(&mut self, ctx: &mut Ctx, why: &str, counted: bool) {
        if self.closing.is_some() {
            return;
        }
        tracing::debug!(session = %self.id, why, "dropping a slow reader");
        if !counted {
            m::engine().slow_clients.increment(1);
        }
        let linger = self.engine.config.ws_send_timeout.max(CLOSE_LINGER);
        self.close_with(
            ctx,
            close::SLOW_CLIENT,
            Some((
                code::RATE_LIMITED,
                "you are not reading fast enough; reconnect",
            )),
            "slow_client",
            true,
            linger,
        );
    }

    fn close_with(
        &mut self,
        ctx: &mut Ctx,
        close_code: u16,
        error: Option<(&str, &str)>,
        reason: &'static str,
        discard_queue: bool,
        linger: Duration,
    ) {
        if self.closing.is_some() {
            return;
        }
        self.disconnect_reason = reason;
        // Counted when the close is decided (the handshake may take the linger time).
        metrics::counter!("rally_ws_disconnects_total", "reason" => reason).increment(1);
        let (last, message) = match error {
            Some((c, message)) => {
                let frame = ServerMsg::Error { code: c, message }.encode_for(self.encoding);
                m::engine().frames_out.increment(1);
                m::engine().bytes_out.increment(frame.len() as u64);
                (Some(frame), message)
            }
            None => (None, ""),
        };
        self.outlet.close(
            last,
            close_code,
            truncate(message, protocol::MAX_CLOSE_REASON_BYTES),
            discard_queue,
        );
        self.closing = Some(Instant::now() + linger);
        ctx.run_interval(CLOSE_POLL, |act, ctx| act.check_closed(ctx));
    }

    /// End the connection once the close handshake is done (or its time is up).
    fn check_closed(&mut self, ctx: &mut Ctx) {
        let Some(deadline) = self.closing else {
            return;
        };
        if Instant::now() >= deadline
            || self.outlet.broken()
            || (self.peer_closed && self.outlet.is_shut())
        {
            ctx.stop();
        }
    }

    fn on_violation(&mut self, ctx: &mut Ctx, v: Violation) {
        // A client's mistake: DEBUG under the target of client-caused events (docs/operations.md).
        tracing::debug!(
            target: crate::telemetry::noise::TARGET,
            session = %self.id,
            violation = v.message(),
            "websocket framing violation"
        );
        let (err, reason) = match v {
            Violation::TooBig => (code::TOO_BIG, "too_big"),
            Violation::InvalidUtf8 | Violation::Protocol(_) => {
                (code::INVALID_JSON, "protocol_error")
            }
        };
        self.fail(ctx, v.close_code(), err, v.message(), reason);
    }

    fn on_message(&mut self, ctx: &mut Ctx, msg: Incoming, at: Instant) {
        if self.closing.is_some() {
            // Only the client's close frame matters now.
            if let Incoming::Close(_) = msg {
                self.peer_closed = true;
                self.check_closed(ctx);
            }
            return;
        }
        match msg {
            Incoming::Text(text) if self.encoding == Encoding::Json => {
                if self.admit(ctx, at) {
                    self.handle_text(&text, ctx);
                }
            }
            Incoming::Binary(bytes) if self.encoding == Encoding::Bin => {
                if self.admit(ctx, at) {
                    self.handle_bin(&bytes, ctx);
                }
            }
            Incoming::Binary(_) => self.fail(
                ctx,
                close::UNSUPPORTED_DATA,
                code::BINARY_NOT_SUPPORTED,
                "binary frames are not supported on rally.v1.json; send JSON text",
                "protocol_error",
            ),
            Incoming::Text(_) => self.fail(
                ctx,
                close::UNSUPPORTED_DATA,
                code::TEXT_NOT_SUPPORTED,
                "text frames are not supported on rally.v1.bin; send binary frames",
                "protocol_error",
            ),
            Incoming::Ping(p) => {
                if self.outlet.pong(Bytes::from(p)) == Err(Refused::Slow) {
                    self.slow_reader(ctx, "outbound queue overflowed", false);
                }
            }
            Incoming::Pong(p) => {
                if let Ok(b) = <[u8; 8]>::try_from(p.as_slice()) {
                    let answered = u64::from_be_bytes(b);
                    while self.pings.front().is_some_and(|(id, _)| *id <= answered) {
                        self.pings.pop_front();
                    }
                }
            }
            Incoming::Close(reason) => {
                let echo = reason.map_or(close::NORMAL, |(c, _)| c);
                self.peer_closed = true;
                self.close_with(ctx, echo, None, "client_closed", false, CLOSE_LINGER);
                self.check_closed(ctx);
            }
        }
    }

    /// The message rate limit (both encodings): false when exceeded (the socket is closing).
    fn admit(&mut self, ctx: &mut Ctx, at: Instant) -> bool {
        if self
            .pacing
            .admit(at, |from| conn::stalled_between(from, at))
        {
            return true;
        }
        tracing::debug!(session = %self.id, "message rate limit exceeded");
        self.fail(
            ctx,
            close::RATE_LIMITED,
            code::RATE_LIMITED,
            "message rate limit exceeded",
            "rate_limited",
        );
        false
    }

    /// Each heartbeat interval: drop a silent peer (4009) or a client that does not read
    /// (4011), else ping.
    fn heartbeat(&mut self, ctx: &mut Ctx) {
        if self.closing.is_some() {
            return;
        }
        let cfg = &self.engine.config;
        let (timeout, send_timeout) = (cfg.ws_heartbeat_timeout, cfg.ws_send_timeout);
        let now = Instant::now();
        if now.saturating_duration_since(self.last_heard) > timeout {
            return self.fail(
                ctx,
                close::HEARTBEAT_TIMEOUT,
                code::UNAVAILABLE,
                "no answer to pings",
                "heartbeat_timeout",
            );
        }
        if self
            .outlet
            .blocked_since()
            .is_some_and(|t| now.saturating_duration_since(t) > send_timeout)
        {
            return self.slow_reader(ctx, "the socket took nothing for the send timeout", false);
        }
        // A client that is heard from but has not answered a ping for the send timeout is not
        // reading (pings are answered as they are read); a client heard from not at all since
        // is silent, which the heartbeat timeout handles.
        if self.pings.front().is_some_and(|(_, sent)| {
            now.saturating_duration_since(*sent) > send_timeout && self.last_heard > *sent
        }) {
            return self.slow_reader(ctx, "pings unanswered for the send timeout", false);
        }
        let id = self.next_ping;
        self.next_ping += 1;
        if self.pings.len() == MAX_OUTSTANDING_PINGS {
            self.pings.pop_front();
        }
        self.pings.push_back((id, now));
        if self.outlet.ping(Bytes::copy_from_slice(&id.to_be_bytes())) == Err(Refused::Slow) {
            self.slow_reader(ctx, "outbound queue overflowed", false);
        }
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Actor for Session {
    type Context = Ctx;

    fn started(&mut self, ctx: &mut Ctx) {
        ctx.set_mailbox_capacity(self.engine.config.session_queue);
        metrics::gauge!("rally_sessions", "state" => "authenticating").increment(1.0);
        let cfg = &self.engine.config;
        ctx.run_interval(cfg.ws_heartbeat_interval, |act, ctx| act.heartbeat(ctx));
        ctx.run_later(cfg.ws_auth_timeout, |act, ctx| {
            if act.principal.is_none() {
                act.fail(
                    ctx,
                    close::AUTH_TIMEOUT,
                    code::NOT_AUTHENTICATED,
                    "no auth message in time",
                    "auth_timeout",
                );
            }
        });
    }

    fn stopped(&mut self, _: &mut Ctx) {
        let state = if self.principal.is_some() {
            "active"
        } else {
            "authenticating"
        };
        metrics::gauge!("rally_sessions", "state" => state).decrement(1.0);
        if self.closing.is_none() {
            // The client went away without a close handshake.
            metrics::counter!("rally_ws_disconnects_total", "reason" => self.disconnect_reason)
                .increment(1);
        }
        self.end_subscriptions();
        let Some(p) = &self.principal else {
            return;
        };
        self.engine.registry.session_gone(&p.player_id, &self.id);
        if let Some((room, _)) = self.room.take() {
            room.send(Detach {
                player: p.player_id.clone(),
                session_id: self.id.clone(),
            });
        }
        // A dropped player leaves the queue unless a newer session of theirs is live.
        if self.engine.registry.session(&p.player_id).is_none() {
            self.matchmaker.do_send(Cancel {
                player: p.player_id.clone(),
            });
        }
    }
}

impl StreamHandler<ReadEvent> for Session {
    fn handle(&mut self, ev: ReadEvent, ctx: &mut Ctx) {
        match ev {
            ReadEvent::Message { msg, at } => {
                self.last_heard = at;
                self.on_message(ctx, msg, at);
            }
            ReadEvent::Violation(v) => self.on_violation(ctx, v),
        }
    }

    /// The client closed the connection (or it broke).
    fn finished(&mut self, ctx: &mut Ctx) {
        ctx.stop();
    }
}

impl Handler<Outbound> for Session {
    type Result = ();
    fn handle(&mut self, msg: Outbound, ctx: &mut Ctx) {
        self.write_json(ctx, msg.frame);
    }
}

/// How the `ratings` frame starts (`ServerMsg::Ratings`): the one frame a session reads back.
const RATINGS_PREFIX: &str = r#"{"type":"ratings","#;

impl Session {
    /// A `ratings` frame on its way to the client carries this player's new rating: keep it, so
    /// the next match (the queue's pairing, the rating shown in `room`) uses it rather than the
    /// rating read when the session authenticated.
    fn note_rating(&mut self, frame: &bytestring::ByteString) {
        if !frame.starts_with(RATINGS_PREFIX)
            || self
                .last_game
                .as_deref()
                .is_some_and(|g| g != crate::game::pong::KIND)
        {
            return;
        }
        #[derive(serde::Deserialize)]
        struct Change {
            player: String,
            after: i64,
        }
        #[derive(serde::Deserialize)]
        struct Ratings {
            changes: Vec<Change>,
        }
        let (Some(p), Ok(r)) = (
            self.principal.as_mut(),
            serde_json::from_str::<Ratings>(frame),
        ) else {
            return;
        };
        if let Some(c) = r.changes.iter().find(|c| c.player == p.player_id.0) {
            p.rating = c.after as f64;
        }
    }

    /// The room let this session go (match over, replaced, slow).
    fn let_go(&mut self, room: RoomId) {
        if self.room.as_ref().is_some_and(|(r, _)| r.id == room) {
            self.room = None;
            self.released = true;
            self.released_from = Some(room);
        }
    }
}

impl Handler<SessionEvent> for Session {
    type Result = ();
    fn handle(&mut self, msg: SessionEvent, ctx: &mut Ctx) {
        match msg {
            SessionEvent::Frame(f) => {
                self.note_rating(&f);
                self.write_json(ctx, f)
            }
            SessionEvent::Account(change) => self.account_changed(change, ctx),
            SessionEvent::MatchFound {
                room,
                join_within_ms,
            } => self.send(
                ctx,
                ServerMsg::MatchFound {
                    room: room.as_str(),
                    join_within_ms,
                },
            ),
            SessionEvent::Kick {
                code: c,
                error,
                message,
            } => {
                if c == close::SLOW_CLIENT {
                    // A slow client was already let go by a local room: no Detach on stop (a
                    // room on another instance is told by the Detach).
                    if self.room.as_ref().is_some_and(|(r, _)| r.owner().is_none()) {
                        self.room = None;
                    }
                    return self.slow_reader(
                        ctx,
                        "the room's queue for this session is full",
                        true,
                    );
                }
                let reason = if c == close::SESSION_REPLACED {
                    "replaced"
                } else {
                    "client_closed"
                };
                self.fail(ctx, c, error, &message, reason);
            }
            SessionEvent::Detached { room } => self.let_go(room),
            SessionEvent::Released { room, frame } => {
                self.let_go(room);
                self.write_json(ctx, frame);
            }
        }
    }
}
