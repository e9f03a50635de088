//! Replays: the input log a room records, and verification by re-simulation.
//!
//! A finished match stores its game kind, config, seed, the [`InputLog`] and the
//! [`Game::state_hash`] of its final state. Because games are deterministic (see
//! [`crate::game`]), replaying the log from the seed must reach the same hash; [`verify`] checks
//! exactly that. Pure: no I/O, no clock, no database.
//!
//! # How a room records (and so how [`simulate`] replays)
//! - Queued inputs are applied at the start of a tick, before [`Game::step`]; each is logged as
//!   `(game.tick() before the step, seat, input)`, in the order applied. Only accepted inputs are
//!   logged, so a logged input that the game refuses means the log is corrupt.
//! - A forced end (forfeit, resignation, time limit, absent player) happens between ticks: it is
//!   logged as [`ForcedEnd`] with `tick = game.tick()` at that moment, and the room then calls
//!   [`Game::end_by_forfeit`]`(loser, reason)`. A `loser` that is not a seat (`>= seats`, the
//!   room uses 255) is a draw.
//! - A seat taken out of a match that goes on without it (games whose
//!   [`Game::pauses_when_away`] is `false`: a player left, resigned or forfeited after the
//!   reconnect grace; a quick-match no-show) is logged as a [`Removal`] with
//!   `tick = game.tick()` at that moment, and the room then calls [`Game::remove_seat`]. The
//!   room removes seats between ticks, before the inputs of the next tick are drained, so
//!   [`simulate`] applies the removals of a tick before its inputs. A removal may end the game
//!   (too few seats left): the simulation then stops there.
//! - `ticks` is the final `game.tick()`.
//!
//! # JSON
//! ```json
//! {"inputs":[[0,1,"up"],[42,0,"down"],[42,1,"stop"]],
//!  "end":{"tick":97,"loser":1,"reason":"resign"}}
//! ```
//! `end` is `null` when the game ended by itself (score). A log with removals has one more
//! member, `"removals":[{"tick":120,"seat":2,"reason":"forfeit"}]`, left out when there are
//! none: every log written before removals existed (every Pong log) reads and verifies as
//! before.

use crate::game::{self, EndReason, Game, GameError, InputError, Seat};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Everything that was fed into a game, in order: the replay's only payload besides the seed
/// and config. Stored as one JSON blob per match.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct InputLog {
    /// `(game tick when applied, seat, input)`, in the order the room applied them; ticks never
    /// decrease.
    pub inputs: Vec<(u64, Seat, Value)>,
    /// The forced end, if the game did not end by itself.
    pub end: Option<ForcedEnd>,
    /// Seats taken out of the match while it went on, in the order the room removed them
    /// (ticks never decrease).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removals: Vec<Removal>,
}

/// A seat taken out of a match that went on without it: [`Game::remove_seat`] was called
/// between ticks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Removal {
    /// `game.tick()` when the seat was removed.
    pub tick: u64,
    /// The seat.
    pub seat: Seat,
    /// Why (`resign` for a player who left or resigned, `forfeit` after the reconnect grace
    /// or for a no-show).
    pub reason: EndReason,
}

impl InputLog {
    /// Record an input that the game accepted at `tick` (`game.tick()` before the step).
    pub fn record_input(&mut self, tick: u64, seat: Seat, input: Value) {
        self.inputs.push((tick, seat, input));
    }
}

/// The input log as a room keeps it while its match runs: each distinct input value is stored
/// once and every entry is 16 bytes (`tick`, `seat`, index of the value), instead of a
/// `(u64, Seat, Value)` of 48 bytes plus the value's own allocation. A game's inputs are few
/// distinct intents ("up", "down", "stop"), so a long match costs a fraction of the plain log.
/// Converted to an [`InputLog`] (the stored, replayable form; same JSON) for checkpoints and
/// the result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompactLog {
    entries: Vec<CompactEntry>,
    values: Vec<Value>,
    /// The forced end, if the game did not end by itself.
    pub end: Option<ForcedEnd>,
    /// Seats removed while the match went on.
    pub removals: Vec<Removal>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct CompactEntry {
    tick: u64,
    value: u32,
    seat: Seat,
}

