//! Light cycles ("cycles"): a free-for-all for 2 to 8 riders on a grid. Each rider leaves a
//! trail; riding into a wall or any trail crashes; the last rider of a round wins it; the first
//! seat to win `rounds_to_win` rounds wins the match.
//!
//! Where Pong is two seats, held intents and a small full snapshot, this game is N seats,
//! elimination, one-off events as inputs and a state that grows, so it exercises every part of
//! the [`Game`] trait: [`Game::remove_seat`], [`Game::pauses_when_away`] (`false`),
//! [`Game::sends_deltas`] and [`Game::snapshot_since`].
//!
//! # Rules
//! - The grid is `width` × `height` cells, x to the right, y downwards. Directions: 0 up (−y),
//!   1 right (+x), 2 down (+y), 3 left (−x).
//! - Spawns ([`spawns`]) depend only on the seat count and the grid: evenly spaced around a
//!   rectangle inset by an eighth of each side, each cycle heading inwards (away from its nearest
//!   wall). Which seat gets which spawn is shuffled at every round start with the game's
//!   [`GameRng`] (seeded by the room), so no seat keeps a favourable spawn.
//! - Inputs are events: the JSON strings `"left"` and `"right"`, a turn relative to the heading
//!   at the time it is used. Each accepted turn is queued for its seat (at most
//!   [`MAX_QUEUED_TURNS`]); every move consumes at most one queued turn before moving, so two
//!   quick turns take effect on two consecutive moves. The queues are cleared at round start.
//!   Turns are refused (the state unchanged) when the queue is full and when the seat's cycle
//!   has crashed or the seat is out of the match.
//! - Each round starts with a delay (`round_delay_ms`, at least one tick); the cycles then move
//!   one cell every `move_every` ticks, all at once. A cycle crashes when its next cell is
//!   outside the grid (`into: "wall"`), holds any trail — every head is part of its trail, so
//!   two cycles trying to swap cells both crash — (`into: "trail"`, `by` the trail's seat), or is
//!   entered by another cycle in the same move (`into: "head"`, all of them crash). A crashed
//!   cycle stops where it was; its trail stays until the round ends.
//! - When at most one cycle rides, the round ends: that seat wins it (+1, event `scored`), or
//!   nobody when the last cycles crashed in the same move (a drawn round). The next round starts
//!   in the same tick (new grid, new spawns, the delay again) unless a seat has won
//!   `rounds_to_win` rounds: then the game ends with reason `score`.
//! - [`Game::remove_seat`] takes a seat out of the match for good: its cycle stops now (its trail
//!   stays this round) and it spawns in no later round. If that leaves one seat in the match, the
//!   game ends at once, that seat winning, with the removal's reason. If it leaves at most one
//!   cycle riding, the round ends at the next step.
//! - Places ([`Outcome::places`]): seats still in the match by rounds won (equal rounds share a
//!   place, the next place skips: 1, 1, 3), then removed seats in reverse order of removal (the
//!   first to leave is last). `winner` is the seat alone in first place, or `None`.
//!
//! # Determinism
//! Integers only; the only randomness is the spawn shuffle from the [`GameRng`] in the state; the
//! state serialises field by field in a fixed order (trails as flat coordinate lists), so
//! [`Game::state_hash`] is canonical. The occupancy grid is derived from the trails and rebuilt on
//! [`Cycles::restore`], never saved.
//!
//! # Wire formats
//! See [`snapshot`] (full and delta snapshots, their MessagePack form) and [`describe`] (the
//! static info). docs/protocol.md §10a is the client's reference.

mod config;
pub mod snapshot;
#[cfg(test)]
mod tests;

pub use config::{
    CyclesConfig, MOVE_EVERY_MAX, ROUNDS_TO_WIN_MAX, ROUND_DELAY_MS_MAX, SEATS_MAX, SEATS_MIN,
    SIDE_MAX, SIDE_MIN, TICK_HZ_MAX, TICK_HZ_MIN,
};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::game::{
    json_type, EndReason, Game, GameError, GameEvent, GameRng, InputError, Outcome, Seat,
};

