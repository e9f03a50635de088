//! The bracket state machine: single elimination (with an optional third-place match) and round
//! robin. Pure: no I/O, no clock, no actors; the tournament actor drives it and persists what it
//! returns.
//!
//! # Driving it
//! 1. [`Bracket::new`] with the entrants in seed order (seed 1 first).
//! 2. Start every match in [`Bracket::ready_matches`] (and [`Bracket::mark_started`] it, so it is
//!    not offered again).
//! 3. When a match ends, persist the result and call [`Bracket::record_result`]; react to the
//!    returned [`BracketEvent`]s: start each `MatchReady`, persist and record each `ForfeitDue`
//!    exactly like a played result, announce the rest.
//! 4. [`Bracket::disqualify`] returns forfeits: persist and record each of them the same way
//!    (if one of them is in progress, stop its room first).
//!
//! # Rebuilding after a restart
//! [`Bracket::new`] with the same entrants; [`Bracket::disqualify`] every persisted
//! disqualification (it records nothing itself: ignore what it returns here); then
//! [`Bracket::record_result`] for every persisted result in [`MatchSlot`] order (round by
//! round, which respects every dependency); then record [`Bracket::pending_forfeits`] (walkovers
//! a crash may have kept from being persisted) and [`Bracket::mark_started`] the matches that
//! still have a live room. The result equals the bracket before the restart (tested).
//!
//! # Round numbers and match keys
//! Rounds count from 1. A match's key is its [`MatchSlot`]: the round and its index in that
//! round. In single elimination the index is the match's position in the drawn bracket, so
//! round one has gaps where top seeds have byes (a bye is an automatic advance, not a match), and
//! the winner of `(round r, index i)` plays `(r + 1, i / 2)` in seat `i % 2`. The third-place
//! match is `(last round, 0)` with [`MatchSlot::third_place`] set.
//!
//! # Layout
//! This module holds the public types and the format-agnostic state machine; the sibling
//! modules `single_elimination` (draw, advancement, ranking) and `round_robin` (circle-method
//! schedule, standings order) hold what is specific to each format.

use super::{round_robin, single_elimination};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};
use std::fmt;

/// Most entrants a single-elimination bracket accepts: 1024 is ten rounds, more than any
/// tournament one server runs in an evening; it also keeps bracket sizes far from overflow.
pub const MAX_ELIMINATION_ENTRANTS: usize = 1024;

/// Most entrants a round robin accepts: 128 players already means 8,128 matches over 127
/// rounds; beyond that a round robin cannot finish and the state (and each `standings` call,
/// quadratic in players) only grows.
pub const MAX_ROUND_ROBIN_ENTRANTS: usize = 128;

/// How a tournament is played. Serialized with a `kind` tag:
/// `{"kind":"single_elimination","third_place":true}` or `{"kind":"round_robin"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Format {
    /// Knock-out bracket; losers are out.
    SingleElimination {
        /// Play a match between the semi-final losers to decide places 3 and 4. Needs at least
        /// four entrants (with three, one semi-final is a bye); ignored below that.
        #[serde(default)]
        third_place: bool,
    },
    /// Everyone plays everyone once (circle method).
    RoundRobin,
}

/// The stable key of a match: persist it with the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MatchSlot {
    /// Round, counting from 1.
    pub round: u32,
    /// Index within the round, counting from 0 (bracket position in single elimination).
    pub index: u32,
    /// True only for the third-place match (which is `index` 0 of the last round).
    #[serde(default)]
    pub third_place: bool,
}

impl MatchSlot {
    /// A regular match.
    pub fn new(round: u32, index: u32) -> Self {
        Self {
            round,
            index,
            third_place: false,
        }
    }

    /// The third-place match of a bracket whose final is played in `last_round`.
    pub fn third_place(last_round: u32) -> Self {
        Self {
            round: last_round,
            index: 0,
            third_place: true,
        }
    }
}

