//! Tournaments end to end: an organiser runs them over HTTP, bots play every match over real
//! WebSockets through the real room actors; results, champions and standings are persisted and
//! served by the API. Test-sized settings (1 point, ~1 s no-show windows).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::bot::{self, Style};
use common::tournament::{
    admin, assert_one_result_per_slot, create, entrants, match_rows, organiser, FAST,
};
use common::ws::Client;
use common::{Backend, TestServer};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

/// Run `$name(server)` on SQLite and on Postgres with the fast settings.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(s) = TestServer::start(Backend::Sqlite, FAST).await {
                    super::$name(s).await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(s) = TestServer::start(Backend::Postgres, FAST).await {
                    super::$name(s).await;
                }
            }
        }
    };
}

/// Bots of varying sharpness, so that matches between two of them end.
fn style(i: usize) -> Style {
    Style::Track {
        lag: 1 + (i as u32 % 4) * 4,
    }
}

/// Start one bot per account; returns their reports once the tournament is over.
async fn play_all(s: &TestServer, id: &str, players: &[bot::Account]) -> Vec<bot::Report> {
    let tasks: Vec<_> = players
        .iter()
        .enumerate()
        .map(|(i, p)| {
            tokio::spawn(bot::play(
                s.addr,
                p.clone(),
                id.to_string(),
                style(i),
                Duration::from_secs(180),
            ))
        })
        .collect();
    let mut reports = Vec::new();
    for t in tasks {
        reports.push(t.await.expect("bot panicked"));
    }
    reports
}

async fn view(s: &TestServer, id: &str) -> Value {
    let (st, v) = s.get(&format!("/api/v1/tournaments/{id}"), None).await;
    assert_eq!(st, 200, "{v}");
    v
}

fn matches_of(view: &Value, round: usize) -> Vec<Value> {
    view["bracket"][round]["matches"]
        .as_array()
        .unwrap()
        .clone()
}

