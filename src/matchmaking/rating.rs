//! Rating maths: Glicko-2, applied after every match as a one-game rating period, and the
//! matchmaking window. Pure: no I/O, no clock.
//!
//! # Why Glicko-2 and not Elo
//! Elo moves every rating by the same fixed K per game, so it has to choose between reacting
//! fast (new players and guests reach their level quickly, regulars' ratings bounce around) and
//! being stable (regulars settle, newcomers take dozens of games to get out of the wrong
//! bracket). Glicko-2 keeps, next to the rating, a *deviation*: how unsure we are of it. A new
//! player or guest starts at the maximum deviation and moves hundreds of points per game; every
//! game shrinks the deviation, so a regular's rating settles and one upset barely moves it.
//! Games against an uncertain opponent also count for less. The *volatility* tracks how
//! erratic a player's results are, so a player who genuinely improves can still move.
//!
//! # Rating periods
//! Glickman's paper rates batches of games per period; a realtime server updates after each
//! match, so every match is its own period ([`update`]). [`rate`] takes any number of games (it
//! reproduces the paper's worked example; with no games it only lets the deviation grow, as for
//! an idle period).
//!
//! # Inputs are sanitised
//! Every function accepts any `f64`: non-finite values fall back to the defaults and values are
//! clamped into [`RATING_RANGE`], [`DEVIATION_RANGE`] and [`VOLATILITY_RANGE`], so a corrupt
//! row can never poison other players' ratings with NaN.

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use std::ops::RangeInclusive;

/// Rating of a new player.
pub const DEFAULT_RATING: f64 = 1500.0;

/// Deviation of a new player: the maximum, about 350 points of uncertainty (Glickman's value).
pub const DEFAULT_DEVIATION: f64 = 350.0;

/// Volatility of a new player (Glickman's suggested starting value).
pub const DEFAULT_VOLATILITY: f64 = 0.06;

/// System constant τ: how fast volatility may change. Glickman suggests 0.3 to 1.2; smaller is
/// more conservative. 0.5 sits in the middle: per-match periods make single upsets frequent,
/// and a larger τ would let volatility (and so the ratings) swing on each one.
pub const TAU: f64 = 0.5;

/// Deviation bounds. The top is the new-player value: uncertainty never exceeds knowing nothing.
/// The floor of 30 keeps even the most regular player able to move (a few points per game).
/// With one-game periods each game also adds the volatility back (φ* = √(φ² + σ²)), so a
/// regular's deviation settles near 60 at volatility 0.06; the floor only binds once a player's
/// volatility has dropped well below that.
pub const DEVIATION_RANGE: RangeInclusive<f64> = 30.0..=350.0;

/// Rating bounds. Far beyond any real player (a rating moves a few hundred points at most per
/// game); they only keep the logistic terms finite when stored values are corrupt.
pub const RATING_RANGE: RangeInclusive<f64> = 0.0..=5000.0;

/// Volatility bounds: positive (its logarithm is taken) and well above anything observed (0.06
/// is typical); only a guard against corrupt values.
pub const VOLATILITY_RANGE: RangeInclusive<f64> = 0.0001..=1.0;

/// Matchmaking window at zero wait: 100 points, where the stronger player expects about 64% —
/// a close game.
pub const WINDOW_BASE: f64 = 100.0;

/// Window growth per second of waiting: after 10 s a 600-point gap is acceptable; waiting
/// longer is worse than a lopsided game.
pub const WINDOW_GROWTH_PER_SEC: f64 = 50.0;

/// Widest window (reached after 18 s): 1000 points, where the favourite wins about 99.7% of the
/// time. Beyond that a match is pointless; the player keeps waiting for someone in range.
pub const WINDOW_MAX: f64 = 1000.0;

/// Glicko-2 internal scale: `173.7178 = 400 / ln 10`.
const SCALE: f64 = 173.7178;

/// Convergence tolerance of the volatility iteration (Glickman's ε).
const EPSILON: f64 = 0.000_001;

/// Upper bound on iterations of each volatility loop; the Illinois method converges in well
/// under 30 for every finite input, this only guarantees termination.
const MAX_ITERATIONS: u32 = 100;