/// The kind name used by [`crate::game::create`].
pub const KIND: &str = "cycles";
/// Most turns that may wait for the next move, per seat: three covers a quick U-turn plus one
/// (at 15 cells/s a move comes every 67 ms, a human rarely presses faster); more would let a
/// client queue a long path ahead and hide its latency.
pub const MAX_QUEUED_TURNS: usize = 3;
/// A delta is replaced by a full snapshot when it would cross a multiple of this many ticks
/// (5 s at 60 Hz), so a client that lost its base (a dropped frame, a bug) recovers within it.
pub const FULL_EVERY_TICKS: u64 = 300;

/// Seat status in the current round, as sent in snapshots.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Riding: moves every `move_every` ticks.
    Riding,
    /// Crashed this round; rides again next round.
    Crashed,
    /// Out of the match (left, resigned, forfeited); never rides again.
    Out,
}

impl Status {
    /// The number sent in snapshots: 0 riding, 1 crashed this round, 2 out of the match.
    pub fn code(self) -> u8 {
        match self {
            Self::Riding => 0,
            Self::Crashed => 1,
            Self::Out => 2,
        }
    }
}

/// A queued turn, relative to the heading when it is used.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Turn {
    /// A quarter turn anticlockwise (on screen, with y downwards).
    Left,
    /// A quarter turn clockwise.
    Right,
}

impl Turn {
    /// The heading after this turn from `dir`.
    pub fn apply(self, dir: u8) -> u8 {
        match self {
            Self::Left => (dir + 3) % 4,
            Self::Right => (dir + 1) % 4,
        }
    }
}

/// One seat's cycle in the current round.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Rider {
    /// Heading, 0..4 (see the module docs).
    dir: u8,
    /// Riding, crashed this round, or out of the match.
    status: Status,
    /// The trail from the spawn to the head, flattened `[x0, y0, x1, y1, …]`; empty when the
    /// seat has no cycle this round (it left before the round started).
    trail: Vec<u16>,
    /// Turns waiting for the next move, oldest first.
    turns: Vec<Turn>,
}

impl Rider {
    /// The head cell, if the seat has a cycle this round.
    fn head(&self) -> Option<(u16, u16)> {
        match self.trail.as_slice() {
            [.., x, y] => Some((*x, *y)),
            _ => None,
        }
    }

    /// Number of cells in the trail (the spawn counts).
    fn cells(&self) -> usize {
        self.trail.len() / 2
    }
}

/// The whole state of a light-cycles game. Fields serialise in declaration order; with integer
/// state that makes the JSON (and so the hash) canonical.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Cycles {
    /// The validated configuration.
    config: CyclesConfig,
    /// Ticks simulated so far.
    tick: u64,
    /// The current round, from 1.
    round: u32,
    /// The tick at which the current round started (its spawns were placed).
    round_tick: u64,
    /// Moves made so far this round; move `k` (from 1) happens at tick
    /// `round_tick + delay_ticks + (k - 1) × move_every`.
    moves: u32,
    /// Rounds won per seat.
    scores: Vec<u32>,
    /// One per seat.
    riders: Vec<Rider>,
    /// Seats taken out of the match, in order, with the reason.
    removed: Vec<(Seat, EndReason)>,
    /// The only source of randomness (the spawn shuffle).
    rng: GameRng,
    /// Set when the game ends; nothing moves after that.
    outcome: Option<Outcome>,
    /// Which seat's trail holds each cell (`seat + 1`, 0 = free), row by row. Derived from the
    /// trails; rebuilt on restore.
    #[serde(skip)]
    grid: Vec<u8>,
}

/// What a cycle ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Crash {
    /// The edge of the grid.
    Wall,
    /// A trail (any cell of it, heads included) of this seat.
    Trail(Seat),
    /// Another cycle entering the same cell in the same move.
    Head,
}

impl Cycles {
    /// A new game: round 1 with the spawns shuffled by `seed`, the round delay running.
    pub fn new(config: CyclesConfig, seed: u64) -> Self {
        let seats = config.seat_count();
        let cells = grid_len(&config);
        let mut game = Self {
            tick: 0,
            round: 1,
            round_tick: 0,
            moves: 0,
            scores: vec![0; usize::from(seats)],
            riders: vec![
                Rider {
                    dir: 0,
                    status: Status::Riding,
                    trail: Vec::new(),
                    turns: Vec::new(),
                };
                usize::from(seats)
            ],
            removed: Vec::new(),
            rng: GameRng::seeded(seed),
            outcome: None,
            grid: vec![0; cells],
            config,
        };
        game.place_spawns();
        game
    }

