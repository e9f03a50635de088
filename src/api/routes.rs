//! What the API answers for a request no route took: 405 `method_not_allowed` with `Allow`
//! when the path is one of [`ROUTES`] under another method, 404 `not_found` otherwise — both
//! in the JSON error shape, for every path under `/api`.

use crate::error::{AppError, AppResult};
use actix_web::dev::ResourceDef;
use actix_web::{HttpRequest, HttpResponse};
use std::sync::LazyLock;

/// Every API route, as `(method, path pattern)`: the routes [`super::configure`] registers
/// (tests check the two agree, and that the OpenAPI document has each).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/guest"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/upgrade"),
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/rooms"),
    ("GET", "/api/v1/rooms"),
    ("GET", "/api/v1/matches"),
    ("GET", "/api/v1/matches/{id}"),
    ("GET", "/api/v1/matches/{id}/replay/frames"),
    ("GET", "/api/v1/matches/{id}/replay"),
    ("GET", "/api/v1/players/{id}/matches"),
    ("GET", "/api/v1/leaderboard"),
    ("GET", "/api/v1/tournaments"),
    ("GET", "/api/v1/tournaments/{id}"),
    ("POST", "/api/v1/tournaments/{id}/join"),
    ("POST", "/api/v1/tournaments/{id}/leave"),
    ("POST", "/api/v1/admin/tournaments"),
    ("POST", "/api/v1/admin/tournaments/{id}/open"),
    ("POST", "/api/v1/admin/tournaments/{id}/close"),
    ("POST", "/api/v1/admin/tournaments/{id}/start"),
    ("POST", "/api/v1/admin/tournaments/{id}/cancel"),
    ("PUT", "/api/v1/admin/tournaments/{id}/seeding"),
    (
        "POST",
        "/api/v1/admin/tournaments/{id}/players/{pid}/disqualify",
    ),
    (
        "POST",
        "/api/v1/admin/tournaments/{id}/matches/{mid}/result",
    ),
    ("GET", "/api/v1/admin/audit"),
];

/// [`ROUTES`] with their patterns compiled once.
static COMPILED: LazyLock<Vec<(&'static str, ResourceDef)>> = LazyLock::new(|| {
    ROUTES
        .iter()
        .map(|(m, p)| (*m, ResourceDef::new(*p)))
        .collect()
});

/// The methods `path` takes, in a stable order; empty for a path no route has. (`HEAD` is
/// not among them: the routes answer exactly their method.)
pub fn allowed(path: &str) -> Vec<&'static str> {
    let mut methods: Vec<&'static str> = COMPILED
        .iter()
        .filter(|(_, def)| def.is_match(path))
        .map(|(m, _)| *m)
        .collect();
    methods.sort_unstable();
    methods.dedup();
    methods
}

/// The default service of the API scopes: 405 with `Allow` for a known path, else 404.
pub async fn unmatched(req: HttpRequest) -> AppResult<HttpResponse> {
    let methods = allowed(req.path());
    if methods.is_empty() || methods.contains(&req.method().as_str()) {
        return Err(AppError::not_found("no such API route"));
    }
    Err(AppError::method_not_allowed(methods.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn paths_match_their_patterns_only() {
        assert_eq!(allowed("/api/v1/rooms"), ["GET", "POST"]);
        assert_eq!(allowed("/api/v1/me"), ["GET"]);
        assert_eq!(allowed("/api/v1/tournaments/01J/join"), ["POST"]);
        assert_eq!(allowed("/api/v1/admin/tournaments/x/seeding"), ["PUT"]);
        assert!(allowed("/api/v1/tournaments/x/y/z").is_empty());
        assert!(allowed("/api/v2/me").is_empty());
        assert!(allowed("/api/v1/me/").is_empty());
    }
}
