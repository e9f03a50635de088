//! The stand-in, on a room's owning instance, for a session connected to another instance.
//!
//! The room sees an ordinary [`SessionHandle`] whose recipients are this actor. Its mailbox is
//! bounded (`RALLY_SESSION_QUEUE`) and it forwards one frame at a time, waiting for room in the
//! outgoing queue: when Redis or the other instance falls behind, the mailbox fills and the
//! room's `try_send` fails, so the remote session is dropped as a slow client exactly like a
//! local one.

use super::cluster::{Cluster, ProxyEntry};
use super::wire::{Body, WireEvent};
use super::SessionHandle;
use crate::ids::{InstanceId, PlayerId, RoomId};
use crate::room::messages::{Outbound, SessionEvent};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// How long a proxy (and the other side's attachment) outlives the room's release of its
/// session: the `match_end` and `ratings` frames come after it.
pub const RELEASED_LINGER: Duration = Duration::from_secs(30);

/// Forwards a room's frames for one remote session.
pub struct Proxy {
    cluster: Arc<Cluster>,
    /// The instance the session is connected to.
    to: InstanceId,
    session_id: String,
}

impl Proxy {
    /// Start a proxy for `session_id` of `player` (on instance `to`) joining `room`; returns
    /// the handle to give the room.
    pub fn spawn(
        cluster: Arc<Cluster>,
        to: InstanceId,
        session_id: String,
        room: RoomId,
        player: PlayerId,
    ) -> SessionHandle {
        let capacity = cluster.session_queue;
        let sid = session_id.clone();
        let c2 = cluster.clone();
        let to2 = to.clone();
        let addr = Proxy::create(move |ctx| {
            ctx.set_mailbox_capacity(capacity);
            Proxy {
                cluster: c2,
                to: to2,
                session_id: sid,
            }
        });
        let entry = ProxyEntry {
            addr: addr.clone(),
            to,
            room,
            player,
            suspect: 0,
        };
        if let Some(old) = cluster.proxies.lock().insert(session_id.clone(), entry) {
            old.addr.do_send(StopProxy);
        }
        SessionHandle {
            session_id,
            outbound: addr.clone().recipient(),
            events: addr.recipient(),
        }
    }

    fn forward(&mut self, body: Body, stop_after: bool, ctx: &mut Context<Self>) {
        metrics::counter!("rally_cross_instance_messages_total", "direction" => "out").increment(1);
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
}

impl Actor for Proxy {
    type Context = Context<Self>;

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        let mut g = self.cluster.proxies.lock();
        if g.get(&self.session_id)
            .is_some_and(|e| e.addr == ctx.address())
        {
            g.remove(&self.session_id);
        }
    }
}

impl Handler<Outbound> for Proxy {
    type Result = ();
    fn handle(&mut self, msg: Outbound, ctx: &mut Context<Self>) {
        let body = Body::Frame {
            session: self.session_id.clone(),
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
            session: self.session_id.clone(),
            event: WireEvent::from(msg),
        };
        self.forward(body, kicked, ctx);
        if released {
            // The match end and the rating change follow the release: keep forwarding them.
            ctx.run_later(RELEASED_LINGER, |_, ctx| ctx.stop());
        }
    }
}

/// Stop a proxy (its session left, detached or joined again).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopProxy;

impl Handler<StopProxy> for Proxy {
    type Result = ();
    fn handle(&mut self, _: StopProxy, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