    /// Rebuilds a game from [`Game::save`] output, re-validating the config and every invariant
    /// of the state so that a corrupted checkpoint is refused rather than simulated.
    pub fn restore(saved: &serde_json::Value) -> Result<Self, GameError> {
        let mut game = Self::deserialize(saved).map_err(|e| bad_save(e.to_string()))?;
        game.config.validate()?;
        game.check().map_err(bad_save)?;
        Ok(game)
    }

    /// The configuration this game runs with.
    pub fn config(&self) -> &CyclesConfig {
        &self.config
    }

    /// The current round, from 1.
    pub fn round(&self) -> u32 {
        self.round
    }

    /// Each seat's status this round.
    pub fn statuses(&self) -> Vec<Status> {
        self.riders.iter().map(|r| r.status).collect()
    }

    /// Each seat's head `(x, y, dir)`, `None` for a seat without a cycle this round.
    pub fn heads(&self) -> Vec<Option<(u16, u16, u8)>> {
        self.riders
            .iter()
            .map(|r| r.head().map(|(x, y)| (x, y, r.dir)))
            .collect()
    }

    /// Whether cell `(x, y)` is inside the grid and holds no trail.
    pub fn is_free(&self, x: i32, y: i32) -> bool {
        self.index(x, y)
            .and_then(|i| self.grid.get(i))
            .is_some_and(|&c| c == 0)
    }

    /// Ticks until the cycles first move this round; 0 once they have moved.
    pub fn starts_in(&self) -> u64 {
        if self.moves == 0 {
            self.first_move_tick().saturating_sub(self.tick)
        } else {
            0
        }
    }

    /// The tick of this round's first move.
    fn first_move_tick(&self) -> u64 {
        self.round_tick + self.config.delay_ticks()
    }

    /// The tick of this round's next move.
    fn next_move_tick(&self) -> u64 {
        self.first_move_tick() + u64::from(self.moves) * u64::from(self.config.move_every)
    }

    /// The grid index of `(x, y)`, or `None` outside the grid.
    fn index(&self, x: i32, y: i32) -> Option<usize> {
        let w = i32::try_from(self.config.width).ok()?;
        let h = i32::try_from(self.config.height).ok()?;
        if (0..w).contains(&x) && (0..h).contains(&y) {
            usize::try_from(y * w + x).ok()
        } else {
            None
        }
    }

