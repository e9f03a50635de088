//! Liveness and readiness.

use crate::app::AppState;
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

/// Answer of `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Answer of `GET /readyz` (200 and 503 alike).
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` (200) or `unavailable` (503).
    #[schema(value_type = String, pattern = "^(ready|unavailable)$")]
    pub status: &'static str,
    /// `ok` or `down`.
    #[schema(value_type = String, pattern = "^(ok|down)$")]
    pub database: &'static str,
    /// `ok`, `down` or `not_configured`.
    #[schema(value_type = String, pattern = "^(ok|down|not_configured)$")]
    pub redis: &'static str,
    /// Results and other durable writes waiting for the database.
    pub pending_writes: u64,
}

/// `GET /healthz`: the process is up.
#[utoipa::path(
    tag = "health",
    responses((status = 200, description = "The process runs", body = Health))
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// `GET /readyz`: the database answers (within [`crate::db::PING_TIMEOUT`]), and Redis when
/// configured. 503 with the failing dependency otherwise. `pending_writes` says how many
/// results and other durable writes wait for the database (information only: they do not make
/// the instance unready, the database being down does).
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready: every dependency answers", body = Readiness),
        (status = 503, description = "Not ready: the body names the dependency that is down", body = Readiness),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (db_ok, redis_ok) = crate::app::check_dependencies(&state).await;
    let ready = db_ok && redis_ok.unwrap_or(true);
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        database: if db_ok { "ok" } else { "down" },
        redis: match redis_ok {
            None => "not_configured",
            Some(true) => "ok",
            Some(false) => "down",
        },
        pending_writes: state.engine.outbox.pending() as u64,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
