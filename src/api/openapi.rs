//! The OpenAPI 3.1 document of the HTTP API, served at `GET /api/v1/openapi.json`.
//!
//! It is generated, never written by hand: every handler carries `#[utoipa::path]` next to its
//! actix route attribute (method and path are read from that one attribute), its request and
//! response types derive `ToSchema`, and [`super::configure`] registers the handlers through
//! `utoipa-actix-web`, which collects each handler's path in the same call that mounts it. The
//! document is therefore the route table itself: [`document`] builds a throwaway `App` with
//! that same `configure` and keeps what it collected; [`super::routes`] answers 405 from it.
//!
//! [`Contract`] then adds what is true of every route of a kind, so that no handler can forget
//! it: the `{"error":{"code","message"}}` answer for each error status a route can give
//! (`400` for a route with a body or query, `401` for a route with a token, `404` for a route
//! with a path id, `408`/`413` for a route that reads a body, `431` and `503` everywhere), and
//! the bearer scheme (a biscuit token).

use crate::error::{ErrorBody, ErrorDetail, ErrorKind};
use actix_web::{get, HttpResponse};
use std::sync::LazyLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

/// Name of the security scheme: `Authorization: Bearer <biscuit token>`.
pub const BEARER: &str = "bearer";

/// The document's fixed parts; the paths come from [`super::configure`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "rally",
        description = "The HTTP API of rally, a realtime game server: accounts, rooms, matches \
and replays, tournaments and their administration. Every error answer is \
`{\"error\":{\"code\",\"message\"}}` with a documented code. Realtime play is the WebSocket \
protocol at `/ws` (docs/protocol.md), not described here.",
        license(name = "MIT OR Apache-2.0")
    ),
    components(schemas(ErrorBody, ErrorDetail, ErrorKind)),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "accounts", description = "Tokens: register, log in, guests"),
        (name = "games", description = "The games this server runs (public)"),
        (name = "rooms", description = "Private rooms and the list of live public rooms"),
        (name = "matches", description = "Results, history, leaderboard, replays (public)"),
        (name = "tournaments", description = "Tournaments for players and viewers"),
        (name = "admin", description = "Organiser administration"),
        (name = "meta", description = "This document")
    )
)]
pub struct ApiDoc;

/// The document, built once (see the module documentation).
pub fn document() -> &'static Document {
    static DOC: LazyLock<Document> = LazyLock::new(|| {
        let (_, mut doc) = actix_web::App::new()
            .into_utoipa_app()
            .openapi(ApiDoc::openapi())
            .configure(super::configure)
            .split_for_parts();
        Contract.modify(&mut doc);
        doc
    });
    &DOC
}

/// [`document`] as JSON.
fn document_json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        // Serialising the document's own types cannot fail; an empty object would be refused
        // by any client and by the tests.
        serde_json::to_string(document()).unwrap_or_else(|_| "{}".to_owned())
    });
    &JSON
}

/// `GET /api/v1/openapi.json`: this API's OpenAPI 3.1 document.
#[utoipa::path(
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object))
)]
#[get("/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document_json())
}

/// Adds what every route of a kind answers (see the module documentation).
pub struct Contract;

/// The JSON error answer, described for `status`.
fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// Add the error answer `status` to `op` unless the handler documented it itself.
fn add(op: &mut Operation, status: u16, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| error_response(description).into());
}

/// Whether `op` has a parameter in `location`.
fn has_param(op: &Operation, location: utoipa::openapi::path::ParameterIn) -> bool {
    op.parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == location)
}

impl Modify for Contract {
    fn modify(&self, doc: &mut Document) {
        use utoipa::openapi::path::ParameterIn;
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("biscuit")
                    .description(Some(
                        "A biscuit token from /api/v1/auth/*, sent as \
`Authorization: Bearer <token>`. Missing, malformed, expired or revoked: 401 `unauthorized`; \
valid but not allowed (a guest joining a tournament, a player on /admin): 403 `forbidden`.",
                    ))
                    .build(),
            ),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            for op in operations(item) {
                optional_body(op);
                let has_body = op.request_body.is_some();
                if has_body || has_param(op, ParameterIn::Query) {
                    add(
                        op,
                        400,
                        "`invalid_json` (a body that is not JSON of this shape) or `validation` \
(a value out of range)",
                    );
                }
                if op.security.is_some() {
                    add(op, 401, "`unauthorized`: no token, or not a valid one");
                }
                if has_param(op, ParameterIn::Path) {
                    add(op, 404, "`not_found`: no such resource");
                }
                if has_body {
                    add(
                        op,
                        408,
                        "`request_timeout`: the body did not arrive within \
RALLY_HTTP_BODY_TIMEOUT",
                    );
                    add(
                        op,
                        413,
                        "`payload_too_large`: the body is larger than RALLY_MAX_BODY_BYTES",
                    );
                }
                add(
                    op,
                    431,
                    "`headers_too_large`: the request head is larger than the server reads",
                );
                if path != "/healthz" {
                    add(
                        op,
                        503,
                        "`unavailable`: the database or Redis does not answer right now",
                    );
                }
            }
        }
    }
}

/// A handler's `request_body(content = Option<T>)` comes out as a required body of
/// `oneOf: [null, T]`; what it means (and what [`super::body::OptionalJson`] reads) is a body
/// that may be left out: `required: false`, schema `T` (a JSON `null` is not a `T`: 400).
fn optional_body(op: &mut Operation) {
    let Some(body) = &op.request_body else {
        return;
    };
    let Ok(mut value) = serde_json::to_value(body) else {
        return;
    };
    let null = serde_json::json!({"type": "null"});
    let mut optional = false;
    if let Some(content) = value.get_mut("content").and_then(|c| c.as_object_mut()) {
        for media in content.values_mut() {
            let Some(items) = media.pointer("/schema/oneOf").and_then(|o| o.as_array()) else {
                continue;
            };
            if items.len() == 2 && items.contains(&null) {
                if let Some(inner) = items.iter().find(|i| **i != null).cloned() {
                    media["schema"] = inner;
                    optional = true;
                }
            }
        }
    }
    if optional {
        value["required"] = serde_json::Value::Bool(false);
        if let Ok(body) = serde_json::from_value(value) {
            op.request_body = Some(body);
        }
    }
}

/// The operations of a path item.
fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Every `(METHOD, path)` the document has, e.g. `("POST", "/api/v1/auth/guest")`.
pub fn routes() -> Vec<(&'static str, String)> {
    let doc = document();
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let ops = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("OPTIONS", &item.options),
            ("HEAD", &item.head),
            ("PATCH", &item.patch),
            ("TRACE", &item.trace),
        ];
        for (method, op) in ops {
            if op.is_some() {
                out.push((method, path.clone()));
            }
        }
    }
    out
}
