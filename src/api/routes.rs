//! What the API answers for a request no route took: 405 `method_not_allowed` with `Allow`
//! when the path is a route of the API (a path of its OpenAPI document) under another method,
//! 404 `not_found` otherwise — both in the JSON error shape, for every path under `/api`.

use crate::error::{AppError, AppResult};
use actix_web::dev::ResourceDef;
use actix_web::{HttpRequest, HttpResponse};
use std::sync::LazyLock;

/// Every API route, as `(method, path pattern)`, compiled once: the paths of the OpenAPI
/// document, which [`super::configure`] collects while it registers the handlers (one table
/// for routing, documentation and this answer).
static COMPILED: LazyLock<Vec<(&'static str, ResourceDef)>> = LazyLock::new(|| {
    super::openapi::routes()
        .into_iter()
        .map(|(m, p)| (m, ResourceDef::new(p)))
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
