//! Match records: created with their room, started, finished idempotently by match id and fenced
//! by an ownership epoch, then read back for history, the leaderboard and replays.
//!
//! # Lifecycle
//! `created` ([`insert_created`]) → `playing` ([`mark_started`]) → `finished` ([`finish`]), or
//! `created`/`playing` → `abandoned` ([`abandon`], a no-show: nobody is rated). `finished` and
//! `abandoned` are terminal: no write changes such a row again.
//!
//! # Fencing
//! Every write made by the room that owns a match carries the `epoch` it was given. A new owner
//! (failover, restore at start-up) calls [`take_over`], which bumps the epoch; from then on the
//! old owner's writes are refused ([`FinishOutcome::StaleEpoch`], `false`), so two instances can
//! never both record a result.
//!
//! # Seats
//! A match has as many seats as its game (2 for Pong, 2–8 for light cycles): `match_seats` holds
//! one row per seat (player, final score, place, rating change), created with the match and
//! completed by [`finish`]. The `player0_id`/`player1_id`, `score0`/`score1` and `rating{0,1}_*`
//! columns of `matches` repeat the first two seats (tournaments, which are 1v1, read them).
//!
//! # Ratings
//! Ratings are per game (`ratings`, one row per player and game; a missing row is the default
//! rating). [`finish`] applies Glicko-2 over the pairwise results implied by the places
//! ([`crate::matchmaking::rating::rate_places`]; for two seats the one-game period of
//! [`crate::matchmaking::rating::update`]) in the same transaction that records the result, so
//! a result and its rating change are written together or not at all, and a repeated `finish`
//! never rates twice. The Pong rating is also kept in `players.rating*`, which the token
//! principal, `/me`'s top-level rating and tournament seeding (Pong) read.

use super::schema::{match_seats, matches, players, ratings};
use super::{is_unique_violation, now_ms, AnyConnection};
use crate::error::{AppError, AppResult};
use crate::game::{EndReason, Outcome};
use crate::matchmaking::rating::{self, Rating};
use crate::replay::{InputLog, Replay};
use diesel::prelude::*;
use std::collections::HashMap;

/// `status` of a match whose room exists but whose game has not started.
pub const STATUS_CREATED: &str = "created";
/// `status` of a match being played.
pub const STATUS_PLAYING: &str = "playing";
/// `status` of a match with a recorded result (terminal).
pub const STATUS_FINISHED: &str = "finished";
/// `status` of a match that never properly started (no-show; terminal, nobody rated).
pub const STATUS_ABANDONED: &str = "abandoned";
/// The terminal statuses: rows in them are never written again.
pub const TERMINAL: [&str; 2] = [STATUS_FINISHED, STATUS_ABANDONED];

/// The match modes: quick match (rated for everyone), private room (rated only when created as
/// rated), tournament.
pub const MODES: [&str; 3] = ["quick", "private", "tournament"];

/// Fewest rated games a registered player needs to appear on the leaderboard: an account that
/// never played has only the default rating, which says nothing about its strength.
pub const LEADERBOARD_MIN_GAMES: i64 = 1;

/// A row of `matches`.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = matches)]
pub struct MatchRow {
    /// Match id (ULID).
    pub id: String,
    /// The room the match is played in.
    pub room_id: String,
    /// Game kind (`pong`).
    pub game: String,
    /// `quick` | `private` | `tournament`.
    pub mode: String,
    /// Whether the result changes ratings.
    pub rated: bool,
    /// `created` | `playing` | `finished` | `abandoned`.
    pub status: String,
    /// The player in seat 0, once known.
    pub player0_id: Option<String>,
    /// The player in seat 1, once known.
    pub player1_id: Option<String>,
    /// Seat 0's final score.
    pub score0: i64,
    /// Seat 1's final score.
    pub score1: i64,
    /// The winning seat; `None` for a draw or before the end.
    pub winner_seat: Option<i64>,
    /// Why the match ended ([`EndReason`] as text, or the reason given to [`abandon`]).
    pub end_reason: Option<String>,
    /// The game seed (a `u64` stored as its `i64` bit pattern).
    pub seed: i64,
    /// Game config JSON.
    pub config: String,
    /// Replay input log JSON ([`InputLog`]), once finished.
    pub input_log: Option<String>,
    /// [`crate::game::Game::state_hash`] of the final state.
    pub final_hash: Option<String>,
    /// Final game tick.
    pub ticks: i64,
    /// Ownership epoch (fencing token).
    pub epoch: i64,
    /// Seat 0's rating before a rated match.
    pub rating0_before: Option<f64>,
    /// Seat 0's rating after a rated match.
    pub rating0_after: Option<f64>,
    /// Seat 1's rating before a rated match.
    pub rating1_before: Option<f64>,
    /// Seat 1's rating after a rated match.
    pub rating1_after: Option<f64>,
    /// Tournament this match belongs to.
    pub tournament_id: Option<String>,
    /// Bracket slot within the tournament (e.g. `r2m1`).
    pub tournament_slot: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms, when play started.
    pub started_at: Option<i64>,
    /// Unix ms, when the result (or the abandonment) was recorded.
    pub finished_at: Option<i64>,
    /// Played time in ms, as measured by the room.
    pub duration_ms: Option<i64>,
}

