//! The WebSocket session actor (actix-web-actors, confined to this module): authenticates
//! with the first message, enforces the protocol limits, bridges the socket to rooms through
//! the registry, and owns its heartbeat.

mod account;

use crate::app::AppState;
use crate::auth::{self, Operation, Principal};
use crate::error::ErrorKind;
use crate::ids::{RoomId, TournamentId};
use crate::matchmaking::queue::{Cancel, Enqueue, Matchmaker};
use crate::metrics as m;
use crate::protocol::{self, close, code, ClientMsg, ServerMsg};
use crate::registry::{RoomHandle, SessionHandle, Undelivered};
use crate::room::messages::*;
use crate::room::Engine;
use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;

/// `GET /ws`: upgrade to a session.
pub async fn ws_route(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let session = Session::new(state.into_inner());
    ws::WsResponseBuilder::new(session, &req, stream)
        .frame_size(protocol::MAX_FRAME_BYTES)
        .start()
}

/// One WebSocket connection.
pub struct Session {
    id: String,
    app: Arc<AppState>,
    engine: Arc<Engine>,
    matchmaker: Addr<Matchmaker>,
    principal: Option<Principal>,
    /// The token presented at auth, re-checked for each join/spectate (attenuation).
    token: Option<String>,
    /// Last time anything arrived from the peer (heartbeat).
    last_heard: Instant,
    limiter: DefaultDirectRateLimiter,
    /// Reassembly buffer for fragmented text messages.
    fragments: Option<Vec<u8>>,
    protocol_errors: u32,
    room: Option<(RoomHandle, JoinRole)>,
    /// Set when the room let this session go at the end of a match: inputs already in flight
    /// are dropped silently instead of answered with `not_in_room`.
    released: bool,
    /// The room that last let this session go (for the re-queue check).
    released_from: Option<RoomId>,
    /// Tournaments whose live events this session receives (unsubscribed on stop).
    subscriptions: HashSet<TournamentId>,
    closing: bool,
    disconnect_reason: &'static str,
}

type Ctx = ws::WebsocketContext<Session>;

impl Session {
    fn new(app: Arc<AppState>) -> Self {
        let rate = NonZeroU32::new(protocol::MAX_MESSAGES_PER_SEC).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(protocol::MESSAGE_BURST).unwrap_or(NonZeroU32::MIN);
        Session {
            id: ulid::Ulid::new().to_string(),
            engine: app.engine.clone(),
            matchmaker: app.matchmaker.clone(),
            app,
            principal: None,
            token: None,
            last_heard: Instant::now(),
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            fragments: None,
            protocol_errors: 0,
            room: None,
            released: false,
            released_from: None,
            subscriptions: HashSet::new(),
            closing: false,
            disconnect_reason: "client_closed",
        }
    }

    fn send(&self, ctx: &mut Ctx, msg: ServerMsg<'_>) {
        let text = msg.encode();
        m::engine().frames_out.increment(1);
        m::engine().bytes_out.increment(text.len() as u64);
        ctx.text(text);
    }

    fn error(&self, ctx: &mut Ctx, code: &str, message: &str) {
        self.send(ctx, ServerMsg::Error { code, message });
    }

    /// Send an error, close with `close_code`, stop.
    fn fail(
        &mut self,
        ctx: &mut Ctx,
        close_code: u16,
        err: &str,
        message: &str,
        reason: &'static str,
    ) {
        if self.closing {
            return;
        }
        self.closing = true;
        self.disconnect_reason = reason;
        self.error(ctx, err, message);
        ctx.close(Some(ws::CloseReason {
            code: ws::CloseCode::Other(close_code),
            description: Some(message.chars().take(100).collect()),
        }));
        ctx.stop();
    }

    fn protocol_error(&mut self, ctx: &mut Ctx, err: &str, message: &str) {
        self.protocol_errors += 1;
        if self.protocol_errors > protocol::MAX_PROTOCOL_ERRORS {
            self.fail(
                ctx,
                close::PROTOCOL,
                err,
                "too many protocol errors",
                "protocol_error",
            );
        } else {
            self.error(ctx, err, message);
        }
    }

