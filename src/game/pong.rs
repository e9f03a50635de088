//! Pong, the reference game: two paddles, one ball, first to `points_to_win`.
//!
//! # Rules
//! - Seat 0 defends the left goal line (x = 0), seat 1 the right one (x = [`FIELD_WIDTH`]).
//!   y grows downwards. The ball bounces off the top and bottom walls; a ball whose centre
//!   crosses a goal line is a point for the other seat.
//! - Inputs are the JSON strings `"up"`, `"down"`, `"stop"`; an intent holds until the next input.
//!   Paddles move at a bounded speed and stay inside the field.
//! - Each paddle hit speeds the ball up by `ball_speedup_permille` (up to `max_ball_speed`) and
//!   sends it back at an angle set only by where it hit the paddle: between 30° at the centre and
//!   60° at the edge, upwards above the centre. Because even the shallowest return at top speed
//!   climbs faster than a paddle can move, a paddle that merely follows the ball eventually
//!   misses: rallies end (see the `rallies_end_*` tests).
//! - Before the first serve and after every point the ball rests in the centre for
//!   `serve_delay_ms`. The first serve goes towards a random seat; after a point the ball is
//!   served towards the seat that conceded it, so the side that just lost the point gets the
//!   slow ball to return. The serve angle (10° to 30°, up or down) is the only other random choice.
//!
//! # Determinism
//! All physics is integer arithmetic in sub-units ([`SUB`] per field unit), randomness comes only
//! from the [`GameRng`] in the state, and the state serialises field by field in a fixed order,
//! so [`Game::state_hash`] is the same on every machine for the same seed and inputs.
//!
//! # Wire formats
//! Snapshot (every tick, compact): `{"tick":123,"ball":[x,y,vx,vy],"paddles":[y0,y1],
//! "scores":[a,b],"serving_in":0}` — positions are field units (centres), velocities field
//! units per second, `serving_in` the ticks left before the serve (0 while the ball is in play).
//! Static info (once, at join): see [`describe`]. Custom events: `serve` with
//! `{"towards":seat}` when the ball leaves the centre, `hit` with `{"seat":seat}` on each paddle
//! hit (for sounds and effects).

mod config;
mod physics;
#[cfg(test)]
mod tests;

pub use config::{
    PongConfig, BALL_SPEED_MAX, BALL_SPEED_MIN, MAX_BALL_SPEED_MIN, PADDLE_HEIGHT_MAX,
    PADDLE_SPEED_MAX_PERMILLE_OF_BALL, PADDLE_SPEED_MIN, POINTS_TO_WIN_MAX, SERVE_DELAY_MS_MAX,
    SPEEDUP_PERMILLE_MAX, SPEEDUP_PERMILLE_MIN, TICK_HZ_MAX, TICK_HZ_MIN,
};
pub use physics::Intent;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::game::{
    json_type, EndReason, Game, GameError, GameEvent, GameRng, InputError, Outcome, Seat,
};
use physics::Ball;

/// The kind name used by [`crate::game::create`].
pub const KIND: &str = "pong";
/// Pong has two seats: 0 (left) and 1 (right).
pub const SEATS: u8 = 2;
/// Sub-units per field unit: the physics runs in 1/256 field units so that per-tick velocities
/// keep three significant digits even at 240 Hz, while positions stay far from `i64` limits.
pub const SUB: i64 = 256;
/// Field width in field units. 16:9 like most screens; large enough that whole units are finer
/// than any screen pixel, small enough that snapshot numbers have at most five digits.
pub const FIELD_WIDTH: i64 = 16_000;
/// Field height in field units (see [`FIELD_WIDTH`]).
pub const FIELD_HEIGHT: i64 = 9_000;
/// Side of the square ball, field units (1.5 % of the width, visible on a phone).
pub const BALL_SIZE: i64 = 240;
/// Paddle thickness, field units (same as the ball).
pub const PADDLE_WIDTH: i64 = 240;
/// Distance from a goal line to its paddle's centre, field units: leaves room behind the paddle
/// so that a miss is visible before the point is given.
pub const PADDLE_INSET: i64 = 640;
/// Sine (thousandths) of the shallowest return angle, 30°. A perfectly centred hit still leaves
/// at this angle, so a top-speed ball climbs at least half its speed per second; with the config
/// rule `paddle_speed <= 0.375 × max_ball_speed` that is faster than any paddle, which is what
/// ends rallies.
pub const MIN_BOUNCE_SIN_PERMILLE: i64 = 500;
/// Sine (thousandths) of the steepest return angle, 60°: steeper returns bounce between the walls
/// for long and cross slowly.
pub const MAX_BOUNCE_SIN_PERMILLE: i64 = 866;
/// Sine (thousandths) of the shallowest serve angle, 10°.
pub const SERVE_MIN_SIN_PERMILLE: u32 = 174;
/// Sine (thousandths) of the steepest serve angle, 30°: serves are gentle and easy to read.
pub const SERVE_MAX_SIN_PERMILLE: u32 = 500;

