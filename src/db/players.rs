//! Player accounts (guests included) and revoked tokens.

use super::schema::{players, revoked_tokens};
use super::{is_unique_violation, now_ms, AnyConnection};
use crate::error::{AppError, AppResult};
use crate::ids::PlayerId;
use diesel::prelude::*;
use serde::Serialize;

/// A player's role. Stored as text; carried inside tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Can play and spectate; cannot join tournaments; not on the leaderboard.
    Guest,
    /// A registered player.
    Player,
    /// A registered player who may run tournaments.
    Organiser,
}

impl Role {
    /// Storage and token form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Guest => "guest",
            Role::Player => "player",
            Role::Organiser => "organiser",
        }
    }

    /// Parse the storage/token form.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "guest" => Some(Role::Guest),
            "player" => Some(Role::Player),
            "organiser" => Some(Role::Organiser),
            _ => None,
        }
    }
}

/// A row of `players`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = players)]
pub struct PlayerRow {
    /// ULID.
    pub id: String,
    /// Display name as chosen.
    pub name: String,
    /// Lower-cased name (unique).
    pub name_key: String,
    /// argon2 PHC string; `None` for guests.
    pub password_hash: Option<String>,
    /// Role text.
    pub role: String,
    /// Token generation; tokens carrying another epoch are refused.
    pub token_epoch: i64,
    /// Glicko-2 rating.
    pub rating: f64,
    /// Glicko-2 rating deviation.
    pub rating_deviation: f64,
    /// Glicko-2 volatility.
    pub rating_volatility: f64,
    /// Rated games played.
    pub games_played: i64,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// What clients see of a player.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PlayerView {
    /// Player id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Whether this is a guest account.
    pub guest: bool,
    /// Rating (rounded for display).
    pub rating: i64,
    /// Rating deviation (rounded).
    pub rating_deviation: i64,
    /// Rated games played.
    pub games_played: i64,
    /// Unix ms.
    pub created_at: i64,
    /// The player's rating in each game they were rated in (Pong always listed), by game kind.
    /// The top-level `rating`, `rating_deviation` and `games_played` are the Pong ones.
    pub ratings: std::collections::BTreeMap<String, GameRating>,
}

/// A player's rating in one game.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GameRating {
    /// Rating (rounded).
    pub rating: i64,
    /// Rating deviation (rounded).
    pub rating_deviation: i64,
    /// Rated games of this game played.
    pub games_played: i64,
}

impl PlayerView {
    /// The view with its ratings per game from `ratings`
    /// ([`crate::db::matches::ratings_of`]), Pong kept when absent.
    pub fn with_ratings(mut self, ratings: Vec<(String, f64, f64, i64)>) -> PlayerView {
        for (game, rating, deviation, games) in ratings {
            self.ratings.insert(
                game,
                GameRating {
                    rating: rating.round() as i64,
                    rating_deviation: deviation.round() as i64,
                    games_played: games,
                },
            );
        }
        self
    }
}

