//! What rooms do once the durable outbox has settled one of their writes: tell the tournament
//! (persist, then announce), announce ratings, step down when fenced off. The outbox calls
//! [`settled_handler`] for every settled write — also for writes a previous run or a vanished
//! instance left, whose room no longer exists: then the players are reached through presence.

use super::handlers::Fenced;
use super::{Engine, RoomActor};
use crate::db::matches::FinishOutcome;
use crate::durable::{Entry, OnSettled, Settled, Write};
use crate::ids::{PlayerId, RoomId};
use crate::protocol::{RatingChange, ServerMsg};
use crate::registry::messages::MatchReport;
use crate::room::messages::SessionEvent;
use actix::prelude::*;
use bytestring::ByteString;
use std::sync::{Arc, Weak};

/// A result is in the database with its rating change: announce it.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Persisted {
    pub(super) changes: Vec<RatingChange>,
}

/// The `ratings` frame of a match.
pub(super) fn ratings_frame(match_id: &str, changes: &[RatingChange]) -> ByteString {
    ServerMsg::Ratings {
        r#match: match_id,
        changes,
    }
    .encode()
    .into()
}

/// The outbox hook of an engine (held weakly: the engine owns the outbox).
pub(crate) fn settled_handler(engine: Weak<Engine>) -> OnSettled {
    Arc::new(move |entry: &Entry, settled: &Settled| {
        if let Some(engine) = engine.upgrade() {
            on_settled(&engine, entry, settled);
        }
    })
}

fn on_settled(engine: &Engine, entry: &Entry, settled: &Settled) {
    match (&entry.write, settled) {
        (
            Write::Start {
                report: Some(r), ..
            },
            Settled::Started,
        ) => report(engine, r),
        (
            Write::Finish {
                result,
                room,
                report: r,
                ..
            },
            Settled::Finished(outcome),
        ) => {
            if let Some(r) = r {
                report(engine, r);
            }
            if let FinishOutcome::Recorded {
                ratings: Some(rows),
            } = outcome
            {
                let changes: Vec<RatingChange> = rows
                    .iter()
                    .map(|row| RatingChange {
                        seat: row.seat,
                        player: row.player.clone(),
                        before: row.before.round() as i64,
                        after: row.after.round() as i64,
                    })
                    .collect();
                match local_room(engine, room) {
                    Some(addr) => addr.do_send(Persisted { changes }),
                    // The room is gone (it stopped, or this is a previous run's write): reach
                    // the players wherever they are connected now.
                    None => {
                        let frame = ratings_frame(&result.id, &changes);
                        for c in &changes {
                            engine.registry.notify_player(
                                &PlayerId(c.player.clone()),
                                SessionEvent::Frame(frame.clone()),
                            );
                        }
                    }
                }
            }
        }
        (
            Write::Finish { room, .. },
            Settled::Superseded {
                stale_epoch: true, ..
            },
        ) => {
            tracing::warn!(%room, "match result refused: another owner holds a newer epoch");
            if let Some(addr) = local_room(engine, room) {
                addr.do_send(Fenced);
            }
        }
        _ => {}
    }
}

/// The room's actor, if it still runs here.
fn local_room(engine: &Engine, room: &str) -> Option<Addr<RoomActor>> {
    engine.local_actor(&RoomId(room.to_string()))
}

/// Deliver a tournament report through the registry (the tournament's actor may have been
/// replaced since the room started). A tournament that is gone (cancelled, or owned elsewhere
/// and rebuilt from the rows there) has nothing left to learn.
fn report(engine: &Engine, r: &MatchReport) {
    match engine
        .registry
        .tournament(&r.tournament)
        .as_ref()
        .and_then(|t| t.port())
    {
        Some(p) => p.report.do_send(r.clone()),
        None => tracing::debug!(tournament = %r.tournament, "no tournament to report to"),
    }
}
