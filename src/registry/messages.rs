//! The messages the registry carries: what sessions send rooms and tournaments, what rooms
//! send sessions, and what the rest of the server may order a room to do — in-process or
//! across instances. These are the registry's own types: rooms and tournaments implement
//! handlers for them and hand the registry a port of recipients
//! ([`super::RoomPort`], [`super::TournamentPort`]); the registry never names the actors.
//!
//! Everything a session sends to a room or a tournament is serde-serialisable (the cluster
//! forwards it); the outbound channels ([`SessionHandle`]) are local and filled in by the local
//! transport (or by a frame proxy on the owning instance).

use crate::game::{EndReason, Seat};
use crate::ids::{MatchId, PlayerId, RoomId, TournamentId};
use actix::prelude::*;
use bytes::Bytes;
use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A live session of a player, as rooms, tournaments and presence know it.
#[derive(Clone)]
pub struct SessionHandle {
    /// Session id.
    pub session_id: String,
    /// Outbound frames (bounded: try_send).
    pub outbound: Recipient<Outbound>,
    /// Control events (match found, kick): always delivered.
    pub events: Recipient<SessionEvent>,
    /// The session's socket itself, for a room on this instance: frames written straight
    /// from the room's thread (one `writev` per session and tick), no mailbox hop and no
    /// wake-up of the session's thread. `None` for a session on another instance (its frames
    /// go through [`Self::outbound`] to the proxy).
    pub direct: Option<Arc<dyn FrameSink>>,
}

/// Why a [`FrameSink`] did not take frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkRefused {
    /// The frames were queued, but the queue of what the kernel did not take passed its
    /// bounds: the client does not read fast enough (the room drops it, close 4011).
    Slow,
    /// The connection is closing or broken (the session detaches itself as it stops).
    Closed,
}

/// A session's socket as a room on the same instance writes to it. The room writes every
/// frame it sends the session this way while it is attached (snapshots, events, room states,
/// errors), so they reach the client in the order the room sent them; control events that
/// change the session's own state (release, kick) go through [`SessionHandle::events`].
pub trait FrameSink: Send + Sync + 'static {
    /// The encoding the connection speaks: what [`Self::write`] takes.
    fn encoding(&self) -> crate::protocol::Encoding;

    /// Write these messages, each already encoded in [`Self::encoding`] (JSON text, or
    /// `rally.v1.bin`), to the client in one `writev` (one text or binary frame each); what
    /// the kernel does not take is queued and flushed by the session's thread.
    fn write(&self, frames: &[&Bytes]) -> Result<(), SinkRefused>;
}

/// A room's inbox of game inputs: sessions (and the cross-instance router) push, the room
/// drains it once per tick. A mutex-protected vector instead of one actor message per input:
/// no mailbox envelope, no wake-up of the room's thread per input (the room looks at its
/// inbox when its tick timer fires). Bounded: a full inbox refuses (`Full`), like a full
/// mailbox did.
pub struct InputInbox {
    queue: parking_lot::Mutex<Vec<Input>>,
    capacity: usize,
    closed: std::sync::atomic::AtomicBool,
}

impl InputInbox {
    /// An empty inbox holding at most `capacity` inputs between two ticks.
    pub fn new(capacity: usize) -> InputInbox {
        InputInbox {
            queue: parking_lot::Mutex::new(Vec::new()),
            capacity: capacity.max(1),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Queue an input for the room's next tick.
    pub fn push(&self, input: Input) -> Result<(), InboxRefused> {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(InboxRefused::Closed);
        }
        let mut q = self.queue.lock();
        if q.len() >= self.capacity {
            return Err(InboxRefused::Full);
        }
        q.push(input);
        Ok(())
    }

    /// Move every queued input into `into` (which the caller keeps and reuses, so draining
    /// allocates nothing once warm).
    pub fn drain_into(&self, into: &mut Vec<Input>) {
        let mut q = self.queue.lock();
        if !q.is_empty() {
            std::mem::swap(&mut *q, into);
        }
    }

    /// The room stopped: refuse everything from now on.
    pub fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.queue.lock().clear();
    }

    /// Whether the room stopped.
    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Why an [`InputInbox`] refused an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InboxRefused {
    /// Full until the room's next tick.
    Full,
    /// The room stopped.
    Closed,
}

/// One pre-encoded frame for a session. Rooms `try_send` these into the session's bounded
/// mailbox; a full mailbox means a slow client.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Outbound {
    /// The JSON text frame (shared by every recipient of a snapshot).
    pub frame: ByteString,
}

/// Control events for a session; delivered with `do_send` (never dropped).
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub enum SessionEvent {
    /// The matchmaker paired this player: join `room`.
    MatchFound {
        /// Room.
        room: RoomId,
        /// Join window.
        join_within_ms: u64,
    },
    /// Close the socket with this code after sending an error message.
    Kick {
        /// WebSocket close code.
        code: u16,
        /// Error code sent before closing.
        error: &'static str,
        /// Human message.
        message: String,
    },
    /// The room this session was attached to has let it go (finished, left, slow).
    Detached {
        /// Room.
        room: RoomId,
    },
    /// The match is over: the room lets this seated session go, then `frame` (`match_end`) is
    /// written — one event, so the session is free before its client reads the end.
    Released {
        /// Room.
        room: RoomId,
        /// The `match_end` frame.
        frame: ByteString,
    },
    /// A frame that must not be dropped (match end, errors in answer to an action).
    Frame(ByteString),
    /// The player's role changed (by `rally admin`, see `crate::roles`): tell the client and
    /// give it a token for the new role.
    Account(AccountChange),
}