/// A player's Glicko-2 rating.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    /// Estimated strength on the Elo-like scale (1500 for a newcomer).
    pub rating: f64,
    /// Rating deviation: the uncertainty of `rating`, within [`DEVIATION_RANGE`].
    pub deviation: f64,
    /// Volatility: how erratic the player's results are.
    pub volatility: f64,
}

impl Default for Rating {
    /// A new player: 1500, deviation 350, volatility 0.06.
    fn default() -> Self {
        Self {
            rating: DEFAULT_RATING,
            deviation: DEFAULT_DEVIATION,
            volatility: DEFAULT_VOLATILITY,
        }
    }
}

impl Rating {
    /// The same rating with non-finite fields replaced by the defaults and every field clamped
    /// into its range.
    pub fn sanitized(self) -> Self {
        let fix = |value: f64, default: f64, range: RangeInclusive<f64>| {
            let value = if value.is_nan() { default } else { value };
            value.clamp(*range.start(), *range.end())
        };
        Self {
            rating: fix(self.rating, DEFAULT_RATING, RATING_RANGE),
            deviation: fix(self.deviation, DEFAULT_DEVIATION, DEVIATION_RANGE),
            volatility: fix(self.volatility, DEFAULT_VOLATILITY, VOLATILITY_RANGE),
        }
    }
}

/// One game in a rating period, from the rated player's side.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The opponent's rating before the period.
    pub opponent: Rating,
    /// The rated player's score: 1 win, 0.5 draw, 0 loss (clamped to `0..=1`; NaN counts as a
    /// draw).
    pub score: f64,
}

/// Rates one match between `a` and `b` as a one-game period for each, from their ratings
/// before it. `score_a` is `a`'s score (1 win, 0.5 draw, 0 loss); `b` scores `1 - score_a`.
pub fn update(a: Rating, b: Rating, score_a: f64) -> (Rating, Rating) {
    let score_a = sanitize_score(score_a);
    let new_a = rate(
        a,
        &[Outcome {
            opponent: b,
            score: score_a,
        }],
    );
    let new_b = rate(
        b,
        &[Outcome {
            opponent: a,
            score: 1.0 - score_a,
        }],
    );
    (new_a, new_b)
}

/// Rates a multi-player match from its finishing order: `before[i]` is seat `i`'s rating before
/// the match, `places[i]` its 1-based place (equal places are ties). Each seat's rating period
/// holds one game against every other seat, scored by the places (ahead: 1, tie: 0.5, behind:
/// 0), all against the opponents' ratings before the match: the pairwise decomposition of a
/// ranking into the games it implies, rated as one Glicko-2 period with several opponents
/// (Glickman, "Example of the Glicko-2 system", 2013, steps 3–7 sum over the period's games).
/// For two seats it is exactly [`update`]. Missing places count as last.
pub fn rate_places(before: &[Rating], places: &[u8]) -> Vec<Rating> {
    let place = |i: usize| places.get(i).copied().unwrap_or(u8::MAX);
    (0..before.len())
        .map(|i| {
            let games: Vec<Outcome> = (0..before.len())
                .filter(|&j| j != i)
                .map(|j| Outcome {
                    opponent: before[j],
                    score: match place(i).cmp(&place(j)) {
                        std::cmp::Ordering::Less => 1.0,
                        std::cmp::Ordering::Equal => 0.5,
                        std::cmp::Ordering::Greater => 0.0,
                    },
                })
                .collect();
            rate(before[i], &games)
        })
        .collect()
}