    /// Seats still in the match.
    fn in_match(&self) -> impl Iterator<Item = Seat> + '_ {
        self.riders
            .iter()
            .enumerate()
            .filter(|(_, r)| r.status != Status::Out)
            .map(|(s, _)| seat_of(s))
    }

    /// Seats whose cycle rides.
    fn riding(&self) -> impl Iterator<Item = Seat> + '_ {
        self.riders
            .iter()
            .enumerate()
            .filter(|(_, r)| r.status == Status::Riding)
            .map(|(s, _)| seat_of(s))
    }

    /// Clears the grid and places a cycle for every seat still in the match, shuffling which
    /// seat gets which spawn.
    fn place_spawns(&mut self) {
        self.grid.iter_mut().for_each(|c| *c = 0);
        let spots = spawns(&self.config);
        // Fisher–Yates over all seats (out seats included, so the draw count per round does not
        // depend on who left).
        let mut order: Vec<usize> = (0..spots.len()).collect();
        for i in (1..order.len()).rev() {
            let j = self.rng.below(u32::try_from(i + 1).unwrap_or(u32::MAX)) as usize;
            order.swap(i, j);
        }
        for (seat, rider) in self.riders.iter_mut().enumerate() {
            rider.turns.clear();
            rider.trail.clear();
            if rider.status == Status::Out {
                continue;
            }
            rider.status = Status::Riding;
            let Some(&(x, y, dir)) = order.get(seat).and_then(|&k| spots.get(k)) else {
                continue;
            };
            rider.dir = dir;
            rider.trail.extend([x, y]);
            let i = usize::from(y) * self.config.width as usize + usize::from(x);
            if let Some(cell) = self.grid.get_mut(i) {
                *cell = seat_of(seat) + 1;
            }
        }
    }

    /// One move of every riding cycle, all at once (see the module docs for crashes).
    fn move_all(&mut self, events: &mut Vec<GameEvent>) {
        self.moves += 1;
        // Phase 1: every rider's target cell, on the grid as it was before the move.
        let mut targets: Vec<Option<(i32, i32)>> = vec![None; self.riders.len()];
        let mut crashes: Vec<Option<Crash>> = vec![None; self.riders.len()];
        for (seat, rider) in self.riders.iter_mut().enumerate() {
            if rider.status != Status::Riding {
                continue;
            }
            let Some((x, y)) = rider.head() else {
                continue;
            };
            if !rider.turns.is_empty() {
                let turn = rider.turns.remove(0);
                rider.dir = turn.apply(rider.dir);
            }
            let (dx, dy) = step_of(rider.dir);
            targets[seat] = Some((i32::from(x) + dx, i32::from(y) + dy));
        }
        for seat in 0..self.riders.len() {
            let Some((x, y)) = targets[seat] else {
                continue;
            };
            crashes[seat] = match self.index(x, y).map(|i| self.grid.get(i).copied()) {
                None => Some(Crash::Wall),
                Some(Some(0)) => None,
                Some(Some(owner)) => Some(Crash::Trail(owner - 1)),
                Some(None) => Some(Crash::Wall),
            };
        }
        for seat in 0..self.riders.len() {
            if crashes[seat].is_some() || targets[seat].is_none() {
                continue;
            }
            let shared = (0..self.riders.len()).any(|other| {
                other != seat && targets[other].is_some() && targets[other] == targets[seat]
            });
            if shared {
                crashes[seat] = Some(Crash::Head);
            }
        }
        // Phase 2: apply, in seat order.
        let width = self.config.width as usize;
        for seat in 0..self.riders.len() {
            let Some((tx, ty)) = targets[seat] else {
                continue;
            };
            let rider = &mut self.riders[seat];
            match crashes[seat] {
                Some(crash) => {
                    rider.status = Status::Crashed;
                    rider.turns.clear();
                    let (x, y) = rider.head().unwrap_or((0, 0));
                    let (into, by) = match crash {
                        Crash::Wall => ("wall", None),
                        Crash::Trail(owner) => ("trail", Some(owner)),
                        Crash::Head => ("head", None),
                    };
                    events.push(GameEvent::Custom {
                        name: "crashed".into(),
                        data: serde_json::json!({
                            "seat": seat, "x": x, "y": y, "into": into, "by": by,
                        }),
                    });
                }
                None => {
                    // Inside the grid (checked in phase 1), so both fit in u16.
                    let (x, y) = (tx as u16, ty as u16);
                    rider.trail.extend([x, y]);
                    if let Some(cell) = self.grid.get_mut(usize::from(y) * width + usize::from(x)) {
                        *cell = seat_of(seat) + 1;
                    }
                }
            }
        }
    }

    /// Ends the round: scores it, then ends the game or starts the next round.
    fn end_round(&mut self, events: &mut Vec<GameEvent>) {
        let winner = {
            let mut riding = self.riding();
            match (riding.next(), riding.next()) {
                (Some(seat), None) => Some(seat),
                _ => None,
            }
        };
        if let Some(seat) = winner {
            if let Some(score) = self.scores.get_mut(usize::from(seat)) {
                *score += 1;
            }
            events.push(GameEvent::Scored {
                seat,
                scores: self.scores.clone(),
            });
        }
        events.push(GameEvent::Custom {
            name: "round_over".into(),
            data: serde_json::json!({ "round": self.round, "winner": winner }),
        });
        if self.scores.iter().any(|&s| s >= self.config.rounds_to_win) {
            let outcome = self.finish(EndReason::Score);
            events.push(GameEvent::Ended { outcome });
            return;
        }
        self.round += 1;
        self.round_tick = self.tick;
        self.moves = 0;
        self.place_spawns();
        events.push(GameEvent::Custom {
            name: "round_start".into(),
            data: serde_json::json!({ "round": self.round }),
        });
    }

    /// Takes `seat` out of the match (no-op for a seat already out); pushes `out`.
    fn take_out(&mut self, seat: Seat, reason: EndReason, events: &mut Vec<GameEvent>) -> bool {
        let Some(rider) = self.riders.get_mut(usize::from(seat)) else {
            return false;
        };
        if rider.status == Status::Out {
            return false;
        }
        rider.status = Status::Out;
        rider.turns.clear();
        self.removed.push((seat, reason));
        events.push(GameEvent::Custom {
            name: "out".into(),
            data: serde_json::json!({ "seat": seat, "reason": reason }),
        });
        true
    }

    /// Ends the game with `reason` and the places of [`Cycles::places`].
    fn finish(&mut self, reason: EndReason) -> Outcome {
        let places = self.places();
        let mut first = places.iter().enumerate().filter(|&(_, &p)| p == 1);
        let winner = match (first.next(), first.next()) {
            (Some((seat, _)), None) => Some(seat_of(seat)),
            _ => None,
        };
        let outcome = Outcome {
            winner,
            scores: self.scores.clone(),
            reason,
            places,
        };
        self.outcome = Some(outcome.clone());
        outcome
    }

    /// The finishing order if the game ended now (see the module docs).
    pub fn places(&self) -> Vec<u8> {
        let n = self.riders.len();
        let mut places = vec![0u8; n];
        let staying: Vec<Seat> = self.in_match().collect();
        for &seat in &staying {
            let mine = self.scores[usize::from(seat)];
            let better = staying
                .iter()
                .filter(|&&other| self.scores[usize::from(other)] > mine)
                .count();
            places[usize::from(seat)] = place_of(better);
        }
        // Removed seats: the last removed right below the staying seats, the first removed last.
        for (k, (seat, _)) in self.removed.iter().rev().enumerate() {
            if let Some(p) = places.get_mut(usize::from(*seat)) {
                *p = place_of(staying.len() + k);
            }
        }
        places
    }

    /// Checks the state invariants (see [`Cycles::restore`]) and rebuilds the grid.
    fn check(&mut self) -> Result<(), String> {
        let seats = self.config.seat_count();
        let n = usize::from(seats);
        if self.riders.len() != n || self.scores.len() != n {
            return Err(format!("riders and scores must have {n} entries"));
        }
        if self.round == 0 || self.round_tick > self.tick {
            return Err("round and round_tick are inconsistent with tick".into());
        }
        let target = self.config.rounds_to_win;
        let reached = self.scores.iter().any(|&s| s >= target);
        if self.scores.iter().any(|&s| s > target) || (reached && self.outcome.is_none()) {
            return Err("scores are inconsistent with rounds_to_win".into());
        }
        let mut seen = vec![false; n];
        for &(seat, _) in &self.removed {
            let slot = seen
                .get_mut(usize::from(seat))
                .ok_or_else(|| format!("removed seat {seat} is not a seat"))?;
            if *slot {
                return Err(format!("seat {seat} removed twice"));
            }
            *slot = true;
        }
        self.grid = vec![0; grid_len(&self.config)];
        let moves = usize::try_from(self.moves).unwrap_or(usize::MAX);
        let width = self.config.width as usize;
        for (seat, rider) in self.riders.iter().enumerate() {
            if (rider.status == Status::Out) != seen[seat] {
                return Err(format!("seat {seat}: status out iff removed"));
            }
            if rider.dir > 3 || rider.turns.len() > MAX_QUEUED_TURNS {
                return Err(format!("seat {seat}: bad heading or too many turns"));
            }
            if rider.trail.len() % 2 != 0 || rider.cells() > moves + 1 {
                return Err(format!("seat {seat}: trail longer than the moves made"));
            }
            if rider.status == Status::Riding && rider.cells() != moves + 1 {
                return Err(format!(
                    "seat {seat}: a riding cycle must have moved every move"
                ));
            }
            if rider.status != Status::Out && rider.trail.is_empty() {
                return Err(format!("seat {seat}: in the match without a cycle"));
            }
            let mut previous: Option<(u16, u16)> = None;
            for cell in rider.trail.chunks_exact(2) {
                let (x, y) = (cell[0], cell[1]);
                let i = self
                    .index(i32::from(x), i32::from(y))
                    .ok_or_else(|| format!("seat {seat}: trail outside the grid"))?;
                if let Some((px, py)) = previous {
                    if px.abs_diff(x) + py.abs_diff(y) != 1 {
                        return Err(format!("seat {seat}: trail is not contiguous"));
                    }
                }
                previous = Some((x, y));
                debug_assert_eq!(i, usize::from(y) * width + usize::from(x));
                let slot = self.grid.get_mut(i).ok_or("grid index")?;
                if *slot != 0 {
                    return Err(format!("seat {seat}: trail crosses another trail"));
                }
                *slot = seat_of(seat) + 1;
            }
        }
        if self.outcome.is_none() {
            if self.in_match().count() < 2 {
                return Err("fewer than two seats in the match but no outcome".into());
            }
            if self.next_move_tick() <= self.tick {
                return Err("a move is overdue".into());
            }
        }
        Ok(())
    }
}

