//! Accounts: register, login, guest, logout, refresh, upgrade, me.

use crate::api::body::{Json, OptionalJson};
use crate::app::AppState;
use crate::auth::extract::Player;
use crate::auth::ratelimit::client_ip;
use crate::auth::{self, password};
use crate::db::players::{self, PlayerRow, PlayerView, Role};
use crate::error::{AppError, AppResult, ErrorBody};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Shortest player name.
pub const MIN_NAME_LEN: usize = 3;
/// Longest player name: fits a scoreboard and a bracket cell.
pub const MAX_NAME_LEN: usize = 20;

/// Names are 3–20 characters of `[A-Za-z0-9_-]`.
pub fn validate_name(name: &str) -> AppResult<()> {
    let n = name.chars().count();
    if !(MIN_NAME_LEN..=MAX_NAME_LEN).contains(&n) {
        return Err(AppError::validation(format!(
            "name must be {MIN_NAME_LEN}–{MAX_NAME_LEN} characters"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(AppError::validation(
            "name may contain only letters, digits, '_' and '-'",
        ));
    }
    Ok(())
}

/// Body of register, login and upgrade.
#[derive(Deserialize, ToSchema)]
pub struct Credentials {
    /// Player name: 3–20 characters of `[A-Za-z0-9_-]`, unique ignoring case.
    #[schema(min_length = 3, max_length = 20, pattern = "^[A-Za-z0-9_-]{3,20}$")]
    pub name: String,
    /// Password: 8–128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

/// Body of guest creation.
#[derive(Deserialize, Default, ToSchema)]
pub struct GuestBody {
    /// Optional display name (the rules of [`Credentials::name`]); generated when absent.
    #[schema(min_length = 3, max_length = 20, pattern = "^[A-Za-z0-9_-]{3,20}$")]
    pub name: Option<String>,
}

/// Answer of every call that issues a token.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// The biscuit token (base64). Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// The player.
    pub player: PlayerView,
}

fn rate_limit(state: &AppState, req: &HttpRequest) -> AppResult<()> {
    let ip = client_ip(req, &state.config.trusted_proxies)
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    state.auth_limiter.check(ip)
}

fn token_for(state: &AppState, row: &PlayerRow) -> AppResult<String> {
    auth::issue(
        &state.key,
        &row.id,
        row.role(),
        row.token_epoch,
        state.config.token_ttl,
    )
}

async fn hash_password(password: String) -> AppResult<String> {
    web::block(move || password::hash(&password)).await?
}

/// `POST /api/v1/auth/register` `{"name","password"}` → 201 `{"token","player"}`.
#[utoipa::path(
    tag = "accounts",
    request_body = Credentials,
    responses(
        (status = 201, description = "Registered; a token for the new player", body = TokenResponse),
        (status = 409, description = "`conflict`: the name is taken (ignoring case)", body = ErrorBody),
        (status = 429, description = "`rate_limited` (per address; `Retry-After`)", body = ErrorBody),
    )
)]
#[post("/auth/register")]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<Credentials>,
) -> AppResult<HttpResponse> {
    rate_limit(&state, &req)?;
    let Credentials { name, password } = body.into_inner();
    validate_name(&name)?;
    password::validate(&password)?;
    let hash = hash_password(password).await?;
    let row = PlayerRow::new(&name, Some(hash), Role::Player);
    let stored = row.clone();
    state.db.run(move |c| players::insert(c, &stored)).await?;
    metrics::counter!("rally_accounts_created_total", "kind" => "player").increment(1);
    tracing::info!(player = %row.id, "registered");
    Ok(HttpResponse::Created().json(TokenResponse {
        token: token_for(&state, &row)?,
        player: row.view(),
    }))
}

/// `POST /api/v1/auth/login` → 200 `{"token","player"}`; 401 with the same answer whether
/// or not the name exists.
#[utoipa::path(
    tag = "accounts",
    request_body = Credentials,
    responses(
        (status = 200, description = "A token", body = TokenResponse),
        (status = 401, description = "`unauthorized`: the same answer whether or not the name exists", body = ErrorBody),
        (status = 429, description = "`rate_limited` (per address; `Retry-After`)", body = ErrorBody),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<Credentials>,
) -> AppResult<HttpResponse> {
    rate_limit(&state, &req)?;
    let Credentials { name, password } = body.into_inner();
    let row = if name.chars().count() > MAX_NAME_LEN || password.len() > password::MAX_PASSWORD_LEN
    {
        None
    } else {
        let n = name.clone();
        state.db.run(move |c| players::by_name(c, &n)).await?
    };
    let ok_row = web::block(move || match row {
        Some(r) => match &r.password_hash {
            Some(h) if password::verify(&password, h) => Some(r),
            _ => None,
        },
        None => {
            password::dummy_verify(&password);
            None
        }
    })
    .await?;
    let Some(row) = ok_row else {
        metrics::counter!("rally_auth_failures_total", "reason" => "bad_credentials").increment(1);
        return Err(AppError::unauthorized("invalid name or password"));
    };
    Ok(HttpResponse::Ok().json(TokenResponse {
        token: token_for(&state, &row)?,
        player: row.view(),
    }))
}

