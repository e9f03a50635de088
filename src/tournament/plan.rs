//! Planning a tournament change: on a copy of the state, compute what an organiser action, a
//! join or a match result leads to — the rows to write ([`Change`]), the state after, the
//! events to announce and the rooms to tell. The actor persists the change first and only then
//! adopts the new state and announces (persist before announce). An invalid action is refused
//! here, before anything is written: nothing changes.
//!
//! No actix, no database: unit-tested on its own.

use super::bracket::{Bracket, BracketError, BracketEvent, MatchResult, MatchSlot, MatchState};
use super::messages::{AdminAction, Caller};
use super::model::{
    better_seed_seat, result_of, seed_order, slot_key, Entrant, MatchRecord, Meta, RowStatus,
    Status, CANCELLED_REASON, SETTLED_REASON,
};
use crate::db::tournaments::{AuditEntry, Change, Settlement, Walkover};
use crate::error::{AppError, AppResult};
use crate::game::{EndReason, Seat};
use crate::ids::{MatchId, PlayerId, RoomId};
use crate::protocol::{TournamentEvent, TournamentPlayer};
use std::collections::{HashSet, VecDeque};

/// What the actor owns, mirrored from the database.
#[derive(Clone, Debug)]
pub struct State {
    /// The tournament's own fields.
    pub meta: Meta,
    /// Entrants.
    pub entrants: Vec<Entrant>,
    /// Every match row of the tournament.
    pub records: Vec<MatchRecord>,
    /// The bracket once started (rebuilt from `entrants` and `records`).
    pub bracket: Option<Bracket>,
}

/// Something to tell a live room once the change is persisted.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// End the match with this player forfeiting (disqualified); the room records it.
    Forfeit {
        /// Room.
        room: RoomId,
        /// The disqualified player.
        player: PlayerId,
    },
    /// End the match without recording: the tournament already wrote (or abandoned) its row.
    Conclude {
        /// Room.
        room: RoomId,
        /// Winner as decided, if any.
        winner: Option<Seat>,
        /// Shown to the players.
        reason: EndReason,
    },
}

/// A change, planned.
#[derive(Debug)]
pub struct Plan {
    /// The state once the change is persisted.
    pub next: State,
    /// Rows to write, in one transaction.
    pub change: Change,
    /// What to announce afterwards, in order.
    pub events: Vec<TournamentEvent>,
    /// Rooms to tell afterwards.
    pub effects: Vec<Effect>,
    /// `rally_tournament_matches_total` results to count (`finished`, `forfeited`).
    pub counted: Vec<&'static str>,
}

/// Where a result in a chain comes from.
enum Source {
    /// Decided without a room: write a finished match row for it.
    Walkover,
    /// A row that already holds it.
    Row {
        /// The match row.
        match_id: String,
        /// Its end reason.
        reason: String,
    },
}

fn bracket_error(e: BracketError) -> AppError {
    match e {
        BracketError::InvalidResult { .. } => AppError::validation(e.to_string()),
        other => AppError::conflict(other.to_string()),
    }
}

impl State {
    fn plan(&self) -> Plan {
        Plan {
            next: self.clone(),
            change: Change::default(),
            events: Vec::new(),
            effects: Vec::new(),
            counted: Vec::new(),
        }
    }

    fn entrant(&self, player: &str) -> Option<&Entrant> {
        self.entrants.iter().find(|e| e.player == player)
    }

    /// A player as events show them.
    pub fn player_ref(&self, player: &str) -> TournamentPlayer {
        let e = self.entrant(player);
        TournamentPlayer {
            id: player.to_owned(),
            name: e.map(|e| e.name.clone()).unwrap_or_default(),
            seed: e.and_then(|e| e.seed),
        }
    }

    /// The live row (a room owns it) of `slot`, if any.
    pub fn live_record(&self, slot: MatchSlot) -> Option<&MatchRecord> {
        self.records
            .iter()
            .filter(|r| r.slot == slot && r.status.is_live())
            .max_by_key(|r| r.created_at)
    }

    fn status_event(meta: &Meta) -> TournamentEvent {
        TournamentEvent::Status {
            status: meta.status.as_str().to_owned(),
            registration_open: meta.status == Status::Registration && meta.registration_open,
        }
    }

