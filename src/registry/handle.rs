//! How the rest of the server reaches a room or a tournament through the registry: a handle
//! that is either a local **port** (the recipients the actor handed over when it registered)
//! or, with several instances, the owning instance (messages go over pub/sub). The registry
//! knows rooms and tournaments only through these ports and the message types of
//! [`super::messages`]; it never names the actors.

use super::cluster::Cluster;
use super::messages::{
    Conclude, Detach, ForfeitPlayer, HandOver, InboxRefused, Input, InputInbox, Join, Leave,
    MatchReport, Resign, SessionHandle, Subscribe, Unsubscribe,
};
use super::wire::{RoomMsg, WireCreated, WireSpec};
use crate::ids::{InstanceId, RoomId, TournamentId};
use actix::prelude::*;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// What a local room accepts from outside: one recipient per message the registry routes or
/// other parts of the server send it (built by the room when it registers).
pub struct RoomPort {
    /// Take a seat or watch (answered).
    pub join: Recipient<Join>,
    /// Game inputs, drained by the room at each tick ([`RoomHandle::try_input`]).
    pub inputs: Arc<InputInbox>,
    /// Leave the room.
    pub leave: Recipient<Leave>,
    /// Concede (answered).
    pub resign: Recipient<Resign>,
    /// A session's connection dropped.
    pub detach: Recipient<Detach>,
    /// A tournament disqualified a player.
    pub forfeit: Recipient<ForfeitPlayer>,
    /// A tournament settled or cancelled the match.
    pub conclude: Recipient<Conclude>,
    /// Graceful shutdown: checkpoint, release, stop (answered).
    pub hand_over: Recipient<HandOver>,
}

/// A way to reach one room: in-process, or through its owning instance.
#[derive(Clone)]
pub struct RoomHandle {
    /// The room.
    pub id: RoomId,
    target: Target,
}

#[derive(Clone)]
enum Target {
    Local(Arc<RoomPort>),
    Remote {
        owner: InstanceId,
        cluster: Arc<Cluster>,
    },
}

/// Why a message did not reach the room (or the tournament).
#[derive(Debug, PartialEq, Eq)]
pub enum Undelivered {
    /// The room's bounded queue (or the bounded cross-instance queue) is full.
    Full,
    /// The room has stopped (or its owner did not answer in time).
    Closed,
}

/// A message a session may send to a room, locally or across instances.
pub trait RoomRequest: Message + Send + Sized + 'static
where
    Self::Result: Send,
{
    /// The recipient of this message in a local room's port.
    fn recipient(port: &RoomPort) -> &Recipient<Self>;
    /// The serialisable form, and the local session handle to attach (joins).
    fn into_wire(self) -> (RoomMsg, Option<SessionHandle>);
}

impl RoomHandle {
    /// Wrap a local room's port.
    pub fn local(id: RoomId, port: RoomPort) -> Self {
        Self {
            id,
            target: Target::Local(Arc::new(port)),
        }
    }

    /// A room owned by another instance.
    pub fn remote(id: RoomId, owner: InstanceId, cluster: Arc<Cluster>) -> Self {
        Self {
            id,
            target: Target::Remote { owner, cluster },
        }
    }

    /// The instance that owns the room when it is not this one.
    pub fn owner(&self) -> Option<&InstanceId> {
        match &self.target {
            Target::Local(_) => None,
            Target::Remote { owner, .. } => Some(owner),
        }
    }

    /// Deliver a message that must not be dropped (join, leave, resign, detach).
    pub fn send<M>(&self, msg: M)
    where
        M: RoomRequest,
        M::Result: Send,
    {
        match &self.target {
            Target::Local(port) => M::recipient(port).do_send(msg),
            Target::Remote { owner, cluster } => {
                let (wire, session) = msg.into_wire();
                cluster.send_room(owner, &self.id, wire, session, None);
            }
        }
    }

    /// Deliver a message and wait for the answer (across instances: with a timeout).
    pub async fn ask<M>(&self, msg: M) -> Result<M::Result, Undelivered>
    where
        M: RoomRequest,
        M::Result: Send + DeserializeOwned,
    {
        match &self.target {
            Target::Local(port) => M::recipient(port)
                .send(msg)
                .await
                .map_err(|_| Undelivered::Closed),
            Target::Remote { owner, cluster } => {
                let (wire, session) = msg.into_wire();
                let value = cluster
                    .ask_room(owner, &self.id, wire, session)
                    .await
                    .ok_or(Undelivered::Closed)?;
                serde_json::from_value(value).map_err(|_| Undelivered::Closed)
            }
        }
    }

    /// Deliver a droppable message into the room's bounded mailbox (inputs): the sender
    /// enforces the bound (across instances, the bounded outgoing queue).
    pub fn try_send<M>(&self, msg: M) -> Result<(), Undelivered>
    where
        M: RoomRequest,
        M::Result: Send,
    {
        match &self.target {
            Target::Local(port) => M::recipient(port).try_send(msg).map_err(|e| match e {
                SendError::Full(_) => Undelivered::Full,
                SendError::Closed(_) => Undelivered::Closed,
            }),
            Target::Remote { owner, cluster } => {
                let (wire, session) = msg.into_wire();
                cluster.try_send_room(owner, &self.id, wire, session)
            }
        }
    }

