//! Match results, ratings, history, leaderboard and replays, on SQLite and Postgres.
//!
//! Games are played in-process with `rally::game::create` and logged exactly as a room logs
//! them (inputs with the tick before the step; forced ends between ticks), then written with
//! `rally::db::matches` as a room's persistence would; everything else goes over real HTTP and
//! through the real `rally` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{assert_error, Backend, TestServer};
use rally::db::matches::{self, FinishOutcome, FinishedMatch, NewMatch};
use rally::db::{players, AnyConnection, Db};
use rally::error::{AppResult, ErrorKind};
use rally::game::{EndReason, Game, Seat};
use rally::replay::{ForcedEnd, InputLog, Replay};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const INTENTS: [&str; 3] = ["up", "down", "stop"];

/// Play a fast Pong game (1 point) like a room: seeded random intent changes, each applied at
/// the start of a tick and logged with `game.tick()` before the step; `force` ends it between
/// ticks as a forfeit/resign/time limit would.
fn play(seed: u64, force: Option<(u64, Seat, EndReason)>) -> (Box<dyn Game>, InputLog) {
    let mut game = rally::game::create("pong", &config(), seed).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed.wrapping_mul(31));
    let mut log = InputLog::default();
    let mut events = Vec::new();
    loop {
        if let Some((tick, loser, reason)) = force {
            if game.tick() == tick {
                log.end = Some(ForcedEnd {
                    tick,
                    loser,
                    reason,
                });
                game.end_by_forfeit(loser, reason);
                break;
            }
        }
        for seat in 0..2 {
            if rng.gen_ratio(1, 6) {
                let input = json!(INTENTS[rng.gen_range(0..3)]);
                game.apply_input(seat, &input).unwrap();
                log.record_input(game.tick(), seat, input);
            }
        }
        game.step(&mut events);
        if game.outcome().is_some() {
            break;
        }
        assert!(game.tick() < 100_000, "the game never ended");
    }
    (game, log)
}

fn config() -> Value {
    json!({"points_to_win": 1})
}

/// The result a room would report for `game`.
fn result(id: &str, epoch: i64, game: &dyn Game, log: &InputLog) -> FinishedMatch {
    let outcome = game.outcome().unwrap();
    let scores = game.scores();
    FinishedMatch {
        id: id.to_string(),
        epoch,
        scores: vec![i64::from(scores[0]), i64::from(scores[1])],
        winner_seat: outcome.winner,
        places: outcome.places.clone(),
        unseated: Vec::new(),
        end_reason: outcome.reason.as_str().to_string(),
        input_log: serde_json::to_string(log).unwrap(),
        final_hash: game.state_hash(),
        ticks: game.tick() as i64,
        duration_ms: game.tick() as i64 * 1000 / 60,
    }
}

fn new_match(mode: &str, rated: bool, p0: Option<&str>, p1: Option<&str>, seed: u64) -> NewMatch {
    NewMatch {
        id: rally::ids::MatchId::generate().0,
        room_id: rally::ids::RoomId::generate().0,
        game: "pong".into(),
        mode: mode.into(),
        rated,
        players: vec![p0.map(str::to_string), p1.map(str::to_string)],
        seed: seed as i64,
        config: config().to_string(),
        tournament_id: None,
        tournament_slot: None,
    }
}

fn sync<T>(db: &Db, f: impl FnOnce(&mut AnyConnection) -> AppResult<T>) -> AppResult<T> {
    db.run_sync(f)
}

/// (rating, deviation, volatility, games_played) of a player.
fn rating_of(db: &Db, id: &str) -> (f64, f64, f64, i64) {
    let p = sync(db, |c| players::by_id(c, id)).unwrap().unwrap();
    (
        p.rating,
        p.rating_deviation,
        p.rating_volatility,
        p.games_played,
    )
}

/// Create, start, play and finish a match; returns its id and the finish outcome.
fn play_match(
    db: &Db,
    m: NewMatch,
    force: Option<(u64, Seat, EndReason)>,
) -> (String, FinishOutcome) {
    let id = m.id.clone();
    let seed = m.seed as u64;
    sync(db, |c| matches::insert_created(c, &m)).unwrap();
    assert!(sync(db, |c| matches::mark_started(c, &id, 1)).unwrap());
    let (game, log) = play(seed, force);
    let outcome = sync(db, |c| matches::finish(c, &result(&id, 1, &*game, &log))).unwrap();
    (id, outcome)
}

