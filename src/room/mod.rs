//! The room actor: owns one game, its seats and spectators, and ticks it at a fixed rate
//! against absolute deadlines.
//!
//! State machine: `waiting → countdown → playing ↔ paused → finished`. A tick runs six timed
//! phases (1 drain inputs, 2 simulate, 3 detect outcome, 4 encode snapshot, 5 fan out,
//! 6 record metrics). The snapshot is encoded once per tick and the same bytes go to every
//! recipient, through each session's bounded mailbox (`try_send`: a full mailbox is a slow
//! client, dropped with close code 4011 — the room never waits for anyone).

pub mod engine;
pub mod messages;

pub use engine::{CreatedRoom, Engine, Mode, RoomSpec, TournamentLink};

use crate::db::matches::{self, FinishOutcome, FinishedMatch};
use crate::game::{EndReason, Game, GameEvent, Outcome, Seat};
use crate::ids::{MatchId, PlayerId, RoomId};
use crate::metrics as m;
use crate::protocol::{self, close, code, RatingChange, SeatView, ServerMsg};
use crate::registry::{
    Checkpoint, Departure, LeaseEvent, LeaseNotice, Resource, RoomRecord, RoomSummary,
    SessionHandle,
};
use crate::replay::{ForcedEnd, InputLog};
use crate::tournament::messages::{MatchReport, MatchReportKind};
use actix::prelude::*;
use bytestring::ByteString;
use messages::*;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ticks a room may run back to back to catch up after a late wake-up; beyond that it skips
/// ticks (counted in `rally_ticks_skipped_total`) instead of spiralling.
pub const MAX_CATCHUP_TICKS: u32 = 3;
/// Inputs buffered in a room between two ticks; a client sends at most ~2 per tick, so 64
/// only overflows on a flood (excess inputs are dropped and counted).
pub const MAX_PENDING_INPUTS: usize = 64;

/// Room lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoomState {
    /// Waiting for seats to be filled.
    Waiting,
    /// Counting down to play.
    Countdown,
    /// Ticking the game.
    Playing,
    /// A player is away; the game is frozen until they return or the grace window ends.
    Paused,
    /// Over; lingers briefly, then stops.
    Finished,
}

impl RoomState {
    /// Wire / label name.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomState::Waiting => "waiting",
            RoomState::Countdown => "countdown",
            RoomState::Playing => "playing",
            RoomState::Paused => "paused",
            RoomState::Finished => "finished",
        }
    }
}

struct SeatSlot {
    player: Option<PlayerInfo>,
    session: Option<SessionHandle>,
    last_seq: u64,
    /// The last input applied for this seat (games whose inputs are intents: a repeat is
    /// acked without being applied again).
    last_input: Option<serde_json::Value>,
    away_since: Option<Instant>,
    joined_once: bool,
}

/// Room timers are armed this long before a tick is due. tokio's timer wheel fires at the first
/// whole millisecond at or after its deadline, so a timer armed for the deadline itself is 0–1 ms
/// late by construction (measured: tick lateness p99 in the 2–4 ms bucket at 300 rooms). A tick
/// may therefore run up to this much early — the cadence stays locked to `next_deadline`, so
/// ticks never drift — and its lateness counts as zero.
pub const TIMER_EARLY: Duration = Duration::from_millis(1);

/// Seat value meaning "nobody" in a forced end (a draw).
pub const NO_SEAT: Seat = u8::MAX;

/// One room.
pub struct RoomActor {
    engine: Arc<Engine>,
    id: RoomId,
    match_id: MatchId,
    /// Ownership epoch: result writes carry it (fencing).
    epoch: i64,
    game: Box<dyn Game>,
    game_kind: String,
    info: serde_json::Value,
    /// The game's own tick rate (its physics are per tick).
    tick_hz: u32,
    spec_mode: Mode,
    rated: bool,
    requeue: Option<Recipient<Requeue>>,
    /// Set for tournament matches: reported to after each persisted transition.
    tournament: Option<TournamentLink>,
    /// Seats that never came (tournament no-show walkover), reported with the result.
    no_show_seats: Vec<Seat>,
    seats: Vec<SeatSlot>,
    assigned: bool,
    spectators: HashMap<String, SessionHandle>,
    state: RoomState,
    /// Countdown end, grace end, or join deadline, depending on the state.
    deadline: Option<Instant>,
    pending: VecDeque<(Seat, u64, serde_json::Value)>,
    log: InputLog,
    period: Duration,
    next_deadline: Instant,
    created_ms: i64,
    started: Option<Instant>,
    events: Vec<GameEvent>,
    ticks_since_snapshot: u32,
    /// Set when this instance no longer owns the room (lease lost, fenced off, handed over):
    /// it writes nothing more and leaves the directory entries to the new owner.
    moved: bool,
}

