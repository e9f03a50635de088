//! Pure game logic: the [`Game`] trait that a room drives, the types it exchanges with the room,
//! and the games themselves.
//!
//! # Layout
//! - this file: [`Game`], [`Outcome`], [`EndReason`], [`GameEvent`], [`InputError`],
//!   [`GameError`], the deterministic [`GameRng`], the factory ([`create`], [`restore`],
//!   [`default_config`], [`GAMES`]) and the catalogue ([`GameSpec`], [`specs`], [`spec`],
//!   [`config_for_seats`]).
//! - [`pong`]: Pong, the reference game (two seats, held intents, a small full snapshot).
//! - [`cycles`]: light cycles (2–8 seats, elimination, turns as one-off events, a growing state
//!   sent as deltas).
//!
//! docs/games.md is the guide to writing a game: the contract of [`Game`] with two worked
//! examples.
//!
//! # Determinism contract
//! Nothing here touches a clock, a socket, a file or a global random generator, and no game uses
//! floating point. Positions and velocities are integers (fixed point), randomness comes only from
//! a [`GameRng`] seeded by the room and stored in the game state. So the same kind, config, seed
//! and input sequence (inputs applied between the same steps) give a bit-identical state on every
//! machine and build, which is what lets a replay be verified by re-simulating it and comparing
//! [`Game::state_hash`].

pub mod cycles;
pub mod pong;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// A player's seat in a game, `0..seats()`. Seats, not player ids, so that the pure game never
/// learns who is playing; the room maps players to seats.
pub type Seat = u8;

/// The kinds that [`create`] knows, in the order clients should list them.
pub const GAMES: &[&str] = &[pong::KIND, cycles::KIND];

/// What the engine (matchmaker, lobby, `GET /api/v1/games`) needs to know about a game kind
/// without creating one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GameSpec {
    /// The kind, as passed to [`create`] (for example `"pong"`).
    pub kind: &'static str,
    /// A human-readable name for lobbies.
    pub name: &'static str,
    /// Fewest seats a match of this kind may have (a quick match may start with this many
    /// when a matched player does not come).
    pub min_seats: u8,
    /// Most seats a match of this kind may have.
    pub max_seats: u8,
    /// Quick-match group size when a player does not ask for one.
    pub default_queue_size: u8,
}

/// The catalogue, in the order of [`GAMES`].
const SPECS: &[GameSpec] = &[
    GameSpec {
        kind: pong::KIND,
        name: "Pong",
        min_seats: pong::SEATS,
        max_seats: pong::SEATS,
        default_queue_size: pong::SEATS,
    },
    GameSpec {
        kind: cycles::KIND,
        name: "Light cycles",
        min_seats: cycles::SEATS_MIN as u8,
        max_seats: cycles::SEATS_MAX as u8,
        default_queue_size: 4,
    },
];

/// Every game kind with its seat range, in the order clients should list them.
pub fn specs() -> &'static [GameSpec] {
    SPECS
}

/// The spec of `kind`, or `None` for an unknown kind.
pub fn spec(kind: &str) -> Option<&'static GameSpec> {
    SPECS.iter().find(|s| s.kind == kind)
}

/// The config of a quick match of `seats` players of `kind`: the game's defaults, with the seat
/// count where the game has one. A seat count outside the game's range is a
/// [`GameError::BadConfig`] naming it.
pub fn config_for_seats(kind: &str, seats: u8) -> Result<serde_json::Value, GameError> {
    let spec = spec(kind).ok_or_else(|| GameError::UnknownKind(kind.to_owned()))?;
    if !(spec.min_seats..=spec.max_seats).contains(&seats) {
        return Err(GameError::BadConfig {
            kind: spec.kind,
            message: format!(
                "seats must be in {}..={}, got {seats}",
                spec.min_seats, spec.max_seats
            ),
        });
    }
    match spec.kind {
        // Pong's seat count is fixed; its config has no `seats` field.
        pong::KIND => default_config(kind),
        cycles::KIND => to_json(
            cycles::KIND,
            &cycles::CyclesConfig {
                seats: u32::from(seats),
                ..cycles::CyclesConfig::default()
            },
        ),
        other => Err(GameError::UnknownKind(other.to_owned())),
    }
}

