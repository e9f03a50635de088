//! Tournament storage: the `tournaments` row, its entrants, the organiser audit log, and the
//! tournament's view of its match rows (the source of truth for results: brackets are rebuilt
//! from them, see [`crate::tournament::model::rebuild`]).
//!
//! Every change of a running tournament is one [`Change`] applied in one transaction by
//! [`apply`], fenced by the tournament's ownership `epoch` ([`claim`] bumps it when a process
//! restores the tournament; a write carrying an older epoch is refused), and audited in the
//! same transaction when an organiser made it.

use super::schema::{audit_log, matches, players, tournament_entrants, tournaments};
use super::{now_ms, AnyConnection};
use crate::error::{AppError, AppResult};
use crate::tournament::model::{
    parse_format, parse_slot_key, Entrant, MatchRecord, Meta, RowStatus, Settings, Status,
};
use diesel::prelude::*;
use serde::Serialize;

/// A `tournaments` row.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = tournaments)]
pub struct TournamentRow {
    /// Id (ULID).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Game kind.
    pub game: String,
    /// `single_elimination` | `round_robin`.
    pub format: String,
    /// Third-place match (single elimination).
    pub third_place: bool,
    /// Most entrants.
    pub capacity: i64,
    /// See [`Status`].
    pub status: String,
    /// While in registration: players may join now.
    pub registration_open: bool,
    /// Unix ms.
    pub registration_opens_at: Option<i64>,
    /// Unix ms.
    pub registration_closes_at: Option<i64>,
    /// Match setting.
    pub points_to_win: i64,
    /// Match setting.
    pub tick_hz: i64,
    /// No-show window of every match.
    pub no_show_timeout_ms: i64,
    /// Winner, once finished.
    pub champion_id: Option<String>,
    /// Organiser who created it.
    pub created_by: String,
    /// Ownership epoch (fencing token).
    pub epoch: i64,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub started_at: Option<i64>,
    /// Unix ms.
    pub finished_at: Option<i64>,
}

impl TournamentRow {
    /// The pure view of this row (500 on a corrupt format or status).
    pub fn meta(&self) -> AppResult<Meta> {
        let corrupt =
            |what: &str| AppError::internal(anyhow::anyhow!("tournament {}: bad {what}", self.id));
        Ok(Meta {
            id: self.id.clone(),
            name: self.name.clone(),
            game: self.game.clone(),
            format: parse_format(&self.format, self.third_place)
                .ok_or_else(|| corrupt("format"))?,
            capacity: u32::try_from(self.capacity).map_err(|_| corrupt("capacity"))?,
            status: Status::parse(&self.status).ok_or_else(|| corrupt("status"))?,
            registration_open: self.registration_open,
            registration_opens_at: self.registration_opens_at,
            registration_closes_at: self.registration_closes_at,
            settings: Settings {
                points_to_win: u32::try_from(self.points_to_win).map_err(|_| corrupt("points"))?,
                tick_hz: u32::try_from(self.tick_hz).map_err(|_| corrupt("tick_hz"))?,
                no_show_timeout_ms: u64::try_from(self.no_show_timeout_ms)
                    .map_err(|_| corrupt("no-show timeout"))?,
            },
            champion: self.champion_id.clone(),
            created_by: self.created_by.clone(),
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
        })
    }
}

/// An audit log entry to write.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    /// Who (player id).
    pub actor_id: String,
    /// Their name at the time.
    pub actor_name: String,
    /// What (`tournament.start`, …).
    pub action: String,
    /// On which tournament.
    pub tournament_id: Option<String>,
    /// The player or match acted upon.
    pub target: Option<String>,
    /// Parameters (JSON).
    pub detail: serde_json::Value,
}

