//! Organiser administration: create and run tournaments, settle matches, read the audit log.
//! Every handler takes an [`Organiser`]: anonymous callers get 401, guests and players 403.
//! Refused transitions are 409 (state) or 400 (input) and change nothing.

use crate::api::body::Json;
use crate::api::page::{CountedPage, PageQuery};
use crate::api::tournaments::{ask, live, render, TournamentView};
use crate::app::AppState;
use crate::auth::extract::Organiser;
use crate::db::tournaments::{self, AuditEntry, Loaded, TournamentRow};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::ids::{MatchId, PlayerId, TournamentId};
use crate::tournament::actor::TournamentActor;
use crate::tournament::bracket::{Format, MAX_ELIMINATION_ENTRANTS, MAX_ROUND_ROBIN_ENTRANTS};
use crate::tournament::messages::{Admin, AdminAction, Caller};
use crate::tournament::model::{
    self, parse_format, Status, MAX_NAME_CHARS, MAX_NO_SHOW_MS, MIN_NO_SHOW_MS,
};
use actix_web::{get, post, put, web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

/// Body of `POST /api/v1/admin/tournaments`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTournament {
    /// Display name, 1–80 characters (trimmed).
    #[schema(min_length = 1, max_length = 80, pattern = "\\S")]
    pub name: String,
    /// Game kind (`pong`).
    #[schema(pattern = "^pong$")]
    pub game: String,
    /// `single_elimination` or `round_robin`.
    #[schema(pattern = "^(single_elimination|round_robin)$")]
    pub format: String,
    /// Most entrants: 2..=1024 (single elimination), 2..=128 (round robin).
    #[schema(minimum = 2, maximum = 1024)]
    pub capacity: u32,
    /// Single elimination: play a third-place match.
    #[serde(default)]
    pub third_place: bool,
    /// Open registration by itself at this Unix ms (else `/open`).
    pub registration_opens_at: Option<i64>,
    /// Close registration by itself at this Unix ms (else `/close`); after the opening.
    pub registration_closes_at: Option<i64>,
    /// Points to win each match, 1–21 (default: the server's `RALLY_POINTS_TO_WIN`).
    #[schema(minimum = 1, maximum = 21)]
    pub points_to_win: Option<u32>,
    /// Tick rate of the match rooms, 10–240 (default: the server's `RALLY_TICK_HZ`).
    #[schema(minimum = 10, maximum = 240)]
    pub tick_hz: Option<u32>,
    /// How long players have to join a ready match, ms: 100–3600000 (default 60000).
    #[schema(minimum = 100, maximum = 3600000)]
    pub no_show_timeout_ms: Option<u64>,
}

fn caller(o: &Organiser) -> Caller {
    Caller {
        id: o.0.player_id.clone(),
        name: o.0.name.clone(),
    }
}

/// A [`CreateTournament`] body that passed [`validate_create`]: the trimmed name and the
/// settings of its matches (defaults filled in).
#[derive(Clone, Debug, PartialEq)]
pub struct ValidTournament {
    /// The name, trimmed: 1..=[`MAX_NAME_CHARS`] characters.
    pub name: String,
    /// Match settings; the game accepted their config.
    pub settings: model::Settings,
}