/// Distinct values looked up before a new one is stored: games with many distinct inputs
/// (free-form values) pay a bounded search and store repeats past this many again.
const MAX_INTERNED_LOOKUP: usize = 64;

impl CompactLog {
    /// Record an input that the game accepted at `tick` (`game.tick()` before the step).
    pub fn record_input(&mut self, tick: u64, seat: Seat, input: Value) {
        let found = self
            .values
            .iter()
            .take(MAX_INTERNED_LOOKUP)
            .position(|v| *v == input);
        let value = match found {
            Some(i) => i,
            None => {
                self.values.push(input);
                self.values.len() - 1
            }
        };
        self.entries.push(CompactEntry {
            tick,
            value: u32::try_from(value).unwrap_or(u32::MAX),
            seat,
        });
    }

    /// Entries recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Heap bytes held (entries and distinct values, by capacity).
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<CompactEntry>()
            + self.values.capacity() * std::mem::size_of::<Value>()
    }

    /// The log in its stored form.
    pub fn to_log(&self) -> InputLog {
        InputLog {
            inputs: self
                .entries
                .iter()
                .map(|e| {
                    let v = self
                        .values
                        .get(e.value as usize)
                        .cloned()
                        .unwrap_or(Value::Null);
                    (e.tick, e.seat, v)
                })
                .collect(),
            end: self.end.clone(),
            removals: self.removals.clone(),
        }
    }

    /// A compact copy of a stored log (an adopted match goes on from its checkpoint).
    pub fn from_log(log: &InputLog) -> CompactLog {
        let mut c = CompactLog::default();
        for (tick, seat, v) in &log.inputs {
            c.record_input(*tick, *seat, v.clone());
        }
        c.end = log.end.clone();
        c.removals = log.removals.clone();
        c
    }
}

/// A room-level end: [`Game::end_by_forfeit`] was called between ticks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ForcedEnd {
    /// `game.tick()` when the end happened.
    pub tick: u64,
    /// The seat that lost; a value `>= seats` means a draw (the room uses 255).
    pub loser: Seat,
    /// Why.
    pub reason: EndReason,
}

/// What `GET /api/v1/matches/{id}/replay` serves and `rally replay verify FILE` reads.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct Replay {
    /// Match id.
    #[serde(rename = "match")]
    pub r#match: String,
    /// Game kind.
    pub game: String,
    /// The game seed.
    pub seed: u64,
    /// The game config (as stored; `null` means the game's defaults).
    #[schema(value_type = Option<Object>)]
    pub config: Value,
    /// The final `game.tick()`.
    pub ticks: u64,
    /// The inputs and the forced end: `{"inputs":[[tick,seat,input]…],"end"}`.
    #[schema(value_type = Object)]
    pub log: InputLog,
    /// Lower-case hex SHA-256 of the final state ([`Game::state_hash`]).
    pub final_hash: String,
    /// Player ids by seat (`null`: nobody sat there, e.g. a no-show removed before the start).
    #[schema(min_items = 2, max_items = 8)]
    pub players: Vec<Option<String>>,
    /// Final scores by seat.
    #[schema(min_items = 2, max_items = 8)]
    pub scores: Vec<i64>,
}

