//! The binary itself: the embedded default starts with nothing else installed, bad
//! configuration fails with a clear message, shutdown on SIGTERM is graceful.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn default_config_serves_healthz_from_an_empty_directory_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rally"))
        .current_dir(dir.path())
        .env_clear()
        .env("RALLY_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200") {
                break out;
            }
        }
        assert!(Instant::now() < deadline, "no /healthz answer");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(body.contains("\"ok\""));
    // The embedded defaults created the database and a root key in ./data.
    assert!(dir.path().join("data/rally.db").exists());
    assert!(dir.path().join("data/root.key").exists());
    // SIGTERM → graceful exit 0.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_configuration_fails_with_the_variable_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_rally"))
        .env("RALLY_TOKEN_TTL", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RALLY_TOKEN_TTL"));
    let out = Command::new(env!("CARGO_BIN_EXE_rally"))
        .env("RALLY_REDIS_URL", "redis://127.0.0.1:6379")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SQLite"));
}

#[test]
fn healthcheck_fails_when_nothing_listens() {
    let port = free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(["healthcheck", "--url", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