/// One paddle: its centre and its held intent.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
struct Paddle {
    /// Centre y, sub-units.
    y: i64,
    /// What the player last asked for; applied on every step.
    intent: Intent,
}

/// The whole state of a Pong game. Fields serialise in declaration order; together with integer
/// physics that makes the JSON (and so the hash) canonical.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Pong {
    /// The validated configuration.
    config: PongConfig,
    /// Ticks simulated so far.
    tick: u64,
    /// The ball.
    ball: Ball,
    /// Seat 0's and seat 1's paddles.
    paddles: [Paddle; 2],
    /// Points per seat.
    scores: [u32; 2],
    /// Ticks left before the next serve; 0 while the ball is in play.
    serving_in: u32,
    /// The seat whose goal the next serve heads for.
    serve_to: Seat,
    /// The only source of randomness.
    rng: GameRng,
    /// Set when the game ends; nothing moves after that.
    outcome: Option<Outcome>,
}

/// The per-tick snapshot, see the module docs.
#[derive(Serialize)]
struct Snapshot {
    tick: u64,
    ball: [i64; 4],
    paddles: [i64; 2],
    scores: [u32; 2],
    serving_in: u32,
}

impl Pong {
    /// A new game: ball at rest in the centre, paddles centred, first serve after the serve
    /// delay towards a seat drawn from `seed`.
    pub fn new(config: PongConfig, seed: u64) -> Self {
        let mut rng = GameRng::seeded(seed);
        let serve_to = if rng.below(2) == 0 { 0 } else { 1 };
        let t = config.tuning();
        let centre = Paddle {
            y: FIELD_HEIGHT * SUB / 2,
            intent: Intent::Stop,
        };
        Self {
            tick: 0,
            ball: Ball::centred(),
            paddles: [centre; 2],
            scores: [0; 2],
            serving_in: t.serve_delay_ticks,
            serve_to,
            rng,
            outcome: None,
            config,
        }
    }

    /// Rebuilds a game from [`Game::save`] output, re-validating the config and the state so that
    /// a corrupted checkpoint is refused rather than simulated.
    pub fn restore(saved: &serde_json::Value) -> Result<Self, GameError> {
        let game = Self::deserialize(saved).map_err(|e| bad_save(e.to_string()))?;
        game.config.validate()?;
        game.check().map_err(bad_save)?;
        Ok(game)
    }

    /// The configuration this game runs with.
    pub fn config(&self) -> &PongConfig {
        &self.config
    }

    /// Checks the state invariants: everything inside the field, speeds within limits, scores
    /// consistent with the outcome.
    fn check(&self) -> Result<(), String> {
        let t = self.config.tuning();
        for (seat, paddle) in self.paddles.iter().enumerate() {
            if physics::clamp_paddle(paddle.y, &t) != paddle.y {
                return Err(format!("paddle {seat} is outside the field"));
            }
        }
        let b = &self.ball;
        let inside =
            (0..=FIELD_WIDTH * SUB).contains(&b.x) && (0..=FIELD_HEIGHT * SUB).contains(&b.y);
        if !inside {
            return Err("the ball is outside the field".into());
        }
        if !(0..=t.max_speed).contains(&b.speed)
            || b.vx.unsigned_abs() > b.speed.unsigned_abs()
            || b.vy.unsigned_abs() > b.speed.unsigned_abs()
        {
            return Err("the ball is faster than max_ball_speed".into());
        }
        if self.outcome.is_none() && self.serving_in == 0 && b.vx == 0 {
            return Err("the ball is at rest but no serve is pending".into());
        }
        if self.serve_to >= SEATS {
            return Err(format!("serve_to {} is not a seat", self.serve_to));
        }
        if self.serving_in > t.serve_delay_ticks {
            return Err("serving_in exceeds the serve delay".into());
        }
        let target = self.config.points_to_win;
        let reached = self.scores.iter().any(|&s| s >= target);
        if self.scores.iter().any(|&s| s > target) || (reached && self.outcome.is_none()) {
            return Err("scores are inconsistent with points_to_win".into());
        }
        Ok(())
    }