    /// An organiser action.
    pub fn plan_admin(&self, by: &Caller, action: &AdminAction, now: i64) -> AppResult<Plan> {
        let mut plan = self.plan();
        let status = self.meta.status;
        let mut target = None;
        match action {
            AdminAction::Open => {
                match (status, self.meta.registration_open) {
                    (Status::Draft, _) | (Status::Registration, false) => {}
                    (Status::Registration, true) => {
                        return Err(AppError::conflict("registration is already open"))
                    }
                    _ => return Err(self.refuse("open registration")),
                }
                plan.next.meta.status = Status::Registration;
                plan.next.meta.registration_open = true;
                plan.change.status = Some(Status::Registration);
                plan.change.registration_open = Some(true);
            }
            AdminAction::Close => {
                if status != Status::Registration || !self.meta.registration_open {
                    return Err(AppError::conflict(format!(
                        "registration is not open (the tournament is {})",
                        status.as_str()
                    )));
                }
                plan.next.meta.registration_open = false;
                plan.change.registration_open = Some(false);
            }
            AdminAction::Start => self.plan_start(&mut plan, now)?,
            AdminAction::Cancel => {
                if status.is_over() {
                    return Err(self.refuse("cancel"));
                }
                plan.next.meta.status = Status::Cancelled;
                plan.next.meta.registration_open = false;
                plan.next.meta.finished_at = Some(now);
                plan.change.status = Some(Status::Cancelled);
                plan.change.registration_open = Some(false);
                plan.change.finished_at = Some(now);
                plan.change.abandon_live = Some(CANCELLED_REASON);
                for r in plan.next.records.iter_mut().filter(|r| r.status.is_live()) {
                    r.status = RowStatus::Abandoned;
                    r.end_reason = Some(CANCELLED_REASON.to_owned());
                    plan.effects.push(Effect::Conclude {
                        room: RoomId(r.room.clone()),
                        winner: None,
                        reason: EndReason::Abandoned,
                    });
                }
            }
            AdminAction::Seeding { order } => self.plan_seeding(&mut plan, order)?,
            AdminAction::Disqualify { player } => {
                target = Some(player.0.clone());
                if !self.plan_disqualify(&mut plan, player, now)? {
                    return Ok(plan); // already disqualified: nothing to do, nothing to audit
                }
            }
            AdminAction::Settle {
                match_id,
                winner,
                scores,
                forfeit,
            } => {
                target = Some(match_id.0.clone());
                let settle = (match_id, winner, scores.unwrap_or([0, 0]), *forfeit);
                if !self.plan_settle(&mut plan, settle, now)? {
                    return Ok(plan); // the same result is already recorded
                }
            }
        }
        if plan.next.meta.status != status
            || plan.next.meta.registration_open != self.meta.registration_open
        {
            plan.events.push(Self::status_event(&plan.next.meta));
        }
        plan.change.audit = Some(AuditEntry {
            actor_id: by.id.0.clone(),
            actor_name: by.name.clone(),
            action: action.audit_name().to_owned(),
            tournament_id: Some(self.meta.id.clone()),
            target,
            detail: serde_json::to_value(action).unwrap_or_default(),
        });
        Ok(plan)
    }

    fn refuse(&self, what: &str) -> AppError {
        AppError::conflict(format!(
            "cannot {what}: the tournament is {}",
            self.meta.status.as_str()
        ))
    }

    fn plan_start(&self, plan: &mut Plan, now: i64) -> AppResult<()> {
        if self.meta.status != Status::Registration {
            return Err(self.refuse("start"));
        }
        let order: Vec<String> = seed_order(&self.entrants)
            .into_iter()
            .map(|e| e.player.clone())
            .collect();
        if order.len() < 2 {
            return Err(AppError::conflict(format!(
                "a tournament needs at least 2 entrants to start; it has {}",
                order.len()
            )));
        }
        let bracket = Bracket::new(self.meta.format, order.clone()).map_err(bracket_error)?;
        for e in plan.next.entrants.iter_mut() {
            e.seed = order
                .iter()
                .position(|p| *p == e.player)
                .map(|i| i as u32 + 1);
        }
        plan.change.seeds = plan
            .next
            .entrants
            .iter()
            .map(|e| (e.player.clone(), e.seed))
            .collect();
        plan.next.bracket = Some(bracket);
        plan.next.meta.status = Status::Running;
        plan.next.meta.registration_open = false;
        plan.next.meta.started_at = Some(now);
        plan.change.status = Some(Status::Running);
        plan.change.registration_open = Some(false);
        plan.change.started_at = Some(now);
        Ok(())
    }