async fn results_are_idempotent_fenced_and_rated(s: TestServer) {
    let (_, alice) = s.register_with_id("alice").await;
    let (_, bob) = s.register_with_id("bob").await;
    let (_, guest) = s.guest_with_id().await;
    let db = s.db();

    // A rated quick match: both players rated, the winner up and the loser down.
    let m = new_match("quick", true, Some(&alice), Some(&bob), 1);
    let id = m.id.clone();
    sync(&db, |c| matches::insert_created(c, &m)).unwrap();
    let row = sync(&db, |c| matches::get(c, &id)).unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.epoch), ("created", 1));
    assert_eq!(row.seed as u64, 1);
    // The same id twice is a conflict.
    let again = sync(&db, |c| matches::insert_created(c, &m)).unwrap_err();
    assert_eq!(again.kind, ErrorKind::Conflict);

    assert!(sync(&db, |c| matches::mark_started(c, &id, 1)).unwrap());
    // Idempotent while playing under the same epoch.
    assert!(sync(&db, |c| matches::mark_started(c, &id, 1)).unwrap());
    let (game, log) = play(1, None);
    let finished = result(&id, 1, &*game, &log);
    let winner = usize::from(finished.winner_seat.expect("a 1-point game has a winner"));
    let seat_ids = [alice.clone(), bob.clone()];
    let before = [rating_of(&db, &alice), rating_of(&db, &bob)];

    let FinishOutcome::Recorded {
        ratings: Some(ratings),
    } = sync(&db, |c| matches::finish(c, &finished)).unwrap()
    else {
        panic!("a rated match with two players is rated");
    };
    let after = [rating_of(&db, &alice), rating_of(&db, &bob)];
    for seat in 0..2 {
        assert_eq!(ratings[seat].player, seat_ids[seat]);
        assert_eq!(ratings[seat].before, before[seat].0);
        assert_eq!(ratings[seat].after, after[seat].0);
        assert_eq!(after[seat].3, before[seat].3 + 1, "games_played");
        assert!(after[seat].1 < before[seat].1, "deviation shrinks");
    }
    assert!(after[winner].0 > before[winner].0, "the winner gains");
    assert!(
        after[1 - winner].0 < before[1 - winner].0,
        "the loser drops"
    );
    let row = sync(&db, |c| matches::get(c, &id)).unwrap().unwrap();
    assert_eq!(row.status, "finished");
    assert_eq!(row.winner_seat, Some(winner as i64));
    assert_eq!(row.rating0_before, Some(before[0].0));
    assert_eq!(row.rating1_after, Some(after[1].0));
    assert_eq!(row.ticks, game.tick() as i64);

    // Finishing again (a retry, even with another result) changes nothing.
    let mut retry = finished.clone();
    retry.winner_seat = Some(1 - winner as u8);
    assert_eq!(
        sync(&db, |c| matches::finish(c, &retry)).unwrap(),
        FinishOutcome::AlreadyRecorded
    );
    assert_eq!([rating_of(&db, &alice), rating_of(&db, &bob)], after);
    let row2 = sync(&db, |c| matches::get(c, &id)).unwrap().unwrap();
    assert_eq!(row2.winner_seat, row.winner_seat);
    assert_eq!(row2.finished_at, row.finished_at);
    // A finished match cannot be restarted, taken over or abandoned.
    let restart = sync(&db, |c| matches::mark_started(c, &id, 1)).unwrap_err();
    assert_eq!(restart.kind, ErrorKind::Conflict);
    let take = sync(&db, |c| matches::take_over(c, &id)).unwrap_err();
    assert_eq!(take.kind, ErrorKind::Conflict);
    assert!(!sync(&db, |c| matches::abandon(c, &id, 1, "no_show")).unwrap());

    // Fencing: after a take-over the old owner's writes are refused and change nothing.
    let m = new_match("quick", true, Some(&alice), Some(&bob), 2);
    let id2 = m.id.clone();
    sync(&db, |c| matches::insert_created(c, &m)).unwrap();
    assert!(sync(&db, |c| matches::mark_started(c, &id2, 1)).unwrap());
    assert_eq!(sync(&db, |c| matches::take_over(c, &id2)).unwrap(), 2);
    assert_eq!(sync(&db, |c| matches::take_over(c, &id2)).unwrap(), 3);
    assert!(!sync(&db, |c| matches::mark_started(c, &id2, 1)).unwrap());
    let (game2, log2) = play(2, None);
    let stale = result(&id2, 1, &*game2, &log2);
    assert_eq!(
        sync(&db, |c| matches::finish(c, &stale)).unwrap(),
        FinishOutcome::StaleEpoch
    );
    assert!(!sync(&db, |c| matches::abandon(c, &id2, 2, "no_show")).unwrap());
    let row = sync(&db, |c| matches::get(c, &id2)).unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.epoch), ("playing", 3));
    assert_eq!(row.final_hash, None);
    assert_eq!([rating_of(&db, &alice), rating_of(&db, &bob)], after);
    // The current owner records it.
    let current = FinishedMatch { epoch: 3, ..stale };
    assert!(matches!(
        sync(&db, |c| matches::finish(c, &current)).unwrap(),
        FinishOutcome::Recorded { ratings: Some(_) }
    ));
    // A stale owner that retries after the new owner finished is still told it is stale.
    let late = FinishedMatch {
        epoch: 1,
        ..current
    };
    assert_eq!(
        sync(&db, |c| matches::finish(c, &late)).unwrap(),
        FinishOutcome::StaleEpoch
    );

    // Unknown matches are 404 everywhere.
    let ghost = FinishedMatch {
        id: "01JNOSUCHMATCH0000000000000".into(),
        ..late
    };
    for e in [
        sync(&db, |c| matches::finish(c, &ghost)).map(|_| ()),
        sync(&db, |c| matches::take_over(c, &ghost.id)).map(|_| ()),
        sync(&db, |c| matches::mark_started(c, &ghost.id, 1)).map(|_| ()),
        sync(&db, |c| matches::abandon(c, &ghost.id, 1, "x")).map(|_| ()),
        sync(&db, |c| matches::set_player(c, &ghost.id, 0, &alice)),
    ] {
        assert_eq!(e.unwrap_err().kind, ErrorKind::NotFound);
    }
    assert!(sync(&db, |c| matches::get(c, &ghost.id)).unwrap().is_none());

    // A private room learns its players as they sit; a no-show abandons it: nobody is rated.
    let ratings_now = [rating_of(&db, &alice), rating_of(&db, &bob)];
    let m = new_match("private", true, None, None, 3);
    let id3 = m.id.clone();
    sync(&db, |c| matches::insert_created(c, &m)).unwrap();
    sync(&db, |c| matches::set_player(c, &id3, 0, &bob)).unwrap();
    sync(&db, |c| matches::set_player(c, &id3, 0, &alice)).unwrap();
    sync(&db, |c| matches::set_player(c, &id3, 1, &bob)).unwrap();
    let bad_seat = sync(&db, |c| matches::set_player(c, &id3, 2, &bob)).unwrap_err();
    assert_eq!(bad_seat.kind, ErrorKind::Validation);
    let row = sync(&db, |c| matches::get(c, &id3)).unwrap().unwrap();
    assert_eq!(
        (row.player(0), row.player(1)),
        (Some(alice.as_str()), Some(bob.as_str()))
    );
    assert!(sync(&db, |c| matches::abandon(c, &id3, 1, "no_show")).unwrap());
    assert!(sync(&db, |c| matches::abandon(c, &id3, 1, "no_show")).unwrap());
    let (game3, log3) = play(3, None);
    let on_abandoned = sync(&db, |c| {
        matches::finish(c, &result(&id3, 1, &*game3, &log3))
    });
    assert_eq!(on_abandoned.unwrap_err().kind, ErrorKind::Conflict);
    let late_seat = sync(&db, |c| matches::set_player(c, &id3, 1, &alice)).unwrap_err();
    assert_eq!(late_seat.kind, ErrorKind::Conflict);
    let row = sync(&db, |c| matches::get(c, &id3)).unwrap().unwrap();
    assert_eq!(
        (row.status.as_str(), row.end_reason.as_deref()),
        ("abandoned", Some("no_show"))
    );
    assert_eq!([rating_of(&db, &alice), rating_of(&db, &bob)], ratings_now);

    // An unrated private match records the result without touching ratings.
    let (_, outcome) = play_match(
        &db,
        new_match("private", false, Some(&alice), Some(&bob), 4),
        None,
    );
    assert_eq!(outcome, FinishOutcome::Recorded { ratings: None });
    assert_eq!([rating_of(&db, &alice), rating_of(&db, &bob)], ratings_now);

    // Guests are rated in quick matches, draws included (a time-limit draw between ticks).
    let guest_before = rating_of(&db, &guest);
    let (_, outcome) = play_match(
        &db,
        new_match("quick", true, Some(&guest), Some(&alice), 5),
        Some((80, 255, EndReason::Abandoned)),
    );
    let FinishOutcome::Recorded {
        ratings: Some(draw),
    } = outcome
    else {
        panic!("quick matches are rated for guests too: {outcome:?}");
    };
    assert_eq!(draw[0].player, guest);
    let guest_after = rating_of(&db, &guest);
    assert_eq!(guest_after.3, 1);
    assert!(
        guest_after.1 < guest_before.1,
        "the guest's deviation shrinks"
    );
    // A draw moves the higher-rated player down and the lower-rated one up.
    let (low, high) = if draw[0].before < draw[1].before {
        (0, 1)
    } else {
        (1, 0)
    };
    assert!(draw[low].after > draw[low].before, "{draw:?}");
    assert!(draw[high].after < draw[high].before, "{draw:?}");

    // Bad results are refused before anything is written.
    let m = new_match("quick", true, Some(&alice), Some(&bob), 6);
    let id6 = m.id.clone();
    sync(&db, |c| matches::insert_created(c, &m)).unwrap();
    let (game6, log6) = play(6, None);
    let mut bad = result(&id6, 1, &*game6, &log6);
    bad.winner_seat = Some(2);
    assert_eq!(
        sync(&db, |c| matches::finish(c, &bad)).unwrap_err().kind,
        ErrorKind::Validation
    );
    bad.winner_seat = Some(0);
    bad.end_reason = "boredom".into();
    assert_eq!(
        sync(&db, |c| matches::finish(c, &bad)).unwrap_err().kind,
        ErrorKind::Validation
    );
    let bad_mode = new_match("ranked", true, None, None, 7);
    assert_eq!(
        sync(&db, |c| matches::insert_created(c, &bad_mode))
            .unwrap_err()
            .kind,
        ErrorKind::Validation
    );
}
both_backends!(results_are_idempotent_fenced_and_rated);

