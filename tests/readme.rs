//! README.md's commands, run. Every command in a ```sh block of the README must be one this
//! test knows how to run (an unknown command fails it, so a new README command needs a runner
//! here); every subcommand in the command-line table must exist.
//!
//! - `cargo run --release` is run as the built `rally` binary (the same program; `.ci/run`
//!   builds the release binary and starts it from an empty directory too), from an empty
//!   directory with an empty environment, and the quick start is followed as a player would:
//!   the page and its "Play as guest" and "Quick match" buttons are served, two guests queue,
//!   are matched, join, receive snapshots, and the match ends for both.
//! - `cargo run --release -- ARGS` runs `rally ARGS` in that same directory, next to the
//!   running server (so `admin grant-organiser alice` finds its database, after alice has
//!   registered there).
//! - `git clone … && cd rally`: this test runs in such a checkout.
//! - `cargo test` (with the Postgres and Redis variables): the suite this test belongs to;
//!   checked to be what `.ci/run` runs, with the same variables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::process::Rally;
use common::ws::{Client, Event};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The commands of every ```sh block: continuation lines joined, comments and blanks dropped.
fn sh_commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_sh = !in_sh && line.trim() == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let line = line.split(" #").next().unwrap_or("").trim_end();
        if let Some(part) = line.strip_suffix('\\') {
            pending.push_str(part.trim());
            pending.push(' ');
            continue;
        }
        pending.push_str(line.trim());
        let command = std::mem::take(&mut pending).trim().to_string();
        if !command.is_empty() && !command.starts_with('#') {
            out.push(command);
        }
    }
    out
}

/// The `rally …` subcommands named in the first column of the command-line table.
fn table_subcommands(text: &str) -> Vec<Vec<String>> {
    let section = text
        .split("## Command line")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Command line section");
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `rally"))
        .map(|l| {
            l.split('`')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .take_while(|w| {
                    w.starts_with(|c: char| c.is_ascii_lowercase())
                        && w.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                })
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[test]
fn the_readme_commands_are_the_ones_this_test_knows() {
    let commands = sh_commands(&readme());
    assert!(commands.len() >= 5, "{commands:?}");
    for c in &commands {
        assert!(
            runner(c).is_some(),
            "README.md command without a runner in tests/readme.rs: {c:?}"
        );
    }
}

/// How a README command is run here.
#[derive(Debug, PartialEq)]
enum Runner {
    /// `git clone … && cd rally`.
    Checkout,
    /// `cargo run --release`.
    FirstGame,
    /// `cargo run --release -- ARGS`.
    Rally(Vec<String>),
    /// `[VAR=value …] cargo test`.
    TestSuite(Vec<(String, String)>),
}

fn runner(command: &str) -> Option<Runner> {
    if command.starts_with("git clone ") && command.ends_with("&& cd rally") {
        return Some(Runner::Checkout);
    }
    if command == "cargo run --release" {
        return Some(Runner::FirstGame);
    }
    if let Some(args) = command.strip_prefix("cargo run --release -- ") {
        return Some(Runner::Rally(
            args.split_whitespace().map(str::to_string).collect(),
        ));
    }
    let mut env = Vec::new();
    let mut words = command.split_whitespace().peekable();
    while let Some((k, v)) = words.peek().and_then(|w| w.split_once('=')) {
        env.push((k.to_string(), v.to_string()));
        words.next();
    }
    if words.collect::<Vec<_>>() == ["cargo", "test"] {
        return Some(Runner::TestSuite(env));
    }
    None
}

#[test]
fn cargo_test_is_what_ci_runs_with_the_same_variables() {
    let ci =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run")).unwrap();
    assert!(
        ci.contains("\ncargo test --locked\n"),
        ".ci/run runs cargo test"
    );
    let mut suites = 0;
    for c in sh_commands(&readme()) {
        if let Some(Runner::TestSuite(env)) = runner(&c) {
            suites += 1;
            for (k, v) in env {
                assert!(
                    ci.contains(&format!("export {k}=")) && ci.contains(&v),
                    ".ci/run does not set {k}={v}"
                );
            }
        }
    }
    assert!(suites >= 2, "the README shows how to run the tests");
}

#[test]
fn the_checkout_is_what_the_clone_gives() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(root.join("Cargo.toml").is_file() && root.join("web/index.html").is_file());
    assert!(sh_commands(&readme())
        .iter()
        .any(|c| runner(c) == Some(Runner::Checkout)));
}

#[test]
fn every_subcommand_of_the_command_table_exists() {
    let dir = tempfile::tempdir().unwrap();
    let subcommands = table_subcommands(&readme());
    assert!(subcommands.len() >= 8, "{subcommands:?}");
    for sub in subcommands {
        let mut args: Vec<&str> = sub.iter().map(String::as_str).collect();
        args.push("--help");
        let out = common::process::run(dir.path(), &[], &args);
        assert!(
            out.status.success(),
            "rally {args:?}: {}",
            common::process::text(&out.stderr)
        );
    }
}

/// The quick start: what a newcomer does after `cargo run --release`, then the README's other
/// `cargo run --release -- …` commands in the same directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_gets_two_guests_a_game_and_the_other_commands_run() {
    let commands = sh_commands(&readme());
    assert!(commands
        .iter()
        .any(|c| runner(c) == Some(Runner::FirstGame)));
    let dir = tempfile::tempdir().unwrap();
    let rally = Rally::start(dir.path(), &[], &[]);
    let base = format!("http://127.0.0.1:{}", rally.port);
    let http = reqwest::Client::new();

    // The page, and the buttons the README names.
    let page = http.get(&base).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<script"), "{page}");
    let pages = http
        .get(format!("{base}/js/pages.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for button in ["Play as guest", "Quick match"] {
        assert!(pages.contains(button), "no {button:?} in the client");
    }

    // Two guests (two browser windows) are matched and play.
    let mut guests = Vec::new();
    for _ in 0..2 {
        let r = http
            .post(format!("{base}/api/v1/auth/guest"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let b: Value = r.json().await.unwrap();
        guests.push(b["token"].as_str().unwrap().to_string());
    }
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", rally.port).parse().unwrap();
    let (mut a, _) = Client::login(addr, &guests[0]).await;
    let (mut b, _) = Client::login(addr, &guests[1]).await;
    a.send(json!({"type": "queue"})).await;
    b.send(json!({"type": "queue"})).await;
    let room = a.expect("match_found").await["room"].clone();
    assert_eq!(b.expect("match_found").await["room"], room);
    a.send(json!({"type": "join", "room": room})).await;
    b.send(json!({"type": "join", "room": room})).await;
    a.expect("joined").await;
    b.expect("joined").await;
    // The default 3 s countdown, then play: snapshots arrive.
    a.expect_within("snapshot", Duration::from_secs(30)).await;
    a.send(json!({"type": "resign"})).await;
    for c in [&mut a, &mut b] {
        loop {
            match c.next(Duration::from_secs(30)).await {
                Event::Msg(v) if v["type"] == "match_end" => break,
                Event::Msg(_) => {}
                Event::Closed(code) => panic!("closed {code:?} before match_end"),
            }
        }
    }

    // A registered player for `admin grant-organiser alice`.
    let r = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"name": "alice", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let mut ran = 0;
    for c in &commands {
        if let Some(Runner::Rally(args)) = runner(c) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = common::process::run(dir.path(), &[], &args);
            assert!(
                out.status.success(),
                "{c}: {}",
                common::process::text(&out.stderr)
            );
            ran += 1;
        }
    }
    assert!(ran >= 2, "{commands:?}");
    rally.stop();
}