/// Rates `player` over a period with these games (Glickman, "Example of the Glicko-2
/// system", steps 2 to 8). With no games only the deviation grows.
pub fn rate(player: Rating, games: &[Outcome]) -> Rating {
    let player = player.sanitized();
    let mu = (player.rating - DEFAULT_RATING) / SCALE;
    let phi = player.deviation / SCALE;
    let sigma = player.volatility;

    if games.is_empty() {
        let deviation = (phi * phi + sigma * sigma).sqrt() * SCALE;
        return Rating {
            deviation,
            ..player
        }
        .sanitized();
    }

    // Step 3 and 4: estimated variance v and improvement Δ from the games.
    let mut inverse_v = 0.0;
    let mut sum = 0.0;
    for game in games {
        let opponent = game.opponent.sanitized();
        let mu_j = (opponent.rating - DEFAULT_RATING) / SCALE;
        let g = g(opponent.deviation / SCALE);
        let e = expected(mu, mu_j, g);
        inverse_v += g * g * e * (1.0 - e);
        sum += g * (sanitize_score(game.score) - e);
    }
    // E stays within (0, 1) for ratings within RATING_RANGE, so inverse_v > 0.
    let v = 1.0 / inverse_v.max(f64::MIN_POSITIVE);
    let delta = v * sum;

    // Step 5: new volatility.
    let sigma = new_volatility(phi, sigma, v, delta);

    // Steps 6 and 7: new deviation and rating.
    let phi_star = (phi * phi + sigma * sigma).sqrt();
    let phi = 1.0 / (1.0 / (phi_star * phi_star) + 1.0 / v).sqrt();
    let mu = mu + phi * phi * sum;

    // Step 8: back to the Glicko scale.
    Rating {
        rating: mu * SCALE + DEFAULT_RATING,
        deviation: phi * SCALE,
        volatility: sigma,
    }
    .sanitized()
}

/// `a`'s expected score against `b` (0 to 1), accounting for `b`'s deviation.
pub fn expected_score(a: Rating, b: Rating) -> f64 {
    let (a, b) = (a.sanitized(), b.sanitized());
    let mu = (a.rating - DEFAULT_RATING) / SCALE;
    let mu_j = (b.rating - DEFAULT_RATING) / SCALE;
    expected(mu, mu_j, g(b.deviation / SCALE))
}

/// The rating gap matchmaking accepts after waiting `wait_secs`: [`WINDOW_BASE`] plus
/// [`WINDOW_GROWTH_PER_SEC`] per second, at most [`WINDOW_MAX`]. Negative or NaN waits count as
/// zero.
pub fn window(wait_secs: f64) -> f64 {
    let wait = if wait_secs.is_nan() {
        0.0
    } else {
        wait_secs.max(0.0)
    };
    (WINDOW_BASE + WINDOW_GROWTH_PER_SEC * wait).min(WINDOW_MAX)
}

fn sanitize_score(score: f64) -> f64 {
    if score.is_nan() {
        0.5
    } else {
        score.clamp(0.0, 1.0)
    }
}

/// Glicko-2 `g(φ)`: discounts games against uncertain opponents.
fn g(phi: f64) -> f64 {
    1.0 / (1.0 + 3.0 * phi * phi / (PI * PI)).sqrt()
}

/// Glicko-2 `E(μ, μj, φj)`.
fn expected(mu: f64, mu_j: f64, g_j: f64) -> f64 {
    1.0 / (1.0 + (-g_j * (mu - mu_j)).exp())
}

