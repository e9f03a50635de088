//! Rooms: create a private room (join code), list public live rooms.

use super::page::{CountedPage, PageQuery};
use crate::api::body::Json;
use crate::app::AppState;
use crate::auth::extract::authenticate;
use crate::auth::Operation;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::registry::RoomSummary;
use crate::room::{Mode, RoomSpec};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// Body of `POST /api/v1/rooms`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    /// Game kind (`pong`, the default).
    #[serde(default = "default_game")]
    #[schema(pattern = "^pong$")]
    pub game: String,
    /// Whether the match changes ratings.
    #[serde(default)]
    pub rated: bool,
    /// Game settings (e.g. `{"points_to_win": 3}`); validated by the game (pong:
    /// `points_to_win` 1–21, `tick_hz` 10–240; docs/protocol.md).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
}

/// Answer of `POST /api/v1/rooms`.
#[derive(Serialize, ToSchema)]
pub struct CreatedRoomView {
    /// Room id (spectate or join it over the WebSocket).
    pub room: String,
    /// The 6-character join code.
    pub code: Option<String>,
    /// The match row of the room.
    #[serde(rename = "match")]
    pub match_id: String,
}

fn default_game() -> String {
    "pong".into()
}

/// The game kind and config of a private room from a [`CreateRoom`] body (pure; fuzzed by
/// `fuzz/fuzz_targets/configs.rs`): the game must be known and `config` an object (or absent);
/// a missing `tick_hz` is the server's `tick_hz`. The game itself validates the config's
/// values when the room is created ([`crate::game::create`]); every refusal is a 400
/// `validation`.
pub fn room_config(body: CreateRoom, tick_hz: u32) -> AppResult<(String, serde_json::Value)> {
    if !crate::game::GAMES.contains(&body.game.as_str()) {
        return Err(AppError::validation(format!(
            "unknown game {:?}",
            body.game
        )));
    }
    let mut config = body.config.unwrap_or_else(|| json!({}));
    let Some(obj) = config.as_object_mut() else {
        return Err(AppError::validation("config must be an object"));
    };
    obj.entry("tick_hz").or_insert(json!(tick_hz));
    Ok((body.game, config))
}

/// `POST /api/v1/rooms` → 201 `{"room","code","match"}`: a private room joined by code.
#[utoipa::path(
    tag = "rooms",
    security(("bearer" = [])),
    request_body = CreateRoom,
    responses(
        (status = 201, description = "A private room, joined by its code", body = CreatedRoomView),
        (status = 403, description = "`forbidden`: the token may not play", body = ErrorBody),
        (status = 429, description = "`rate_limited`: more than RALLY_PRIVATE_ROOMS_PER_MINUTE rooms (`Retry-After`)", body = ErrorBody),
    )
)]
#[post("/rooms")]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<CreateRoom>,
) -> AppResult<HttpResponse> {
    let player = authenticate(&req, Operation::Play).await?;
    let body = body.into_inner();
    let rated = body.rated;
    let (game, config) = room_config(body, state.engine.config.tick_hz)?;
    // Counted once the request is valid as far as the API can tell (the game checks its
    // config when the room is created).
    state.room_limiter.check(&player.player_id.0)?;
    let created = state
        .engine
        .create_room(RoomSpec {
            game,
            config,
            mode: Mode::Private,
            rated,
            seats: None,
            private: true,
            requeue: None,
            tournament: None,
        })
        .await?;
    Ok(HttpResponse::Created().json(CreatedRoomView {
        room: created.room.0,
        code: created.code,
        match_id: created.match_id.0,
    }))
}

/// `GET /api/v1/rooms` → `{"items":[…],"limit","offset","total"}`: public live rooms (private
/// rooms are never listed).
#[utoipa::path(
    tag = "rooms",
    params(PageQuery),
    responses((status = 200, description = "Public live rooms", body = CountedPage<RoomSummary>))
)]
#[get("/rooms")]
pub async fn list(
    state: web::Data<AppState>,
    page: web::Query<PageQuery>,
) -> AppResult<HttpResponse> {
    let page = page.into_inner().validate()?;
    let (items, total) = state
        .engine
        .registry
        .list_rooms(page.offset as usize, page.limit as usize)
        .await;
    Ok(HttpResponse::Ok().json(CountedPage::new(items, page, total as i64)))
}