    fn handle_text(&mut self, text: &str, ctx: &mut Ctx) {
        m::engine().frames_in.increment(1);
        m::engine().bytes_in.increment(text.len() as u64);
        if self.limiter.check().is_err() {
            self.fail(
                ctx,
                close::RATE_LIMITED,
                code::RATE_LIMITED,
                "message rate limit exceeded",
                "rate_limited",
            );
            return;
        }
        let msg = match protocol::parse_client(text) {
            Ok(m) => m,
            Err((c, message)) => return self.protocol_error(ctx, c, &message),
        };
        let Some(principal) = self.principal.clone() else {
            return match msg {
                ClientMsg::Auth { token } => self.authenticate(token, ctx),
                _ => self.protocol_error(ctx, code::NOT_AUTHENTICATED, "send auth first"),
            };
        };
        match msg {
            ClientMsg::Auth { .. } => {
                self.protocol_error(ctx, code::ALREADY_AUTHENTICATED, "already authenticated")
            }
            ClientMsg::Ping { id, client_time } => self.send(
                ctx,
                ServerMsg::Pong {
                    id,
                    client_time,
                    server_time: crate::db::now_ms() as u64,
                },
            ),
            ClientMsg::Where => {
                let registry = self.engine.registry.clone();
                let player = principal.player_id.clone();
                let fut = async move { registry.player_room(&player).await };
                ctx.wait(fut.into_actor(self).map(|room, act, ctx| {
                    act.send(
                        ctx,
                        ServerMsg::Location {
                            room: room.as_ref().map(|r| r.as_str()),
                        },
                    );
                }));
            }
            ClientMsg::Queue { game } => self.queue(principal, game, ctx),
            ClientMsg::CancelQueue => {
                let fut = self.matchmaker.send(Cancel {
                    player: principal.player_id.clone(),
                });
                ctx.wait(fut.into_actor(self).map(|_, act, ctx| {
                    act.send(ctx, ServerMsg::QueueLeft);
                }));
            }
            ClientMsg::Join { room, code } => self.join(principal, room, code, false, ctx),
            ClientMsg::Spectate { room, code } => self.join(principal, room, code, true, ctx),
            ClientMsg::Input { seq, input } => self.input(principal, seq, input, ctx),
            ClientMsg::Resign => self.resign(principal, ctx),
            ClientMsg::Leave => {
                let Some((room, _)) = self.room.take() else {
                    return self.error(ctx, code::NOT_IN_ROOM, "you are not in a room");
                };
                room.send(Leave {
                    player: principal.player_id.clone(),
                    session_id: self.id.clone(),
                });
                self.send(
                    ctx,
                    ServerMsg::Left {
                        room: room.id.as_str(),
                    },
                );
            }
            ClientMsg::Subscribe { tournament } => self.subscribe(tournament, ctx),
            ClientMsg::Unsubscribe { tournament } => {
                if let Some(id) = TournamentId::parse(&tournament) {
                    if self.subscriptions.remove(&id) {
                        if let Some(t) = self.engine.registry.tournament(&id) {
                            t.send(crate::tournament::messages::Unsubscribe {
                                session_id: self.id.clone(),
                            });
                        }
                    }
                }
                self.send(
                    ctx,
                    ServerMsg::Unsubscribed {
                        tournament: &tournament,
                    },
                );
            }
        }
    }

