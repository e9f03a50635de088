//! Placement: which instance a new room goes to, and the request that creates it there.
//!
//! A room goes to the live, non-draining instance with the least **load**: the rooms in its
//! last heartbeat plus the placements this instance sent it that the heartbeat does not count
//! yet — still unanswered, or answered after the heartbeat was written. Heartbeats carry a
//! counter of rooms started there (`created`) and every answer carries that counter just after
//! its room started, so "already counted" is a comparison of two numbers from the target, no
//! clocks involved. The load of this instance is its live room count plus its own placements
//! on itself still being created. The pick and the reservation happen under one lock, so a
//! burst of concurrent placements (the matchmaker pairing a full queue) spreads evenly: N rooms
//! over K instances land within one of N/K each. Ties go to this instance, then the smallest
//! instance id.
//!
//! A placement request names the room's ids (room, match, join code), chosen by the placer.
//! When it goes unanswered the placer creates the room itself with the same ids: the match
//! row's primary key decides which of the two creations happened (the other insert is refused),
//! so an unanswered request never makes a second room, or a second match row, for the same
//! players.

use super::cluster::{Cluster, InstanceInfo};
use super::wire::{Body, WireCreated, WireSpec};
use crate::ids::InstanceId;
use deadpool_redis::redis;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A placement decided by this instance and not yet counted by its target's heartbeat.
#[derive(Clone, Debug)]
pub(crate) struct InFlight {
    token: u64,
    target: InstanceId,
    /// The target's `created` counter in its answer (None: not answered yet).
    answered: Option<u64>,
    at: Instant,
}

/// A reserved placement: where to create the room. Hand it back with [`Cluster::placed`] once
/// the room exists (or the creation failed).
#[derive(Debug)]
#[must_use = "a placement stays counted until it is handed back with Cluster::placed"]
pub struct Placement {
    /// Where the room goes.
    pub target: InstanceId,
    token: u64,
}

/// An entry older than this is dropped whatever happened (its target died, or its answer was
/// lost): by then the target's heartbeat has either counted the room or the target is gone.
fn stale_after(ttl: Duration) -> Duration {
    ttl * 3
}