/// Everything `POST /api/v1/admin/tournaments` checks about its body before touching the
/// database (pure; fuzzed by `fuzz/fuzz_targets/configs.rs`): name, game, format, capacity,
/// no-show window, registration times, and the game's own validation of the match config.
/// `points_to_win` / `tick_hz` are the server's defaults for fields the body leaves out.
/// Every refusal is a 400 `validation`.
pub fn validate_create(
    b: &CreateTournament,
    points_to_win: u32,
    tick_hz: u32,
) -> AppResult<ValidTournament> {
    let name = b.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::validation(format!(
            "name must be 1–{MAX_NAME_CHARS} characters"
        )));
    }
    if !crate::game::GAMES.contains(&b.game.as_str()) {
        return Err(AppError::validation(format!("unknown game {:?}", b.game)));
    }
    let format = parse_format(&b.format, b.third_place).ok_or_else(|| {
        AppError::validation("format must be \"single_elimination\" or \"round_robin\"")
    })?;
    let max = match format {
        Format::SingleElimination { .. } => MAX_ELIMINATION_ENTRANTS,
        Format::RoundRobin => {
            if b.third_place {
                return Err(AppError::validation(
                    "third_place applies to single elimination only",
                ));
            }
            MAX_ROUND_ROBIN_ENTRANTS
        }
    };
    if !(2..=max).contains(&(b.capacity as usize)) {
        return Err(AppError::validation(format!(
            "capacity must be between 2 and {max} for {}",
            b.format
        )));
    }
    let no_show = b.no_show_timeout_ms.unwrap_or(model::DEFAULT_NO_SHOW_MS);
    if !(MIN_NO_SHOW_MS..=MAX_NO_SHOW_MS).contains(&no_show) {
        return Err(AppError::validation(format!(
            "no_show_timeout_ms must be between {MIN_NO_SHOW_MS} and {MAX_NO_SHOW_MS}"
        )));
    }
    if let (Some(opens), Some(closes)) = (b.registration_opens_at, b.registration_closes_at) {
        if closes <= opens {
            return Err(AppError::validation(
                "registration_closes_at must be after registration_opens_at",
            ));
        }
    }
    let settings = model::Settings {
        points_to_win: b.points_to_win.unwrap_or(points_to_win),
        tick_hz: b.tick_hz.unwrap_or(tick_hz),
        no_show_timeout_ms: no_show,
    };
    // The game validates its own settings (ranges documented with the game).
    crate::game::create(&b.game, &settings.game_config(), 0)
        .map_err(|e| AppError::validation(e.to_string()))?;
    Ok(ValidTournament { name, settings })
}

/// `POST /api/v1/admin/tournaments` → 201 with the tournament view (its `id` included), in
/// status `draft`.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = CreateTournament,
    responses(
        (status = 201, description = "Created, in status `draft`", body = TournamentView),
        (status = 403, description = "`forbidden`: not an organiser", body = ErrorBody),
    )
)]
#[post("/admin/tournaments")]
pub async fn create(
    state: web::Data<AppState>,
    org: Organiser,
    body: Json<CreateTournament>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let ValidTournament { name, settings } = validate_create(
        &b,
        state.engine.config.points_to_win,
        state.engine.config.tick_hz,
    )?;
    let no_show = settings.no_show_timeout_ms;
    let id = TournamentId::generate();
    let row = TournamentRow {
        id: id.0.clone(),
        name,
        game: b.game,
        format: b.format,
        third_place: b.third_place,
        capacity: i64::from(b.capacity),
        status: Status::Draft.as_str().to_owned(),
        registration_open: false,
        registration_opens_at: b.registration_opens_at,
        registration_closes_at: b.registration_closes_at,
        points_to_win: i64::from(settings.points_to_win),
        tick_hz: i64::from(settings.tick_hz),
        no_show_timeout_ms: no_show as i64,
        champion_id: None,
        created_by: org.0.player_id.0.clone(),
        epoch: 1,
        created_at: crate::db::now_ms(),
        started_at: None,
        finished_at: None,
    };
    let entry = AuditEntry {
        actor_id: org.0.player_id.0.clone(),
        actor_name: org.0.name.clone(),
        action: "tournament.create".into(),
        tournament_id: Some(id.0.clone()),
        target: None,
        detail: json!({
            "name": row.name, "game": row.game, "format": row.format, "capacity": row.capacity,
            "third_place": row.third_place, "settings": settings,
            "registration_opens_at": row.registration_opens_at,
            "registration_closes_at": row.registration_closes_at,
        }),
    };
    let stored = row.clone();
    state
        .db
        .run(move |c| tournaments::insert(c, &stored, &entry))
        .await?;
    crate::tournament::status_changed(None, Status::Draft);
    let loaded = Loaded {
        meta: row.meta()?,
        entrants: Vec::new(),
        records: Vec::new(),
        row,
    };
    let view = render(&loaded)?;
    // Several instances: this instance owns the new tournament through its lease (survivors
    // adopt it if this instance dies).
    let tid = loaded.meta.id.clone();
    if !crate::tournament::actor::claim_lease(&state.engine, &tid).await {
        return Err(crate::error::AppError::unavailable(
            "cannot take ownership of the new tournament; retry",
        ));
    }
    TournamentActor::spawn(&state.engine, &state.tournaments, loaded, 1)?;
    Ok(HttpResponse::Created().json(view))
}