impl fmt::Display for MatchSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.third_place {
            write!(f, "third-place match (round {})", self.round)
        } else {
            write!(f, "round {} match {}", self.round, self.index)
        }
    }
}

/// How a match ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MatchResult {
    /// Seat of the winner: 0 or 1 (index into the match's players).
    pub winner: u8,
    /// Points per seat. Unless `forfeit`, the winner must not have fewer points than the loser.
    pub scores: [u32; 2],
    /// The loser did not play it out (no-show, left, disqualified).
    #[serde(default)]
    pub forfeit: bool,
}

impl MatchResult {
    /// A played match.
    pub fn played(winner: u8, scores: [u32; 2]) -> Self {
        Self {
            winner,
            scores,
            forfeit: false,
        }
    }

    /// A walkover for `winner`, scored 0–0.
    pub fn walkover(winner: u8) -> Self {
        Self {
            winner,
            scores: [0, 0],
            forfeit: true,
        }
    }
}

/// Where a match stands. Serialized with a `state` tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MatchState {
    /// Waiting: for a player still to be decided (single elimination), or for a player's
    /// earlier-round match (round robin: nobody plays two matches at once).
    Pending,
    /// Both players are known and free: it can start.
    Ready,
    /// Started by the caller ([`Bracket::mark_started`]).
    InProgress,
    /// Over.
    Finished {
        /// How it ended.
        result: MatchResult,
    },
}

/// Something the caller must act on or announce, returned by [`Bracket::record_result`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BracketEvent {
    /// This match can start now.
    MatchReady {
        /// The match.
        slot: MatchSlot,
    },
    /// This match became playable but involves a disqualified player: persist and record
    /// `result` instead of starting it.
    ForfeitDue {
        /// The match.
        slot: MatchSlot,
        /// The walkover to record.
        result: MatchResult,
    },
    /// Single elimination: this player lost and has no match left.
    Eliminated {
        /// The player's id.
        player: String,
    },
    /// Every match of this round and of all earlier rounds is finished (emitted in order).
    RoundComplete {
        /// The round.
        round: u32,
    },
    /// Every match is finished.
    Finished {
        /// The winner of the tournament.
        champion: String,
    },
}

/// Why a bracket operation was refused. Nothing changes when one is returned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BracketError {
    /// Fewer than two entrants.
    #[error("a bracket needs at least 2 entrants, got {count}")]
    TooFewEntrants {
        /// Entrants given.
        count: usize,
    },
    /// More entrants than the format allows.
    #[error("this format takes at most {max} entrants, got {count}")]
    TooManyEntrants {
        /// Entrants given.
        count: usize,
        /// The format's limit.
        max: usize,
    },
    /// The same id appears twice in the seed list.
    #[error("entrant {0} is listed twice")]
    DuplicateEntrant(String),
    /// No such match in this bracket.
    #[error("there is no {0} in this bracket")]
    UnknownMatch(MatchSlot),
    /// Its players are not both known yet, or (for a played, non-forfeit result or a start)
    /// one of them still has an earlier match or is disqualified.
    #[error("{0} is not ready")]
    NotReady(MatchSlot),
    /// [`Bracket::mark_started`] on a match already in progress.
    #[error("{0} has already started")]
    AlreadyStarted(MatchSlot),
    /// Starting a match that is over.
    #[error("{0} is already finished")]
    AlreadyFinished(MatchSlot),
    /// A different result is already recorded for this match.
    #[error("{0} already has a different result")]
    ResultConflict(MatchSlot),
    /// The result itself is malformed.
    #[error("invalid result for {slot}: {reason}")]
    InvalidResult {
        /// The match.
        slot: MatchSlot,
        /// What is wrong.
        reason: &'static str,
    },
    /// The id is not an entrant of this bracket.
    #[error("{0} is not an entrant")]
    UnknownPlayer(String),
    /// The tournament is over.
    #[error("the tournament is finished")]
    TournamentFinished,
}

