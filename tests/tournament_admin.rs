//! Tournament administration over HTTP: the authorization matrix of every admin endpoint
//! (anonymous 401, guest 403, player 403, organiser ok), and invalid transitions refused with a
//! JSON error and no state change. SQLite and Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::tournament::{create, organiser};
use common::{assert_error, Backend, TestServer};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

async fn call(
    s: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut req = s.http.request(method.clone(), s.url(path));
    if method != Method::GET {
        req = req.json(body);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    TestServer::read(req.send().await.unwrap()).await
}

/// Every admin endpoint, in an order in which an organiser can call each successfully.
fn endpoints(id: &str, pid: &str, mid: &str, winner: &str) -> Vec<(Method, String, Value)> {
    let t = format!("/api/v1/admin/tournaments/{id}");
    vec![
        (
            Method::POST,
            "/api/v1/admin/tournaments".into(),
            json!({"name": "Matrix", "game": "pong", "format": "single_elimination", "capacity": 4}),
        ),
        (Method::PUT, format!("{t}/seeding"), json!({"players": []})),
        (Method::POST, format!("{t}/open"), json!({})),
        (Method::POST, format!("{t}/close"), json!({})),
        (
            Method::POST,
            format!("{t}/players/{pid}/disqualify"),
            json!({}),
        ),
        (Method::POST, format!("{t}/start"), json!({})),
        (
            Method::POST,
            format!("{t}/matches/{mid}/result"),
            json!({"winner": winner}),
        ),
        (Method::POST, format!("{t}/cancel"), json!({})),
        (Method::GET, "/api/v1/admin/audit".into(), json!({})),
    ]
}

async fn authorization_matrix(s: TestServer) {
    let org = organiser(&s, "matrixorg").await;
    let player = s.register("matrixplayer").await;
    let guest = s.guest().await;
    let id = create(
        &s,
        &org,
        json!({"name": "Target", "capacity": 4, "no_show_timeout_ms": 60000}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let fake = "01J0000000000000000000000";
    // Anonymous, guest and player callers are refused before anything else is looked at.
    for (method, path, body) in endpoints(&id, fake, fake, fake) {
        let (st, b) = call(&s, method.clone(), &path, None, &body).await;
        assert_error(st, &b, 401, "unauthorized");
        for token in [&guest, &player] {
            let (st, b) = call(&s, method.clone(), &path, Some(token), &body).await;
            assert_error(st, &b, 403, "forbidden");
        }
    }
    let (_, v) = s.get(&format!("/api/v1/tournaments/{id}"), None).await;
    assert_eq!(v["status"], "draft", "refused calls changed nothing");

    // The organiser: every endpoint succeeds, in order.
    let mut players = Vec::new();
    for i in 0..4 {
        let name = format!("matrix{i}");
        let token = s.register(&name).await;
        let me = s.get("/api/v1/me", Some(&token)).await.1;
        players.push((token, me["id"].as_str().unwrap().to_string()));
    }
    let mut tournament = String::new();
    let mut mid = fake.to_string();
    let mut winner = fake.to_string();
    for i in 0..endpoints(fake, fake, fake, fake).len() {
        // Rebuilt with what the earlier steps produced.
        let (method, path, body) = endpoints(&tournament, &players[3].1, &mid, &winner)[i].clone();
        let (st, b) = call(&s, method.clone(), &path, Some(&org), &body).await;
        assert!(st == 200 || st == 201, "{method} {path}: {st} {b}");
        match i {
            0 => tournament = b["id"].as_str().unwrap().to_string(),
            2 => {
                for (token, _) in &players {
                    let (st, b) = s
                        .post(
                            &format!("/api/v1/tournaments/{tournament}/join"),
                            Some(token),
                            json!({}),
                        )
                        .await;
                    assert_eq!(st, 200, "{b}");
                }
            }
            5 => {
                // Three entrants left: seed 1 has a bye, 2 v 3 gets a room.
                let deadline = std::time::Instant::now() + Duration::from_secs(20);
                loop {
                    let (_, v) = s
                        .get(&format!("/api/v1/tournaments/{tournament}"), None)
                        .await;
                    let m = &v["bracket"][0]["matches"][0];
                    if let Some(id) = m["match_id"].as_str() {
                        mid = id.to_string();
                        winner = m["players"][0]["id"].as_str().unwrap().to_string();
                        break;
                    }
                    assert!(std::time::Instant::now() < deadline, "no room: {v}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            6 => assert_eq!(b["bracket"][0]["matches"][0]["result"]["reason"], "settled"),
            7 => assert_eq!(b["status"], "cancelled"),
            8 => {
                let actions: Vec<&str> = b["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["tournament_id"] == tournament.as_str())
                    .map(|e| e["action"].as_str().unwrap())
                    .collect();
                assert_eq!(
                    actions,
                    [
                        "tournament.cancel",
                        "tournament.settle_match",
                        "tournament.start",
                        "tournament.disqualify",
                        "tournament.close",
                        "tournament.open",
                        "tournament.seeding",
                        "tournament.create"
                    ]
                );
            }
            _ => {}
        }
    }
    // Joining needs a registered player: guests 403, anonymous 401.
    let (st, b) = s
        .post(
            &format!("/api/v1/tournaments/{id}/join"),
            Some(&guest),
            json!({}),
        )
        .await;
    assert_error(st, &b, 403, "forbidden");
    let (st, b) = s
        .post(&format!("/api/v1/tournaments/{id}/join"), None, json!({}))
        .await;
    assert_error(st, &b, 401, "unauthorized");
}
both_backends!(authorization_matrix);

async fn invalid_transitions_change_nothing(s: TestServer) {
    let org = organiser(&s, "strictorg").await;
    // Bad creation bodies.
    for (body, code) in [
        (
            json!({"game": "pong", "format": "round_robin", "capacity": 4}),
            "invalid_json",
        ),
        (
            json!({"name": "X", "game": "pong", "format": "swiss", "capacity": 4}),
            "validation",
        ),
        (
            json!({"name": "X", "game": "chess", "format": "round_robin", "capacity": 4}),
            "validation",
        ),
        (
            json!({"name": "X", "game": "pong", "format": "round_robin", "capacity": 1}),
            "validation",
        ),
        (
            json!({"name": "X", "game": "pong", "format": "round_robin", "capacity": 200}),
            "validation",
        ),
        (
            json!({"name": "X", "game": "pong", "format": "round_robin", "capacity": 4, "third_place": true}),
            "validation",
        ),
        (
            json!({"name": "X", "game": "pong", "format": "round_robin", "capacity": 4, "points_to_win": 0}),
            "validation",
        ),
        (
            json!({"name": "X", "game": "pong", "format": "round_robin", "capacity": 4, "tick_hz": 1000}),
            "validation",
        ),
        (
            json!({"name": "X", "game": "pong", "format": "round_robin", "capacity": 4, "no_show_timeout_ms": 5}),
            "validation",
        ),
        (
            json!({"name": " ", "game": "pong", "format": "round_robin", "capacity": 4}),
            "validation",
        ),
        (
            json!({"name": "X", "game": "pong", "format": "round_robin", "capacity": 4, "colour": "red"}),
            "invalid_json",
        ),
    ] {
        let (st, b) = s
            .post("/api/v1/admin/tournaments", Some(&org), body.clone())
            .await;
        assert_error(st, &b, 400, code);
    }
    let (_, list) = s.get("/api/v1/tournaments", None).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );

    let t = create(&s, &org, json!({"name": "Strict", "capacity": 4})).await;
    let id = t["id"].as_str().unwrap().to_string();
    let url = |a: &str| format!("/api/v1/admin/tournaments/{id}/{a}");
    let join = format!("/api/v1/tournaments/{id}/join");
    let leave = format!("/api/v1/tournaments/{id}/leave");
    let alice = s.register("alice-t").await;
    let alice_id = s.get("/api/v1/me", Some(&alice)).await.1["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Draft: nothing but open and seeding.
    for action in ["close", "start"] {
        let (st, b) = s.post(&url(action), Some(&org), json!({})).await;
        assert_error(st, &b, 409, "conflict");
    }
    let (st, b) = s.post(&join, Some(&alice), json!({})).await;
    assert_error(st, &b, 409, "conflict");
    let (st, b) = s.post(&leave, Some(&alice), json!({})).await;
    assert_error(st, &b, 409, "conflict");
    assert_eq!(s.post(&url("open"), Some(&org), json!({})).await.0, 200);
    let (st, b) = s.post(&url("open"), Some(&org), json!({})).await;
    assert_error(st, &b, 409, "conflict");
    // Joining twice is harmless.
    for _ in 0..2 {
        let (st, b) = s.post(&join, Some(&alice), json!({})).await;
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["entrants"].as_array().unwrap().len(), 1);
    }
    // Starting with one entrant is refused.
    let (st, b) = s.post(&url("start"), Some(&org), json!({})).await;
    assert_error(st, &b, 409, "conflict");
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at least 2"));
    // Seeding with unknown or repeated ids is refused; seeds stay unset.
    let seeding = url("seeding");
    for players in [
        json!([alice_id, "01J0000000000000000000000"]),
        json!([alice_id, alice_id]),
    ] {
        let (st, b) = call(
            &s,
            Method::PUT,
            &seeding,
            Some(&org),
            &json!({"players": players}),
        )
        .await;
        assert_error(st, &b, 400, "validation");
    }
    // Disqualifying someone not entered, settling before the start.
    let (st, b) = s
        .post(
            &url("players/01J0000000000000000000000/disqualify"),
            Some(&org),
            json!({}),
        )
        .await;
    assert_error(st, &b, 409, "conflict");
    let (st, b) = s
        .post(
            &url("matches/01J0000000000000000000000/result"),
            Some(&org),
            json!({"winner": alice_id}),
        )
        .await;
    assert_error(st, &b, 409, "conflict");
    // Unknown tournaments.
    for bad in ["01J0000000000000000000000", "not-an-id"] {
        let (st, b) = s
            .post(
                &format!("/api/v1/admin/tournaments/{bad}/open"),
                Some(&org),
                json!({}),
            )
            .await;
        assert_error(st, &b, 404, "not_found");
        let (st, b) = s.get(&format!("/api/v1/tournaments/{bad}"), None).await;
        assert_error(st, &b, 404, "not_found");
    }
    let (_, v) = s.get(&format!("/api/v1/tournaments/{id}"), None).await;
    assert_eq!(v["status"], "registration");
    assert_eq!(v["registration_open"], true);
    assert_eq!(v["entrants"][0]["seed"], Value::Null);
    assert_eq!(v["entrants"].as_array().unwrap().len(), 1);
    // Only the successful actions are in the audit log.
    let (_, audit) = s
        .get(&format!("/api/v1/admin/audit?tournament={id}"), Some(&org))
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["tournament.open", "tournament.create"]);
    // Leave, then leave again.
    assert_eq!(s.post(&leave, Some(&alice), json!({})).await.0, 200);
    let (st, b) = s.post(&leave, Some(&alice), json!({})).await;
    assert_error(st, &b, 409, "conflict");
    // Closed registration refuses joins.
    assert_eq!(s.post(&url("close"), Some(&org), json!({})).await.0, 200);
    let (st, b) = s.post(&join, Some(&alice), json!({})).await;
    assert_error(st, &b, 409, "conflict");
    let (_, list) = s.get("/api/v1/tournaments?status=registration", None).await;
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(list["items"][0]["entrants"], 0);
}
both_backends!(invalid_transitions_change_nothing);

async fn registration_opens_and_closes_on_schedule(s: TestServer) {
    let org = organiser(&s, "timeorg").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t = create(
        &s,
        &org,
        json!({"name": "Timed", "registration_opens_at": now + 300, "registration_closes_at": now + 1500}),
    )
    .await;
    let id = t["id"].as_str().unwrap().to_string();
    assert_eq!(t["status"], "draft");
    let wait_for = |open: bool| {
        let id = id.clone();
        let s = &s;
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let (_, v) = s.get(&format!("/api/v1/tournaments/{id}"), None).await;
                if v["status"] == "registration" && v["registration_open"] == open {
                    return;
                }
                assert!(std::time::Instant::now() < deadline, "{v}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_for(true).await;
    wait_for(false).await;
    let (_, audit) = s
        .get(&format!("/api/v1/admin/audit?tournament={id}"), Some(&org))
        .await;
    assert_eq!(audit["items"][0]["action"], "tournament.close");
    assert_eq!(audit["items"][0]["actor_id"], "system");
}
both_backends!(registration_opens_and_closes_on_schedule);