    /// Receive a running tournament's live events (authorized as spectating it).
    fn subscribe(&mut self, tournament: String, ctx: &mut Ctx) {
        let handle =
            TournamentId::parse(&tournament).and_then(|id| self.engine.registry.tournament(&id));
        let Some(handle) = handle else {
            return self.error(
                ctx,
                code::NOT_FOUND,
                "no running tournament with this id (GET /api/v1/tournaments/{id} serves finished ones)",
            );
        };
        if !self.subscriptions.contains(&handle.id)
            && self.subscriptions.len() >= protocol::MAX_SUBSCRIPTIONS
        {
            return self.error(ctx, code::CONFLICT, "too many tournament subscriptions");
        }
        let (app, token_check) = (self.app.clone(), self.token.clone());
        let resource = format!("tournament:{}", handle.id);
        let msg = crate::tournament::messages::Subscribe {
            session_id: self.id.clone(),
            events: ctx.address().recipient(),
        };
        let id = handle.id.clone();
        let fut = async move {
            if let Some(token) = token_check {
                auth::authorize(&app.db, &app.key, &token, Operation::Spectate, &resource)
                    .await
                    .map_err(|e| {
                        let c = if e.kind == ErrorKind::Forbidden {
                            code::FORBIDDEN
                        } else {
                            code::UNAUTHORIZED
                        };
                        RoomRefusal::new(c, e.message)
                    })?;
            }
            handle
                .ask(msg)
                .await
                .map_err(|_| RoomRefusal::new(code::NOT_FOUND, "the tournament is over"))
        };
        ctx.wait(fut.into_actor(self).map(move |res, act, ctx| match res {
            Ok(view) => {
                act.subscriptions.insert(id.clone());
                act.send(
                    ctx,
                    ServerMsg::Subscribed {
                        tournament: id.as_str(),
                    },
                );
                let event = protocol::TournamentEvent::State { view };
                act.send(
                    ctx,
                    ServerMsg::Tournament {
                        tournament: id.as_str(),
                        event: &event,
                    },
                );
            }
            Err(r) => act.error(ctx, &r.code, &r.message),
        }));
    }

    fn authenticate(&mut self, token: String, ctx: &mut Ctx) {
        let app = self.app.clone();
        let presented = token.clone();
        let fut = async move {
            auth::authorize(&app.db, &app.key, &token, Operation::Connect, "ws").await
        };
        ctx.wait(fut.into_actor(self).map(move |res, act, ctx| match res {
            Ok(p) => {
                act.token = Some(presented);
                act.on_authenticated(p, ctx)
            }
            Err(e) => {
                let (close_code, err) = match e.kind {
                    ErrorKind::Forbidden => (close::FORBIDDEN, code::FORBIDDEN),
                    ErrorKind::Unavailable | ErrorKind::Internal => (1013, code::UNAVAILABLE),
                    _ => (close::UNAUTHORIZED, code::UNAUTHORIZED),
                };
                act.fail(ctx, close_code, err, &e.message, "auth_failed");
            }
        }));
    }

    fn on_authenticated(&mut self, p: Principal, ctx: &mut Ctx) {
        let handle = SessionHandle {
            session_id: self.id.clone(),
            outbound: ctx.address().recipient(),
            events: ctx.address().recipient(),
        };
        if let Some(old) = self.engine.registry.session_connected(&p.player_id, handle) {
            m::engine().takeovers.increment(1);
            old.events.do_send(SessionEvent::Kick {
                code: close::SESSION_REPLACED,
                error: code::CONFLICT,
                message: "a newer connection of this player took over".into(),
            });
        }
        metrics::gauge!("rally_sessions", "state" => "authenticating").decrement(1.0);
        metrics::gauge!("rally_sessions", "state" => "active").increment(1.0);
        let player = serde_json::json!({
            "id": p.player_id, "name": p.name, "role": p.role,
            "rating": p.rating.round() as i64,
        });
        let registry = self.engine.registry.clone();
        let player_id = p.player_id.clone();
        self.principal = Some(p);
        let fut = async move { registry.player_room(&player_id).await };
        ctx.wait(fut.into_actor(self).map(move |room, act, ctx| {
            let session = act.id.clone();
            act.send(
                ctx,
                ServerMsg::Welcome {
                    protocol: protocol::PROTOCOL_VERSION,
                    session: &session,
                    player,
                    room: room.as_ref().map(|r| r.as_str()),
                    server_time: crate::db::now_ms() as u64,
                },
            );
        }));
    }