/// One running game, driven by a room at a fixed tick rate.
///
/// The room owns a `Box<dyn Game>`; every call is synchronous and cheap (microseconds), so it may
/// run on the room actor's thread inside the tick. Implementations must be deterministic: see the
/// module documentation.
pub trait Game: Send + std::fmt::Debug {
    /// The game's kind, as passed to [`create`] (for example `"pong"`).
    fn kind(&self) -> &'static str;

    /// Number of player seats; seats are `0..seats()`.
    fn seats(&self) -> u8;

    /// Ticks simulated so far (the number of [`Game::step`] calls that advanced the game).
    fn tick(&self) -> u64;

    /// Validates and applies one client input for `seat`; it takes effect on the next step.
    ///
    /// Inputs are intents (for example "move up"), never positions, so a client cannot teleport.
    /// A wrong shape, an unknown seat or an input after the end is an [`InputError`] whose message
    /// can be shown to the player; the state is then unchanged.
    fn apply_input(&mut self, seat: Seat, input: &serde_json::Value) -> Result<(), InputError>;

    /// Whether an input is an intent that holds until the next one, so that applying the same
    /// input twice in a row changes nothing. The room then acks a repeated input without
    /// applying or recording it (`rally_inputs_total{result="repeated"}`): clients that send
    /// their intent every frame cost no replay memory. Default: `false`.
    fn inputs_are_intents(&self) -> bool {
        false
    }

    /// Whether the room pauses the game while a seated player is away (disconnected, within the
    /// reconnect grace). `true` (the default, Pong): the room pauses, and the away player
    /// forfeits when the grace ends. `false`: the game goes on without them (the away seat simply
    /// sends no input); when the grace ends the room calls [`Game::remove_seat`] with
    /// [`EndReason::Forfeit`]. The room pauses anyway when every seated player is away.
    fn pauses_when_away(&self) -> bool {
        true
    }

    /// Takes `seat` out of the match for good (it left, resigned or forfeited), records `reason`,
    /// and returns `Some(outcome)` when the game ended because of it. The game may push events
    /// (for example a game-specific "out" event) but never [`GameEvent::Ended`]: as for
    /// [`Game::end_by_forfeit`], the room reports the returned outcome. A seat that is not in the
    /// match, or a call after the end, changes nothing (`None` unless the game has ended, then
    /// the existing outcome).
    ///
    /// The default ends the game by [`Game::end_by_forfeit`], which is right for two-player
    /// games: when one of two leaves, the other wins.
    fn remove_seat(
        &mut self,
        seat: Seat,
        reason: EndReason,
        events: &mut Vec<GameEvent>,
    ) -> Option<Outcome> {
        let _ = events;
        Some(self.end_by_forfeit(seat, reason))
    }

    /// Whether the room's shared per-tick frame carries [`Game::snapshot_since`] (what changed
    /// after the previous frame's tick) instead of [`Game::snapshot`]. When `true`, a client
    /// that joins, rejoins or starts spectating first gets a full [`Game::snapshot`] of its own,
    /// so it always holds a base to apply deltas to. Default `false`: every frame is a full
    /// snapshot.
    fn sends_deltas(&self) -> bool {
        false
    }

    /// What changed after tick `since`, as compact JSON; a full snapshot when a delta cannot
    /// express the change (for example a new round) or periodically, so that a client that
    /// missed a frame recovers. The default is the full [`Game::snapshot`].
    fn snapshot_since(&self, since: u64) -> Box<RawValue> {
        let _ = since;
        self.snapshot()
    }

    /// [`Game::snapshot_since`] in its compact `rally.v1.bin` form, appended to `out`. The
    /// default transcodes the JSON, as [`Game::snapshot_bin`] does.
    fn snapshot_since_bin(&self, since: u64, out: &mut Vec<u8>) {
        let json = self.snapshot_since(since);
        if crate::protocol::msgpack::values_from_json(json.get(), out).is_err() {
            crate::protocol::msgpack::write_nil(out);
        }
    }