/// One player's line in the standings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// The player's id.
    pub player: String,
    /// Seed, from 1.
    pub seed: u32,
    /// Place, from 1. Single elimination: shared by players knocked out in the same round
    /// (the third-place match, when played, separates 3 and 4; players still in share 1).
    /// Round robin: unique.
    pub rank: u32,
    /// Matches won (byes are not matches).
    pub wins: u32,
    /// Matches lost.
    pub losses: u32,
    /// Points scored over all finished matches.
    pub points_for: u64,
    /// Points conceded over all finished matches.
    pub points_against: u64,
    /// Disqualified (in a round robin they rank below everyone else).
    pub disqualified: bool,
}

/// A match for display.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchView {
    /// Its key.
    pub slot: MatchSlot,
    /// Player ids by seat; `None` while still to be decided.
    pub players: [Option<String>; 2],
    /// Their seeds (from 1), by seat.
    pub seeds: [Option<u32>; 2],
    /// Its state, with the result once finished.
    pub state: MatchState,
}

/// One round for display.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundView {
    /// Round number, from 1.
    pub round: u32,
    /// Its matches in slot order (the third-place match after the final).
    pub matches: Vec<MatchView>,
}

/// A match as stored: players are entrant indices into the seed list (0 = seed 1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Game {
    pub(super) slot: MatchSlot,
    pub(super) seats: [Option<u32>; 2],
    pub(super) state: MatchState,
}

impl Game {
    /// A match with no players yet.
    pub(super) fn empty(slot: MatchSlot) -> Self {
        Self {
            slot,
            seats: [None, None],
            state: MatchState::Pending,
        }
    }

    pub(super) fn result(&self) -> Option<MatchResult> {
        match self.state {
            MatchState::Finished { result } => Some(result),
            _ => None,
        }
    }

    /// `(winner, loser)` entrant indices once finished.
    pub(super) fn outcome(&self) -> Option<(u32, u32)> {
        let result = self.result()?;
        let (w, l) = if result.winner == 0 { (0, 1) } else { (1, 0) };
        Some((self.seats[w]?, self.seats[l]?))
    }
}

/// A tournament's bracket: matches, results, disqualifications. See the module docs for how to
/// drive and rebuild it. Serializable as a snapshot; the persisted results stay the source of
/// truth.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bracket {
    format: Format,
    /// Entrant ids, seed 1 first.
    entrants: Vec<String>,
    /// Number of rounds.
    rounds: u32,
    /// Every match, sorted by slot.
    games: Vec<Game>,
    /// Disqualified entrants (indices into `entrants`).
    disqualified: BTreeSet<u32>,
    /// Rounds `1..=completed_rounds` are all finished.
    completed_rounds: u32,
}

impl Bracket {
    /// Draws the bracket for `entrants`, seed 1 first.
    pub fn new(format: Format, entrants: Vec<String>) -> Result<Self, BracketError> {
        let count = entrants.len();
        if count < 2 {
            return Err(BracketError::TooFewEntrants { count });
        }
        let max = match format {
            Format::SingleElimination { .. } => MAX_ELIMINATION_ENTRANTS,
            Format::RoundRobin => MAX_ROUND_ROBIN_ENTRANTS,
        };
        if count > max {
            return Err(BracketError::TooManyEntrants { count, max });
        }
        let mut seen = HashSet::with_capacity(count);
        for id in &entrants {
            if !seen.insert(id.as_str()) {
                return Err(BracketError::DuplicateEntrant(id.clone()));
            }
        }
        let (rounds, games) = match format {
            Format::SingleElimination { third_place } => {
                single_elimination::draw(count, third_place)
            }
            Format::RoundRobin => round_robin::draw(count),
        };
        let mut bracket = Self {
            format,
            entrants,
            rounds,
            games,
            disqualified: BTreeSet::new(),
            completed_rounds: 0,
        };
        bracket.refresh_ready(&mut Vec::new());
        Ok(bracket)
    }