impl PlayerRow {
    /// The role, defaulting to the least privileged on an unknown value.
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Guest)
    }

    /// Public view.
    pub fn view(&self) -> PlayerView {
        PlayerView {
            id: self.id.clone(),
            name: self.name.clone(),
            role: self.role(),
            guest: self.role() == Role::Guest,
            rating: self.rating.round() as i64,
            rating_deviation: self.rating_deviation.round() as i64,
            games_played: self.games_played,
            created_at: self.created_at,
            ratings: std::iter::once((
                crate::game::pong::KIND.to_owned(),
                GameRating {
                    rating: self.rating.round() as i64,
                    rating_deviation: self.rating_deviation.round() as i64,
                    games_played: self.games_played,
                },
            ))
            .collect(),
        }
    }

    /// A fresh row with default rating.
    pub fn new(name: &str, password_hash: Option<String>, role: Role) -> PlayerRow {
        let now = now_ms();
        PlayerRow {
            id: PlayerId::generate().0,
            name: name.to_string(),
            name_key: name.to_lowercase(),
            password_hash,
            role: role.as_str().to_string(),
            token_epoch: 0,
            rating: 1500.0,
            rating_deviation: 350.0,
            rating_volatility: 0.06,
            games_played: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Insert a new player; a name clash (case-insensitive) is 409.
pub fn insert(conn: &mut AnyConnection, row: &PlayerRow) -> AppResult<()> {
    diesel::insert_into(players::table)
        .values(row)
        .execute(conn)
        .map_err(|e| {
            if is_unique_violation(&e) {
                AppError::conflict(format!("the name {:?} is taken", row.name))
            } else {
                AppError::internal(e)
            }
        })?;
    Ok(())
}

/// Find by id.
pub fn by_id(conn: &mut AnyConnection, id: &str) -> AppResult<Option<PlayerRow>> {
    Ok(players::table
        .find(id)
        .select(PlayerRow::as_select())
        .first(conn)
        .optional()?)
}

/// Find by name, case-insensitively.
pub fn by_name(conn: &mut AnyConnection, name: &str) -> AppResult<Option<PlayerRow>> {
    Ok(players::table
        .filter(players::name_key.eq(name.to_lowercase()))
        .select(PlayerRow::as_select())
        .first(conn)
        .optional()?)
}

/// Set the role and bump the token epoch (live tokens carry the old role and stop working).
pub fn set_role(conn: &mut AnyConnection, id: &str, role: Role) -> AppResult<()> {
    let n = diesel::update(players::table.find(id))
        .set((
            players::role.eq(role.as_str()),
            players::token_epoch.eq(players::token_epoch + 1),
            players::updated_at.eq(now_ms()),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(AppError::not_found("no such player"));
    }
    Ok(())
}

/// Turn a guest into a registered player, keeping id and history; bumps the token epoch.
pub fn upgrade_guest(
    conn: &mut AnyConnection,
    id: &str,
    name: &str,
    password_hash: &str,
) -> AppResult<()> {
    let n = diesel::update(
        players::table
            .find(id)
            .filter(players::role.eq(Role::Guest.as_str())),
    )
    .set((
        players::name.eq(name),
        players::name_key.eq(name.to_lowercase()),
        players::password_hash.eq(Some(password_hash)),
        players::role.eq(Role::Player.as_str()),
        players::token_epoch.eq(players::token_epoch + 1),
        players::updated_at.eq(now_ms()),
    ))
    .execute(conn)
    .map_err(|e| {
        if is_unique_violation(&e) {
            AppError::conflict(format!("the name {name:?} is taken"))
        } else {
            AppError::internal(e)
        }
    })?;
    if n == 0 {
        return Err(AppError::conflict("only a guest account can be upgraded"));
    }
    Ok(())
}

/// Record revoked token ids (idempotent).
pub fn revoke(
    conn: &mut AnyConnection,
    player_id: &str,
    revocation_ids: &[String],
    expires_at: i64,
) -> AppResult<()> {
    let now = now_ms();
    for rid in revocation_ids {
        let res = diesel::insert_into(revoked_tokens::table)
            .values((
                revoked_tokens::revocation_id.eq(rid),
                revoked_tokens::player_id.eq(player_id),
                revoked_tokens::expires_at.eq(expires_at),
                revoked_tokens::revoked_at.eq(now),
            ))
            .execute(conn);
        match res {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(AppError::internal(e)),
        }
    }
    Ok(())
}

/// True when any of the ids is revoked.
pub fn any_revoked(conn: &mut AnyConnection, revocation_ids: &[String]) -> AppResult<bool> {
    let n: i64 = revoked_tokens::table
        .filter(revoked_tokens::revocation_id.eq_any(revocation_ids))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Delete revocation rows whose tokens have expired anyway.
pub fn purge_expired_revocations(conn: &mut AnyConnection) -> AppResult<usize> {
    Ok(
        diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.lt(now_ms())))
            .execute(conn)?,
    )
}
