//! The real binary's logs: colour only on a terminal (and never with `NO_COLOR`), one short
//! INFO line per client error with the documented fields, request data that cannot forge a
//! line (text) or break a line's JSON, query strings never logged, and nothing a client sends
//! makes the server log at ERROR.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::process::{text, Rally};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

/// A path whose id decodes to text with a newline that looks like a log line of its own.
const FORGING_PATH: &str =
    "/api/v1/players/x%0A2026-12-01T00:00:00.000000Z%20ERROR%20rally:%20forged/matches";

/// `rally serve` on a port that is already taken: it logs its start-up line, fails to bind and
/// exits. Run directly (stdout a pipe) or under `script` (stdout a terminal).
fn serve_on_taken_port(terminal: bool, env: &[(&str, &str)]) -> String {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let bin = env!("CARGO_BIN_EXE_rally");
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = if terminal {
        // util-linux `script` runs the command on a new pseudo-terminal and copies its output.
        let mut c = Command::new("script");
        c.args(["-q", "-e", "-c", &format!("'{bin}' serve"), "/dev/null"]);
        c
    } else {
        let mut c = Command::new(bin);
        c.arg("serve");
        c
    };
    let out = cmd
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RALLY_BIND", &bind)
        .env("RALLY_LOG", "info")
        .envs(env.iter().copied())
        .output()
        .expect("run rally (and util-linux `script` for a terminal)");
    assert!(!out.status.success(), "rally bound a taken port");
    let log = text(&out.stdout);
    assert!(log.contains("open-file limit"), "no start-up line:\n{log}");
    log
}

#[test]
fn text_logs_are_coloured_only_on_a_terminal_without_no_color() {
    assert!(!serve_on_taken_port(false, &[]).contains('\u{1b}'));
    assert!(serve_on_taken_port(true, &[]).contains("\u{1b}["));
    assert!(!serve_on_taken_port(true, &[("NO_COLOR", "1")]).contains('\u{1b}'));
    // An empty NO_COLOR does not count (no-color.org).
    assert!(serve_on_taken_port(true, &[("NO_COLOR", "")]).contains("\u{1b}["));
    // JSON is never coloured.
    assert!(!serve_on_taken_port(true, &[("RALLY_LOG_FORMAT", "json")]).contains('\u{1b}'));
}

/// Send `request` on its own connection and return the `X-Request-Id` of the answer.
fn request_id(rally: &Rally, request: &str) -> String {
    let answer = rally.raw(request.as_bytes());
    answer
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-request-id: ")
                .map(|v| v.trim().to_uppercase())
        })
        .unwrap_or_else(|| panic!("no X-Request-Id in:\n{answer}"))
}

/// The level of a text log line (the word after the timestamp).
fn level(line: &str) -> &str {
    line.split_whitespace().nth(1).unwrap_or("")
}

/// A server directory whose root key already exists, so start-up has nothing to warn about
/// (a generated key is a WARN, rightly).
fn server_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/root.key"), "a5".repeat(32)).unwrap();
    dir
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
}

#[test]
fn text_request_lines_are_short_single_lines_without_queries() {
    let dir = server_dir();
    // rally=debug also shows the handlers' own DEBUG events, which carry the decoded id.
    let rally = Rally::start(dir.path(), &[("RALLY_LOG", "info,rally=debug")], &[]);
    let forged_id = request_id(&rally, &get(FORGING_PATH));
    // The 404's message does not repeat the id.
    let answer = rally.get(FORGING_PATH);
    assert!(answer.contains("\"not_found\""), "{answer}");
    assert!(!answer.contains("forged"), "{answer}");
    let query_id = request_id(
        &rally,
        &get("/api/v1/matches?limit=abc&token=SECRET-IN-QUERY"),
    );
    let ok_id = request_id(&rally, &get("/api/v1/matches?token=SECRET-IN-QUERY"));
    rally.wait_stdout(&ok_id);
    let (log, _) = rally.stop();

    for line in log.lines() {
        // Every line starts with its own timestamp: nothing was split or forged.
        assert!(
            line.len() > 20 && line.as_bytes()[..4].iter().all(u8::is_ascii_digit),
            "a line that is not an event of its own: {line:?}\n{log}"
        );
        assert!(!matches!(level(line), "ERROR" | "WARN"), "{line}");
    }
    assert!(
        !log.contains("SECRET-IN-QUERY"),
        "a query string was logged:\n{log}"
    );

    let line_of = |id: &str| {
        log.lines()
            .find(|l| l.contains("rally::http") && l.contains(&format!("request_id={id}")))
            .unwrap_or_else(|| panic!("no request line for {id}:\n{log}"))
            .to_string()
    };
    let forged = line_of(&forged_id);
    assert_eq!(level(&forged), "INFO", "{forged}");
    assert!(forged.contains("client error"), "{forged}");
    assert!(forged.contains("method=GET"), "{forged}");
    // The path as received, still percent-encoded.
    assert!(
        forged.contains("path=/api/v1/players/x%0A2026-12-01"),
        "{forged}"
    );
    assert!(forged.contains("status=404"), "{forged}");
    assert!(forged.contains("code=not_found"), "{forged}");
    assert!(forged.contains("latency_ms="), "{forged}");
    assert!(forged.contains("client=127.0.0.1"), "{forged}");
    assert!(forged.len() < 400, "{} characters: {forged}", forged.len());

    let query = line_of(&query_id);
    assert_eq!(level(&query), "INFO", "{query}");
    assert!(query.contains("path=/api/v1/matches "), "{query}");
    assert!(query.contains("status=400"), "{query}");

    let ok = line_of(&ok_id);
    assert_eq!(level(&ok), "DEBUG", "{ok}");
    assert!(ok.contains("status=200"), "{ok}");
}