    /// Advances exactly one tick and pushes what happened ([`GameEvent::Scored`],
    /// [`GameEvent::Ended`], ...) into `events`. Once the game has an [`Game::outcome`] this does
    /// nothing and the tick no longer advances.
    fn step(&mut self, events: &mut Vec<GameEvent>);

    /// The full public snapshot as compact JSON, encoded once per tick by the room and shared by
    /// every recipient.
    fn snapshot(&self) -> Box<RawValue>;

    /// The snapshot in its compact `rally.v1.bin` form (docs/protocol.md §12.4), appended to
    /// `out`: the JSON snapshot object's values in order, as a MessagePack array. The default
    /// transcodes [`Game::snapshot`]; a game may write the same bytes directly (Pong does).
    fn snapshot_bin(&self, out: &mut Vec<u8>) {
        let json = self.snapshot();
        if crate::protocol::msgpack::values_from_json(json.get(), out).is_err() {
            crate::protocol::msgpack::write_nil(out);
        }
    }

    /// The snapshot for spectators, which may hide private information (hands, fog of war).
    /// Games without private information return the same as [`Game::snapshot`].
    fn spectator_snapshot(&self) -> Box<RawValue>;

    /// Static description that clients need once (field size, sprite sizes, input names), sent
    /// by the room at join. The default names the kind and the number of seats.
    fn info(&self) -> serde_json::Value {
        serde_json::json!({ "kind": self.kind(), "seats": self.seats() })
    }

    /// Current score of each seat, indexed by seat.
    fn scores(&self) -> Vec<u32>;

    /// The outcome once the game has ended, by score or by [`Game::end_by_forfeit`].
    fn outcome(&self) -> Option<Outcome>;

    /// Ends the game now because `loser` forfeited, resigned or abandoned (a room-level
    /// decision), records `reason`, and returns the outcome. If the game had already ended, the
    /// existing outcome is returned unchanged. No event is emitted: the room reports the outcome.
    fn end_by_forfeit(&mut self, loser: Seat, reason: EndReason) -> Outcome;

    /// Serialises the whole state (checkpoint, failover); [`restore`] reverses it exactly, and
    /// the restored game continues bit-identically.
    fn save(&self) -> serde_json::Value;

    /// Lower-case hex SHA-256 of a canonical encoding of the whole state, used to verify replays
    /// and to compare instances.
    fn state_hash(&self) -> String;
}

/// Why a game ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// A seat reached the winning score.
    Score,
    /// A seat lost by forfeit (for example it did not return in time after a disconnect).
    Forfeit,
    /// A seat resigned.
    Resign,
    /// Every player left; there may be no winner.
    Abandoned,
}

impl EndReason {
    /// The snake_case name used in JSON, for logs, metrics labels and database columns.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Score => "score",
            Self::Forfeit => "forfeit",
            Self::Resign => "resign",
            Self::Abandoned => "abandoned",
        }
    }
}

/// How a game ended.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The winning seat, or `None` for a draw or an abandoned game.
    pub winner: Option<Seat>,
    /// Final score of each seat, indexed by seat.
    pub scores: Vec<u32>,
    /// Why the game ended.
    pub reason: EndReason,
    /// The finishing order: the 1-based place of each seat, indexed by seat; equal places are
    /// ties (`[1, 1]` is a draw). Empty in records written before places existed.
    #[serde(default)]
    pub places: Vec<u8>,
}

impl Outcome {
    /// Places for a game decided by a single winner among `seats` seats: the winner first, every
    /// other seat second; all first (a draw) when there is no winner. Two-player games (Pong)
    /// and room-level ends that only know a winner use it.
    pub fn places_for_winner(seats: usize, winner: Option<Seat>) -> Vec<u8> {
        (0..seats)
            .map(|s| match winner {
                Some(w) if usize::from(w) == s => 1,
                Some(_) => 2,
                None => 1,
            })
            .collect()
    }
}

