//! The registry: which room lives where, how to reach it, and presence (player → live
//! session, player → current room).
//!
//! Every part of rally reaches rooms through here — sessions, the matchmaker, the rooms API and
//! (later) tournaments — never through an `Addr<RoomActor>` kept on the side. This instance's
//! rooms are held in-process ([`local`]); the multi-instance registry (Redis leases, routing)
//! plugs in behind the same methods, and the messages a [`RoomHandle`] carries are
//! serde-serialisable so a handle can forward them to another instance.

pub mod local;

pub use local::Registry;

use crate::ids::{PlayerId, RoomId, TournamentId};
use crate::room::messages::{Outbound, SessionEvent};
use crate::room::RoomActor;
use crate::tournament::actor::TournamentActor;
use actix::prelude::*;
use serde::Serialize;

/// A way to reach one room.
#[derive(Clone)]
pub struct RoomHandle {
    /// The room.
    pub id: RoomId,
    addr: Addr<RoomActor>,
}

/// Why an input did not reach the room.
#[derive(Debug, PartialEq, Eq)]
pub enum Undelivered {
    /// The room's bounded queue is full (input dropped and counted).
    Full,
    /// The room has stopped.
    Closed,
}

impl RoomHandle {
    /// Wrap a local room.
    pub fn local(id: RoomId, addr: Addr<RoomActor>) -> Self {
        Self { id, addr }
    }

    /// Deliver a message that must not be dropped (join, leave, resign, detach).
    pub fn send<M>(&self, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        RoomActor: Handler<M>,
    {
        self.addr.do_send(msg);
    }

    /// Deliver a message and wait for the answer.
    pub async fn ask<M>(&self, msg: M) -> Result<M::Result, Undelivered>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        RoomActor: Handler<M>,
    {
        self.addr.send(msg).await.map_err(|_| Undelivered::Closed)
    }

    /// Deliver a droppable message into the room's bounded mailbox (inputs): the sender
    /// enforces the bound.
    pub fn try_send<M>(&self, msg: M) -> Result<(), Undelivered>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        RoomActor: Handler<M>,
    {
        self.addr.try_send(msg).map_err(|e| match e {
            SendError::Full(_) => Undelivered::Full,
            SendError::Closed(_) => Undelivered::Closed,
        })
    }

    /// Whether the room is still running.
    pub fn connected(&self) -> bool {
        self.addr.connected()
    }
}

/// A way to reach one running tournament's actor.
#[derive(Clone)]
pub struct TournamentHandle {
    /// The tournament.
    pub id: TournamentId,
    addr: Addr<TournamentActor>,
}

impl TournamentHandle {
    /// Wrap a local tournament actor.
    pub fn local(id: TournamentId, addr: Addr<TournamentActor>) -> Self {
        Self { id, addr }
    }

    /// Deliver a message that must not be dropped (room reports, unsubscriptions).
    pub fn send<M>(&self, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        TournamentActor: Handler<M>,
    {
        self.addr.do_send(msg);
    }

    /// Deliver a message and wait for the answer.
    pub async fn ask<M>(&self, msg: M) -> Result<M::Result, Undelivered>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        TournamentActor: Handler<M>,
    {
        self.addr.send(msg).await.map_err(|_| Undelivered::Closed)
    }

    /// Whether the actor is still running.
    pub fn connected(&self) -> bool {
        self.addr.connected()
    }
}

/// A live session of a player, as presence knows it.
#[derive(Clone)]
pub struct SessionHandle {
    /// Session id.
    pub session_id: String,
    /// Outbound frames (bounded: try_send).
    pub outbound: Recipient<Outbound>,
    /// Control events (match found, kick): always delivered.
    pub events: Recipient<SessionEvent>,
}

/// What `GET /api/v1/rooms` shows of a room.
#[derive(Clone, Debug, Serialize)]
pub struct RoomSummary {
    /// Room id.
    pub id: String,
    /// Game kind.
    pub game: String,
    /// Room state.
    pub state: &'static str,
    /// Player names by seat (None = empty seat).
    pub players: Vec<Option<String>>,
    /// Spectators watching.
    pub spectators: usize,
    /// Scores by seat.
    pub score: Vec<u32>,
    /// Quick, private or tournament.
    pub mode: &'static str,
    /// Whether ratings change.
    pub rated: bool,
    /// Unix ms.
    pub created_at: i64,
}

/// Presence answer for "which room am I in?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The room with the player's seat.
    pub room: RoomId,
}

/// Used by sessions to report which player they serve (for presence).
pub type PresenceKey = PlayerId;