/// Run `rally replay verify TARGET` against the server's database.
fn verify_cli(s: &TestServer, target: &str) -> (bool, String, String) {
    let out = s.rally_cli(&["replay", "verify", target]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn http_views_leaderboard_and_replays(s: TestServer) {
    let (_, alice) = s.register_with_id("alice").await;
    let (_, bob) = s.register_with_id("bob").await;
    let (_, carol) = s.register_with_id("carol").await;
    let (_, idle) = s.register_with_id("idle").await;
    let (_, guest) = s.guest_with_id().await;
    let db = s.db();

    // Three finished matches (one ended by resignation), one still playing.
    let (m1, _) = play_match(
        &db,
        new_match("quick", true, Some(&alice), Some(&bob), 11),
        None,
    );
    let (m2, _) = play_match(
        &db,
        new_match("quick", true, Some(&carol), Some(&alice), 12),
        Some((75, 0, EndReason::Resign)),
    );
    let (m3, _) = play_match(
        &db,
        new_match("quick", true, Some(&guest), Some(&alice), 13),
        None,
    );
    let live = new_match("private", false, Some(&alice), Some(&bob), 14);
    let m4 = live.id.clone();
    sync(&db, |c| matches::insert_created(c, &live)).unwrap();
    assert!(sync(&db, |c| matches::mark_started(c, &m4, 1)).unwrap());

    // Recent finished matches, newest first; public (no token).
    let (st, page) = s.get("/api/v1/matches", None).await;
    assert_eq!(st, 200, "{page}");
    assert_eq!(
        (page["limit"].as_i64(), page["offset"].as_i64()),
        (Some(20), Some(0))
    );
    let items = page["items"].as_array().unwrap();
    let mut ids: Vec<&str> = items.iter().map(|m| m["id"].as_str().unwrap()).collect();
    let finished_at: Vec<i64> = items
        .iter()
        .map(|m| m["finished_at"].as_i64().unwrap())
        .collect();
    assert!(
        finished_at.windows(2).all(|w| w[0] >= w[1]),
        "{finished_at:?}"
    );
    assert!(items.iter().all(|m| m["status"] == "finished"));
    ids.sort_unstable();
    let mut want = vec![m1.as_str(), m2.as_str(), m3.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);

    // Pagination bounds.
    let all: Vec<Value> = items.clone();
    let (st, p) = s.get("/api/v1/matches?limit=1&offset=1", None).await;
    assert_eq!(st, 200);
    assert_eq!(p["items"].as_array().unwrap().len(), 1);
    assert_eq!(p["items"][0]["id"], all[1]["id"]);
    let (_, p) = s.get("/api/v1/matches?limit=1000", None).await;
    assert_eq!(p["limit"], 100);
    let (_, p) = s.get("/api/v1/matches?offset=3", None).await;
    assert_eq!(p["items"], json!([]));
    for bad in [
        "limit=abc",
        "limit=0",
        "limit=-5",
        "offset=-1",
        "offset=x",
        "limit=1.5",
    ] {
        let (st, b) = s.get(&format!("/api/v1/matches?{bad}"), None).await;
        assert_error(st, &b, 400, "validation");
        let (st, b) = s.get(&format!("/api/v1/leaderboard?{bad}"), None).await;
        assert_error(st, &b, 400, "validation");
        let (st, b) = s
            .get(&format!("/api/v1/players/{alice}/matches?{bad}"), None)
            .await;
        assert_error(st, &b, 400, "validation");
    }

    // One match, in full.
    let (st, v) = s.get(&format!("/api/v1/matches/{m2}"), None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["id"], m2.as_str());
    assert_eq!(
        (v["game"].as_str(), v["mode"].as_str()),
        (Some("pong"), Some("quick"))
    );
    assert_eq!(
        (v["rated"].as_bool(), v["status"].as_str()),
        (Some(true), Some("finished"))
    );
    assert_eq!(
        (v["winner_seat"].as_i64(), v["end_reason"].as_str()),
        (Some(1), Some("resign"))
    );
    assert_eq!(v["players"][0]["id"], carol.as_str());
    assert_eq!(v["players"][0]["name"], "carol");
    assert_eq!(v["players"][0]["seat"], 0);
    assert_eq!(v["players"][1]["name"], "alice");
    assert_eq!(v["players"][0]["rating_before"], 1500);
    assert!(v["players"][0]["rating_after"].as_i64().unwrap() < 1500);
    assert!(
        v["players"][1]["rating_after"].as_i64().unwrap()
            > v["players"][1]["rating_before"].as_i64().unwrap()
    );
    for field in ["created_at", "started_at", "finished_at", "duration_ms"] {
        assert!(v[field].as_i64().is_some(), "{field}: {v}");
    }
    assert!(v["tournament_id"].is_null());
    let (st, v) = s.get(&format!("/api/v1/matches/{m4}"), None).await;
    assert_eq!(st, 200);
    assert_eq!(v["status"], "playing");
    assert!(v["finished_at"].is_null() && v["winner_seat"].is_null());

    // Unknown ids are 404.
    for path in [
        "/api/v1/matches/01JNOSUCHMATCH0000000000000".to_string(),
        "/api/v1/matches/not-an-id".to_string(),
        "/api/v1/matches/01JNOSUCHMATCH0000000000000/replay".to_string(),
        "/api/v1/players/01JNOSUCHPLAYER000000000000/matches".to_string(),
        format!("/api/v1/matches/{m4}/replay"),
    ] {
        let (st, b) = s.get(&path, None).await;
        assert_error(st, &b, 404, "not_found");
    }

    // A player's history: every match with a seat, live ones included, newest first.
    let (st, p) = s
        .get(&format!("/api/v1/players/{alice}/matches"), None)
        .await;
    assert_eq!(st, 200, "{p}");
    let hist: Vec<&str> = p["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(hist.len(), 4);
    assert_eq!(hist[0], m4.as_str(), "newest first");
    let (_, p) = s
        .get(&format!("/api/v1/players/{idle}/matches"), None)
        .await;
    assert_eq!(p["items"], json!([]));
    let (_, p) = s
        .get(&format!("/api/v1/players/{guest}/matches?limit=1"), None)
        .await;
    assert_eq!(p["items"][0]["id"], m3.as_str());

    // Leaderboard: registered players who played, by rating; never guests, never idle accounts.
    let (st, lb) = s.get("/api/v1/leaderboard", None).await;
    assert_eq!(st, 200, "{lb}");
    let lines = lb["items"].as_array().unwrap();
    let names: Vec<&str> = lines.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 3, "{lb}");
    for who in ["alice", "bob", "carol"] {
        assert!(names.contains(&who), "{lb}");
    }
    assert!(lines
        .iter()
        .all(|l| l["id"] != guest.as_str() && l["id"] != idle.as_str()));
    let ratings: Vec<i64> = lines
        .iter()
        .map(|l| l["rating"].as_i64().unwrap())
        .collect();
    assert!(ratings.windows(2).all(|w| w[0] >= w[1]), "{ratings:?}");
    let mut expected: Vec<(f64, String)> = [&alice, &bob, &carol]
        .iter()
        .map(|id| (rating_of(&db, id).0, id.to_string()))
        .collect();
    expected.sort_by(|a, b| b.0.total_cmp(&a.0));
    let order: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    let want: Vec<&str> = expected.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(order, want, "{lb}");
    assert_eq!(lines[0]["rank"], 1);
    let alice_line = lines.iter().find(|l| l["id"] == alice.as_str()).unwrap();
    assert_eq!(alice_line["games_played"], 3);
    let (_, lb2) = s.get("/api/v1/leaderboard?limit=2&offset=1", None).await;
    assert_eq!(lb2["items"][0]["rank"], 2);
    assert_eq!(lb2["items"][0]["id"], lines[1]["id"]);

    // Replays: the served JSON verifies with the CLI from a file, and tampering is caught.
    let dir = s.dir.path().to_path_buf();
    for id in [&m1, &m2] {
        let (st, r) = s.get(&format!("/api/v1/matches/{id}/replay"), None).await;
        assert_eq!(st, 200, "{r}");
        let replay: Replay = serde_json::from_value(r.clone()).unwrap();
        assert_eq!(replay.r#match, *id);
        assert_eq!(replay.final_hash.len(), 64);
        rally::replay::verify(&replay).unwrap();

        let file = dir.join(format!("{id}.json"));
        std::fs::write(&file, r.to_string()).unwrap();
        let (ok, out, err) = verify_cli(&s, file.to_str().unwrap());
        assert!(ok, "{out}{err}");
        assert_eq!(
            out.trim(),
            format!(
                "ok: {id} final hash {} ({} ticks)",
                replay.final_hash, replay.ticks
            )
        );

        let mut hash = replay.clone();
        hash.final_hash = "f".repeat(64);
        let file = dir.join(format!("{id}-hash.json"));
        std::fs::write(&file, serde_json::to_string(&hash).unwrap()).unwrap();
        let (ok, _, err) = verify_cli(&s, file.to_str().unwrap());
        assert!(!ok);
        assert!(err.contains("hash mismatch: stored ffff"), "{err}");
        assert!(
            err.contains(&format!("recomputed {}", replay.final_hash)),
            "{err}"
        );

        // The last input of seat 0 sets the intent it holds at the end, part of the state.
        let mut input = replay.clone();
        let last = input
            .log
            .inputs
            .iter_mut()
            .rev()
            .find(|i| i.1 == 0)
            .unwrap();
        last.2 = json!(if last.2 == "up" { "down" } else { "up" });
        let file = dir.join(format!("{id}-input.json"));
        std::fs::write(&file, serde_json::to_string(&input).unwrap()).unwrap();
        let (ok, _, err) = verify_cli(&s, file.to_str().unwrap());
        assert!(!ok);
        assert!(err.contains("does not verify"), "{err}");

        // By match id, from the database.
        let (ok, out, err) = verify_cli(&s, id);
        assert!(ok, "{out}{err}");
        assert!(out.starts_with(&format!("ok: {id} final hash {}", replay.final_hash)));
    }

    // The CLI's refusals.
    let (ok, _, err) = verify_cli(&s, &m4);
    assert!(!ok && err.contains("not finished"), "{err}");
    let unknown = rally::ids::MatchId::generate().0;
    let (ok, _, err) = verify_cli(&s, &unknown);
    assert!(!ok && err.contains("no match"), "{err}");
    let (ok, _, err) = verify_cli(&s, "no/such/file.json");
    assert!(
        !ok && err.contains("neither a replay file nor a match id"),
        "{err}"
    );
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{\"not\":\"a replay\"}").unwrap();
    let (ok, _, err) = verify_cli(&s, garbage.to_str().unwrap());
    assert!(!ok && err.contains("is not a replay"), "{err}");

    // A finished match without a replay (older rows, or a room that lost its log) is 409.
    sync(&db, |c| {
        use diesel::prelude::*;
        use rally::db::schema::matches::dsl;
        diesel::update(dsl::matches.find(m3.as_str()))
            .set(dsl::input_log.eq(None::<String>))
            .execute(c)?;
        Ok(())
    })
    .unwrap();
    let (st, b) = s.get(&format!("/api/v1/matches/{m3}/replay"), None).await;
    assert_error(st, &b, 409, "conflict");
    let (ok, _, err) = verify_cli(&s, &m3);
    assert!(!ok && err.contains("without a replay"), "{err}");
}
both_backends!(http_views_leaderboard_and_replays);

/// Results for the same players written at once (several rooms finishing together) never lose
/// a rating update: each player's rating changes form one unbroken chain.
async fn concurrent_results_never_lose_a_rating_update(s: TestServer) {
    let mut ids = Vec::new();
    for name in ["ann", "ben", "cat"] {
        ids.push(s.register_with_id(name).await.1);
    }
    let url = rally::config::DatabaseUrl::parse(&s.database_url).unwrap();
    let db = Db::open(&url, 6).unwrap();
    let pairs = [(0, 1), (1, 0), (0, 2), (2, 1), (1, 2), (2, 0)];
    let mut prepared = Vec::new();
    for (n, &(a, b)) in pairs.iter().enumerate().cycle().take(12) {
        let m = new_match("quick", true, Some(&ids[a]), Some(&ids[b]), 100 + n as u64);
        sync(&db, |c| matches::insert_created(c, &m)).unwrap();
        let (game, log) = play(100 + n as u64, None);
        prepared.push(result(&m.id, 1, &*game, &log));
    }
    let recorded: Vec<FinishOutcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = prepared
            .iter()
            .map(|f| {
                let db = db.clone();
                scope.spawn(move || sync(&db, |c| matches::finish(c, f)).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut changes: Vec<Vec<(f64, f64)>> = vec![Vec::new(); 3];
    for outcome in recorded {
        let FinishOutcome::Recorded {
            ratings: Some(rows),
        } = outcome
        else {
            panic!("every match is rated once: {outcome:?}");
        };
        for row in rows {
            let who = ids.iter().position(|id| *id == row.player).unwrap();
            changes[who].push((row.before, row.after));
        }
    }
    for (who, id) in ids.iter().enumerate() {
        let (rating, _, _, games) = rating_of(&db, id);
        assert_eq!(games, changes[who].len() as i64);
        // Follow the chain from the default rating; every change must start where another ended.
        let mut current = 1500.0;
        let mut left = changes[who].clone();
        while let Some(i) = left.iter().position(|(before, _)| *before == current) {
            current = left.swap_remove(i).1;
        }
        assert!(left.is_empty(), "lost update for {id}: {left:?}");
        assert_eq!(current, rating);
    }
}
both_backends!(concurrent_results_never_lose_a_rating_update);
