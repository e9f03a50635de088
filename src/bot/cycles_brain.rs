//! Light-cycles bots, client side: [`CyclesModel`] rebuilds the game from full and delta
//! snapshots exactly as a client must (docs/protocol.md §10a), and [`CyclesBrain`] steers one
//! seat away from walls and trails. Pure — no clock, no I/O — and deterministic.
//!
//! Strategy: once per move (when our head reaches a new cell), look at the three cells we could
//! enter next (straight, left, right). A blocked cell is never chosen. Each free one is scored by
//! the free area reachable from it (a flood fill capped at [`AREA_CAP`] cells), halved when
//! another rider's head is next to it (both could enter it: a head-on), and less one when going
//! straight runs into a blocked cell the move after. The best score wins; straight wins ties, so
//! the bot only turns when it must or when turning opens clearly more room. With probability
//! [`WANDER_ONE_IN`]⁻¹ per move it instead takes a random option among those with room (at least
//! half of [`AREA_CAP`] reachable), from its own seeded generator: identical deterministic bots on the
//! point-symmetric spawns otherwise mirror each other and draw every round forever (found by
//! `four_brains_play_a_match_to_the_end`). That is enough to survive a long time alone and to
//! play a 4-player match to the end.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use super::error::{truncate, BotError, BotResult};

/// Flood fills stop after this many cells: beyond it every option is "roomy" and going straight
/// is as good as turning, and a fill costs at most ~10 µs.
pub const AREA_CAP: usize = 1_024;
/// One move in this many takes a random good-enough option instead of the best (see the module
/// docs): rare enough not to cost survival, frequent enough to break symmetric play within a
/// few seconds.
pub const WANDER_ONE_IN: u32 = 64;

/// What the model needs from `joined.info` of a cycles game.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CyclesInfo {
    /// Seats in the match.
    pub seats: u8,
    /// Grid width, cells.
    pub width: u16,
    /// Grid height, cells.
    pub height: u16,
}

impl CyclesInfo {
    /// Reads `joined.info` (`{"kind":"cycles","seats":4,"width":64,"height":48,…}`).
    pub fn from_json(info: &serde_json::Value) -> BotResult<Self> {
        let field = |key: &str, max: u64| -> BotResult<u64> {
            info.get(key)
                .and_then(|v| v.as_u64())
                .filter(|&n| n > 0 && n <= max)
                .ok_or_else(|| BotError::Unexpected {
                    expected: "cycles info with seats, width and height",
                    got: truncate(&info.to_string(), 300),
                })
        };
        Ok(Self {
            seats: u8::try_from(field("seats", 64)?).unwrap_or(u8::MAX),
            width: u16::try_from(field("width", 4096)?).unwrap_or(u16::MAX),
            height: u16::try_from(field("height", 4096)?).unwrap_or(u16::MAX),
        })
    }
}

/// What [`CyclesModel::apply`] did with a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A full snapshot replaced the model.
    Full,
    /// A delta on the tick the model held was applied.
    Delta,
    /// A delta on a tick the model does not hold (a frame was missed, or no full snapshot came
    /// yet): ignored; the model waits for the next full snapshot.
    Stale,
}

/// A snapshot's `state`, full or delta.
#[derive(Deserialize)]
struct WireState {
    tick: u64,
    full: bool,
    #[serde(default)]
    since: Option<u64>,
    round: u32,
    starts_in: u64,
    scores: Vec<u32>,
    status: Vec<u8>,
    heads: Vec<Option<(u16, u16, u8)>>,
    #[serde(default)]
    trails: Option<Vec<Vec<u16>>>,
    #[serde(default)]
    cells: Option<Vec<u16>>,
}

/// The game as a client sees it, rebuilt from snapshots only.
#[derive(Clone, Debug)]
pub struct CyclesModel {
    info: CyclesInfo,
    /// Whether a full snapshot has been applied (deltas need a base).
    held: bool,
    /// Tick of the state held.
    pub tick: u64,
    /// Round, from 1.
    pub round: u32,
    /// Ticks before the cycles move this round; 0 once they move.
    pub starts_in: u64,
    /// Rounds won per seat.
    pub scores: Vec<u32>,
    /// Per seat: 0 riding, 1 crashed this round, 2 out of the match.
    pub status: Vec<u8>,
    /// Per seat: head `(x, y, dir)`, `None` without a cycle this round.
    pub heads: Vec<Option<(u16, u16, u8)>>,
    /// Per seat: trail cells from the spawn to the head.
    pub trails: Vec<Vec<(u16, u16)>>,
    /// Occupied cells (`seat + 1`, 0 free), row by row.
    grid: Vec<u8>,
}

