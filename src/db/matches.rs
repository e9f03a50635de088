//! Match rows: created with the room, finished idempotently by id, fenced by `epoch`.
//! (Minimal engine-side version; the full query set lands with the matches API.)

use super::schema::{matches, players};
use super::{now_ms, AnyConnection};
use crate::error::{AppError, AppResult};
use crate::matchmaking::rating::{self, Rating};
use diesel::prelude::*;

/// A match about to be created.
pub struct NewMatch {
    /// Match id.
    pub id: String,
    /// Room id.
    pub room_id: String,
    /// Game kind.
    pub game: String,
    /// `quick` | `private` | `tournament`.
    pub mode: String,
    /// Whether ratings change.
    pub rated: bool,
    /// Seat 0 player, when known.
    pub player0: Option<String>,
    /// Seat 1 player, when known.
    pub player1: Option<String>,
    /// Game seed.
    pub seed: i64,
    /// Game config JSON.
    pub config: String,
    /// Tournament.
    pub tournament_id: Option<String>,
    /// Bracket slot.
    pub tournament_slot: Option<String>,
}

/// Insert with status `created`, epoch 1.
pub fn insert_created(conn: &mut AnyConnection, m: &NewMatch) -> AppResult<()> {
    diesel::insert_into(matches::table)
        .values((
            matches::id.eq(&m.id),
            matches::room_id.eq(&m.room_id),
            matches::game.eq(&m.game),
            matches::mode.eq(&m.mode),
            matches::rated.eq(m.rated),
            matches::status.eq("created"),
            matches::player0_id.eq(&m.player0),
            matches::player1_id.eq(&m.player1),
            matches::seed.eq(m.seed),
            matches::config.eq(&m.config),
            matches::tournament_id.eq(&m.tournament_id),
            matches::tournament_slot.eq(&m.tournament_slot),
            matches::created_at.eq(now_ms()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Record who sits in `seat` (private rooms learn players as they sit).
pub fn set_player(conn: &mut AnyConnection, id: &str, seat: u8, player: &str) -> AppResult<()> {
    let q = diesel::update(matches::table.find(id));
    if seat == 0 {
        q.set(matches::player0_id.eq(Some(player))).execute(conn)?;
    } else {
        q.set(matches::player1_id.eq(Some(player))).execute(conn)?;
    }
    Ok(())
}

/// Mark as playing; false when the epoch is stale.
pub fn mark_started(conn: &mut AnyConnection, id: &str, epoch: i64) -> AppResult<bool> {
    let n = diesel::update(
        matches::table
            .find(id)
            .filter(matches::epoch.eq(epoch))
            .filter(matches::status.eq("created")),
    )
    .set((
        matches::status.eq("playing"),
        matches::started_at.eq(Some(now_ms())),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// A finished match to record.
pub struct FinishedMatch {
    /// Match id.
    pub id: String,
    /// Owner epoch (fencing).
    pub epoch: i64,
    /// Scores by seat.
    pub scores: [i64; 2],
    /// Winner, None for a draw.
    pub winner_seat: Option<u8>,
    /// End reason.
    pub end_reason: String,
    /// Replay input log JSON.
    pub input_log: String,
    /// Final state hash.
    pub final_hash: String,
    /// Final game tick.
    pub ticks: i64,
    /// Play time.
    pub duration_ms: i64,
}

/// One player's rating movement.
#[derive(Clone, Debug)]
pub struct RatingRow {
    /// Player id.
    pub player: String,
    /// Before.
    pub before: f64,
    /// After.
    pub after: f64,
}

/// What `finish` did.
#[derive(Debug)]
pub enum FinishOutcome {
    /// Written now (ratings when rated).
    Recorded {
        /// Rating changes by seat.
        ratings: Option<[RatingRow; 2]>,
    },
    /// Already finished earlier: nothing changed.
    AlreadyRecorded,
    /// Another owner holds a newer epoch: refused.
    StaleEpoch,
}

/// Record the result in one transaction, idempotently, fenced by epoch.
pub fn finish(conn: &mut AnyConnection, f: &FinishedMatch) -> AppResult<FinishOutcome> {
    conn.transaction::<FinishOutcome, AppError, _>(|conn| {
        let now = now_ms();
        let n = diesel::update(
            matches::table
                .find(&f.id)
                .filter(matches::epoch.eq(f.epoch))
                .filter(matches::status.ne_all(["finished", "abandoned"])),
        )
        .set((
            matches::status.eq("finished"),
            matches::score0.eq(f.scores[0]),
            matches::score1.eq(f.scores[1]),
            matches::winner_seat.eq(f.winner_seat.map(i64::from)),
            matches::end_reason.eq(Some(&f.end_reason)),
            matches::input_log.eq(Some(&f.input_log)),
            matches::final_hash.eq(Some(&f.final_hash)),
            matches::ticks.eq(f.ticks),
            matches::finished_at.eq(Some(now)),
            matches::duration_ms.eq(Some(f.duration_ms)),
        ))
        .execute(conn)?;
        let (rated, p0, p1, status, epoch): (bool, Option<String>, Option<String>, String, i64) =
            matches::table
                .find(&f.id)
                .select((
                    matches::rated,
                    matches::player0_id,
                    matches::player1_id,
                    matches::status,
                    matches::epoch,
                ))
                .first(conn)?;
        if n == 0 {
            return Ok(if epoch != f.epoch {
                FinishOutcome::StaleEpoch
            } else if status == "finished" || status == "abandoned" {
                FinishOutcome::AlreadyRecorded
            } else {
                FinishOutcome::StaleEpoch
            });
        }
        let (Some(p0), Some(p1), true) = (p0, p1, rated) else {
            return Ok(FinishOutcome::Recorded { ratings: None });
        };
        let load = |conn: &mut AnyConnection, id: &str| -> AppResult<Rating> {
            let (r, d, v): (f64, f64, f64) = players::table
                .find(id)
                .select((
                    players::rating,
                    players::rating_deviation,
                    players::rating_volatility,
                ))
                .first(conn)?;
            Ok(Rating {
                rating: r,
                deviation: d,
                volatility: v,
            })
        };
        let a = load(conn, &p0)?;
        let b = load(conn, &p1)?;
        let score_a = match f.winner_seat {
            Some(0) => 1.0,
            Some(_) => 0.0,
            None => 0.5,
        };
        let (na, nb) = rating::update(a, b, score_a);
        for (id, r) in [(&p0, na), (&p1, nb)] {
            diesel::update(players::table.find(id))
                .set((
                    players::rating.eq(r.rating),
                    players::rating_deviation.eq(r.deviation),
                    players::rating_volatility.eq(r.volatility),
                    players::games_played.eq(players::games_played + 1),
                    players::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        diesel::update(matches::table.find(&f.id))
            .set((
                matches::rating0_before.eq(Some(a.rating)),
                matches::rating0_after.eq(Some(na.rating)),
                matches::rating1_before.eq(Some(b.rating)),
                matches::rating1_after.eq(Some(nb.rating)),
            ))
            .execute(conn)?;
        Ok(FinishOutcome::Recorded {
            ratings: Some([
                RatingRow {
                    player: p0,
                    before: a.rating,
                    after: na.rating,
                },
                RatingRow {
                    player: p1,
                    before: b.rating,
                    after: nb.rating,
                },
            ]),
        })
    })
}

/// Abandon a match that never started (no-show); no rating change.
pub fn abandon(conn: &mut AnyConnection, id: &str, epoch: i64, reason: &str) -> AppResult<bool> {
    let n = diesel::update(
        matches::table
            .find(id)
            .filter(matches::epoch.eq(epoch))
            .filter(matches::status.ne_all(["finished", "abandoned"])),
    )
    .set((
        matches::status.eq("abandoned"),
        matches::end_reason.eq(Some(reason)),
        matches::finished_at.eq(Some(now_ms())),
    ))
    .execute(conn)?;
    Ok(n == 1)
}