fn guest_name() -> String {
    let n: u32 = rand::thread_rng().gen_range(0..1_000_000);
    format!("guest-{n:06}")
}

/// `POST /api/v1/auth/guest` `{"name"?}` → 201 `{"token","player"}`. Guests are real player
/// rows (match history, rating) and can be upgraded later.
#[utoipa::path(
    tag = "accounts",
    request_body(content = Option<GuestBody>, description = "Optional: no body (or an empty one) is a guest with a generated name"),
    responses(
        (status = 201, description = "A guest account and its token", body = TokenResponse),
        (status = 409, description = "`conflict`: the name is taken (ignoring case)", body = ErrorBody),
        (status = 429, description = "`rate_limited` (per address; `Retry-After`)", body = ErrorBody),
    )
)]
#[post("/auth/guest")]
pub async fn guest(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: OptionalJson<GuestBody>,
) -> AppResult<HttpResponse> {
    rate_limit(&state, &req)?;
    let wanted = body.into_inner().name;
    if let Some(name) = &wanted {
        validate_name(name)?;
    }
    // A generated name can clash; try a few.
    let mut attempt = 0;
    let row = loop {
        let name = wanted.clone().unwrap_or_else(guest_name);
        let row = PlayerRow::new(&name, None, Role::Guest);
        let stored = row.clone();
        match state.db.run(move |c| players::insert(c, &stored)).await {
            Ok(()) => break row,
            Err(e)
                if wanted.is_none()
                    && attempt < 5
                    && e.kind == crate::error::ErrorKind::Conflict =>
            {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };
    metrics::counter!("rally_accounts_created_total", "kind" => "guest").increment(1);
    Ok(HttpResponse::Created().json(TokenResponse {
        token: token_for(&state, &row)?,
        player: row.view(),
    }))
}

async fn revoke_presented(state: &AppState, player: &auth::Principal) -> AppResult<()> {
    let ids = player.revocation_ids.clone();
    let pid = player.player_id.0.clone();
    let expires = crate::db::now_ms() + state.config.token_ttl.as_millis() as i64;
    state
        .db
        .run(move |c| players::revoke(c, &pid, &ids, expires))
        .await
}

/// `POST /api/v1/auth/logout`: revoke the presented token. 204.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    responses((status = 204, description = "The presented token is revoked"))
)]
#[post("/auth/logout")]
pub async fn logout(state: web::Data<AppState>, player: Player) -> AppResult<HttpResponse> {
    revoke_presented(&state, &player.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/auth/refresh`: exchange a valid token for a fresh one (same rights, new
/// expiry); the presented token is revoked.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    responses((status = 200, description = "A fresh token; the presented one is revoked", body = TokenResponse))
)]
#[post("/auth/refresh")]
pub async fn refresh(state: web::Data<AppState>, player: Player) -> AppResult<HttpResponse> {
    let pid = player.0.player_id.0.clone();
    let row = state
        .db
        .run(move |c| players::by_id(c, &pid))
        .await?
        .ok_or_else(|| AppError::unauthorized("unknown player"))?;
    let token = token_for(&state, &row)?;
    revoke_presented(&state, &player.0).await?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        token,
        player: row.view(),
    }))
}

/// `POST /api/v1/auth/upgrade` `{"name","password"}` with a guest token: the guest becomes a
/// registered player, keeping id, rating and history. 200 `{"token","player"}`; the guest
/// token stops working.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    request_body = Credentials,
    responses(
        (status = 200, description = "The guest is now a registered player (same id)", body = TokenResponse),
        (status = 409, description = "`conflict`: not a guest token, or the name is taken", body = ErrorBody),
    )
)]
#[post("/auth/upgrade")]
pub async fn upgrade(
    state: web::Data<AppState>,
    player: Player,
    body: Json<Credentials>,
) -> AppResult<HttpResponse> {
    if player.0.role != Role::Guest {
        return Err(AppError::conflict("only a guest account can be upgraded"));
    }
    let Credentials { name, password } = body.into_inner();
    validate_name(&name)?;
    password::validate(&password)?;
    let hash = hash_password(password).await?;
    let pid = player.0.player_id.0.clone();
    let row = state
        .db
        .run(move |c| {
            players::upgrade_guest(c, &pid, &name, &hash)?;
            players::by_id(c, &pid)?.ok_or_else(|| AppError::not_found("no such player"))
        })
        .await?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        token: token_for(&state, &row)?,
        player: row.view(),
    }))
}

/// `GET /api/v1/me`: the caller.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = PlayerView))
)]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, player: Player) -> AppResult<HttpResponse> {
    let pid = player.0.player_id.0.clone();
    let view = state
        .db
        .run(move |c| {
            let Some(row) = players::by_id(c, &pid)? else {
                return Ok(None);
            };
            let ratings = crate::db::matches::ratings_of(c, &pid)?;
            Ok(Some(row.view().with_ratings(ratings)))
        })
        .await?
        .ok_or_else(|| AppError::unauthorized("unknown player"))?;
    Ok(HttpResponse::Ok().json(view))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        for ok in ["abc", "Alice_1", "a-b-c", "x".repeat(20).as_str()] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "",
            "has space",
            "émile",
            "x".repeat(21).as_str(),
            "semi;colon",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