    fn player_info(p: &Principal) -> PlayerInfo {
        PlayerInfo {
            id: p.player_id.clone(),
            name: p.name.clone(),
            rating: p.rating,
        }
    }

    fn queue(&mut self, p: Principal, game: String, ctx: &mut Ctx) {
        if matches!(self.room, Some((_, JoinRole::Player))) {
            return self.error(
                ctx,
                code::CONFLICT,
                "you are seated in a room; leave it first",
            );
        }
        let fut = self.matchmaker.send(Enqueue {
            player: Self::player_info(&p),
            game: game.clone(),
            released_from: self.released_from.clone(),
        });
        ctx.wait(fut.into_actor(self).map(move |res, act, ctx| match res {
            Ok(Ok(())) => act.send(ctx, ServerMsg::Queued { game: &game }),
            Ok(Err(r)) => act.error(ctx, &r.code, &r.message),
            Err(_) => act.error(ctx, code::UNAVAILABLE, "matchmaking is unavailable"),
        }));
    }

    fn join(
        &mut self,
        p: Principal,
        room: Option<String>,
        join_code: Option<String>,
        spectate: bool,
        ctx: &mut Ctx,
    ) {
        if room.is_none() && join_code.is_none() {
            return self.protocol_error(ctx, code::INVALID_FIELD, "give \"room\" or \"code\"");
        }
        let engine = self.engine.clone();
        let fut = async move {
            let id = match (&room, &join_code) {
                (Some(r), _) => RoomId::parse(r),
                (None, Some(c)) => engine.registry.room_id_by_code(c).await,
                (None, None) => None,
            }?;
            engine.find_room(&id).await
        };
        ctx.wait(
            fut.into_actor(self)
                .map(move |handle, act, ctx| match handle {
                    Some(h) => act.join_resolved(p, h, spectate, ctx),
                    None => act.error(ctx, code::NOT_FOUND, "no such room"),
                }),
        );
    }

    fn join_resolved(&mut self, p: Principal, handle: RoomHandle, spectate: bool, ctx: &mut Ctx) {
        // Leaving a different room first: joining is never silent about the old one.
        if let Some((old, _)) = &self.room {
            if old.id != handle.id {
                old.send(Leave {
                    player: p.player_id.clone(),
                    session_id: self.id.clone(),
                });
                self.room = None;
            }
        }
        if !spectate {
            self.matchmaker.do_send(Cancel {
                player: p.player_id.clone(),
            });
        }
        let op = if spectate {
            Operation::Spectate
        } else {
            Operation::Play
        };
        let (app, token_check) = (self.app.clone(), self.token.clone());
        let resource = format!("room:{}", handle.id);
        let session = SessionHandle {
            session_id: self.id.clone(),
            outbound: ctx.address().recipient(),
            events: ctx.address().recipient(),
        };
        let join = Join {
            player: Self::player_info(&p),
            session_id: self.id.clone(),
            spectate,
            session: Some(session),
        };
        let h2 = handle.clone();
        let fut = async move {
            // Authorize again for this operation on this room (attenuated tokens).
            if let Some(token) = token_check {
                if let Err(e) = auth::authorize(&app.db, &app.key, &token, op, &resource).await {
                    return Err(RoomRefusal::new(
                        if e.kind == ErrorKind::Forbidden {
                            code::FORBIDDEN
                        } else {
                            code::UNAUTHORIZED
                        },
                        e.message,
                    ));
                }
            }
            match h2.ask(join).await {
                Ok(r) => r,
                Err(_) => Err(RoomRefusal::new(code::NOT_FOUND, "the room has closed")),
            }
        };
        ctx.wait(fut.into_actor(self).map(move |res, act, ctx| match res {
            Ok(a) => {
                act.released = false;
                act.room = Some((handle, a.role));
                act.send(
                    ctx,
                    ServerMsg::Joined {
                        room: a.room.as_str(),
                        r#match: a.match_id.as_str(),
                        role: match a.role {
                            JoinRole::Player => "player",
                            JoinRole::Spectator => "spectator",
                        },
                        seat: a.seat,
                        info: &a.info,
                        tick_hz: a.tick_hz,
                    },
                );
            }
            Err(r) => act.error(ctx, &r.code, &r.message),
        }));
    }

