//! Every answer under `/api` that is not a success is the documented JSON error
//! `{"error":{"code","message"}}`.
//!
//! rally's handlers and extractors answer errors as [`AppError`]s already; this middleware is
//! the net under them: an error answer under `/api` that is not JSON (an actix-web extractor or
//! guard answering by itself) is replaced by the JSON error of its status
//! ([`ErrorKind::for_status`]), keeping `Allow` and `Retry-After`.

use crate::error::{AppError, ErrorKind};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;

/// Whether `path` is under `/api`.
pub fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// actix middleware: see the module documentation.
pub async fn json_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !is_api(req.path()) {
        return next.call(req).await.map(|r| r.map_into_left_body());
    }
    let res = match next.call(req).await {
        Ok(res) => res,
        Err(e) if e.as_error::<AppError>().is_some() => return Err(e),
        Err(e) => {
            let status = e.as_response_error().status_code();
            return Err(replacement(status).into());
        }
    };
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return Ok(res.map_into_left_body());
    }
    let mut error = replacement(status);
    let headers = res.headers();
    error.allow = headers
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    error.retry_after = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let (req, _) = res.into_parts();
    let answer = error.error_response_json();
    Ok(ServiceResponse::new(req, answer).map_into_right_body())
}

/// The JSON error standing for `status` (with the status of its kind: a status rally does
/// not document becomes the nearest one it does, e.g. 415 is 400 `invalid_json`).
fn replacement(status: actix_web::http::StatusCode) -> AppError {
    let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
    AppError::new(ErrorKind::for_status(status), reason)
}