    /// The format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Entrant ids, seed 1 first.
    pub fn entrants(&self) -> &[String] {
        &self.entrants
    }

    /// Number of rounds.
    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// Whether a third-place match is played.
    pub fn has_third_place_match(&self) -> bool {
        self.game(MatchSlot::third_place(self.rounds)).is_some()
    }

    /// Matches that can start now (both players known and free, none disqualified, not
    /// started), in slot order.
    pub fn ready_matches(&self) -> Vec<MatchSlot> {
        let dq = self.disqualified_mask();
        self.games
            .iter()
            .filter(|g| g.state == MatchState::Ready && !self.has_disqualified(g, &dq))
            .map(|g| g.slot)
            .collect()
    }

    /// Marks a ready match as started so [`Bracket::ready_matches`] no longer offers it.
    pub fn mark_started(&mut self, slot: MatchSlot) -> Result<(), BracketError> {
        let i = self.position(slot)?;
        let disqualified = self.has_disqualified(&self.games[i], &self.disqualified_mask());
        let game = &mut self.games[i];
        match game.state {
            MatchState::Ready if !disqualified => {
                game.state = MatchState::InProgress;
                Ok(())
            }
            MatchState::Ready | MatchState::Pending => Err(BracketError::NotReady(slot)),
            MatchState::InProgress => Err(BracketError::AlreadyStarted(slot)),
            MatchState::Finished { .. } => Err(BracketError::AlreadyFinished(slot)),
        }
    }

    /// Undoes [`Bracket::mark_started`] (its room failed): the match is offered again. A no-op
    /// on a ready match.
    pub fn cancel_start(&mut self, slot: MatchSlot) -> Result<(), BracketError> {
        let i = self.position(slot)?;
        let game = &mut self.games[i];
        match game.state {
            MatchState::Ready | MatchState::InProgress => {
                game.state = MatchState::Ready;
                Ok(())
            }
            MatchState::Pending => Err(BracketError::NotReady(slot)),
            MatchState::Finished { .. } => Err(BracketError::AlreadyFinished(slot)),
        }
    }

    /// Records how a match ended and advances the bracket.
    ///
    /// Recording the same result twice is a no-op (`Ok` with no events); a different result
    /// for a finished match is [`BracketError::ResultConflict`]. A played result needs a ready
    /// or started match; a forfeit only needs both players known (a round robin forfeits a
    /// disqualified player's later matches at once).
    pub fn record_result(
        &mut self,
        slot: MatchSlot,
        result: MatchResult,
    ) -> Result<Vec<BracketEvent>, BracketError> {
        let i = self.position(slot)?;
        if result.winner > 1 {
            let reason = "winner must be seat 0 or 1";
            return Err(BracketError::InvalidResult { slot, reason });
        }
        let (w, l) = if result.winner == 0 { (0, 1) } else { (1, 0) };
        if !result.forfeit && result.scores[w] < result.scores[l] {
            let reason = "the winner cannot have fewer points than the loser";
            return Err(BracketError::InvalidResult { slot, reason });
        }
        let game = &mut self.games[i];
        match game.state {
            MatchState::Finished { result: recorded } if recorded == result => {
                return Ok(Vec::new())
            }
            MatchState::Finished { .. } => return Err(BracketError::ResultConflict(slot)),
            MatchState::Pending if !result.forfeit => return Err(BracketError::NotReady(slot)),
            _ => {}
        }
        let (Some(winner), Some(loser)) = (game.seats[w], game.seats[l]) else {
            return Err(BracketError::NotReady(slot));
        };
        game.state = MatchState::Finished { result };

        let mut events = Vec::new();
        if let Format::SingleElimination { .. } = self.format {
            let rounds = self.rounds;
            if single_elimination::advance(&mut self.games, rounds, slot, winner, loser) {
                if let Some(player) = self.name(loser).map(str::to_owned) {
                    events.push(BracketEvent::Eliminated { player });
                }
            }
        }
        // Only matches of these two players can have become ready.
        let candidates = match self.format {
            Format::SingleElimination { .. } => [
                position(&self.games, MatchSlot::new(slot.round + 1, slot.index / 2)),
                position(&self.games, MatchSlot::third_place(self.rounds)),
            ],
            Format::RoundRobin => [
                self.earliest_unfinished(winner),
                self.earliest_unfinished(loser),
            ],
        };
        for i in candidates.into_iter().flatten() {
            self.ready_if_free(i, &mut events);
        }
        self.complete_rounds(&mut events);
        Ok(events)
    }

