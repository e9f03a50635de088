//! Pong physics in integer sub-units: paddle movement, ball movement in sub-steps, wall and paddle
//! bounces, goals. No floating point, no randomness (the serve is chosen in the parent module).

use serde::{Deserialize, Serialize};

use super::config::Tuning;
use super::{
    BALL_SIZE, FIELD_HEIGHT, FIELD_WIDTH, MAX_BOUNCE_SIN_PERMILLE, MIN_BOUNCE_SIN_PERMILLE,
    PADDLE_INSET, PADDLE_WIDTH, SUB,
};
use crate::game::Seat;

/// What a player wants their paddle to do; held until the next input.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Move towards the top (decreasing y) at the paddle speed.
    Up,
    /// Move towards the bottom (increasing y) at the paddle speed.
    Down,
    /// Stay where it is.
    #[default]
    Stop,
}

/// The ball: centre and velocity in sub-units, plus its current speed (the length of the
/// velocity, kept separately so that integer rounding of the components does not drift it).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ball {
    /// Centre x, sub-units from the left goal line.
    pub x: i64,
    /// Centre y, sub-units from the top wall.
    pub y: i64,
    /// Horizontal velocity, sub-units per tick (negative: towards seat 0's goal).
    pub vx: i64,
    /// Vertical velocity, sub-units per tick (negative: upwards).
    pub vy: i64,
    /// Speed, sub-units per tick; 0 while waiting for a serve.
    pub speed: i64,
}

impl Ball {
    /// A ball at rest in the centre of the field, waiting to be served.
    pub fn centred() -> Self {
        Self {
            x: FIELD_WIDTH * SUB / 2,
            y: FIELD_HEIGHT * SUB / 2,
            vx: 0,
            vy: 0,
            speed: 0,
        }
    }
}

/// Centre x of each seat's paddle, sub-units.
pub(super) const PADDLE_X: [i64; 2] = [PADDLE_INSET * SUB, (FIELD_WIDTH - PADDLE_INSET) * SUB];

/// Half the ball size, sub-units: the closest the ball centre gets to a wall.
const HALF_BALL: i64 = BALL_SIZE * SUB / 2;

/// Moves a paddle centre one tick according to `intent`, keeping the paddle inside the field.
pub(super) fn move_paddle(y: i64, intent: Intent, t: &Tuning) -> i64 {
    let moved = match intent {
        Intent::Up => y - t.paddle_step,
        Intent::Down => y + t.paddle_step,
        Intent::Stop => y,
    };
    clamp_paddle(moved, t)
}

/// Clamps a paddle centre so that the whole paddle is inside the field.
pub(super) fn clamp_paddle(y: i64, t: &Tuning) -> i64 {
    y.clamp(t.paddle_half, FIELD_HEIGHT * SUB - t.paddle_half)
}

/// What happened to the ball during one tick.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Advance {
    /// Seats whose paddle hit the ball, in order.
    pub hits: Vec<Seat>,
    /// The seat that scored, if the ball crossed a goal line (the ball stops there).
    pub scorer: Option<Seat>,
}

/// Moves the ball one tick against the paddles at `paddles` (centre y of seat 0 and seat 1).
///
/// The tick is cut into `t.substeps` sub-steps, none longer than half the ball, so a fast ball
/// cannot pass through a paddle. The sub-step lengths are an exact integer partition of the
/// velocity, so the total movement does not depend on the number of sub-steps.
pub(super) fn advance(ball: &mut Ball, paddles: [i64; 2], t: &Tuning) -> Advance {
    let mut out = Advance::default();
    let n = t.substeps.max(1);
    let bottom = FIELD_HEIGHT * SUB - HALF_BALL;
    let reach_x = (PADDLE_WIDTH * SUB) / 2 + HALF_BALL;
    let reach_y = t.paddle_half + HALF_BALL;
    for k in 1..=n {
        ball.x += ball.vx * k / n - ball.vx * (k - 1) / n;
        ball.y += ball.vy * k / n - ball.vy * (k - 1) / n;

        // Walls: mirror the overshoot back into the field.
        if ball.y < HALF_BALL {
            ball.y = 2 * HALF_BALL - ball.y;
            ball.vy = ball.vy.abs();
        } else if ball.y > bottom {
            ball.y = 2 * bottom - ball.y;
            ball.vy = -ball.vy.abs();
        }

        // Paddles: a hit needs the ball moving towards that paddle's goal, overlapping it, and
        // its centre not yet past the paddle's centre line (so a paddle moving onto a ball that
        // already got by does not scoop it back).
        for seat in [0, 1] {
            let (px, py) = (PADDLE_X[usize::from(seat)], paddles[usize::from(seat)]);
            let (towards, in_front) = if seat == 0 {
                (ball.vx < 0, ball.x >= px)
            } else {
                (ball.vx > 0, ball.x <= px)
            };
            if towards && in_front && (ball.x - px).abs() < reach_x && (ball.y - py).abs() < reach_y
            {
                ball.x = if seat == 0 {
                    px + reach_x
                } else {
                    px - reach_x
                };
                bounce(ball, seat, ball.y - py, reach_y, t);
                out.hits.push(seat);
            }
        }

        // Goals.
        if ball.x < 0 {
            out.scorer = Some(1);
        } else if ball.x > FIELD_WIDTH * SUB {
            out.scorer = Some(0);
        }
        if out.scorer.is_some() {
            return out;
        }
    }
    out
}

/// Sends the ball back from `seat`'s paddle, faster, at an angle set only by where it hit.
///
/// `offset` is the ball centre minus the paddle centre and `reach` the largest offset that still
/// touches. The sine of the outgoing angle grows linearly from [`MIN_BOUNCE_SIN_PERMILLE`] at the
/// centre to [`MAX_BOUNCE_SIN_PERMILLE`] at the edge, upwards for a hit above the centre; a dead
/// centre hit keeps the ball's vertical direction. The horizontal component is then
/// `sqrt(speed² − vy²)` (integer square root), so the speed is exact.
fn bounce(ball: &mut Ball, seat: Seat, offset: i64, reach: i64, t: &Tuning) {
    let gain = (ball.speed * t.speedup_permille / 1000).max(1);
    let speed = (ball.speed + gain).min(t.max_speed);
    let reach = reach.max(1);
    let off = offset.clamp(-reach, reach);
    let sin = MIN_BOUNCE_SIN_PERMILLE
        + (MAX_BOUNCE_SIN_PERMILLE - MIN_BOUNCE_SIN_PERMILLE) * off.abs() / reach;
    let up = off < 0 || (off == 0 && ball.vy < 0);
    let vy = speed * sin / 1000;
    let vx = (speed * speed - vy * vy).isqrt();
    ball.speed = speed;
    ball.vy = if up { -vy } else { vy };
    ball.vx = if seat == 0 { vx } else { -vx };
}

/// Starts a ball from the centre towards `towards`'s goal at `speed`, with the sine of its angle
/// `sin_permille` (thousandths) and upwards if `up`.
pub(super) fn serve(towards: Seat, speed: i64, sin_permille: i64, up: bool) -> Ball {
    let vy = speed * sin_permille / 1000;
    let vx = (speed * speed - vy * vy).isqrt();
    Ball {
        vx: if towards == 0 { -vx } else { vx },
        vy: if up { -vy } else { vy },
        speed,
        ..Ball::centred()
    }
}