/// Something that happened during a [`Game::step`], for the room to forward and record.
///
/// Serialised with a `"type"` tag in snake_case, for example
/// `{"type":"scored","seat":0,"scores":[1,0]}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GameEvent {
    /// `seat` scored; `scores` are the scores after the point, indexed by seat.
    Scored {
        /// The seat that scored.
        seat: Seat,
        /// Scores after the point.
        scores: Vec<u32>,
    },
    /// The game ended; always the last event of a game.
    Ended {
        /// How it ended.
        outcome: Outcome,
    },
    /// A game-specific event that clients may use for sound or effects (Pong: `"serve"`,
    /// `"hit"`). Rooms forward it without interpreting it.
    Custom {
        /// Event name, snake_case, unique within the game kind.
        name: String,
        /// Event details; small JSON.
        data: serde_json::Value,
    },
}

/// A client input that was refused; the state is unchanged. The message is meant for players.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The seat does not exist in this game.
    #[error("seat {seat} does not exist (this game has {seats} seats)")]
    NoSuchSeat {
        /// The seat that was given.
        seat: Seat,
        /// How many seats the game has.
        seats: u8,
    },
    /// The input has the wrong shape or value; the message says what was expected.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The game has ended; no more inputs are accepted.
    #[error("the game is over")]
    GameOver,
}

/// A game could not be created or restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GameError {
    /// No game of this kind exists.
    #[error("unknown game {0:?} (known games: {known})", known = GAMES.join(", "))]
    UnknownKind(String),
    /// The configuration was malformed or out of range; the message names the field.
    #[error("invalid {kind} config: {message}")]
    BadConfig {
        /// The game kind.
        kind: &'static str,
        /// What is wrong, naming the field and its allowed range.
        message: String,
    },
    /// A saved state could not be decoded or is inconsistent.
    #[error("invalid saved {kind} state: {message}")]
    BadSave {
        /// The game kind.
        kind: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Creates a new game of `kind` from its JSON `config` (`null` means the defaults) and the room's
/// `seed`, which is the only source of randomness.
pub fn create(
    kind: &str,
    config: &serde_json::Value,
    seed: u64,
) -> Result<Box<dyn Game>, GameError> {
    match kind {
        pong::KIND => Ok(Box::new(pong::Pong::new(
            pong::PongConfig::from_json(config)?,
            seed,
        ))),
        cycles::KIND => Ok(Box::new(cycles::Cycles::new(
            cycles::CyclesConfig::from_json(config)?,
            seed,
        ))),
        other => Err(GameError::UnknownKind(other.to_owned())),
    }
}

/// Rebuilds a game of `kind` from the output of [`Game::save`]; it continues exactly where the
/// saved game was.
pub fn restore(kind: &str, saved: &serde_json::Value) -> Result<Box<dyn Game>, GameError> {
    match kind {
        pong::KIND => Ok(Box::new(pong::Pong::restore(saved)?)),
        cycles::KIND => Ok(Box::new(cycles::Cycles::restore(saved)?)),
        other => Err(GameError::UnknownKind(other.to_owned())),
    }
}

/// The default configuration of `kind`, as JSON, for forms and documentation.
pub fn default_config(kind: &str) -> Result<serde_json::Value, GameError> {
    match kind {
        pong::KIND => to_json(pong::KIND, &pong::PongConfig::default()),
        cycles::KIND => to_json(cycles::KIND, &cycles::CyclesConfig::default()),
        other => Err(GameError::UnknownKind(other.to_owned())),
    }
}

/// A config as JSON (cannot fail for these plain structs of integers).
fn to_json(kind: &'static str, config: &impl Serialize) -> Result<serde_json::Value, GameError> {
    serde_json::to_value(config).map_err(|e| GameError::BadConfig {
        kind,
        message: e.to_string(),
    })
}

/// Slowest room tick rate a game config may ask for: below 10 Hz movement is visibly jerky and
/// inputs wait up to 100 ms.
pub const TICK_HZ_MIN: u32 = 10;
/// Fastest room tick rate: above 240 Hz (about 4 ms per tick) encoding and fanning out a snapshot
/// per tick dominates the room's cost, and timers with 1 ms granularity cannot keep the period.
pub const TICK_HZ_MAX: u32 = 240;

/// Parses a game's config from JSON, the same way for every game: `null` means all defaults, an
/// object may give any subset of the fields (the config type uses `#[serde(default,
/// deny_unknown_fields)]`, so a typo is refused), anything else is refused. A refusal names the
/// offending field. The caller validates the ranges afterwards.
pub fn parse_config<T>(kind: &'static str, json: &serde_json::Value) -> Result<T, GameError>
where
    T: serde::de::DeserializeOwned + Default,
{
    let bad = |message| GameError::BadConfig { kind, message };
    if json.is_null() {
        Ok(T::default())
    } else if !json.is_object() {
        let found = json_type(json);
        Err(bad(format!(
            "config must be a JSON object or null, got {found}"
        )))
    } else {
        T::deserialize(json).map_err(|e| bad(locate_config_error::<T>(json, e)))
    }
}

/// Names the field behind a config deserialisation error (serde's message from a JSON value does
/// not), by decoding each field of the object on its own; config parsing is rare, so this is
/// cheap enough.
fn locate_config_error<T: serde::de::DeserializeOwned>(
    json: &serde_json::Value,
    error: serde_json::Error,
) -> String {
    if let Some(object) = json.as_object() {
        for (key, value) in object {
            let single =
                serde_json::Value::Object(std::iter::once((key.clone(), value.clone())).collect());
            if let Err(e) = T::deserialize(&single) {
                return format!("field {key}: {e}");
            }
        }
    }
    error.to_string()
}

/// Checks that a config field's `value` is in `min..=max`; the refusal names the field and the
/// range.
pub fn check_range(
    kind: &'static str,
    field: &str,
    value: u32,
    min: u32,
    max: u32,
) -> Result<(), GameError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(GameError::BadConfig {
            kind,
            message: format!("{field} must be in {min}..={max}, got {value}"),
        })
    }
}

