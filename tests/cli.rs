//! The binary itself: the embedded default starts with nothing else installed, settings follow
//! their subcommand and are listed by its `--help`, bad configuration fails naming the
//! variable, the commands that use the server's database find it and never create an empty
//! one, shutdown on SIGTERM is graceful.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::process::{free_port, run, text, Rally};
use serde_json::json;

#[test]
fn default_config_serves_healthz_from_an_empty_directory_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let rally = Rally::start(dir.path(), &[], &[]);
    assert!(rally.get("/healthz").contains("\"ok\""));
    // The embedded defaults created the database and a root key in ./data.
    assert!(dir.path().join("data/rally.db").exists());
    assert!(dir.path().join("data/root.key").exists());
    rally.stop();
}

#[test]
fn settings_are_given_after_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state");
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let rally = Rally::spawn(
        dir.path(),
        &[],
        &[
            "serve",
            "--bind",
            &bind,
            "--data-dir",
            data.to_str().unwrap(),
            "--points-to-win",
            "2",
        ],
        port,
    );
    // --data-dir holds the database and the generated key; nothing lands in ./data.
    assert!(data.join("rally.db").is_file());
    assert!(data.join("root.key").is_file());
    assert!(!dir.path().join("data").exists());
    rally.stop();
}

#[test]
fn each_subcommand_help_lists_its_settings_with_variable_and_default() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (
            &["serve", "--help"],
            &[
                "--bind <BIND>",
                "[env: RALLY_BIND=",
                "[default: 127.0.0.1:8080]",
                "--data-dir",
                "[env: RALLY_DATA_DIR=",
                "[env: RALLY_DATABASE_URL=",
                "--points-to-win",
                "[env: RALLY_POINTS_TO_WIN=",
                "[default: 5]",
                "[env: RALLY_DRAIN_TIMEOUT=",
                "[env: RALLY_LOG_FORMAT=",
            ],
            &[],
        ),
        (
            &["migrate", "--help"],
            &[
                "--create",
                "--data-dir",
                "[default: data]",
                "--database-url",
                "[env: RALLY_DATABASE_URL=",
                "[env: RALLY_LOG=",
            ],
            &["--tick-hz", "--bind"],
        ),
        (
            &["admin", "grant-organiser", "--help"],
            &["<NAME>", "--data-dir", "[env: RALLY_DATABASE_URL="],
            &["--tick-hz", "--bind"],
        ),
        (
            &["admin", "revoke-organiser", "--help"],
            &["<NAME>", "--data-dir", "[env: RALLY_DATABASE_URL="],
            &["--tick-hz"],
        ),
        (
            &["replay", "verify", "--help"],
            &["--data-dir", "[env: RALLY_DATABASE_URL="],
            &["--tick-hz"],
        ),
        (
            &["healthcheck", "--help"],
            &["--url", "--bind", "[env: RALLY_BIND="],
            &["--database-url"],
        ),
        (
            &["loadgen", "--help"],
            &["--rooms", "--log <LOG>", "[env: RALLY_LOG="],
            &["--database-url", "--tick-hz"],
        ),
    ];
    for (args, present, absent) in cases {
        let out = run(dir.path(), &[], args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        let help = text(&out.stdout);
        for needle in *present {
            assert!(help.contains(needle), "{args:?} lacks {needle:?}:\n{help}");
        }
        for needle in *absent {
            assert!(!help.contains(needle), "{args:?} has {needle:?}:\n{help}");
        }
    }
}