/// Why a replay could not be simulated or did not verify.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplayError {
    /// The game kind is unknown or the config is invalid.
    #[error("cannot create the game: {0}")]
    Game(#[from] GameError),
    /// Input number `index` is logged at an earlier tick than the one before it.
    #[error("corrupt input log: input {index} at tick {tick} comes after tick {previous}")]
    OutOfOrder {
        /// Position in the log.
        index: usize,
        /// Its tick.
        tick: u64,
        /// The tick already reached.
        previous: u64,
    },
    /// The game refused a logged input (the room logs only accepted ones).
    #[error("corrupt input log: input {index} (tick {tick}, seat {seat}) was refused: {error}")]
    RejectedInput {
        /// Position in the log.
        index: usize,
        /// Its tick.
        tick: u64,
        /// Its seat.
        seat: Seat,
        /// The game's reason.
        error: InputError,
    },
    /// A removal names a seat the game does not have.
    #[error(
        "corrupt input log: removal {index} (tick {tick}) names seat {seat}, which does not exist"
    )]
    NoSuchSeat {
        /// Position in the removals.
        index: usize,
        /// Its tick.
        tick: u64,
        /// The seat.
        seat: Seat,
    },
    /// Inputs are logged after the point where the game ended.
    #[error("corrupt input log: {count} input(s) after the end of the game at tick {tick}")]
    InputsAfterEnd {
        /// How many were never applied.
        count: usize,
        /// Where the game ended.
        tick: u64,
    },
    /// The forced end lies after the point where the game ended.
    #[error("corrupt input log: forced end at tick {end_tick}, but the game ended at tick {tick}")]
    EndNotReached {
        /// The logged end.
        end_tick: u64,
        /// Where the game stopped.
        tick: u64,
    },
    /// The game stopped at another tick than the one recorded.
    #[error("tick mismatch: recorded {recorded} ticks, the simulation stopped at {simulated}")]
    TickMismatch {
        /// `ticks` of the replay.
        recorded: u64,
        /// Where the simulation stopped.
        simulated: u64,
    },
    /// The recorded scores differ from the simulated ones.
    #[error("score mismatch: recorded {recorded:?}, recomputed {recomputed:?}")]
    ScoreMismatch {
        /// Scores in the replay.
        recorded: Vec<i64>,
        /// Scores of the simulated game.
        recomputed: Vec<i64>,
    },
    /// The final state differs.
    #[error("hash mismatch: stored {stored} recomputed {recomputed}")]
    HashMismatch {
        /// The hash in the replay.
        stored: String,
        /// The hash of the simulated final state.
        recomputed: String,
    },
}

/// Re-run a game from `seed` and `config`, feeding `log` exactly as a room did, up to `ticks`
/// (the final `game.tick()`), and return the final game. Each iteration: a forced end logged at
/// the current tick ends the game; otherwise the inputs logged at the current tick are applied
/// in order; the simulation stops once the game has an outcome or reaches `ticks`, else steps.
///
/// Errors when the log cannot have come from a room: inputs out of order or refused, inputs or
/// a forced end after the game ended, or an end at another tick than `ticks`.
pub fn simulate(
    game: &str,
    config: &Value,
    seed: u64,
    log: &InputLog,
    ticks: u64,
) -> Result<Box<dyn Game>, ReplayError> {
    simulate_with(game, config, seed, log, ticks, &mut |_| {})
}

/// Largest number of frames [`frames`] returns (a 15-minute match at 60 Hz is 54,000 ticks:
/// ask for every 3rd tick or more).
pub const MAX_REPLAY_FRAMES: u64 = 20_000;

/// Re-simulate a replay and collect the snapshot of every `every`-th tick (the first and the
/// last are always included), for replay viewers that draw the ball.
pub fn frames(
    replay: &Replay,
    every: u64,
) -> Result<Vec<Box<serde_json::value::RawValue>>, ReplayError> {
    let every = every.max(1);
    let mut out = Vec::new();
    let mut last_tick = None;
    let g = simulate_with(
        &replay.game,
        &replay.config,
        replay.seed,
        &replay.log,
        replay.ticks,
        &mut |g| {
            if g.tick() % every == 0 || g.tick() == 1 {
                out.push(g.snapshot());
                last_tick = Some(g.tick());
            }
        },
    )?;
    if last_tick != Some(g.tick()) {
        out.push(g.snapshot());
    }
    Ok(out)
}

