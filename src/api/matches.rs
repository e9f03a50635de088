//! Results, history, leaderboard and replays: `GET /api/v1/matches`, `/matches/{id}`,
//! `/matches/{id}/replay`, `/players/{id}/matches`, `/leaderboard`.
//!
//! These are public reads, like a scoreboard on a wall: no token is needed, because what they
//! show (names, scores, ratings, and the inputs of finished games) is public to anyone who could
//! watch the match, and sharing a result link should not require an account. They never show
//! private data (roles, token epochs), and inputs are only served once a match has finished, so
//! a replay cannot be used to read an opponent's intent live.

use super::page::{Page, PageQuery};
use crate::app::AppState;
use crate::db::matches::{self, LeaderboardRow, MatchRow, SeatRow};
use crate::db::players;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::replay::Replay;
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

/// A player's line in a match view.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchPlayer {
    /// Player id.
    pub id: String,
    /// Display name (current).
    pub name: String,
    /// Seat, `0..seats` (2 for Pong, 2–8 for light cycles).
    pub seat: u8,
    /// Final (or current) score.
    pub score: i64,
    /// 1-based finishing place (equal places are ties); `null` until finished.
    pub place: Option<i64>,
    /// Rating before a rated match (rounded); `null` otherwise.
    pub rating_before: Option<i64>,
    /// Rating after a rated match (rounded); `null` otherwise.
    pub rating_after: Option<i64>,
}

/// What clients see of a match.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchView {
    /// Match id.
    pub id: String,
    /// Game kind.
    pub game: String,
    /// `quick` | `private` | `tournament`.
    pub mode: String,
    /// Whether the result changed ratings.
    pub rated: bool,
    /// `created` | `playing` | `finished` | `abandoned`.
    pub status: String,
    /// Seated players, by seat.
    pub players: Vec<MatchPlayer>,
    /// Winning seat; `null` for a draw or an unfinished match.
    pub winner_seat: Option<i64>,
    /// `score` | `forfeit` | `resign` | `abandoned`, or the no-show reason; `null` while running.
    pub end_reason: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub started_at: Option<i64>,
    /// Unix ms.
    pub finished_at: Option<i64>,
    /// Played time in ms.
    pub duration_ms: Option<i64>,
    /// Tournament, for tournament matches.
    pub tournament_id: Option<String>,
}

impl MatchView {
    /// Build the view of `row` with its `seats` ([`matches::seats_of`]); `names` maps player
    /// ids to display names.
    pub fn new(row: &MatchRow, seats: &[SeatRow], names: &HashMap<String, String>) -> MatchView {
        let players = seats
            .iter()
            .filter_map(|s| {
                s.player_id.as_ref().map(|id| MatchPlayer {
                    id: id.clone(),
                    name: names.get(id).cloned().unwrap_or_default(),
                    seat: u8::try_from(s.seat).unwrap_or(u8::MAX),
                    score: s.score,
                    place: s.place,
                    rating_before: s.rating_before.map(|r| r.round() as i64),
                    rating_after: s.rating_after.map(|r| r.round() as i64),
                })
            })
            .collect();
        MatchView {
            id: row.id.clone(),
            game: row.game.clone(),
            mode: row.mode.clone(),
            rated: row.rated,
            status: row.status.clone(),
            players,
            winner_seat: row.winner_seat,
            end_reason: row.end_reason.clone(),
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            duration_ms: row.duration_ms,
            tournament_id: row.tournament_id.clone(),
        }
    }
}

/// A leaderboard line.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeaderboardEntry {
    /// 1-based position in the whole leaderboard (`offset` + index + 1).
    pub rank: i64,
    /// Player id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Rating (rounded).
    pub rating: i64,
    /// Rating deviation (rounded): how sure the rating is.
    pub rating_deviation: i64,
    /// Rated games played.
    pub games_played: i64,
}