    /// Serves the ball from the centre towards `serve_to` at a random angle.
    fn serve(&mut self, events: &mut Vec<GameEvent>) {
        let t = self.config.tuning();
        let span = SERVE_MAX_SIN_PERMILLE - SERVE_MIN_SIN_PERMILLE + 1;
        let sin = SERVE_MIN_SIN_PERMILLE + self.rng.below(span);
        let up = self.rng.below(2) == 0;
        self.ball = physics::serve(self.serve_to, t.serve_speed, i64::from(sin), up);
        events.push(GameEvent::Custom {
            name: "serve".into(),
            data: serde_json::json!({ "towards": self.serve_to }),
        });
    }

    /// Gives a point to `scorer`, ends the game at `points_to_win`, otherwise re-centres the ball
    /// for a serve towards the seat that conceded.
    fn point(&mut self, scorer: Seat, events: &mut Vec<GameEvent>) {
        let Some(score) = self.scores.get_mut(usize::from(scorer)) else {
            return;
        };
        *score += 1;
        let won = *score >= self.config.points_to_win;
        events.push(GameEvent::Scored {
            seat: scorer,
            scores: self.scores.to_vec(),
        });
        self.ball = Ball::centred();
        if won {
            let outcome = Outcome {
                winner: Some(scorer),
                scores: self.scores.to_vec(),
                reason: EndReason::Score,
                places: Outcome::places_for_winner(usize::from(SEATS), Some(scorer)),
            };
            self.outcome = Some(outcome.clone());
            events.push(GameEvent::Ended { outcome });
        } else {
            self.serve_to = 1 - scorer;
            self.serving_in = self.config.tuning().serve_delay_ticks;
        }
    }

    /// Encodes the snapshot; cannot fail for this plain struct of integers.
    fn encode_snapshot(&self) -> Box<RawValue> {
        serde_json::value::to_raw_value(&self.snapshot_values())
            .unwrap_or_else(|_| RawValue::NULL.to_owned())
    }

    /// The public state in client units (what both encodings of the snapshot carry).
    fn snapshot_values(&self) -> Snapshot {
        let hz = i64::from(self.config.tick_hz);
        let units = |sub: i64| (sub + SUB / 2).div_euclid(SUB);
        let b = &self.ball;
        Snapshot {
            tick: self.tick,
            ball: [units(b.x), units(b.y), b.vx * hz / SUB, b.vy * hz / SUB],
            paddles: [units(self.paddles[0].y), units(self.paddles[1].y)],
            scores: self.scores,
            serving_in: self.serving_in,
        }
    }
}

/// The static description of a Pong game with `config`, sent to clients once at join:
/// everything needed to draw the field and interpret snapshots.
///
/// ```json
/// {"kind":"pong","seats":2,"tick_hz":60,"points_to_win":5,"serve_delay_ms":1000,
///  "field":{"width":16000,"height":9000},
///  "paddle":{"width":240,"height":1800,"x":[640,15360],"speed":12000},
///  "ball":{"size":240,"speed":8000,"max_speed":32000},
///  "inputs":["up","down","stop"]}
/// ```
/// Lengths are field units, speeds field units per second, y grows downwards, and paddle `x` and
/// snapshot positions are centres.
pub fn describe(config: &PongConfig) -> serde_json::Value {
    serde_json::json!({
        "kind": KIND,
        "seats": SEATS,
        "tick_hz": config.tick_hz,
        "points_to_win": config.points_to_win,
        "serve_delay_ms": config.serve_delay_ms,
        "field": { "width": FIELD_WIDTH, "height": FIELD_HEIGHT },
        "paddle": {
            "width": PADDLE_WIDTH,
            "height": config.paddle_height,
            "x": [PADDLE_INSET, FIELD_WIDTH - PADDLE_INSET],
            "speed": config.paddle_speed,
        },
        "ball": {
            "size": BALL_SIZE,
            "speed": config.ball_speed,
            "max_speed": config.max_ball_speed,
        },
        "inputs": ["up", "down", "stop"],
    })
}