/// Step 5: the new volatility, by the Illinois variant of regula falsi on `f`.
fn new_volatility(phi: f64, sigma: f64, v: f64, delta: f64) -> f64 {
    let a = (sigma * sigma).ln();
    let f = |x: f64| {
        let ex = x.exp();
        let d = phi * phi + v + ex;
        ex * (delta * delta - phi * phi - v - ex) / (2.0 * d * d) - (x - a) / (TAU * TAU)
    };
    let mut big_a = a;
    let mut big_b = if delta * delta > phi * phi + v {
        (delta * delta - phi * phi - v).ln()
    } else {
        let mut k = 1.0;
        while f(a - k * TAU) < 0.0 && k < f64::from(MAX_ITERATIONS) {
            k += 1.0;
        }
        a - k * TAU
    };
    let mut f_a = f(big_a);
    let mut f_b = f(big_b);
    let mut iterations = 0;
    while (big_b - big_a).abs() > EPSILON && iterations < MAX_ITERATIONS {
        let c = big_a + (big_a - big_b) * f_a / (f_b - f_a);
        let f_c = f(c);
        if !c.is_finite() || !f_c.is_finite() {
            break;
        }
        if f_c * f_b <= 0.0 {
            big_a = big_b;
            f_a = f_b;
        } else {
            f_a /= 2.0;
        }
        big_b = c;
        f_b = f_c;
        iterations += 1;
    }
    let sigma_new = (big_a / 2.0).exp();
    if sigma_new.is_finite() {
        sigma_new
    } else {
        sigma
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn places_rate_like_pairwise_games() {
        let a = Rating::default();
        let b = Rating {
            rating: 1700.0,
            deviation: 80.0,
            volatility: 0.06,
        };
        // Two seats: exactly the 1v1 update.
        let (na, nb) = update(a, b, 1.0);
        assert_eq!(rate_places(&[a, b], &[1, 2]), vec![na, nb]);
        let (da, db) = update(a, b, 0.5);
        assert_eq!(rate_places(&[a, b], &[1, 1]), vec![da, db]);
        // Four seats: the winner gains, the last loses, places in between move in order.
        let four = [a, a, a, a];
        let after = rate_places(&four, &[2, 1, 4, 3]);
        assert!(after[1].rating > after[0].rating);
        assert!(after[0].rating > after[3].rating);
        assert!(after[3].rating > after[2].rating);
        assert!(after[1].rating > 1500.0 && after[2].rating < 1500.0);
        // Everyone tied: nobody moves (equal ratings).
        let tied = rate_places(&four, &[1, 1, 1, 1]);
        for r in tied {
            assert!((r.rating - 1500.0).abs() < 1e-9);
        }
    }

    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn glickman_worked_example() {
        let player = Rating {
            rating: 1500.0,
            deviation: 200.0,
            volatility: 0.06,
        };
        let opponent = |rating, deviation| Rating {
            rating,
            deviation,
            volatility: 0.06,
        };
        let games = [
            Outcome {
                opponent: opponent(1400.0, 30.0),
                score: 1.0,
            },
            Outcome {
                opponent: opponent(1550.0, 100.0),
                score: 0.0,
            },
            Outcome {
                opponent: opponent(1700.0, 300.0),
                score: 0.0,
            },
        ];
        let rated = rate(player, &games);
        assert!(close(rated.rating, 1464.06, 0.01), "{rated:?}");
        assert!(close(rated.deviation, 151.52, 0.01), "{rated:?}");
        assert!(close(rated.volatility, 0.05999, 0.00001), "{rated:?}");
    }

    #[test]
    fn updates_are_symmetric() {
        let a = Rating {
            rating: 1620.0,
            deviation: 80.0,
            volatility: 0.06,
        };
        let b = Rating {
            rating: 1480.0,
            deviation: 120.0,
            volatility: 0.07,
        };
        // The same match seen from either side gives the same ratings.
        for score in [0.0, 0.5, 1.0] {
            let (a1, b1) = update(a, b, score);
            let (b2, a2) = update(b, a, 1.0 - score);
            assert_eq!((a1, b1), (a2, b2));
        }

        // Equal players: the winner gains what the loser loses; a draw changes no rating.
        let (w, l) = update(Rating::default(), Rating::default(), 1.0);
        assert!(close(w.rating - 1500.0, 1500.0 - l.rating, 1e-9));
        assert!(close(w.deviation, l.deviation, 1e-9));
        let (x, y) = update(Rating::default(), Rating::default(), 0.5);
        assert_eq!((x.rating, y.rating), (1500.0, 1500.0));
    }

    #[test]
    fn winner_gains_loser_drops_and_deviation_shrinks() {
        let regular = Rating {
            rating: 1700.0,
            deviation: 60.0,
            volatility: 0.06,
        };
        let newcomer = Rating::default();
        let (r, n) = update(regular, newcomer, 0.0);
        assert!(r.rating < regular.rating && n.rating > newcomer.rating);
        // The newcomer moves far more than the regular.
        assert!(n.rating - newcomer.rating > 5.0 * (regular.rating - r.rating));
        assert!(n.deviation < newcomer.deviation);

        // Deviation shrinks for both players of a game (above the one-game-period steady
        // state, about 60).
        let settling = Rating {
            rating: 1550.0,
            deviation: 120.0,
            volatility: 0.06,
        };
        for (a, b) in [
            (newcomer, newcomer),
            (settling, regular),
            (settling, newcomer),
        ] {
            for score in [0.0, 0.5, 1.0] {
                let (a2, b2) = update(a, b, score);
                assert!(a2.deviation < a.deviation, "{a:?} vs {b:?}: {a2:?}");
                if b.deviation > 100.0 {
                    assert!(b2.deviation < b.deviation, "{b:?} vs {a:?}: {b2:?}");
                }
            }
        }
    }

    #[test]
    fn idle_period_grows_deviation_up_to_the_cap() {
        let settled = Rating {
            rating: 1800.0,
            deviation: 50.0,
            volatility: 0.06,
        };
        let idle = rate(settled, &[]);
        assert!(idle.deviation > 50.0 && idle.rating == 1800.0);
        assert_eq!(rate(Rating::default(), &[]).deviation, 350.0);
    }

    #[test]
    fn deviation_stays_within_bounds() {
        let mut a = Rating::default();
        let mut b = Rating::default();
        for i in 0..500 {
            (a, b) = update(a, b, f64::from(i % 2));
            assert!(DEVIATION_RANGE.contains(&a.deviation));
        }
        // Regular play settles near 60 (see DEVIATION_RANGE).
        assert!(a.deviation > 50.0 && a.deviation < 70.0, "{a:?}");

        // A steady player with a low volatility reaches the floor and stays there.
        let steady = Rating {
            rating: 1500.0,
            deviation: 31.0,
            volatility: 0.001,
        };
        let (mut x, mut y) = (steady, steady);
        for i in 0..100 {
            (x, y) = update(x, y, f64::from(i % 2));
        }
        assert_eq!((x.deviation, y.deviation), (30.0, 30.0));
        let too_sure = Rating {
            deviation: 1.0,
            ..steady
        };
        assert_eq!(too_sure.sanitized().deviation, 30.0);
    }

    #[test]
    fn extreme_inputs_never_give_nan() {
        let values = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -1e300,
            1e300,
            f64::MIN_POSITIVE,
            1500.0,
        ];
        for &rating in &values {
            for &deviation in &values {
                for &volatility in &values {
                    let odd = Rating {
                        rating,
                        deviation,
                        volatility,
                    };
                    for &score in &[0.0, 0.5, 1.0, f64::NAN, 7.0] {
                        for other in [Rating::default(), odd] {
                            let (x, y) = update(odd, other, score);
                            for r in [x, y] {
                                assert!(RATING_RANGE.contains(&r.rating), "{odd:?} -> {r:?}");
                                assert!(DEVIATION_RANGE.contains(&r.deviation));
                                assert!(VOLATILITY_RANGE.contains(&r.volatility));
                            }
                        }
                    }
                }
            }
        }
        let far = Rating {
            rating: 5000.0,
            deviation: 30.0,
            volatility: 0.06,
        };
        let low = Rating {
            rating: 0.0,
            deviation: 30.0,
            volatility: 0.06,
        };
        let (x, y) = update(low, far, 1.0);
        assert!(x.rating.is_finite() && y.rating.is_finite());
        assert!(expected_score(far, low) > 0.99);
    }

    #[test]
    fn window_widens_with_wait_and_caps() {
        assert_eq!(window(0.0), 100.0);
        assert_eq!(window(4.0), 300.0);
        assert_eq!(window(18.0), 1000.0);
        assert_eq!(window(1e9), 1000.0);
        assert_eq!(window(f64::INFINITY), 1000.0);
        assert_eq!(window(-5.0), 100.0);
        assert_eq!(window(f64::NAN), 100.0);
    }

    #[test]
    fn expected_score_is_a_probability() {
        let strong = Rating {
            rating: 1900.0,
            ..Rating::default()
        };
        let e = expected_score(strong, Rating::default());
        assert!(e > 0.5 && e < 1.0);
        assert!(close(
            expected_score(Rating::default(), Rating::default()),
            0.5,
            1e-12
        ));
    }
}