/// Views of a page of rows, with the players' names fetched in one query.
fn views(c: &mut crate::db::AnyConnection, rows: Vec<MatchRow>) -> AppResult<Vec<MatchView>> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let seats = matches::seats_of(c, &ids)?;
    let names = matches::player_names(c, &seats)?;
    Ok(rows
        .iter()
        .map(|r| MatchView::new(r, seats.get(&r.id).map_or(&[], |s| s), &names))
        .collect())
}

/// `GET /api/v1/matches?limit=&offset=`: finished matches, the most recently finished first.
#[utoipa::path(
    tag = "matches",
    params(PageQuery),
    responses((status = 200, description = "Finished matches, most recently finished first", body = Page<MatchView>))
)]
#[get("/matches")]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let page = query.into_inner().validate()?;
    let items = state
        .db
        .run(move |c| {
            let rows = matches::list_recent(c, page.limit, page.offset)?;
            views(c, rows)
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page::new(items, page)))
}

/// `GET /api/v1/matches/{id}`: one match, in any status. 404 when unknown.
#[utoipa::path(
    tag = "matches",
    params(("id" = String, Path, description = "Match id (a ULID)", min_length = 26, max_length = 26, pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$")),
    responses((status = 200, description = "The match, in any status", body = MatchView))
)]
#[get("/matches/{id}")]
pub async fn show(state: web::Data<AppState>, id: web::Path<String>) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let view = state
        .db
        .run(move |c| {
            let row = matches::get(c, &id)?.ok_or_else(|| AppError::not_found("no such match"))?;
            Ok(views(c, vec![row])?.remove(0))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `GET /api/v1/matches/{id}/replay`: the [`crate::replay::Replay`] of a finished match. 404
/// when unknown or not finished, 409 when it was finished without a replay.
#[utoipa::path(
    tag = "matches",
    params(("id" = String, Path, description = "Match id (a ULID)", min_length = 26, max_length = 26, pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$")),
    responses(
        (status = 200, description = "The replay of a finished match", body = Replay),
        (status = 409, description = "`conflict`: the match finished without a replay", body = ErrorBody),
    )
)]
#[get("/matches/{id}/replay")]
pub async fn replay(state: web::Data<AppState>, id: web::Path<String>) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let replay = state
        .db
        .run(move |c| {
            let row = matches::get(c, &id)?.ok_or_else(|| AppError::not_found("no such match"))?;
            let seats = matches::seats_of(c, &[row.id.as_str()])?;
            row.replay(seats.get(&row.id).map_or(&[], |s| s))
        })
        .await?;
    Ok(HttpResponse::Ok().json(replay))
}

/// `?every=N` for replay frames.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FramesQuery {
    /// Keep every N-th tick (default 1); at most 20,000 frames are served.
    #[param(minimum = 1)]
    pub every: Option<u64>,
}

/// Answer of `GET /api/v1/matches/{id}/replay/frames`.
#[derive(Serialize, ToSchema)]
pub struct ReplayFrames {
    /// Match id.
    #[serde(rename = "match")]
    pub match_id: String,
    /// Tick rate of the match.
    pub tick_hz: u64,
    /// Every N-th tick is a frame.
    pub every: u64,
    /// Snapshots, as the WebSocket `snapshot` message's `state` (docs/protocol.md).
    #[schema(value_type = Vec<Object>)]
    pub frames: Vec<Box<serde_json::value::RawValue>>,
}

