//! The HTTP API under hostile input, over real sockets: one body extractor for every endpoint,
//! the JSON error shape for every failure under `/api` (404, 405 with `Allow`, 408, 413, 431,
//! malformed HTTP), stalled heads and bodies bounded in time, and no raw request data echoed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::tournament::organiser;
use common::{assert_error, Backend, TestServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Short head and body timeouts so the stalls below end quickly.
const SETTINGS: &[&str] = &["--http-head-timeout", "1s", "--http-body-timeout", "1s"];

async fn server() -> TestServer {
    TestServer::start(Backend::Sqlite, SETTINGS)
        .await
        .expect("SQLite server")
}

/// An answer read off a raw connection: status, headers (lower-case names), parsed body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
    raw: String,
}

impl Answer {
    fn parse(raw: &[u8]) -> Answer {
        let raw = String::from_utf8_lossy(raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        let body = serde_json::from_str(body).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            raw,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The documented error shape with `code`, sent as JSON.
    fn assert_error(&self, status: u16, code: &str) {
        assert_error(self.status, &self.body, status, code);
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{}",
            self.raw
        );
    }
}

/// Send `bytes` on a fresh connection, then read until the server closes (at most 10 s).
async fn raw(s: &TestServer, bytes: &[u8]) -> Answer {
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    // The server may answer (and close) before it read everything.
    let _ = c.write_all(bytes).await;
    read_to_close(&mut c).await
}

async fn read_to_close(c: &mut TcpStream) -> Answer {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut out)).await;
    Answer::parse(&out)
}

/// A request with `body`, sent as is.
fn request(
    method: &str,
    path: &str,
    token: Option<&str>,
    ctype: Option<&str>,
    body: &str,
) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(t) = token {
        r.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(c) = ctype {
        r.push_str(&format!("Content-Type: {c}\r\n"));
    }
    r.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    r.into_bytes()
}