/// What a room starts from: a new match, or an adopted one (failover).
pub struct RoomInit {
    /// The directory record (spec).
    pub record: RoomRecord,
    /// The game, new or restored from the checkpoint.
    pub game: Box<dyn Game>,
    /// Ownership epoch (1 for a new match; from `take_over` for an adopted one).
    pub epoch: i64,
    /// Where the match was, for an adopted room (None: it starts over).
    pub checkpoint: Option<Checkpoint>,
    /// Where no-show survivors go.
    pub requeue: Option<Recipient<Requeue>>,
    /// The tournament this match belongs to (its rooms run where the tournament runs).
    pub tournament: Option<TournamentLink>,
}

impl RoomActor {
    fn new(engine: Arc<Engine>, init: RoomInit) -> Self {
        let RoomInit {
            record,
            game,
            epoch,
            checkpoint,
            requeue,
            tournament,
        } = init;
        let n = game.seats() as usize;
        let assigned = record.seats.is_some();
        let adopted = epoch > 1;
        let now = Instant::now();
        let mut seats: Vec<SeatSlot> = (0..n)
            .map(|i| SeatSlot {
                player: record.seats.as_ref().and_then(|s| s.get(i).cloned()),
                session: None,
                last_seq: 0,
                last_input: None,
                away_since: None,
                joined_once: false,
            })
            .collect();
        let info = game.info();
        let tick_hz = info
            .get("tick_hz")
            .and_then(|v| v.as_u64())
            .map(|v| v as u32)
            .unwrap_or(engine.config.tick_hz)
            .max(1);
        let period = Duration::from_secs_f64(1.0 / f64::from(tick_hz));
        // An adopted match waits for its players as for a reconnection; a new one gives them
        // the join window (a tournament's no-show timeout for its matches).
        let join_window = tournament
            .as_ref()
            .map_or(engine.config.join_window, |t| t.no_show);
        let join_window = if adopted {
            join_window.max(engine.config.reconnect_grace)
        } else {
            join_window
        };
        let mut state = RoomState::Waiting;
        // Matched players must come within the join window; an open (private) room closes
        // when nobody has sat down for the idle timeout.
        let mut deadline = Some(
            now + if assigned {
                join_window
            } else {
                engine.config.room_idle_timeout
            },
        );
        let mut log = InputLog::default();
        let mut started = None;
        if let Some(cp) = &checkpoint {
            for (i, slot) in seats.iter_mut().enumerate() {
                if let Some(Some(p)) = cp.seats.get(i) {
                    slot.player = Some(p.clone());
                }
                slot.last_seq = cp.last_seq.get(i).copied().unwrap_or(0);
            }
            log = cp.log.clone();
            started = cp
                .played_ms
                .map(|ms| now.checked_sub(Duration::from_millis(ms)).unwrap_or(now));
            if matches!(cp.state.as_str(), "countdown" | "playing" | "paused") {
                state = RoomState::Paused;
                deadline = Some(now + engine.config.reconnect_grace);
                for slot in &mut seats {
                    slot.away_since = Some(now);
                    slot.joined_once = true;
                }
            }
        }
        RoomActor {
            tick_hz,
            info,
            game_kind: record.game.clone(),
            epoch,
            spec_mode: Mode::parse(&record.mode).unwrap_or(Mode::Private),
            rated: record.rated,
            requeue,
            tournament,
            no_show_seats: Vec::new(),
            seats,
            assigned,
            spectators: HashMap::new(),
            state,
            deadline,
            pending: VecDeque::new(),
            log,
            period,
            next_deadline: now + period,
            created_ms: record.created_ms,
            started,
            events: Vec::new(),
            ticks_since_snapshot: 0,
            moved: false,
            engine,
            id: record.id,
            match_id: record.match_id,
            game,
        }
    }

