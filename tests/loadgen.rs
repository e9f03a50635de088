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

/// Runs `rally loadgen --url <server> ARGS…`: (exit success, the JSON report on the last line
/// of stdout, stderr).
async fn loadgen_command(server: &TestServer, args: &[&str]) -> (bool, serde_json::Value, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(["loadgen", "--url", &server.base])
        .args(args)
        .env("RALLY_LOG", "warn")
        .output()
        .await
        .expect("run rally loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let last = stdout.lines().last().unwrap_or_default();
    let report = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("last line is not JSON ({e}):\n{stdout}\nstderr:\n{stderr}"));
    (out.status.success(), report, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_prints_json_last_and_exits_zero() {
    let server = server().await;
    // Re-queueing after match_end: each bot plays two quick matches on one connection.
    let args = [
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
    ];
    let (ok, report, stderr) = loadgen_command(&server, &args).await;
    assert!(ok, "{report}\nstderr:\n{stderr}");
    assert_eq!(report["matches_completed"], 2, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert!(report["loadgen_cpu_s"].is_number(), "{report}");
    assert!(
        stderr.contains("loadgen "),
        "progress lines on stderr: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_player_drops_once_and_resumes_its_seat() {
    let server = server().await;
    let mut opts = options(&server, 2, 1);
    opts.mode = Mode::Private;
    // Long enough that each bot reaches its drop point (½–4 s of play) before the end.
    opts.points_to_win = Some(4);
    opts.reconnect_rate = 1.0;
    let report = loadgen::run(opts).await.expect("valid options");
    let json = serde_json::to_string(&report).unwrap_or_default();
    assert_clean(&report, 2);
    assert_eq!(report.reconnects_deliberate, 4, "{json}");
    assert_eq!(report.reconnects_ok, 4, "{json}");
    assert_eq!(report.reconnects_failed, 0, "{json}");
    assert!(report.resume_ms.max > 0.0, "{json}");
    assert_eq!(report.outcomes.get("score"), Some(&2), "{json}");
    // The server saw the players come back.
    assert!(server.metric("rally_reconnections_total", &[]).await >= 4.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_run_ramps_cuts_running_matches_and_reads_the_server() {
    // Matches to 21 points do not finish in 3 s: the run leaves them at its deadline.
    let server = TestServer::start(
        Backend::Sqlite,
        &["--points-to-win", "21", "--countdown", "200ms"],
    )
    .await
    .expect("SQLite is always available");
    let mut opts = options(&server, 2, 1);
    opts.duration = Some(Duration::from_secs(3));
    opts.ramp = Duration::from_secs(1);
    opts.input_hz = 60.0;
    let report = loadgen::run(opts).await.expect("valid options");
    let json = serde_json::to_string(&report).unwrap_or_default();
    assert_eq!(report.errors, 0, "{json}");
    assert!(report.ok(), "{json}");
    assert_eq!(report.matches_target, 0, "{json}");
    assert_eq!(report.matches_cut, 2, "{json}");
    assert_eq!(report.outcomes.get("resign"), Some(&2), "{json}");
    assert!(report.duration_s >= 3.0, "{json}");
    // Open loop at 60 Hz: about 60 inputs per second per playing bot, whatever happens.
    assert!(report.inputs_sent > 4 * 60, "{json}");
    assert!(report.latency_samples > 4 * 60, "{json}");
    let srv = &report.servers[0];
    assert!(srv.scraped, "{json}");
    assert!(srv.tick_lateness_ms.ticks > 0, "{json}");
    // At least: tests in this process share one metrics recorder.
    assert!(
        srv.sessions >= 4,
        "every bot was connected when the window closed: {json}"
    );
    assert!(srv.rss_mib > 0.0, "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_held_and_counted_by_the_server() {
    let server = server().await;
    let mut opts = options(&server, 0, 1);
    opts.idle = 40;
    opts.duration = Some(Duration::from_secs(1));
    let report = loadgen::run(opts).await.expect("valid options");
    let json = serde_json::to_string(&report).unwrap_or_default();
    assert!(report.ok(), "{json}");
    assert!(report.duration_s >= 1.0, "held for --duration: {json}");
    assert_eq!(report.idle_connected, 40, "{json}");
    assert_eq!((report.idle_failed, report.idle_dropped), (0, 0), "{json}");
    // At least: tests in this process share one metrics recorder.
    assert!(report.servers[0].sessions >= 40, "{json}");
    // Connections can come from another loopback source address (how --idle gets past one
    // address's ephemeral ports).
    let ws = server.base.replace("http://", "ws://") + "/ws";
    let token = server.guest().await;
    let from = "127.0.0.3".parse().ok();
    let mut c = rally::bot::BotClient::connect_from(&ws, &token, &Default::default(), from)
        .await
        .expect("connect from 127.0.0.3");
    assert!(c.welcome().is_some());
    c.ping(Duration::from_secs(5)).await.expect("pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_p99_bound_that_is_exceeded_fails_the_command() {
    let server = server().await;
    let args = [
        "--rooms",
        "1",
        "--seed",
        "5",
        "--progress",
        "0",
        "--max-p99-ms",
        "0.001",
    ];
    let (ok, report, stderr) = loadgen_command(&server, &args).await;
    assert!(!ok, "{report}\nstderr:\n{stderr}");
    assert_eq!(report["matches_completed"], 1, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["p99_exceeded"], true, "{report}");
    assert!(stderr.contains("--max-p99-ms"), "{stderr}");
}

/// Light cycles: four bots per room (quick match of 4), steering with the cycles brain, in both
/// encodings; a short timed run (the default field is large: the matches are cut at the end,
/// the bots leaving one by one until the last one wins). Snapshots are mostly deltas, and their
/// size is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_play_light_cycles_in_rooms_of_four() {
    let server = server().await;
    for encoding in ["json", "bin"] {
        let args = [
            "--game",
            "cycles",
            "--seats",
            "4",
            "--rooms",
            "1",
            "--duration",
            "6s",
            "--timeout",
            "1m",
            "--seed",
            "5",
            "--progress",
            "0s",
            "--encoding",
            encoding,
        ];
        let (ok, report, stderr) = loadgen_command(&server, &args).await;
        assert!(ok, "{report}\nstderr:\n{stderr}");
        assert_eq!(report["game"], "cycles", "{report}");
        assert_eq!(report["players"], 4, "{report}");
        assert_eq!(report["errors"], 0, "{report}");
        assert!(report["inputs_sent"].as_u64().unwrap() > 0, "{report}");
        let bytes = report["bytes_per_snapshot"].as_f64().unwrap();
        assert!(bytes > 0.0, "{report}");
        let full = report["full_snapshots"].as_u64().unwrap();
        let all = report["snapshots_received"].as_u64().unwrap();
        assert!(full >= 1 && full * 10 < all, "mostly deltas: {report}");
        println!("LOADGEN cycles {encoding}: bytes_per_snapshot={bytes} full={full} of {all}");
    }
}