async fn act(
    state: &AppState,
    org: &Organiser,
    id: &str,
    action: AdminAction,
) -> AppResult<HttpResponse> {
    let handle = live(state, id).await?;
    let view = ask(
        handle,
        Admin {
            by: caller(org),
            action,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /api/v1/admin/tournaments/{id}/open`: open registration (from `draft`, or reopen).
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Tournament id (a ULID)", min_length = 26, max_length = 26, pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Registration opens; the view", body = TournamentView),
        (status = 403, description = "`forbidden`: not an organiser", body = ErrorBody),
        (status = 409, description = "`conflict`: registration is already open, or the tournament started or is over", body = ErrorBody),
    )
)]
#[post("/admin/tournaments/{id}/open")]
pub async fn open(
    state: web::Data<AppState>,
    org: Organiser,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    act(&state, &org, &id, AdminAction::Open).await
}

/// `POST /api/v1/admin/tournaments/{id}/close`: close registration.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Tournament id (a ULID)", min_length = 26, max_length = 26, pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Registration closes; the view", body = TournamentView),
        (status = 403, description = "`forbidden`: not an organiser", body = ErrorBody),
        (status = 409, description = "`conflict`: registration is not open", body = ErrorBody),
    )
)]
#[post("/admin/tournaments/{id}/close")]
pub async fn close(
    state: web::Data<AppState>,
    org: Organiser,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    act(&state, &org, &id, AdminAction::Close).await
}

/// `POST /api/v1/admin/tournaments/{id}/start`: seed and start (409 below 2 entrants).
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Tournament id (a ULID)", min_length = 26, max_length = 26, pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Seeded and started; the view", body = TournamentView),
        (status = 403, description = "`forbidden`: not an organiser", body = ErrorBody),
        (status = 409, description = "`conflict`: fewer than 2 entrants, or not in registration", body = ErrorBody),
    )
)]
#[post("/admin/tournaments/{id}/start")]
pub async fn start(
    state: web::Data<AppState>,
    org: Organiser,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    act(&state, &org, &id, AdminAction::Start).await
}

/// `POST /api/v1/admin/tournaments/{id}/cancel`: stop for good; live matches end unrecorded.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Tournament id (a ULID)", min_length = 26, max_length = 26, pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled for good; the view", body = TournamentView),
        (status = 403, description = "`forbidden`: not an organiser", body = ErrorBody),
        (status = 409, description = "`conflict`: the tournament is already over", body = ErrorBody),
    )
)]
#[post("/admin/tournaments/{id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    org: Organiser,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    act(&state, &org, &id, AdminAction::Cancel).await
}

/// Body of `PUT …/seeding`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeedingBody {
    /// Entrant ids, seed 1 first; entrants not listed follow by rating.
    #[schema(max_items = 1024)]
    pub players: Vec<String>,
}

/// `PUT /api/v1/admin/tournaments/{id}/seeding`: explicit seeding (400 for ids that are not
/// entrants, or listed twice).
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Tournament id (a ULID)", min_length = 26, max_length = 26, pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$")),
    security(("bearer" = [])),
    request_body = SeedingBody,
    responses(
        (status = 200, description = "Seeds set; the view", body = TournamentView),
        (status = 403, description = "`forbidden`: not an organiser", body = ErrorBody),
        (status = 409, description = "`conflict`: the tournament started or is over", body = ErrorBody),
    )
)]
#[put("/admin/tournaments/{id}/seeding")]
pub async fn seeding(
    state: web::Data<AppState>,
    org: Organiser,
    id: web::Path<String>,
    body: Json<SeedingBody>,
) -> AppResult<HttpResponse> {
    let order = body
        .into_inner()
        .players
        .into_iter()
        .map(PlayerId)
        .collect();
    act(&state, &org, &id, AdminAction::Seeding { order }).await
}

/// `POST /api/v1/admin/tournaments/{id}/players/{pid}/disqualify`: the player's pending or
/// current match is forfeited, and every later one (409 when not entered).
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Tournament id (a ULID)", min_length = 26, max_length = 26, pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$"), ("pid" = String, Path, description = "The entrant's player id (a ULID)", min_length = 26, max_length = 26, pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Disqualified; the view", body = TournamentView),
        (status = 403, description = "`forbidden`: not an organiser", body = ErrorBody),
        (status = 409, description = "`conflict`: not entered, or the tournament is over", body = ErrorBody),
    )
)]
#[post("/admin/tournaments/{id}/players/{pid}/disqualify")]
pub async fn disqualify(
    state: web::Data<AppState>,
    org: Organiser,
    path: web::Path<(String, String)>,
) -> AppResult<HttpResponse> {
    let (id, pid) = path.into_inner();
    let action = AdminAction::Disqualify {
        player: PlayerId(pid),
    };
    act(&state, &org, &id, action).await
}

/// Body of `POST …/matches/{mid}/result`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleBody {
    /// The winner's player id.
    pub winner: String,
    /// Points by seat (default 0–0).
    #[schema(value_type = Option<Vec<u32>>, min_items = 2, max_items = 2)]
    pub scores: Option<[u32; 2]>,
    /// The loser did not play it out.
    #[serde(default)]
    pub forfeit: bool,
}

/// `POST /api/v1/admin/tournaments/{id}/matches/{mid}/result`: settle an unfinished match by
/// hand (audited). Its room, if any, ends without recording; a finished match keeps its
/// result (409 for a different one).
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Tournament id (a ULID)", min_length = 26, max_length = 26, pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$"), ("mid" = String, Path, description = "Match id (a ULID)", min_length = 26, max_length = 26, pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$")),
    security(("bearer" = [])),
    request_body = SettleBody,
    responses(
        (status = 200, description = "Settled (the same result again is 200 too); the view", body = TournamentView),
        (status = 403, description = "`forbidden`: not an organiser", body = ErrorBody),
        (status = 409, description = "`conflict`: a different result for a finished match, or the tournament is over", body = ErrorBody),
    )
)]
#[post("/admin/tournaments/{id}/matches/{mid}/result")]
pub async fn settle(
    state: web::Data<AppState>,
    org: Organiser,
    path: web::Path<(String, String)>,
    body: Json<SettleBody>,
) -> AppResult<HttpResponse> {
    let (id, mid) = path.into_inner();
    let b = body.into_inner();
    let action = AdminAction::Settle {
        match_id: MatchId(mid),
        winner: PlayerId(b.winner),
        scores: b.scores,
        forfeit: b.forfeit,
    };
    act(&state, &org, &id, action).await
}

/// `?tournament=&limit=&offset=`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this tournament's entries.
    pub tournament: Option<String>,
    /// Items per page, `1..` (capped at 100; 20 when absent).
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// Items to skip, `0..`.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// A line of the audit log.
#[derive(Serialize, ToSchema)]
pub struct AuditItem {
    /// Entry id.
    pub id: String,
    /// Unix ms.
    pub at: i64,
    /// Who acted (`system` for scheduled registration changes).
    pub actor_id: String,
    /// Their name then.
    pub actor_name: String,
    /// `tournament.create`, `.open`, `.close`, `.start`, `.cancel`, `.seeding`,
    /// `.disqualify`, `.settle_match`.
    pub action: String,
    /// The tournament acted on.
    pub tournament_id: Option<String>,
    /// The player or match acted on.
    pub target: Option<String>,
    /// What was done (JSON).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// `GET /api/v1/admin/audit` → `{"items":[{id,at,actor_id,actor_name,action,tournament_id,
/// target,detail}],"limit","offset","total"}`, newest first.
#[utoipa::path(
    tag = "admin",
    params(AuditQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Organiser actions, newest first", body = CountedPage<AuditItem>),
        (status = 403, description = "`forbidden`: not an organiser", body = ErrorBody),
    )
)]
#[get("/admin/audit")]
pub async fn audit(
    state: web::Data<AppState>,
    _org: Organiser,
    q: web::Query<AuditQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let page = PageQuery {
        limit: q.limit,
        offset: q.offset,
    }
    .validate()?;
    let (limit, offset) = (page.limit, page.offset);
    let (rows, total) = state
        .db
        .run(move |c| tournaments::audit_list(c, q.tournament.as_deref(), limit, offset))
        .await?;
    let items: Vec<AuditItem> = rows
        .into_iter()
        .map(|r| AuditItem {
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::String(r.detail)),
            id: r.id,
            at: r.at,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            action: r.action,
            tournament_id: r.tournament_id,
            target: r.target,
        })
        .collect();
    Ok(HttpResponse::Ok().json(CountedPage::new(items, page, total)))
}
