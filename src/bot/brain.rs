//! [`PongBrain`]: decides `up`, `down` or `stop` from Pong snapshots. Pure — no clock, no I/O —
//! and seeded, so a bot's play is reproducible.
//!
//! Strategy: while the ball comes towards our paddle, follow its y; otherwise return to the
//! centre. Following (rather than predicting the intercept) is what a casual player does, and
//! Pong's physics guarantee that a follower eventually loses a rally. To keep matches short and
//! varied, each approaching ball is, with probability `miss_rate`, played badly: the paddle
//! either freezes or aims beside the ball.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::game::pong;
pub use crate::game::pong::Intent;

use super::error::{BotError, BotResult};

/// A Pong snapshot's `state` (see `game::pong`): positions in field units (centres), velocities
/// in field units per second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct PongState {
    /// Game tick.
    pub tick: u64,
    /// Ball `[x, y, vx, vy]`.
    pub ball: [i64; 4],
    /// Paddle centres `[y0, y1]`.
    pub paddles: [i64; 2],
    /// Scores `[seat 0, seat 1]`.
    pub scores: [u32; 2],
    /// Ticks before the next serve; 0 while the ball is in play.
    pub serving_in: u32,
}

impl PongState {
    /// Decodes a snapshot's `state`.
    pub fn parse(raw: &str) -> BotResult<Self> {
        serde_json::from_str(raw).map_err(|e| BotError::Decode {
            reason: format!("pong state: {e}"),
            frame: super::error::truncate(raw, 300),
        })
    }
}

/// What the brain needs from Pong's `joined.info` (see `game::pong::describe`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PongInfo {
    /// Field height, units.
    pub field_height: i64,
    /// Paddle height, units.
    pub paddle_height: i64,
    /// Paddle centre x per seat, units.
    pub paddle_x: [i64; 2],
    /// Paddle speed, units per second.
    pub paddle_speed: i64,
    /// Ball side, units.
    pub ball_size: i64,
    /// Simulation rate, Hz.
    pub tick_hz: i64,
    /// Points needed to win, when the server said.
    pub points_to_win: Option<u32>,
}

impl Default for PongInfo {
    /// Pong's default configuration.
    fn default() -> Self {
        Self::from_config(&pong::PongConfig::default())
    }
}

impl PongInfo {
    /// The info of a game with `config`.
    pub fn from_config(config: &pong::PongConfig) -> Self {
        Self {
            field_height: pong::FIELD_HEIGHT,
            paddle_height: i64::from(config.paddle_height),
            paddle_x: [pong::PADDLE_INSET, pong::FIELD_WIDTH - pong::PADDLE_INSET],
            paddle_speed: i64::from(config.paddle_speed),
            ball_size: pong::BALL_SIZE,
            tick_hz: i64::from(config.tick_hz),
            points_to_win: Some(config.points_to_win),
        }
    }

    /// Reads `joined.info`; a field that is missing keeps Pong's default, a field of the wrong
    /// type or out of range is an error.
    pub fn from_json(info: &serde_json::Value) -> BotResult<Self> {
        let mut out = Self::default();
        let bad = |what: &str| BotError::Unexpected {
            expected: "pong info with positive integer sizes",
            got: format!("{what} = {}", info),
        };
        let int = |path: &[&str]| -> BotResult<Option<i64>> {
            let mut v = info;
            for key in path {
                match v.get(key) {
                    Some(next) => v = next,
                    None => return Ok(None),
                }
            }
            match v.as_i64() {
                Some(n) if n > 0 => Ok(Some(n)),
                _ => Err(bad(&path.join("."))),
            }
        };
        if let Some(h) = int(&["field", "height"])? {
            out.field_height = h;
        }
        if let Some(h) = int(&["paddle", "height"])? {
            out.paddle_height = h;
        }
        if let Some(s) = int(&["paddle", "speed"])? {
            out.paddle_speed = s;
        }
        if let Some(s) = int(&["ball", "size"])? {
            out.ball_size = s;
        }
        if let Some(hz) = int(&["tick_hz"])? {
            out.tick_hz = hz;
        }
        if let Some(p) = int(&["points_to_win"])? {
            out.points_to_win = u32::try_from(p).ok();
        }
        if let Some(xs) = info.get("paddle").and_then(|p| p.get("x")) {
            match xs
                .as_array()
                .map(|a| a.iter().map(|x| x.as_i64()).collect::<Vec<_>>())
            {
                Some(v) if v.len() == 2 && v.iter().all(|x| x.is_some()) => {
                    out.paddle_x = [v[0].unwrap_or_default(), v[1].unwrap_or_default()];
                }
                _ => return Err(bad("paddle.x")),
            }
        }
        if out.paddle_height >= out.field_height {
            return Err(bad("paddle.height"));
        }
        Ok(out)
    }

    /// Whether `state` shows the game won on points (its last snapshot): inputs sent after it
    /// would race the end of the match.
    pub fn is_over(&self, state: &PongState) -> bool {
        self.points_to_win
            .is_some_and(|p| state.scores.iter().any(|&s| s >= p))
    }

    /// How far a paddle moves in one tick, units (at least 1).
    fn step(&self) -> i64 {
        (self.paddle_speed / self.tick_hz.max(1)).max(1)
    }
}

/// How the brain plays the ball currently coming towards it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Follow the ball.
    Track,
    /// A planned miss: stay still until the ball has gone.
    Freeze,
    /// A planned miss: keep the paddle beside the ball, on the side `dir` (+1 below, −1 above)
    /// where possible.
    AimWrong {
        /// +1: aim below the ball; −1: above.
        dir: i64,
    },
}

