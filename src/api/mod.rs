//! The HTTP route table. One handler group per file.

pub mod accounts;
pub mod admin;
pub mod body;
pub mod forward;
pub mod games;
pub mod health;
pub mod matches;
pub mod openapi;
pub mod page;
pub mod rooms;
pub mod routes;
pub mod shape;
pub mod tournaments;
pub mod wire;

use crate::error;
use actix_web::web;
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// Register every route under the app. The web client's catch-all, `/ws` and `/metrics` are
/// added by [`crate::app`].
///
/// Every handler goes through `utoipa-actix-web`'s `service`, which mounts it and adds its
/// `#[utoipa::path]` to the OpenAPI document in the same call (a handler without one does not
/// compile here): register a route anywhere else and it is neither documented nor answered
/// 405 by [`routes::unmatched`] — `tests/http_openapi.rs` looks for such routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(
            scope("/api/v1")
                .service(openapi::openapi_json)
                .service(accounts::register)
                .service(accounts::login)
                .service(accounts::guest)
                .service(accounts::logout)
                .service(accounts::refresh)
                .service(accounts::upgrade)
                .service(accounts::me)
                .service(games::list)
                .service(rooms::create)
                .service(rooms::list)
                .service(matches::list)
                .service(matches::show)
                .service(matches::replay_frames)
                .service(matches::replay)
                .service(matches::for_player)
                .service(matches::leaderboard)
                .service(tournaments::list)
                .service(tournaments::get)
                .service(tournaments::join)
                .service(tournaments::leave)
                .service(admin::create)
                .service(admin::open)
                .service(admin::close)
                .service(admin::start)
                .service(admin::cancel)
                .service(admin::seeding)
                .service(admin::disqualify)
                .service(admin::settle)
                .service(admin::audit)
                .default_service(web::to(routes::unmatched)),
        )
        // Any other version or path under /api (`/api/v2/me`, `/api/nope`): a JSON 404, never
        // the web client's page.
        .service(scope("/api").default_service(web::to(routes::unmatched)));
}

/// Extractor configs that turn actix's errors into our JSON body.
pub fn extractor_configs(max_body: usize) -> (web::JsonConfig, web::PathConfig, web::QueryConfig) {
    (
        body::json_config(max_body),
        web::PathConfig::default().error_handler(error::path_error_handler),
        web::QueryConfig::default().error_handler(error::query_error_handler),
    )
}