    fn input(&mut self, p: Principal, seq: u64, input: serde_json::Value, ctx: &mut Ctx) {
        let Some((room, role)) = &self.room else {
            if self.released {
                m::engine().inputs_rejected.increment(1);
                return;
            }
            return self.error(ctx, code::NOT_IN_ROOM, "you are not in a room");
        };
        if *role != JoinRole::Player {
            return self.error(ctx, code::NOT_A_PLAYER, "spectators cannot send inputs");
        }
        match room.try_send(Input {
            player: p.player_id,
            session_id: self.id.clone(),
            seq,
            input,
        }) {
            Ok(()) => {}
            Err(Undelivered::Full) => {
                m::engine().inputs_dropped.increment(1);
                self.error(ctx, code::INPUT_DROPPED, "the room is busy; input dropped");
            }
            Err(Undelivered::Closed) => {
                self.room = None;
                self.error(ctx, code::NOT_IN_ROOM, "the room has closed");
            }
        }
    }

    fn resign(&mut self, p: Principal, ctx: &mut Ctx) {
        let Some((room, role)) = self.room.clone() else {
            return self.error(ctx, code::NOT_IN_ROOM, "you are not in a room");
        };
        if role != JoinRole::Player {
            return self.error(ctx, code::NOT_A_PLAYER, "spectators cannot resign");
        }
        let fut = async move {
            room.ask(Resign {
                player: p.player_id,
            })
            .await
        };
        ctx.wait(fut.into_actor(self).map(|res, act, ctx| match res {
            Ok(Ok(())) => {}
            Ok(Err(r)) => act.error(ctx, &r.code, &r.message),
            Err(_) => act.error(ctx, code::NOT_IN_ROOM, "the room has closed"),
        }));
    }
}

impl Actor for Session {
    type Context = Ctx;