#[test]
fn bad_configuration_fails_with_the_variable_named() {
    let dir = tempfile::tempdir().unwrap();
    for (env, args, needle) in [
        (("RALLY_TOKEN_TTL", "soon"), &[][..], "RALLY_TOKEN_TTL"),
        (
            ("RALLY_POINTS_TO_WIN", "abc"),
            &[][..],
            "RALLY_POINTS_TO_WIN",
        ),
        (
            ("RALLY_POINTS_TO_WIN", "abc"),
            &["serve"][..],
            "RALLY_POINTS_TO_WIN",
        ),
        (
            ("RALLY_SESSION_QUEUE", "-3"),
            &["serve"][..],
            "RALLY_SESSION_QUEUE",
        ),
        (
            ("RALLY_REDIS_URL", "redis://127.0.0.1:6379"),
            &[][..],
            "SQLite",
        ),
        (
            ("RALLY_LOG_FORMAT", "xml"),
            &["migrate"][..],
            "RALLY_LOG_FORMAT",
        ),
        (
            ("RALLY_DATABASE_URL", "mysql://x"),
            &["admin", "grant-organiser", "x"][..],
            "RALLY_DATABASE_URL",
        ),
    ] {
        let out = run(dir.path(), &[env], args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{env:?} {args:?}: {err}");
        assert!(err.contains(needle), "{env:?} {args:?}: {err}");
    }
    // The same value given as a flag names the variable and the flag.
    let out = run(dir.path(), &[], &["serve", "--points-to-win", "abc"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("RALLY_POINTS_TO_WIN (--points-to-win)"));
    // Nothing was created by any of these.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn database_commands_refuse_a_missing_database_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let looked_at = std::path::absolute(dir.path().join("data/rally.db")).unwrap();
    for args in [
        &["admin", "grant-organiser", "alice"][..],
        &["admin", "revoke-organiser", "alice"][..],
        &["migrate"][..],
        &["replay", "verify", "01JDKZ5J9A1W2E3R4T5Y6V7X8Z"][..],
    ] {
        let out = run(dir.path(), &[], args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!("no database at {}", looked_at.display())),
            "{args:?}: {err}"
        );
        assert!(!dir.path().join("data").exists(), "{args:?} created data/");
    }
    let out = run(dir.path(), &[], &["migrate"]);
    assert!(text(&out.stderr).contains("--create"));

    // An empty file (as an older version of this command left behind) is not a database.
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/rally.db"), b"").unwrap();
    let out = run(dir.path(), &[], &["admin", "grant-organiser", "alice"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("has no rally tables"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("data/rally.db"))
            .unwrap()
            .len(),
        0,
        "the refused command changed the file"
    );
}

#[test]
fn migrate_create_makes_a_database_the_admin_commands_then_accept() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &[], &["migrate", "--create"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("applied"));
    assert!(dir.path().join("data/rally.db").is_file());
    let out = run(dir.path(), &[], &["migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("applied 0 migration(s)"));
    let out = run(dir.path(), &[], &["admin", "grant-organiser", "alice"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no player named \"alice\""));
}

#[test]
fn admin_commands_find_the_server_database_from_any_directory() {
    let server_dir = tempfile::tempdir().unwrap();
    let data = server_dir.path().join("data");
    let rally = Rally::start(server_dir.path(), &[], &[]);
    let (status, body) = rally.post_json(
        "/api/v1/auth/register",
        &json!({"name": "alice", "password": "correct horse"}),
    );
    assert_eq!(status, 201, "{body}");

    // Elsewhere, the server's data directory (variable, then flag) or its database URL.
    let elsewhere = tempfile::tempdir().unwrap();
    let data_dir = data.to_str().unwrap();
    let url = format!("sqlite://{}", data.join("rally.db").display());
    for (env, args, said) in [
        (
            vec![("RALLY_DATA_DIR", data_dir)],
            vec!["admin", "grant-organiser", "alice"],
            "alice is now organiser",
        ),
        (
            vec![],
            vec!["admin", "revoke-organiser", "alice", "--data-dir", data_dir],
            "alice is now player",
        ),
        (
            vec![("RALLY_DATABASE_URL", url.as_str())],
            vec!["admin", "grant-organiser", "ALICE"],
            "alice is now organiser",
        ),
    ] {
        let out = run(elsewhere.path(), &env, &args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains(said), "{}", text(&out.stdout));
    }
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);

    // The running server sees the role.
    let (status, body) = rally.post_json(
        "/api/v1/auth/login",
        &json!({"name": "alice", "password": "correct horse"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["player"]["role"], "organiser");
    rally.stop();
}

#[test]
fn healthcheck_fails_when_nothing_listens() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = run(
        dir.path(),
        &[],
        &["healthcheck", "--url", &format!("http://127.0.0.1:{port}")],
    );
    assert!(!out.status.success());
    let out = run(
        dir.path(),
        &[],
        &["healthcheck", "--bind", &format!("127.0.0.1:{port}")],
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains(&format!("127.0.0.1:{port}/readyz")));
}

#[test]
fn concurrent_migrations_on_postgres_are_serialised() {
    let Some(admin) = common::postgres_admin_url() else {
        return;
    };
    let pg = common::PgDatabase::create(&admin);
    let dir = tempfile::tempdir().unwrap();
    // Several instances starting together (the pods of a Deployment) all migrate at start.
    let children: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_rally"))
                .current_dir(dir.path())
                .env_clear()
                .env("RALLY_DATABASE_URL", &pg.url)
                .arg("migrate")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        applied.push(text(&out.stdout));
    }
    // Exactly one of them applied the migrations; the others found nothing pending.
    let fresh = applied
        .iter()
        .filter(|o| !o.contains("applied 0 migration(s)"))
        .count();
    assert_eq!(fresh, 1, "{applied:?}");
}