/// An audit log row as served by `GET /api/v1/admin/audit`.
#[derive(Clone, Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    /// Entry id (ULID, time-ordered).
    pub id: String,
    /// Unix ms.
    pub at: i64,
    /// Who (player id).
    pub actor_id: String,
    /// Their name at the time.
    pub actor_name: String,
    /// What.
    pub action: String,
    /// On which tournament.
    pub tournament_id: Option<String>,
    /// The player or match acted upon.
    pub target: Option<String>,
    /// Parameters (JSON text).
    pub detail: String,
}

/// Write one audit entry (inside the caller's transaction, with the change it records).
pub fn insert_audit(conn: &mut AnyConnection, e: &AuditEntry) -> AppResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::id.eq(ulid::Ulid::new().to_string()),
            audit_log::at.eq(now_ms()),
            audit_log::actor_id.eq(&e.actor_id),
            audit_log::actor_name.eq(&e.actor_name),
            audit_log::action.eq(&e.action),
            audit_log::tournament_id.eq(&e.tournament_id),
            audit_log::target.eq(&e.target),
            audit_log::detail.eq(e.detail.to_string()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Create a tournament and audit it, in one transaction.
pub fn insert(conn: &mut AnyConnection, row: &TournamentRow, audit: &AuditEntry) -> AppResult<()> {
    conn.transaction(|c| {
        diesel::insert_into(tournaments::table)
            .values(row)
            .execute(c)?;
        insert_audit(c, audit)
    })
}

/// One tournament row.
pub fn get(conn: &mut AnyConnection, id: &str) -> AppResult<Option<TournamentRow>> {
    Ok(tournaments::table
        .find(id)
        .select(TournamentRow::as_select())
        .first(conn)
        .optional()?)
}

/// Tournaments, newest first, optionally of one status, with their entrant counts; and the
/// total matching.
pub fn list(
    conn: &mut AnyConnection,
    status: Option<Status>,
    limit: i64,
    offset: i64,
) -> AppResult<(Vec<(TournamentRow, i64)>, i64)> {
    let mut q = tournaments::table.into_boxed();
    let mut count = tournaments::table.into_boxed();
    if let Some(s) = status {
        q = q.filter(tournaments::status.eq(s.as_str()));
        count = count.filter(tournaments::status.eq(s.as_str()));
    }
    let total: i64 = count.count().get_result(conn)?;
    let rows: Vec<TournamentRow> = q
        .order((tournaments::created_at.desc(), tournaments::id.desc()))
        .limit(limit)
        .offset(offset)
        .select(TournamentRow::as_select())
        .load(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let n: i64 = tournament_entrants::table
            .filter(tournament_entrants::tournament_id.eq(&row.id))
            .count()
            .get_result(conn)?;
        out.push((row, n));
    }
    Ok((out, total))
}

/// Tournament counts by status (for the `rally_tournaments` gauge at start).
pub fn count_by_status(conn: &mut AnyConnection) -> AppResult<Vec<(String, i64)>> {
    Ok(tournaments::table
        .group_by(tournaments::status)
        .select((tournaments::status, diesel::dsl::count_star()))
        .load(conn)?)
}

/// A tournament's entrants with their names and current ratings.
pub fn entrants(conn: &mut AnyConnection, id: &str) -> AppResult<Vec<Entrant>> {
    let rows: Vec<(String, String, f64, Option<i64>, bool, i64)> = tournament_entrants::table
        .inner_join(players::table)
        .filter(tournament_entrants::tournament_id.eq(id))
        .select((
            tournament_entrants::player_id,
            players::name,
            players::rating,
            tournament_entrants::seed,
            tournament_entrants::disqualified,
            tournament_entrants::joined_at,
        ))
        .order((
            tournament_entrants::joined_at,
            tournament_entrants::player_id,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(player, name, rating, seed, disqualified, joined_at)| Entrant {
                player,
                name,
                rating,
                seed: seed.and_then(|s| u32::try_from(s).ok()),
                disqualified,
                joined_at,
            },
        )
        .collect())
}

type RecordColumns = (
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
    i64,
    Option<String>,
    i64,
);

/// A tournament's match rows (every slot, every attempt).
pub fn match_records(conn: &mut AnyConnection, id: &str) -> AppResult<Vec<MatchRecord>> {
    let rows: Vec<RecordColumns> = matches::table
        .filter(matches::tournament_id.eq(id))
        .select((
            matches::id,
            matches::room_id,
            matches::tournament_slot,
            matches::status,
            matches::player0_id,
            matches::player1_id,
            matches::winner_seat,
            matches::score0,
            matches::score1,
            matches::end_reason,
            matches::created_at,
        ))
        .order((matches::created_at, matches::id))
        .load(conn)?;
    rows.into_iter()
        .map(
            |(mid, room, slot, status, p0, p1, winner, s0, s1, reason, created_at)| {
                let corrupt =
                    || AppError::internal(anyhow::anyhow!("match {mid}: bad tournament row"));
                Ok(MatchRecord {
                    slot: slot
                        .as_deref()
                        .and_then(parse_slot_key)
                        .ok_or_else(corrupt)?,
                    status: RowStatus::parse(&status).ok_or_else(corrupt)?,
                    players: [p0, p1],
                    winner_seat: winner.and_then(|w| u8::try_from(w).ok()),
                    scores: [
                        u32::try_from(s0).unwrap_or(0),
                        u32::try_from(s1).unwrap_or(0),
                    ],
                    end_reason: reason,
                    id: mid,
                    room,
                    created_at,
                })
            },
        )
        .collect()
}

/// Everything a tournament is made of.
pub struct Loaded {
    /// The row.
    pub row: TournamentRow,
    /// Its pure view.
    pub meta: Meta,
    /// Entrants.
    pub entrants: Vec<Entrant>,
    /// Match rows.
    pub records: Vec<MatchRecord>,
}

/// Load a whole tournament (`None`: no such tournament).
pub fn load(conn: &mut AnyConnection, id: &str) -> AppResult<Option<Loaded>> {
    let Some(row) = get(conn, id)? else {
        return Ok(None);
    };
    Ok(Some(Loaded {
        meta: row.meta()?,
        entrants: entrants(conn, id)?,
        records: match_records(conn, id)?,
        row,
    }))
}

/// Ids of every tournament that is not over (restored at start-up), oldest first.
pub fn unfinished(conn: &mut AnyConnection) -> AppResult<Vec<String>> {
    Ok(tournaments::table
        .filter(tournaments::status.eq_any(["draft", "registration", "running"]))
        .order(tournaments::created_at)
        .select(tournaments::id)
        .load(conn)?)
}

/// Take ownership of a tournament: bump its epoch and return the new one. From now on writes
/// carrying an older epoch are refused.
pub fn claim(conn: &mut AnyConnection, id: &str) -> AppResult<i64> {
    conn.transaction(|c| {
        let n = diesel::update(tournaments::table.find(id))
            .set(tournaments::epoch.eq(tournaments::epoch + 1))
            .execute(c)?;
        if n == 0 {
            return Err(AppError::not_found(format!("no tournament {id}")));
        }
        Ok(tournaments::table
            .find(id)
            .select(tournaments::epoch)
            .first(c)?)
    })
}

/// Abandon every match of the tournament that a room still owned (`created` or `playing`)
/// with `reason`, bumping each row's epoch so a late write of the old room is refused. Used
/// at restore (the rooms died with the process: their matches are replayed from scratch) and
/// on cancel. Returns how many rows changed.
pub fn abandon_live_matches(
    conn: &mut AnyConnection,
    tournament: &str,
    reason: &str,
) -> AppResult<usize> {
    Ok(diesel::update(
        matches::table
            .filter(matches::tournament_id.eq(tournament))
            .filter(matches::status.eq_any(["created", "playing"])),
    )
    .set((
        matches::status.eq("abandoned"),
        matches::end_reason.eq(Some(reason)),
        matches::finished_at.eq(Some(now_ms())),
        matches::epoch.eq(matches::epoch + 1),
    ))
    .execute(conn)?)
}

/// A walkover decided without a room (a disqualified player's match): a finished match row.
#[derive(Clone, Debug)]
pub struct Walkover {
    /// New match id.
    pub match_id: String,
    /// An id no room ever had (the column is required).
    pub room_id: String,
    /// Slot key.
    pub slot: String,
    /// Game kind.
    pub game: String,
    /// Game config JSON.
    pub config: String,
    /// Players by seat.
    pub players: [String; 2],
    /// The winning seat.
    pub winner_seat: u8,
}

/// An organiser's decision on an unfinished match.
#[derive(Clone, Debug)]
pub struct Settlement {
    /// The match.
    pub match_id: String,
    /// Winning seat.
    pub winner_seat: u8,
    /// Points by seat.
    pub scores: [u32; 2],
    /// `settled` or `forfeit`.
    pub end_reason: String,
}

/// One state change of a tournament, applied atomically by [`apply`].
#[derive(Clone, Debug, Default)]
pub struct Change {
    /// New status.
    pub status: Option<Status>,
    /// New registration flag.
    pub registration_open: Option<bool>,
    /// Set `started_at`.
    pub started_at: Option<i64>,
    /// Set `finished_at` (finished or cancelled).
    pub finished_at: Option<i64>,
    /// Set the champion.
    pub champion: Option<String>,
    /// Enter a player (id, joined at).
    pub add_entrant: Option<(String, i64)>,
    /// Withdraw a player.
    pub remove_entrant: Option<String>,
    /// Set seeds (player, seed); `None` clears an explicit seed.
    pub seeds: Vec<(String, Option<u32>)>,
    /// Disqualify a player.
    pub disqualify: Option<String>,
    /// Walkovers to record as finished match rows.
    pub walkovers: Vec<Walkover>,
    /// Settle a match by hand (its epoch is bumped: the room can no longer write it).
    pub settle: Option<Settlement>,
    /// Abandon every live match with this reason (cancel).
    pub abandon_live: Option<&'static str>,
    /// The organiser action to audit.
    pub audit: Option<AuditEntry>,
}

impl Change {
    /// Whether it writes nothing.
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.registration_open.is_none()
            && self.started_at.is_none()
            && self.finished_at.is_none()
            && self.champion.is_none()
            && self.add_entrant.is_none()
            && self.remove_entrant.is_none()
            && self.seeds.is_empty()
            && self.disqualify.is_none()
            && self.walkovers.is_empty()
            && self.settle.is_none()
            && self.abandon_live.is_none()
            && self.audit.is_none()
    }
}