/// The static description of a game with `config`, sent to clients once at join:
///
/// ```json
/// {"kind":"cycles","seats":4,"tick_hz":60,"width":64,"height":48,"move_every":4,
///  "rounds_to_win":3,"round_delay_ms":2000,"max_queued_turns":3,"full_every":300,
///  "inputs":["left","right"]}
/// ```
pub fn describe(config: &CyclesConfig) -> serde_json::Value {
    serde_json::json!({
        "kind": KIND,
        "seats": config.seats,
        "tick_hz": config.tick_hz,
        "width": config.width,
        "height": config.height,
        "move_every": config.move_every,
        "rounds_to_win": config.rounds_to_win,
        "round_delay_ms": config.round_delay_ms,
        "max_queued_turns": MAX_QUEUED_TURNS,
        "full_every": FULL_EVERY_TICKS,
        "inputs": ["left", "right"],
    })
}

/// The spawn cells `(x, y, dir)` for `config.seats` riders: evenly spaced (by perimeter length)
/// around the rectangle inset by an eighth of the width and height, starting at the middle of its
/// left side and going clockwise; each cycle heads inwards, away from the side it is on. Two
/// riders start facing each other at mid-height; four at the middles of the four sides.
pub fn spawns(config: &CyclesConfig) -> Vec<(u16, u16, u8)> {
    let (w, h) = (u64::from(config.width), u64::from(config.height));
    let (left, top) = (w / 8, h / 8);
    let (right, bottom) = (w - 1 - left, h - 1 - top);
    let (iw, ih) = (right - left, bottom - top);
    let perimeter = 2 * (iw + ih);
    let n = u64::from(config.seats.max(1));
    (0..n)
        .map(|k| {
            // Distance clockwise from the middle of the left side.
            let d = (ih / 2 + k * perimeter / n) % perimeter;
            // Position along the loop from the bottom-left corner, upwards first.
            let (x, y, dir) = if d < ih {
                (left, bottom - d, 1)
            } else if d < ih + iw {
                (left + (d - ih), top, 2)
            } else if d < 2 * ih + iw {
                (right, top + (d - ih - iw), 3)
            } else {
                (right - (d - 2 * ih - iw), bottom, 0)
            };
            (
                u16::try_from(x).unwrap_or(0),
                u16::try_from(y).unwrap_or(0),
                dir,
            )
        })
        .collect()
}

