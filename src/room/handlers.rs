//! The room's mailbox: every message it answers (joins, inputs, resignations, leaving,
//! detaching, forfeits, tournament conclusions, lease notices, fencing and hand-over).

use super::*;
use crate::db::matches;

/// The database refused a write with our epoch: another instance owns the match.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Fenced;

impl Handler<Fenced> for RoomActor {
    type Result = ();
    fn handle(&mut self, _: Fenced, ctx: &mut Context<Self>) {
        self.step_down("fenced off by a newer epoch", ctx);
    }
}

impl Handler<LeaseNotice> for RoomActor {
    type Result = ();
    fn handle(&mut self, msg: LeaseNotice, ctx: &mut Context<Self>) {
        match msg.event {
            LeaseEvent::Lost => self.step_down("lease lost", ctx),
            LeaseEvent::Reacquired => {
                // Redis lost our lease key and we re-created it: make sure nobody took the
                // match over in between (the epoch in Postgres is the truth).
                let (db, id, epoch, addr) = (
                    self.engine.db.clone(),
                    self.match_id.0.clone(),
                    self.epoch,
                    ctx.address(),
                );
                actix::spawn(async move {
                    if let Ok(Some(row)) = db.run(move |c| matches::get(c, &id)).await {
                        if row.epoch != epoch {
                            addr.do_send(Fenced);
                        }
                    }
                });
            }
        }
    }
}

impl Handler<HandOver> for RoomActor {
    type Result = ResponseActFuture<Self, bool>;
    fn handle(&mut self, _: HandOver, _: &mut Context<Self>) -> Self::Result {
        let Some(cluster) = self.engine.registry.cluster().cloned() else {
            return Box::pin(actix::fut::ready(false));
        };
        if self.state == RoomState::Finished {
            return Box::pin(actix::fut::ready(true));
        }
        let cp = self.checkpoint();
        let id = self.id.clone();
        self.moved = true;
        Box::pin(
            async move {
                let ok = cluster.checkpoint_now(&id, &cp).await;
                cluster.release(&Resource::room(&id)).await;
                ok
            }
            .into_actor(self)
            .map(|ok, act, ctx| {
                act.send_everyone_elsewhere("server restarting; reconnect");
                ctx.stop();
                ok
            }),
        )
    }
}

impl Handler<Persisted> for RoomActor {
    type Result = ();
    fn handle(&mut self, msg: Persisted, _: &mut Context<Self>) {
        let frame = super::persist::ratings_frame(&self.match_id.0, &msg.changes);
        for h in self.spectators.values() {
            h.events.do_send(SessionEvent::Frame(frame.clone()));
        }
        // Seated players were released at the end: reach them wherever they are now.
        for s in &self.seats {
            if let Some(p) = &s.player {
                self.engine
                    .registry
                    .notify_player(&p.id, SessionEvent::Frame(frame.clone()));
            }
        }
    }
}

impl Handler<Join> for RoomActor {
    type Result = Result<JoinAccepted, RoomRefusal>;

