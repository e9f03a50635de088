//! Handling what other instances send: room messages for rooms owned here (through frame
//! [`Proxy`]s), tournament subscriptions for tournaments running here, answers to our
//! requests, frames and events for sessions connected here, lost routes, placement requests
//! and hand-over offers.

use super::cluster::{now_us, Cluster};
use super::handle::Host;
use super::messages::{RoomRefusal, SessionEvent, Subscribe, Unsubscribe};
use super::proxy::{Proxy, ProxyKey, Relay, Settle, StopProxy};
use super::wire::{Body, Envelope, RoomMsg, WireCreated, WireEvent};
use crate::ids::{InstanceId, PlayerId, RoomId, TournamentId};
use crate::protocol::code;
use std::sync::Arc;

/// Handle one envelope received on this instance's channel. Never blocks: anything that
/// waits (a join's answer, a room creation) runs in its own task.
pub fn dispatch(host: &Host, cluster: &Arc<Cluster>, text: &str) {
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
        Body::Frame { session, frame } => cluster.deliver_frame(&session, frame),
        Body::Event { session, event } => cluster.deliver_event(&session, event.into()),
        Body::Player {
            player,
            session,
            event,
        } => on_player(cluster, &from, player, session, event),
        Body::Create { corr, spec } => {
            let (created, cluster) = (host.create_placed(spec), cluster.clone());
            actix::spawn(async move {
                let answer: Result<WireCreated, String> = created.await;
                let value = serde_json::to_value(answer).unwrap_or_default();
                cluster.publish(&from, Body::Reply { corr, value }).await;
            });
        }
        Body::Adopt { rooms } => {
            let host = host.clone();
            actix::spawn(async move {
                for r in rooms {
                    host.adopt(r).await;
                }
            });
        }
        Body::RouteLost { session, room } => cluster.route_lost(&session, &room),
        Body::CheckRoutes { routes } => {
            for (session, room) in routes {
                if !carried(cluster, &session, &room) {
                    lose_route(cluster, &from, session, room);
                }
            }
        }
        Body::Moved { room, owner } => cluster.room_moved(&room, &owner),
        Body::Subscribe {
            tournament,
            session,
            corr,
        } => on_subscribe(cluster, from, tournament, session, corr),
        Body::Unsubscribe {
            tournament,
            session,
        } => {
            let key = ProxyKey {
                session: session.clone(),
                relay: Relay::Tournament(tournament.clone()),
            };
            stop_proxy(cluster, &key);
            if let Some(p) = cluster
                .local
                .tournament(&tournament)
                .as_ref()
                .and_then(|t| t.port())
            {
                p.unsubscribe.do_send(Unsubscribe {
                    session_id: session,
                });
            }
        }
    }
}

/// A presence-addressed event: to the player's session here; when the player is no longer
/// connected here (they reconnected elsewhere), on to wherever presence says they are.
fn on_player(
    cluster: &Arc<Cluster>,
    from: &InstanceId,
    player: PlayerId,
    session: Option<String>,
    event: WireEvent,
) {
    match cluster.local.session(&player) {
        Some(s) if session.as_ref().is_none_or(|sid| *sid == s.session_id) => {
            s.events.do_send(event.into());
        }
        Some(_) => {}
        None if session.is_none() => {
            let (cluster, from) = (cluster.clone(), from.clone());
            actix::spawn(async move {
                if let Some((at, _)) = cluster.presence(&player).await {
                    if &at != cluster.id() && at != from {
                        cluster
                            .publish(
                                &at,
                                Body::Player {
                                    player,
                                    session: None,
                                    event,
                                },
                            )
                            .await;
                    }
                }
            });
        }
        None => {}
    }
}

fn reply<T: serde::Serialize>(cluster: &Arc<Cluster>, to: &InstanceId, corr: u64, v: &T) {
    let value = serde_json::to_value(v).unwrap_or_default();
    cluster.try_publish(to, Body::Reply { corr, value });
}

fn stop_proxy(cluster: &Arc<Cluster>, key: &ProxyKey) {
    if let Some(p) = cluster.proxies.lock().remove(key) {
        p.addr.do_send(StopProxy);
    }
}

/// The room has handled the session's leave or detach: the proxy may go (see [`Settle`]).
fn settle(cluster: &Arc<Cluster>, key: &ProxyKey, gone: bool) {
    if let Some(p) = cluster.proxies.lock().get(key) {
        p.addr.do_send(Settle { gone });
    }
}