    /// The room's state as a checkpoint.
    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            epoch: self.epoch,
            state: self.state.as_str().to_string(),
            game: self.game.save(),
            log: self.log.clone(),
            seats: self.seats.iter().map(|s| s.player.clone()).collect(),
            last_seq: self.seats.iter().map(|s| s.last_seq).collect(),
            played_ms: self.started.map(|s| s.elapsed().as_millis() as u64),
            saved_ms: crate::db::now_ms(),
        }
    }

    /// Stop owning this room at once: write nothing more, tell everyone to reconnect (they
    /// find the room on its new owner), leave the directory to the new owner.
    fn step_down(&mut self, why: &str, ctx: &mut Context<Self>) {
        if self.moved {
            return;
        }
        tracing::warn!(room = %self.id, epoch = self.epoch, why, "stepping down");
        self.moved = true;
        for s in self.sessions() {
            s.events.do_send(SessionEvent::Kick {
                code: close::RESTART,
                error: code::UNAVAILABLE,
                message: "your room moved to another instance; reconnect".into(),
            });
        }
        ctx.stop();
    }

    fn set_state(&mut self, state: RoomState, deadline: Option<Instant>) {
        if self.state != state {
            metrics::gauge!("rally_rooms", "state" => self.state.as_str()).decrement(1.0);
            metrics::gauge!("rally_rooms", "state" => state.as_str()).increment(1.0);
            self.state = state;
        }
        self.deadline = deadline;
        self.publish_summary();
        self.broadcast_room_state();
    }

    fn publish_summary(&self) {
        self.engine.registry.update_summary(
            &self.id,
            RoomSummary {
                id: self.id.0.clone(),
                game: self.game_kind.clone(),
                state: self.state.as_str().to_string(),
                players: self
                    .seats
                    .iter()
                    .map(|s| s.player.as_ref().map(|p| p.name.clone()))
                    .collect(),
                spectators: self.spectators.len(),
                score: self.game.scores(),
                mode: self.spec_mode.as_str().to_string(),
                rated: self.rated,
                created_at: self.created_ms,
            },
        );
    }

    fn seat_views(&self) -> Vec<SeatView> {
        self.seats
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.player.as_ref().map(|p| SeatView {
                    seat: i as u8,
                    id: p.id.0.clone(),
                    name: p.name.clone(),
                    connected: s.session.is_some(),
                    rating: p.rating.round() as i64,
                })
            })
            .collect()
    }

    fn room_state_frame(&self) -> ByteString {
        let players = self.seat_views();
        let remaining_ms = self
            .deadline
            .filter(|_| matches!(self.state, RoomState::Countdown | RoomState::Paused))
            .map(|d| d.saturating_duration_since(Instant::now()).as_millis() as u64);
        ServerMsg::Room {
            room: &self.id.0,
            state: self.state.as_str(),
            players: &players,
            spectators: self.spectators.len(),
            remaining_ms,
        }
        .encode()
        .into()
    }

    /// Frames that must arrive (state changes, results) go through the control channel.
    fn broadcast_reliable(&self, frame: ByteString) {
        for s in self.sessions() {
            s.events.do_send(SessionEvent::Frame(frame.clone()));
        }
    }

    fn broadcast_room_state(&self) {
        self.broadcast_reliable(self.room_state_frame());
    }

    fn sessions(&self) -> impl Iterator<Item = &SessionHandle> {
        self.seats
            .iter()
            .filter_map(|s| s.session.as_ref())
            .chain(self.spectators.values())
    }

    /// Fan one pre-encoded frame out to everyone, dropping slow clients.
    fn fan_out(&mut self, frame: &ByteString) {
        let mut slow: Vec<String> = Vec::new();
        for s in self.sessions() {
            match s.outbound.try_send(Outbound {
                frame: frame.clone(),
            }) {
                Ok(()) => {}
                Err(SendError::Full(_)) => slow.push(s.session_id.clone()),
                Err(SendError::Closed(_)) => slow.push(s.session_id.clone()),
            }
        }
        for sid in slow {
            self.drop_session(&sid, true);
        }
    }

    /// Remove a session from the room (slow or gone). Seated players become away.
    fn drop_session(&mut self, session_id: &str, slow: bool) {
        if let Some(s) = self.spectators.remove(session_id) {
            if slow {
                m::engine().slow_clients.increment(1);
                kick_slow(&s);
            }
            self.publish_summary();
            self.broadcast_room_state();
            return;
        }
        let Some(i) = self.seats.iter().position(|s| {
            s.session
                .as_ref()
                .is_some_and(|h| h.session_id == session_id)
        }) else {
            return;
        };
        if let Some(h) = self.seats[i].session.take() {
            if slow {
                m::engine().slow_clients.increment(1);
                kick_slow(&h);
            }
        }
        self.seats[i].away_since = Some(Instant::now());
        self.on_player_away();
    }

    fn on_player_away(&mut self) {
        match self.state {
            RoomState::Countdown | RoomState::Playing => {
                let grace = Instant::now() + self.engine.config.reconnect_grace;
                self.set_state(RoomState::Paused, Some(grace));
            }
            _ => {
                self.publish_summary();
                self.broadcast_room_state();
            }
        }
    }

    fn all_present(&self) -> bool {
        self.seats
            .iter()
            .all(|s| s.player.is_some() && s.session.is_some())
    }

    fn maybe_start_countdown(&mut self) {
        if matches!(self.state, RoomState::Waiting | RoomState::Paused) && self.all_present() {
            let end = Instant::now() + self.engine.config.countdown;
            self.set_state(RoomState::Countdown, Some(end));
        }
    }

    fn schedule(&self, ctx: &mut Context<Self>) {
        let wake = self
            .next_deadline
            .checked_sub(TIMER_EARLY)
            .unwrap_or(self.next_deadline);
        let delay = wake.saturating_duration_since(Instant::now());
        ctx.run_later(delay, |act, ctx| act.on_timer(ctx));
    }

    /// Timer: run the ticks that are due (bounded catch-up), skip the rest, re-arm.
    fn on_timer(&mut self, ctx: &mut Context<Self>) {
        if self.state == RoomState::Finished || self.moved {
            return;
        }
        let metrics = m::engine();
        let now = Instant::now();
        metrics.tick_lateness.record(
            now.saturating_duration_since(self.next_deadline)
                .as_secs_f64(),
        );
        // Armed TIMER_EARLY before the deadline: a tick that runs that much early is on time.
        let plan = plan_ticks(now + TIMER_EARLY, self.next_deadline, self.period);
        for _ in 0..plan.run {
            self.tick(ctx);
            self.next_deadline += self.period;
            if self.state == RoomState::Finished {
                return;
            }
        }
        if plan.skip > 0 {
            metrics.ticks_skipped.increment(u64::from(plan.skip));
            self.next_deadline += self.period * plan.skip;
        }
        self.schedule(ctx);
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        match self.state {
            RoomState::Waiting => {
                if self.deadline.is_some_and(|d| now >= d) {
                    self.no_show(ctx);
                }
            }
            RoomState::Countdown => {
                if self.deadline.is_some_and(|d| now >= d) {
                    if self.started.is_none() {
                        self.started = Some(now);
                        let (db, id, epoch) =
                            (self.engine.db.clone(), self.match_id.0.clone(), self.epoch);
                        let report = self.tournament_report(MatchReportKind::Started);
                        actix::spawn(async move {
                            match db.run(move |c| matches::mark_started(c, &id, epoch)).await {
                                Err(e) => {
                                    tracing::warn!(error = ?e, "recording match start failed")
                                }
                                // Persisted, then announced.
                                Ok(_) => {
                                    if let Some(report) = report {
                                        report.send();
                                    }
                                }
                            }
                        });
                    }
                    self.set_state(RoomState::Playing, None);
                } else {
                    self.maybe_snapshot(true);
                }
            }
            RoomState::Playing => self.play_tick(ctx),
            RoomState::Paused => {
                if self.deadline.is_some_and(|d| now >= d) {
                    self.forfeit_absent(ctx);
                }
            }
            RoomState::Finished => {}
        }
    }

    fn play_tick(&mut self, ctx: &mut Context<Self>) {
        let metrics = m::engine();
        let t0 = Instant::now();
        // 1. drain inputs
        let tick = self.game.tick();
        let intents = self.game.inputs_are_intents();
        while let Some((seat, seq, input)) = self.pending.pop_front() {
            let slot = &mut self.seats[seat as usize];
            if intents && slot.last_input.as_ref() == Some(&input) {
                slot.last_seq = seq;
                metrics.inputs_repeated.increment(1);
                continue;
            }
            match self.game.apply_input(seat, &input) {
                Ok(()) => {
                    let slot = &mut self.seats[seat as usize];
                    slot.last_seq = seq;
                    if intents {
                        slot.last_input = Some(input.clone());
                    }
                    self.log.record_input(tick, seat, input);
                    metrics.inputs_applied.increment(1);
                }
                Err(e) => {
                    metrics.inputs_rejected.increment(1);
                    if let Some(h) = &self.seats[seat as usize].session {
                        let frame = ServerMsg::Error {
                            code: code::INVALID_INPUT,
                            message: &e.to_string(),
                        }
                        .encode();
                        h.events.do_send(SessionEvent::Frame(frame.into()));
                    }
                }
            }
        }
        let t1 = Instant::now();
        // 2. simulate
        self.events.clear();
        self.game.step(&mut self.events);
        metrics.ticks.increment(1);
        let t2 = Instant::now();
        // 3. detect outcome
        let outcome = self.game.outcome();
        let timed_out = outcome.is_none()
            && self
                .started
                .is_some_and(|s| s.elapsed() >= self.engine.config.max_match_duration);
        let t3 = Instant::now();
        // 4. encode snapshot (once for everyone) and events
        let snapshot = self.snapshot_frame(outcome.is_some());
        let events: Vec<ByteString> = self
            .events
            .iter()
            .filter(|e| !matches!(e, GameEvent::Ended { .. }))
            .map(|e| {
                ServerMsg::Event {
                    tick: self.game.tick(),
                    event: e,
                }
                .encode()
                .into()
            })
            .collect();
        let t4 = Instant::now();
        // 5. fan out
        if let Some(f) = &snapshot {
            self.fan_out(f);
        }
        for f in &events {
            self.fan_out(f);
        }
        let scored = self
            .events
            .iter()
            .any(|e| matches!(e, GameEvent::Scored { .. }));
        if scored {
            self.publish_summary();
        }
        let t5 = Instant::now();
        // 6. record metrics
        let phases = &metrics.tick_phase;
        for (i, (a, b)) in [(t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t0, t5)]
            .into_iter()
            .enumerate()
        {
            phases[i].record(b.saturating_duration_since(a).as_secs_f64());
        }
        if let Some(outcome) = outcome {
            self.finish(outcome, false, ctx);
        } else if timed_out {
            let scores = self.game.scores();
            let loser = match scores.first().cmp(&scores.get(1)) {
                std::cmp::Ordering::Less => 0,
                std::cmp::Ordering::Greater => 1,
                std::cmp::Ordering::Equal => NO_SEAT,
            };
            self.force_end(loser, EndReason::Abandoned, ctx);
        }
    }

    fn maybe_snapshot(&mut self, countdown: bool) {
        if let Some(f) = self.snapshot_frame(countdown) {
            self.fan_out(&f);
        }
    }

    /// The tick's snapshot frame, or None when this tick is not a snapshot tick. `force`
    /// always produces one (countdown frames, final frame).
    fn snapshot_frame(&mut self, force: bool) -> Option<ByteString> {
        self.ticks_since_snapshot += 1;
        if !force && self.ticks_since_snapshot < self.engine.config.snapshot_every {
            return None;
        }
        self.ticks_since_snapshot = 0;
        let acks: Vec<u64> = self.seats.iter().map(|s| s.last_seq).collect();
        Some(protocol::snapshot_frame(self.game.tick(), &acks, &self.game.snapshot()).into())
    }

    /// End the match now (forfeit, resign, time limit); logged for the replay.
    fn force_end(&mut self, loser: Seat, reason: EndReason, ctx: &mut Context<Self>) {
        if self.state == RoomState::Finished {
            return;
        }
        self.log.end = Some(ForcedEnd {
            tick: self.game.tick(),
            loser,
            reason,
        });
        let outcome = self.game.end_by_forfeit(loser, reason);
        self.finish(outcome, true, ctx);
    }

    fn forfeit_absent(&mut self, ctx: &mut Context<Self>) {
        // The player away the longest forfeits.
        let loser = self
            .seats
            .iter()
            .enumerate()
            .filter(|(_, s)| s.session.is_none())
            .min_by_key(|(_, s)| s.away_since)
            .map(|(i, _)| i as Seat)
            .unwrap_or(NO_SEAT);
        self.force_end(loser, EndReason::Forfeit, ctx);
    }

    /// Matched players did not all come: the ones who did go back to the front of the queue;
    /// the match is abandoned (no result, no rating change). A tournament match is decided
    /// instead: an absent player forfeits (a walkover for the present one); when both are
    /// absent, the better seed advances.
    fn no_show(&mut self, ctx: &mut Context<Self>) {
        if let Some(link) = &self.tournament {
            let absent: Vec<Seat> = (0..self.seats.len())
                .filter(|&i| self.seats[i].session.is_none())
                .map(|i| i as Seat)
                .collect();
            let loser = match absent.as_slice() {
                [one] => *one,
                _ => 1 - link.better_seed_seat.min(1),
            };
            tracing::info!(room = %self.id, absent = absent.len(), "tournament no-show: walkover");
            self.no_show_seats = absent;
            self.force_end(loser, EndReason::Forfeit, ctx);
            return;
        }
        let present: Vec<PlayerInfo> = self
            .seats
            .iter()
            .filter(|s| s.session.is_some())
            .filter_map(|s| s.player.clone())
            .collect();
        tracing::info!(room = %self.id, present = present.len(), "no-show: abandoning match");
        let (db, id, epoch) = (self.engine.db.clone(), self.match_id.0.clone(), self.epoch);
        actix::spawn(async move {
            if let Err(e) = db
                .run(move |c| matches::abandon(c, &id, epoch, "no_show"))
                .await
            {
                tracing::warn!(error = ?e, "recording no-show failed");
            }
        });
        let outcome = Outcome {
            winner: None,
            scores: self.game.scores(),
            reason: EndReason::Abandoned,
        };
        // Releases the seats and announces the end in one event per session: a client that
        // queues again the moment it reads match_end finds its seat already gone.
        self.announce_end(&outcome);
        metrics::counter!("rally_matches_finished_total", "outcome" => "abandoned").increment(1);
        self.set_state(RoomState::Finished, None);
        if let Some(r) = &self.requeue {
            if !present.is_empty() {
                r.do_send(Requeue { players: present });
            }
        }
        self.linger(ctx);
    }

    /// Announce the end and release everyone: seated players get one `Released` event (the
    /// session is free again *before* it writes `match_end`, so a client that queues the
    /// moment it reads it is never told it is still seated); spectators get the frame and stay
    /// until the room stops. Presence forgets the seats.
    fn announce_end(&self, outcome: &Outcome) {
        let frame: ByteString = ServerMsg::MatchEnd {
            room: &self.id.0,
            r#match: &self.match_id.0,
            outcome,
            rated: self.rated,
        }
        .encode()
        .into();
        for h in self.spectators.values() {
            h.events.do_send(SessionEvent::Frame(frame.clone()));
        }
        for s in &self.seats {
            if let Some(p) = &s.player {
                self.engine.registry.clear_player_room(&p.id, &self.id);
            }
            if let Some(h) = &s.session {
                h.events.do_send(SessionEvent::Released {
                    room: self.id.clone(),
                    frame: frame.clone(),
                });
            }
        }
    }

    fn finish(&mut self, outcome: Outcome, forced: bool, ctx: &mut Context<Self>) {
        if self.state == RoomState::Finished {
            return;
        }
        if forced {
            // A forced end happens between ticks: show the final state once.
            if let Some(f) = self.snapshot_frame(true) {
                self.fan_out(&f);
            }
        }
        // Releases the seats and announces the end in one event per session: a client that
        // queues again the moment it reads match_end finds its seat already gone.
        self.announce_end(&outcome);
        metrics::counter!("rally_matches_finished_total", "outcome" => outcome.reason.as_str())
            .increment(1);
        let scores = self.game.scores();
        let record = FinishedMatch {
            id: self.match_id.0.clone(),
            epoch: self.epoch,
            scores: [
                i64::from(scores.first().copied().unwrap_or(0)),
                i64::from(scores.get(1).copied().unwrap_or(0)),
            ],
            winner_seat: outcome.winner,
            end_reason: outcome.reason.as_str().to_string(),
            input_log: serde_json::to_string(&self.log).unwrap_or_default(),
            final_hash: self.game.state_hash(),
            ticks: self.game.tick() as i64,
            duration_ms: self
                .started
                .map(|s| s.elapsed().as_millis() as i64)
                .unwrap_or(0),
        };
        let (db, addr) = (self.engine.db.clone(), ctx.address());
        let report = self.tournament_report(MatchReportKind::Finished {
            winner_seat: outcome.winner,
            scores: [
                scores.first().copied().unwrap_or(0),
                scores.get(1).copied().unwrap_or(0),
            ],
            reason: outcome.reason,
            no_show_seats: self.no_show_seats.clone(),
        });
        actix::spawn(async move {
            let outcome = db.run(move |c| matches::finish(c, &record)).await;
            // The tournament hears of the result once it is persisted (also when it already
            // was: the report is idempotent). A stale epoch means someone else (an organiser
            // settling the match) owns the row now: nothing to report.
            if let (
                Some(report),
                Ok(FinishOutcome::Recorded { .. } | FinishOutcome::AlreadyRecorded),
            ) = (report, &outcome)
            {
                report.send();
            }
            match outcome {
                Ok(FinishOutcome::Recorded { ratings: Some(r) }) => {
                    let changes = r
                        .iter()
                        .enumerate()
                        .map(|(i, row)| RatingChange {
                            seat: i as u8,
                            player: row.player.clone(),
                            before: row.before.round() as i64,
                            after: row.after.round() as i64,
                        })
                        .collect();
                    addr.do_send(Persisted { changes });
                }
                Ok(FinishOutcome::Recorded { ratings: None })
                | Ok(FinishOutcome::AlreadyRecorded) => {}
                Ok(FinishOutcome::StaleEpoch) => {
                    tracing::warn!("match result refused: another owner holds a newer epoch");
                    addr.do_send(Fenced);
                }
                Err(e) => tracing::error!(error = ?e, "persisting match result failed"),
            }
        });
        self.set_state(RoomState::Finished, None);
        self.linger(ctx);
    }

    fn linger(&self, ctx: &mut Context<Self>) {
        ctx.run_later(self.engine.config.room_linger, |_, ctx| ctx.stop());
    }

    /// A report for this room's tournament, if it is a tournament match.
    fn tournament_report(&self, kind: MatchReportKind) -> Option<PendingReport> {
        let link = self.tournament.as_ref()?;
        Some(PendingReport {
            registry: self.engine.registry.clone(),
            report: MatchReport {
                tournament: link.tournament.clone(),
                slot: link.slot.clone(),
                match_id: self.match_id.clone(),
                room: self.id.clone(),
                kind,
            },
        })
    }

    fn seat_of(&self, player: &PlayerId) -> Option<usize> {
        self.seats
            .iter()
            .position(|s| s.player.as_ref().is_some_and(|p| &p.id == player))
    }
}

