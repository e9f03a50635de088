//! Accounts and tokens over real HTTP, on SQLite and Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{assert_error, Backend, TestServer};
use serde_json::json;

async fn register_login_me_logout(s: TestServer) {
    let (st, b) = s
        .post(
            "/api/v1/auth/register",
            None,
            json!({"name": "Alice", "password": "correct-horse"}),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["player"]["name"], "Alice");
    assert_eq!(b["player"]["role"], "player");
    assert_eq!(b["player"]["guest"], false);
    let id = b["player"]["id"].as_str().unwrap().to_string();
    let t1 = b["token"].as_str().unwrap().to_string();

    // Login is case-insensitive on the name.
    let (st, b) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"name": "alice", "password": "correct-horse"}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["player"]["id"], id.as_str());
    let t2 = b["token"].as_str().unwrap().to_string();

    let (st, me) = s.get("/api/v1/me", Some(&t2)).await;
    assert_eq!(st, 200);
    assert_eq!(me["id"], id.as_str());
    assert_eq!(me["rating"], 1500);

    // Logout revokes only the presented token.
    let (st, _) = s.post("/api/v1/auth/logout", Some(&t2), json!({})).await;
    assert_eq!(st, 204);
    let (st, b) = s.get("/api/v1/me", Some(&t2)).await;
    assert_error(st, &b, 401, "unauthorized");
    let (st, _) = s.get("/api/v1/me", Some(&t1)).await;
    assert_eq!(st, 200);

    // Refresh: new token works, the old one is revoked.
    let (st, b) = s.post("/api/v1/auth/refresh", Some(&t1), json!({})).await;
    assert_eq!(st, 200, "{b}");
    let t3 = b["token"].as_str().unwrap().to_string();
    assert_ne!(t3, t1);
    assert_eq!(s.get("/api/v1/me", Some(&t3)).await.0, 200);
    assert_eq!(s.get("/api/v1/me", Some(&t1)).await.0, 401);
}
both_backends!(register_login_me_logout);

async fn wrong_credentials_answer_the_same(s: TestServer) {
    s.register("bob").await;
    let (st1, b1) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"name": "bob", "password": "wrong-password"}),
        )
        .await;
    let (st2, b2) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"name": "nobody", "password": "wrong-password"}),
        )
        .await;
    assert_error(st1, &b1, 401, "unauthorized");
    assert_eq!(
        (st1, &b1),
        (st2, &b2),
        "answers must not reveal whether the name exists"
    );
}
both_backends!(wrong_credentials_answer_the_same);

async fn names_are_unique_case_insensitively(s: TestServer) {
    s.register("Carol").await;
    let (st, b) = s
        .post(
            "/api/v1/auth/register",
            None,
            json!({"name": "cAROL", "password": "correct-horse"}),
        )
        .await;
    assert_error(st, &b, 409, "conflict");
    let (st, b) = s
        .post("/api/v1/auth/guest", None, json!({"name": "carol"}))
        .await;
    assert_error(st, &b, 409, "conflict");
}
both_backends!(names_are_unique_case_insensitively);