    /// Disqualifies `player` and returns the walkovers now due against them, in slot order:
    /// their current match in single elimination (once the opponent is known; a later one
    /// arrives as [`BracketEvent::ForfeitDue`]), every remaining match in a round robin. Persist
    /// and record each with [`Bracket::record_result`]. Repeating it is harmless.
    pub fn disqualify(
        &mut self,
        player: &str,
    ) -> Result<Vec<(MatchSlot, MatchResult)>, BracketError> {
        let entrant = self
            .entrant_index(player)
            .ok_or_else(|| BracketError::UnknownPlayer(player.to_owned()))?;
        if self.is_finished() {
            return Err(BracketError::TournamentFinished);
        }
        self.disqualified.insert(entrant);
        Ok(self
            .pending_forfeits()
            .into_iter()
            .filter(|(slot, _)| {
                self.game(*slot)
                    .is_some_and(|g| g.seats.contains(&Some(entrant)))
            })
            .collect())
    }

    /// Whether `player` has been disqualified.
    pub fn is_disqualified(&self, player: &str) -> bool {
        self.entrant_index(player)
            .is_some_and(|i| self.disqualified.contains(&i))
    }

    /// Every walkover due now (unfinished matches with both players known and one of them
    /// disqualified), in slot order.
    pub fn pending_forfeits(&self) -> Vec<(MatchSlot, MatchResult)> {
        if self.disqualified.is_empty() {
            return Vec::new();
        }
        let dq = self.disqualified_mask();
        self.games
            .iter()
            .filter_map(|g| Some((g.slot, forfeit_for(g, &dq)?)))
            .collect()
    }

    /// The lowest round with an unfinished match; `None` once finished.
    pub fn current_round(&self) -> Option<u32> {
        (self.completed_rounds < self.rounds).then_some(self.completed_rounds + 1)
    }

    /// Whether every match is finished.
    pub fn is_finished(&self) -> bool {
        self.completed_rounds >= self.rounds
    }

    /// The winner, once [`Bracket::is_finished`].
    pub fn champion(&self) -> Option<String> {
        if !self.is_finished() {
            return None;
        }
        match self.format {
            Format::SingleElimination { .. } => {
                let (winner, _) = self.game(MatchSlot::new(self.rounds, 0))?.outcome()?;
                self.name(winner).map(str::to_owned)
            }
            Format::RoundRobin => self.standings().into_iter().next().map(|s| s.player),
        }
    }