const JSON: Option<&str> = Some("application/json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_reads_bodies_the_same_way() {
    let s = server().await;
    let (guest, _) = s.guest_with_id().await;
    let player = s.register("bodies").await;
    let org = organiser(&s, "bodyorg").await;
    let t = "01JDA7Q6X9M3K2T8B4V5C0N1RZ";
    let endpoints: Vec<(&str, String, Option<&str>)> = vec![
        ("POST", "/api/v1/auth/register".into(), None),
        ("POST", "/api/v1/auth/login".into(), None),
        ("POST", "/api/v1/auth/guest".into(), None),
        ("POST", "/api/v1/auth/upgrade".into(), Some(&guest)),
        ("POST", "/api/v1/rooms".into(), Some(&player)),
        ("POST", "/api/v1/admin/tournaments".into(), Some(&org)),
        (
            "PUT",
            format!("/api/v1/admin/tournaments/{t}/seeding"),
            Some(&org),
        ),
        (
            "POST",
            format!("/api/v1/admin/tournaments/{t}/matches/{t}/result"),
            Some(&org),
        ),
    ];
    // Not JSON, JSON that is not an object, a field of the wrong type, a bare string.
    let bad = [
        "{",
        "[1]",
        r#"{"name":["x"]}"#,
        r#""x""#,
        "{\"name\":\"ok\"} trailing",
    ];
    for (method, path, token) in &endpoints {
        for body in bad {
            let a = raw(&s, &request(method, path, *token, JSON, body)).await;
            a.assert_error(400, "invalid_json");
            assert!(
                !a.body["error"]["message"].as_str().unwrap().contains('\n'),
                "{}",
                a.raw
            );
        }
        // A body without Content-Type: application/json.
        let a = raw(&s, &request(method, path, *token, Some("text/plain"), "{}")).await;
        a.assert_error(400, "invalid_json");
        // A body over RALLY_MAX_BODY_BYTES, judged from Content-Length and while reading
        // a chunked one.
        let big = format!("{{\"name\":\"{}\"}}", "x".repeat(20_000));
        let a = raw(&s, &request(method, path, *token, JSON, &big)).await;
        a.assert_error(413, "payload_too_large");
        let mut chunked = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        );
        if let Some(t) = token {
            chunked.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        chunked.push_str(&format!("\r\n{:x}\r\n{big}\r\n0\r\n\r\n", big.len()));
        let a = raw(&s, chunked.as_bytes()).await;
        a.assert_error(413, "payload_too_large");
        // Where the body is required, an empty one is not JSON.
        if path != "/api/v1/auth/guest" {
            let a = raw(&s, &request(method, path, *token, JSON, "")).await;
            a.assert_error(400, "invalid_json");
        }
    }
    // Guest: the body is optional. None at all, an empty one (with or without a type) and
    // `{}` make a guest with a generated name.
    for req in [
        b"POST /api/v1/auth/guest HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            .to_vec(),
        request("POST", "/api/v1/auth/guest", None, JSON, ""),
        request("POST", "/api/v1/auth/guest", None, None, ""),
        request("POST", "/api/v1/auth/guest", None, JSON, "{}"),
    ] {
        let a = raw(&s, &req).await;
        assert_eq!(a.status, 201, "{}", a.raw);
        assert!(a.body["player"]["name"]
            .as_str()
            .unwrap()
            .starts_with("guest-"));
    }
    // A bad name is refused, not replaced.
    let a = raw(
        &s,
        &request(
            "POST",
            "/api/v1/auth/guest",
            None,
            JSON,
            r#"{"name":"a b"}"#,
        ),
    )
    .await;
    a.assert_error(400, "validation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_under_api_is_a_json_error() {
    let s = server().await;
    for path in [
        "/api/v2/me",
        "/api/nope",
        "/api",
        "/api/",
        "/api/v1",
        "/api/v1/nope",
        "/api/v1/me/extra",
    ] {
        let a = raw(&s, &request("GET", path, None, None, "")).await;
        a.assert_error(404, "not_found");
    }
    // Known paths, wrong methods: 405 with the methods they take.
    for (method, path, allow) in [
        ("DELETE", "/api/v1/me", "GET"),
        ("POST", "/api/v1/me", "GET"),
        ("GET", "/api/v1/auth/login", "POST"),
        ("PUT", "/api/v1/rooms", "GET, POST"),
        ("HEAD", "/api/v1/leaderboard", "GET"),
        (
            "GET",
            "/api/v1/admin/tournaments/01JDA7Q6X9M3K2T8B4V5C0N1RZ/seeding",
            "PUT",
        ),
        ("PATCH", "/api/v1/matches/x/replay", "GET"),
    ] {
        let a = raw(&s, &request(method, path, None, None, "")).await;
        assert_eq!(a.status, 405, "{method} {path}: {}", a.raw);
        assert_eq!(a.header("allow"), Some(allow), "{method} {path}");
        if method != "HEAD" {
            a.assert_error(405, "method_not_allowed");
        }
    }
    // A malformed query string, a missing token: JSON too.
    let a = raw(
        &s,
        &request("GET", "/api/v1/matches?limit=x", None, None, ""),
    )
    .await;
    a.assert_error(400, "validation");
    let a = raw(&s, &request("GET", "/api/v1/me", None, None, "")).await;
    a.assert_error(401, "unauthorized");
    // Outside /api the web client is still served.
    let a = raw(&s, &request("GET", "/play/anything", None, None, "")).await;
    assert_eq!(a.status, 200, "{}", a.raw);
    assert!(a.header("content-type").unwrap().starts_with("text/html"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_the_dispatcher_writes_itself_are_json() {
    let s = server().await;
    // 431: a request head over 128 KiB (far over: actix-http judges it by its read buffer,
    // which may hold one more read's worth).
    let big = format!(
        "GET /api/v1/me HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    let a = raw(&s, big.as_bytes()).await;
    a.assert_error(431, "headers_too_large");
    // 400: not HTTP.
    let a = raw(&s, b"\x16\x03\x01 not http\r\n\r\n").await;
    a.assert_error(400, "bad_request");
    let a = raw(&s, b"GET /api/v1/me HTTP/1.1\r\nBad Header\r\n\r\n").await;
    a.assert_error(400, "bad_request");
    // 431 and 400 on a kept-alive connection, after a first answer.
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut first = vec![0u8; 4096];
    let n = c.read(&mut first).await.unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200"));
    let _ = c.write_all(big.as_bytes()).await;
    let a = read_to_close(&mut c).await;
    a.assert_error(431, "headers_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_heads_and_bodies_are_answered_408_and_closed() {
    let s = server().await;
    // A head that never ends.
    let started = Instant::now();
    let a = raw(&s, b"GET /api/v1/me HTTP/1.1\r\nHost: local").await;
    a.assert_error(408, "request_timeout");
    assert!(started.elapsed() < Duration::from_secs(9), "not bounded");

    // The same on a kept-alive connection, after a first request and answer (actix-http
    // itself times only a connection's first head).
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut first = vec![0u8; 4096];
    let n = c.read(&mut first).await.unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200"));
    let started = Instant::now();
    c.write_all(b"GET /api/v1/me HTTP/1.1\r\nHo").await.unwrap();
    let a = read_to_close(&mut c).await;
    a.assert_error(408, "request_timeout");
    assert!(started.elapsed() < Duration::from_secs(9), "not bounded");
    // A pipelined first request is answered before the stalled second one is refused.
    let a = raw(
        &s,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\nGET /api/v1/me HTTP/1.1\r\nHo",
    )
    .await;
    assert!(a.raw.starts_with("HTTP/1.1 200"), "{}", a.raw);
    let second = a.raw.find("HTTP/1.1 408").expect("a 408 after the 200");
    Answer::parse(&a.raw.as_bytes()[second..]).assert_error(408, "request_timeout");

    // Complete headers, a body that never arrives: every body endpoint, and the one whose
    // body is optional.
    let player = s.register("stalled").await;
    for (path, token) in [
        ("/api/v1/auth/guest", None),
        ("/api/v1/auth/register", None),
        ("/api/v1/rooms", Some(player.as_str())),
    ] {
        let mut req = String::from_utf8(request("POST", path, token, JSON, "")).unwrap();
        req = req.replace("Content-Length: 0", "Content-Length: 100");
        req.push_str("{\"na");
        let a = raw(&s, req.as_bytes()).await;
        a.assert_error(408, "request_timeout");
    }
    // A chunked body that stops after its first chunk.
    let a = raw(
        &s,
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Transfer-Encoding: chunked\r\n\r\n4\r\n{\"na\r\n",
    )
    .await;
    a.assert_error(408, "request_timeout");
    // The server still answers.
    let (st, _) = s.get("/healthz", None).await;
    assert_eq!(st, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_messages_do_not_echo_raw_request_data() {
    let s = server().await;
    let evil = "x%0A2026-12-01T00:00:00Z%20ERROR%20forged%1B[31m";
    for path in [
        format!("/api/v1/players/{evil}/matches"),
        format!("/api/v1/matches/{evil}"),
        format!("/api/v1/matches/{evil}/replay"),
        format!("/api/v1/tournaments/{evil}"),
    ] {
        let a = raw(&s, &request("GET", &path, None, None, "")).await;
        a.assert_error(404, "not_found");
        let message = a.body["error"]["message"].as_str().unwrap();
        assert!(!message.contains("forged"), "{message}");
        assert!(!message.chars().any(char::is_control), "{message}");
    }
    // A bad body's message escapes what it quotes.
    let a = raw(
        &s,
        &request(
            "POST",
            "/api/v1/rooms",
            Some(&s.register("echo").await),
            JSON,
            "{\"game\":\"a\\nb\\u001b\"}",
        ),
    )
    .await;
    a.assert_error(400, "validation");
    let message = a.body["error"]["message"].as_str().unwrap();
    assert!(!message.chars().any(char::is_control), "{message}");
}

/// The error shape is the same when the request reaches a JSON endpoint through reqwest (what
/// the README shows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_405_through_a_client_library() {
    let s = server().await;
    let resp = s.http.delete(s.url("/api/v1/rooms")).send().await.unwrap();
    assert_eq!(resp.headers()["allow"], "GET, POST");
    let (st, b) = TestServer::read(resp).await;
    assert_error(st, &b, 405, "method_not_allowed");
    let (st, b) = s.post("/api/v1/auth/guest", None, json!([1])).await;
    assert_error(st, &b, 400, "invalid_json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_room_creation_is_bounded_per_player() {
    let s = TestServer::start(Backend::Sqlite, &["--private-rooms-per-minute", "2"])
        .await
        .expect("SQLite server");
    let alice = s.guest().await;
    for _ in 0..2 {
        let (st, b) = s.post("/api/v1/rooms", Some(&alice), json!({})).await;
        assert_eq!(st, 201, "{b}");
    }
    let resp = s
        .http
        .post(s.url("/api/v1/rooms"))
        .bearer_auth(&alice)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let (st, b) = TestServer::read(resp).await;
    assert_error(st, &b, 429, "rate_limited");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("RALLY_PRIVATE_ROOMS_PER_MINUTE"),
        "{b}"
    );
    // A request the API refuses anyway is not counted, and the bound is per player.
    let bob = s.guest().await;
    let (st, b) = s
        .post("/api/v1/rooms", Some(&bob), json!({"game": "chess"}))
        .await;
    assert_error(st, &b, 400, "validation");
    for _ in 0..2 {
        let (st, b) = s.post("/api/v1/rooms", Some(&bob), json!({})).await;
        assert_eq!(st, 201, "{b}");
    }
}
