//! `rally loadgen` end to end: real bots against a real server on 127.0.0.1:0 (functional, not
//! timed: it asserts completed matches and zero errors, never latencies).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, TestServer};
use rally::bot::loadgen::{self, Mode, Options};
use std::time::Duration;

/// Test-sized server: one point per match, a short countdown.
async fn server() -> TestServer {
    TestServer::start(
        Backend::Sqlite,
        &["--points-to-win", "1", "--countdown", "200ms"],
    )
    .await
    .expect("SQLite is always available")
}

fn options(server: &TestServer, rooms: usize, matches: usize) -> Options {
    let mut opts = Options::new(server.base.clone(), rooms, matches);
    opts.seed = 7;
    opts.timeout = Duration::from_secs(120);
    opts.progress_every = None;
    opts
}

fn assert_clean(report: &loadgen::Report, matches: u64) {
    let json = serde_json::to_string(report).unwrap_or_default();
    assert_eq!(report.matches_completed, matches, "{json}");
    assert_eq!(report.errors, 0, "{json}");
    assert_eq!(report.stranded, 0, "{json}");
    assert_eq!(report.disconnects, 0, "{json}");
    assert!(report.ok(), "{json}");
    assert!(report.snapshots_received > 0, "{json}");
    assert!(report.inputs_sent > 0, "{json}");
    assert!(report.latency_samples > 0, "{json}");
    assert!(report.latency_ms.max > 0.0, "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_match_two_rooms_one_match_each() {
    let server = server().await;
    let report = loadgen::run(options(&server, 2, 1))
        .await
        .expect("valid options");
    assert_clean(&report, 2);
    assert_eq!(report.players, 4);
    assert_eq!(report.outcomes.get("score"), Some(&2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_rooms_by_code_two_matches_in_a_row() {
    let server = server().await;
    let mut opts = options(&server, 1, 2);
    opts.mode = Mode::Private;
    opts.points_to_win = Some(1);
    let report = loadgen::run(opts).await.expect("valid options");
    assert_clean(&report, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_prints_json_last_and_exits_zero() {
    let server = server().await;
    // Re-queueing after match_end: each bot plays two quick matches on one connection.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rally"))
        .args([
            "loadgen",
            "--url",
            &server.base,
            "--rooms",
            "1",
            "--matches",
            "2",
            "--seed",
            "3",
            "--timeout",
            "2m",
            "--progress",
            "1s",
        ])
        .env("RALLY_LOG", "warn")
        .output()
        .await
        .expect("run rally loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    let report: serde_json::Value = serde_json::from_str(last).expect("last line is JSON");
    assert_eq!(report["matches_completed"], 2, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert!(report["loadgen_cpu_s"].is_number(), "{report}");
    assert!(
        stderr.contains("loadgen "),
        "progress lines on stderr: {stderr}"
    );
}