fn room_key(session: &str, room: &RoomId) -> ProxyKey {
    ProxyKey {
        session: session.to_owned(),
        relay: Relay::Room(room.clone()),
    }
}

/// Whether a room here still carries `session`'s traffic (a proxy relays it).
fn carried(cluster: &Arc<Cluster>, session: &str, room: &RoomId) -> bool {
    cluster.local.room(room).is_some()
        && cluster
            .proxies
            .lock()
            .contains_key(&room_key(session, room))
}

/// Tell `to` that the route of its `session` to `room` is lost here.
fn lose_route(cluster: &Arc<Cluster>, to: &InstanceId, session: String, room: RoomId) {
    cluster.try_publish(to, Body::RouteLost { session, room });
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
        match &msg {
            RoomMsg::Join(j) => stop_proxy(cluster, &room_key(&j.session_id, &room)),
            // A session still playing a room that is no longer here: its route is lost.
            RoomMsg::Input(i) => lose_route(cluster, &from, i.session_id.clone(), room),
            _ => {}
        }
        return;
    };
    match msg {
        RoomMsg::Join(mut join) => {
            let key = room_key(&join.session_id, &room);
            join.session = Some(Proxy::spawn(
                cluster.clone(),
                from.clone(),
                key.clone(),
                Some(join.player.id.clone()),
            ));
            let cluster = cluster.clone();
            actix::spawn(async move {
                let answer = match handle.ask(join).await {
                    Ok(r) => r,
                    Err(_) => Err(RoomRefusal::new(code::NOT_FOUND, "the room has closed")),
                };
                if answer.is_err() {
                    stop_proxy(&cluster, &key);
                }
                if let Some(corr) = corr {
                    reply(&cluster, &from, corr, &answer);
                }
            });
        }
        RoomMsg::Input(input) => {
            if !cluster
                .proxies
                .lock()
                .contains_key(&room_key(&input.session_id, &room))
            {
                // Its proxy was dropped (its instance looked dead): the room no longer sends
                // this session anything and would ignore its inputs. Tell it to reconnect.
                lose_route(cluster, &from, input.session_id, room);
                return;
            }
            if handle.try_input(input).is_err() {
                crate::metrics::engine().inputs_dropped.increment(1);
            }
        }
        RoomMsg::Leave(leave) => {
            // The proxy stays until the room has handled the leave: a resignation releases the
            // session, and the match end still has to reach it.
            let (cluster, key) = (cluster.clone(), room_key(&leave.session_id, &room));
            actix::spawn(async move {
                let _ = handle.ask(leave).await;
                settle(&cluster, &key, false);
            });
        }
        RoomMsg::Detach(detach) => {
            let (cluster, key) = (cluster.clone(), room_key(&detach.session_id, &room));
            actix::spawn(async move {
                let _ = handle.ask(detach).await;
                settle(&cluster, &key, true);
            });
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

/// A session on `from` subscribes to a tournament running here: a proxy relays its events.
fn on_subscribe(
    cluster: &Arc<Cluster>,
    from: InstanceId,
    tournament: TournamentId,
    session: String,
    corr: Option<u64>,
) {
    let Some(port) = cluster
        .local
        .tournament(&tournament)
        .and_then(|t| t.port().map(|p| p.subscribe.clone()))
    else {
        if let Some(corr) = corr {
            reply(cluster, &from, corr, &Option::<serde_json::Value>::None);
        }
        return;
    };
    let key = ProxyKey {
        session: session.clone(),
        relay: Relay::Tournament(tournament.clone()),
    };
    let proxy = Proxy::spawn(cluster.clone(), from.clone(), key.clone(), None);
    let events = proxy.events.clone();
    let cluster = cluster.clone();
    actix::spawn(async move {
        let view = port
            .send(Subscribe {
                session_id: session,
                events: events.clone(),
            })
            .await
            .ok();
        if view.is_none() {
            stop_proxy(&cluster, &key);
        }
        match corr {
            Some(corr) => reply(&cluster, &from, corr, &view),
            // A re-subscription: the view goes to the session as a `state` event.
            None => {
                if let Some(view) = view {
                    let frame = crate::protocol::ServerMsg::Tournament {
                        tournament: tournament.as_str(),
                        event: &crate::protocol::TournamentEvent::State { view },
                    }
                    .encode();
                    events.do_send(SessionEvent::Frame(frame.into()));
                }
            }
        }
    });
}