    fn started(&mut self, ctx: &mut Ctx) {
        ctx.set_mailbox_capacity(self.engine.config.session_queue);
        metrics::gauge!("rally_sessions", "state" => "authenticating").increment(1.0);
        let cfg = &self.engine.config;
        let (interval, timeout) = (cfg.ws_heartbeat_interval, cfg.ws_heartbeat_timeout);
        ctx.run_interval(interval, move |act, ctx| {
            if act.last_heard.elapsed() > timeout {
                act.fail(
                    ctx,
                    close::HEARTBEAT_TIMEOUT,
                    code::UNAVAILABLE,
                    "no answer to pings",
                    "heartbeat_timeout",
                );
            } else {
                ctx.ping(b"");
            }
        });
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
        metrics::counter!("rally_ws_disconnects_total", "reason" => self.disconnect_reason)
            .increment(1);
        let Some(p) = &self.principal else {
            return;
        };
        self.engine.registry.session_gone(&p.player_id, &self.id);
        for t in self.subscriptions.drain() {
            if let Some(h) = self.engine.registry.tournament(&t) {
                h.send(crate::tournament::messages::Unsubscribe {
                    session_id: self.id.clone(),
                });
            }
        }
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

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for Session {
    fn handle(&mut self, item: Result<ws::Message, ws::ProtocolError>, ctx: &mut Ctx) {
        if self.closing {
            return;
        }
        self.last_heard = Instant::now();
        let msg = match item {
            Ok(m) => m,
            Err(ws::ProtocolError::Overflow) => {
                return self.fail(
                    ctx,
                    close::TOO_BIG,
                    code::TOO_BIG,
                    "frame too large",
                    "too_big",
                )
            }
            Err(e) => {
                return self.fail(
                    ctx,
                    close::PROTOCOL,
                    code::INVALID_JSON,
                    &format!("protocol error: {e}"),
                    "protocol_error",
                )
            }
        };
        match msg {
            ws::Message::Text(t) => {
                if self.fragments.is_some() {
                    return self.fail(
                        ctx,
                        close::PROTOCOL,
                        code::INVALID_JSON,
                        "text frame inside a fragmented message",
                        "protocol_error",
                    );
                }
                self.handle_text(&t, ctx)
            }
            ws::Message::Binary(_) => self.fail(
                ctx,
                close::UNSUPPORTED_DATA,
                code::BINARY_NOT_SUPPORTED,
                "binary frames are not supported; send JSON text",
                "protocol_error",
            ),
            ws::Message::Continuation(item) => self.continuation(item, ctx),
            ws::Message::Ping(b) => ctx.pong(&b),
            ws::Message::Pong(_) => {}
            ws::Message::Close(reason) => {
                self.closing = true;
                ctx.close(reason);
                ctx.stop();
            }
            ws::Message::Nop => {}
        }
    }

    fn finished(&mut self, ctx: &mut Ctx) {
        ctx.stop();
    }
}

impl Session {
    fn continuation(&mut self, item: actix_http::ws::Item, ctx: &mut Ctx) {
        let (first, bytes, last) = match item {
            actix_http::ws::Item::FirstText(b) => (true, b, false),
            actix_http::ws::Item::FirstBinary(_) => {
                return self.fail(
                    ctx,
                    close::UNSUPPORTED_DATA,
                    code::BINARY_NOT_SUPPORTED,
                    "binary frames are not supported; send JSON text",
                    "protocol_error",
                )
            }
            actix_http::ws::Item::Continue(b) => (false, b, false),
            actix_http::ws::Item::Last(b) => (false, b, true),
        };
        if first {
            if self.fragments.is_some() {
                return self.fail(
                    ctx,
                    close::PROTOCOL,
                    code::INVALID_JSON,
                    "new fragmented message before the last one ended",
                    "protocol_error",
                );
            }
            self.fragments = Some(Vec::new());
        }
        let Some(buf) = self.fragments.as_mut() else {
            return self.fail(
                ctx,
                close::PROTOCOL,
                code::INVALID_JSON,
                "continuation without a first frame",
                "protocol_error",
            );
        };
        if buf.len() + bytes.len() > protocol::MAX_MESSAGE_BYTES {
            self.fragments = None;
            return self.fail(
                ctx,
                close::TOO_BIG,
                code::TOO_BIG,
                "message too large",
                "too_big",
            );
        }
        buf.extend_from_slice(&bytes);
        if last {
            let data = self.fragments.take().unwrap_or_default();
            match String::from_utf8(data) {
                Ok(text) => self.handle_text(&text, ctx),
                Err(_) => self.fail(
                    ctx,
                    1007,
                    code::INVALID_JSON,
                    "message is not valid UTF-8",
                    "protocol_error",
                ),
            }
        }
    }
}

impl Handler<Outbound> for Session {
    type Result = ();
    fn handle(&mut self, msg: Outbound, ctx: &mut Ctx) {
        if self.closing {
            return;
        }
        m::engine().frames_out.increment(1);
        m::engine().bytes_out.increment(msg.frame.len() as u64);
        ctx.text(msg.frame);
    }
}

impl Session {
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
                <Self as Handler<Outbound>>::handle(self, Outbound { frame: f }, ctx)
            }
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
                let reason = if c == close::SESSION_REPLACED {
                    "replaced"
                } else if c == close::SLOW_CLIENT {
                    "slow_client"
                } else {
                    "client_closed"
                };
                // A slow client was already let go by a local room: no Detach on stop (a room
                // on another instance is told by the Detach).
                if c == close::SLOW_CLIENT
                    && self.room.as_ref().is_some_and(|(r, _)| r.owner().is_none())
                {
                    self.room = None;
                }
                self.fail(ctx, c, error, &message, reason);
            }
            SessionEvent::Account(change) => self.account_changed(change, ctx),
            SessionEvent::Detached { room } => self.let_go(room),
            SessionEvent::Released { room, frame } => {
                self.let_go(room);
                <Self as Handler<Outbound>>::handle(self, Outbound { frame }, ctx)
            }
        }
    }
}
