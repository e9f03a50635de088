//! Tournaments for players and viewers: list, view, join, leave.

use crate::api::page::{CountedPage, PageQuery};
use crate::app::AppState;
use crate::auth::extract::Registered;
use crate::db::tournaments::{self, Loaded};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::ids::TournamentId;
use crate::tournament::actor::TournamentActor;
use crate::tournament::messages::{Join, Leave, ViewResult};
use crate::tournament::model::{self, format_name, Status};
use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `?status=&limit=&offset=`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `draft`, `registration`, `running`, `finished` or `cancelled` (empty: all).
    #[param(pattern = "^(draft|registration|running|finished|cancelled)?$")]
    pub status: Option<String>,
    /// Items per page, `1..` (capped at 100; 20 when absent).
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// Items to skip, `0..`.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// A line of `GET /api/v1/tournaments`.
#[derive(Serialize, ToSchema)]
pub struct TournamentSummary {
    /// Tournament id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Game kind.
    pub game: String,
    /// `single_elimination` or `round_robin`.
    pub format: String,
    /// `draft`, `registration`, `running`, `finished` or `cancelled`.
    pub status: String,
    /// Whether players can join now.
    pub registration_open: bool,
    /// Most entrants.
    pub capacity: i64,
    /// Entrants so far.
    pub entrants: i64,
    /// The champion's player id, once finished.
    pub champion: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub started_at: Option<i64>,
    /// Unix ms.
    pub finished_at: Option<i64>,
}

/// A player as the tournament view names them.
#[derive(ToSchema)]
pub struct PlayerRef {
    /// Player id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// An entrant in the tournament view.
#[derive(ToSchema)]
pub struct EntrantView {
    /// Player id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Rating when they joined (rounded).
    pub rating: i64,
    /// Seed, from the start.
    pub seed: Option<u32>,
    /// Disqualified by an organiser.
    pub disqualified: bool,
    /// Knocked out of the main bracket.
    pub eliminated: bool,
}

/// A tournament's match settings.
#[derive(ToSchema)]
pub struct TournamentSettings {
    /// Points to win each match.
    pub points_to_win: u32,
    /// Tick rate of the match rooms.
    pub tick_hz: u32,
    /// How long players have to join a ready match, ms.
    pub no_show_timeout_ms: u64,
}

/// What `GET /api/v1/tournaments/{id}` and every tournament action answer: the view rendered
/// by [`crate::tournament::model::render`] (README, "Tournaments", lists every field).
#[derive(ToSchema)]
pub struct TournamentView {
    /// Tournament id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Game kind.
    pub game: String,
    /// `single_elimination` or `round_robin`.
    pub format: String,
    /// Single elimination with a third-place match.
    pub third_place: bool,
    /// Most entrants.
    pub capacity: u32,
    /// `draft`, `registration`, `running`, `finished` or `cancelled`.
    pub status: String,
    /// Whether players can join now.
    pub registration_open: bool,
    /// Unix ms.
    pub registration_opens_at: Option<i64>,
    /// Unix ms.
    pub registration_closes_at: Option<i64>,
    /// Match settings.
    pub settings: TournamentSettings,
    /// The organiser's player id.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub started_at: Option<i64>,
    /// Unix ms.
    pub finished_at: Option<i64>,
    /// Entrants, by seed once started, else by join order.
    pub entrants: Vec<EntrantView>,
    /// Number of rounds; `null` before the start.
    pub rounds: Option<u32>,
    /// The round being played; `null` before the start and once over.
    pub current_round: Option<u32>,
    /// Rounds of matches (`{round, matches:[…]}`); `null` before the start.
    #[schema(value_type = Option<Vec<Object>>)]
    pub bracket: Option<Vec<serde_json::Value>>,
    /// Standings (`{player, seed, rank, wins, losses, points_for, points_against,
    /// disqualified}`); `null` before the start.
    #[schema(value_type = Option<Vec<Object>>)]
    pub standings: Option<Vec<serde_json::Value>>,
    /// The champion, once finished.
    pub champion: Option<PlayerRef>,
}

/// The actor of a tournament that is not over: 404 when there is no such tournament, 409
/// when it is finished or cancelled (nothing can change any more).
pub async fn live(state: &AppState, id: &str) -> AppResult<actix::Addr<TournamentActor>> {
    let tid = TournamentId::parse(id).ok_or_else(|| AppError::not_found("no such tournament"))?;
    if let Some(a) = state.tournaments.get(&tid) {
        return Ok(a);
    }
    // Several instances: actions go to the actor, which runs on the instance holding the
    // tournament's lease; `api::forward` relays them there. Reaching this point means the
    // owner changed in between (or the forward was refused): say where to go.
    if let Some(c) = state.engine.registry.cluster() {
        let resource = crate::registry::Resource::tournament(tid.as_str());
        if let Some(owner) = c.owner(&resource).await.filter(|o| o != c.id()) {
            let addr = c
                .live_instances()
                .await
                .into_iter()
                .find(|i| i.id == owner)
                .map(|i| i.addr)
                .unwrap_or_else(|| owner.to_string());
            return Err(AppError::unavailable(format!(
                "tournament {tid} runs on instance {addr}; send this action there"
            )));
        }
    }
    let row = state
        .db
        .run(move |c| tournaments::get(c, &tid.0))
        .await?
        .ok_or_else(|| AppError::not_found("no such tournament"))?;
    Err(AppError::conflict(format!(
        "the tournament is {}; nothing can change any more",
        row.status
    )))
}

/// Ask a tournament actor; a stopped actor is a 409 (it just finished).
pub async fn ask<M>(actor: actix::Addr<TournamentActor>, msg: M) -> AppResult<serde_json::Value>
where
    M: actix::Message<Result = ViewResult> + Send + 'static,
    TournamentActor: actix::Handler<M>,
{
    actor
        .send(msg)
        .await
        .map_err(|_| AppError::conflict("the tournament just ended; reload it"))?
}

/// The view of a loaded tournament (the bracket rebuilt from its match rows).
pub fn render(loaded: &Loaded) -> AppResult<serde_json::Value> {
    let bracket = match loaded.meta.started_at {
        Some(_) => Some(
            model::rebuild(loaded.meta.format, &loaded.entrants, &loaded.records)
                .map_err(|e| {
                    AppError::internal(anyhow::anyhow!(
                        "tournament {}: rebuild failed: {e}",
                        loaded.meta.id
                    ))
                })?
                .bracket,
        ),
        None => None,
    };
    Ok(model::render(
        &loaded.meta,
        &loaded.entrants,
        bracket.as_ref(),
        &loaded.records,
    ))
}

/// `GET /api/v1/tournaments` → `{"items":[…],"limit","offset","total"}`, newest first.
#[utoipa::path(
    tag = "tournaments",
    params(ListQuery),
    responses((status = 200, description = "Tournaments, newest first", body = CountedPage<TournamentSummary>))
)]
#[get("/tournaments")]
pub async fn list(state: web::Data<AppState>, q: web::Query<ListQuery>) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let page = PageQuery {
        limit: q.limit,
        offset: q.offset,
    }
    .validate()?;
    let (limit, offset) = (page.limit, page.offset);
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            AppError::validation(format!(
                "status must be one of draft, registration, running, finished, cancelled; got {s:?}"
            ))
        })?),
    };
    let (rows, total) = state
        .db
        .run(move |c| tournaments::list(c, status, limit, offset))
        .await?;
    let items: Vec<TournamentSummary> = rows
        .into_iter()
        .map(|(row, entrants)| TournamentSummary {
            format: row
                .meta()
                .map(|m| format_name(m.format))
                .unwrap_or("unknown")
                .to_owned(),
            registration_open: row.status == "registration" && row.registration_open,
            id: row.id,
            name: row.name,
            game: row.game,
            status: row.status,
            capacity: row.capacity,
            entrants,
            champion: row.champion_id,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(CountedPage::new(items, page, total)))
}