/// [`simulate`], calling `on_step` after every simulated tick.
pub fn simulate_with(
    game: &str,
    config: &Value,
    seed: u64,
    log: &InputLog,
    ticks: u64,
    on_step: &mut dyn FnMut(&dyn Game),
) -> Result<Box<dyn Game>, ReplayError> {
    let mut g = game::create(game, config, seed)?;
    let mut next = 0;
    let mut next_removal = 0;
    let mut events = Vec::new();
    let mut forced = false;
    loop {
        let now = g.tick();
        if let Some(end) = log.end.as_ref().filter(|e| e.tick == now) {
            g.end_by_forfeit(end.loser, end.reason);
            forced = true;
            break;
        }
        while let Some(r) = log.removals.get(next_removal) {
            if r.tick > now || g.outcome().is_some() {
                break;
            }
            if r.tick < now {
                return Err(ReplayError::OutOfOrder {
                    index: next_removal,
                    tick: r.tick,
                    previous: now,
                });
            }
            if r.seat >= g.seats() {
                return Err(ReplayError::NoSuchSeat {
                    index: next_removal,
                    tick: r.tick,
                    seat: r.seat,
                });
            }
            events.clear();
            g.remove_seat(r.seat, r.reason, &mut events);
            next_removal += 1;
        }
        if g.outcome().is_some() {
            break;
        }
        while let Some((tick, seat, input)) = log.inputs.get(next) {
            if *tick > now {
                break;
            }
            if *tick < now {
                return Err(ReplayError::OutOfOrder {
                    index: next,
                    tick: *tick,
                    previous: now,
                });
            }
            g.apply_input(*seat, input)
                .map_err(|error| ReplayError::RejectedInput {
                    index: next,
                    tick: *tick,
                    seat: *seat,
                    error,
                })?;
            next += 1;
        }
        if g.outcome().is_some() || now >= ticks {
            break;
        }
        events.clear();
        g.step(&mut events);
        on_step(g.as_ref());
        if g.tick() == now {
            // A game that stopped advancing without an outcome would loop forever.
            break;
        }
    }
    let tick = g.tick();
    let left = (log.inputs.len() - next) + (log.removals.len() - next_removal);
    if left > 0 {
        return Err(ReplayError::InputsAfterEnd { count: left, tick });
    }
    if let Some(end) = log.end.as_ref().filter(|_| !forced) {
        return Err(ReplayError::EndNotReached {
            end_tick: end.tick,
            tick,
        });
    }
    if tick != ticks {
        return Err(ReplayError::TickMismatch {
            recorded: ticks,
            simulated: tick,
        });
    }
    Ok(g)
}

