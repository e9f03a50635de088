//! Several instances: a tournament's actions (join, leave, admin) are served by the instance
//! that owns the tournament (holds its lease). Any other instance forwards such a request over
//! HTTP to the owner's published address (`RALLY_INSTANCE_ADDR`, default the bound address) and
//! relays the answer, so a client behind a load balancer never needs to know the owner.
//! Reads (`GET`) are answered everywhere from the database and never forwarded.

use crate::api::body::{BodyTimeout, DEFAULT_BODY_TIMEOUT};
use crate::app::AppState;
use crate::error::{payload_error, AppError, ErrorKind};
use crate::ids::TournamentId;
use crate::registry::Resource;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use std::time::Duration;

/// Marks a forwarded request: the owner serves it, never forwards it again.
pub const FORWARDED_HEADER: &str = "x-rally-forwarded";

/// How long a forwarded action may take on the owner.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

/// The tournament a state-changing request is about: `POST /api/v1/tournaments/{id}/…` or
/// `POST /api/v1/admin/tournaments/{id}/…`.
pub fn tournament_of(method: &Method, path: &str) -> Option<TournamentId> {
    if method == Method::GET || method == Method::HEAD {
        return None;
    }
    let rest = path
        .strip_prefix("/api/v1/tournaments/")
        .or_else(|| path.strip_prefix("/api/v1/admin/tournaments/"))?;
    let (id, action) = rest.split_once('/')?;
    if action.is_empty() {
        return None;
    }
    TournamentId::parse(id)
}

/// actix middleware: forward tournament actions to the owning instance.
pub async fn forward_tournament_actions(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let target = match (
        tournament_of(req.method(), req.path()),
        req.app_data::<web::Data<AppState>>().cloned(),
    ) {
        (Some(tid), Some(state)) if !req.headers().contains_key(FORWARDED_HEADER) => {
            owner_addr(&state, &tid).await
        }
        _ => None,
    };
    let Some(addr) = target else {
        return next.call(req).await.map(|r| r.map_into_left_body());
    };
    // Read like every body of the API: bounded in size (`web::PayloadConfig`) and time.
    let limit = req
        .app_data::<BodyTimeout>()
        .map_or(DEFAULT_BODY_TIMEOUT, |t| t.0);
    let body = match actix_web::rt::time::timeout(limit, req.extract::<web::Bytes>()).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            return Err(match e.as_error::<PayloadError>() {
                Some(p) => payload_error(p),
                None => AppError::new(ErrorKind::InvalidJson, "cannot read the request body"),
            }
            .into())
        }
        Err(_) => {
            return Err(AppError::new(
                ErrorKind::RequestTimeout,
                "the request body did not arrive in time",
            )
            .into())
        }
    };
    let url = format!(
        "http://{addr}{}",
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or(req.path())
    );
    let mut out = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(req.method().as_str().as_bytes())
                .unwrap_or(reqwest::Method::POST),
            url,
        )
        .timeout(FORWARD_TIMEOUT)
        .header(FORWARDED_HEADER, "1")
        .body(body.to_vec());
    for name in ["authorization", "content-type"] {
        if let Some(v) = req.headers().get(name).and_then(|v| v.to_str().ok()) {
            out = out.header(name, v);
        }
    }
    let resp = match out.send().await {
        Ok(r) => {
            let status =
                StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let ctype = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_string();
            let bytes = r.bytes().await.unwrap_or_default();
            HttpResponse::build(status)
                .content_type(ctype)
                .body(bytes.to_vec())
        }
        Err(e) => {
            tracing::warn!(error = %e, %addr, "forwarding a tournament action failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "error": {"code": "unavailable",
                          "message": "the instance running this tournament did not answer; retry"}
            }))
        }
    };
    Ok(req.into_response(resp).map_into_right_body())
}

/// The address of the instance running `tid`, when that is another live instance.
async fn owner_addr(state: &AppState, tid: &TournamentId) -> Option<String> {
    let c = state.engine.registry.cluster()?;
    if state.tournaments.get(tid).is_some() {
        return None;
    }
    let owner = c
        .owner(&Resource::tournament(tid.as_str()))
        .await
        .filter(|o| o != c.id())?;
    c.live_instances()
        .await
        .into_iter()
        .find(|i| i.id == owner)
        .map(|i| i.addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tournament_actions_are_forwarded() {
        let id = TournamentId::generate();
        let post = Method::POST;
        for path in [
            format!("/api/v1/tournaments/{id}/join"),
            format!("/api/v1/admin/tournaments/{id}/start"),
        ] {
            assert_eq!(tournament_of(&post, &path), Some(id.clone()), "{path}");
        }
        for (m, path) in [
            (Method::GET, format!("/api/v1/tournaments/{id}")),
            (Method::GET, format!("/api/v1/tournaments/{id}/join")),
            (post.clone(), "/api/v1/admin/tournaments".to_string()),
            (post.clone(), format!("/api/v1/tournaments/{id}")),
            (
                post.clone(),
                "/api/v1/tournaments/not-an-id/join".to_string(),
            ),
            (post.clone(), "/api/v1/rooms".to_string()),
        ] {
            assert_eq!(tournament_of(&m, &path), None, "{m} {path}");
        }
    }
}
