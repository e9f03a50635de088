//! The session side of cross-instance routing: what a session on this instance sends to a room
//! or a tournament owned by another instance, the answers it waits for, and the delivery of
//! what comes back.
//!
//! # One delivery path
//! A room on another instance reaches a local session exactly as a local room would: frames
//! and events arrive addressed by session id and go into that session's mailbox (frames with
//! `try_send`: full is a slow client), in the order the room sent them (one proxy per session
//! and room forwards them one at a time, one publisher task keeps them in order). Delivery does
//! not depend on what the session thinks it is in: a player who left still gets the match end
//! the room sends, as a local one does.
//!
//! # Routes
//! Each session joined to a room elsewhere holds a **route** (room, owner). A route ends when
//! the room lets the session go (`Released`, `Detached`, a kick), when the session leaves or
//! drops, or when it is **lost**: the owner says so (`RouteLost`: it no longer has a proxy for
//! the session, or dropped it because this instance looked dead), the room moved (`Moved`
//! from the adopter, or the lease names another owner), or this instance's own presence
//! expired (it was paused or cut off from Redis for longer than the lease: the owners have
//! detached its sessions). A session whose route is lost is closed with 1012 at once: its
//! client reconnects and rejoins (protocol §5.5); the seat is held for the reconnect grace.

use super::cluster::{now_us, Cluster, Outgoing};
use super::messages::{Outbound, SessionEvent, SessionHandle};
use super::wire::{Body, Envelope, RoomMsg};
use super::Undelivered;
use crate::ids::{InstanceId, RoomId, TournamentId};
use crate::protocol::{close, code};
use actix::prelude::*;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long a route outlives the end of the session's part in the room (released, left): the
/// `match_end`, `ratings` and last room states may still come.
pub const ROUTE_LINGER: Duration = Duration::from_secs(30);

/// Why a route is lost (the `why` label of `rally_routes_lost_total`): the owner said so
/// (or the room has had no owner for two rounds), or the room moved to another owner.
pub const ROUTE_LOSSES: [&str; 2] = ["owner", "moved"];

/// A local session's route to a room on another instance.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) room: RoomId,
    pub(crate) owner: InstanceId,
    pub(crate) session: SessionHandle,
    /// Consecutive upkeep rounds in which the room had no owner.
    pub(crate) suspect: u8,
    /// When the session's part in the room ended (released or left); the route is no longer
    /// watched and goes away after [`ROUTE_LINGER`].
    pub(crate) ended: Option<Instant>,
}

impl Route {
    /// Still carrying play: watched, and lost routes are reported to the session.
    pub(crate) fn active(&self) -> bool {
        self.ended.is_none()
    }
}

/// The close a session gets when its route to the room is lost.
pub(crate) fn route_lost_kick(message: &str) -> SessionEvent {
    SessionEvent::Kick {
        code: close::RESTART,
        error: code::UNAVAILABLE,
        message: message.to_owned(),
    }
}

impl Cluster {
    fn envelope(&self, body: Body) -> Option<String> {
        serde_json::to_string(&Envelope {
            from: self.id().0.clone(),
            sent_us: now_us(),
            body,
        })
        .ok()
    }

    /// Queue a message for `to`; false when the outgoing queue is full.
    pub(crate) fn try_publish(&self, to: &InstanceId, body: Body) -> bool {
        let Some(text) = self.envelope(body) else {
            return false;
        };
        self.out
            .try_send(Outgoing {
                to: to.clone(),
                text,
                corr: None,
            })
            .is_ok()
    }

    /// Queue a message for `to`, waiting for room in the outgoing queue.
    pub(crate) async fn publish(&self, to: &InstanceId, body: Body) -> bool {
        self.publish_for(to, body, None).await
    }

    /// [`Cluster::publish`] of a request with correlation id `corr`.
    async fn publish_for(&self, to: &InstanceId, body: Body, corr: Option<u64>) -> bool {
        let Some(text) = self.envelope(body) else {
            return false;
        };
        self.out
            .send(Outgoing {
                to: to.clone(),
                text,
                corr,
            })
            .await
            .is_ok()
    }

    /// A request reached no subscriber (its target is gone): fail it now.
    pub(crate) fn unheard(&self, corr: u64) {
        self.pending.lock().remove(&corr);
    }

