//! Messages of the tournament actor. What rooms and sessions send is serde-serialisable (the
//! multi-instance registry forwards it); replies carry the tournament view as JSON, the same
//! document `GET /api/v1/tournaments/{id}` serves.

use crate::error::AppError;
use crate::ids::{MatchId, PlayerId};
use actix::prelude::*;
use serde::{Deserialize, Serialize};

/// The reply of every state-changing request: the tournament view after the change.
pub type ViewResult = Result<serde_json::Value, AppError>;

/// Who asked, for the audit log.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Caller {
    /// Player id.
    pub id: PlayerId,
    /// Display name at the time of the action.
    pub name: String,
}

/// One organiser action.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum AdminAction {
    /// Open registration (from `draft`, or reopen a closed registration).
    Open,
    /// Close registration (entrants are frozen; the tournament can start).
    Close,
    /// Seed and start.
    Start,
    /// Stop for good; live matches end without a result.
    Cancel,
    /// Explicit seeding: these entrants get seeds 1, 2, … in this order; the others follow by
    /// rating.
    Seeding {
        /// Entrant ids, best first.
        order: Vec<PlayerId>,
    },
    /// Disqualify an entrant: their pending or current match is forfeited, and so is every
    /// later one.
    Disqualify {
        /// The entrant.
        player: PlayerId,
    },
    /// Settle an unfinished match by hand (a dispute, a stuck room).
    Settle {
        /// The match.
        match_id: MatchId,
        /// The winner (one of the match's two players).
        winner: PlayerId,
        /// Points by seat; 0–0 when not given.
        scores: Option<[u32; 2]>,
        /// The loser did not play it out (scores then need not favour the winner).
        forfeit: bool,
    },
}

impl AdminAction {
    /// The audit log's `action` value.
    pub fn audit_name(&self) -> &'static str {
        match self {
            AdminAction::Open => "tournament.open",
            AdminAction::Close => "tournament.close",
            AdminAction::Start => "tournament.start",
            AdminAction::Cancel => "tournament.cancel",
            AdminAction::Seeding { .. } => "tournament.seeding",
            AdminAction::Disqualify { .. } => "tournament.disqualify",
            AdminAction::Settle { .. } => "tournament.settle_match",
        }
    }
}

/// An organiser action on this tournament; answered with the view after it, or the refusal
/// (nothing changed).
#[derive(Message)]
#[rtype(result = "ViewResult")]
pub struct Admin {
    /// Who.
    pub by: Caller,
    /// What.
    pub action: AdminAction,
}

/// A registered player enters (idempotent).
#[derive(Message, Serialize, Deserialize)]
#[rtype(result = "ViewResult")]
pub struct Join {
    /// The player.
    pub player: PlayerId,
    /// Their display name.
    pub name: String,
    /// Their rating now (seeding uses the entrants' ratings at the start).
    pub rating: f64,
}

/// An entrant withdraws before the start.
#[derive(Message, Serialize, Deserialize)]
#[rtype(result = "ViewResult")]
pub struct Leave {
    /// The player.
    pub player: PlayerId,
}

pub use crate::registry::messages::{MatchReport, MatchReportKind, Subscribe, Unsubscribe};
