//! Light-cycles configuration: what a room creator (or the matchmaker, for the seat count) may
//! tune, validated before a game starts.

use serde::{Deserialize, Serialize};

use super::KIND;
use crate::game::GameError;

/// Fewest seats: a free-for-all needs two riders.
pub const SEATS_MIN: u32 = 2;
/// Most seats: eight colours stay distinguishable on a small screen, and eight spawns fit evenly
/// around the smallest grid (16 × 16) with four free cells between neighbours.
pub const SEATS_MAX: u32 = 8;
/// Smallest grid side: below 16 cells eight riders have no room to turn before meeting.
pub const SIDE_MIN: u32 = 16;
/// Largest grid side: 128 × 128 = 16 384 cells keeps a full snapshot of a grid filled with trails
/// under about 130 KB of JSON, and a cell index in 14 bits.
pub const SIDE_MAX: u32 = 128;
/// Most rounds needed to win: beyond 9 a match of eight players lasts well over ten minutes.
pub const ROUNDS_TO_WIN_MAX: u32 = 9;
/// Slowest movement, ticks per cell: 30 ticks at 60 Hz is 2 cells per second, a crawl; anything
/// slower is not a game of reflexes any more.
pub const MOVE_EVERY_MAX: u32 = 30;
/// Longest pause before the cycles move at each round start: 10 s; a longer pause looks like a
/// hang.
pub const ROUND_DELAY_MS_MAX: u32 = 10_000;
pub use crate::game::{TICK_HZ_MAX, TICK_HZ_MIN};

/// Light-cycles settings. Missing fields take their defaults; unknown fields are rejected so that
/// a typo is not silently ignored. Every field is an unsigned integer checked against its range,
/// so a refusal names the field and the range.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct CyclesConfig {
    /// Number of riders, `2..=8`. Default 4 (the quick-match size).
    pub seats: u32,
    /// Grid width in cells, `16..=128`. Default 64.
    pub width: u32,
    /// Grid height in cells, `16..=128`. Default 48.
    pub height: u32,
    /// Rounds a seat must win to win the match, `1..=9`. Default 3.
    pub rounds_to_win: u32,
    /// Ticks per cell of movement, `1..=30`. Default 4 (15 cells per second at 60 Hz).
    pub move_every: u32,
    /// Game time in milliseconds before the cycles move at each round start, `0..=10000`.
    /// Default 2000. Rounded down to whole ticks, at least one tick.
    pub round_delay_ms: u32,
    /// Simulation rate in ticks per second, `10..=240`. Default 60. The server fills it in from
    /// its own setting as for Pong.
    pub tick_hz: u32,
}

impl Default for CyclesConfig {
    fn default() -> Self {
        Self {
            seats: 4,
            width: 64,
            height: 48,
            rounds_to_win: 3,
            move_every: 4,
            round_delay_ms: 2_000,
            tick_hz: 60,
        }
    }
}

impl CyclesConfig {
    /// Parses a config from JSON: `null` means all defaults, an object may give any subset of
    /// fields. The result is validated.
    pub fn from_json(json: &serde_json::Value) -> Result<Self, GameError> {
        let config: Self = crate::game::parse_config(KIND, json)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every field's range (see the field docs).
    pub fn validate(&self) -> Result<(), GameError> {
        check("seats", self.seats, SEATS_MIN, SEATS_MAX)?;
        check("width", self.width, SIDE_MIN, SIDE_MAX)?;
        check("height", self.height, SIDE_MIN, SIDE_MAX)?;
        check("rounds_to_win", self.rounds_to_win, 1, ROUNDS_TO_WIN_MAX)?;
        check("move_every", self.move_every, 1, MOVE_EVERY_MAX)?;
        check("round_delay_ms", self.round_delay_ms, 0, ROUND_DELAY_MS_MAX)?;
        check("tick_hz", self.tick_hz, TICK_HZ_MIN, TICK_HZ_MAX)?;
        Ok(())
    }

    /// The number of seats as a [`crate::game::Seat`] count. Assumes a validated config.
    pub fn seat_count(&self) -> u8 {
        u8::try_from(self.seats).unwrap_or(u8::MAX)
    }

    /// Ticks from a round's start to its first move: `round_delay_ms` in whole ticks, at least
    /// one. Assumes a validated config.
    pub fn delay_ticks(&self) -> u64 {
        (u64::from(self.round_delay_ms) * u64::from(self.tick_hz) / 1000).max(1)
    }
}

/// Checks that `value` is in `min..=max`.
fn check(field: &str, value: u32, min: u32, max: u32) -> Result<(), GameError> {
    crate::game::check_range(KIND, field, value, min, max)
}