/// What a timer wake-up should do: run `run` ticks now (each advancing the deadline by one
/// period), then skip `skip` periods so the next deadline is in the future.
#[derive(Debug, PartialEq, Eq)]
pub struct TickPlan {
    /// Ticks to run now (at most [`MAX_CATCHUP_TICKS`]).
    pub run: u32,
    /// Periods to skip afterwards (counted as skipped ticks).
    pub skip: u32,
}

/// Plan a wake-up at `now` for a room whose next tick was due at `deadline`. Pure: tested
/// with a synthetic clock.
pub fn plan_ticks(now: Instant, deadline: Instant, period: Duration) -> TickPlan {
    if now < deadline {
        return TickPlan { run: 0, skip: 0 };
    }
    let period_ns = period.as_nanos().max(1);
    // Ticks due: the one at `deadline` plus every full period since.
    let due = now.duration_since(deadline).as_nanos() / period_ns + 1;
    let due = u32::try_from(due).unwrap_or(u32::MAX);
    let run = due.min(MAX_CATCHUP_TICKS);
    TickPlan {
        run,
        skip: due - run,
    }
}

fn kick_slow(h: &SessionHandle) {
    h.events.do_send(SessionEvent::Kick {
        code: close::SLOW_CLIENT,
        error: code::RATE_LIMITED,
        message: "you are not reading fast enough; reconnect".into(),
    });
}