impl CyclesModel {
    /// An empty model for a game described by `info`; it holds nothing until a full snapshot.
    pub fn new(info: CyclesInfo) -> Self {
        Self {
            info,
            held: false,
            tick: 0,
            round: 0,
            starts_in: 0,
            scores: Vec::new(),
            status: Vec::new(),
            heads: Vec::new(),
            trails: Vec::new(),
            grid: vec![0; usize::from(info.width) * usize::from(info.height)],
        }
    }

    /// Whether the model holds a state (a full snapshot arrived and no delta was missed since).
    pub fn holds(&self) -> bool {
        self.held
    }

    /// The game's grid and seats.
    pub fn info(&self) -> CyclesInfo {
        self.info
    }

    /// Applies one snapshot `state` (JSON text). A malformed snapshot is an error and leaves the
    /// model not holding a state, so that it resynchronises on the next full snapshot.
    pub fn apply(&mut self, state: &str) -> BotResult<Applied> {
        let wire: WireState = serde_json::from_str(state).map_err(|e| self.decode(e, state))?;
        let applied = if wire.full {
            let trails = wire.trails.as_ref().ok_or_else(|| self.bad(state))?;
            self.trails = trails
                .iter()
                .map(|t| t.chunks_exact(2).map(|c| (c[0], c[1])).collect())
                .collect();
            self.grid.iter_mut().for_each(|c| *c = 0);
            for seat in 0..self.trails.len() {
                for i in 0..self.trails[seat].len() {
                    let (x, y) = self.trails[seat][i];
                    self.mark(seat, x, y).map_err(|()| self.bad(state))?;
                }
            }
            Applied::Full
        } else {
            if !self.held || wire.since != Some(self.tick) {
                self.held = false;
                return Ok(Applied::Stale);
            }
            let cells = wire.cells.as_ref().ok_or_else(|| self.bad(state))?;
            for c in cells.chunks_exact(3) {
                let seat = usize::from(c[0]);
                let trail = self.trails.get_mut(seat).ok_or_else(|| BotError::Decode {
                    reason: format!("cells name seat {seat}"),
                    frame: truncate(state, 300),
                })?;
                trail.push((c[1], c[2]));
                self.mark(seat, c[1], c[2]).map_err(|()| self.bad(state))?;
            }
            Applied::Delta
        };
        self.tick = wire.tick;
        self.round = wire.round;
        self.starts_in = wire.starts_in;
        self.scores = wire.scores;
        self.status = wire.status;
        self.heads = wire.heads;
        self.held = true;
        Ok(applied)
    }

    /// Whether `(x, y)` is inside the grid and holds no trail.
    pub fn is_free(&self, x: i32, y: i32) -> bool {
        self.index(x, y)
            .and_then(|i| self.grid.get(i))
            .is_some_and(|&c| c == 0)
    }

    fn index(&self, x: i32, y: i32) -> Option<usize> {
        let (w, h) = (i32::from(self.info.width), i32::from(self.info.height));
        ((0..w).contains(&x) && (0..h).contains(&y)).then(|| (y * w + x) as usize)
    }

    fn mark(&mut self, seat: usize, x: u16, y: u16) -> Result<(), ()> {
        let i = self.index(i32::from(x), i32::from(y)).ok_or(())?;
        let cell = self.grid.get_mut(i).ok_or(())?;
        *cell = u8::try_from(seat + 1).map_err(|_| ())?;
        Ok(())
    }

    fn decode(&mut self, e: serde_json::Error, state: &str) -> BotError {
        self.held = false;
        BotError::Decode {
            reason: format!("cycles state: {e}"),
            frame: truncate(state, 300),
        }
    }

    fn bad(&self, state: &str) -> BotError {
        BotError::Decode {
            reason: "cycles state: missing trails/cells or a cell outside the grid".into(),
            frame: truncate(state, 300),
        }
    }

