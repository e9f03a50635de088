//! The HTTP request log: one short line per request, and a request id.
//!
//! Every request gets an id (a ULID), kept in the request's extensions as [`RequestId`],
//! returned in the `X-Request-Id` response header, and recorded on a `http` span around the
//! handler, so the handler's own events (the cause of a 500, for example) carry it. When the
//! answer is known, one event with target `rally::http` says what happened:
//!
//! | answer | level | message |
//! |---|---|---|
//! | 1xx–3xx | DEBUG | `request` |
//! | 4xx | INFO (beyond [`CLIENT_ERROR_LINES_PER_SECOND`] a second: DEBUG) | `client error` |
//! | 5xx | WARN | `server error` |
//!
//! Fields: `method`, `path` (as received, percent-encoded, without the query string, which
//! may carry secrets), `status`, `code` (the JSON error code, when the answer is an error),
//! `latency_ms`, `client` (the client address, from `X-Forwarded-For` only behind a trusted
//! proxy) and `request_id`. Client errors are the client's business: they are INFO at most,
//! and a flood of them cannot flood the log. WARN and ERROR are for the server's own trouble.

use crate::app::AppState;
use crate::auth::ratelimit::client_ip;
use crate::error::AppError;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tracing::Instrument;

/// Target of the request log events (`RALLY_LOG=info,rally::http=debug` shows successes too;
/// `rally::http=warn` hides client errors).
pub const TARGET: &str = "rally::http";

/// At most this many client-error lines a second are logged at INFO; the rest of that second's
/// go to DEBUG. A hostile client can make thousands of 4xx a second; the log must not grow
/// with it. 50 a second is far more than legitimate traffic produces.
pub const CLIENT_ERROR_LINES_PER_SECOND: u32 = 50;

/// The id of one HTTP request (a ULID), in the request's extensions and the `X-Request-Id`
/// response header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Middleware: request id, `http` span, one log event per request.
pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = ulid::Ulid::new().to_string();
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().as_str().to_owned();
    let path = req.path().to_owned();
    let client = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| client_ip(req.request(), &s.config.trusted_proxies))
        .map(|ip| ip.to_string());
    // At ERROR level so that the span (and with it the request id on the handler's events) is
    // kept whatever `RALLY_LOG` filters out.
    let span = tracing::error_span!(target: TARGET, "http", request_id = id.as_str());
    let result = next.call(req).instrument(span).await;
    let (status, code) = match &result {
        Ok(res) => (res.status(), res.response().error().and_then(error_code)),
        Err(e) => (e.as_response_error().status_code(), error_code(e)),
    };
    let line = Line {
        method: &method,
        path: &path,
        status: status.as_u16(),
        code,
        latency_ms: (started.elapsed().as_secs_f64() * 100_000.0).round() / 100.0,
        client: client.as_deref(),
        request_id: &id,
    };
    if status.is_server_error() {
        line.emit(tracing::Level::WARN);
    } else if status.is_client_error() {
        line.emit(if CLIENT_ERROR_LINES.admit(unix_seconds()) {
            tracing::Level::INFO
        } else {
            tracing::Level::DEBUG
        });
    } else {
        line.emit(tracing::Level::DEBUG);
    }
    let mut res = result?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

/// The JSON error code of an error answer (`not_found`, `validation`, …), when it is one of
/// rally's own errors.
fn error_code(e: &actix_web::Error) -> Option<&'static str> {
    e.as_error::<AppError>().map(|a| a.kind.code())
}

/// One request's log fields.
struct Line<'a> {
    method: &'a str,
    path: &'a str,
    status: u16,
    code: Option<&'static str>,
    latency_ms: f64,
    client: Option<&'a str>,
    request_id: &'a str,
}

impl Line<'_> {
    fn emit(&self, level: tracing::Level) {
        macro_rules! line {
            ($level:expr, $message:literal) => {
                tracing::event!(
                    target: TARGET,
                    $level,
                    method = self.method,
                    path = self.path,
                    status = self.status,
                    code = self.code,
                    latency_ms = self.latency_ms,
                    client = self.client,
                    request_id = self.request_id,
                    $message
                )
            };
        }
        match level {
            tracing::Level::WARN => line!(tracing::Level::WARN, "server error"),
            tracing::Level::INFO => line!(tracing::Level::INFO, "client error"),
            _ if self.status >= 400 => line!(tracing::Level::DEBUG, "client error"),
            _ => line!(tracing::Level::DEBUG, "request"),
        }
    }
}

/// This process's budget of INFO client-error lines.
static CLIENT_ERROR_LINES: LineBudget = LineBudget::new(CLIENT_ERROR_LINES_PER_SECOND);

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// At most `per_second` admissions per wall-clock second (approximate under races, which is
/// all a log budget needs).
struct LineBudget {
    second: AtomicU64,
    lines: AtomicU32,
    per_second: u32,
}

impl LineBudget {
    const fn new(per_second: u32) -> Self {
        Self {
            second: AtomicU64::new(0),
            lines: AtomicU32::new(0),
            per_second,
        }
    }

    /// Whether one more line fits in second `now`.
    fn admit(&self, now: u64) -> bool {
        let seen = self.second.load(Ordering::Relaxed);
        if seen != now
            && self
                .second
                .compare_exchange(seen, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.lines.store(0, Ordering::Relaxed);
        }
        self.lines.fetch_add(1, Ordering::Relaxed) < self.per_second
    }
}

#[cfg(test)]
mod tests {
    use super::LineBudget;

    #[test]
    fn the_budget_admits_so_many_lines_a_second_then_refills() {
        let budget = LineBudget::new(3);
        let admitted = |now| (0..10).filter(|_| budget.admit(now)).count();
        assert_eq!(admitted(100), 3);
        assert_eq!(admitted(100), 0);
        assert_eq!(admitted(101), 3);
        assert_eq!(admitted(105), 3);
    }
}
