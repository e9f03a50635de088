//! Handling what other instances send: room messages for rooms owned here (through frame
//! [`Proxy`]s), answers to our requests, frames and events for sessions connected here,
//! placement requests and hand-over offers.

use super::cluster::{now_us, Cluster};
use super::proxy::{Proxy, StopProxy};
use super::wire::{Body, Envelope, RoomMsg, WireCreated, WireSpec};
use crate::ids::{InstanceId, RoomId};
use crate::protocol::{close, code};
use crate::room::messages::{Outbound, RoomRefusal, SessionEvent};
use crate::room::{Engine, Mode, RoomSpec};
use actix::prelude::*;
use std::sync::Arc;

/// Handle one envelope received on this instance's channel. Never blocks: anything that
/// waits (a join's answer, a room creation) runs in its own task.
pub fn dispatch(engine: &Arc<Engine>, cluster: &Arc<Cluster>, text: &str) {
    let env: Envelope = match serde_json::from_str(text) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable cross-instance message");
            return;
        }
    };
    metrics::counter!("rally_cross_instance_messages_total", "direction" => "in").increment(1);
    let lag = now_us().saturating_sub(env.sent_us) as f64 / 1e6;
    metrics::histogram!("rally_cross_instance_latency_seconds").record(lag);
    let from = InstanceId(env.from);
    match env.body {
        Body::Room { room, corr, msg } => on_room(cluster, from, room, corr, msg),
        Body::Reply { corr, value } => cluster.complete(corr, value),
        Body::Frame { session, frame } => on_frame(cluster, &session, frame),
        Body::Event { session, event } => {
            let ev: SessionEvent = event.into();
            let handle = {
                let mut g = cluster.attached.lock();
                match ev {
                    SessionEvent::Kick { .. } => g.remove(&session).map(|a| a.handle),
                    // Released: the last frames (ratings) may follow; the watch leaves it alone
                    // and it is dropped after a while.
                    SessionEvent::Detached { .. } | SessionEvent::Released { .. } => {
                        g.get_mut(&session).map(|a| {
                            a.released = Some(std::time::Instant::now());
                            a.handle.clone()
                        })
                    }
                    _ => g.get(&session).map(|a| a.handle.clone()),
                }
            };
            if let Some(h) = handle {
                h.events.do_send(ev);
            }
        }
        Body::Player {
            player,
            session,
            event,
        } => {
            if let Some(s) = cluster.local.session(&player) {
                if session.is_none_or(|sid| sid == s.session_id) {
                    s.events.do_send(event.into());
                }
            }
        }
        Body::Create { corr, spec } => {
            let (engine, cluster) = (engine.clone(), cluster.clone());
            actix::spawn(async move {
                let answer: Result<WireCreated, String> =
                    match engine.create_room_here(spec_from_wire(&engine, spec)).await {
                        Ok(c) => Ok(WireCreated {
                            room: c.room,
                            match_id: c.match_id,
                            code: c.code,
                        }),
                        Err(e) => Err(e.message),
                    };
                let value = serde_json::to_value(answer).unwrap_or_default();
                cluster.publish(&from, Body::Reply { corr, value }).await;
            });
        }
        Body::Adopt { rooms } => {
            let engine = engine.clone();
            actix::spawn(async move {
                for r in rooms {
                    engine.adopt_room(&r).await;
                }
            });
        }
    }
}

fn spec_from_wire(engine: &Arc<Engine>, spec: WireSpec) -> RoomSpec {
    RoomSpec {
        game: spec.game,
        config: spec.config,
        mode: Mode::parse(&spec.mode).unwrap_or(Mode::Private),
        rated: spec.rated,
        seats: spec.seats,
        private: spec.private,
        requeue: if spec.requeue {
            engine.requeue_recipient()
        } else {
            None
        },
        tournament: None,
    }
}

fn on_frame(cluster: &Arc<Cluster>, session: &str, frame: String) {
    let Some(a) = cluster.attached.lock().get(session).cloned() else {
        return;
    };
    match a.handle.outbound.try_send(Outbound {
        frame: frame.into(),
    }) {
        Ok(()) => {}
        Err(SendError::Full(_)) => {
            // The local session is slow: drop it like a local room would (it detaches itself
            // from the remote room as it stops).
            cluster.attached.lock().remove(session);
            crate::metrics::engine().slow_clients.increment(1);
            a.handle.events.do_send(SessionEvent::Kick {
                code: close::SLOW_CLIENT,
                error: code::RATE_LIMITED,
                message: "you are not reading fast enough; reconnect".into(),
            });
        }
        Err(SendError::Closed(_)) => {
            cluster.attached.lock().remove(session);
        }
    }
}