/// A report on its way to a tournament, sent once what it reports is persisted.
struct PendingReport {
    registry: crate::registry::Registry,
    report: MatchReport,
}

impl PendingReport {
    /// Deliver through the registry (the tournament's actor may have been replaced since the
    /// room started). A tournament that is gone (cancelled) has nothing left to learn.
    fn send(self) {
        match self.registry.tournament(&self.report.tournament) {
            Some(t) => t.send(self.report),
            None => {
                tracing::debug!(tournament = %self.report.tournament, "no tournament to report to")
            }
        }
    }
}

/// Result persisted: announce rating changes.
#[derive(Message)]
#[rtype(result = "()")]
struct Persisted {
    changes: Vec<RatingChange>,
}

impl Actor for RoomActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        metrics::gauge!("rally_rooms", "state" => self.state.as_str()).increment(1.0);
        if self.engine.registry.wants_checkpoints() {
            ctx.run_interval(self.engine.config.checkpoint_interval, |act, _| {
                if act.state != RoomState::Finished && !act.moved {
                    act.engine.registry.checkpoint(&act.id, &act.checkpoint());
                }
            });
        }
        for s in &self.seats {
            if let Some(p) = &s.player {
                self.engine
                    .registry
                    .set_player_room(&p.id, Some(self.id.clone()));
            }
        }
        self.next_deadline = Instant::now() + self.period;
        self.schedule(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        metrics::gauge!("rally_rooms", "state" => self.state.as_str()).decrement(1.0);
        for h in self.spectators.values() {
            h.events.do_send(SessionEvent::Detached {
                room: self.id.clone(),
            });
        }
        let departure = if self.moved {
            Departure::Moved
        } else {
            Departure::Finished
        };
        self.engine.registry.deregister_room(&self.id, departure);
    }
}