    fn plan_seeding(&self, plan: &mut Plan, order: &[PlayerId]) -> AppResult<()> {
        if !matches!(self.meta.status, Status::Draft | Status::Registration) {
            return Err(self.refuse("change the seeding"));
        }
        let mut seen = HashSet::new();
        let mut unknown = Vec::new();
        for p in order {
            if !seen.insert(p.0.as_str()) {
                return Err(AppError::validation(format!("{p} is listed twice")));
            }
            if self.entrant(&p.0).is_none_or(|e| e.disqualified) {
                unknown.push(p.0.clone());
            }
        }
        if !unknown.is_empty() {
            return Err(AppError::validation(format!(
                "not entrants of this tournament: {}",
                unknown.join(", ")
            )));
        }
        for e in plan.next.entrants.iter_mut() {
            e.seed = order
                .iter()
                .position(|p| p.0 == e.player)
                .map(|i| i as u32 + 1);
            plan.change.seeds.push((e.player.clone(), e.seed));
        }
        Ok(())
    }

    /// Returns false when the player already is disqualified (nothing to do).
    fn plan_disqualify(&self, plan: &mut Plan, player: &PlayerId, now: i64) -> AppResult<bool> {
        let Some(entrant) = self.entrant(&player.0) else {
            return Err(AppError::conflict(format!(
                "{player} is not entered in this tournament"
            )));
        };
        if self.meta.status.is_over() {
            return Err(self.refuse("disqualify"));
        }
        if entrant.disqualified {
            return Ok(false);
        }
        for e in plan
            .next
            .entrants
            .iter_mut()
            .filter(|e| e.player == player.0)
        {
            e.disqualified = true;
            if self.meta.status != Status::Running {
                e.seed = None;
                plan.change.seeds.push((e.player.clone(), None));
            }
        }
        plan.change.disqualify = Some(player.0.clone());
        let Some(bracket) = plan.next.bracket.as_mut() else {
            return Ok(true);
        };
        let forfeits = bracket.disqualify(&player.0).map_err(bracket_error)?;
        let mut chain = Vec::new();
        for (slot, result) in forfeits {
            match self.live_record(slot) {
                // The room records the forfeit and reports it like any result.
                Some(r) => plan.effects.push(Effect::Forfeit {
                    room: RoomId(r.room.clone()),
                    player: player.clone(),
                }),
                None => chain.push((slot, result, Source::Walkover)),
            }
        }
        Self::record_chain(plan, chain, now)?;
        Ok(true)
    }

    /// Returns false when that very result is already recorded.
    fn plan_settle(
        &self,
        plan: &mut Plan,
        (match_id, winner, scores, forfeit): (&MatchId, &PlayerId, [u32; 2], bool),
        now: i64,
    ) -> AppResult<bool> {
        if self.meta.status != Status::Running {
            return Err(self.refuse("settle a match"));
        }
        let Some(record) = self.records.iter().find(|r| r.id == match_id.0) else {
            return Err(AppError::not_found(format!(
                "no match {match_id} in this tournament"
            )));
        };
        let Some(seat) = record
            .players
            .iter()
            .position(|p| p.as_deref() == Some(&winner.0))
        else {
            return Err(AppError::validation(format!(
                "{winner} does not play match {match_id}"
            )));
        };
        let seat = seat as Seat;
        match record.status {
            RowStatus::Finished if record.winner_seat == Some(seat) && record.scores == scores => {
                return Ok(false)
            }
            RowStatus::Finished => {
                return Err(AppError::conflict(format!(
                    "match {match_id} already has a different result; a recorded result \
                     cannot be changed once the bracket has moved on"
                )))
            }
            RowStatus::Abandoned => {
                return Err(AppError::conflict(format!(
                    "match {match_id} was abandoned (replayed in another room); settle the \
                     current match of that slot"
                )))
            }
            RowStatus::Created | RowStatus::Playing => {}
        }
        let result = MatchResult {
            winner: seat,
            scores,
            forfeit,
        };
        let reason = if forfeit { "forfeit" } else { SETTLED_REASON };
        for r in plan.next.records.iter_mut().filter(|r| r.id == match_id.0) {
            r.status = RowStatus::Finished;
            r.winner_seat = Some(seat);
            r.scores = scores;
            r.end_reason = Some(reason.to_owned());
        }
        plan.change.settle = Some(Settlement {
            match_id: match_id.0.clone(),
            winner_seat: seat,
            scores,
            end_reason: reason.to_owned(),
        });
        plan.effects.push(Effect::Conclude {
            room: RoomId(record.room.clone()),
            winner: Some(seat),
            reason: if forfeit {
                EndReason::Forfeit
            } else {
                EndReason::Score
            },
        });
        let source = Source::Row {
            match_id: match_id.0.clone(),
            reason: reason.to_owned(),
        };
        Self::record_chain(plan, vec![(record.slot, result, source)], now)?;
        Ok(true)
    }

