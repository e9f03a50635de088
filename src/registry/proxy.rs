//! The stand-in, on the instance that owns a room (or a tournament), for a session connected
//! to another instance.
//!
//! The room (or tournament) sees an ordinary [`SessionHandle`] whose recipients are this actor.
//! Its mailbox is bounded (`RALLY_SESSION_QUEUE`) and it forwards one message at a time, in
//! order, waiting for room in the outgoing queue: when Redis or the other instance falls
//! behind, the mailbox fills and the room's `try_send` fails, so the remote session is dropped
//! as a slow client exactly like a local one.
//!
//! # Lifetime
//! A proxy lives as long as the room may still send its session something:
//! - a kick is forwarded, then the proxy stops;
//! - after a release (`Released`, `Detached`: the match end and the rating change follow) it
//!   forwards for [`RELEASED_LINGER`] more, then stops;
//! - after the session's own `leave`, once the room has handled it: it stops unless the room
//!   released the session meanwhile (a resignation: then it lingers as above);
//! - after the session's connection dropped (`detach`), once the room has handled it: it stops;
//! - when the session's instance vanished (no heartbeat for two rounds), or the room or
//!   tournament is gone from here, it tells the session's instance that the route is lost
//!   ([`Body::RouteLost`]: the session reconnects) and stops.

use super::cluster::Cluster;
use super::messages::{Outbound, SessionEvent, SessionHandle};
use super::wire::{Body, WireEvent};
use crate::ids::{InstanceId, PlayerId, RoomId, TournamentId};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// How long a proxy outlives the room's release of its session: the `match_end` and `ratings`
/// frames come after it.
pub const RELEASED_LINGER: Duration = super::remote::ROUTE_LINGER;

/// What a proxy relays for its session.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Relay {
    /// A room's frames and events.
    Room(RoomId),
    /// A tournament's live events (a subscription).
    Tournament(TournamentId),
}

/// One proxy per remote session and relayed resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProxyKey {
    /// The session (on another instance).
    pub session: String,
    /// What it relays.
    pub relay: Relay,
}

/// A proxy as the owning instance's table knows it.
#[derive(Clone)]
pub(crate) struct ProxyEntry {
    pub(crate) addr: Addr<Proxy>,
    /// The instance the session is connected to.
    pub(crate) to: InstanceId,
    /// The session's player (room proxies).
    pub(crate) player: Option<PlayerId>,
    /// Consecutive upkeep rounds in which `to` had no heartbeat.
    pub(crate) suspect: u8,
    /// The room released the session (the proxy lingers for the match end and ratings).
    pub(crate) released: bool,
}

/// Forwards a room's (or a tournament's) messages for one remote session.
pub struct Proxy {
    cluster: Arc<Cluster>,
    /// The instance the session is connected to.
    to: InstanceId,
    key: ProxyKey,
    /// Released by the room: stopping at the end of the linger.
    lingering: bool,
}

impl Proxy {
    /// Start a proxy for session `key.session` (on instance `to`) of `player`; returns the
    /// handle to give the room or tournament. An older proxy with the same key is stopped.
    pub fn spawn(
        cluster: Arc<Cluster>,
        to: InstanceId,
        key: ProxyKey,
        player: Option<PlayerId>,
    ) -> SessionHandle {
        let capacity = cluster.session_queue;
        let (c2, to2, key2) = (cluster.clone(), to.clone(), key.clone());
        let addr = Proxy::create(move |ctx| {
            ctx.set_mailbox_capacity(capacity);
            Proxy {
                cluster: c2,
                to: to2,
                key: key2,
                lingering: false,
            }
        });
        let entry = ProxyEntry {
            addr: addr.clone(),
            to,
            player,
            suspect: 0,
            released: false,
        };
        let session_id = key.session.clone();
        if let Some(old) = cluster.proxies.lock().insert(key, entry) {
            old.addr.do_send(StopProxy);
        }
        SessionHandle {
            session_id,
            outbound: addr.clone().recipient(),
            events: addr.recipient(),
            direct: None,
        }
    }