/// `GET /api/v1/matches/{id}/replay/frames?every=N`: the replay re-simulated on the server,
/// as `{"match","tick_hz","every","frames":[snapshot…]}` — what a viewer needs to draw the ball.
/// 400 when more than `MAX_REPLAY_FRAMES` frames would be returned (raise `every`).
#[utoipa::path(
    tag = "matches",
    params(("id" = String, Path, description = "Match id (a ULID)", min_length = 26, max_length = 26, pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$"), FramesQuery),
    responses(
        (status = 200, description = "The replay re-simulated on the server", body = ReplayFrames),
        (status = 409, description = "`conflict`: the match finished without a replay, or its replay does not re-simulate", body = ErrorBody),
    )
)]
#[get("/matches/{id}/replay/frames")]
pub async fn replay_frames(
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<FramesQuery>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let every = query.every.unwrap_or(1);
    if every == 0 {
        return Err(AppError::validation("every must be at least 1"));
    }
    let body = state
        .db
        .run(move |c| {
            let row = matches::get(c, &id)?.ok_or_else(|| AppError::not_found("no such match"))?;
            let seats = matches::seats_of(c, &[row.id.as_str()])?;
            let rep = row.replay(seats.get(&row.id).map_or(&[], |s| s))?;
            if rep.ticks / every > crate::replay::MAX_REPLAY_FRAMES {
                return Err(AppError::validation(format!(
                    "{} ticks at every={every} is more than {} frames; raise every",
                    rep.ticks,
                    crate::replay::MAX_REPLAY_FRAMES
                )));
            }
            let frames = crate::replay::frames(&rep, every)
                .map_err(|e| AppError::conflict(format!("replay does not re-simulate: {e}")))?;
            let tick_hz = rep
                .config
                .get("tick_hz")
                .and_then(|v| v.as_u64())
                .unwrap_or(60);
            Ok(ReplayFrames {
                match_id: rep.r#match,
                tick_hz,
                every,
                frames,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /api/v1/players/{id}/matches?limit=&offset=`: every match the player has a seat in,
/// the most recently created first. 404 for an unknown player.
#[utoipa::path(
    tag = "matches",
    params(("id" = String, Path, description = "Player id (a ULID)", min_length = 26, max_length = 26, pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$"), PageQuery),
    responses((status = 200, description = "The player's matches in any status, newest first", body = Page<MatchView>))
)]
#[get("/players/{id}/matches")]
pub async fn for_player(
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let page = query.into_inner().validate()?;
    let id = id.into_inner();
    let items = state
        .db
        .run(move |c| {
            if players::by_id(c, &id)?.is_none() {
                return Err(AppError::not_found("no such player"));
            }
            let rows = matches::list_for_player(c, &id, page.limit, page.offset)?;
            views(c, rows)
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page::new(items, page)))
}

/// `?game=` of the leaderboard.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GameQuery {
    /// Game kind (default `pong`); an unknown game is 400.
    pub game: Option<String>,
}

/// `GET /api/v1/leaderboard?game=&limit=&offset=`: registered players with at least one rated
/// game of `game` (default `pong`), by their rating in it, then games played, then name.
/// Guests are rated but never listed. 400 for an unknown game.
#[utoipa::path(
    tag = "matches",
    params(PageQuery, GameQuery),
    responses((status = 200, description = "Registered players with a rated game, by rating", body = Page<LeaderboardEntry>))
)]
#[get("/leaderboard")]
pub async fn leaderboard(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
    game: web::Query<GameQuery>,
) -> AppResult<HttpResponse> {
    let page = query.into_inner().validate()?;
    let game = game
        .into_inner()
        .game
        .unwrap_or_else(|| crate::game::pong::KIND.to_owned());
    if crate::game::spec(&game).is_none() {
        return Err(AppError::validation(format!(
            "unknown game {game:?} (known games: {})",
            crate::game::GAMES.join(", ")
        )));
    }
    let rows = state
        .db
        .run(move |c| matches::leaderboard(c, &game, page.limit, page.offset))
        .await?;
    let items = rows
        .into_iter()
        .zip(1..)
        .map(|(r, i): (LeaderboardRow, i64)| LeaderboardEntry {
            rank: page.offset.saturating_add(i),
            id: r.id,
            name: r.name,
            rating: r.rating.round() as i64,
            rating_deviation: r.rating_deviation.round() as i64,
            games_played: r.games_played,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(items, page)))
}
