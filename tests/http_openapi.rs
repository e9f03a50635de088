//! The OpenAPI document is the HTTP API's contract: served at `GET /api/v1/openapi.json` by the
//! real server, a valid OpenAPI 3.1 document, and complete both ways — every route the app
//! answers is in it (the app's own route table, and every route the README lists), and every
//! route in it is one the app answers (not the router's 404/405 fallback). It documents the
//! error shape and the bearer scheme, and which routes need a token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, TestServer};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A well-formed ULID that names nothing, for path parameters.
const NO_SUCH_ID: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
/// Methods a client may try on any path.
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH"];

async fn server() -> TestServer {
    TestServer::start(Backend::Sqlite, &[])
        .await
        .expect("SQLite server")
}

async fn fetch_document(s: &TestServer) -> Value {
    let r = s
        .http
        .get(s.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "{ct}");
    r.json().await.unwrap()
}

/// `(METHOD, path)` of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().expect("path item") {
            if [
                "get", "put", "post", "delete", "patch", "options", "head", "trace",
            ]
            .contains(&method.as_str())
            {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// The routes README.md lists in its HTTP tables (`| \`METHOD /path…\``), query strings cut.
fn readme_routes() -> BTreeSet<(String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut out = BTreeSet::new();
    for line in readme.lines() {
        let Some(rest) = line.strip_prefix("| `") else {
            continue;
        };
        let Some((method, rest)) = rest.split_once(' ') else {
            continue;
        };
        if !METHODS.contains(&method) {
            continue;
        }
        let path: String = rest
            .chars()
            .take_while(|c| !matches!(c, '`' | '?' | ' '))
            .collect();
        out.insert((method.to_string(), path));
    }
    out
}

/// `path` with every `{param}` replaced by a well-formed id.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        out.push_str(NO_SUCH_ID);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Send `method path` with an empty JSON object as the body (for methods that take one).
async fn send(s: &TestServer, method: &str, path: &str) -> (u16, Option<String>, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = s.http.request(m.clone(), s.url(path));
    if m == reqwest::Method::POST || m == reqwest::Method::PUT || m == reqwest::Method::PATCH {
        req = req.json(&serde_json::json!({}));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let allow = r
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = r.json().await.unwrap_or(Value::Null);
    (status, allow, body)
}

/// Whether an answer is the API router's own fallback (no route took the request).
fn is_fallback(status: u16, body: &Value) -> bool {
    status == 405 || status == 404 && body["error"]["message"] == "no such API route"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_the_generated_one_and_valid_openapi_3_1() {
    let s = server().await;
    let doc = fetch_document(&s).await;
    let generated = serde_json::to_value(rally::api::openapi::document()).unwrap();
    assert_eq!(
        doc, generated,
        "the server serves the document its code generates"
    );

    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|k| k.starts_with('2')),
            "{method} {path}: no success answer"
        );
        for (status, response) in responses {
            assert!(
                response["description"].is_string(),
                "{method} {path} {status}"
            );
            if status.starts_with('4') || status.starts_with('5') && path != "/readyz" {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} {status}: errors are the documented JSON error"
                );
            }
        }
        // Parameters are unique by name and location (OpenAPI requires it).
        let params: Vec<(String, String)> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| (p["name"].to_string(), p["in"].to_string()))
            .collect();
        let unique: BTreeSet<_> = params.iter().collect();
        assert_eq!(unique.len(), params.len(), "{method} {path}: {params:?}");
        // Every `{param}` of the path is declared, required, in the path.
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "path")
                    .inspect(|p| assert_eq!(p["required"], true, "{method} {path}"))
                    .map(|p| p["name"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(declared, templated, "{method} {path}: path parameters");
    }
    // Every reference resolves.
    let text = doc.to_string();
    for piece in text.split("\"#/components/schemas/").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(schemas.contains_key(name), "dangling $ref {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_shape_and_the_bearer_scheme_are_documented() {
    let s = server().await;
    let doc = fetch_document(&s).await;
    let schemas = &doc["components"]["schemas"];
    let body = &schemas["ErrorBody"];
    assert_eq!(
        body["properties"]["error"]["$ref"],
        "#/components/schemas/ErrorDetail"
    );
    assert_eq!(body["required"], serde_json::json!(["error"]));
    let detail = &schemas["ErrorDetail"];
    let mut required: Vec<&str> = detail["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort_unstable();
    assert_eq!(required, ["code", "message"]);
    assert_eq!(
        detail["properties"]["code"]["$ref"],
        "#/components/schemas/ErrorKind"
    );
    let codes: BTreeSet<&str> = schemas["ErrorKind"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let all: BTreeSet<&str> = rally::error::ErrorKind::ALL
        .iter()
        .map(|k| k.code())
        .collect();
    assert_eq!(codes, all, "every error code the server can send is listed");

    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");

    // Routes that take a token say so (and document 401); public ones do not.
    let needs_token = |method: &str, path: &str| -> bool {
        let op = &doc["paths"][path][method.to_lowercase()];
        let secured = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        if secured {
            assert!(
                op["responses"]["401"].is_object(),
                "{method} {path}: 401 undocumented"
            );
        }
        secured
    };
    for (method, path) in operations(&doc) {
        let admin = path.starts_with("/api/v1/admin/");
        let token = admin
            || path.starts_with("/api/v1/auth/")
                && ![
                    "/api/v1/auth/register",
                    "/api/v1/auth/login",
                    "/api/v1/auth/guest",
                ]
                .contains(&path.as_str())
            || path == "/api/v1/me"
            || method == "POST"
                && (path == "/api/v1/rooms" || path.starts_with("/api/v1/tournaments/"));
        assert_eq!(needs_token(&method, &path), token, "{method} {path}");
        // And the server agrees: without a token such a route is 401.
        if token {
            let (status, _, body) = send(&s, &method, &concrete(&path)).await;
            common::assert_error(status, &body, 401, "unauthorized");
        }
        if admin {
            assert!(
                doc["paths"][&path][method.to_lowercase()]["responses"]["403"].is_object(),
                "{method} {path}: 403 undocumented"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_and_every_documented_route_exists() {
    let s = server().await;
    let doc = fetch_document(&s).await;
    let documented = operations(&doc);

    // The app's route table (the one that answers 405 and `Allow`) is the document's.
    let table: BTreeSet<(String, String)> = rally::api::openapi::routes()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p))
        .collect();
    assert_eq!(table, documented);
    assert!(
        documented.len() >= 30,
        "{} routes documented",
        documented.len()
    );

    // Every route the README lists (the JSON API and health; `/metrics` is the Prometheus
    // exposition, served outside the API).
    let readme = readme_routes();
    assert!(readme.len() >= 30, "README tables not found: {readme:?}");
    for (method, path) in &readme {
        if path == "/metrics" {
            continue;
        }
        assert!(
            documented.contains(&(method.clone(), path.clone())),
            "README lists {method} {path}; the OpenAPI document does not"
        );
    }
    // The document lists the README's routes and its own address, nothing the README lacks.
    for (method, path) in &documented {
        assert!(
            readme.contains(&(method.clone(), path.clone())),
            "{method} {path} is documented in OpenAPI but not in the README route table"
        );
    }

    // The fallback is what this test takes it for.
    let (status, _, body) = send(&s, "GET", "/api/v1/no-such-route").await;
    assert!(is_fallback(status, &body), "{status} {body}");

    // Every documented route is answered by a handler, not by the router's fallback.
    for (method, path) in &documented {
        let (status, _, body) = send(&s, method, &concrete(path)).await;
        assert!(
            !is_fallback(status, &body),
            "{method} {path} is documented but the app has no such route: {status} {body}"
        );
        assert!(
            status < 500 || path == "/readyz",
            "{method} {path}: {status}"
        );
    }

    // On every documented path, the methods the document lacks are refused by the router
    // with 405 and the documented methods in `Allow`: the app answers no method the document
    // does not list.
    let mut by_path: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (method, path) in &documented {
        by_path.entry(path).or_default().push(method);
    }
    // (/healthz and /readyz are outside /api: the web client answers their other methods.)
    for (path, methods) in by_path.iter().filter(|(p, _)| p.starts_with("/api/")) {
        let mut allow = methods.clone();
        allow.sort_unstable();
        for method in METHODS.iter().filter(|m| !methods.contains(m)) {
            let (status, got_allow, body) = send(&s, method, &concrete(path)).await;
            common::assert_error(status, &body, 405, "method_not_allowed");
            assert_eq!(
                got_allow.as_deref(),
                Some(allow.join(", ").as_str()),
                "{method} {path}"
            );
        }
    }
}
