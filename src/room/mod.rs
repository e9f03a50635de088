//! The room actor: owns one game, its seats and spectators, and ticks it at a fixed rate
//! against absolute deadlines.
//!
//! State machine: `waiting → countdown → playing ↔ paused → finished`. A game decides through
//! [`Game::pauses_when_away`] whether one away player pauses it (Pong) or whether it goes on
//! without them (light cycles): then only a room whose every seat still in the match is away
//! pauses, a seat away past the reconnect grace is taken out ([`Game::remove_seat`],
//! `forfeit`), and a player who leaves or resigns is taken out (`resign`) while the others
//! play on. Games that send deltas ([`Game::sends_deltas`]) get `snapshot_since(previous
//! shared tick)` in the shared per-tick frame, and every session that joins, rejoins or starts
//! spectating a full snapshot of its own first. A tick runs six timed
//! phases (1 drain inputs, 2 simulate, 3 detect outcome, 4 encode snapshot, 5 fan out,
//! 6 record metrics). The snapshot is encoded once per tick and the same bytes go to every
//! recipient, through each session's bounded mailbox (`try_send`: a full mailbox is a slow
//! client, dropped with close code 4011 — the room never waits for anyone).

pub mod engine;
mod handlers;
pub mod messages;
mod persist;
pub mod sweep;
mod tick;

pub use tick::{plan_ticks, TickPlan};

pub use engine::{CreatedRoom, Engine, Mode, RoomSpec, TournamentLink};

use crate::db::matches::{FinishedMatch, Timing};
use crate::durable::Write;
use crate::game::{EndReason, Game, GameEvent, Outcome, Seat};
use crate::ids::{MatchId, PlayerId, RoomId};
use crate::metrics as m;
use crate::protocol::{self, close, code, Encoding, SeatView, ServerMsg};
use crate::registry::messages::{InputInbox, MatchReport, MatchReportKind, SinkRefused};
use crate::registry::{
    Checkpoint, Departure, LeaseEvent, LeaseNotice, Resource, RoomPort, RoomRecord, RoomSummary,
    SessionHandle,
};
use crate::replay::{CompactLog, ForcedEnd, Removal};
use actix::prelude::*;
use bytes::Bytes;
use bytestring::ByteString;
use messages::*;
use persist::Persisted;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ticks a room may run back to back to catch up after a late wake-up; beyond that it skips
/// ticks (counted in `rally_ticks_skipped_total`) instead of spiralling.
pub const MAX_CATCHUP_TICKS: u32 = 3;
/// Inputs buffered in a room waiting for their tick, and at most this divided by the seats per
/// seat; a client sends at most ~2 per tick, so 64 only overflows on a flood (excess inputs are
/// dropped and counted).
pub const MAX_PENDING_INPUTS: usize = 64;
/// How far beyond its next tick a room holds an input that names a later tick (`input.tick`):
/// half a second at 60 Hz — far more than a client that stamps its arrival estimate needs
/// (a tick or two of clock error), small enough that held inputs cannot pile up. A tick named
/// further ahead is applied at this bound.
pub const MAX_INPUT_LEAD_TICKS: u64 = 30;

