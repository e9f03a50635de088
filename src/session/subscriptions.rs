//! Tournament subscriptions of a session: `subscribe` and `unsubscribe` (protocol §12),
//! served for a tournament running on any instance — the registry relays the events of one
//! running elsewhere like room traffic.

use super::actor::{Ctx, Session};
use crate::auth::{self, Operation};
use crate::error::ErrorKind;
use crate::ids::TournamentId;
use crate::protocol::{self, code, ServerMsg};
use crate::registry::SessionHandle;
use crate::room::messages::RoomRefusal;
use actix::prelude::*;

impl Session {
    /// Receive a running tournament's live events (authorized as spectating it).
    pub(super) fn subscribe(&mut self, tournament: String, ctx: &mut Ctx) {
        let Some(id) = TournamentId::parse(&tournament) else {
            return self.error(ctx, code::NOT_FOUND, NOT_RUNNING);
        };
        if !self.subscriptions.contains_key(&id)
            && self.subscriptions.len() >= protocol::MAX_SUBSCRIPTIONS
        {
            return self.error(ctx, code::CONFLICT, "too many tournament subscriptions");
        }
        let (app, token_check) = (self.app.clone(), self.token.clone());
        let known = self.principal.clone();
        let registry = self.engine.registry.clone();
        let resource = format!("tournament:{id}");
        let session = SessionHandle {
            session_id: self.id.clone(),
            outbound: ctx.address().recipient(),
            events: ctx.address().recipient(),
            direct: None,
        };
        let tid = id.clone();
        let fut = async move {
            let handle = registry
                .find_tournament(&tid)
                .await
                .ok_or_else(|| RoomRefusal::new(code::NOT_FOUND, NOT_RUNNING))?;
            // Authorized again for this tournament (attenuated tokens), as a join is: a
            // database outage does not turn away a session admitted before it.
            if let Some(token) = token_check {
                let op = Operation::Spectate;
                match &known {
                    Some(k) => auth::reauthorize(&app.db, &app.key, &token, op, &resource, k).await,
                    None => auth::authorize(&app.db, &app.key, &token, op, &resource).await,
                }
                .map_err(|e| {
                    let c = match e.kind {
                        ErrorKind::Forbidden => code::FORBIDDEN,
                        ErrorKind::Unavailable | ErrorKind::Internal => code::UNAVAILABLE,
                        _ => code::UNAUTHORIZED,
                    };
                    RoomRefusal::new(c, e.message)
                })?;
            }
            let view = handle
                .subscribe(session)
                .await
                .map_err(|_| RoomRefusal::new(code::NOT_FOUND, "the tournament is over"))?;
            Ok::<_, RoomRefusal>((handle, view))
        };
        ctx.wait(fut.into_actor(self).map(move |res, act, ctx| match res {
            Ok((handle, view)) => {
                act.subscriptions.insert(id.clone(), handle);
                act.send(
                    ctx,
                    ServerMsg::Subscribed {
                        tournament: id.as_str(),
                    },
                );
                let event = protocol::TournamentEvent::State { view };
                act.send(
                    ctx,
                    ServerMsg::Tournament {
                        tournament: id.as_str(),
                        event: &event,
                    },
                );
            }
            Err(r) => act.error(ctx, &r.code, &r.message),
        }));
    }

    /// Stop receiving a tournament's events (answered also when not subscribed).
    pub(super) fn unsubscribe(&mut self, tournament: String, ctx: &mut Ctx) {
        if let Some(id) = TournamentId::parse(&tournament) {
            if let Some(h) = self.subscriptions.remove(&id) {
                h.unsubscribe(&self.id);
            }
        }
        self.send(
            ctx,
            ServerMsg::Unsubscribed {
                tournament: &tournament,
            },
        );
    }

    /// The session ends: so do its subscriptions.
    pub(super) fn end_subscriptions(&mut self) {
        for (_, h) in self.subscriptions.drain() {
            h.unsubscribe(&self.id);
        }
    }
}

/// The answer to `subscribe` when no tournament with that id runs anywhere.
const NOT_RUNNING: &str =
    "no running tournament with this id (GET /api/v1/tournaments/{id} serves finished ones)";