    /// Free cells reachable from `(x, y)` (itself included), at most `cap`.
    pub fn area(&self, x: i32, y: i32, cap: usize) -> usize {
        let Some(start) = self.index(x, y).filter(|_| self.is_free(x, y)) else {
            return 0;
        };
        let w = i32::from(self.info.width);
        let mut seen = vec![false; self.grid.len()];
        let mut stack = vec![start];
        seen[start] = true;
        let mut count = 0;
        while let Some(i) = stack.pop() {
            count += 1;
            if count >= cap {
                break;
            }
            let (cx, cy) = ((i as i32) % w, (i as i32) / w);
            for (dx, dy) in [(0, -1), (1, 0), (0, 1), (-1, 0)] {
                let (nx, ny) = (cx + dx, cy + dy);
                if let Some(j) = self.index(nx, ny) {
                    if !seen[j] && self.grid[j] == 0 {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        count
    }
}

/// Steers one seat; see the module docs.
#[derive(Clone, Debug)]
pub struct CyclesBrain {
    seat: u8,
    /// Source of the occasional wander.
    rng: ChaCha8Rng,
    /// One move in this many wanders; 0 never.
    wander_one_in: u32,
    /// The head cell the last decision was made for: one decision per move, because a turn
    /// sent waits for the next move and a second one would turn again.
    decided_at: Option<(u32, u16, u16)>,
}

impl CyclesBrain {
    /// A brain for `seat`, its wanders drawn from `seed` (give each bot its own).
    pub fn new(seat: u8, seed: u64) -> Self {
        Self {
            seat,
            rng: ChaCha8Rng::seed_from_u64(seed),
            wander_one_in: WANDER_ONE_IN,
            decided_at: None,
        }
    }

    /// The same brain wandering one move in `one_in` (0: never, the pure policy).
    pub fn with_wander(mut self, one_in: u32) -> Self {
        self.wander_one_in = one_in;
        self
    }

    /// The turn to send now (`"left"` or `"right"`), or `None` to ride straight on (or when our
    /// cycle does not ride, or this move was already decided).
    pub fn decide(&mut self, model: &CyclesModel) -> Option<&'static str> {
        let seat = usize::from(self.seat);
        if !model.holds() || model.status.get(seat) != Some(&0) {
            return None;
        }
        let (x, y, dir) = (*model.heads.get(seat)?)?;
        if self.decided_at == Some((model.round, x, y)) {
            return None;
        }
        self.decided_at = Some((model.round, x, y));
        let options = [
            (None, dir),
            (Some("left"), (dir + 3) % 4),
            (Some("right"), (dir + 1) % 4),
        ];
        let mut scored: Vec<(i64, Option<&'static str>)> = Vec::with_capacity(3);
        for (turn, d) in options {
            let (dx, dy) = step_of(d);
            let (nx, ny) = (i32::from(x) + dx, i32::from(y) + dy);
            if !model.is_free(nx, ny) {
                continue;
            }
            let mut score = model.area(nx, ny, AREA_CAP) as i64 * 2;
            if self.head_nearby(model, nx, ny) {
                score /= 2;
            }
            if turn.is_none() && !model.is_free(nx + dx, ny + dy) {
                score -= 1;
            }
            scored.push((score, turn));
        }
        // The first best: straight wins ties.
        let best = scored
            .iter()
            .copied()
            .reduce(|b, o| if o.0 > b.0 { o } else { b })?;
        if self.wander_one_in > 0 && self.rng.gen_ratio(1, self.wander_one_in) {
            // Only where there is room: a wander late in a round would cost the cycle its life.
            let roomy = AREA_CAP as i64;
            let good: Vec<_> = scored.iter().filter(|o| o.0 >= roomy).collect();
            if let Some(pick) = good.get(self.rng.gen_range(0..good.len().max(1))) {
                return pick.1;
            }
        }
        best.1
    }

    /// Whether another riding cycle's head is next to `(x, y)`.
    fn head_nearby(&self, model: &CyclesModel, x: i32, y: i32) -> bool {
        model.heads.iter().enumerate().any(|(seat, head)| {
            seat != usize::from(self.seat)
                && model.status.get(seat) == Some(&0)
                && head.is_some_and(|(hx, hy, _)| {
                    (i32::from(hx) - x).abs() + (i32::from(hy) - y).abs() == 1
                })
        })
    }
}

/// The cell offset of one move in direction `dir` (0 up, 1 right, 2 down, 3 left).
fn step_of(dir: u8) -> (i32, i32) {
    crate::game::cycles::step_of(dir)
}

#[cfg(test)]
#[path = "cycles_brain_tests.rs"]
mod tests;
