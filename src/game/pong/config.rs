//! Pong configuration: what a room creator may tune, validated before a game starts, and the
//! per-tick values derived from it.

use serde::{Deserialize, Serialize};

use super::{BALL_SIZE, FIELD_HEIGHT, KIND, MIN_BOUNCE_SIN_PERMILLE, SUB};
use crate::game::GameError;

/// Most points a game may be played to: 21 is the longest common target (table tennis); longer
/// games belong to a different mode and make match records and replays long.
pub const POINTS_TO_WIN_MAX: u32 = 21;
pub use crate::game::{TICK_HZ_MAX, TICK_HZ_MIN};
/// Longest pause after a point: beyond 5 s a pause looks like a hang.
pub const SERVE_DELAY_MS_MAX: u32 = 5_000;
/// Tallest paddle: a third of the field. With taller paddles a paddle that merely follows the
/// ball covers so much of its side that rallies can go on forever (found by the
/// `sweep_rally_lengths` test at half the field).
pub const PADDLE_HEIGHT_MAX: u32 = (FIELD_HEIGHT / 3) as u32;
/// Slowest paddle: 1 000 units/s crosses the field in 9 s, unplayable below.
pub const PADDLE_SPEED_MIN: u32 = 1_000;
/// Fastest paddle, in thousandths of `max_ball_speed`: three quarters of the slowest vertical
/// speed of a top-speed return (sin 30° = 0.5, so 375 ‰). A paddle that only follows the ball
/// chasing a top-speed ball loses at least a quarter of the ball's vertical speed, which is what
/// ends rallies; with a smaller margin a follower can lock into an endless periodic rally.
pub const PADDLE_SPEED_MAX_PERMILLE_OF_BALL: u64 = MIN_BOUNCE_SIN_PERMILLE as u64 * 3 / 4;
/// Slowest ball: 1 000 units/s crosses the field in 16 s, boring below.
pub const BALL_SPEED_MIN: u32 = 1_000;
/// Slowest allowed top speed: the least that still outruns the slowest paddle (see
/// [`PADDLE_SPEED_MAX_PERMILLE_OF_BALL`]).
pub const MAX_BALL_SPEED_MIN: u32 =
    (PADDLE_SPEED_MIN as u64 * 1000).div_ceil(PADDLE_SPEED_MAX_PERMILLE_OF_BALL) as u32;
/// Fastest ball: 64 000 units/s crosses the field in 0.25 s, about a human reaction time; faster
/// points are luck.
pub const BALL_SPEED_MAX: u32 = 64_000;
/// Smallest speed-up per paddle hit: 1 %, so that even perfect play reaches top speed (where
/// rallies end) within about 140 hits.
pub const SPEEDUP_PERMILLE_MIN: u32 = 10;
/// Largest speed-up per paddle hit: 50 %; more and one hit can double the speed.
pub const SPEEDUP_PERMILLE_MAX: u32 = 500;

/// Pong settings. Lengths are field units (the field is
/// [`FIELD_WIDTH`](super::FIELD_WIDTH) × [`FIELD_HEIGHT`] units) and speeds are field units per
/// second, so they do not depend on `tick_hz`. Missing fields take their defaults; unknown
/// fields are rejected so that a typo is not silently ignored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PongConfig {
    /// Points needed to win, `1..=21`. Default 5.
    pub points_to_win: u32,
    /// Simulation rate in ticks per second, `10..=240`. Default 60.
    pub tick_hz: u32,
    /// Pause in milliseconds before each serve (at the start and after every point), `0..=5000`.
    /// Default 1000. Rounded down to whole ticks, at least one tick.
    pub serve_delay_ms: u32,
    /// Paddle height in field units, from the ball size (240) to a third of the field (3000).
    /// Default 1800 (a fifth of the field).
    pub paddle_height: u32,
    /// Paddle speed in units per second, from 1000 to 37.5 % of `max_ball_speed` (see
    /// [`PongConfig::validate`]). Default 12000 (the field height in 0.75 s; the most allowed
    /// with the default top speed).
    pub paddle_speed: u32,
    /// Ball speed at each serve, units per second, `1000..=max_ball_speed`. Default 8000 (the
    /// field width in 2 s).
    pub ball_speed: u32,
    /// Speed gained on each paddle hit, in thousandths of the current speed, `10..=500`.
    /// Default 60 (+6 %, top speed after about 24 hits).
    pub ball_speedup_permille: u32,
    /// Top ball speed, units per second, `2667..=64000`. Default 32000 (the field width in 0.5 s).
    pub max_ball_speed: u32,
}

