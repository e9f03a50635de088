//! The game catalogue: `GET /api/v1/games`.

use actix_web::{get, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

/// Answer of `GET /api/v1/games`.
#[derive(Serialize, ToSchema)]
pub struct GameList {
    /// Every game this server runs, in the order clients should list them.
    pub games: Vec<GameView>,
}

/// One game kind.
#[derive(Serialize, ToSchema)]
pub struct GameView {
    /// The kind, as given to `queue`, `POST /api/v1/rooms` and in `joined.info.kind`.
    #[schema(example = "cycles")]
    pub kind: &'static str,
    /// Name for lobbies.
    #[schema(example = "Light cycles")]
    pub name: &'static str,
    /// The seat range of a room of this game.
    pub seats: SeatRange,
    /// The quick-match group size when `queue` gives no `size`.
    pub default_queue_size: u8,
    /// The game's default config (the fields a private room's `config` may set).
    #[schema(value_type = Object)]
    pub default_config: serde_json::Value,
}

/// Fewest and most seats.
#[derive(Serialize, ToSchema)]
pub struct SeatRange {
    /// Fewest seats.
    pub min: u8,
    /// Most seats.
    pub max: u8,
}

/// The catalogue as JSON (pure; also what the tests compare with).
pub fn game_list() -> GameList {
    GameList {
        games: crate::game::specs()
            .iter()
            .map(|s| GameView {
                kind: s.kind,
                name: s.name,
                seats: SeatRange {
                    min: s.min_seats,
                    max: s.max_seats,
                },
                default_queue_size: s.default_queue_size,
                default_config: crate::game::default_config(s.kind)
                    .unwrap_or(serde_json::Value::Null),
            })
            .collect(),
    }
}

/// `GET /api/v1/games`: the games this server runs, with their seat ranges, quick-match
/// default group size and default config. Public.
#[utoipa::path(
    tag = "games",
    responses((status = 200, description = "The game catalogue", body = GameList))
)]
#[get("/games")]
pub async fn list() -> HttpResponse {
    HttpResponse::Ok().json(game_list())
}