    /// Current standings, best first (ties in seed order).
    pub fn standings(&self) -> Vec<Standing> {
        let mut lines: Vec<Standing> = (0..self.entrants.len())
            .map(|i| Standing {
                player: self.entrants[i].clone(),
                seed: i as u32 + 1,
                rank: 0,
                wins: 0,
                losses: 0,
                points_for: 0,
                points_against: 0,
                disqualified: self.disqualified.contains(&(i as u32)),
            })
            .collect();
        for game in &self.games {
            let Some(result) = game.result() else {
                continue;
            };
            for (seat, entrant) in game.seats.iter().enumerate() {
                let Some(line) = entrant.and_then(|e| lines.get_mut(e as usize)) else {
                    continue;
                };
                if usize::from(result.winner) == seat {
                    line.wins += 1;
                } else {
                    line.losses += 1;
                }
                line.points_for += u64::from(result.scores[seat]);
                line.points_against += u64::from(result.scores[1 - seat]);
            }
        }
        match self.format {
            Format::SingleElimination { .. } => {
                single_elimination::rank(&self.games, self.rounds, &mut lines)
            }
            Format::RoundRobin => {
                let outcomes: Vec<(u32, u32)> =
                    self.games.iter().filter_map(Game::outcome).collect();
                let order = round_robin::order(&lines, &outcomes);
                let mut ranked = Vec::with_capacity(lines.len());
                for (rank, entrant) in order.into_iter().enumerate() {
                    if let Some(line) = lines.get(entrant) {
                        ranked.push(Standing {
                            rank: rank as u32 + 1,
                            ..line.clone()
                        });
                    }
                }
                lines = ranked;
            }
        }
        lines
    }

    /// Every match for display, round by round.
    pub fn matches(&self) -> Vec<RoundView> {
        let mut rounds: Vec<RoundView> = (1..=self.rounds)
            .map(|round| RoundView {
                round,
                matches: Vec::new(),
            })
            .collect();
        for game in &self.games {
            let view = self.view(game);
            let round = (game.slot.round as usize).checked_sub(1);
            if let Some(round) = round.and_then(|r| rounds.get_mut(r)) {
                round.matches.push(view);
            }
        }
        rounds
    }

    /// One match for display (and to learn who plays it).
    pub fn get_match(&self, slot: MatchSlot) -> Option<MatchView> {
        self.game(slot).map(|g| self.view(g))
    }

    fn view(&self, game: &Game) -> MatchView {
        MatchView {
            slot: game.slot,
            players: game
                .seats
                .map(|s| s.and_then(|e| self.name(e)).map(str::to_owned)),
            seeds: game.seats.map(|s| s.map(|e| e + 1)),
            state: game.state,
        }
    }

    fn name(&self, entrant: u32) -> Option<&str> {
        self.entrants.get(entrant as usize).map(String::as_str)
    }

    fn entrant_index(&self, player: &str) -> Option<u32> {
        self.entrants
            .iter()
            .position(|e| e == player)
            .map(|i| i as u32)
    }

    fn position(&self, slot: MatchSlot) -> Result<usize, BracketError> {
        position(&self.games, slot).ok_or(BracketError::UnknownMatch(slot))
    }

    fn game(&self, slot: MatchSlot) -> Option<&Game> {
        self.position(slot).ok().map(|i| &self.games[i])
    }

    /// Disqualified flags by entrant: cheaper than set lookups in scans over every match.
    fn disqualified_mask(&self) -> Vec<bool> {
        let mut mask = vec![false; self.entrants.len()];
        for &e in &self.disqualified {
            if let Some(flag) = mask.get_mut(e as usize) {
                *flag = true;
            }
        }
        mask
    }

    fn has_disqualified(&self, game: &Game, dq: &[bool]) -> bool {
        let flagged = |e: &u32| dq.get(*e as usize) == Some(&true);
        !self.disqualified.is_empty() && game.seats.iter().flatten().any(flagged)
    }

    /// Moves every pending match whose players are known and free to ready, with an event each
    /// (one pass, for a new bracket).
    fn refresh_ready(&mut self, events: &mut Vec<BracketEvent>) {
        // Round robin: a player is free for the match of their earliest unfinished round only.
        let mut next_round = vec![u32::MAX; self.entrants.len()];
        if self.format == Format::RoundRobin {
            for game in &self.games {
                if game.result().is_none() {
                    for e in game.seats.iter().flatten() {
                        if let Some(r) = next_round.get_mut(*e as usize) {
                            *r = (*r).min(game.slot.round);
                        }
                    }
                }
            }
        }
        let round_robin = self.format == Format::RoundRobin;
        let mut newly_ready = Vec::new();
        for game in &mut self.games {
            let [Some(a), Some(b)] = game.seats else {
                continue;
            };
            let round = game.slot.round;
            let free = |e: u32| !round_robin || next_round.get(e as usize) == Some(&round);
            if game.state == MatchState::Pending && free(a) && free(b) {
                game.state = MatchState::Ready;
                newly_ready.push(game.slot);
            }
        }
        let dq = self.disqualified_mask();
        for slot in newly_ready {
            let due = self.game(slot).and_then(|g| forfeit_for(g, &dq));
            events.push(match due {
                Some(result) => BracketEvent::ForfeitDue { slot, result },
                None => BracketEvent::MatchReady { slot },
            });
        }
    }

