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
//! # Ratings
//! [`finish`] applies Glicko-2 ([`crate::matchmaking::rating::update`], a one-game rating period)
//! in the same transaction that records the result, so a result and its rating change are
//! written together or not at all, and a repeated `finish` never rates twice.

use super::schema::{matches, players};
use super::{is_unique_violation, now_ms, AnyConnection};
use crate::error::{AppError, AppResult};
use crate::game::EndReason;
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

    /// The replay of this match: 404 `not_found` unless it is finished, 409 `conflict` when it
    /// has no input log or final hash, 500 when the stored log or config is not valid JSON.
    pub fn replay(&self) -> AppResult<Replay> {
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
            players: [self.player0_id.clone(), self.player1_id.clone()],
            scores: [self.score0, self.score1],
        })
    }
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
    /// Seat 0's player when known at creation (quick match, tournament).
    pub player0: Option<String>,
    /// Seat 1's player when known at creation.
    pub player1: Option<String>,
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
    diesel::insert_into(matches::table)
        .values((
            matches::id.eq(&m.id),
            matches::room_id.eq(&m.room_id),
            matches::game.eq(&m.game),
            matches::mode.eq(&m.mode),
            matches::rated.eq(m.rated),
            matches::status.eq(STATUS_CREATED),
            matches::player0_id.eq(&m.player0),
            matches::player1_id.eq(&m.player1),
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
    Ok(())
}

/// Seat `player` in `seat` (0 or 1) of a match that has not started (private rooms learn their
/// players as they sit down; a seat left before the start may be taken by someone else).
/// 404 for an unknown match, 409 once it has started.
pub fn set_player(conn: &mut AnyConnection, id: &str, seat: u8, player: &str) -> AppResult<()> {
    let target = matches::table
        .find(id)
        .filter(matches::status.eq(STATUS_CREATED));
    let n = match seat {
        0 => diesel::update(target)
            .set(matches::player0_id.eq(player))
            .execute(conn)?,
        1 => diesel::update(target)
            .set(matches::player1_id.eq(player))
            .execute(conn)?,
        _ => return Err(AppError::validation(format!("seat {seat} does not exist"))),
    };
    if n == 0 {
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
    let target = matches::table
        .find(id)
        .filter(matches::epoch.eq(epoch))
        .filter(matches::status.eq(STATUS_CREATED));
    let n = match seat {
        0 => diesel::update(target)
            .set(matches::player0_id.eq(player))
            .execute(conn)?,
        1 => diesel::update(target)
            .set(matches::player1_id.eq(player))
            .execute(conn)?,
        _ => return Err(AppError::validation(format!("seat {seat} does not exist"))),
    };
    if n == 1 {
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
    /// Final scores by seat.
    pub scores: [i64; 2],
    /// Winning seat; `None` for a draw.
    pub winner_seat: Option<u8>,
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
    /// The result is recorded now; `ratings` (by seat) when the match was rated and had both
    /// players.
    Recorded {
        /// Rating changes by seat, for a rated match.
        ratings: Option<[RatingRow; 2]>,
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
    if f.winner_seat.is_some_and(|s| s > 1) {
        return Err(AppError::validation(format!(
            "winner_seat must be 0, 1 or null, got {:?}",
            f.winner_seat
        )));
    }
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
            matches::score1.eq(f.scores[1]),
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
        let ratings = match (&row.player0_id, &row.player1_id) {
            (Some(p0), Some(p1)) if row.rated && p0 != p1 => {
                let score0 = match f.winner_seat {
                    Some(0) => 1.0,
                    Some(_) => 0.0,
                    None => 0.5,
                };
                let rows = rate_players(c, p0, p1, score0)?;
                diesel::update(matches::table.find(&f.id))
                    .set((
                        matches::rating0_before.eq(Some(rows[0].before)),
                        matches::rating0_after.eq(Some(rows[0].after)),
                        matches::rating1_before.eq(Some(rows[1].before)),
                        matches::rating1_after.eq(Some(rows[1].after)),
                    ))
                    .execute(c)?;
                Some(rows)
            }
            _ => None,
        };
        Ok(FinishOutcome::Recorded { ratings })
    })
}

/// Apply one Glicko-2 game between `p0` and `p1` (`score0` is seat 0's score) and count it in
/// both players' `games_played`.
///
/// The rows are locked first, in id order (an `UPDATE` takes the row lock), and read after:
/// under Postgres's READ COMMITTED the read then sees any rating another transaction committed
/// while we waited, so two matches finishing at once for the same player never lose an update,
/// and the fixed lock order rules out deadlocks.
fn rate_players(
    c: &mut AnyConnection,
    p0: &str,
    p1: &str,
    score0: f64,
) -> AppResult<[RatingRow; 2]> {
    let now = now_ms();
    let mut order = [p0, p1];
    order.sort_unstable();
    for id in order {
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
    let read = |c: &mut AnyConnection, id: &str| -> AppResult<Rating> {
        let (rating, deviation, volatility) = players::table
            .find(id)
            .select((
                players::rating,
                players::rating_deviation,
                players::rating_volatility,
            ))
            .first::<(f64, f64, f64)>(c)?;
        Ok(Rating {
            rating,
            deviation,
            volatility,
        })
    };
    let (r0, r1) = (read(c, p0)?, read(c, p1)?);
    let (n0, n1) = rating::update(r0, r1, score0);
    for (id, r) in [(p0, n0), (p1, n1)] {
        diesel::update(players::table.find(id))
            .set((
                players::rating.eq(r.rating),
                players::rating_deviation.eq(r.deviation),
                players::rating_volatility.eq(r.volatility),
            ))
            .execute(c)?;
    }
    Ok([
        RatingRow {
            player: p0.to_string(),
            before: r0.rating,
            after: n0.rating,
        },
        RatingRow {
            player: p1.to_string(),
            before: r1.rating,
            after: n1.rating,
        },
    ])
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
    Ok(matches::table
        .filter(
            matches::player0_id
                .eq(player)
                .or(matches::player1_id.eq(player)),
        )
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
/// [`LEADERBOARD_MIN_GAMES`] rated games, by rating, then games played, then name.
pub fn leaderboard(
    conn: &mut AnyConnection,
    limit: i64,
    offset: i64,
) -> AppResult<Vec<LeaderboardRow>> {
    Ok(players::table
        .filter(players::role.eq_any(["player", "organiser"]))
        .filter(players::games_played.ge(LEADERBOARD_MIN_GAMES))
        .order((
            players::rating.desc(),
            players::games_played.desc(),
            players::name_key.asc(),
            players::id.asc(),
        ))
        .limit(limit)
        .offset(offset)
        .select((
            players::id,
            players::name,
            players::rating,
            players::rating_deviation,
            players::games_played,
        ))
        .load(conn)?)
}

/// Display names of the players seated in `rows`, by id (one query for a whole page).
pub fn player_names(
    conn: &mut AnyConnection,
    rows: &[MatchRow],
) -> AppResult<HashMap<String, String>> {
    let mut ids: Vec<&str> = rows
        .iter()
        .flat_map(|r| [r.player0_id.as_deref(), r.player1_id.as_deref()])
        .flatten()
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