async fn eight_players_single_elimination(s: TestServer) {
    let org = organiser(&s, "org8").await;
    let t = create(
        &s,
        &org,
        json!({"name": "Eight", "third_place": true, "points_to_win": 1, "tick_hz": 30, "no_show_timeout_ms": 5000}),
    )
    .await;
    assert_eq!(t["status"], "draft");
    assert_eq!(t["settings"]["points_to_win"], 1);
    assert_eq!(t["settings"]["tick_hz"], 30);
    let id = t["id"].as_str().unwrap().to_string();
    assert_eq!(
        admin(&s, &org, &id, "open").await["registration_open"],
        true
    );
    let players = entrants(&s, &id, "eight", 8).await;
    assert_eq!(
        admin(&s, &org, &id, "close").await["registration_open"],
        false
    );

    // A viewer follows the live events.
    let (mut viewer, _) = Client::login(s.addr, &org).await;
    viewer
        .send(json!({"type": "subscribe", "tournament": id}))
        .await;
    viewer.expect("subscribed").await;
    assert_eq!(viewer.expect("tournament").await["event"], "state");
    // Read it all along (an unread socket stops answering pings).
    let viewer_task = tokio::spawn(async move {
        let mut seen = HashSet::new();
        loop {
            let e = viewer
                .expect_within("tournament", Duration::from_secs(120))
                .await;
            seen.insert(e["event"].as_str().unwrap().to_string());
            if e["event"] == "champion" {
                return seen;
            }
        }
    });

    let started = admin(&s, &org, &id, "start").await;
    assert_eq!(started["status"], "running");
    assert_eq!(started["rounds"], 3);
    assert_eq!(started["current_round"], 1);
    let seeds: Vec<u64> = started["entrants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, (1..=8).collect::<Vec<u64>>());
    // Standard placement: 1 v 8 and 2 v 7 on opposite halves.
    let r1 = matches_of(&started, 0);
    assert_eq!(r1.len(), 4);
    assert_eq!(r1[0]["players"][0]["seed"], 1);
    assert_eq!(r1[0]["players"][1]["seed"], 8);
    assert_eq!(r1[2]["players"][0]["seed"], 2);

    let reports = play_all(&s, &id, &players).await;
    for r in &reports {
        assert_eq!(r.final_status.as_deref(), Some("finished"), "{r:?}");
        let events: Vec<String> = r
            .events
            .iter()
            .map(|e| format!("{} {} {}", e["event"], e["key"], e["players"]))
            .collect();
        assert!(
            !r.matches.is_empty(),
            "every entrant plays at least once: {events:#?} {:#?}",
            r.log
        );
    }
    // The tournament's match settings reached every room.
    for r in &reports {
        for joined in r.log.iter().filter(|m| m["type"] == "joined") {
            assert_eq!(joined["tick_hz"], 30, "{joined}");
            assert_eq!(joined["info"]["points_to_win"], 1, "{joined}");
        }
    }
    let seen = viewer_task.await.unwrap();
    for ev in [
        "match_ready",
        "match_started",
        "match_finished",
        "eliminated",
        "round_complete",
        "state",
        "champion",
    ] {
        assert!(seen.contains(ev), "no {ev} event in {seen:?}");
    }

    let v = view(&s, &id).await;
    assert_eq!(v["status"], "finished");
    assert_eq!(v["current_round"], Value::Null);
    let champion = v["champion"]["id"].as_str().unwrap();
    assert!(players.iter().any(|p| p.id == champion));
    let standings = v["standings"].as_array().unwrap();
    assert_eq!(standings[0]["player"]["id"], champion);
    let ranks: Vec<u64> = standings
        .iter()
        .map(|l| l["rank"].as_u64().unwrap())
        .collect();
    assert_eq!(ranks, [1, 2, 3, 4, 5, 5, 5, 5]);
    assert_eq!(matches_of(&v, 2).len(), 2, "final and third-place match");
    assert_eq!(matches_of(&v, 2)[1]["third_place"], true);
    let rows = match_rows(&s.database_url, &id);
    assert_eq!(assert_one_result_per_slot(&rows, &v), 8);
    let played: usize = reports.iter().map(|r| r.matches.len()).sum();
    assert_eq!(played, 16, "every match is played by two bots");

    // Lists filter by status.
    let (_, fin) = s.get("/api/v1/tournaments?status=finished", None).await;
    assert!(fin["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == id.as_str()));
    let (_, run) = s.get("/api/v1/tournaments?status=running", None).await;
    assert!(run["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["id"] != id.as_str()));
    let (st, _) = s.get("/api/v1/tournaments?status=bogus", None).await;
    assert_eq!(st, 400);
    // The audit log has every organiser action, newest first.
    let (st, audit) = s
        .get(&format!("/api/v1/admin/audit?tournament={id}"), Some(&org))
        .await;
    assert_eq!(st, 200, "{audit}");
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "tournament.start",
            "tournament.close",
            "tournament.open",
            "tournament.create"
        ]
    );
    assert_eq!(audit["items"][0]["actor_name"], "org8");
    // Metrics.
    let metrics = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "rally_tournament_matches_total{result=\"scheduled\"}",
        "rally_tournament_matches_total{result=\"finished\"}",
        "rally_tournament_matches_total{result=\"forfeited\"}",
        "rally_tournament_no_shows_total",
        "rally_tournament_match_start_delay_seconds_bucket",
        "rally_tournaments{status=\"finished\"}",
    ] {
        assert!(metrics.contains(line), "missing {line}");
    }
}
both!(eight_players_single_elimination);

async fn five_entrants_get_byes(s: TestServer) {
    let org = organiser(&s, "org5").await;
    let t = create(
        &s,
        &org,
        json!({"name": "Five", "no_show_timeout_ms": 5000}),
    )
    .await;
    let id = t["id"].as_str().unwrap().to_string();
    admin(&s, &org, &id, "open").await;
    let players = entrants(&s, &id, "five", 5).await;
    let started = admin(&s, &org, &id, "start").await;
    // Seeds 1–3 have byes: round one is the single match 4 v 5.
    let r1 = matches_of(&started, 0);
    assert_eq!(r1.len(), 1, "{r1:?}");
    assert_eq!(r1[0]["players"][0]["seed"], 4);
    assert_eq!(r1[0]["players"][1]["seed"], 5);
    let r2 = matches_of(&started, 1);
    assert_eq!(r2[0]["players"][0]["seed"], 1);
    assert_eq!(r2[1]["players"][0]["seed"], 2);
    assert_eq!(r2[1]["players"][1]["seed"], 3);
    // 2 v 3 can start at once (its room is being created), 1 waits for 4 v 5.
    assert_ne!(r2[1]["state"], "pending");
    assert_eq!(r2[0]["state"], "pending");
    play_all(&s, &id, &players).await;
    let v = view(&s, &id).await;
    assert_eq!(v["status"], "finished");
    assert!(v["champion"]["id"].is_string());
    let rows = match_rows(&s.database_url, &id);
    assert_eq!(assert_one_result_per_slot(&rows, &v), 4);
}
both!(five_entrants_get_byes);

async fn round_robin_five_players(s: TestServer) {
    let org = organiser(&s, "orgrr").await;
    let t = create(
        &s,
        &org,
        json!({"name": "League", "format": "round_robin", "capacity": 5, "no_show_timeout_ms": 5000}),
    )
    .await;
    let id = t["id"].as_str().unwrap().to_string();
    admin(&s, &org, &id, "open").await;
    let players = entrants(&s, &id, "rr", 5).await;
    // Full: a sixth player is refused, and nothing changes.
    let extra = bot::register(&s.http, &s.base, "rr-extra").await;
    let (st, b) = s
        .post(
            &format!("/api/v1/tournaments/{id}/join"),
            Some(&extra.token),
            json!({}),
        )
        .await;
    common::assert_error(st, &b, 409, "conflict");
    let started = admin(&s, &org, &id, "start").await;
    assert_eq!(started["rounds"], 5);
    play_all(&s, &id, &players).await;
    let v = view(&s, &id).await;
    assert_eq!(v["status"], "finished");
    let standings = v["standings"].as_array().unwrap();
    assert_eq!(standings.len(), 5);
    let wins: u64 = standings.iter().map(|l| l["wins"].as_u64().unwrap()).sum();
    assert_eq!(wins, 10, "everyone plays everyone once");
    assert_eq!(v["champion"]["id"], standings[0]["player"]["id"]);
    let rows = match_rows(&s.database_url, &id);
    assert_eq!(assert_one_result_per_slot(&rows, &v), 10);
}
both!(round_robin_five_players);

async fn a_no_show_forfeits(s: TestServer) {
    let org = organiser(&s, "orgns").await;
    let t = create(
        &s,
        &org,
        json!({"name": "NoShow", "capacity": 4, "no_show_timeout_ms": 1000}),
    )
    .await;
    let id = t["id"].as_str().unwrap().to_string();
    admin(&s, &org, &id, "open").await;
    let players = entrants(&s, &id, "ns", 4).await;
    let started = admin(&s, &org, &id, "start").await;
    // Equal ratings: seeds follow the join order; seed 4 (ns3) never connects.
    assert_eq!(
        matches_of(&started, 0)[0]["players"][1]["id"],
        players[3].id.as_str()
    );
    let reports = play_all(&s, &id, &players[..3]).await;
    assert!(reports
        .iter()
        .all(|r| r.final_status.as_deref() == Some("finished")));
    let v = view(&s, &id).await;
    let m = &matches_of(&v, 0)[0];
    assert_eq!(m["result"]["winner"], players[0].id.as_str());
    assert_eq!(m["result"]["forfeit"], true);
    assert_eq!(m["result"]["reason"], "forfeit");
    // The walkover was announced like any result.
    let finished: Vec<&Value> = reports[0]
        .events
        .iter()
        .filter(|e| e["event"] == "match_finished" && e["forfeit"] == true)
        .collect();
    assert!(!finished.is_empty(), "{:?}", reports[0].events);
    let rows = match_rows(&s.database_url, &id);
    assert_eq!(assert_one_result_per_slot(&rows, &v), 3);
    let metrics = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let no_shows: f64 = metrics
        .lines()
        .find(|l| l.starts_with("rally_tournament_no_shows_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(no_shows >= 1.0, "{no_shows}");
}
both!(a_no_show_forfeits);

/// Wait until the view satisfies `ok` (the actor works asynchronously after an action).
async fn wait_view(s: &TestServer, id: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v = view(s, id).await;
        if ok(&v) {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn nobody_shows_up_and_the_better_seed_advances(s: TestServer) {
    let org = organiser(&s, "orgab").await;
    let t = create(
        &s,
        &org,
        json!({"name": "Empty", "capacity": 2, "no_show_timeout_ms": 300}),
    )
    .await;
    let id = t["id"].as_str().unwrap().to_string();
    admin(&s, &org, &id, "open").await;
    let players = entrants(&s, &id, "ab", 2).await;
    admin(&s, &org, &id, "start").await;
    let v = wait_view(&s, &id, "the end", |v| v["status"] == "finished").await;
    assert_eq!(
        v["champion"]["id"],
        players[0].id.as_str(),
        "seed 1 advances"
    );
    let rows = match_rows(&s.database_url, &id);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].2.as_deref(), Some("forfeit"));
}
both!(nobody_shows_up_and_the_better_seed_advances);

async fn organiser_disqualifies_settles_and_cancels(s: TestServer) {
    let org = organiser(&s, "orgdq").await;
    // Nobody connects, and the no-show window is long: rooms stay live until acted upon.
    let t = create(
        &s,
        &org,
        json!({"name": "Dq", "capacity": 4, "no_show_timeout_ms": 60000}),
    )
    .await;
    let id = t["id"].as_str().unwrap().to_string();
    admin(&s, &org, &id, "open").await;
    let p = entrants(&s, &id, "dq", 4).await;
    admin(&s, &org, &id, "start").await;
    let v = wait_view(&s, &id, "rooms", |v| {
        matches_of(v, 0).iter().all(|m| m["room"].is_string())
    })
    .await;
    let r1 = matches_of(&v, 0);
    // r1m0 is dq0 v dq3. Disqualifying dq3 makes its room record a forfeit.
    let (st, b) = s
        .post(
            &format!(
                "/api/v1/admin/tournaments/{id}/players/{}/disqualify",
                p[3].id
            ),
            Some(&org),
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let v = wait_view(&s, &id, "the forfeit", |v| {
        matches_of(v, 0)[0]["state"] == "finished"
    })
    .await;
    assert_eq!(matches_of(&v, 0)[0]["result"]["winner"], p[0].id.as_str());
    assert_eq!(matches_of(&v, 0)[0]["result"]["reason"], "forfeit");
    // Settle r1m1 (dq1 v dq2) for dq2, 0–3.
    let mid = r1[1]["match_id"].as_str().unwrap();
    let url = format!("/api/v1/admin/tournaments/{id}/matches/{mid}/result");
    let (st, b) = s
        .post(
            &url,
            Some(&org),
            json!({"winner": p[2].id, "scores": [0, 3]}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(matches_of(&b, 0)[1]["result"]["reason"], "settled");
    assert_eq!(matches_of(&b, 0)[1]["result"]["winner"], p[2].id.as_str());
    // The same result again is harmless; a different one is refused.
    let (st, _) = s
        .post(
            &url,
            Some(&org),
            json!({"winner": p[2].id, "scores": [0, 3]}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, b) = s.post(&url, Some(&org), json!({"winner": p[1].id})).await;
    common::assert_error(st, &b, 409, "conflict");
    let bogus = format!("/api/v1/admin/tournaments/{id}/matches/01J0000000000000000000000/result");
    let (st, b) = s.post(&bogus, Some(&org), json!({"winner": p[1].id})).await;
    common::assert_error(st, &b, 404, "not_found");
    // The final (dq0 v dq2) gets a room; cancel the tournament while it waits.
    let v = wait_view(&s, &id, "the final's room", |v| {
        matches_of(v, 1)[0]["room"].is_string()
    })
    .await;
    assert_eq!(v["current_round"], 2);
    let c = admin(&s, &org, &id, "cancel").await;
    assert_eq!(c["status"], "cancelled");
    let rows = match_rows(&s.database_url, &id);
    let last = rows.iter().find(|r| r.0 == "r2m0").unwrap();
    assert_eq!(
        (last.1.as_str(), last.2.as_deref()),
        ("abandoned", Some("cancelled"))
    );
    // Over: nothing changes any more.
    let (st, b) = s
        .post(
            &format!("/api/v1/admin/tournaments/{id}/start"),
            Some(&org),
            json!({}),
        )
        .await;
    common::assert_error(st, &b, 409, "conflict");
    let (_, audit) = s
        .get(&format!("/api/v1/admin/audit?tournament={id}"), Some(&org))
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "tournament.cancel",
            "tournament.settle_match",
            "tournament.disqualify",
            "tournament.start",
            "tournament.open",
            "tournament.create"
        ]
    );
    assert_eq!(audit["items"][2]["target"], p[3].id.as_str());
}
both!(organiser_disqualifies_settles_and_cancels);

async fn loadgen_plays_a_whole_tournament(s: TestServer) {
    let org = organiser(&s, "orglg").await;
    let t = create(
        &s,
        &org,
        json!({"name": "Loadgen", "capacity": 4, "no_show_timeout_ms": 5000}),
    )
    .await;
    let id = t["id"].as_str().unwrap().to_string();
    admin(&s, &org, &id, "open").await;
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(["loadgen", "--url", &s.base, "--tournament", &id])
        .args(["--players", "4", "--seed", "7", "--timeout", "2m"])
        .env("RALLY_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn loadgen");
    // The organiser starts once the bots have entered.
    wait_view(&s, &id, "4 entrants", |v| {
        v["entrants"].as_array().is_some_and(|e| e.len() == 4)
    })
    .await;
    admin(&s, &org, &id, "start").await;
    let out = tokio::time::timeout(Duration::from_secs(150), child.wait_with_output())
        .await
        .expect("loadgen finished in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["status"], "finished", "{report}");
    assert_eq!(report["matches_played"], 3, "{report}");
    assert_eq!(report["errors"], 0);
    let v = view(&s, &id).await;
    assert_eq!(v["status"], "finished");
    assert_eq!(report["champion"], v["champion"]["id"]);
}
both!(loadgen_plays_a_whole_tournament);

/// Subscribers see every change the actor adopts at once, including a disqualification during
/// registration (which emits no bracket event of its own).
async fn subscribers_see_disqualifications_before_the_start(s: TestServer) {
    let org = organiser(&s, "orglive").await;
    let t = create(&s, &org, json!({"name": "Live", "capacity": 4})).await;
    let id = t["id"].as_str().unwrap().to_string();
    admin(&s, &org, &id, "open").await;
    let p = entrants(&s, &id, "live", 3).await;
    let viewer = s.guest().await;
    let (mut c, _) = Client::login(s.addr, &viewer).await;
    c.send(json!({"type": "subscribe", "tournament": id})).await;
    c.expect("subscribed").await;
    let first = c.expect("tournament").await;
    assert_eq!(first["event"], "state");
    let (st, b) = s
        .post(
            &format!(
                "/api/v1/admin/tournaments/{id}/players/{}/disqualify",
                p[1].id
            ),
            Some(&org),
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    loop {
        let v = c.expect_within("tournament", Duration::from_secs(5)).await;
        if v["event"] != "state" {
            continue;
        }
        let dq = v["view"]["entrants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == p[1].id.as_str())
            .map(|e| e["disqualified"] == true);
        if dq == Some(true) {
            break;
        }
    }
}
both!(subscribers_see_disqualifications_before_the_start);