/// The database refused a write with our epoch: another instance owns the match.
#[derive(Message)]
#[rtype(result = "()")]
struct Fenced;

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

/// Graceful shutdown: write a final checkpoint, release the lease so a survivor adopts the
/// room at once, tell the sessions to reconnect, stop. Answers whether the hand-over was
/// written (false: the room simply stops and is adopted when its lease lapses).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct HandOver;

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
                for s in act.sessions() {
                    s.events.do_send(SessionEvent::Kick {
                        code: close::RESTART,
                        error: code::UNAVAILABLE,
                        message: "server restarting; reconnect".into(),
                    });
                }
                ctx.stop();
                ok
            }),
        )
    }
}

impl Handler<Persisted> for RoomActor {
    type Result = ();
    fn handle(&mut self, msg: Persisted, _: &mut Context<Self>) {
        let frame: ByteString = ServerMsg::Ratings {
            r#match: &self.match_id.0,
            changes: &msg.changes,
        }
        .encode()
        .into();
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

    fn handle(&mut self, msg: Join, ctx: &mut Context<Self>) -> Self::Result {
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
            if self.state == RoomState::Finished {
                return Err(RoomRefusal::new(code::NOT_FOUND, "this match is over"));
            }
            self.spectators
                .insert(msg.session_id.clone(), session.clone());
            self.publish_summary();
            let frame = self.room_state_frame();
            session.events.do_send(SessionEvent::Frame(frame));
            return Ok(accepted(None, self));
        }
        if self.state == RoomState::Finished {
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
                    let (db, id, pid) = (
                        self.engine.db.clone(),
                        self.match_id.0.clone(),
                        msg.player.id.0.clone(),
                    );
                    let seat = i as u8;
                    ctx.spawn(
                        async move {
                            if let Err(e) = db
                                .run(move |c| matches::set_player(c, &id, seat, &pid))
                                .await
                            {
                                tracing::warn!(error = ?e, "recording seat failed");
                            }
                        }
                        .into_actor(self),
                    );
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
        if let Some(old) = slot.session.replace(session) {
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
        Ok(reply)
    }
}

impl Handler<Input> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: Input, _: &mut Context<Self>) {
        let Some(i) = self.seat_of(&msg.player) else {
            return;
        };
        let slot = &self.seats[i];
        let current = slot
            .session
            .as_ref()
            .is_some_and(|h| h.session_id == msg.session_id);
        let newest_seq = self
            .pending
            .iter()
            .rev()
            .find(|(s, _, _)| usize::from(*s) == i)
            .map(|(_, q, _)| *q)
            .unwrap_or(slot.last_seq);
        if !current || msg.seq <= newest_seq || self.state == RoomState::Finished {
            m::engine().inputs_rejected.increment(1);
            return;
        }
        if self.pending.len() >= MAX_PENDING_INPUTS {
            m::engine().inputs_dropped.increment(1);
            return;
        }
        self.pending.push_back((i as Seat, msg.seq, msg.input));
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
                self.force_end(i as Seat, EndReason::Resign, ctx);
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

impl Handler<Leave> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: Leave, ctx: &mut Context<Self>) {
        if self.spectators.remove(&msg.session_id).is_some() {
            self.publish_summary();
            self.broadcast_room_state();
            return;
        }
        let Some(i) = self.seat_of(&msg.player) else {
            return;
        };
        match self.state {
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
            self.force_end(i as Seat, EndReason::Forfeit, ctx);
        }
    }
}