/// An input waiting in the room for the tick it takes effect at.
struct PendingInput {
    seat: Seat,
    seq: u64,
    /// The tick it is applied at: the first snapshot tick that reflects it (the drain before
    /// the step that makes `game.tick()` equal to it). Never decreases within a seat.
    at: u64,
    input: serde_json::Value,
}

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
    /// The tick the input acked as `last_seq` took effect at (0 before any): `ack_ticks`.
    ack_tick: u64,
    /// The last input applied for this seat (games whose inputs are intents: a repeat is
    /// acked without being applied again).
    last_input: Option<serde_json::Value>,
    away_since: Option<Instant>,
    joined_once: bool,
    /// Taken out of a match that goes on without it ([`Game::remove_seat`]): it plays no
    /// more, its absence pauses nothing, its player may watch or go.
    out: bool,
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
    /// Inputs received and not yet applied, in arrival order (a seat's `at` never decreases).
    pending: VecDeque<PendingInput>,
    /// The replay's input log, interned (see [`CompactLog`]).
    log: CompactLog,
    period: Duration,
    next_deadline: Instant,
    created_ms: i64,
    started: Option<Instant>,
    /// When play began, wall clock (Unix ms): stored with the start and the result.
    started_ms: Option<i64>,
    /// The match is over and its last write is being journaled: no more ticks, and the end is
    /// announced once the journal has it (then the state becomes `finished`).
    ending: bool,
    events: Vec<GameEvent>,
    ticks_since_snapshot: u32,
    /// Set when this instance no longer owns the room (lease lost, fenced off, handed over):
    /// it writes nothing more and leaves the directory entries to the new owner.
    moved: bool,
    /// Game inputs from sessions, drained at each timer wake-up.
    inbox: Arc<InputInbox>,
    /// The drained inputs (kept to reuse its allocation).
    drained: Vec<Input>,
    /// The frames of one tick (snapshot and events) in each encoding in use, kept to reuse
    /// their allocations.
    tick_frames: TickFrames,
    /// The match end was announced: seated sessions were released through their mailbox,
    /// so whatever follows goes through the mailbox too (after the `match_end`), not
    /// straight to the socket.
    announced: bool,
    /// This room's tick metrics (labelled with its game).
    tick_metrics: &'static m::TickMetrics,
    /// The tick of the last shared snapshot frame (games that send deltas: the next shared
    /// frame is `snapshot_since` it; `None`: the next one is full).
    last_shared_tick: Option<u64>,
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
    /// The inbox sessions push inputs into (shared with the room's port).
    pub inbox: Arc<InputInbox>,
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
            inbox,
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
                ack_tick: 0,
                last_input: None,
                away_since: None,
                joined_once: false,
                out: false,
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
        let mut log = CompactLog::default();
        let mut started = None;
        let mut started_ms = None;
        if let Some(cp) = &checkpoint {
            for (i, slot) in seats.iter_mut().enumerate() {
                if let Some(Some(p)) = cp.seats.get(i) {
                    slot.player = Some(p.clone());
                }
                slot.last_seq = cp.last_seq.get(i).copied().unwrap_or(0);
            }
            log = CompactLog::from_log(&cp.log);
            for r in &cp.log.removals {
                if let Some(slot) = seats.get_mut(usize::from(r.seat)) {
                    slot.out = true;
                    // A no-show the match started without was unseated: it stays so.
                    if matches!(cp.seats.get(usize::from(r.seat)), Some(None)) {
                        slot.player = None;
                    }
                }
            }
            started = cp
                .played_ms
                .map(|ms| now.checked_sub(Duration::from_millis(ms)).unwrap_or(now));
            // Pauses are not counted in the time played: the start may have been earlier.
            started_ms = cp
                .played_ms
                .map(|ms| crate::db::now_ms() - i64::try_from(ms).unwrap_or(0));
            if matches!(cp.state.as_str(), "countdown" | "playing" | "paused") {
                state = RoomState::Paused;
                deadline = Some(now + engine.config.reconnect_grace);
                for slot in seats.iter_mut().filter(|s| !s.out) {
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
            started_ms,
            ending: false,
            events: Vec::new(),
            ticks_since_snapshot: 0,
            moved: false,
            inbox,
            drained: Vec::new(),
            tick_frames: TickFrames::default(),
            announced: false,
            last_shared_tick: None,
            tick_metrics: m::ticks(&record.game),
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
            log: self.log.to_log(),
            seats: self.seats.iter().map(|s| s.player.clone()).collect(),
            last_seq: self.seats.iter().map(|s| s.last_seq).collect(),
            played_ms: self.started.map(|s| s.elapsed().as_millis() as u64),
            saved_ms: crate::db::now_ms(),
        }
    }

    /// The match is over (or its end is being journaled): nothing more happens in it.
    fn over(&self) -> bool {
        self.state == RoomState::Finished || self.ending
    }

    /// Stop owning this room at once: write nothing more, tell everyone to reconnect (they
    /// find the room on its new owner), leave the directory to the new owner.
    fn step_down(&mut self, why: &str, ctx: &mut Context<Self>) {
        if self.moved {
            return;
        }
        tracing::warn!(room = %self.id, epoch = self.epoch, why, "stepping down");
        self.moved = true;
        self.send_everyone_elsewhere("your room moved to another instance; reconnect");
        ctx.stop();
    }

    /// Closes every session in the room with `unavailable` and 1012: they reconnect (to any
    /// instance) and rejoin wherever the room runs next.
    fn send_everyone_elsewhere(&self, message: &str) {
        for s in self.sessions() {
            s.events.do_send(SessionEvent::Kick {
                code: close::RESTART,
                error: code::UNAVAILABLE,
                message: message.to_owned(),
            });
        }
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

    /// Frames that must arrive (state changes, results): straight to the socket of a local
    /// session while the room is attached to it, through the control channel otherwise.
    fn broadcast_reliable(&mut self, frame: ByteString) {
        let mut slow: Vec<String> = Vec::new();
        // Encoded for `rally.v1.bin` once, at the first binary recipient.
        let mut bin = None;
        for s in self.sessions() {
            if !self.deliver(s, &frame, &mut bin) {
                slow.push(s.session_id.clone());
            }
        }
        for sid in slow {
            self.drop_session(&sid, true);
        }
    }

    /// Send one frame (JSON) that must not be dropped to a session. False: the session is too
    /// slow (the caller drops it). `bin`: the frame's `rally.v1.bin` form, made here for the
    /// first binary recipient and reused for the next ones.
    fn deliver(&self, s: &SessionHandle, frame: &ByteString, bin: &mut Option<Bytes>) -> bool {
        match &s.direct {
            Some(d) if !self.announced => {
                let encoded = match d.encoding() {
                    Encoding::Json => frame.as_bytes(),
                    Encoding::Bin => &*bin
                        .get_or_insert_with(|| Bytes::from(protocol::bin::from_server_json(frame))),
                };
                d.write(&[encoded]) != Err(SinkRefused::Slow)
            }
            _ => {
                s.events.do_send(SessionEvent::Frame(frame.clone()));
                true
            }
        }
    }

    fn broadcast_room_state(&mut self) {
        self.broadcast_reliable(self.room_state_frame());
    }

    fn sessions(&self) -> impl Iterator<Item = &SessionHandle> {
        self.seats
            .iter()
            .filter_map(|s| s.session.as_ref())
            .chain(self.spectators.values())
    }

    /// The encodings the tick's frames are needed in: (JSON, bin). A session on another
    /// instance (or one already released) is reached through its mailbox, in JSON (its own
    /// instance encodes it for its connection).
    fn encodings_in_use(&self) -> (bool, bool) {
        let (mut json, mut bin) = (false, false);
        for s in self.sessions() {
            match &s.direct {
                Some(d) if !self.announced && d.encoding() == Encoding::Bin => bin = true,
                _ => json = true,
            }
        }
        (json, bin)
    }

    /// Fan pre-encoded frames (a tick's snapshot and events, encoded once per encoding in use)
    /// out to everyone, dropping slow clients: local sessions get them in one write, straight
    /// from this thread.
    fn fan_out(&mut self, frames: &TickFrames) {
        if frames.json.is_empty() && frames.bin.is_empty() {
            return;
        }
        let json = Parts::new(frames.json.iter().map(|f| f.as_bytes()));
        let bin = Parts::new(frames.bin.iter());
        let mut slow: Vec<String> = Vec::new();
        for s in self.sessions() {
            let taken = match &s.direct {
                // Closed: the session is closing and detaches itself as it stops.
                Some(d) if !self.announced => {
                    let parts = match d.encoding() {
                        Encoding::Json => json.as_slice(),
                        Encoding::Bin => bin.as_slice(),
                    };
                    d.write(parts) != Err(SinkRefused::Slow)
                }
                _ => frames
                    .json
                    .iter()
                    .all(|f| s.outbound.try_send(Outbound { frame: f.clone() }).is_ok()),
            };
            if !taken {
                slow.push(s.session_id.clone());
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
            // A game that goes on without an away player pauses only when nobody in the match
            // is left to play; the away seats are taken out one by one after the grace
            // ([`RoomActor::forfeit_overdue`]).
            RoomState::Countdown | RoomState::Playing
                if !self.game.pauses_when_away() && self.any_present() =>
            {
                self.publish_summary();
                self.broadcast_room_state();
            }
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

    /// Every seat still in the match has its player, connected.
    fn all_present(&self) -> bool {
        self.seats
            .iter()
            .filter(|s| !s.out)
            .all(|s| s.player.is_some() && s.session.is_some())
    }

    /// Some seat still in the match has its player connected.
    fn any_present(&self) -> bool {
        self.seats
            .iter()
            .any(|s| !s.out && s.player.is_some() && s.session.is_some())
    }

    fn maybe_start_countdown(&mut self) {
        let ready = match self.state {
            RoomState::Waiting => self.all_present(),
            // A game that goes on without away players resumes as soon as one is back (the
            // others' grace keeps running); one that pauses waits for everyone.
            RoomState::Paused if !self.game.pauses_when_away() => self.any_present(),
            RoomState::Paused => self.all_present(),
            _ => false,
        };
        if ready {
            let end = Instant::now() + self.engine.config.countdown;
            self.set_state(RoomState::Countdown, Some(end));
        }
    }

    /// Take `seat` out of a match that goes on without it ([`Game::remove_seat`]), logged
    /// for the replay at the current tick. The game's events (e.g. who is out) go to
    /// everyone; when the removal ends the game, the match finishes.
    fn remove_seat(&mut self, seat: Seat, reason: EndReason, ctx: &mut Context<Self>) {
        let i = usize::from(seat);
        if self.over() || self.seats.get(i).is_none_or(|s| s.out) {
            return;
        }
        self.seats[i].out = true;
        self.seats[i].away_since = None;
        self.log.removals.push(Removal {
            tick: self.game.tick(),
            seat,
            reason,
        });
        tracing::info!(room = %self.id, seat, reason = reason.as_str(), "seat out of the match");
        let mut events = Vec::new();
        let outcome = self.game.remove_seat(seat, reason, &mut events);
        let tick = self.game.tick();
        for e in events
            .iter()
            .filter(|e| !matches!(e, GameEvent::Ended { .. }))
        {
            let frame: ByteString = ServerMsg::Event { tick, event: e }.encode().into();
            self.broadcast_reliable(frame);
        }
        match outcome {
            Some(outcome) => self.finish(outcome, true, ctx),
            None => {
                self.publish_summary();
                self.broadcast_room_state();
            }
        }
    }

    /// Games that go on without away players: take out every seat away longer than the
    /// reconnect grace, the longest away first.
    fn forfeit_overdue(&mut self, ctx: &mut Context<Self>) {
        if self.game.pauses_when_away() {
            return;
        }
        let grace = self.engine.config.reconnect_grace;
        let mut overdue: Vec<(Instant, Seat)> = self
            .seats
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.out && s.session.is_none())
            .filter_map(|(i, s)| s.away_since.map(|t| (t, i as Seat)))
            .filter(|(t, _)| t.elapsed() >= grace)
            .collect();
        overdue.sort();
        for (_, seat) in overdue {
            self.remove_seat(seat, EndReason::Forfeit, ctx);
        }
    }

    /// A seat's player leaves or resigns mid-match: games that go on without them take the
    /// seat out; the others (two-player games) end now, the leaver losing.
    fn depart(&mut self, seat: Seat, ctx: &mut Context<Self>) {
        if self.game.pauses_when_away() {
            self.force_end(seat, EndReason::Resign, ctx);
        } else {
            self.remove_seat(seat, EndReason::Resign, ctx);
        }
    }

    /// End the match now (forfeit, resign, time limit); logged for the replay.
    fn force_end(&mut self, loser: Seat, reason: EndReason, ctx: &mut Context<Self>) {
        if self.over() {
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
        if !self.game.pauses_when_away() {
            // Every seat still in the match is away: take them out, the longest away first,
            // until the game ends (the last one left wins).
            let mut away: Vec<(Option<Instant>, Seat)> = self
                .seats
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.out && s.session.is_none())
                .map(|(i, s)| (s.away_since, i as Seat))
                .collect();
            away.sort();
            for (_, seat) in away {
                self.remove_seat(seat, EndReason::Forfeit, ctx);
            }
            if !self.over() {
                // Somebody is back after all: play on.
                self.maybe_start_countdown();
            }
            return;
        }
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
        let min_seats = crate::game::spec(&self.game_kind).map_or(u8::MAX, |s| s.min_seats);
        if !self.game.pauses_when_away() && present.len() >= usize::from(min_seats) {
            // Enough players came for the game to be played: it starts without the no-shows,
            // who are taken out before the first tick, unseated (not rated, no result).
            let absent: Vec<Seat> = (0..self.seats.len())
                .filter(|&i| self.seats[i].session.is_none())
                .map(|i| i as Seat)
                .collect();
            tracing::info!(room = %self.id, absent = absent.len(), "no-show: starting without them");
            for seat in absent {
                if let Some(p) = self.seats[usize::from(seat)].player.take() {
                    self.engine.registry.clear_player_room(&p.id, &self.id);
                }
                self.remove_seat(seat, EndReason::Forfeit, ctx);
            }
            if !self.over() {
                self.maybe_start_countdown();
            }
            return;
        }
        tracing::info!(room = %self.id, present = present.len(), "no-show: abandoning match");
        self.ending = true;
        let journaled = self.engine.outbox.submit(Write::Abandon {
            match_id: self.match_id.0.clone(),
            epoch: self.epoch,
            reason: "no_show".into(),
            finished_ms: crate::db::now_ms(),
        });
        let outcome = Outcome {
            winner: None,
            scores: self.game.scores(),
            reason: EndReason::Abandoned,
            places: Outcome::places_for_winner(self.seats.len(), None),
        };
        // Journal, then announce (the mailbox waits a moment; nothing else happens here now).
        ctx.wait(journaled.wait().into_actor(self).map(move |_, act, ctx| {
            // Releases the seats and announces the end in one event per session: a
            // client that queues again the moment it reads match_end finds its seat
            // already gone.
            act.announce_end(&outcome);
            metrics::counter!("rally_matches_finished_total", "outcome" => "abandoned")
                .increment(1);
            act.set_state(RoomState::Finished, None);
            if let Some(r) = &act.requeue {
                if !present.is_empty() {
                    r.do_send(Requeue {
                        players: present,
                        game: act.game_kind.clone(),
                        size: act.seats.len() as u8,
                    });
                }
            }
            act.linger(ctx);
        }));
    }

    /// Announce the end and release everyone: seated players get one `Released` event (the
    /// session is free again *before* it writes `match_end`, so a client that queues the
    /// moment it reads it is never told it is still seated); spectators get the frame and stay
    /// until the room stops. Presence forgets the seats.
    fn announce_end(&mut self, outcome: &Outcome) {
        self.announced = true;
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

    /// The match is over: journal its result (the durable outbox then writes it, with the
    /// rating change, for as long as the database needs), then announce `match_end`. Ratings
    /// follow once the database has them ([`Persisted`]).
    fn finish(&mut self, outcome: Outcome, forced: bool, ctx: &mut Context<Self>) {
        if self.over() {
            return;
        }
        if forced {
            // A forced end happens between ticks: show the final state once.
            self.maybe_snapshot(true);
        }
        self.ending = true;
        let scores = self.game.scores();
        let places = if outcome.places.len() == self.seats.len() {
            outcome.places.clone()
        } else {
            Outcome::places_for_winner(self.seats.len(), outcome.winner)
        };
        let record = FinishedMatch {
            id: self.match_id.0.clone(),
            epoch: self.epoch,
            scores: (0..self.seats.len())
                .map(|i| i64::from(scores.get(i).copied().unwrap_or(0)))
                .collect(),
            winner_seat: outcome.winner,
            places,
            unseated: self
                .seats
                .iter()
                .enumerate()
                .filter(|(_, s)| s.out && s.player.is_none())
                .map(|(i, _)| i as Seat)
                .collect(),
            end_reason: outcome.reason.as_str().to_string(),
            input_log: serde_json::to_string(&self.log.to_log()).unwrap_or_default(),
            final_hash: self.game.state_hash(),
            ticks: self.game.tick() as i64,
            duration_ms: self
                .started
                .map(|s| s.elapsed().as_millis() as i64)
                .unwrap_or(0),
        };
        // The tournament hears of the result once it is persisted (also when it already was:
        // the report is idempotent); see `persist`.
        let report = self.tournament_report(MatchReportKind::Finished {
            winner_seat: outcome.winner,
            scores: [
                scores.first().copied().unwrap_or(0),
                scores.get(1).copied().unwrap_or(0),
            ],
            reason: outcome.reason,
            no_show_seats: self.no_show_seats.clone(),
        });
        let journaled = self.engine.outbox.submit(Write::Finish {
            result: Box::new(record),
            timing: Timing {
                started_ms: self.started_ms,
                finished_ms: crate::db::now_ms(),
            },
            room: self.id.0.clone(),
            report,
        });
        // Journal, then announce: a `match_end` a player received survives a crash of this
        // process (the mailbox waits a moment; nothing else happens in this room now).
        ctx.wait(journaled.wait().into_actor(self).map(move |_, act, ctx| {
            // Releases the seats and announces the end in one event per session: a
            // client that queues again the moment it reads match_end finds its seat
            // already gone.
            act.announce_end(&outcome);
            metrics::counter!("rally_matches_finished_total", "outcome" => outcome.reason.as_str())
                .increment(1);
            act.set_state(RoomState::Finished, None);
            act.linger(ctx);
        }));
    }

    fn linger(&self, ctx: &mut Context<Self>) {
        ctx.run_later(self.engine.config.room_linger, |_, ctx| ctx.stop());
    }

    /// A report for this room's tournament, if it is a tournament match.
    fn tournament_report(&self, kind: MatchReportKind) -> Option<MatchReport> {
        let link = self.tournament.as_ref()?;
        Some(MatchReport {
            tournament: link.tournament.clone(),
            slot: link.slot.clone(),
            match_id: self.match_id.clone(),
            room: self.id.clone(),
            kind,
        })
    }

    fn seat_of(&self, player: &PlayerId) -> Option<usize> {
        self.seats
            .iter()
            .position(|s| s.player.as_ref().is_some_and(|p| &p.id == player))
    }
}

/// One tick's frames (snapshot, events), each encoding in use encoded once and shared by
/// every recipient speaking it.
#[derive(Default)]
struct TickFrames {
    /// `rally.v1.json` (also what goes through mailboxes).
    json: Vec<ByteString>,
    /// `rally.v1.bin`.
    bin: Vec<Bytes>,
}

impl TickFrames {
    fn clear(&mut self) {
        self.json.clear();
        self.bin.clear();
    }
}

/// The frames of one write: up to four on the stack (a tick has a snapshot and rarely an
/// event), more on the heap.
enum Parts<'a> {
    Stack([&'a Bytes; 4], usize),
    Heap(Vec<&'a Bytes>),
}

/// What empty [`Parts::Stack`] slots hold.
static NO_FRAME: Bytes = Bytes::new();

impl<'a> Parts<'a> {
    fn new(frames: impl ExactSizeIterator<Item = &'a Bytes>) -> Parts<'a> {
        if frames.len() > 4 {
            return Parts::Heap(frames.collect());
        }
        let mut a = [&NO_FRAME; 4];
        let mut n = 0;
        for (slot, f) in a.iter_mut().zip(frames) {
            *slot = f;
            n += 1;
        }
        Parts::Stack(a, n)
    }

    fn as_slice(&self) -> &[&'a Bytes] {
        match self {
            Parts::Stack(a, n) => &a[..*n],
            Parts::Heap(v) => v,
        }
    }
}

fn kick_slow(h: &SessionHandle) {
    h.events.do_send(SessionEvent::Kick {
        code: close::SLOW_CLIENT,
        error: code::RATE_LIMITED,
        message: "you are not reading fast enough; reconnect".into(),
    });
}

/// The room's port: what the registry (and through it sessions, tournaments and the shutdown)
/// may send it.
fn port(addr: &Addr<RoomActor>, inbox: Arc<InputInbox>) -> RoomPort {
    RoomPort {
        join: addr.clone().recipient(),
        inputs: inbox,
        leave: addr.clone().recipient(),
        resign: addr.clone().recipient(),
        detach: addr.clone().recipient(),
        forfeit: addr.clone().recipient(),
        conclude: addr.clone().recipient(),
        hand_over: addr.clone().recipient(),
    }
}

impl Actor for RoomActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        metrics::gauge!("rally_rooms", "state" => self.state.as_str()).increment(1.0);
        if let (Some(started_ms), true) = (self.started_ms, self.epoch > 1) {
            // Adopted mid-match: the previous owner's start may never have been recorded
            // (it died during a database outage); record it under our epoch (idempotent).
            self.engine.outbox.submit(Write::Start {
                match_id: self.match_id.0.clone(),
                epoch: self.epoch,
                started_ms,
                report: None,
            });
        }
        if self.engine.registry.wants_checkpoints() {
            ctx.run_interval(self.engine.config.checkpoint_interval, |act, _| {
                if !act.over() && !act.moved {
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

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        self.inbox.close();
        metrics::gauge!("rally_rooms", "state" => self.state.as_str()).decrement(1.0);
        self.engine.actor_stopped(&self.id, &ctx.address());
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