impl Cluster {
    /// Live instances (heartbeat keys), this one included.
    pub async fn live_instances(&self) -> Vec<InstanceInfo> {
        let pattern = self.key("inst:*");
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let mut c = redis::cmd("SCAN");
            c.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500);
            let Ok((next, batch)) = self.run::<(u64, Vec<String>)>("directory_read", &c).await
            else {
                return Vec::new();
            };
            keys.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        if keys.is_empty() {
            return Vec::new();
        }
        let mut m = redis::cmd("MGET");
        for k in &keys {
            m.arg(k);
        }
        let vals = self
            .run::<Vec<Option<String>>>("directory_read", &m)
            .await
            .unwrap_or_default();
        vals.into_iter()
            .flatten()
            .filter_map(|v| serde_json::from_str(&v).ok())
            .collect()
    }

    /// Rooms started here so far (the heartbeat's `created`).
    pub fn rooms_created(&self) -> u64 {
        self.created.load(Ordering::SeqCst)
    }

    /// A room started here (created or adopted).
    pub(crate) fn room_started(&self) {
        self.created.fetch_add(1, Ordering::SeqCst);
    }

    /// Choose where a new room goes and count it there until it shows in the target's
    /// heartbeat.
    pub async fn place(&self) -> Placement {
        let live = self.live_instances().await;
        let mut g = self.placements.lock();
        let target = self.least_loaded(&live, &mut g);
        let token = self.placement_seq.fetch_add(1, Ordering::Relaxed);
        g.push(InFlight {
            token,
            target: target.clone(),
            answered: None,
            at: Instant::now(),
        });
        Placement { target, token }
    }

    /// The least-loaded live instance, without reserving anything (the hand-over on
    /// shutdown offers its rooms there).
    pub async fn pick_instance(&self) -> InstanceId {
        let live = self.live_instances().await;
        let mut g = self.placements.lock();
        self.least_loaded(&live, &mut g)
    }

    /// A placement is over: the target answered with its `created` counter (kept until its
    /// heartbeat counts the room), or the creation happened here or failed (forgotten).
    pub fn placed(&self, placement: Placement, answered: Option<u64>) {
        let mut g = self.placements.lock();
        match (answered, placement.target != *self.id()) {
            (Some(created), true) => {
                if let Some(p) = g.iter_mut().find(|p| p.token == placement.token) {
                    p.answered = Some(created);
                }
            }
            _ => g.retain(|p| p.token != placement.token),
        }
    }

    fn least_loaded(&self, live: &[InstanceInfo], inflight: &mut Vec<InFlight>) -> InstanceId {
        let stale = stale_after(self.config.lease_ttl);
        inflight.retain(|p| {
            if p.at.elapsed() > stale {
                return false;
            }
            // Answered, and the target's heartbeat already counts it.
            !matches!(
                (p.answered, live.iter().find(|i| i.id == p.target)),
                (Some(c), Some(i)) if i.created >= c
            )
        });
        let pending = |id: &InstanceId| inflight.iter().filter(|p| &p.target == id).count();
        let me = self.id();
        let mut best: Option<(usize, bool, &InstanceId)> = None;
        let mine = self.local.room_count() + pending(me);
        if !self.draining() {
            best = Some((mine, false, me));
        }
        for i in live {
            if i.draining || &i.id == me {
                continue;
            }
            let load = i.rooms + pending(&i.id);
            // Lower load wins; on a tie this instance, then the smaller id.
            let better = match best {
                None => true,
                Some((l, other, id)) => {
                    load < l || (load == l && other && i.id.as_str() < id.as_str())
                }
            };
            if better {
                best = Some((load, true, &i.id));
            }
        }
        best.map(|(_, _, id)| id.clone())
            .unwrap_or_else(|| me.clone())
    }

    /// Ask `placement.target` to create a room; None on refusal or no answer in time.
    pub async fn request_create(
        &self,
        placement: &Placement,
        spec: WireSpec,
    ) -> Option<WireCreated> {
        let v = self
            .request(&placement.target, |corr| Body::Create { corr, spec })
            .await?;
        serde_json::from_value::<Result<WireCreated, String>>(v)
            .ok()?
            .ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    //! The load arithmetic, without Redis (the pool is never used).

    use super::*;
    use crate::config::ClusterConfig;
    use std::sync::Arc;

    fn cluster() -> Arc<Cluster> {
        let pool = deadpool_redis::Config::from_url("redis://127.0.0.1:1")
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .unwrap();
        let config = ClusterConfig {
            prefix: "t".into(),
            lease_ttl: Duration::from_secs(3),
            instance_addr: None,
            drain_timeout: Duration::from_secs(1),
        };
        Cluster::new(pool, "redis://127.0.0.1:1", config, 16)
    }

    fn info(id: &str, rooms: usize, created: u64) -> InstanceInfo {
        InstanceInfo {
            id: InstanceId(id.into()),
            addr: String::new(),
            rooms,
            draining: false,
            created,
        }
    }

    fn reserve(c: &Cluster, live: &[InstanceInfo]) -> Placement {
        let mut g = c.placements.lock();
        let target = c.least_loaded(live, &mut g);
        let token = c.placement_seq.fetch_add(1, Ordering::Relaxed);
        g.push(InFlight {
            token,
            target: target.clone(),
            answered: None,
            at: Instant::now(),
        });
        Placement { target, token }
    }

    #[test]
    fn a_burst_spreads_evenly_over_idle_instances() {
        let c = cluster();
        let me = c.id().clone();
        let mut live = vec![info("B", 0, 0), info("C", 0, 0)];
        live.push(InstanceInfo {
            id: me.clone(),
            ..info("x", 0, 0)
        });
        let mut counts = std::collections::HashMap::new();
        let mut held = Vec::new();
        for _ in 0..12 {
            let p = reserve(&c, &live);
            *counts.entry(p.target.clone()).or_insert(0) += 1;
            held.push(p);
        }
        assert_eq!(counts.len(), 3, "{counts:?}");
        assert!(counts.values().all(|n| *n == 4), "{counts:?}");
        // The first one stays here (a tie goes to the asking instance).
        assert_eq!(held[0].target, me);
    }

    #[test]
    fn an_answered_placement_counts_until_the_heartbeat_does() {
        let c = cluster();
        let live = vec![info("B", 0, 5)];
        // Fill this instance so that B is preferred.
        let mine: Vec<Placement> = (0..2).map(|_| reserve(&c, &[])).collect();
        assert!(mine.iter().all(|p| &p.target == c.id()));
        let p = reserve(&c, &live);
        assert_eq!(p.target.as_str(), "B");
        c.placed(p, Some(6));
        // B's heartbeat still says 0 rooms (created 5): the answered placement still counts,
        // so B (1) and this instance (2) are not tied yet.
        let next = reserve(&c, &live);
        assert_eq!(next.target.as_str(), "B");
        c.placed(next, None);
        // B's heartbeat now counts the room (created 6, 1 room): nothing counted twice.
        let live = vec![info("B", 1, 6)];
        let q = reserve(&c, &live);
        assert_eq!(q.target.as_str(), "B", "B has 1, this instance 2");
        assert_eq!(
            c.placements
                .lock()
                .iter()
                .filter(|p| p.target.as_str() == "B")
                .count(),
            1,
            "the counted placement was dropped"
        );
    }

    #[test]
    fn a_failed_placement_is_forgotten_and_draining_instances_are_skipped() {
        let c = cluster();
        let mut b = info("B", 0, 0);
        b.draining = true;
        let p = reserve(&c, &[b.clone()]);
        assert_eq!(&p.target, c.id(), "the draining instance is never chosen");
        c.placed(p, None);
        assert!(c.placements.lock().is_empty());
    }
}