/// Re-simulate `replay` and compare the final scores and [`Game::state_hash`] with the recorded
/// ones.
pub fn verify(replay: &Replay) -> Result<(), ReplayError> {
    let g = simulate(
        &replay.game,
        &replay.config,
        replay.seed,
        &replay.log,
        replay.ticks,
    )?;
    let recomputed: Vec<i64> = g.scores().into_iter().map(i64::from).collect();
    if recomputed != replay.scores {
        return Err(ReplayError::ScoreMismatch {
            recorded: replay.scores.clone(),
            recomputed,
        });
    }
    let hash = g.state_hash();
    if hash != replay.final_hash {
        return Err(ReplayError::HashMismatch {
            stored: replay.final_hash.clone(),
            recomputed: hash,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use rand::{Rng, SeedableRng};
    use serde_json::json;

    const INTENTS: [&str; 3] = ["up", "down", "stop"];

    /// Play like a room: random intent changes applied at the start of a tick and logged with
    /// the tick before the step; optionally a forced end at `force_at`.
    fn record(
        config: &Value,
        seed: u64,
        input_seed: u64,
        force_at: Option<(u64, Seat, EndReason)>,
    ) -> Replay {
        let mut g = game::create("pong", config, seed).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(input_seed);
        let mut log = InputLog::default();
        let mut events = Vec::new();
        loop {
            if let Some((tick, loser, reason)) = force_at {
                if g.tick() == tick {
                    log.end = Some(ForcedEnd {
                        tick,
                        loser,
                        reason,
                    });
                    g.end_by_forfeit(loser, reason);
                    break;
                }
            }
            for seat in 0..2u8 {
                if rng.gen_ratio(1, 8) {
                    let input = json!(INTENTS[rng.gen_range(0..3)]);
                    g.apply_input(seat, &input).unwrap();
                    log.record_input(g.tick(), seat, input);
                }
            }
            g.step(&mut events);
            if g.outcome().is_some() {
                break;
            }
            assert!(g.tick() < 100_000, "game never ends");
        }
        Replay {
            r#match: "m".into(),
            game: "pong".into(),
            seed,
            config: config.clone(),
            ticks: g.tick(),
            log,
            final_hash: g.state_hash(),
            players: vec![Some("a".into()), Some("b".into())],
            scores: g.scores().into_iter().map(i64::from).collect(),
        }
    }

    fn quick() -> Value {
        json!({"points_to_win": 2})
    }

    #[test]
    fn a_recorded_game_verifies() {
        for seed in [1, 2, 3, u64::MAX] {
            let r = record(&quick(), seed, seed ^ 77, None);
            assert!(r.log.inputs.len() > 5);
            verify(&r).unwrap();
            let g = simulate("pong", &r.config, r.seed, &r.log, r.ticks).unwrap();
            let outcome = g.outcome().unwrap();
            assert_eq!(outcome.reason, EndReason::Score);
            assert_eq!(g.tick(), r.ticks);
        }
    }

    #[test]
    fn the_compact_log_keeps_every_entry_and_interns_values() {
        let mut c = CompactLog::default();
        let mut plain = InputLog::default();
        for i in 0..1000u64 {
            let v = serde_json::json!(["up", "down", "stop"][(i % 3) as usize]);
            c.record_input(i / 2, (i % 2) as Seat, v.clone());
            plain.record_input(i / 2, (i % 2) as Seat, v);
        }
        c.end = Some(ForcedEnd {
            tick: 500,
            loser: 1,
            reason: EndReason::Resign,
        });
        plain.end = c.end.clone();
        assert_eq!(c.to_log(), plain);
        assert_eq!(c.len(), 1000);
        assert_eq!(c.values.len(), 3);
        assert_eq!(std::mem::size_of::<CompactEntry>(), 16);
        assert_eq!(CompactLog::from_log(&plain), c);
        assert_eq!(
            serde_json::to_string(&c.to_log()).unwrap(),
            serde_json::to_string(&plain).unwrap()
        );
    }

    #[test]
    fn the_log_round_trips_through_json() {
        let r = record(&quick(), 5, 6, Some((90, 0, EndReason::Resign)));
        let text = serde_json::to_string(&r.log).unwrap();
        assert!(text.starts_with(r#"{"inputs":[["#), "{text}");
        assert!(text.ends_with(r#""end":{"tick":90,"loser":0,"reason":"resign"}}"#));
        let back: InputLog = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r.log);
        let whole: Replay = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        verify(&whole).unwrap();
    }

    #[test]
    fn a_forfeit_between_ticks_verifies() {
        let r = record(&quick(), 11, 12, Some((70, 1, EndReason::Forfeit)));
        assert_eq!(r.ticks, 70);
        verify(&r).unwrap();
        let g = simulate("pong", &r.config, r.seed, &r.log, r.ticks).unwrap();
        let outcome = g.outcome().unwrap();
        assert_eq!(outcome.winner, Some(0));
        assert_eq!(outcome.reason, EndReason::Forfeit);

        // Moving the end one tick changes what was simulated.
        let mut moved = r.clone();
        moved.log.end.as_mut().unwrap().tick = 69;
        assert!(verify(&moved).is_err());
    }

    #[test]
    fn removals_are_replayed_at_their_tick_and_old_logs_read_without_them() {
        // Pong's remove_seat is the default (the other seat wins by forfeit): a removal logged at
        // tick 60 replays as that end.
        let mut r = record(&quick(), 13, 14, Some((60, 1, EndReason::Forfeit)));
        let end = r.log.end.take().unwrap();
        r.log.removals.push(Removal {
            tick: end.tick,
            seat: end.loser,
            reason: end.reason,
        });
        verify(&r).unwrap();
        let text = serde_json::to_string(&r.log).unwrap();
        assert!(
            text.ends_with(r#""removals":[{"tick":60,"seat":1,"reason":"forfeit"}]}"#),
            "{text}"
        );
        // A log without removals has no such member, and one without it reads.
        let plain = record(&quick(), 13, 14, None);
        let text = serde_json::to_string(&plain.log).unwrap();
        assert!(!text.contains("removals"), "{text}");
        let back: InputLog = serde_json::from_str(r#"{"inputs":[],"end":null}"#).unwrap();
        assert!(back.removals.is_empty());
        // A removal at another tick, of a seat that does not exist, or after the end is corrupt.
        let mut moved = r.clone();
        moved.log.removals[0].tick = 59;
        assert!(verify(&moved).is_err());
        let mut seat = r.clone();
        seat.log.removals[0].seat = 7;
        assert!(matches!(
            verify(&seat),
            Err(ReplayError::NoSuchSeat { seat: 7, .. })
        ));
        let mut late = r.clone();
        late.log.removals.push(Removal {
            tick: 61,
            seat: 0,
            reason: EndReason::Resign,
        });
        assert!(matches!(
            verify(&late),
            Err(ReplayError::InputsAfterEnd { .. })
        ));
    }

    #[test]
    fn a_draw_at_the_time_limit_verifies() {
        let r = record(&quick(), 21, 22, Some((50, 255, EndReason::Abandoned)));
        verify(&r).unwrap();
        let g = simulate("pong", &r.config, r.seed, &r.log, r.ticks).unwrap();
        assert_eq!(g.outcome().unwrap().winner, None);
    }

    #[test]
    fn a_forced_end_at_tick_zero_needs_no_inputs() {
        let r = record(&quick(), 3, 4, Some((0, 0, EndReason::Forfeit)));
        assert!(r.log.inputs.is_empty());
        verify(&r).unwrap();
    }

    #[test]
    fn tampering_is_detected() {
        let r = record(&quick(), 31, 32, None);

        let mut hash = r.clone();
        hash.final_hash = "0".repeat(64);
        assert!(matches!(
            verify(&hash),
            Err(ReplayError::HashMismatch { .. })
        ));
        let message = verify(&hash).unwrap_err().to_string();
        assert!(
            message.starts_with("hash mismatch: stored 0000"),
            "{message}"
        );

        // The last input of a seat sets the intent it holds at the end, which is in the state.
        let mut input = r.clone();
        let last = input
            .log
            .inputs
            .iter_mut()
            .rev()
            .find(|i| i.1 == 0)
            .unwrap();
        last.2 = json!(if last.2 == "up" { "down" } else { "up" });
        assert!(verify(&input).is_err());

        let mut refused = r.clone();
        refused.log.inputs[0].2 = json!("left");
        assert!(matches!(
            verify(&refused),
            Err(ReplayError::RejectedInput { index: 0, .. })
        ));

        let mut seat = r.clone();
        seat.log.inputs[0].1 = 2;
        assert!(matches!(
            verify(&seat),
            Err(ReplayError::RejectedInput { .. })
        ));

        let mut seed = r.clone();
        seed.seed += 1;
        assert!(verify(&seed).is_err());

        let mut scores = r.clone();
        scores.scores = vec![scores.scores[1], scores.scores[0]];
        assert!(matches!(
            verify(&scores),
            Err(ReplayError::ScoreMismatch { .. })
        ));
    }

    #[test]
    fn corrupt_logs_are_refused() {
        let r = record(&quick(), 41, 42, None);

        let mut late = r.clone();
        late.log.inputs.push((r.ticks + 5, 0, json!("up")));
        assert!(matches!(
            verify(&late),
            Err(ReplayError::InputsAfterEnd { count: 1, .. })
        ));

        let mut order = r.clone();
        let first = order.log.inputs.remove(0);
        let at = order.log.inputs.len() / 2;
        order.log.inputs.insert(at, first);
        assert!(matches!(
            verify(&order),
            Err(ReplayError::OutOfOrder { .. })
        ));

        let mut end = r.clone();
        end.log.end = Some(ForcedEnd {
            tick: r.ticks + 10,
            loser: 0,
            reason: EndReason::Resign,
        });
        assert!(matches!(
            verify(&end),
            Err(ReplayError::EndNotReached { .. })
        ));

        let mut short = r.clone();
        short.ticks -= 1;
        assert!(verify(&short).is_err());
        let mut long = r.clone();
        long.ticks += 1;
        assert!(matches!(
            verify(&long),
            Err(ReplayError::TickMismatch { .. })
        ));

        let mut kind = r.clone();
        kind.game = "chess".into();
        assert!(matches!(verify(&kind), Err(ReplayError::Game(_))));
        let mut config = r;
        config.config = json!({"points_to_win": 0});
        assert!(matches!(verify(&config), Err(ReplayError::Game(_))));
    }
}