async fn guests_play_and_upgrade_keeping_their_id(s: TestServer) {
    let (st, b) = s.post("/api/v1/auth/guest", None, json!({})).await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["player"]["role"], "guest");
    assert_eq!(b["player"]["guest"], true);
    let id = b["player"]["id"].as_str().unwrap().to_string();
    let gt = b["token"].as_str().unwrap().to_string();
    // A guest without a body works too, and a named guest keeps the name.
    let resp = s
        .http
        .post(s.url("/api/v1/auth/guest"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let (st, b) = s
        .post("/api/v1/auth/guest", None, json!({"name": "visitor_1"}))
        .await;
    assert_eq!(st, 201);
    assert_eq!(b["player"]["name"], "visitor_1");

    let (st, b) = s
        .post(
            "/api/v1/auth/upgrade",
            Some(&gt),
            json!({"name": "Dana", "password": "correct-horse"}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["player"]["id"], id.as_str());
    assert_eq!(b["player"]["role"], "player");
    let pt = b["token"].as_str().unwrap().to_string();
    // The guest token no longer works; the new one does; login with the new password works.
    assert_eq!(s.get("/api/v1/me", Some(&gt)).await.0, 401);
    assert_eq!(s.get("/api/v1/me", Some(&pt)).await.1["name"], "Dana");
    let (st, b) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"name": "dana", "password": "correct-horse"}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(b["player"]["id"], id.as_str());
    // A registered player cannot "upgrade" again.
    let (st, b) = s
        .post(
            "/api/v1/auth/upgrade",
            Some(&pt),
            json!({"name": "Dana2", "password": "correct-horse"}),
        )
        .await;
    assert_error(st, &b, 409, "conflict");
}
both_backends!(guests_play_and_upgrade_keeping_their_id);

async fn organiser_role_and_its_revocation(s: TestServer) {
    let t = s.register("Erin").await;
    // A player token is refused on an organiser-only operation.
    let claims = rally::auth::check_token(
        load_key(&s).public(),
        &t,
        rally::auth::Operation::Admin,
        "/api/v1/admin",
    );
    assert_eq!(claims.unwrap_err().kind, rally::error::ErrorKind::Forbidden);

    let out = s.rally_cli(&["admin", "grant-organiser", "erin"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The old token carries the old role: refused.
    assert_eq!(s.get("/api/v1/me", Some(&t)).await.0, 401);
    let (st, b) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"name": "erin", "password": "correct-horse"}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(b["player"]["role"], "organiser");
    let ot = b["token"].as_str().unwrap().to_string();
    assert_eq!(s.get("/api/v1/me", Some(&ot)).await.0, 200);

    let out = s.rally_cli(&["admin", "revoke-organiser", "Erin"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (st, b) = s.get("/api/v1/me", Some(&ot)).await;
    assert_error(st, &b, 401, "unauthorized");
    // Unknown names fail with a clear message.
    let out = s.rally_cli(&["admin", "grant-organiser", "nobody"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no player named"));
}
both_backends!(organiser_role_and_its_revocation);

fn load_key(s: &TestServer) -> rally::auth::RootKey {
    let text = std::fs::read_to_string(s.dir.path().join("root.key")).unwrap();
    rally::auth::RootKey::from_hex(&text).unwrap()
}

async fn forged_attenuated_and_malformed_tokens(s: TestServer) {
    let t = s.register("Frank").await;
    // Forged: signed by another key.
    let other = rally::auth::RootKey::generate();
    let me = s.get("/api/v1/me", Some(&t)).await.1;
    let forged = rally::auth::issue(
        &other,
        me["id"].as_str().unwrap(),
        rally::db::players::Role::Organiser,
        0,
        std::time::Duration::from_secs(600),
    )
    .unwrap();
    let refused = s
        .metric("rally_auth_failures_total", &[("reason", "invalid_token")])
        .await;
    let (st, b) = s.get("/api/v1/me", Some(&forged)).await;
    assert_error(st, &b, 401, "unauthorized");
    assert!(
        s.metric("rally_auth_failures_total", &[("reason", "invalid_token")])
            .await
            > refused
    );
    // Garbage and missing headers.
    let (st, b) = s.get("/api/v1/me", Some("not-a-token")).await;
    assert_error(st, &b, 401, "unauthorized");
    let (st, b) = s.get("/api/v1/me", None).await;
    assert_error(st, &b, 401, "unauthorized");

    // Attenuated with the CLI to spectate-only: account operations are now forbidden...
    let out = s.rally_cli(&[
        "token",
        "attenuate",
        "--token",
        &t,
        "--check",
        r#"check if operation($op), ["connect", "spectate"].contains($op)"#,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let narrowed = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let (st, b) = s.get("/api/v1/me", Some(&narrowed)).await;
    assert_error(st, &b, 403, "forbidden");
    // ...and a block that claims organiser does not widen anything.
    let widened =
        rally::auth::attenuate(&t, r#"role("organiser"); right("player", "admin");"#).unwrap();
    let key = load_key(&s);
    let e = rally::auth::check_token(key.public(), &widened, rally::auth::Operation::Admin, "x")
        .unwrap_err();
    assert_eq!(e.kind, rally::error::ErrorKind::Forbidden);
    // The widened token still works for what the original allowed.
    assert_eq!(s.get("/api/v1/me", Some(&widened)).await.0, 200);
}
both_backends!(forged_attenuated_and_malformed_tokens);

async fn bad_input_gets_json_errors(s: TestServer) {
    let cases = [
        (
            json!({"name": "ab", "password": "correct-horse"}),
            400,
            "validation",
        ),
        (
            json!({"name": "has space", "password": "correct-horse"}),
            400,
            "validation",
        ),
        (
            json!({"name": "x".repeat(21), "password": "correct-horse"}),
            400,
            "validation",
        ),
        (
            json!({"name": "gina", "password": "short"}),
            400,
            "validation",
        ),
        (json!({"name": "gina"}), 400, "invalid_json"),
        (
            json!({"name": 5, "password": "correct-horse"}),
            400,
            "invalid_json",
        ),
        (json!([1, 2]), 400, "invalid_json"),
    ];
    for (body, status, code) in cases {
        let (st, b) = s.post("/api/v1/auth/register", None, body.clone()).await;
        assert_error(st, &b, status, code);
    }
    // Not JSON at all.
    let resp = s
        .http
        .post(s.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (st, b) = TestServer::read(resp).await;
    assert_error(st, &b, 400, "invalid_json");
    // Too large.
    let big = json!({"name": "gina", "password": "x".repeat(64 * 1024)});
    let (st, b) = s.post("/api/v1/auth/register", None, big).await;
    assert_error(st, &b, 413, "payload_too_large");
    // Unknown API route.
    let (st, b) = s.get("/api/v1/does-not-exist", None).await;
    assert_error(st, &b, 404, "not_found");
    // Nothing was created by any of the above.
    let (st, _) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"name": "gina", "password": "correct-horse"}),
        )
        .await;
    assert_eq!(st, 401);
}
both_backends!(bad_input_gets_json_errors);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_rate_limited_per_address() {
    let s = TestServer::start(Backend::Sqlite, &["--auth-rate-per-minute", "3"])
        .await
        .unwrap();
    for _ in 0..3 {
        let (st, _) = s
            .post(
                "/api/v1/auth/login",
                None,
                json!({"name": "nobody", "password": "whatever1"}),
            )
            .await;
        assert_eq!(st, 401);
    }
    let resp = s
        .http
        .post(s.url("/api/v1/auth/login"))
        .json(&json!({"name": "nobody", "password": "whatever1"}))
        .send()
        .await
        .unwrap();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (st, b) = TestServer::read(resp).await;
    assert_error(st, &b, 429, "rate_limited");
    assert!(
        retry.is_some_and(|r| (1..=60).contains(&r)),
        "Retry-After: {retry:?}"
    );
    // Register and guest share the limit.
    let (st, _) = s.post("/api/v1/auth/guest", None, json!({})).await;
    assert_eq!(st, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_metrics_and_request_ids() {
    let s = TestServer::start(Backend::Sqlite, &[]).await.unwrap();
    let (st, b) = s.get("/healthz", None).await;
    assert_eq!((st, b["status"].as_str()), (200, Some("ok")));
    let (st, b) = s.get("/readyz", None).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["database"], "ok");
    assert_eq!(b["redis"], "not_configured");
    s.register("henry").await;
    let resp = s.http.get(s.url("/api/v1/me")).send().await.unwrap();
    assert!(resp.headers().get("x-request-id").is_some());
    let text = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The route label is the pattern, and the counters that may stay at zero are present.
    assert!(
        text.lines()
            .any(|l| l.starts_with("rally_http_requests_total")
                && l.contains("route=\"/api/v1/auth/register\"")
                && l.contains("status=\"201\"")),
        "{text}"
    );
    assert!(text.contains("rally_http_request_duration_seconds_bucket"));
    assert!(text.contains("rally_auth_rate_limited_total"));
    assert!(
        text.contains("rally_process_resident_memory_bytes"),
        "process collector missing"
    );
    // Ops check: `rally healthcheck` against the running server.
    let out = s.rally_cli(&["healthcheck", "--url", &s.base]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_fails_clearly_when_the_database_is_unreachable() {
    // An unreachable database makes start-up fail with the driver's own message.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("root.key");
    std::fs::write(&key, rally::auth::RootKey::generate().to_hex()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(["serve"])
        .env("RALLY_DATABASE_URL", "postgres://127.0.0.1:1/none")
        .env("RALLY_REDIS_URL", "redis://127.0.0.1:1")
        .env("RALLY_ROOT_KEY_FILE", &key)
        .env("RALLY_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect to the database"), "{err}");
}