    fn handle(&mut self, msg: Join, _: &mut Context<Self>) -> Self::Result {
        let Some(session) = msg.session else {
            return Err(RoomRefusal::new(code::INTERNAL, "no session to attach"));
        };
        let accepted = |seat: Option<usize>, act: &Self| JoinAccepted {
            room: act.id.clone(),
            match_id: act.match_id.clone(),
            role: if seat.is_some() {
                JoinRole::Player
            } else {
                JoinRole::Spectator
            },
            seat: seat.map(|s| s as u8),
            info: act.info.clone(),
            tick_hz: act.tick_hz,
        };
        if msg.spectate {
            if self.over() {
                return Err(RoomRefusal::new(code::NOT_FOUND, "this match is over"));
            }
            self.spectators
                .insert(msg.session_id.clone(), session.clone());
            self.publish_summary();
            let frame = self.room_state_frame();
            // Held by the session until its `joined` is out.
            self.deliver(&session, &frame, &mut None);
            self.send_full_snapshot(&session);
            return Ok(accepted(None, self));
        }
        if self.over() {
            return Err(RoomRefusal::new(code::NOT_FOUND, "this match is over"));
        }
        let seat = match self.seat_of(&msg.player.id) {
            Some(i) => i,
            None if !self.assigned => match self.seats.iter().position(|s| s.player.is_none()) {
                Some(i) => {
                    self.seats[i].player = Some(msg.player.clone());
                    self.engine
                        .registry
                        .set_player_room(&msg.player.id, Some(self.id.clone()));
                    // The seat is journaled and written (retried, fenced by our epoch).
                    self.engine.outbox.submit(Write::Seat {
                        match_id: self.match_id.0.clone(),
                        epoch: self.epoch,
                        seat: i as u8,
                        player: msg.player.id.0.clone(),
                    });
                    i
                }
                None => {
                    return Err(RoomRefusal::new(
                        code::ROOM_FULL,
                        "every seat is taken; spectate instead",
                    ))
                }
            },
            None => {
                return Err(RoomRefusal::new(
                    code::FORBIDDEN,
                    "you are not a player of this match; spectate instead",
                ))
            }
        };
        let slot = &mut self.seats[seat];
        if let Some(old) = slot.session.replace(session.clone()) {
            if old.session_id != msg.session_id {
                old.events.do_send(SessionEvent::Detached {
                    room: self.id.clone(),
                });
            }
        }
        if slot.away_since.take().is_some() {
            m::engine().reconnections.increment(1);
        }
        slot.joined_once = true;
        let reply = accepted(Some(seat), self);
        self.maybe_start_countdown();
        self.publish_summary();
        self.broadcast_room_state();
        self.send_full_snapshot(&session);
        Ok(reply)
    }
}

impl RoomActor {
    /// Take the inputs sessions queued since the last wake-up.
    pub(super) fn drain_inbox(&mut self) {
        let mut drained = std::mem::take(&mut self.drained);
        self.inbox.drain_into(&mut drained);
        for input in drained.drain(..) {
            self.accept_input(input);
        }
        self.drained = drained;
    }

    /// Check an input (current session of a seat, newer than what is pending) and keep it
    /// for the next tick.
    pub(super) fn accept_input(&mut self, msg: Input) {
        let Some(i) = self.seat_of(&msg.player) else {
            return;
        };
        let slot = &self.seats[i];
        let current = slot
            .session
            .as_ref()
            .is_some_and(|h| h.session_id == msg.session_id);
        let newest = self.pending.iter().rev().find(|p| usize::from(p.seat) == i);
        let newest_seq = newest.map_or(slot.last_seq, |p| p.seq);
        if !current || msg.seq <= newest_seq || self.over() {
            m::engine().inputs_rejected.increment(1);
            return;
        }
        // Bounded per room, and per seat to a fair share of it: inputs held for a later tick
        // must not crowd out the other seats' inputs.
        let share = MAX_PENDING_INPUTS / self.seats.len().max(1);
        let held = self
            .pending
            .iter()
            .filter(|p| usize::from(p.seat) == i)
            .count();
        if self.pending.len() >= MAX_PENDING_INPUTS || held >= share {
            m::engine().inputs_dropped.increment(1);
            return;
        }
        // The named tick when it is still to come (bounded ahead), else the next tick; never
        // before an earlier input of the same seat, so a seat's inputs keep their order.
        let next = self.game.tick() + 1;
        let at = msg
            .tick
            .unwrap_or(next)
            .clamp(next, next + MAX_INPUT_LEAD_TICKS)
            .max(newest.map_or(0, |p| p.at));
        self.pending.push_back(PendingInput {
            seat: i as Seat,
            seq: msg.seq,
            at,
            input: msg.input,
        });
    }
}

impl Handler<Resign> for RoomActor {
    type Result = Result<(), RoomRefusal>;

    fn handle(&mut self, msg: Resign, ctx: &mut Context<Self>) -> Self::Result {
        let Some(i) = self.seat_of(&msg.player) else {
            return Err(RoomRefusal::new(
                code::NOT_A_PLAYER,
                "you have no seat in this room",
            ));
        };
        match self.state {
            RoomState::Countdown | RoomState::Playing | RoomState::Paused => {
                self.depart(i as Seat, ctx);
                Ok(())
            }
            RoomState::Waiting => Err(RoomRefusal::new(
                code::CONFLICT,
                "the match has not started; leave instead",
            )),
            RoomState::Finished => Err(RoomRefusal::new(code::CONFLICT, "the match is over")),
        }
    }
}

