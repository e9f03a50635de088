//! The one application error type.
//!
//! An [`AppError`] has a machine-readable [`ErrorKind`] that clients see (as the `code` of the
//! JSON body or of a WebSocket `error` message), a human message, and an optional cause that
//! is logged but never shown. [`ErrorKind::status`] is the single place that maps kinds to HTTP
//! statuses.

use crate::telemetry::fields::escape_controls;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

/// What went wrong, as clients see it. The `code` strings are part of the API contract
/// (documented in README.md and docs/protocol.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request body is not valid JSON or does not have the expected shape.
    InvalidJson,
    /// A field has a value outside what the API accepts.
    Validation,
    /// The request is not HTTP that the server can read (a malformed request line or header).
    BadRequest,
    /// No credentials, or credentials that are wrong, expired, revoked or forged.
    Unauthorized,
    /// The principal is known but not allowed to do this.
    Forbidden,
    /// The resource does not exist.
    NotFound,
    /// The path exists, but not for this method (the answer carries `Allow`).
    MethodNotAllowed,
    /// The request head or body did not arrive in time.
    RequestTimeout,
    /// The request conflicts with the current state (name taken, wrong state transition).
    Conflict,
    /// The request body is larger than the configured limit.
    PayloadTooLarge,
    /// Too many requests from this client; retry after the given number of seconds.
    RateLimited,
    /// The request head (request line and headers) is larger than the server reads.
    HeadersTooLarge,
    /// A dependency (database, Redis, authorization engine limit) is unavailable right now.
    Unavailable,
    /// A bug or an unexpected failure; details are only in the server log.
    Internal,
}

impl ErrorKind {
    /// Every kind, in the order of the documentation (README, "HTTP API").
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::InvalidJson,
        ErrorKind::Validation,
        ErrorKind::BadRequest,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::NotFound,
        ErrorKind::MethodNotAllowed,
        ErrorKind::RequestTimeout,
        ErrorKind::Conflict,
        ErrorKind::PayloadTooLarge,
        ErrorKind::RateLimited,
        ErrorKind::HeadersTooLarge,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
    ];

    /// The kind an error status stands for, for answers that did not come from an
    /// [`AppError`] (a library's own error answer): the code clients see then.
    pub fn for_status(status: StatusCode) -> ErrorKind {
        match status.as_u16() {
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden,
            404 | 410 => ErrorKind::NotFound,
            405 => ErrorKind::MethodNotAllowed,
            408 => ErrorKind::RequestTimeout,
            409 => ErrorKind::Conflict,
            413 => ErrorKind::PayloadTooLarge,
            415 => ErrorKind::InvalidJson,
            429 => ErrorKind::RateLimited,
            431 => ErrorKind::HeadersTooLarge,
            502..=504 => ErrorKind::Unavailable,
            400..=499 => ErrorKind::BadRequest,
            _ => ErrorKind::Internal,
        }
    }

    /// The wire code.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidJson => "invalid_json",
            ErrorKind::Validation => "validation",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::RequestTimeout => "request_timeout",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::HeadersTooLarge => "headers_too_large",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }

    /// The HTTP status for this kind.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::InvalidJson | ErrorKind::Validation | ErrorKind::BadRequest => {
                StatusCode::BAD_REQUEST
            }
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error with a kind clients see, a message, and a cause only the log sees.
pub struct AppError {
    /// The machine-readable kind.
    pub kind: ErrorKind,
    /// Human-readable message, safe to show to clients.
    pub message: String,
    /// Seconds to wait, for [`ErrorKind::RateLimited`].
    pub retry_after: Option<u64>,
    /// The methods the path takes, for [`ErrorKind::MethodNotAllowed`] (the `Allow` header).
    pub allow: Option<String>,
    /// The underlying cause, logged, never sent.
    pub cause: Option<anyhow::Error>,
}

/// Result alias used across handlers.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// A new error of `kind` with a client-visible message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
            allow: None,
            cause: None,
        }
    }

    /// Attach a cause for the log.
    pub fn with_cause(mut self, cause: impl Into<anyhow::Error>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// 400 `validation`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Validation, message)
    }
    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }
    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    /// 503 `unavailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    /// 429 `rate_limited` with a `Retry-After` in seconds.
    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(ErrorKind::RateLimited, "too many requests, slow down");
        e.retry_after = Some(retry_after.max(1));
        e
    }
    /// 405 `method_not_allowed` with `Allow: allow` (a comma-separated method list).
    pub fn method_not_allowed(allow: impl Into<String>) -> Self {
        let allow = allow.into();
        let mut e = Self::new(
            ErrorKind::MethodNotAllowed,
            format!("this path takes only {allow}"),
        );
        e.allow = Some(allow);
        e
    }
    /// 500 `internal`: the cause goes to the log, the client sees a generic message.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::new(ErrorKind::Internal, "internal server error").with_cause(cause)
    }
}