    /// A session joins a room elsewhere: its route (replacing any older one).
    fn open_route(&self, room: &RoomId, owner: &InstanceId, session: Option<SessionHandle>) {
        if let Some(session) = session {
            self.routes.lock().insert(
                session.session_id.clone(),
                Route {
                    room: room.clone(),
                    owner: owner.clone(),
                    session,
                    suspect: 0,
                    ended: None,
                },
            );
        }
    }

    /// The session's own messages that end its part: leaving keeps the route for what the
    /// room still sends (the match end), a dropped connection ends it.
    fn session_route_change(&self, room: &RoomId, msg: &RoomMsg) {
        let mut g = self.routes.lock();
        match msg {
            RoomMsg::Leave(l) => {
                if let Some(r) = g.get_mut(&l.session_id).filter(|r| &r.room == room) {
                    r.ended.get_or_insert_with(Instant::now);
                }
            }
            RoomMsg::Detach(d) if g.get(&d.session_id).is_some_and(|r| &r.room == room) => {
                g.remove(&d.session_id);
            }
            _ => {}
        }
    }

    /// Fire-and-forget a room message to its owner (never dropped unless the queue is full).
    pub(crate) fn send_room(
        self: &Arc<Self>,
        owner: &InstanceId,
        room: &RoomId,
        msg: RoomMsg,
        session: Option<SessionHandle>,
        corr: Option<u64>,
    ) {
        self.open_route(room, owner, session);
        self.session_route_change(room, &msg);
        let body = Body::Room {
            room: room.clone(),
            corr,
            msg,
        };
        if !self.try_publish(owner, body) {
            tracing::warn!(%room, "cross-instance queue full: room message dropped");
        }
    }

    /// A droppable room message (input): a full outgoing queue is [`Undelivered::Full`].
    pub(crate) fn try_send_room(
        &self,
        owner: &InstanceId,
        room: &RoomId,
        msg: RoomMsg,
        session: Option<SessionHandle>,
    ) -> Result<(), Undelivered> {
        self.open_route(room, owner, session);
        let body = Body::Room {
            room: room.clone(),
            corr: None,
            msg,
        };
        if self.try_publish(owner, body) {
            Ok(())
        } else {
            Err(Undelivered::Full)
        }
    }

    fn new_request(&self) -> (u64, oneshot::Receiver<serde_json::Value>) {
        let corr = self.corr.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(corr, tx);
        (corr, rx)
    }

    /// Send a request to `to` and wait for its answer (at most the request timeout).
    pub(crate) async fn request(
        &self,
        to: &InstanceId,
        body: impl FnOnce(u64) -> Body,
    ) -> Option<serde_json::Value> {
        let (corr, rx) = self.new_request();
        if !self.publish_for(to, body(corr), Some(corr)).await {
            self.pending.lock().remove(&corr);
            return None;
        }
        let res = tokio::time::timeout(self.config.request_timeout(), rx).await;
        self.pending.lock().remove(&corr);
        match res {
            Ok(Ok(v)) => Some(v),
            // Timed out, or nobody heard the request (`unheard`).
            _ => None,
        }
    }

    /// A room request with an answer (join, resign); None on timeout.
    pub(crate) async fn ask_room(
        &self,
        owner: &InstanceId,
        room: &RoomId,
        msg: RoomMsg,
        session: Option<SessionHandle>,
    ) -> Option<serde_json::Value> {
        let joining = session.as_ref().map(|s| s.session_id.clone());
        self.open_route(room, owner, session);
        let answer = self
            .request(owner, |corr| Body::Room {
                room: room.clone(),
                corr: Some(corr),
                msg,
            })
            .await;
        let refused = answer.as_ref().is_none_or(|v| v.get("Err").is_some());
        if let (Some(sid), true) = (joining, refused) {
            let mut g = self.routes.lock();
            if g.get(&sid).is_some_and(|r| &r.room == room && r.active()) {
                g.remove(&sid);
            }
        }
        answer
    }

    /// An answer arrived.
    pub(crate) fn complete(&self, corr: u64, value: serde_json::Value) {
        if let Some(tx) = self.pending.lock().remove(&corr) {
            let _ = tx.send(value);
        }
    }

