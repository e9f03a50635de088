//! A role change made with `rally admin` while the player is connected reaches their live
//! session: an `account` message with the new role and a fresh token for it (none for a
//! session whose token was attenuated), on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ws::{Client, Event};
use common::{Backend, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

/// Role changes are polled every 2 s (rally::roles::POLL_INTERVAL); this leaves room for a
/// loaded machine without waiting for nothing.
const PUSH_WITHIN: Duration = Duration::from_secs(20);

fn cli_ok(s: &TestServer, args: &[&str]) {
    let out = s.rally_cli(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private room's join code.
async fn room_code(s: &TestServer, token: &str) -> String {
    let (st, b) = s.post("/api/v1/rooms", Some(token), json!({})).await;
    assert_eq!(st, 201, "{b}");
    b["code"].as_str().unwrap().to_string()
}

async fn audit_actions(s: &TestServer, token: &str) -> Vec<Value> {
    let (st, b) = s.get("/api/v1/admin/audit", Some(token)).await;
    assert_eq!(st, 200, "{b}");
    b["items"].as_array().unwrap().clone()
}

async fn role_changes_reach_the_live_session(s: TestServer) {
    let (token, id) = s.register_with_id("dana").await;
    let (mut ws, welcome) = Client::login(s.addr, &token).await;
    assert_eq!(welcome["player"]["role"], "player");

    cli_ok(&s, &["admin", "grant-organiser", "dana"]);
    let account = ws.expect_within("account", PUSH_WITHIN).await;
    assert_eq!(account["player"]["id"], id.as_str());
    assert_eq!(account["player"]["role"], "organiser");
    let organiser = account["token"]
        .as_str()
        .expect("a fresh token")
        .to_string();
    // The fresh token is an organiser's; the one the player signed in with no longer works.
    let (st, me) = s.get("/api/v1/me", Some(&organiser)).await;
    assert_eq!((st, me["role"].as_str()), (200, Some("organiser")), "{me}");
    assert_eq!(s.get("/api/v1/me", Some(&token)).await.0, 401);
    let audit = audit_actions(&s, &organiser).await;
    let entry = audit
        .iter()
        .find(|a| a["action"] == "player.grant_organiser")
        .unwrap_or_else(|| panic!("no audit entry: {audit:?}"));
    assert_eq!(entry["target"], id.as_str());
    assert_eq!(entry["actor_name"], "rally admin (command line)");
    // The session goes on with the new token: joining a room re-checks it.
    let code = room_code(&s, &organiser).await;
    ws.send(json!({"type": "join", "code": code})).await;
    ws.expect("joined").await;

    cli_ok(&s, &["admin", "revoke-organiser", "dana"]);
    let account = ws.expect_within("account", PUSH_WITHIN).await;
    assert_eq!(account["player"]["role"], "player");
    let player = account["token"]
        .as_str()
        .expect("a fresh token")
        .to_string();
    let (st, _) = s.get("/api/v1/admin/audit", Some(&player)).await;
    assert_eq!(st, 403);
    assert_eq!(s.get("/api/v1/me", Some(&organiser)).await.0, 401);
    assert_eq!(s.get("/api/v1/me", Some(&player)).await.0, 200);
    // One message per change: nothing more arrives over a few more polls.
    tokio::time::sleep(3 * rally::roles::POLL_INTERVAL).await;
    ws.send(json!({"type": "ping", "id": 1, "client_time": 0}))
        .await;
    loop {
        match ws.next(PUSH_WITHIN).await {
            Event::Msg(v) if v["type"] == "pong" => break,
            Event::Msg(v) => assert_ne!(v["type"], "account", "pushed twice: {v}"),
            Event::Closed(c) => panic!("closed {c:?}"),
        }
    }
}
both_backends!(role_changes_reach_the_live_session);

async fn an_attenuated_session_is_not_given_a_wider_token(s: TestServer) {
    let (token, _) = s.register_with_id("erin").await;
    let code = room_code(&s, &token).await;
    // A token narrowed to connecting and spectating.
    let narrowed = rally::auth::attenuate(
        &token,
        r#"check if operation($op), ["connect", "spectate"].contains($op);"#,
    )
    .unwrap();
    let (mut ws, _) = Client::login(s.addr, &narrowed).await;

    cli_ok(&s, &["admin", "grant-organiser", "erin"]);
    let account = ws.expect_within("account", PUSH_WITHIN).await;
    assert_eq!(account["player"]["role"], "organiser");
    assert!(account["token"].is_null(), "{account}");
    // Its own token is outdated now, and is still what the session is checked with.
    ws.send(json!({"type": "spectate", "code": code})).await;
    ws.expect_error("unauthorized").await;
}
both_backends!(an_attenuated_session_is_not_given_a_wider_token);