impl fmt::Debug for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)?;
        if let Some(c) = &self.cause {
            write!(f, " ({c:#})")?;
        }
        Ok(())
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for AppError {}

/// The JSON error body: `{"error":{"code":…,"message":…}}` — every error answer of the API
/// (the `ErrorBody` schema of the OpenAPI document).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// The envelope.
    pub error: ErrorDetail<'a>,
}

/// Code and message.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    /// Machine-readable code.
    #[schema(value_type = ErrorKind)]
    pub code: &'a str,
    /// Human-readable message.
    pub message: &'a str,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.kind.status()
    }

    fn error_response(&self) -> HttpResponse {
        match self.kind {
            ErrorKind::Internal | ErrorKind::Unavailable => {
                tracing::error!(error = ?self, "request failed")
            }
            _ => tracing::debug!(error = ?self, "request refused"),
        }
        let mut resp = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let Some(allow) = &self.allow {
            resp.insert_header((header::ALLOW, allow.as_str()));
        }
        resp.json(ErrorBody {
            error: ErrorDetail {
                code: self.kind.code(),
                message: &escape_controls(&self.message),
            },
        })
    }
}

impl AppError {
    /// The JSON response for this error (for code outside actix's error path).
    pub fn error_response_json(&self) -> HttpResponse {
        ResponseError::error_response(self)
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => AppError::not_found("not found"),
            other => AppError::internal(other),
        }
    }
}

impl From<r2d2::Error> for AppError {
    fn from(e: r2d2::Error) -> Self {
        AppError::unavailable("database unavailable").with_cause(e)
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}

/// Map actix's JSON extractor errors to our JSON body: 413 `payload_too_large` past
/// `RALLY_MAX_BODY_BYTES`, 408 `request_timeout` when the body stalls, 400 `invalid_json`
/// otherwise (not JSON, not the expected shape, or no `Content-Type: application/json`).
pub fn json_error_handler(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    json_error(&err).into()
}

/// The [`AppError`] for a JSON body that could not be read.
pub fn json_error(err: &actix_web::error::JsonPayloadError) -> AppError {
    use actix_web::error::JsonPayloadError as J;
    match err {
        J::OverflowKnownLength { .. } | J::Overflow { .. } => AppError::new(
            ErrorKind::PayloadTooLarge,
            "request body is larger than the limit",
        ),
        J::ContentType => AppError::new(
            ErrorKind::InvalidJson,
            "expected Content-Type: application/json",
        ),
        J::Deserialize(e) => AppError::new(ErrorKind::InvalidJson, format!("invalid JSON: {e}")),
        J::Payload(p) => payload_error(p),
        other => AppError::new(ErrorKind::InvalidJson, format!("invalid body: {other}")),
    }
}

/// The [`AppError`] for a request body that could not be read.
pub fn payload_error(err: &actix_web::error::PayloadError) -> AppError {
    use actix_web::error::PayloadError as P;
    match err {
        P::Overflow => AppError::new(
            ErrorKind::PayloadTooLarge,
            "request body is larger than the limit",
        ),
        P::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => AppError::new(
            ErrorKind::RequestTimeout,
            "the request body did not arrive in time",
        ),
        other => AppError::new(
            ErrorKind::InvalidJson,
            format!("cannot read the body: {other}"),
        ),
    }
}

/// Map path extractor errors to 404 (a malformed id names nothing). The message does not
/// repeat the path.
pub fn path_error_handler(
    _err: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    AppError::not_found("no such resource").into()
}

/// Map query-string extractor errors to 400 `validation`.
pub fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    AppError::validation(format!("invalid query string: {err}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_code_and_an_error_status() {
        let codes: std::collections::HashSet<_> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes.len(), ErrorKind::ALL.len());
        for k in ErrorKind::ALL {
            assert!(k.status().is_client_error() || k.status().is_server_error());
            assert_eq!(
                ErrorKind::for_status(k.status()).status(),
                k.status(),
                "{k:?}"
            );
        }
    }
}