impl MatchRow {
    /// The player in `seat` (0 or 1).
    pub fn player(&self, seat: u8) -> Option<&str> {
        match seat {
            0 => self.player0_id.as_deref(),
            1 => self.player1_id.as_deref(),
            _ => None,
        }
    }

    /// The replay of this match (`seats`: its [`seats_of`] rows): 404 `not_found` unless it is
    /// finished, 409 `conflict` when it has no input log or final hash, 500 when the stored log
    /// or config is not valid JSON.
    pub fn replay(&self, seats: &[SeatRow]) -> AppResult<Replay> {
        if self.status != STATUS_FINISHED {
            return Err(AppError::not_found(format!(
                "match {} is not finished (status {}), so it has no replay",
                self.id, self.status
            )));
        }
        let (Some(log), Some(final_hash)) = (&self.input_log, &self.final_hash) else {
            return Err(AppError::conflict(format!(
                "match {} was finished without a replay",
                self.id
            )));
        };
        let log: InputLog = serde_json::from_str(log).map_err(|e| {
            AppError::internal(anyhow::anyhow!("match {}: stored input log: {e}", self.id))
        })?;
        let config = serde_json::from_str(&self.config).map_err(|e| {
            AppError::internal(anyhow::anyhow!("match {}: stored config: {e}", self.id))
        })?;
        Ok(Replay {
            r#match: self.id.clone(),
            game: self.game.clone(),
            seed: self.seed as u64,
            config,
            ticks: u64::try_from(self.ticks).unwrap_or(0),
            log,
            final_hash: final_hash.clone(),
            players: seats.iter().map(|s| s.player_id.clone()).collect(),
            scores: seats.iter().map(|s| s.score).collect(),
        })
    }
}

/// A row of `match_seats`: one seat of a match.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = match_seats)]
pub struct SeatRow {
    /// The match.
    pub match_id: String,
    /// The seat, `0..seats`.
    pub seat: i64,
    /// Who sat there; `None` before a private room's seat is taken, or for a no-show the match
    /// started without.
    pub player_id: Option<String>,
    /// Final (or current) score.
    pub score: i64,
    /// 1-based finishing place (equal places are ties); `None` until finished.
    pub place: Option<i64>,
    /// Rating in the match's game before a rated match.
    pub rating_before: Option<f64>,
    /// Rating after a rated match.
    pub rating_after: Option<f64>,
}

/// The seats of these matches, by match id, each list in seat order.
pub fn seats_of(
    conn: &mut AnyConnection,
    ids: &[&str],
) -> AppResult<HashMap<String, Vec<SeatRow>>> {
    let mut out: HashMap<String, Vec<SeatRow>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let rows: Vec<SeatRow> = match_seats::table
        .filter(match_seats::match_id.eq_any(ids))
        .order((match_seats::match_id.asc(), match_seats::seat.asc()))
        .select(SeatRow::as_select())
        .load(conn)?;
    for r in rows {
        out.entry(r.match_id.clone()).or_default().push(r);
    }
    Ok(out)
}

/// A match as its room creates it.
#[derive(Clone, Debug)]
pub struct NewMatch {
    /// Match id (ULID, generated by the application).
    pub id: String,
    /// The room's id.
    pub room_id: String,
    /// Game kind.
    pub game: String,
    /// One of [`MODES`].
    pub mode: String,
    /// Whether the result changes ratings.
    pub rated: bool,
    /// Every seat's player when known at creation (quick match, tournament), `None` for a
    /// seat still open (private room); one entry per seat of the game.
    pub players: Vec<Option<String>>,
    /// The game seed; stored as `seed as i64`, read back with `as u64`.
    pub seed: i64,
    /// Game config JSON.
    pub config: String,
    /// Tournament, for tournament matches.
    pub tournament_id: Option<String>,
    /// Bracket slot, for tournament matches.
    pub tournament_slot: Option<String>,
}