/// A player's stored role and token epoch after a role change.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountChange {
    /// Whose.
    pub player: PlayerId,
    /// The role now stored.
    pub role: crate::db::players::Role,
    /// The token epoch now stored (tokens must carry it).
    pub epoch: i64,
}

/// A player as rooms know it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlayerInfo {
    /// Player id.
    pub id: PlayerId,
    /// Display name.
    pub name: String,
    /// Rating at join.
    pub rating: f64,
}

/// `player` or `spectator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinRole {
    /// Seated.
    Player,
    /// Watching.
    Spectator,
}

/// Take a seat (or take it back) or watch.
#[derive(Message, Serialize, Deserialize)]
#[rtype(result = "Result<JoinAccepted, RoomRefusal>")]
pub struct Join {
    /// Who.
    pub player: PlayerInfo,
    /// Which session (newest wins).
    pub session_id: String,
    /// Spectate instead of playing.
    pub spectate: bool,
    /// Where to send frames (filled by the local transport).
    #[serde(skip)]
    pub session: Option<SessionHandle>,
}

/// Join succeeded.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JoinAccepted {
    /// Room.
    pub room: RoomId,
    /// Match.
    pub match_id: MatchId,
    /// Role granted.
    pub role: JoinRole,
    /// Seat for players.
    pub seat: Option<u8>,
    /// Static game info.
    pub info: serde_json::Value,
    /// Tick rate.
    pub tick_hz: u32,
}

/// Join refused, with a protocol error code.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoomRefusal {
    /// Protocol error code.
    pub code: String,
    /// Human message.
    pub message: String,
}

impl RoomRefusal {
    /// Build one.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// A game input from a seated player: pushed into the room's [`InputInbox`] (droppable when
/// it is full), never sent as an actor message.
#[derive(Serialize, Deserialize)]
pub struct Input {
    /// Who.
    pub player: PlayerId,
    /// From which session.
    pub session_id: String,
    /// Client sequence number.
    pub seq: u64,
    /// Game-specific input.
    pub input: serde_json::Value,
    /// The tick the client wants it applied at (None: the next tick). The room clamps it
    /// between its next tick and [`crate::room::MAX_INPUT_LEAD_TICKS`] beyond.
    #[serde(default)]
    pub tick: Option<u64>,
}

/// Concede.
#[derive(Message, Serialize, Deserialize)]
#[rtype(result = "Result<(), RoomRefusal>")]
pub struct Resign {
    /// Who.
    pub player: PlayerId,
}

/// Leave the room (a seated player in a running match resigns).
#[derive(Message, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct Leave {
    /// Who.
    pub player: PlayerId,
    /// Which session.
    pub session_id: String,
}

/// A session ended without leaving (dropped connection): the seat is kept for the grace
/// window.
#[derive(Message, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct Detach {
    /// Who.
    pub player: PlayerId,
    /// Which session (ignored when another session has taken over).
    pub session_id: String,
}

/// End the match now with `player` losing by forfeit (an organiser disqualified them). The
/// room records and reports the result as for any other end.
#[derive(Message, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct ForfeitPlayer {
    /// The player who forfeits.
    pub player: PlayerId,
}

/// End the match without recording anything: its row was settled (or abandoned) under a newer
/// epoch by its tournament, so this room no longer owns it. Players see `match_end` with
/// `winner` and `reason`, then the room lingers and stops.
#[derive(Message, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct Conclude {
    /// The winning seat as decided elsewhere (`None`: no result, the tournament was cancelled).
    pub winner: Option<Seat>,
    /// Shown to the players.
    pub reason: EndReason,
}

/// Graceful shutdown: write a final checkpoint, release the lease so a survivor adopts the
/// room at once, tell the sessions to reconnect, stop. Answers whether the hand-over was
/// written (false: the room simply stops and is adopted when its lease lapses).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct HandOver;

/// What a tournament room reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MatchReportKind {
    /// Play began (persisted as `playing`).
    Started,
    /// The result is persisted.
    Finished {
        /// Winning seat; `None` for a draw (time limit with level scores).
        winner_seat: Option<Seat>,
        /// Points by seat.
        scores: [u32; 2],
        /// Why it ended.
        reason: EndReason,
        /// Seats that never joined (a no-show walkover).
        no_show_seats: Vec<Seat>,
    },
}

/// A tournament room's report, sent after what it reports was persisted.
#[derive(Message, Clone, Debug, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct MatchReport {
    /// The tournament.
    pub tournament: TournamentId,
    /// Bracket slot key.
    pub slot: String,
    /// The match row.
    pub match_id: MatchId,
    /// The room.
    pub room: RoomId,
    /// What happened.
    pub kind: MatchReportKind,
}

/// A session subscribes to this tournament's live events; answered with the current view.
#[derive(Message)]
#[rtype(result = "serde_json::Value")]
pub struct Subscribe {
    /// The session (one subscription per session and tournament).
    pub session_id: String,
    /// Where events go (always delivered: `do_send`).
    pub events: Recipient<SessionEvent>,
}

/// A session stops listening (explicitly, or because it closed).
#[derive(Message, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    /// The session.
    pub session_id: String,
}