fn reply<T: serde::Serialize>(cluster: &Arc<Cluster>, to: &InstanceId, corr: u64, v: &T) {
    let value = serde_json::to_value(v).unwrap_or_default();
    cluster.try_publish(to, Body::Reply { corr, value });
}

fn stop_proxy(cluster: &Arc<Cluster>, session: &str) {
    if let Some(p) = cluster.proxies.lock().remove(session) {
        p.addr.do_send(StopProxy);
    }
}

fn on_room(
    cluster: &Arc<Cluster>,
    from: InstanceId,
    room: RoomId,
    corr: Option<u64>,
    msg: RoomMsg,
) {
    let Some(handle) = cluster.local.room(&room) else {
        if let Some(corr) = corr {
            let refusal: Result<(), RoomRefusal> = Err(RoomRefusal::new(
                code::UNAVAILABLE,
                "the room is moving to another instance; join again",
            ));
            reply(cluster, &from, corr, &refusal);
        }
        if let RoomMsg::Join(j) = &msg {
            stop_proxy(cluster, &j.session_id);
        }
        return;
    };
    match msg {
        RoomMsg::Join(mut join) => {
            let sid = join.session_id.clone();
            join.session = Some(Proxy::spawn(
                cluster.clone(),
                from.clone(),
                sid.clone(),
                room.clone(),
                join.player.id.clone(),
            ));
            let cluster = cluster.clone();
            actix::spawn(async move {
                let answer = match handle.ask(join).await {
                    Ok(r) => r,
                    Err(_) => Err(RoomRefusal::new(code::NOT_FOUND, "the room has closed")),
                };
                if answer.is_err() {
                    stop_proxy(&cluster, &sid);
                }
                if let Some(corr) = corr {
                    reply(&cluster, &from, corr, &answer);
                }
            });
        }
        RoomMsg::Input(input) => {
            if handle.try_send(input).is_err() {
                crate::metrics::engine().inputs_dropped.increment(1);
            }
        }
        RoomMsg::Leave(leave) => {
            let sid = leave.session_id.clone();
            handle.send(leave);
            stop_proxy(cluster, &sid);
        }
        RoomMsg::Detach(detach) => {
            let sid = detach.session_id.clone();
            handle.send(detach);
            stop_proxy(cluster, &sid);
        }
        RoomMsg::Resign(resign) => {
            let cluster = cluster.clone();
            actix::spawn(async move {
                let answer = match handle.ask(resign).await {
                    Ok(r) => r,
                    Err(_) => Err(RoomRefusal::new(code::NOT_IN_ROOM, "the room has closed")),
                };
                if let Some(corr) = corr {
                    reply(&cluster, &from, corr, &answer);
                }
            });
        }
    }
}

/// Room messages know their wire form.
mod impls {
    use super::super::wire::RoomMsg;
    use super::super::{RoomRequest, SessionHandle};
    use crate::room::messages::{Detach, Input, Join, Leave, Resign};

    impl RoomRequest for Join {
        fn into_wire(mut self) -> (RoomMsg, Option<SessionHandle>) {
            let s = self.session.take();
            (RoomMsg::Join(self), s)
        }
    }
    impl RoomRequest for Input {
        fn into_wire(self) -> (RoomMsg, Option<SessionHandle>) {
            (RoomMsg::Input(self), None)
        }
    }
    impl RoomRequest for Leave {
        fn into_wire(self) -> (RoomMsg, Option<SessionHandle>) {
            (RoomMsg::Leave(self), None)
        }
    }
    impl RoomRequest for Resign {
        fn into_wire(self) -> (RoomMsg, Option<SessionHandle>) {
            (RoomMsg::Resign(self), None)
        }
    }
    impl RoomRequest for Detach {
        fn into_wire(self) -> (RoomMsg, Option<SessionHandle>) {
            (RoomMsg::Detach(self), None)
        }
    }
}