/// The JSON type of `value`, for error messages that must not echo large inputs.
pub(crate) fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Deterministic random generator stored in a game's state: ChaCha8 seeded from a `u64`.
///
/// It serialises as `{"seed":"<64 hex digits>","word_pos":N}` (the key and the position in the
/// key stream), so a saved game resumes the exact same sequence. The sampling helpers are written
/// here rather than taken from `rand::Rng`, whose algorithms may change between `rand` versions
/// and would silently break old replays.
#[derive(Clone, Debug)]
pub struct GameRng(ChaCha8Rng);

impl GameRng {
    /// A generator seeded from `seed` (the room's seed).
    pub fn seeded(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    /// A uniform number in `0..n` (unbiased, by rejection); `0` when `n` is `0`.
    pub fn below(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        // 2^32 mod n: drawing below this would favour small results.
        let reject_below = n.wrapping_neg() % n;
        loop {
            let x = self.next_u32();
            if x >= reject_below {
                return x % n;
            }
        }
    }
}

/// Serialised form of [`GameRng`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RngState {
    seed: String,
    word_pos: u64,
}

impl Serialize for GameRng {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let word_pos = u64::try_from(self.0.get_word_pos())
            .map_err(|_| serde::ser::Error::custom("random stream position beyond 2^64"))?;
        RngState {
            seed: hex::encode(self.0.get_seed()),
            word_pos,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for GameRng {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let state = RngState::deserialize(deserializer)?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(&state.seed, &mut seed).map_err(serde::de::Error::custom)?;
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_word_pos(u128::from(state.word_pos));
        Ok(Self(rng))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn rng_round_trips_mid_block() {
        let mut a = GameRng::seeded(7);
        // 5 words: the position is inside ChaCha's first 64-word block.
        for _ in 0..5 {
            a.next_u32();
        }
        let json = serde_json::to_value(&a).unwrap();
        let mut b: GameRng = serde_json::from_value(json).unwrap();
        let xs: Vec<u32> = (0..100).map(|_| a.next_u32()).collect();
        let ys: Vec<u32> = (0..100).map(|_| b.next_u32()).collect();
        assert_eq!(xs, ys);
    }

    #[test]
    fn rng_below_stays_in_range_and_is_seeded() {
        let mut a = GameRng::seeded(1);
        let mut b = GameRng::seeded(1);
        let mut c = GameRng::seeded(2);
        let xs: Vec<u32> = (0..50).map(|_| a.below(7)).collect();
        let ys: Vec<u32> = (0..50).map(|_| b.below(7)).collect();
        let zs: Vec<u32> = (0..50).map(|_| c.below(7)).collect();
        assert!(xs.iter().all(|&x| x < 7));
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        assert_eq!(a.below(0), 0);
    }

    #[test]
    fn factory_knows_its_games() {
        assert!(create("pong", &serde_json::Value::Null, 1).is_ok());
        assert!(matches!(
            create("chess", &serde_json::Value::Null, 1),
            Err(GameError::UnknownKind(_))
        ));
        assert!(default_config("pong").is_ok());
        assert!(default_config("chess").is_err());
        assert!(restore("chess", &serde_json::Value::Null).is_err());
        for kind in GAMES {
            assert!(default_config(kind).is_ok());
        }
    }

    #[test]
    fn specs_match_the_factory() {
        let kinds: Vec<&str> = specs().iter().map(|s| s.kind).collect();
        assert_eq!(kinds, GAMES);
        for s in specs() {
            assert!(s.min_seats >= 2 && s.min_seats <= s.max_seats);
            assert!((s.min_seats..=s.max_seats).contains(&s.default_queue_size));
            assert_eq!(spec(s.kind), Some(s));
            for seats in s.min_seats..=s.max_seats {
                let config = config_for_seats(s.kind, seats).unwrap();
                let game = create(s.kind, &config, 1).unwrap();
                assert_eq!(game.seats(), seats, "{} with {seats} seats", s.kind);
            }
            let too_many = config_for_seats(s.kind, s.max_seats + 1).unwrap_err();
            assert!(too_many.to_string().contains("seats"), "{too_many}");
            assert!(config_for_seats(s.kind, s.min_seats - 1).is_err());
        }
        assert!(spec("chess").is_none());
        assert!(matches!(
            config_for_seats("chess", 2),
            Err(GameError::UnknownKind(_))
        ));
    }

    #[test]
    fn places_for_a_single_winner() {
        assert_eq!(Outcome::places_for_winner(2, Some(0)), [1, 2]);
        assert_eq!(Outcome::places_for_winner(2, Some(1)), [2, 1]);
        assert_eq!(Outcome::places_for_winner(2, None), [1, 1]);
        assert_eq!(Outcome::places_for_winner(3, Some(2)), [2, 2, 1]);
    }

    #[test]
    fn events_and_outcomes_have_stable_json() {
        let outcome = Outcome {
            winner: Some(1),
            scores: vec![2, 5],
            reason: EndReason::Score,
            places: vec![2, 1],
        };
        let ended = serde_json::to_string(&GameEvent::Ended {
            outcome: outcome.clone(),
        })
        .unwrap();
        assert_eq!(
            ended,
            r#"{"type":"ended","outcome":{"winner":1,"scores":[2,5],"reason":"score","places":[2,1]}}"#
        );
        // Records written before places existed still load.
        let old: Outcome =
            serde_json::from_str(r#"{"winner":null,"scores":[1,1],"reason":"abandoned"}"#).unwrap();
        assert!(old.places.is_empty());
        let scored = serde_json::to_string(&GameEvent::Scored {
            seat: 0,
            scores: vec![1, 0],
        })
        .unwrap();
        assert_eq!(scored, r#"{"type":"scored","seat":0,"scores":[1,0]}"#);
        for reason in [
            EndReason::Score,
            EndReason::Forfeit,
            EndReason::Resign,
            EndReason::Abandoned,
        ] {
            let json = serde_json::to_value(reason).unwrap();
            assert_eq!(json, serde_json::Value::from(reason.as_str()));
        }
    }
}