/// The answer to a `leave` is sent once the room has done what the leave caused — including
/// announcing the match end it may have brought about. A match end waits for its result to be
/// journaled (`ctx.wait` in `finish`/`no_show`, which holds back every other event of this
/// actor, spawned futures included), so this answer, spawned after it, follows the
/// `Released` event. The owner side of a session on another instance relies on that order:
/// its proxy stops once the leave is answered unless the session was released by then (see
/// `registry::proxy::Settle`), and the `match_end` must have gone through it.
impl Handler<Leave> for RoomActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: Leave, ctx: &mut Context<Self>) -> Self::Result {
        self.leave(msg, ctx);
        Box::pin(actix::fut::ready(()))
    }
}

impl RoomActor {
    fn leave(&mut self, msg: Leave, ctx: &mut Context<Self>) {
        if self.spectators.remove(&msg.session_id).is_some() {
            self.publish_summary();
            self.broadcast_room_state();
            return;
        }
        let Some(i) = self.seat_of(&msg.player) else {
            return;
        };
        match self.state {
            RoomState::Countdown | RoomState::Playing | RoomState::Paused
                if !self.game.pauses_when_away() =>
            {
                // The match goes on without this player (out already, or taken out now); the
                // seat keeps its place in the result, the player is free to go elsewhere.
                let slot = &mut self.seats[i];
                if slot
                    .session
                    .as_ref()
                    .is_some_and(|h| h.session_id == msg.session_id)
                {
                    slot.session = None;
                }
                if let Some(p) = &slot.player {
                    self.engine.registry.clear_player_room(&p.id, &self.id);
                }
                self.depart(i as Seat, ctx);
                if !self.over() {
                    self.on_player_away();
                }
            }
            RoomState::Countdown | RoomState::Playing | RoomState::Paused => {
                self.force_end(i as Seat, EndReason::Resign, ctx);
            }
            RoomState::Waiting if self.assigned && self.tournament.is_some() => {
                // Tournament: leaving before the start is being absent; the no-show timer
                // decides (the player may still come back in time).
                self.seats[i].session = None;
                self.on_player_away();
            }
            RoomState::Waiting if self.assigned => {
                // A matched player walked away before the start: a no-show, decided now.
                self.seats[i].session = None;
                self.no_show(ctx);
            }
            RoomState::Waiting => {
                let slot = &mut self.seats[i];
                slot.session = None;
                if let Some(p) = slot.player.take() {
                    self.engine.registry.clear_player_room(&p.id, &self.id);
                }
                if self.seats.iter().all(|s| s.player.is_none()) {
                    self.deadline = Some(Instant::now() + self.engine.config.room_idle_timeout);
                }
                self.publish_summary();
                self.broadcast_room_state();
            }
            RoomState::Finished => {}
        }
    }
}

impl Handler<Detach> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: Detach, _: &mut Context<Self>) {
        self.drop_session(&msg.session_id, false);
    }
}

impl Handler<ForfeitPlayer> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: ForfeitPlayer, ctx: &mut Context<Self>) {
        if let Some(i) = self.seat_of(&msg.player) {
            tracing::info!(room = %self.id, seat = i, "forfeit ordered from outside");
            if self.game.pauses_when_away() {
                self.force_end(i as Seat, EndReason::Forfeit, ctx);
            } else {
                self.remove_seat(i as Seat, EndReason::Forfeit, ctx);
            }
        }
    }
}

impl Handler<Conclude> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: Conclude, ctx: &mut Context<Self>) {
        if self.over() {
            return;
        }
        tracing::info!(room = %self.id, "match concluded from outside; nothing recorded here");
        let outcome = Outcome {
            winner: msg.winner,
            scores: self.game.scores(),
            reason: msg.reason,
            places: Outcome::places_for_winner(self.seats.len(), msg.winner),
        };
        // As in `finish`: release and announce.
        self.announce_end(&outcome);
        self.set_state(RoomState::Finished, None);
        self.linger(ctx);
    }
}