impl Game for Pong {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn seats(&self) -> u8 {
        SEATS
    }

    fn tick(&self) -> u64 {
        self.tick
    }

    /// A paddle keeps moving (or stays) until the next input.
    fn inputs_are_intents(&self) -> bool {
        true
    }

    fn apply_input(&mut self, seat: Seat, input: &serde_json::Value) -> Result<(), InputError> {
        if self.outcome.is_some() {
            return Err(InputError::GameOver);
        }
        let intent = parse_input(input)?;
        let paddle = self
            .paddles
            .get_mut(usize::from(seat))
            .ok_or(InputError::NoSuchSeat { seat, seats: SEATS })?;
        paddle.intent = intent;
        Ok(())
    }

    fn step(&mut self, events: &mut Vec<GameEvent>) {
        if self.outcome.is_some() {
            return;
        }
        self.tick = self.tick.saturating_add(1);
        let t = self.config.tuning();
        for paddle in &mut self.paddles {
            paddle.y = physics::move_paddle(paddle.y, paddle.intent, &t);
        }
        if self.serving_in > 0 {
            self.serving_in -= 1;
            if self.serving_in == 0 {
                self.serve(events);
            }
            return;
        }
        let advance = physics::advance(&mut self.ball, [self.paddles[0].y, self.paddles[1].y], &t);
        for seat in advance.hits {
            events.push(GameEvent::Custom {
                name: "hit".into(),
                data: serde_json::json!({ "seat": seat }),
            });
        }
        if let Some(scorer) = advance.scorer {
            self.point(scorer, events);
        }
    }

    fn snapshot(&self) -> Box<RawValue> {
        self.encode_snapshot()
    }

    fn snapshot_bin(&self, out: &mut Vec<u8>) {
        use crate::protocol::msgpack::{write_array_len, write_int, write_uint};
        let s = self.snapshot_values();
        write_array_len(out, 5);
        write_uint(out, s.tick);
        write_array_len(out, 4);
        for v in s.ball {
            write_int(out, v);
        }
        write_array_len(out, 2);
        for v in s.paddles {
            write_int(out, v);
        }
        write_array_len(out, 2);
        for v in s.scores {
            write_uint(out, u64::from(v));
        }
        write_uint(out, u64::from(s.serving_in));
    }

    fn spectator_snapshot(&self) -> Box<RawValue> {
        self.encode_snapshot()
    }

    fn info(&self) -> serde_json::Value {
        describe(&self.config)
    }

    fn scores(&self) -> Vec<u32> {
        self.scores.to_vec()
    }

    fn outcome(&self) -> Option<Outcome> {
        self.outcome.clone()
    }

    fn end_by_forfeit(&mut self, loser: Seat, reason: EndReason) -> Outcome {
        if let Some(outcome) = &self.outcome {
            return outcome.clone();
        }
        let winner = match loser {
            0 => Some(1),
            1 => Some(0),
            _ => None,
        };
        let outcome = Outcome {
            winner,
            scores: self.scores.to_vec(),
            reason,
            places: Outcome::places_for_winner(usize::from(SEATS), winner),
        };
        self.outcome = Some(outcome.clone());
        outcome
    }

    fn save(&self) -> serde_json::Value {
        // Cannot fail: no maps, no floats, and the RNG position fits in 64 bits.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    fn state_hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"rally/pong/v1\n");
        // Cannot fail, see `save`.
        hasher.update(serde_json::to_vec(self).unwrap_or_default());
        hex::encode(hasher.finalize())
    }
}

/// Parses a Pong input: the JSON string `"up"`, `"down"` or `"stop"`.
fn parse_input(input: &serde_json::Value) -> Result<Intent, InputError> {
    match input.as_str() {
        Some("up") => Ok(Intent::Up),
        Some("down") => Ok(Intent::Down),
        Some("stop") => Ok(Intent::Stop),
        Some(other) => {
            let shown: String = other.chars().take(32).collect();
            Err(InputError::Invalid(format!(
                "pong input must be \"up\", \"down\" or \"stop\", got {shown:?}"
            )))
        }
        None => Err(InputError::Invalid(format!(
            "pong input must be the string \"up\", \"down\" or \"stop\", got {}",
            json_type(input)
        ))),
    }
}

/// A [`GameError::BadSave`] for Pong.
fn bad_save(message: String) -> GameError {
    GameError::BadSave {
        kind: KIND,
        message,
    }
}