    /// Moves match `i` to ready if it is pending and its players are known and free.
    fn ready_if_free(&mut self, i: usize, events: &mut Vec<BracketEvent>) {
        let Some(game) = self.games.get(i) else {
            return;
        };
        let [Some(a), Some(b)] = game.seats else {
            return;
        };
        if game.state != MatchState::Pending {
            return;
        }
        let slot = game.slot;
        if self.format == Format::RoundRobin
            && (self.earliest_unfinished(a) != Some(i) || self.earliest_unfinished(b) != Some(i))
        {
            return;
        }
        self.games[i].state = MatchState::Ready;
        let due = forfeit_for(&self.games[i], &self.disqualified_mask());
        events.push(match due {
            Some(result) => BracketEvent::ForfeitDue { slot, result },
            None => BracketEvent::MatchReady { slot },
        });
    }

    /// The index of `entrant`'s unfinished match in the earliest round: the only match a round
    /// robin lets them play.
    fn earliest_unfinished(&self, entrant: u32) -> Option<usize> {
        let start = self.round_start(self.completed_rounds + 1);
        let later = self.games.get(start..)?;
        let found = later
            .iter()
            .position(|g| g.result().is_none() && g.seats.contains(&Some(entrant)));
        found.map(|i| start + i)
    }

    /// Index of the first match of `round` (or of a later round).
    fn round_start(&self, round: u32) -> usize {
        self.games.partition_point(|g| g.slot.round < round)
    }

    /// Advances `completed_rounds` over every newly finished round, then reports the end.
    fn complete_rounds(&mut self, events: &mut Vec<BracketEvent>) {
        let was_finished = self.is_finished();
        while self.completed_rounds < self.rounds {
            let round = self.completed_rounds + 1;
            let games = self.round_start(round)..self.round_start(round + 1);
            let finished = self
                .games
                .get(games)
                .map(|g| g.iter().all(|g| g.result().is_some()));
            if finished != Some(true) {
                break;
            }
            self.completed_rounds = round;
            events.push(BracketEvent::RoundComplete { round });
        }
        if !was_finished {
            if let Some(champion) = self.champion() {
                events.push(BracketEvent::Finished { champion });
            }
        }
    }
}

/// The walkover due for an unfinished match with both players known and one disqualified.
/// If both are, the better seed advances (and forfeits its next match in turn).
fn forfeit_for(game: &Game, dq: &[bool]) -> Option<MatchResult> {
    if matches!(game.state, MatchState::Finished { .. }) {
        return None;
    }
    let [Some(a), Some(b)] = game.seats else {
        return None;
    };
    let flagged = |e: u32| dq.get(e as usize) == Some(&true);
    let winner = match (flagged(a), flagged(b)) {
        (false, false) => return None,
        (true, false) => 1,
        (false, true) => 0,
        (true, true) => u8::from(b < a),
    };
    Some(MatchResult::walkover(winner))
}

/// Where `slot` is in `games` (sorted by slot).
pub(super) fn position(games: &[Game], slot: MatchSlot) -> Option<usize> {
    games.binary_search_by_key(&slot, |g| g.slot).ok()
}

#[cfg(test)]
#[path = "bracket_tests.rs"]
pub(super) mod tests;