impl Game for Cycles {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn seats(&self) -> u8 {
        self.config.seat_count()
    }

    fn tick(&self) -> u64 {
        self.tick
    }

    fn apply_input(&mut self, seat: Seat, input: &serde_json::Value) -> Result<(), InputError> {
        if self.outcome.is_some() {
            return Err(InputError::GameOver);
        }
        let seats = self.seats();
        let rider = self
            .riders
            .get_mut(usize::from(seat))
            .ok_or(InputError::NoSuchSeat { seat, seats })?;
        let turn = parse_input(input)?;
        match rider.status {
            Status::Riding => {}
            Status::Crashed => {
                return Err(InputError::Invalid(
                    "you are out of this round (your cycle crashed)".into(),
                ))
            }
            Status::Out => return Err(InputError::Invalid("you are out of this match".into())),
        }
        if rider.turns.len() >= MAX_QUEUED_TURNS {
            return Err(InputError::Invalid(format!(
                "at most {MAX_QUEUED_TURNS} turns may wait for the next move"
            )));
        }
        rider.turns.push(turn);
        Ok(())
    }

    fn step(&mut self, events: &mut Vec<GameEvent>) {
        if self.outcome.is_some() {
            return;
        }
        self.tick = self.tick.saturating_add(1);
        // A removal between ticks may have left a single rider.
        if self.riding().nth(1).is_none() {
            self.end_round(events);
            return;
        }
        if self.tick < self.next_move_tick() {
            return;
        }
        self.move_all(events);
        if self.riding().nth(1).is_none() {
            self.end_round(events);
        }
    }