/// Decides Pong inputs for one seat. Feed it every snapshot; it returns the intent the paddle
/// should hold (send an input only when that changes).
#[derive(Clone, Debug)]
pub struct PongBrain {
    seat: u8,
    info: PongInfo,
    miss_rate: f64,
    rng: ChaCha8Rng,
    /// The plan for the ball coming towards us; `None` when it is not.
    plan: Option<Plan>,
    /// The intent returned last (for hysteresis).
    current: Intent,
    approaches: u64,
    planned_misses: u64,
}

impl PongBrain {
    /// A brain for `seat` (0 left, 1 right) in a game described by `info`, missing each
    /// approaching ball with probability `miss_rate` (clamped to 0..=1), seeded by `seed`.
    pub fn new(seat: u8, info: PongInfo, miss_rate: f64, seed: u64) -> Self {
        let miss_rate = if miss_rate.is_finite() {
            miss_rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Self {
            seat: seat.min(1),
            info,
            miss_rate,
            rng: ChaCha8Rng::seed_from_u64(seed),
            plan: None,
            current: Intent::Stop,
            approaches: 0,
            planned_misses: 0,
        }
    }

    /// The seat this brain plays.
    pub fn seat(&self) -> u8 {
        self.seat
    }

    /// The plan for the current approaching ball, if one is coming.
    pub fn plan(&self) -> Option<Plan> {
        self.plan
    }

    /// Approaching balls seen so far.
    pub fn approaches(&self) -> u64 {
        self.approaches
    }

    /// How many of them were planned misses.
    pub fn planned_misses(&self) -> u64 {
        self.planned_misses
    }

    /// Whether the ball is in play and moving towards our goal, not yet behind our paddle.
    fn approaching(&self, s: &PongState) -> bool {
        let [x, _, vx, _] = s.ball;
        if s.serving_in > 0 || vx == 0 {
            return false;
        }
        let px = self.info.paddle_x[usize::from(self.seat)];
        if self.seat == 0 {
            vx < 0 && x > px
        } else {
            vx > 0 && x < px
        }
    }

    /// The intent to hold after seeing `s`.
    pub fn decide(&mut self, s: &PongState) -> Intent {
        if self.approaching(s) {
            if self.plan.is_none() {
                self.plan = Some(self.roll(s.ball[1]));
                self.approaches += 1;
            }
        } else {
            self.plan = None;
        }
        let target = match self.plan {
            None => self.info.field_height / 2,
            Some(Plan::Track) => s.ball[1],
            Some(Plan::Freeze) => {
                self.current = Intent::Stop;
                return Intent::Stop;
            }
            Some(Plan::AimWrong { dir }) => self.miss_target(s.ball[1], dir),
        };
        let paddle = s.paddles[usize::from(self.seat)];
        self.current = self.steer(paddle, self.clamp_centre(target));
        self.current
    }

    /// Draws the plan for a new approaching ball at height `ball_y`.
    fn roll(&mut self, ball_y: i64) -> Plan {
        if !self.rng.gen_bool(self.miss_rate) {
            return Plan::Track;
        }
        self.planned_misses += 1;
        if self.rng.gen_bool(0.5) {
            Plan::Freeze
        } else {
            // Aim towards the roomier side so the paddle can actually get beside the ball.
            let dir = if ball_y < self.info.field_height / 2 {
                1
            } else {
                -1
            };
            Plan::AimWrong { dir }
        }
    }

    /// A paddle centre on side `dir` of the ball that does not cover it; the other side when the
    /// wall leaves no room.
    fn miss_target(&self, ball_y: i64, dir: i64) -> i64 {
        let i = &self.info;
        let clear = i.paddle_height / 2 + i.ball_size;
        let offset = clear + i.paddle_height / 4;
        let first = self.clamp_centre(ball_y + dir * offset);
        if (first - ball_y).abs() >= clear {
            first
        } else {
            self.clamp_centre(ball_y - dir * offset)
        }
    }

    /// Keeps a paddle centre inside the field.
    fn clamp_centre(&self, y: i64) -> i64 {
        let half = self.info.paddle_height / 2;
        y.clamp(half, (self.info.field_height - half).max(half))
    }

    /// Moves towards `target` with hysteresis: start when more than a quarter paddle away, stop
    /// within two ticks of travel, so that a latency of a tick or two neither overshoots by
    /// more than a fraction of the paddle nor makes the paddle oscillate.
    fn steer(&self, paddle: i64, target: i64) -> Intent {
        let diff = target - paddle; // > 0: target below (larger y)
        let stop_within = self.info.step() * 2;
        let start_beyond = (self.info.paddle_height / 4).max(stop_within + 1);
        let keep_going = |dir: i64| diff * dir > stop_within;
        match self.current {
            Intent::Down if keep_going(1) => Intent::Down,
            Intent::Up if keep_going(-1) => Intent::Up,
            _ if diff > start_beyond => Intent::Down,
            _ if diff < -start_beyond => Intent::Up,
            _ => Intent::Stop,
        }
    }
}

/// The wire value of an intent (`"up"`, `"down"`, `"stop"`).
pub fn intent_value(intent: Intent) -> serde_json::Value {
    serde_json::Value::from(match intent {
        Intent::Up => "up",
        Intent::Down => "down",
        Intent::Stop => "stop",
    })
}

#[cfg(test)]
#[path = "brain_tests.rs"]
mod tests;
