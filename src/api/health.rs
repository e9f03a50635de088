//! Liveness and readiness.

use crate::app::AppState;
use actix_web::{get, web, HttpResponse};
use serde_json::json;

/// `GET /healthz`: the process is up.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers (within [`crate::db::PING_TIMEOUT`]), and Redis when
/// configured. 503 with the failing dependency otherwise. `pending_writes` says how many
/// results and other durable writes wait for the database (information only: they do not make
/// the instance unready, the database being down does).
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (db_ok, redis_ok) = crate::app::check_dependencies(&state).await;
    let ready = db_ok && redis_ok.unwrap_or(true);
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": if db_ok { "ok" } else { "down" },
        "redis": match redis_ok { None => "not_configured", Some(true) => "ok", Some(false) => "down" },
        "pending_writes": state.engine.outbox.pending(),
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