    /// Deliver a game input: into a local room's inbox (drained at its next tick), or into
    /// the bounded queue towards the owning instance.
    pub fn try_input(&self, input: Input) -> Result<(), Undelivered> {
        match &self.target {
            Target::Local(port) => port.inputs.push(input).map_err(|e| match e {
                InboxRefused::Full => Undelivered::Full,
                InboxRefused::Closed => Undelivered::Closed,
            }),
            Target::Remote { owner, cluster } => {
                cluster.try_send_room(owner, &self.id, RoomMsg::Input(input), None)
            }
        }
    }

    /// The room's port, when the room runs here (tournament orders, hand-over).
    pub fn port(&self) -> Option<&RoomPort> {
        match &self.target {
            Target::Local(p) => Some(p),
            Target::Remote { .. } => None,
        }
    }

    /// Whether the room is (as far as this instance knows) still running.
    pub fn connected(&self) -> bool {
        match &self.target {
            Target::Local(port) => port.join.connected() && !port.inputs.is_closed(),
            Target::Remote { .. } => true,
        }
    }
}

impl RoomRequest for Join {
    fn recipient(port: &RoomPort) -> &Recipient<Self> {
        &port.join
    }
    fn into_wire(mut self) -> (RoomMsg, Option<SessionHandle>) {
        let s = self.session.take();
        (RoomMsg::Join(self), s)
    }
}

impl RoomRequest for Leave {
    fn recipient(port: &RoomPort) -> &Recipient<Self> {
        &port.leave
    }
    fn into_wire(self) -> (RoomMsg, Option<SessionHandle>) {
        (RoomMsg::Leave(self), None)
    }
}

impl RoomRequest for Resign {
    fn recipient(port: &RoomPort) -> &Recipient<Self> {
        &port.resign
    }
    fn into_wire(self) -> (RoomMsg, Option<SessionHandle>) {
        (RoomMsg::Resign(self), None)
    }
}

impl RoomRequest for Detach {
    fn recipient(port: &RoomPort) -> &Recipient<Self> {
        &port.detach
    }
    fn into_wire(self) -> (RoomMsg, Option<SessionHandle>) {
        (RoomMsg::Detach(self), None)
    }
}

/// What a local tournament accepts through the registry: subscriptions of sessions (from
/// this instance or, relayed, from others) and its rooms' reports.
pub struct TournamentPort {
    /// A session subscribes (answered with the view).
    pub subscribe: Recipient<Subscribe>,
    /// A session unsubscribes.
    pub unsubscribe: Recipient<Unsubscribe>,
    /// A room reports a persisted start or result.
    pub report: Recipient<MatchReport>,
}

/// A way to reach one running tournament: its local port, or its owning instance (live-event
/// subscriptions are relayed from there like room traffic).
#[derive(Clone)]
pub struct TournamentHandle {
    /// The tournament.
    pub id: TournamentId,
    target: TournamentTarget,
}

#[derive(Clone)]
enum TournamentTarget {
    Local(Arc<TournamentPort>),
    Remote {
        owner: InstanceId,
        cluster: Arc<Cluster>,
    },
}

impl TournamentHandle {
    /// Wrap a local tournament's port.
    pub fn local(id: TournamentId, port: TournamentPort) -> Self {
        Self {
            id,
            target: TournamentTarget::Local(Arc::new(port)),
        }
    }

    /// A tournament running on another instance.
    pub fn remote(id: TournamentId, owner: InstanceId, cluster: Arc<Cluster>) -> Self {
        Self {
            id,
            target: TournamentTarget::Remote { owner, cluster },
        }
    }

    /// The recipients, when the tournament runs here.
    pub fn port(&self) -> Option<&TournamentPort> {
        match &self.target {
            TournamentTarget::Local(p) => Some(p),
            TournamentTarget::Remote { .. } => None,
        }
    }

    /// Whether the actor is (as far as this instance knows) still running.
    pub fn connected(&self) -> bool {
        match &self.target {
            TournamentTarget::Local(p) => p.subscribe.connected(),
            TournamentTarget::Remote { .. } => true,
        }
    }

    /// Subscribe `session` to the live events; answers the current view.
    pub async fn subscribe(
        &self,
        session: SessionHandle,
    ) -> Result<serde_json::Value, Undelivered> {
        match &self.target {
            TournamentTarget::Local(p) => p
                .subscribe
                .send(Subscribe {
                    session_id: session.session_id,
                    events: session.events,
                })
                .await
                .map_err(|_| Undelivered::Closed),
            TournamentTarget::Remote { owner, cluster } => cluster
                .subscribe_remote(owner, &self.id, &session)
                .await
                .ok_or(Undelivered::Closed),
        }
    }

    /// End `session_id`'s subscription.
    pub fn unsubscribe(&self, session_id: &str) {
        match &self.target {
            TournamentTarget::Local(p) => p.unsubscribe.do_send(Unsubscribe {
                session_id: session_id.to_owned(),
            }),
            TournamentTarget::Remote { cluster, .. } => {
                cluster.unsubscribe_remote(&self.id, session_id)
            }
        }
    }
}

/// What the registry asks of the rooms side (implemented by the room engine): create a room
/// that another instance placed here, and adopt a room whose owner vanished. Futures run on
/// the current arbiter.
pub trait RoomHost: 'static {
    /// Create a room here for another instance's placement request.
    fn create_placed(&self, spec: WireSpec)
        -> LocalBoxFuture<'static, Result<WireCreated, String>>;
    /// Claim an orphaned room (its lease lapsed); nothing when it cannot or need not be.
    fn adopt(&self, room: RoomId) -> LocalBoxFuture<'static, ()>;
}

/// The room engine as the cluster's background tasks hold it.
pub type Host = Arc<dyn RoomHost + Send + Sync>;