impl Handler<Conclude> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: Conclude, ctx: &mut Context<Self>) {
        if self.state == RoomState::Finished {
            return;
        }
        tracing::info!(room = %self.id, "match concluded from outside; nothing recorded here");
        let outcome = Outcome {
            winner: msg.winner,
            scores: self.game.scores(),
            reason: msg.reason,
        };
        // As in `finish`: release and announce.
        self.announce_end(&outcome);
        self.set_state(RoomState::Finished, None);
        self.linger(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_time_and_early_wakeups() {
        let t0 = Instant::now();
        let p = Duration::from_micros(16_667);
        assert_eq!(plan_ticks(t0, t0 + p, p), TickPlan { run: 0, skip: 0 });
        assert_eq!(plan_ticks(t0, t0, p), TickPlan { run: 1, skip: 0 });
        // 1 ms late (tokio's timer granularity): still one tick.
        assert_eq!(
            plan_ticks(t0 + Duration::from_millis(1), t0, p),
            TickPlan { run: 1, skip: 0 }
        );
    }

    #[test]
    fn catches_up_a_bounded_number_then_skips() {
        let t0 = Instant::now();
        let p = Duration::from_millis(10);
        // Two and a half periods late: three ticks due, all run.
        assert_eq!(
            plan_ticks(t0 + Duration::from_millis(25), t0, p),
            TickPlan { run: 3, skip: 0 }
        );
        // A 1 s stall: 101 due, 3 run, 98 skipped; the next deadline lands in the future.
        let now = t0 + Duration::from_secs(1);
        let plan = plan_ticks(now, t0, p);
        assert_eq!(
            plan,
            TickPlan {
                run: MAX_CATCHUP_TICKS,
                skip: 98
            }
        );
        let next = t0 + p * (plan.run + plan.skip);
        assert!(next > now && next <= now + p);
    }

    #[test]
    fn no_drift_over_many_periods() {
        // Scheduling against absolute deadlines: after N on-time wake-ups the deadline is
        // exactly t0 + N periods, whatever the wake-up jitter was.
        let t0 = Instant::now();
        let p = Duration::from_micros(16_667);
        let mut deadline = t0;
        for i in 0..600u32 {
            let jitter = Duration::from_micros(u64::from(i % 7) * 150);
            let plan = plan_ticks(deadline + jitter, deadline, p);
            assert_eq!(plan, TickPlan { run: 1, skip: 0 });
            deadline += p;
        }
        assert_eq!(deadline, t0 + p * 600);
    }
}
