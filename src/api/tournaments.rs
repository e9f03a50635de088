//! Tournaments for players and viewers: list, view, join, leave.

use crate::api::page::PageQuery;
use crate::app::AppState;
use crate::auth::extract::Registered;
use crate::db::tournaments::{self, Loaded};
use crate::error::{AppError, AppResult};
use crate::ids::TournamentId;
use crate::tournament::actor::TournamentActor;
use crate::tournament::messages::{Join, Leave, ViewResult};
use crate::tournament::model::{self, format_name, Status};
use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// `?status=&limit=&offset=`.
#[derive(Deserialize)]
pub struct ListQuery {
    /// `draft`, `registration`, `running`, `finished` or `cancelled`.
    pub status: Option<String>,
    /// Items per page (capped at 100).
    pub limit: Option<i64>,
    /// Items to skip.
    pub offset: Option<i64>,
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
    let items: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|(row, entrants)| {
            json!({
                "id": row.id, "name": row.name, "game": row.game,
                "format": row.meta().map(|m| format_name(m.format)).unwrap_or("unknown"),
                "status": row.status,
                "registration_open": row.status == "registration" && row.registration_open,
                "capacity": row.capacity, "entrants": entrants,
                "champion": row.champion_id,
                "created_at": row.created_at, "started_at": row.started_at,
                "finished_at": row.finished_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "items": items, "limit": limit, "offset": offset, "total": total,
    })))
}

/// `GET /api/v1/tournaments/{id}`: status, entrants, bracket and standings, current round,
/// match rooms, results, champion — from the database (brackets rebuilt from match rows).
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
