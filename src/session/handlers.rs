//! The session's protocol handling: what each client message means (authentication, queue,
//! rooms, inputs, tournaments). The transport side — frames, heartbeat, limits, closing — is
//! in [`super::actor`].

use super::actor::{Ctx, Session};
use crate::auth::{self, Operation, Principal};
use crate::error::ErrorKind;
use crate::ids::{PlayerId, RoomId};
use crate::matchmaking::queue::{Cancel, Enqueue};
use crate::metrics as m;
use crate::protocol::{self, close, code, ClientMsg, ServerMsg};
use crate::registry::{RoomHandle, SessionHandle, Undelivered};
use crate::room::messages::{
    Input, Join, JoinRole, Leave, PlayerInfo, Resign, RoomRefusal, SessionEvent,
};
use actix::prelude::*;

impl Session {
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

    pub(super) fn handle_text(&mut self, text: &str, ctx: &mut Ctx) {
        m::engine().frames_in.increment(1);
        m::engine().bytes_in.increment(text.len() as u64);
        match protocol::parse_client(text) {
            Ok(msg) => self.handle_msg(msg, ctx),
            Err((c, message)) => self.protocol_error(ctx, c, &message),
        }
    }

    /// A `rally.v1.bin` message: the same messages, the same errors (`invalid_bin` where JSON
    /// has `invalid_json`).
    pub(super) fn handle_bin(&mut self, bytes: &[u8], ctx: &mut Ctx) {
        m::engine().frames_in.increment(1);
        m::engine().bytes_in.increment(bytes.len() as u64);
        match protocol::bin::parse_client(bytes) {
            Ok(msg) => self.handle_msg(msg, ctx),
            Err((c, message)) => self.protocol_error(ctx, c, &message),
        }
    }

    fn handle_msg(&mut self, msg: ClientMsg, ctx: &mut Ctx) {
        let player = self.principal.as_ref().map(|p| p.player_id.clone());
        let msg = match (player, msg) {
            (None, ClientMsg::Auth { token }) => return self.authenticate(token, ctx),
            (None, _) => {
                return self.protocol_error(ctx, code::NOT_AUTHENTICATED, "send auth first")
            }
            // The hot path: no copy of the whole principal per input.
            (Some(player), ClientMsg::Input { seq, input, tick }) => {
                return self.input(player, seq, input, tick, ctx)
            }
            (Some(_), msg) => msg,
        };
        let Some(principal) = self.principal.clone() else {
            return;
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
            ClientMsg::Queue { game, size } => self.queue(principal, game, size, ctx),
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
            ClientMsg::Input { seq, input, tick } => {
                self.input(principal.player_id, seq, input, tick, ctx)
            }
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
            ClientMsg::Unsubscribe { tournament } => self.unsubscribe(tournament, ctx),
        }
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
            direct: None,
        };
        if let Some(old) = self.engine.registry.session_connected(&p.player_id, handle) {
            m::engine().takeovers.increment(1);
            old.events.do_send(SessionEvent::Kick {
                code: close::SESSION_REPLACED,
                error: code::CONFLICT,
                message: "a newer connection of this player took over".into(),
            });
        }
        self.admitted();
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

    fn queue(&mut self, p: Principal, game: String, size: Option<u8>, ctx: &mut Ctx) {
        if matches!(self.room, Some((_, JoinRole::Player))) {
            return self.error(
                ctx,
                code::CONFLICT,
                "you are seated in a room; leave it first",
            );
        }
        let size = match crate::matchmaking::queue::check_queue(&game, size) {
            Ok(size) => size,
            Err(r) => return self.error(ctx, &r.code, &r.message),
        };
        let fut = self.matchmaker.send(Enqueue {
            player: Self::player_info(&p),
            game: game.clone(),
            size,
            released_from: self.released_from.clone(),
        });
        ctx.wait(fut.into_actor(self).map(move |res, act, ctx| match res {
            Ok(Ok(())) => act.send(ctx, ServerMsg::Queued { game: &game, size }),
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
            }
            .ok_or_else(|| RoomRefusal::new(code::NOT_FOUND, "no such room"))?;
            engine.find_room(&id).await
        };
        ctx.wait(
            fut.into_actor(self)
                .map(move |handle, act, ctx| match handle {
                    Ok(h) => act.join_resolved(p, h, spectate, ctx),
                    Err(r) => act.error(ctx, &r.code, &r.message),
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
            direct: Some(self.outlet.sink()),
        };
        // What the room writes to the socket waits until `joined` is out.
        self.outlet.hold();
        let join = Join {
            player: Self::player_info(&p),
            session_id: self.id.clone(),
            spectate,
            session: Some(session),
        };
        let h2 = handle.clone();
        let known = p.clone();
        let fut = async move {
            // Authorize again for this operation on this room (attenuated tokens); a database
            // outage does not keep an admitted player out of their room.
            if let Some(token) = token_check {
                if let Err(e) =
                    auth::reauthorize(&app.db, &app.key, &token, op, &resource, &known).await
                {
                    return Err(RoomRefusal::new(
                        match e.kind {
                            ErrorKind::Forbidden => code::FORBIDDEN,
                            ErrorKind::Unavailable | ErrorKind::Internal => code::UNAVAILABLE,
                            _ => code::UNAUTHORIZED,
                        },
                        e.message,
                    ));
                }
            }
            match h2.ask(join).await {
                Ok(r) => r,
                // The owning instance did not answer (it died, or is cut off): the room moves
                // to another instance within a lease period.
                Err(_) if h2.owner().is_some() => Err(RoomRefusal::new(
                    code::UNAVAILABLE,
                    "the room's instance does not answer; it resumes elsewhere within seconds: \
                     join again",
                )),
                Err(_) => Err(RoomRefusal::new(code::NOT_FOUND, "the room has closed")),
            }
        };
        ctx.wait(fut.into_actor(self).map(move |res, act, ctx| match res {
            Ok(a) => {
                act.released = false;
                if a.role == JoinRole::Player {
                    act.last_game = a.info["kind"].as_str().map(str::to_owned);
                }
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
                act.release_held(ctx);
            }
            Err(r) => {
                act.error(ctx, &r.code, &r.message);
                act.release_held(ctx);
            }
        }));
    }

    fn input(
        &mut self,
        player: PlayerId,
        seq: u64,
        input: serde_json::Value,
        tick: Option<u64>,
        ctx: &mut Ctx,
    ) {
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
        match room.try_input(Input {
            player,
            session_id: self.id.clone(),
            seq,
            input,
            tick,
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
