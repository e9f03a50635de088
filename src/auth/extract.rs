//! Extractors: a handler that takes [`Player`] or [`Organiser`] cannot run without that
//! principal, authorized through [`super::authorize`].

use super::{authorize, Operation, Principal};
use crate::app::AppState;
use crate::error::AppError;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

/// The bearer token of a request, or 401.
pub fn bearer(req: &HttpRequest) -> Result<String, AppError> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| AppError::unauthorized("missing Authorization: Bearer <token>"))?;
    let value = value
        .to_str()
        .map_err(|_| AppError::unauthorized("malformed Authorization header"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| AppError::unauthorized("expected Authorization: Bearer <token>"))?;
    if token.trim().is_empty() {
        return Err(AppError::unauthorized("empty bearer token"));
    }
    Ok(token.trim().to_string())
}

/// Authenticate `req` for `operation`; the resource is the request path.
pub async fn authenticate(req: &HttpRequest, operation: Operation) -> Result<Principal, AppError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("AppState missing")))?
        .clone();
    let token = bearer(req)?;
    authorize(&state.db, &state.key, &token, operation, req.path()).await
}

/// Any authenticated account (guests included), authorized for `account` operations.
#[derive(Clone, Debug)]
pub struct Player(pub Principal);

/// An organiser, authorized for `admin` operations.
#[derive(Clone, Debug)]
pub struct Organiser(pub Principal);

/// A registered (non-guest) player, authorized for `tournament:join`.
#[derive(Clone, Debug)]
pub struct Registered(pub Principal);

macro_rules! principal_extractor {
    ($ty:ident, $op:expr) => {
        impl FromRequest for $ty {
            type Error = AppError;
            type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                let req = req.clone();
                Box::pin(async move { authenticate(&req, $op).await.map($ty) })
            }
        }
    };
}

principal_extractor!(Player, Operation::Account);
principal_extractor!(Organiser, Operation::Admin);
principal_extractor!(Registered, Operation::TournamentJoin);