#[test]
fn json_request_lines_are_valid_json_per_line() {
    let dir = server_dir();
    let rally = Rally::start(
        dir.path(),
        &[
            ("RALLY_LOG", "info,rally=debug"),
            ("RALLY_LOG_FORMAT", "json"),
        ],
        &[],
    );
    let forged_id = request_id(&rally, &get(FORGING_PATH));
    rally.wait_stdout(&forged_id);
    let (log, _) = rally.stop();
    let mut found = None;
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line:?}\n{log}"));
        assert_ne!(v["level"], "ERROR", "{line}");
        if v["target"] == "rally::http" && v["request_id"] == forged_id.as_str() {
            found = Some(v);
        }
    }
    let v = found.unwrap_or_else(|| panic!("no request line:\n{log}"));
    assert_eq!(v["level"], "INFO");
    assert_eq!(v["message"], "client error");
    assert_eq!(v["method"], "GET");
    assert_eq!(v["path"], FORGING_PATH);
    assert_eq!(v["status"], 404);
    assert_eq!(v["code"], "not_found");
    assert_eq!(v["client"], "127.0.0.1");
    assert!(v["latency_ms"].as_f64().is_some(), "{v}");
}

/// Open a WebSocket on `/ws` by hand and send one raw frame; read until the server closes.
fn websocket_frame(port: u16, frame: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "handshake cut short");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", text(&head));
    s.write_all(frame).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    rest
}

#[test]
fn nothing_a_client_sends_is_logged_at_error() {
    for format in ["text", "json"] {
        let dir = server_dir();
        let rally = Rally::start(
            dir.path(),
            &[
                ("RALLY_LOG", "info,rally::client=debug"),
                ("RALLY_LOG_FORMAT", format),
                ("RALLY_HTTP_HEAD_TIMEOUT", "1s"),
                ("RALLY_HTTP_BODY_TIMEOUT", "1s"),
            ],
            &[],
        );
        // A ping sent as an unfinished fragment (FIN=0, opcode 9), masked, empty: a framing
        // violation, answered with close 1002 (0x03EA), logged at DEBUG as the client's doing.
        let rest = websocket_frame(rally.port, &[0x09, 0x80, 1, 2, 3, 4]);
        assert!(
            rest.windows(4)
                .any(|w| w[0] == 0x88 && w[2] == 0x03 && w[3] == 0xEA),
            "{format}: no close 1002 in {rest:?}"
        );
        rally.wait_stdout("websocket framing violation");
        // A request head over actix-http's limit (128 KiB), never finished.
        let big = format!(
            "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {}",
            "a".repeat(200 * 1024)
        );
        let answer = rally.raw(big.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
        // Not HTTP at all.
        let answer = rally.raw(b"\x16\x03\x01 not http\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        rally.wait_stdout("head is too large");
        // A head that stalls, a body that stalls: 408 in the JSON shape.
        let answer = rally.raw(b"GET /api/v1/me HTTP/1.1\r\nHost: loc");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("\"request_timeout\""), "{answer}");
        let answer = rally.raw(
            b"POST /api/v1/auth/guest HTTP/1.1\r\nHost: localhost\r\n\
              Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"na",
        );
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        // Bodies that are not the endpoint's JSON.
        for body in ["{", "[1]", r#"{"name":["x"]}"#] {
            let (status, json) = rally.post_json_raw("/api/v1/auth/guest", body);
            assert_eq!(status, 400, "{json}");
            assert_eq!(json["error"]["code"], "invalid_json");
        }
        let (log, _) = rally.stop();

        let demoted = log
            .lines()
            .filter(|l| l.contains("rally::client") && l.contains("DEBUG"))
            .count();
        assert!(demoted >= 2, "{format}: demoted lines missing:\n{log}");
        for line in log.lines() {
            let level = if format == "json" {
                serde_json::from_str::<serde_json::Value>(line).unwrap()["level"]
                    .as_str()
                    .unwrap()
                    .to_string()
            } else {
                level(line).to_string()
            };
            assert!(
                !matches!(level.as_str(), "ERROR" | "WARN"),
                "{format}: {line}"
            );
        }
    }
}