/// Apply `change` to tournament `id` in one transaction, fenced by `epoch` (409 when another
/// owner holds a newer one, or when a settled match was decided meanwhile).
pub fn apply(conn: &mut AnyConnection, id: &str, epoch: i64, change: &Change) -> AppResult<()> {
    conn.transaction(|c| {
        // The fence; on Postgres it also locks the row until commit.
        let owned = diesel::update(
            tournaments::table
                .find(id)
                .filter(tournaments::epoch.eq(epoch)),
        )
        .set(tournaments::epoch.eq(epoch))
        .execute(c)?;
        if owned == 0 {
            return Err(AppError::conflict(
                "this tournament is run by another owner now; retry",
            ));
        }
        let t = || tournaments::table.find(id);
        if let Some(s) = change.status {
            diesel::update(t())
                .set(tournaments::status.eq(s.as_str()))
                .execute(c)?;
        }
        if let Some(open) = change.registration_open {
            diesel::update(t())
                .set(tournaments::registration_open.eq(open))
                .execute(c)?;
        }
        if let Some(at) = change.started_at {
            diesel::update(t())
                .set(tournaments::started_at.eq(Some(at)))
                .execute(c)?;
        }
        if let Some(at) = change.finished_at {
            diesel::update(t())
                .set(tournaments::finished_at.eq(Some(at)))
                .execute(c)?;
        }
        if let Some(champion) = &change.champion {
            diesel::update(t())
                .set(tournaments::champion_id.eq(Some(champion)))
                .execute(c)?;
        }
        let entrant = |p: &str| {
            tournament_entrants::table
                .filter(tournament_entrants::tournament_id.eq(id))
                .filter(tournament_entrants::player_id.eq(p.to_owned()))
        };
        if let Some((player, at)) = &change.add_entrant {
            diesel::insert_into(tournament_entrants::table)
                .values((
                    tournament_entrants::tournament_id.eq(id),
                    tournament_entrants::player_id.eq(player),
                    tournament_entrants::joined_at.eq(at),
                ))
                .execute(c)?;
        }
        if let Some(player) = &change.remove_entrant {
            diesel::delete(entrant(player)).execute(c)?;
        }
        for (player, seed) in &change.seeds {
            diesel::update(entrant(player))
                .set(tournament_entrants::seed.eq(seed.map(i64::from)))
                .execute(c)?;
        }
        if let Some(player) = &change.disqualify {
            diesel::update(entrant(player))
                .set(tournament_entrants::disqualified.eq(true))
                .execute(c)?;
        }
        let now = now_ms();
        for w in &change.walkovers {
            diesel::insert_into(matches::table)
                .values((
                    matches::id.eq(&w.match_id),
                    matches::room_id.eq(&w.room_id),
                    matches::game.eq(&w.game),
                    matches::mode.eq("tournament"),
                    matches::rated.eq(false),
                    matches::status.eq("finished"),
                    matches::player0_id.eq(Some(&w.players[0])),
                    matches::player1_id.eq(Some(&w.players[1])),
                    matches::winner_seat.eq(Some(i64::from(w.winner_seat))),
                    matches::end_reason.eq(Some("forfeit")),
                    matches::seed.eq(0_i64),
                    matches::config.eq(&w.config),
                    matches::tournament_id.eq(Some(id)),
                    matches::tournament_slot.eq(Some(&w.slot)),
                    matches::created_at.eq(now),
                    matches::finished_at.eq(Some(now)),
                    matches::duration_ms.eq(Some(0_i64)),
                ))
                .execute(c)?;
        }
        if let Some(s) = &change.settle {
            let n = diesel::update(
                matches::table
                    .find(&s.match_id)
                    .filter(matches::tournament_id.eq(id))
                    .filter(matches::status.eq_any(["created", "playing"])),
            )
            .set((
                matches::status.eq("finished"),
                matches::winner_seat.eq(Some(i64::from(s.winner_seat))),
                matches::score0.eq(i64::from(s.scores[0])),
                matches::score1.eq(i64::from(s.scores[1])),
                matches::end_reason.eq(Some(&s.end_reason)),
                matches::finished_at.eq(Some(now)),
                matches::epoch.eq(matches::epoch + 1),
            ))
            .execute(c)?;
            if n == 0 {
                return Err(AppError::conflict(format!(
                    "match {} was decided meanwhile; reload the tournament",
                    s.match_id
                )));
            }
        }
        if let Some(reason) = change.abandon_live {
            abandon_live_matches(c, id, reason)?;
        }
        if let Some(a) = &change.audit {
            insert_audit(c, a)?;
        }
        Ok(())
    })
}

/// The audit log, newest first, optionally for one tournament; and the total matching.
pub fn audit_list(
    conn: &mut AnyConnection,
    tournament: Option<&str>,
    limit: i64,
    offset: i64,
) -> AppResult<(Vec<AuditRow>, i64)> {
    let mut q = audit_log::table.into_boxed();
    let mut count = audit_log::table.into_boxed();
    if let Some(t) = tournament {
        q = q.filter(audit_log::tournament_id.eq(t.to_owned()));
        count = count.filter(audit_log::tournament_id.eq(t.to_owned()));
    }
    let total = count.count().get_result(conn)?;
    let rows = q
        .order((audit_log::at.desc(), audit_log::id.desc()))
        .limit(limit)
        .offset(offset)
        .select(AuditRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}