/// Record a new match: status `created`, epoch 1, `created_at` now. A duplicate id is 409.
pub fn insert_created(conn: &mut AnyConnection, m: &NewMatch) -> AppResult<()> {
    if !MODES.contains(&m.mode.as_str()) {
        return Err(AppError::validation(format!(
            "mode must be one of {}, got {:?}",
            MODES.join(", "),
            m.mode
        )));
    }
    if !(2..=MAX_SEATS).contains(&m.players.len()) {
        return Err(AppError::validation(format!(
            "a match has 2 to {MAX_SEATS} seats, got {}",
            m.players.len()
        )));
    }
    let seat = |i: usize| m.players.get(i).cloned().flatten();
    conn.transaction(|conn| {
        diesel::insert_into(matches::table)
            .values((
                matches::id.eq(&m.id),
                matches::room_id.eq(&m.room_id),
                matches::game.eq(&m.game),
                matches::mode.eq(&m.mode),
                matches::rated.eq(m.rated),
                matches::status.eq(STATUS_CREATED),
                matches::player0_id.eq(seat(0)),
                matches::player1_id.eq(seat(1)),
                matches::seed.eq(m.seed),
                matches::config.eq(&m.config),
                matches::epoch.eq(1i64),
                matches::tournament_id.eq(&m.tournament_id),
                matches::tournament_slot.eq(&m.tournament_slot),
                matches::created_at.eq(now_ms()),
            ))
            .execute(conn)
            .map_err(|e| {
                if is_unique_violation(&e) {
                    AppError::conflict(format!("match {} already exists", m.id))
                } else {
                    AppError::internal(e)
                }
            })?;
        for (i, player) in m.players.iter().enumerate() {
            diesel::insert_into(match_seats::table)
                .values((
                    match_seats::match_id.eq(&m.id),
                    match_seats::seat.eq(i as i64),
                    match_seats::player_id.eq(player),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Most seats a match may have (the largest game's `max_seats`; light cycles: 8).
pub const MAX_SEATS: usize = 8;

/// Seat `player` in `seat` of a match whose row `guard` selects (one that has not started,
/// and for [`seat_player`] one with the caller's epoch): `Some(false)` when `guard` matched no
/// row, `Some(true)` when seated, an error for a seat the match does not have.
fn seat_guarded(
    conn: &mut AnyConnection,
    id: &str,
    epoch: Option<i64>,
    seat: u8,
    player: &str,
) -> AppResult<bool> {
    conn.transaction(|c| {
        // Lock the row (a no-op update) under the guard, so no take-over or start slips in
        // between the check and the seat's write.
        let guard = matches::table
            .find(id)
            .filter(matches::status.eq(STATUS_CREATED))
            .into_boxed();
        let guard = match epoch {
            Some(e) => guard.filter(matches::epoch.eq(e)),
            None => guard,
        };
        let locked: Vec<String> = guard.select(matches::id).load(c)?;
        if locked.is_empty() {
            return Ok(false);
        }
        diesel::update(matches::table.find(id))
            .set(matches::epoch.eq(matches::epoch))
            .execute(c)?;
        let n = diesel::update(
            match_seats::table
                .filter(match_seats::match_id.eq(id))
                .filter(match_seats::seat.eq(i64::from(seat))),
        )
        .set(match_seats::player_id.eq(player))
        .execute(c)?;
        if n == 0 {
            return Err(AppError::validation(format!("seat {seat} does not exist")));
        }
        match seat {
            0 => diesel::update(matches::table.find(id))
                .set(matches::player0_id.eq(player))
                .execute(c)?,
            1 => diesel::update(matches::table.find(id))
                .set(matches::player1_id.eq(player))
                .execute(c)?,
            _ => 0,
        };
        Ok(true)
    })
}

/// Seat `player` in `seat` (0 or 1) of a match that has not started (private rooms learn their
/// players as they sit down; a seat left before the start may be taken by someone else).
/// 404 for an unknown match, 409 once it has started.
pub fn set_player(conn: &mut AnyConnection, id: &str, seat: u8, player: &str) -> AppResult<()> {
    if !seat_guarded(conn, id, None, seat, player)? {
        return match status_and_epoch(conn, id)? {
            None => Err(AppError::not_found(format!("no match {id}"))),
            Some((status, _)) => Err(AppError::conflict(format!(
                "match {id} is {status}; players can only be seated before it starts"
            ))),
        };
    }
    Ok(())
}

/// [`set_player`] fenced by the room's ownership `epoch`: `false` (nothing written) when the
/// epoch is stale — another owner took the match over and seats it from its own state. This is
/// what a room writes; a retried write can therefore never overwrite the new owner's seat.
pub fn seat_player(
    conn: &mut AnyConnection,
    id: &str,
    epoch: i64,
    seat: u8,
    player: &str,
) -> AppResult<bool> {
    if seat_guarded(conn, id, Some(epoch), seat, player)? {
        return Ok(true);
    }
    match status_and_epoch(conn, id)? {
        None => Err(AppError::not_found(format!("no match {id}"))),
        Some((_, current)) if current != epoch => Ok(false),
        Some((status, _)) => Err(AppError::conflict(format!(
            "match {id} is {status}; players can only be seated before it starts"
        ))),
    }
}

/// Mark the match `playing` and set `started_at` to now; see [`mark_started_at`].
pub fn mark_started(conn: &mut AnyConnection, id: &str, epoch: i64) -> AppResult<bool> {
    mark_started_at(conn, id, epoch, now_ms())
}

/// Mark the match `playing` with `started_at = at_ms` (when play began: a write retried after
/// a database outage keeps the real time). Returns `false` when `epoch` is stale (another owner
/// took the match over). Idempotent: a match already playing under this epoch answers `true`
/// and keeps its first `started_at`. 404 for an unknown match, 409 for a finished or abandoned
/// one.
pub fn mark_started_at(
    conn: &mut AnyConnection,
    id: &str,
    epoch: i64,
    at_ms: i64,
) -> AppResult<bool> {
    let n = diesel::update(
        matches::table
            .find(id)
            .filter(matches::epoch.eq(epoch))
            .filter(matches::status.eq(STATUS_CREATED)),
    )
    .set((
        matches::status.eq(STATUS_PLAYING),
        matches::started_at.eq(Some(at_ms)),
    ))
    .execute(conn)?;
    if n == 1 {
        return Ok(true);
    }
    match status_and_epoch(conn, id)? {
        None => Err(AppError::not_found(format!("no match {id}"))),
        Some((_, current)) if current != epoch => Ok(false),
        Some((status, _)) if status == STATUS_PLAYING => Ok(true),
        Some((status, _)) => Err(AppError::conflict(format!(
            "match {id} is {status} and cannot start"
        ))),
    }
}

/// A result as the owning room reports it (serialisable: the durable outbox journals it until
/// the database has it).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FinishedMatch {
    /// Match id.
    pub id: String,
    /// The reporting owner's epoch (fencing token).
    pub epoch: i64,
    /// Final scores by seat (one per seat of the game).
    pub scores: Vec<i64>,
    /// Winning seat; `None` for a draw or when no seat is alone in first place.
    pub winner_seat: Option<u8>,
    /// 1-based place by seat ([`Outcome::places`]); empty in results journaled before places
    /// existed (then derived from `winner_seat`).
    #[serde(default)]
    pub places: Vec<u8>,
    /// Seats whose player the room unseated before the first tick (quick-match no-shows the
    /// match started without): their `match_seats` player is cleared, so they are neither
    /// rated nor listed.
    #[serde(default)]
    pub unseated: Vec<u8>,
    /// [`EndReason`] as text (`score`, `forfeit`, `resign`, `abandoned`).
    pub end_reason: String,
    /// JSON of [`InputLog`].
    pub input_log: String,
    /// [`crate::game::Game::state_hash`] of the final state.
    pub final_hash: String,
    /// Final `game.tick()`.
    pub ticks: i64,
    /// Played time in ms.
    pub duration_ms: i64,
}

/// One player's rating change, as stored on the match and applied to the player.
#[derive(Clone, Debug, PartialEq)]
pub struct RatingRow {
    /// The player's seat.
    pub seat: u8,
    /// Player id.
    pub player: String,
    /// Rating before the match.
    pub before: f64,
    /// Rating after the match.
    pub after: f64,
}

/// What [`finish`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum FinishOutcome {
    /// The result is recorded now; `ratings` (in seat order, one per seated player) when the
    /// match was rated and had at least two distinct players.
    Recorded {
        /// Rating changes in seat order, for a rated match.
        ratings: Option<Vec<RatingRow>>,
    },
    /// The match was already finished under this epoch: nothing changed (the write is idempotent
    /// by match id; ratings are never applied twice).
    AlreadyRecorded,
    /// The caller's epoch is stale: another owner took the match over. Nothing changed.
    StaleEpoch,
}

/// Record a result, idempotently and fenced, in one transaction: the match row, then (for a
/// rated match with both players) Glicko-2 for both players and their before/after ratings on
/// the match.
///
/// When the guarded update touches no row the row is read back: unknown → 404; another epoch →
/// [`FinishOutcome::StaleEpoch`] (checked first: a fenced-off owner learns it was fenced off,
/// even if the new owner already finished); finished → [`FinishOutcome::AlreadyRecorded`];
/// abandoned → 409. A `winner_seat` other than 0 or 1, or an unknown `end_reason`, is 400.
pub fn finish(conn: &mut AnyConnection, f: &FinishedMatch) -> AppResult<FinishOutcome> {
    finish_at(
        conn,
        f,
        &Timing {
            started_ms: None,
            finished_ms: now_ms(),
        },
    )
}

/// When a match started and ended, as its room saw it. A write retried after a database outage
/// carries them, so the row shows when things happened, not when the database came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Timing {
    /// When play began (Unix ms), if it did: fills `started_at` when the row has none (the
    /// start write was refused or lost, e.g. the room was adopted before it was recorded).
    pub started_ms: Option<i64>,
    /// When the match ended (Unix ms): `finished_at`.
    pub finished_ms: i64,
}

/// [`finish`] with the room's own [`Timing`].
pub fn finish_at(
    conn: &mut AnyConnection,
    f: &FinishedMatch,
    timing: &Timing,
) -> AppResult<FinishOutcome> {
    if !(2..=MAX_SEATS).contains(&f.scores.len()) {
        return Err(AppError::validation(format!(
            "scores must have one entry per seat (2 to {MAX_SEATS}), got {}",
            f.scores.len()
        )));
    }
    if f.winner_seat
        .is_some_and(|s| usize::from(s) >= f.scores.len())
    {
        return Err(AppError::validation(format!(
            "winner_seat must be a seat (0..{}) or null, got {:?}",
            f.scores.len(),
            f.winner_seat
        )));
    }
    if !f.places.is_empty() && f.places.len() != f.scores.len() {
        return Err(AppError::validation(format!(
            "places must have one entry per seat ({}), got {}",
            f.scores.len(),
            f.places.len()
        )));
    }
    let places = if f.places.is_empty() {
        Outcome::places_for_winner(f.scores.len(), f.winner_seat)
    } else {
        f.places.clone()
    };
    if serde_json::from_value::<EndReason>(serde_json::Value::from(f.end_reason.as_str())).is_err()
    {
        return Err(AppError::validation(format!(
            "unknown end_reason {:?}",
            f.end_reason
        )));
    }
    conn.transaction(|c| {
        let n = diesel::update(
            matches::table
                .find(&f.id)
                .filter(matches::epoch.eq(f.epoch))
                .filter(matches::status.ne_all(TERMINAL)),
        )
        .set((
            matches::status.eq(STATUS_FINISHED),
            matches::score0.eq(f.scores[0]),
            matches::score1.eq(f.scores.get(1).copied().unwrap_or(0)),
            matches::winner_seat.eq(f.winner_seat.map(i64::from)),
            matches::end_reason.eq(&f.end_reason),
            matches::input_log.eq(&f.input_log),
            matches::final_hash.eq(&f.final_hash),
            matches::ticks.eq(f.ticks),
            matches::finished_at.eq(timing.finished_ms),
            matches::duration_ms.eq(f.duration_ms),
        ))
        .execute(c)?;
        if n == 0 {
            return match status_and_epoch(c, &f.id)? {
                None => Err(AppError::not_found(format!("no match {}", f.id))),
                Some((_, epoch)) if epoch != f.epoch => Ok(FinishOutcome::StaleEpoch),
                Some((status, _)) if status == STATUS_FINISHED => {
                    Ok(FinishOutcome::AlreadyRecorded)
                }
                Some((status, _)) => Err(AppError::conflict(format!(
                    "match {} is {status}; it cannot be finished",
                    f.id
                ))),
            };
        }
        if let Some(started) = timing.started_ms {
            diesel::update(
                matches::table
                    .find(&f.id)
                    .filter(matches::started_at.is_null()),
            )
            .set(matches::started_at.eq(Some(started)))
            .execute(c)?;
        }
        let row: MatchRow = matches::table
            .find(&f.id)
            .select(MatchRow::as_select())
            .first(c)?;
        for &seat in &f.unseated {
            diesel::update(
                match_seats::table
                    .filter(match_seats::match_id.eq(&f.id))
                    .filter(match_seats::seat.eq(i64::from(seat))),
            )
            .set(match_seats::player_id.eq(None::<String>))
            .execute(c)?;
            match seat {
                0 => diesel::update(matches::table.find(&f.id))
                    .set(matches::player0_id.eq(None::<String>))
                    .execute(c)?,
                1 => diesel::update(matches::table.find(&f.id))
                    .set(matches::player1_id.eq(None::<String>))
                    .execute(c)?,
                _ => 0,
            };
        }
        for (seat, score) in f.scores.iter().enumerate() {
            diesel::update(
                match_seats::table
                    .filter(match_seats::match_id.eq(&f.id))
                    .filter(match_seats::seat.eq(seat as i64)),
            )
            .set((
                match_seats::score.eq(score),
                match_seats::place.eq(places.get(seat).map(|&p| i64::from(p))),
            ))
            .execute(c)?;
        }
        let seated: Vec<(u8, String)> = match_seats::table
            .filter(match_seats::match_id.eq(&f.id))
            .order(match_seats::seat.asc())
            .select((match_seats::seat, match_seats::player_id))
            .load::<(i64, Option<String>)>(c)?
            .into_iter()
            .filter_map(|(seat, p)| p.map(|p| (seat as u8, p)))
            .collect();
        let mut distinct: Vec<&str> = seated.iter().map(|(_, p)| p.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let ratings = if row.rated && seated.len() >= 2 && distinct.len() == seated.len() {
            let rows = rate_players(c, &row.game, &seated, &places)?;
            for r in &rows {
                diesel::update(
                    match_seats::table
                        .filter(match_seats::match_id.eq(&f.id))
                        .filter(match_seats::seat.eq(i64::from(r.seat))),
                )
                .set((
                    match_seats::rating_before.eq(Some(r.before)),
                    match_seats::rating_after.eq(Some(r.after)),
                ))
                .execute(c)?;
                match r.seat {
                    0 => diesel::update(matches::table.find(&f.id))
                        .set((
                            matches::rating0_before.eq(Some(r.before)),
                            matches::rating0_after.eq(Some(r.after)),
                        ))
                        .execute(c)?,
                    1 => diesel::update(matches::table.find(&f.id))
                        .set((
                            matches::rating1_before.eq(Some(r.before)),
                            matches::rating1_after.eq(Some(r.after)),
                        ))
                        .execute(c)?,
                    _ => 0,
                };
            }
            Some(rows)
        } else {
            None
        };
        Ok(FinishOutcome::Recorded { ratings })
    })
}

/// A player's rating in `game` ([`Rating::default`] when they never played it).
pub fn rating_in(c: &mut AnyConnection, player: &str, game: &str) -> AppResult<Rating> {
    let row = ratings::table
        .find((player, game))
        .select((
            ratings::rating,
            ratings::rating_deviation,
            ratings::rating_volatility,
        ))
        .first::<(f64, f64, f64)>(c)
        .optional()?;
    Ok(
        row.map_or_else(Rating::default, |(rating, deviation, volatility)| Rating {
            rating,
            deviation,
            volatility,
        }),
    )
}

/// A player's rating per game, as stored: `(game, rating, deviation, games_played)`, by game.
pub fn ratings_of(c: &mut AnyConnection, player: &str) -> AppResult<Vec<(String, f64, f64, i64)>> {
    Ok(ratings::table
        .filter(ratings::player_id.eq(player))
        .order(ratings::game.asc())
        .select((
            ratings::game,
            ratings::rating,
            ratings::rating_deviation,
            ratings::games_played,
        ))
        .load(c)?)
}

/// Rate the seated players of a finished match in `game` from their `places` (indexed by
/// seat) and count it in their `games_played` for that game.
///
/// Each player's rating row for the game is created when missing (the default rating, in a
/// savepoint: two first matches of a new player finishing at once both go on, one creating the
/// row and the other using it),
/// then locked, in id order (an `UPDATE` takes the row lock), and read after: under Postgres's
/// READ COMMITTED the read then sees any rating another transaction committed while we waited,
/// so two matches finishing at once for the same player never lose an update, and the fixed
/// lock order rules out deadlocks.
fn rate_players(
    c: &mut AnyConnection,
    game: &str,
    seated: &[(u8, String)],
    places: &[u8],
) -> AppResult<Vec<RatingRow>> {
    let now = now_ms();
    let mut order: Vec<&str> = seated.iter().map(|(_, p)| p.as_str()).collect();
    order.sort_unstable();
    for id in order {
        let d = Rating::default();
        let exists = ratings::table
            .find((id, game))
            .select(ratings::games_played)
            .first::<i64>(c)
            .optional()?
            .is_some();
        if !exists {
            // In a savepoint: when another transaction created the row meanwhile (a unique
            // violation once it commits), only the savepoint is rolled back and the row that
            // won is used.
            let created = c.transaction(|c| {
                diesel::insert_into(ratings::table)
                    .values((
                        ratings::player_id.eq(id),
                        ratings::game.eq(game),
                        ratings::rating.eq(d.rating),
                        ratings::rating_deviation.eq(d.deviation),
                        ratings::rating_volatility.eq(d.volatility),
                        ratings::games_played.eq(0i64),
                        ratings::updated_at.eq(now),
                    ))
                    .execute(c)
            });
            match created {
                Ok(_) => {}
                Err(e) if super::is_unique_violation(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        diesel::update(ratings::table.find((id, game)))
            .set((
                ratings::games_played.eq(ratings::games_played + 1),
                ratings::updated_at.eq(now),
            ))
            .execute(c)?;
        if game == crate::game::pong::KIND {
            let n = diesel::update(players::table.find(id))
                .set((
                    players::games_played.eq(players::games_played + 1),
                    players::updated_at.eq(now),
                ))
                .execute(c)?;
            if n == 0 {
                return Err(AppError::internal(anyhow::anyhow!(
                    "match player {id} does not exist"
                )));
            }
        }
    }
    let mut before = Vec::with_capacity(seated.len());
    let mut seat_places = Vec::with_capacity(seated.len());
    for (seat, id) in seated {
        before.push(rating_in(c, id, game)?);
        seat_places.push(places.get(usize::from(*seat)).copied().unwrap_or(u8::MAX));
    }
    let after = rating::rate_places(&before, &seat_places);
    let mut rows = Vec::with_capacity(seated.len());
    for (((seat, id), b), a) in seated.iter().zip(&before).zip(&after) {
        diesel::update(ratings::table.find((id.as_str(), game)))
            .set((
                ratings::rating.eq(a.rating),
                ratings::rating_deviation.eq(a.deviation),
                ratings::rating_volatility.eq(a.volatility),
            ))
            .execute(c)?;
        if game == crate::game::pong::KIND {
            // The Pong rating is mirrored where the principal and tournaments read it.
            diesel::update(players::table.find(id))
                .set((
                    players::rating.eq(a.rating),
                    players::rating_deviation.eq(a.deviation),
                    players::rating_volatility.eq(a.volatility),
                ))
                .execute(c)?;
        }
        rows.push(RatingRow {
            seat: *seat,
            player: id.clone(),
            before: b.rating,
            after: a.rating,
        });
    }
    Ok(rows)
}

/// Mark a match `abandoned` (a no-show before the start: nobody is rated) with `reason` as its
/// end reason. Returns `true` when the match is now abandoned (also when it already was: the
/// write is idempotent), `false` when refused: the epoch is stale or the match already finished.
/// 404 for an unknown match.
pub fn abandon(conn: &mut AnyConnection, id: &str, epoch: i64, reason: &str) -> AppResult<bool> {
    abandon_at(conn, id, epoch, reason, now_ms())
}

/// [`abandon`] with `finished_at = at_ms` (when the room gave up on the match).
pub fn abandon_at(
    conn: &mut AnyConnection,
    id: &str,
    epoch: i64,
    reason: &str,
    at_ms: i64,
) -> AppResult<bool> {
    let n = diesel::update(
        matches::table
            .find(id)
            .filter(matches::epoch.eq(epoch))
            .filter(matches::status.ne_all(TERMINAL)),
    )
    .set((
        matches::status.eq(STATUS_ABANDONED),
        matches::end_reason.eq(reason),
        matches::finished_at.eq(at_ms),
    ))
    .execute(conn)?;
    if n == 1 {
        return Ok(true);
    }
    match status_and_epoch(conn, id)? {
        None => Err(AppError::not_found(format!("no match {id}"))),
        Some((_, current)) if current != epoch => Ok(false),
        Some((status, _)) => Ok(status == STATUS_ABANDONED),
    }
}

/// A live match (`created`/`playing`) outside any tournament, as the stranded-match sweep
/// ([`crate::room::sweep`]) sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveMatch {
    /// Match id.
    pub id: String,
    /// Its room.
    pub room_id: String,
    /// Its epoch when read (the sweep's abandon is fenced by it).
    pub epoch: i64,
}

/// Live matches outside tournaments created before `created_before` (Unix ms), oldest first, at
/// most `limit`. Tournament matches are their tournament's (its restore abandons and replays
/// them).
pub fn live_outside_tournaments(
    conn: &mut AnyConnection,
    created_before: i64,
    limit: i64,
) -> AppResult<Vec<LiveMatch>> {
    Ok(matches::table
        .filter(matches::status.eq_any([STATUS_CREATED, STATUS_PLAYING]))
        .filter(matches::tournament_id.is_null())
        .filter(matches::created_at.lt(created_before))
        .order(matches::created_at.asc())
        .limit(limit)
        .select((matches::id, matches::room_id, matches::epoch))
        .load::<(String, String, i64)>(conn)?
        .into_iter()
        .map(|(id, room_id, epoch)| LiveMatch { id, room_id, epoch })
        .collect())
}

/// Abandon a match no room will finish, with `reason`, if it is still live at `epoch`; the
/// epoch is bumped as by [`take_over`], so a room that still ran it (unknown to the caller) has
/// its writes refused from now on and steps down. Returns whether it was abandoned now.
pub fn abandon_stranded(
    conn: &mut AnyConnection,
    id: &str,
    epoch: i64,
    reason: &str,
) -> AppResult<bool> {
    let n = diesel::update(
        matches::table
            .find(id)
            .filter(matches::epoch.eq(epoch))
            .filter(matches::status.ne_all(TERMINAL)),
    )
    .set((
        matches::status.eq(STATUS_ABANDONED),
        matches::end_reason.eq(reason),
        matches::finished_at.eq(now_ms()),
        matches::epoch.eq(matches::epoch + 1),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Take ownership of a match that is not over: bump its epoch and return the new one; every
/// write still carrying an older epoch is refused from now on. One transaction (the `UPDATE`
/// holds the row lock until the `SELECT` has read the value it wrote). 404 for an unknown match,
/// 409 for a finished or abandoned one (there is nothing left to own).
pub fn take_over(conn: &mut AnyConnection, id: &str) -> AppResult<i64> {
    conn.transaction(|c| {
        let n = diesel::update(
            matches::table
                .find(id)
                .filter(matches::status.ne_all(TERMINAL)),
        )
        .set(matches::epoch.eq(matches::epoch + 1))
        .execute(c)?;
        match status_and_epoch(c, id)? {
            None => Err(AppError::not_found(format!("no match {id}"))),
            Some((_, epoch)) if n == 1 => Ok(epoch),
            Some((status, _)) => Err(AppError::conflict(format!(
                "match {id} is {status}; it cannot be taken over"
            ))),
        }
    })
}

/// One match by id.
pub fn get(conn: &mut AnyConnection, id: &str) -> AppResult<Option<MatchRow>> {
    Ok(matches::table
        .find(id)
        .select(MatchRow::as_select())
        .first(conn)
        .optional()?)
}

/// Finished matches, the most recently finished first.
pub fn list_recent(conn: &mut AnyConnection, limit: i64, offset: i64) -> AppResult<Vec<MatchRow>> {
    Ok(matches::table
        .filter(matches::status.eq(STATUS_FINISHED))
        .order((matches::finished_at.desc(), matches::id.desc()))
        .limit(limit)
        .offset(offset)
        .select(MatchRow::as_select())
        .load(conn)?)
}

/// Every match `player` has a seat in, whatever its status (a live match shows as `playing`),
/// the most recently created first.
pub fn list_for_player(
    conn: &mut AnyConnection,
    player: &str,
    limit: i64,
    offset: i64,
) -> AppResult<Vec<MatchRow>> {
    let mine = match_seats::table
        .filter(match_seats::player_id.eq(player))
        .select(match_seats::match_id);
    Ok(matches::table
        .filter(matches::id.eq_any(mine))
        .order((matches::created_at.desc(), matches::id.desc()))
        .limit(limit)
        .offset(offset)
        .select(MatchRow::as_select())
        .load(conn)?)
}

/// A leaderboard line.
#[derive(Clone, Debug, Queryable)]
pub struct LeaderboardRow {
    /// Player id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Glicko-2 rating.
    pub rating: f64,
    /// Rating deviation.
    pub rating_deviation: f64,
    /// Rated games played.
    pub games_played: i64,
}

/// Registered players (roles `player` and `organiser`; never guests) with at least
/// [`LEADERBOARD_MIN_GAMES`] rated games of `game`, by their rating in it, then games played,
/// then name.
pub fn leaderboard(
    conn: &mut AnyConnection,
    game: &str,
    limit: i64,
    offset: i64,
) -> AppResult<Vec<LeaderboardRow>> {
    Ok(ratings::table
        .inner_join(players::table)
        .filter(ratings::game.eq(game))
        .filter(players::role.eq_any(["player", "organiser"]))
        .filter(ratings::games_played.ge(LEADERBOARD_MIN_GAMES))
        .order((
            ratings::rating.desc(),
            ratings::games_played.desc(),
            players::name_key.asc(),
            players::id.asc(),
        ))
        .limit(limit)
        .offset(offset)
        .select((
            players::id,
            players::name,
            ratings::rating,
            ratings::rating_deviation,
            ratings::games_played,
        ))
        .load(conn)?)
}

/// Display names of the players seated in `seats` ([`seats_of`]), by id (one query for a
/// whole page).
pub fn player_names(
    conn: &mut AnyConnection,
    seats: &HashMap<String, Vec<SeatRow>>,
) -> AppResult<HashMap<String, String>> {
    let mut ids: Vec<&str> = seats
        .values()
        .flatten()
        .filter_map(|s| s.player_id.as_deref())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(players::table
        .filter(players::id.eq_any(ids))
        .select((players::id, players::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

/// `(status, epoch)` of a match, or `None` when it does not exist.
fn status_and_epoch(conn: &mut AnyConnection, id: &str) -> AppResult<Option<(String, i64)>> {
    Ok(matches::table
        .find(id)
        .select((matches::status, matches::epoch))
        .first(conn)
        .optional()?)
}
