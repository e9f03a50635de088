//! Helpers for tournament tests: an organiser account, tournament creation, and direct reads
//! of the match rows (to check that no result is lost or doubled).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use super::bot::{self, Account};
use super::TestServer;
use diesel::prelude::*;
use serde_json::{json, Value};

/// Test-sized engine settings: 1 point, short countdown and windows, and a time limit as a
/// backstop for two bots that keep the ball in play (a draw goes to the better seed).
pub const FAST: &[&str] = &[
    "--points-to-win",
    "1",
    "--countdown",
    "200ms",
    "--reconnect-grace",
    "1500ms",
    "--join-window",
    "1s",
    "--room-linger",
    "500ms",
    "--max-match-duration",
    "8s",
];

/// Register `name`, make it an organiser with the CLI, and log in again (the role change
/// invalidated the first token). Returns the organiser's token.
pub async fn organiser(s: &TestServer, name: &str) -> String {
    s.register(name).await;
    let out = s.rally_cli(&["admin", "grant-organiser", name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bot::login(&s.http, &s.base, name).await
}

/// Create a tournament (merging `extra` into a minimal body) and return its view.
pub async fn create(s: &TestServer, org: &str, extra: Value) -> Value {
    let mut body =
        json!({"name": "Cup", "game": "pong", "format": "single_elimination", "capacity": 8});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (st, b) = s.post("/api/v1/admin/tournaments", Some(org), body).await;
    assert_eq!(st, 201, "{b}");
    b
}

/// Register `n` players named `{prefix}{i}`, each joining tournament `id`.
pub async fn entrants(s: &TestServer, id: &str, prefix: &str, n: usize) -> Vec<Account> {
    let mut out = Vec::new();
    for i in 0..n {
        let a = bot::register(&s.http, &s.base, &format!("{prefix}{i}")).await;
        let (st, b) = s
            .post(
                &format!("/api/v1/tournaments/{id}/join"),
                Some(&a.token),
                json!({}),
            )
            .await;
        assert_eq!(st, 200, "{b}");
        out.push(a);
    }
    out
}

/// POST an admin action (`open`, `close`, `start`, `cancel`) and expect 200.
pub async fn admin(s: &TestServer, org: &str, id: &str, action: &str) -> Value {
    let (st, b) = s
        .post(
            &format!("/api/v1/admin/tournaments/{id}/{action}"),
            Some(org),
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{action}: {b}");
    b
}

/// A tournament match row: (slot, status, end_reason, winner_seat).
pub type Row = (String, String, Option<String>, Option<i64>);

/// Every match row of tournament `id`, read straight from the database at `url`.
pub fn match_rows(url: &str, id: &str) -> Vec<Row> {
    use rally::db::schema::matches::dsl as m;
    let db = rally::db::Db::open(&rally::config::DatabaseUrl::parse(url).unwrap(), 1).unwrap();
    db.run_sync(|c| {
        Ok(m::matches
            .filter(m::tournament_id.eq(id))
            .select((m::tournament_slot, m::status, m::end_reason, m::winner_seat))
            .order(m::created_at)
            .load::<(Option<String>, String, Option<String>, Option<i64>)>(c)?
            .into_iter()
            .map(|(slot, st, reason, w)| (slot.unwrap_or_default(), st, reason, w))
            .collect())
    })
    .unwrap()
}

/// Check that every slot of a finished tournament has exactly one finished row and that the
/// view's bracket agrees; returns the number of finished rows.
pub fn assert_one_result_per_slot(rows: &[Row], view: &Value) -> usize {
    let finished: Vec<&Row> = rows.iter().filter(|r| r.1 == "finished").collect();
    let mut slots: Vec<&str> = finished.iter().map(|r| r.0.as_str()).collect();
    slots.sort();
    let before = slots.len();
    slots.dedup();
    assert_eq!(before, slots.len(), "a slot has two results: {rows:?}");
    let mut keys: Vec<String> = view["bracket"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["matches"].as_array().unwrap().clone())
        .map(|m| {
            assert_eq!(m["state"], "finished", "{m}");
            m["key"].as_str().unwrap().to_string()
        })
        .collect();
    keys.sort();
    assert_eq!(slots, keys, "rows and bracket disagree");
    before
}