    /// The game goes on while a rider is away: their cycle rides straight on until they return
    /// or are removed when the reconnect grace ends.
    fn pauses_when_away(&self) -> bool {
        false
    }

    fn remove_seat(
        &mut self,
        seat: Seat,
        reason: EndReason,
        events: &mut Vec<GameEvent>,
    ) -> Option<Outcome> {
        if let Some(outcome) = &self.outcome {
            return Some(outcome.clone());
        }
        if !self.take_out(seat, reason, events) {
            return None;
        }
        if self.in_match().nth(1).is_none() {
            return Some(self.finish(reason));
        }
        None
    }

    fn sends_deltas(&self) -> bool {
        true
    }

    fn snapshot(&self) -> Box<RawValue> {
        snapshot::full_json(self)
    }

    fn snapshot_bin(&self, out: &mut Vec<u8>) {
        snapshot::full_bin(self, out);
    }

    fn snapshot_since(&self, since: u64) -> Box<RawValue> {
        if snapshot::needs_full(self, since) {
            snapshot::full_json(self)
        } else {
            snapshot::delta_json(self, since)
        }
    }

    fn snapshot_since_bin(&self, since: u64, out: &mut Vec<u8>) {
        if snapshot::needs_full(self, since) {
            snapshot::full_bin(self, out);
        } else {
            snapshot::delta_bin(self, since, out);
        }
    }

    fn spectator_snapshot(&self) -> Box<RawValue> {
        snapshot::full_json(self)
    }

    fn info(&self) -> serde_json::Value {
        describe(&self.config)
    }

    fn scores(&self) -> Vec<u32> {
        self.scores.clone()
    }

    fn outcome(&self) -> Option<Outcome> {
        self.outcome.clone()
    }

    /// `loser` is taken out of the match (as by [`Game::remove_seat`], without the `out` event)
    /// and the game ends now: the seats still in the match ranked by rounds won, then `loser`,
    /// then the seats removed before. A `loser` that is not in the match (the room's "no
    /// loser", 255, for example at the match time limit) takes nobody out: the leader on rounds
    /// wins, and a tie on top has no winner.
    fn end_by_forfeit(&mut self, loser: Seat, reason: EndReason) -> Outcome {
        if let Some(outcome) = &self.outcome {
            return outcome.clone();
        }
        let mut ignored = Vec::new();
        self.take_out(loser, reason, &mut ignored);
        self.finish(reason)
    }

    fn save(&self) -> serde_json::Value {
        // Cannot fail: no maps with non-string keys, no floats.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    fn state_hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"rally/cycles/v1\n");
        // Cannot fail, see `save`.
        hasher.update(serde_json::to_vec(self).unwrap_or_default());
        hex::encode(hasher.finalize())
    }
}

/// Parses an input: the JSON string `"left"` or `"right"`.
fn parse_input(input: &serde_json::Value) -> Result<Turn, InputError> {
    match input.as_str() {
        Some("left") => Ok(Turn::Left),
        Some("right") => Ok(Turn::Right),
        Some(other) => {
            let shown: String = other.chars().take(32).collect();
            Err(InputError::Invalid(format!(
                "cycles input must be \"left\" or \"right\", got {shown:?}"
            )))
        }
        None => Err(InputError::Invalid(format!(
            "cycles input must be the string \"left\" or \"right\", got {}",
            json_type(input)
        ))),
    }
}

/// The cell offset of one move in direction `dir`.
pub fn step_of(dir: u8) -> (i32, i32) {
    match dir % 4 {
        0 => (0, -1),
        1 => (1, 0),
        2 => (0, 1),
        _ => (-1, 0),
    }
}

/// Cells in the grid of `config`.
fn grid_len(config: &CyclesConfig) -> usize {
    config.width as usize * config.height as usize
}

/// A seat index as a [`Seat`] (there are at most [`SEATS_MAX`] seats).
fn seat_of(index: usize) -> Seat {
    Seat::try_from(index).unwrap_or(Seat::MAX)
}

/// The 1-based place behind `ahead` seats.
fn place_of(ahead: usize) -> u8 {
    u8::try_from(ahead + 1).unwrap_or(u8::MAX)
}

/// A [`GameError::BadSave`] for light cycles.
fn bad_save(message: String) -> GameError {
    GameError::BadSave {
        kind: KIND,
        message,
    }
}