impl Default for PongConfig {
    fn default() -> Self {
        Self {
            points_to_win: 5,
            tick_hz: 60,
            serve_delay_ms: 1_000,
            paddle_height: 1_800,
            paddle_speed: 12_000,
            ball_speed: 8_000,
            ball_speedup_permille: 60,
            max_ball_speed: 32_000,
        }
    }
}

/// Values derived from a [`PongConfig`], in sub-units per tick. Recomputed from the config when
/// needed (a few integer divisions) rather than stored, so a saved state cannot contradict them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tuning {
    /// Half the paddle height, sub-units.
    pub paddle_half: i64,
    /// Paddle movement per tick, sub-units.
    pub paddle_step: i64,
    /// Ball speed at serve, sub-units per tick.
    pub serve_speed: i64,
    /// Top ball speed, sub-units per tick.
    pub max_speed: i64,
    /// Speed-up per hit, thousandths.
    pub speedup_permille: i64,
    /// Ticks between a point (or the start) and the serve, at least 1.
    pub serve_delay_ticks: u32,
    /// Ball sub-steps per tick, so that no sub-step moves the ball more than half its size and
    /// the ball cannot pass through a paddle.
    pub substeps: i64,
}

impl PongConfig {
    /// Parses a config from JSON: `null` means all defaults, an object may give any subset of
    /// fields. The result is validated.
    pub fn from_json(json: &serde_json::Value) -> Result<Self, GameError> {
        let config: Self = crate::game::parse_config(KIND, json)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every field's range (see the field docs) and that rallies must end: at
    /// `max_ball_speed` even the shallowest return off a paddle climbs clearly faster than a
    /// paddle can move (`paddle_speed <= 0.75 × max_ball_speed × sin 30°`), so a paddle that only
    /// follows the ball falls behind and eventually misses. The margin and the paddle height
    /// limit come from sweeping the corners of the allowed space (`sweep_rally_lengths`).
    pub fn validate(&self) -> Result<(), GameError> {
        check("points_to_win", self.points_to_win, 1, POINTS_TO_WIN_MAX)?;
        check("tick_hz", self.tick_hz, TICK_HZ_MIN, TICK_HZ_MAX)?;
        check("serve_delay_ms", self.serve_delay_ms, 0, SERVE_DELAY_MS_MAX)?;
        check(
            "paddle_height",
            self.paddle_height,
            BALL_SIZE as u32,
            PADDLE_HEIGHT_MAX,
        )?;
        check(
            "max_ball_speed",
            self.max_ball_speed,
            MAX_BALL_SPEED_MIN,
            BALL_SPEED_MAX,
        )?;
        check(
            "ball_speed",
            self.ball_speed,
            BALL_SPEED_MIN,
            self.max_ball_speed,
        )?;
        check(
            "ball_speedup_permille",
            self.ball_speedup_permille,
            SPEEDUP_PERMILLE_MIN,
            SPEEDUP_PERMILLE_MAX,
        )?;
        let paddle_max = u32::try_from(
            u64::from(self.max_ball_speed) * PADDLE_SPEED_MAX_PERMILLE_OF_BALL / 1000,
        )
        .unwrap_or(u32::MAX);
        if self.paddle_speed < PADDLE_SPEED_MIN || self.paddle_speed > paddle_max {
            return Err(bad(format!(
                "paddle_speed must be in {PADDLE_SPEED_MIN}..={paddle_max} (at most 37.5 % \
                 of max_ball_speed, so that rallies end), got {}",
                self.paddle_speed
            )));
        }
        Ok(())
    }

    /// The per-tick values for this config. Assumes a validated config.
    pub(super) fn tuning(&self) -> Tuning {
        let hz = i64::from(self.tick_hz.max(1));
        let per_tick = |units_per_second: u32| (i64::from(units_per_second) * SUB / hz).max(1);
        let max_speed = per_tick(self.max_ball_speed);
        let half_ball = BALL_SIZE * SUB / 2;
        let delay = u64::from(self.serve_delay_ms) * u64::from(self.tick_hz) / 1000;
        Tuning {
            paddle_half: i64::from(self.paddle_height) * SUB / 2,
            paddle_step: per_tick(self.paddle_speed),
            serve_speed: per_tick(self.ball_speed),
            max_speed,
            speedup_permille: i64::from(self.ball_speedup_permille),
            serve_delay_ticks: u32::try_from(delay).unwrap_or(u32::MAX).max(1),
            substeps: (max_speed + half_ball - 1) / half_ball,
        }
    }
}

/// A [`GameError::BadConfig`] for Pong.
fn bad(message: String) -> GameError {
    GameError::BadConfig {
        kind: KIND,
        message,
    }
}

/// Checks that `value` is in `min..=max`.
fn check(field: &str, value: u32, min: u32, max: u32) -> Result<(), GameError> {
    crate::game::check_range(KIND, field, value, min, max)
}