    /// A registered player enters.
    pub fn plan_join(
        &self,
        player: &PlayerId,
        name: &str,
        rating: f64,
        now: i64,
    ) -> AppResult<Plan> {
        let mut plan = self.plan();
        if let Some(e) = self.entrant(&player.0) {
            if e.disqualified {
                return Err(AppError::conflict(
                    "you were disqualified from this tournament",
                ));
            }
            return Ok(plan); // already entered
        }
        if self.meta.status != Status::Registration || !self.meta.registration_open {
            return Err(AppError::conflict(format!(
                "registration is not open (the tournament is {}{})",
                self.meta.status.as_str(),
                if self.meta.status == Status::Registration {
                    ", closed"
                } else {
                    ""
                }
            )));
        }
        if self.entrants.len() >= self.meta.capacity as usize {
            return Err(AppError::conflict(format!(
                "the tournament is full ({} entrants)",
                self.meta.capacity
            )));
        }
        plan.next.entrants.push(Entrant {
            player: player.0.clone(),
            name: name.to_owned(),
            rating,
            seed: None,
            disqualified: false,
            joined_at: now,
        });
        plan.change.add_entrant = Some((player.0.clone(), now));
        plan.events.push(TournamentEvent::Entrants {
            count: plan.next.entrants.len(),
        });
        Ok(plan)
    }

    /// An entrant withdraws (before the start).
    pub fn plan_leave(&self, player: &PlayerId) -> AppResult<Plan> {
        let mut plan = self.plan();
        match self.entrant(&player.0) {
            None => return Err(AppError::conflict("you are not entered in this tournament")),
            // Withdrawing would wipe the disqualification (and allow entering again).
            Some(e) if e.disqualified => {
                return Err(AppError::conflict(
                    "you were disqualified from this tournament",
                ))
            }
            Some(_) => {}
        }
        if !matches!(self.meta.status, Status::Draft | Status::Registration) {
            return Err(AppError::conflict(format!(
                "the tournament is {}; entrants can no longer withdraw",
                self.meta.status.as_str()
            )));
        }
        plan.next.entrants.retain(|e| e.player != player.0);
        plan.change.remove_entrant = Some(player.0.clone());
        plan.events.push(TournamentEvent::Entrants {
            count: plan.next.entrants.len(),
        });
        Ok(plan)
    }

    /// A room reported its persisted result; `record` is its row as now stored.
    pub fn plan_result(&self, record: MatchRecord, now: i64) -> AppResult<Plan> {
        let mut plan = self.plan();
        let bracket = self
            .bracket
            .as_ref()
            .ok_or_else(|| AppError::conflict("the tournament has no bracket"))?;
        let seeds = bracket
            .get_match(record.slot)
            .ok_or_else(|| bracket_error(BracketError::UnknownMatch(record.slot)))?
            .seeds;
        let result = result_of(&record, better_seed_seat(seeds))
            .ok_or_else(|| AppError::conflict("the match is not finished"))?;
        let source = Source::Row {
            match_id: record.id.clone(),
            reason: record.end_reason.clone().unwrap_or_default(),
        };
        let slot = record.slot;
        match plan.next.records.iter_mut().find(|r| r.id == record.id) {
            Some(r) => *r = record,
            None => plan.next.records.push(record),
        }
        Self::record_chain(&mut plan, vec![(slot, result, source)], now)?;
        Ok(plan)
    }

    /// Walkovers found due when rebuilding (a crash kept them from being persisted).
    pub fn plan_due(&self, due: Vec<(MatchSlot, MatchResult)>, now: i64) -> AppResult<Plan> {
        let mut plan = self.plan();
        let chain = due
            .into_iter()
            .map(|(slot, result)| (slot, result, Source::Walkover))
            .collect();
        Self::record_chain(&mut plan, chain, now)?;
        Ok(plan)
    }

