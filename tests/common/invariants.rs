//! What no fault may break (issue 13, "A fault suite"), checked on a [`TestCluster`] after a
//! scenario: every match ends with exactly one result row and none is left `created` or
//! `playing`; every player's rating is the chain of their rated results; every finished match's
//! replay verifies (`rally replay verify`, the binary) — the taken-over ones counted apart;
//! and Redis holds no lease and no directory entry for a finished room (nor, once its
//! tournament is over, a tournament's lease).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use super::cluster::{eventually, TestCluster};
use deadpool_redis::redis;
use rally::db::matches::MatchRow;
use std::collections::HashMap;
use std::time::Duration;

/// What a scenario may legitimately leave behind.
#[derive(Clone, Copy, Debug, Default)]
pub struct Allow {
    /// Matches abandoned because a matched player never came (`no_show`). A quick-match run
    /// whose bots all play never has one: a second room for the same pair would.
    pub no_shows: bool,
}

/// What the check found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Finished match rows.
    pub finished: usize,
    /// Abandoned rows (tournament matches interrupted and replayed, no-shows when allowed).
    pub abandoned: usize,
    /// Finished rows whose room was taken over by another instance (epoch ≥ 2).
    pub taken_over: usize,
    /// Replays verified (every finished row).
    pub replays_verified: usize,
}

/// Every match row of the cluster's database.
pub fn all_matches(c: &TestCluster) -> Vec<MatchRow> {
    use diesel::prelude::*;
    use rally::db::schema::matches;
    c.db()
        .run_sync(|conn| {
            Ok(matches::table
                .order(matches::created_at.asc())
                .select(MatchRow::as_select())
                .load::<MatchRow>(conn)?)
        })
        .unwrap()
}

fn player_ratings(c: &TestCluster) -> HashMap<String, (f64, i64)> {
    use diesel::prelude::*;
    use rally::db::schema::players;
    c.db()
        .run_sync(|conn| {
            Ok(players::table
                .select((players::id, players::rating, players::games_played))
                .load::<(String, f64, i64)>(conn)?)
        })
        .unwrap()
        .into_iter()
        .map(|(id, r, g)| (id, (r, g)))
        .collect()
}

/// Check everything; panics with the offending rows or keys.
pub async fn assert_consistent(c: &TestCluster, allow: Allow) -> Checked {
    // Results are written as rooms end: wait until nothing is left unfinished.
    let rows = eventually(
        Duration::from_secs(20),
        "no match left created/playing",
        || async {
            let rows = all_matches(c);
            rows.iter()
                .all(|r| r.status == "finished" || r.status == "abandoned")
                .then_some(rows)
        },
    )
    .await;
    let mut out = Checked::default();
    for r in &rows {
        match r.status.as_str() {
            "finished" => out.finished += 1,
            _ => {
                out.abandoned += 1;
                let reason = r.end_reason.as_deref().unwrap_or("");
                assert!(
                    reason == "interrupted" || (allow.no_shows && reason == "no_show"),
                    "match {} ({}) abandoned as {reason:?}: {r:?}",
                    r.id,
                    r.mode
                );
            }
        }
    }
    // One result per match: a room (and its match row) exists once, however it was placed.
    let mut per_room: HashMap<&str, usize> = HashMap::new();
    for r in &rows {
        *per_room.entry(r.room_id.as_str()).or_default() += 1;
    }
    assert!(
        per_room.values().all(|n| *n == 1),
        "a room with several match rows: {per_room:?}"
    );
    check_ratings(c, &rows);
    for r in rows.iter().filter(|r| r.status == "finished") {
        verify_replay(c, &r.id);
        out.replays_verified += 1;
        if r.epoch >= 2 {
            out.taken_over += 1;
        }
    }
    assert_redis_clean(c).await;
    out
}

/// Each player's rated results form one chain: the rating after one is the rating before the
/// next, the last one is the player's rating, and games played counts them.
fn check_ratings(c: &TestCluster, rows: &[MatchRow]) {
    let mut chains: HashMap<String, Vec<(i64, f64, f64)>> = HashMap::new();
    for r in rows.iter().filter(|r| r.status == "finished" && r.rated) {
        for (seat, before, after) in [
            (0u8, r.rating0_before, r.rating0_after),
            (1u8, r.rating1_before, r.rating1_after),
        ] {
            let p = r.player(seat).expect("a rated match has both players");
            let (Some(b), Some(a)) = (before, after) else {
                panic!("rated match {} without ratings: {r:?}", r.id);
            };
            chains
                .entry(p.to_string())
                .or_default()
                .push((r.finished_at.unwrap_or(0), b, a));
        }
    }
    let players = player_ratings(c);
    for (p, mut chain) in chains {
        chain.sort_by_key(|(at, _, _)| *at);
        for w in chain.windows(2) {
            assert_eq!(w[0].2, w[1].1, "player {p}: rating chain broken: {chain:?}");
        }
        let (rating, games) = players[&p];
        assert_eq!(
            games,
            chain.len() as i64,
            "player {p}: games played vs rated results"
        );
        assert_eq!(
            rating,
            chain.last().unwrap().2,
            "player {p}: rating vs last result"
        );
    }
}

/// `rally replay verify <match>` against the cluster's database exits 0.
fn verify_replay(c: &TestCluster, id: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rally"))
        .args(["replay", "verify", id])
        .env("RALLY_DATABASE_URL", &c.pg.url)
        .env("RALLY_LOG", "warn")
        .output()
        .expect("run rally replay verify");
    assert!(
        out.status.success(),
        "replay of {id} does not verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The cluster's keys matching `pattern` (after the prefix).
pub fn keys(c: &TestCluster, pattern: &str) -> Vec<String> {
    let mut conn = c.redis();
    redis::cmd("KEYS")
        .arg(c.key(pattern))
        .query(&mut conn)
        .unwrap_or_default()
}

fn leftovers(c: &TestCluster) -> Vec<String> {
    let mut left = Vec::new();
    for pattern in [
        "lease:room:*",
        "room:*",
        "ckpt:*",
        "code:*",
        "lease:tournament:*",
    ] {
        left.extend(keys(c, pattern));
    }
    let mut conn = c.redis();
    let listed: i64 = redis::cmd("ZCARD")
        .arg(c.key("rooms"))
        .query(&mut conn)
        .unwrap_or(0);
    let owned: i64 = redis::cmd("SCARD")
        .arg(c.key("owned:room"))
        .query(&mut conn)
        .unwrap_or(0);
    if listed > 0 {
        left.push(format!("rooms ({listed} listed)"));
    }
    if owned > 0 {
        left.push(format!("owned:room ({owned})"));
    }
    left
}

/// Once every match is over: no room lease, record, checkpoint, code, listing or ownership
/// entry, no tournament lease — and still none a lease period later (nothing re-creates them).
pub async fn assert_redis_clean(c: &TestCluster) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10) + c.ttl * 4;
    loop {
        let left = leftovers(c);
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Redis still holds entries of finished rooms: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(c.ttl).await;
    let left = leftovers(c);
    assert!(left.is_empty(), "re-created after a lease period: {left:?}");
}