    /// A frame from a room elsewhere for a local session: into its bounded mailbox, as a local
    /// room would (full: a slow client, closed with 4011).
    pub(crate) fn deliver_frame(&self, session: &str, frame: String) {
        let Some(handle) = self.local.session_by_id(session) else {
            return;
        };
        match handle.outbound.try_send(Outbound {
            frame: frame.into(),
        }) {
            Ok(()) => {}
            Err(SendError::Full(_)) => {
                // The local session is slow: drop it like a local room would (it detaches
                // itself from the remote room as it stops).
                self.routes.lock().remove(session);
                crate::metrics::engine().slow_clients.increment(1);
                handle.events.do_send(SessionEvent::Kick {
                    code: close::SLOW_CLIENT,
                    error: code::RATE_LIMITED,
                    message: "you are not reading fast enough; reconnect".into(),
                });
            }
            Err(SendError::Closed(_)) => {
                self.routes.lock().remove(session);
            }
        }
    }

    /// A control event from a room (or tournament) elsewhere for a local session.
    pub(crate) fn deliver_event(&self, session: &str, event: SessionEvent) {
        {
            let mut g = self.routes.lock();
            match &event {
                SessionEvent::Kick { .. } => {
                    g.remove(session);
                }
                SessionEvent::Detached { room } | SessionEvent::Released { room, .. } => {
                    if let Some(r) = g.get_mut(session).filter(|r| &r.room == room) {
                        r.ended.get_or_insert_with(Instant::now);
                    }
                }
                _ => {}
            }
        }
        if let Some(h) = self.local.session_by_id(session) {
            h.events.do_send(event);
        }
    }

    /// The owner of `room` says it no longer carries `session`'s traffic: if the session still
    /// plays there, it is told at once (1012) and comes back through a reconnect.
    pub(crate) fn route_lost(&self, session: &str, room: &RoomId) {
        let lost = {
            let mut g = self.routes.lock();
            match g.get(session) {
                Some(r) if &r.room == room && r.active() => g.remove(session),
                _ => None,
            }
        };
        if let Some(r) = lost {
            metrics::counter!("rally_routes_lost_total", "why" => "owner").increment(1);
            tracing::info!(room = %r.room, session, "the room's owner lost this session's route; telling it to reconnect");
            r.session.events.do_send(route_lost_kick(
                "your connection to the room was interrupted; reconnect",
            ));
        }
    }

    /// `room` is now owned by `owner` (adopted after a failure): sessions still routed to its
    /// old owner reconnect at once.
    pub(crate) fn room_moved(&self, room: &RoomId, owner: &InstanceId) {
        let moved: Vec<Route> = {
            let mut g = self.routes.lock();
            let ids: Vec<String> = g
                .iter()
                .filter(|(_, r)| &r.room == room && &r.owner != owner && r.active())
                .map(|(sid, _)| sid.clone())
                .collect();
            ids.iter().filter_map(|sid| g.remove(sid)).collect()
        };
        for r in moved {
            metrics::counter!("rally_routes_lost_total", "why" => "moved").increment(1);
            tracing::info!(room = %r.room, "room moved to another instance; telling the session to reconnect");
            r.session.events.do_send(route_lost_kick(
                "your room moved to another instance; reconnect",
            ));
        }
    }

    /// Subscribe a local session to a tournament running on `owner`; the view, or None when
    /// the owner did not answer or does not run it.
    pub(crate) async fn subscribe_remote(
        &self,
        owner: &InstanceId,
        tournament: &TournamentId,
        session: &SessionHandle,
    ) -> Option<serde_json::Value> {
        let answer = self
            .request(owner, |corr| Body::Subscribe {
                tournament: tournament.clone(),
                session: session.session_id.clone(),
                corr: Some(corr),
            })
            .await?;
        let view = serde_json::from_value::<Option<serde_json::Value>>(answer).ok()??;
        self.subs.lock().insert(
            (session.session_id.clone(), tournament.clone()),
            owner.clone(),
        );
        Some(view)
    }

    /// End a local session's subscription to a tournament running elsewhere.
    pub(crate) fn unsubscribe_remote(&self, tournament: &TournamentId, session: &str) {
        let owner = self
            .subs
            .lock()
            .remove(&(session.to_string(), tournament.clone()));
        if let Some(owner) = owner {
            self.try_publish(
                &owner,
                Body::Unsubscribe {
                    tournament: tournament.clone(),
                    session: session.to_string(),
                },
            );
        }
    }
}
