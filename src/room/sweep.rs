//! Matches no room will ever finish: the stranded-match sweep.
//!
//! A match row stays `created`/`playing` for as long as a room runs it; the room ends it with a
//! durable write (result, no-show). When the room dies and nobody can take it over, the row
//! would stay live for good — "stuck in created/playing". That happens when:
//! - a **single instance** dies (kill -9, power loss): its rooms keep no checkpoint anywhere, so
//!   a restart cannot resume them (the previous run's *pending writes* are finished from the
//!   outbox file first; a match whose result was journaled is therefore finished, not swept);
//! - an instance of a **cluster** dies while Redis loses its directory (a flush or a restart
//!   without persistence at the same time): no record is left to adopt the room from.
//!
//! # The rule
//! A live match outside a tournament is **abandoned with end reason `interrupted`** (nobody is
//! rated; the epoch is bumped, so a room that still ran it unseen would be fenced off):
//! - alone (no Redis): at start-up, every such row created before this process started — no
//!   other process may share the database without Redis, and this one has no room yet;
//! - in a cluster: when, at two consecutive sweeps ([`SWEEP_EVERY_TTLS`] lease periods apart),
//!   the row is older than that period, no room here runs it, Redis holds neither a lease on its
//!   room nor its record (nothing to adopt), and no instance holds a pending write of it. A
//!   live owner re-creates its lease and record within a third of a lease period, even after a
//!   flush, so two sightings a whole period apart never concern a running room.
//!
//! Tournament matches are left to their tournament, whose restore or adoption abandons its
//! interrupted matches the same way and replays them in new rooms.

use super::engine::Engine;
use crate::db::matches;
use crate::ids::RoomId;
use crate::registry::Cluster;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The end reason of a swept match (the one a tournament gives a match its owner's death
/// interrupted).
pub const STRANDED_REASON: &str = "interrupted";

/// Rows looked at per sweep (oldest first): the work of one round is bounded; a larger backlog
/// takes several rounds.
pub const SWEEP_BATCH: i64 = 500;

/// A cluster member sweeps every this many lease TTLs, and a row must be at least that old: a
/// room that is alive announces its lease and record every third of a TTL.
pub const SWEEP_EVERY_TTLS: u32 = 2;

/// How long to wait before trying the start-up sweep again when the database does not answer.
pub const RETRY: Duration = Duration::from_secs(5);

/// Describe the sweep's counter and register it at zero.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "rally_matches_stranded_total",
        "Matches no room could finish (their room died with no one to take it over), abandoned as interrupted by the sweep"
    );
    metrics::counter!("rally_matches_stranded_total").absolute(0);
}

/// Single instance: abandon the previous runs' live matches (created before `started_ms`, when
/// this process started). Runs in the background, retrying while the database does not answer.
pub fn sweep_previous_runs(engine: Arc<Engine>, started_ms: i64) {
    actix::spawn(async move {
        loop {
            match sweep_before(&engine, started_ms).await {
                Ok(0) => return,
                Ok(n) => {
                    tracing::warn!(
                        matches = n,
                        "matches left live by a previous run abandoned as interrupted"
                    );
                    if (n as i64) < SWEEP_BATCH {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = ?e, "cannot sweep the previous run's matches now; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    });
}

async fn sweep_before(engine: &Engine, before_ms: i64) -> Result<usize, crate::error::AppError> {
    let rows = engine
        .db
        .run(move |c| matches::live_outside_tournaments(c, before_ms, SWEEP_BATCH))
        .await?;
    let mut n = 0;
    for m in rows {
        if abandon(engine, &m).await? {
            n += 1;
        }
    }
    Ok(n)
}

async fn abandon(engine: &Engine, m: &matches::LiveMatch) -> Result<bool, crate::error::AppError> {
    let (id, epoch) = (m.id.clone(), m.epoch);
    let done = engine
        .db
        .run(move |c| matches::abandon_stranded(c, &id, epoch, STRANDED_REASON))
        .await?;
    if done {
        metrics::counter!("rally_matches_stranded_total").increment(1);
        tracing::warn!(r#match = %m.id, room = %m.room_id, "stranded match abandoned as interrupted");
    }
    Ok(done)
}

/// Cluster member: sweep every [`SWEEP_EVERY_TTLS`] lease periods (see the module rule).
pub fn spawn_cluster_sweep(engine: Arc<Engine>, cluster: Arc<Cluster>) {
    let every = cluster.config.lease_ttl * SWEEP_EVERY_TTLS;
    actix::spawn(async move {
        let mut seen: HashMap<String, i64> = HashMap::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if cluster.draining() {
                return;
            }
            seen = sweep_round(&engine, &cluster, every, &seen).await;
        }
    });
}

/// One cluster sweep: abandons the rows seen stranded (at the same epoch) by the previous
/// round too; returns the ones seen stranded now for the first time.
async fn sweep_round(
    engine: &Engine,
    cluster: &Cluster,
    min_age: Duration,
    previous: &HashMap<String, i64>,
) -> HashMap<String, i64> {
    let mut now = HashMap::new();
    let before = crate::db::now_ms() - min_age.as_millis() as i64;
    let Ok(rows) = engine
        .db
        .run(move |c| matches::live_outside_tournaments(c, before, SWEEP_BATCH))
        .await
    else {
        // The database does not answer: nothing to conclude.
        return now;
    };
    for m in rows {
        let room = RoomId(m.room_id.clone());
        if engine.registry.local_room(&room).is_some() {
            continue;
        }
        match cluster.room_known(&room).await {
            Ok(false) => {}
            Ok(true) => continue,
            // Redis does not answer: start over once it does.
            Err(_) => return HashMap::new(),
        }
        if engine.outbox.holds(Some(&m.id), None).await {
            continue;
        }
        if previous.get(&m.id) == Some(&m.epoch) {
            if let Err(e) = abandon(engine, &m).await {
                tracing::warn!(r#match = %m.id, error = ?e, "cannot abandon a stranded match now");
                now.insert(m.id.clone(), m.epoch);
            }
        } else {
            now.insert(m.id.clone(), m.epoch);
        }
    }
    now
}
