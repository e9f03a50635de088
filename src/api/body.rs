//! The one JSON body extractor of the API: every handler that reads a body takes [`Json<T>`]
//! (a body it requires) or [`OptionalJson<T>`] (a body it may go without), so no endpoint can
//! read bodies differently from another.
//!
//! - The body must be `Content-Type: application/json` and parse as `T` (serde, with the
//!   type's own rules, e.g. `deny_unknown_fields`): otherwise 400 `invalid_json`, whatever is
//!   wrong (`{`, `[1]`, `{"name":["x"]}`, a missing field).
//! - At most `RALLY_MAX_BODY_BYTES`: 413 `payload_too_large` (judged from `Content-Length`
//!   before anything is read, else while reading).
//! - The whole body must arrive within `RALLY_HTTP_BODY_TIMEOUT` of the handler asking for it:
//!   408 `request_timeout`, and the connection is closed (a client that sends complete headers
//!   and then nothing holds a connection that long at most).
//! - [`OptionalJson`]: an empty body (no body, or `Content-Length: 0`, whatever the
//!   `Content-Type`) is `T::default()`; any other body follows the rules above.

use crate::error::{json_error, AppError, ErrorKind};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// `RALLY_HTTP_BODY_TIMEOUT`'s default: a body of at most `RALLY_MAX_BODY_BYTES` (16 KiB)
/// takes milliseconds on any working link; 10 s leaves room for a slow mobile one while a
/// stalled client holds its connection no longer than that.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request body may take to arrive (app data set by [`crate::app`]).
#[derive(Clone, Copy, Debug)]
pub struct BodyTimeout(pub Duration);

/// A JSON body the handler requires (see the module documentation).
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The parsed body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<BodyTimeout>()
            .map_or(DEFAULT_BODY_TIMEOUT, |t| t.0);
        let read = web::Json::<T>::from_request(req, payload);
        Box::pin(async move {
            match actix_web::rt::time::timeout(limit, read).await {
                Ok(Ok(body)) => Ok(Json(body.into_inner())),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(AppError::new(
                    ErrorKind::RequestTimeout,
                    "the request body did not arrive in time",
                )
                .into()),
            }
        })
    }
}

/// A JSON body the handler may go without: an empty body is `T::default()` (see the module
/// documentation).
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<T> OptionalJson<T> {
    /// The parsed body, or the default.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Whether the request says it has no body: `Content-Length: 0`, or neither a length nor
/// `Transfer-Encoding`.
fn has_no_body(req: &HttpRequest) -> bool {
    let headers = req.headers();
    match headers.get(header::CONTENT_LENGTH) {
        Some(v) => v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) == Some(0),
        None => !headers.contains_key(header::TRANSFER_ENCODING),
    }
}

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if has_no_body(req) {
            return Box::pin(async { Ok(OptionalJson(T::default())) });
        }
        let read = Json::<T>::from_request(req, payload);
        Box::pin(async move { read.await.map(|b| OptionalJson(b.0)) })
    }
}

/// The JSON extractor's error answers (also used by [`crate::app`] for `web::Json`, which
/// no handler should use directly).
pub fn json_config(max_body: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(max_body)
        .error_handler(|err, _req| json_error(&err).into())
}