/// `GET /api/v1/tournaments/{id}`: status, entrants, bracket and standings, current round,
/// match rooms, results, champion — from the database (brackets rebuilt from match rows).
#[utoipa::path(
    tag = "tournaments",
    params(("id" = String, Path, description = "Tournament id (a ULID)", min_length = 26, max_length = 26, pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$")),
    responses((status = 200, description = "The tournament view", body = TournamentView))
)]
#[get("/tournaments/{id}")]
pub async fn get(state: web::Data<AppState>, id: web::Path<String>) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let loaded = state
        .db
        .run(move |c| tournaments::load(c, &id))
        .await?
        .ok_or_else(|| AppError::not_found("no such tournament"))?;
    Ok(HttpResponse::Ok().json(render(&loaded)?))
}

/// `POST /api/v1/tournaments/{id}/join` (registered players; guests 403): 200 with the view.
/// Joining twice is harmless; a closed or full registration is 409.
#[utoipa::path(
    tag = "tournaments",
    params(("id" = String, Path, description = "Tournament id (a ULID)", min_length = 26, max_length = 26, pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Entered (joining twice is harmless); the view", body = TournamentView),
        (status = 403, description = "`forbidden`: guests cannot join tournaments", body = ErrorBody),
        (status = 409, description = "`conflict`: registration is not open, the tournament is full or over, or the player was disqualified", body = ErrorBody),
    )
)]
#[post("/tournaments/{id}/join")]
pub async fn join(
    state: web::Data<AppState>,
    player: Registered,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let handle = live(&state, &id).await?;
    let p = player.0;
    let view = ask(
        handle,
        Join {
            player: p.player_id,
            name: p.name,
            rating: p.rating,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /api/v1/tournaments/{id}/leave` (registered players): withdraw before the start.
#[utoipa::path(
    tag = "tournaments",
    params(("id" = String, Path, description = "Tournament id (a ULID)", min_length = 26, max_length = 26, pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Withdrawn; the view", body = TournamentView),
        (status = 403, description = "`forbidden`: guests cannot enter tournaments", body = ErrorBody),
        (status = 409, description = "`conflict`: not entered, already started, or over", body = ErrorBody),
    )
)]
#[post("/tournaments/{id}/leave")]
pub async fn leave(
    state: web::Data<AppState>,
    player: Registered,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let handle = live(&state, &id).await?;
    let view = ask(
        handle,
        Leave {
            player: player.0.player_id,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(view))
}