    /// The bracket is complete but the tournament was not marked finished (a crash in between).
    pub fn plan_finish_if_complete(&self, now: i64) -> Option<Plan> {
        let champion = self.bracket.as_ref()?.champion()?;
        if self.meta.status != Status::Running {
            return None;
        }
        let mut plan = self.plan();
        Self::finish(&mut plan, champion, now);
        Some(plan)
    }

    fn finish(plan: &mut Plan, champion: String, now: i64) {
        plan.next.meta.status = Status::Finished;
        plan.next.meta.champion = Some(champion.clone());
        plan.next.meta.finished_at = Some(now);
        plan.change.status = Some(Status::Finished);
        plan.change.champion = Some(champion.clone());
        plan.change.finished_at = Some(now);
        let player = plan.next.player_ref(&champion);
        plan.events.push(TournamentEvent::Champion { player });
        plan.events.push(Self::status_event(&plan.next.meta));
    }

    /// Record results on the planned bracket, then every walkover they make due, collecting
    /// rows to write and events to announce.
    fn record_chain(
        plan: &mut Plan,
        first: Vec<(MatchSlot, MatchResult, Source)>,
        now: i64,
    ) -> AppResult<()> {
        let mut queue: VecDeque<(MatchSlot, MatchResult, Source)> = first.into();
        while let Some((slot, result, source)) = queue.pop_front() {
            let next = &mut plan.next;
            let game = next.meta.game.clone();
            let config = next.meta.settings.game_config().to_string();
            let Some(bracket) = next.bracket.as_mut() else {
                return Err(AppError::conflict("the tournament has no bracket"));
            };
            let view = bracket
                .get_match(slot)
                .ok_or_else(|| bracket_error(BracketError::UnknownMatch(slot)))?;
            let [Some(p0), Some(p1)] = view.players.clone() else {
                return Err(bracket_error(BracketError::NotReady(slot)));
            };
            let bracket_events = bracket.record_result(slot, result).map_err(bracket_error)?;
            let (match_id, reason) = match source {
                Source::Row { match_id, reason } => (match_id, reason),
                Source::Walkover => {
                    let w = Walkover {
                        match_id: MatchId::generate().0,
                        room_id: RoomId::generate().0,
                        slot: slot_key(slot),
                        game,
                        config,
                        players: [p0.clone(), p1.clone()],
                        winner_seat: result.winner,
                    };
                    next.records.push(MatchRecord {
                        id: w.match_id.clone(),
                        room: w.room_id.clone(),
                        slot,
                        status: RowStatus::Finished,
                        players: [Some(p0.clone()), Some(p1.clone())],
                        winner_seat: Some(result.winner),
                        scores: [0, 0],
                        end_reason: Some("forfeit".to_owned()),
                        created_at: now,
                    });
                    let id = w.match_id.clone();
                    plan.change.walkovers.push(w);
                    (id, "forfeit".to_owned())
                }
            };
            let (winner, loser) = if result.winner == 0 {
                (p0, p1)
            } else {
                (p1, p0)
            };
            plan.events.push(TournamentEvent::MatchFinished {
                key: slot_key(slot),
                match_id,
                winner,
                loser,
                scores: result.scores,
                forfeit: result.forfeit,
                reason,
            });
            plan.counted.push(if result.forfeit {
                "forfeited"
            } else {
                "finished"
            });
            for event in bracket_events {
                match event {
                    BracketEvent::ForfeitDue { slot, result } => {
                        queue.push_back((slot, result, Source::Walkover))
                    }
                    // Started by the actor once the change is persisted.
                    BracketEvent::MatchReady { .. } => {}
                    BracketEvent::Eliminated { player } => {
                        plan.events.push(TournamentEvent::Eliminated { player })
                    }
                    BracketEvent::RoundComplete { round } => {
                        plan.events.push(TournamentEvent::RoundComplete { round })
                    }
                    BracketEvent::Finished { champion } => Self::finish(plan, champion, now),
                }
            }
        }
        Ok(())
    }

    /// Matches that can start now and have no room yet.
    pub fn startable(&self) -> Vec<MatchSlot> {
        match &self.bracket {
            Some(b) if self.meta.status == Status::Running => b.ready_matches(),
            _ => Vec::new(),
        }
    }

    /// Whether `slot` is finished in the bracket.
    pub fn is_decided(&self, slot: MatchSlot) -> bool {
        self.bracket
            .as_ref()
            .and_then(|b| b.get_match(slot))
            .is_some_and(|m| matches!(m.state, MatchState::Finished { .. }))
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