    fn forward(&mut self, body: Body, stop_after: bool, ctx: &mut Context<Self>) {
        let (cluster, to) = (self.cluster.clone(), self.to.clone());
        ctx.wait(
            async move {
                cluster.publish(&to, body).await;
            }
            .into_actor(self)
            .map(move |_, _, ctx: &mut Context<Self>| {
                if stop_after {
                    ctx.stop();
                }
            }),
        );
    }

    fn linger(&mut self, ctx: &mut Context<Self>) {
        if !self.lingering {
            self.lingering = true;
            let me = ctx.address();
            if let Some(e) = self
                .cluster
                .proxies
                .lock()
                .get_mut(&self.key)
                .filter(|e| e.addr == me)
            {
                e.released = true;
            }
            ctx.run_later(RELEASED_LINGER, |_, ctx| ctx.stop());
        }
    }
}

impl Actor for Proxy {
    type Context = Context<Self>;

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        let mut g = self.cluster.proxies.lock();
        if g.get(&self.key).is_some_and(|e| e.addr == ctx.address()) {
            g.remove(&self.key);
        }
    }
}

impl Handler<Outbound> for Proxy {
    type Result = ();
    fn handle(&mut self, msg: Outbound, ctx: &mut Context<Self>) {
        let body = Body::Frame {
            session: self.key.session.clone(),
            frame: msg.frame.to_string(),
        };
        self.forward(body, false, ctx);
    }
}

impl Handler<SessionEvent> for Proxy {
    type Result = ();
    fn handle(&mut self, msg: SessionEvent, ctx: &mut Context<Self>) {
        let kicked = matches!(msg, SessionEvent::Kick { .. });
        let released = matches!(
            msg,
            SessionEvent::Detached { .. } | SessionEvent::Released { .. }
        );
        let body = Body::Event {
            session: self.key.session.clone(),
            event: WireEvent::from(msg),
        };
        self.forward(body, kicked, ctx);
        if released {
            // The match end and the rating change follow the release: keep forwarding them.
            self.linger(ctx);
        }
    }
}

/// Stop a proxy now (its session joined again: a newer proxy replaces it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopProxy;

impl Handler<StopProxy> for Proxy {
    type Result = ();
    fn handle(&mut self, _: StopProxy, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// The room has handled the session's own `leave` or `detach`: the room holds no more use for
/// the proxy unless it released the session meanwhile (then the linger runs out). Queued
/// messages are forwarded first (the mailbox is in order).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Settle {
    /// The session's connection is gone (`detach`): stop even while lingering.
    pub gone: bool,
}

impl Handler<Settle> for Proxy {
    type Result = ();
    fn handle(&mut self, msg: Settle, ctx: &mut Context<Self>) {
        if msg.gone || !self.lingering {
            ctx.stop();
        }
    }
}

/// The route is lost (the session's instance vanished, or the room is gone from here): tell
/// the session's instance, then stop.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Sever;

impl Handler<Sever> for Proxy {
    type Result = ();
    fn handle(&mut self, _: Sever, ctx: &mut Context<Self>) {
        match &self.key.relay {
            Relay::Room(room) => {
                let body = Body::RouteLost {
                    session: self.key.session.clone(),
                    room: room.clone(),
                };
                self.forward(body, true, ctx);
            }
            Relay::Tournament(_) => ctx.stop(),
        }
    }
}

/// A frame for the proxy's player wherever they are connected now (the rating change after
/// the release): sent in order after what the room sent before, and delivered by the other
/// instance to the player's current session.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ForPlayer {
    /// The player.
    pub player: PlayerId,
    /// The event.
    pub event: SessionEvent,
}

impl Handler<ForPlayer> for Proxy {
    type Result = ();
    fn handle(&mut self, msg: ForPlayer, ctx: &mut Context<Self>) {
        let body = Body::Player {
            player: msg.player,
            session: None,
            event: WireEvent::from(msg.event),
        };
        self.forward(body, false, ctx);
    }
}
