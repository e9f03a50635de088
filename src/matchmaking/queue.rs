//! The quick-match queue actor: pairs players by rating with a window that widens with
//! waiting time, creates their room through the engine, and tells both sessions.
//!
//! Single instance: the queue is this actor's vector. Several instances (Redis): the queue is
//! one Redis hash shared by all (`P:mm:queue`, player → entry) that every instance's matchmaker
//! adds to and removes from, and one **leader**, elected by a lease like any owned resource,
//! pairs it; a pair is taken out of the hash by one script (both or neither), its room is
//! placed on the least-loaded instance, and both players are told through presence, wherever
//! they are connected. Why a leader and not "everyone pairs": two instances pairing the same
//! snapshot would race for the same players; one pairing loop keeps the rating-window
//! algorithm exactly as on one instance, and a dead leader is replaced within one lease TTL
//! (players stay queued in Redis meanwhile).

use super::rating;
use crate::game::GAMES;
use crate::ids::{PlayerId, RoomId};
use crate::protocol::{code, ServerMsg};
use crate::registry::{Cluster, LeaseEvent, LeaseNotice, Resource};
use crate::room::messages::{PlayerInfo, Requeue, RoomRefusal, SessionEvent};
use crate::room::{Engine, Mode, RoomSpec};
use actix::prelude::*;
use deadpool_redis::redis;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Remove two queue entries only if both are still there: KEYS[1] hash, ARGV[1], ARGV[2]
/// players. Returns 1 when both were removed.
const TAKE_PAIR_SCRIPT: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 and redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then
  redis.call('HDEL', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"#;

/// A queue entry as stored in Redis.
#[derive(Serialize, Deserialize)]
struct StoredEntry {
    player: PlayerInfo,
    game: String,
    since_ms: i64,
    front: bool,
}

/// Enter the queue.
#[derive(Message)]
#[rtype(result = "Result<(), RoomRefusal>")]
pub struct Enqueue {
    /// Who.
    pub player: PlayerInfo,
    /// Which game.
    pub game: String,
    /// The room that last let this player go (match over): the shared directory may still
    /// name it for a moment after the player heard so, and must not block the re-queue.
    pub released_from: Option<RoomId>,
}

/// Leave the queue; answers whether the player was queued.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Cancel {
    /// Who.
    pub player: PlayerId,
}

struct Entry {
    player: PlayerInfo,
    game: String,
    since: Instant,
    /// Put back at the front after an opponent's no-show.
    front: bool,
}

/// The matchmaker.
pub struct Matchmaker {
    engine: Arc<Engine>,
    queue: Vec<Entry>,
    /// The shared queue (several instances).
    cluster: Option<Arc<Cluster>>,
    /// This instance holds the leader lease and pairs the shared queue.
    leader: bool,
    /// A pairing round of the shared queue is in flight.
    busy: bool,
}

/// Take every pair that can be made now out of `queue` (front entries first, then the
/// longest waiting); pure apart from the clock reading in `now`.
fn take_pairs(queue: &mut Vec<Entry>, now: Instant) -> Vec<(Entry, Entry)> {
    if queue.len() < 2 {
        return Vec::new();
    }
    queue.sort_by(|a, b| b.front.cmp(&a.front).then(a.since.cmp(&b.since)));
    let n = queue.len();
    let mut used = vec![false; n];
    let mut pairs = Vec::new();
    for i in 0..n {
        if used[i] {
            continue;
        }
        let a = &queue[i];
        let wa = rating::window(now.duration_since(a.since).as_secs_f64());
        let mut best: Option<(usize, f64)> = None;
        for (j, b) in queue.iter().enumerate().skip(i + 1) {
            if used[j] || b.game != a.game || b.player.id == a.player.id {
                continue;
            }
            let wb = rating::window(now.duration_since(b.since).as_secs_f64());
            let diff = (a.player.rating - b.player.rating).abs();
            if diff <= wa.max(wb) && best.is_none_or(|(_, d)| diff < d) {
                best = Some((j, diff));
            }
        }
        if let Some((j, _)) = best {
            used[i] = true;
            used[j] = true;
            pairs.push((i, j));
        }
    }
    if pairs.is_empty() {
        return Vec::new();
    }
    let mut taken: Vec<(Entry, Entry)> = Vec::new();
    let mut slots: Vec<Option<Entry>> = queue.drain(..).map(Some).collect();
    for (i, j) in pairs {
        if let (Some(a), Some(b)) = (slots[i].take(), slots[j].take()) {
            taken.push((a, b));
        }
    }
    queue.extend(slots.into_iter().flatten());
    taken
}

impl Matchmaker {
    /// A matchmaker creating rooms through `engine` (sharing the queue through Redis when the
    /// registry has a cluster).
    pub fn new(engine: Arc<Engine>) -> Self {
        Self {
            cluster: engine.registry.cluster().cloned(),
            engine,
            queue: Vec::new(),
            leader: false,
            busy: false,
        }
    }

    fn gauge(&self) {
        if self.cluster.is_none() {
            metrics::gauge!("rally_matchmaking_queue_players").set(self.queue.len() as f64);
        }
    }

    fn queue_key(c: &Cluster) -> String {
        c.key("mm:queue")
    }

    /// Pair whoever can be paired now.
    fn pair(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        if let Some(c) = self.cluster.clone() {
            return self.pair_shared(c, ctx);
        }
        let taken = take_pairs(&mut self.queue, now);
        if taken.is_empty() {
            return;
        }
        self.gauge();
        self.start_pairs(taken, now, ctx);
    }

    fn start_pairs(&mut self, taken: Vec<(Entry, Entry)>, now: Instant, ctx: &mut Context<Self>) {
        for (a, b) in taken {
            for e in [&a, &b] {
                metrics::histogram!("rally_matchmaking_wait_seconds")
                    .record(now.duration_since(e.since).as_secs_f64());
            }
            self.start_match(a, b, ctx);
        }
    }

    /// One round on the shared queue: become leader if nobody is, and as leader take pairs out
    /// of the hash.
    fn pair_shared(&mut self, c: Arc<Cluster>, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let leader = self.leader;
        let me = ctx.address().recipient::<LeaseNotice>();
        let fut = async move {
            let leader = leader || c.acquire(&Resource::matchmaker(), Some(me)).await;
            let key = Self::queue_key(&c);
            let mut hlen = redis::cmd("HLEN");
            hlen.arg(&key);
            if let Ok(n) = c.run::<usize>("directory_read", &hlen).await {
                metrics::gauge!("rally_matchmaking_queue_players").set(n as f64);
            }
            if !leader {
                return (false, Vec::new());
            }
            let mut all = redis::cmd("HGETALL");
            all.arg(&key);
            let Ok(raw) = c.run::<Vec<(String, String)>>("directory_read", &all).await else {
                return (true, Vec::new());
            };
            let now = Instant::now();
            let now_ms = crate::db::now_ms();
            let mut queue: Vec<Entry> = raw
                .into_iter()
                .filter_map(|(_, v)| serde_json::from_str::<StoredEntry>(&v).ok())
                .map(|e| Entry {
                    since: now
                        .checked_sub(Duration::from_millis(
                            u64::try_from(now_ms - e.since_ms).unwrap_or(0),
                        ))
                        .unwrap_or(now),
                    player: e.player,
                    game: e.game,
                    front: e.front,
                })
                .collect();
            let mut out = Vec::new();
            for (a, b) in take_pairs(&mut queue, now) {
                let mut take = redis::cmd("EVAL");
                take.arg(TAKE_PAIR_SCRIPT)
                    .arg(1)
                    .arg(&key)
                    .arg(a.player.id.as_str())
                    .arg(b.player.id.as_str());
                if let Ok(1) = c.run::<i64>("directory_write", &take).await {
                    out.push((a, b));
                }
            }
            (true, out)
        };
        ctx.spawn(fut.into_actor(self).map(|(leader, taken), act, ctx| {
            act.busy = false;
            act.leader = leader;
            act.start_pairs(taken, Instant::now(), ctx);
        }));
    }

    /// Put players into the queue (shared or local).
    fn push_entries(&mut self, entries: Vec<Entry>, ctx: &mut Context<Self>) {
        match self.cluster.clone() {
            None => {
                self.queue.extend(entries);
                self.gauge();
            }
            Some(c) => {
                ctx.spawn(
                    async move {
                        let now_ms = crate::db::now_ms();
                        for e in entries {
                            let stored = StoredEntry {
                                since_ms: now_ms - e.since.elapsed().as_millis() as i64,
                                player: e.player,
                                game: e.game,
                                front: e.front,
                            };
                            let Ok(json) = serde_json::to_string(&stored) else {
                                continue;
                            };
                            let mut set = redis::cmd("HSET");
                            set.arg(Self::queue_key(&c))
                                .arg(stored.player.id.as_str())
                                .arg(json);
                            let _ = c.run::<i64>("directory_write", &set).await;
                        }
                    }
                    .into_actor(self),
                );
            }
        }
    }

    fn start_match(&mut self, a: Entry, b: Entry, ctx: &mut Context<Self>) {
        let engine = self.engine.clone();
        let requeue = ctx.address().recipient();
        let players = vec![a.player.clone(), b.player.clone()];
        let game = a.game.clone();
        let config = serde_json::json!({
            "points_to_win": engine.config.points_to_win,
            "tick_hz": engine.config.tick_hz,
        });
        let join_ms = engine.config.join_window.as_millis() as u64;
        ctx.spawn(
            async move {
                let created = engine
                    .create_room(RoomSpec {
                        game,
                        config,
                        mode: Mode::Quick,
                        rated: true,
                        seats: Some(players.clone()),
                        private: false,
                        requeue: Some(requeue),
                        tournament: None,
                    })
                    .await;
                (created, players, engine, join_ms)
            }
            .into_actor(self)
            .map(|(created, players, engine, join_ms), act, ctx| match created {
                Ok(c) => {
                    for p in &players {
                        engine.registry.notify_player(
                            &p.id,
                            SessionEvent::MatchFound {
                                room: c.room.clone(),
                                join_within_ms: join_ms,
                            },
                        );
                    }
                }
                Err(e) => {
                    tracing::error!(error = ?e, "creating a quick-match room failed; requeueing");
                    let entries = players
                        .into_iter()
                        .map(|p| Entry {
                            player: p,
                            game: "pong".into(),
                            since: Instant::now(),
                            front: true,
                        })
                        .collect();
                    act.push_entries(entries, ctx);
                }
            }),
        );
    }
}

impl Actor for Matchmaker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.engine.config.matchmaking_interval, |act, ctx| {
            act.pair(ctx)
        });
    }
}

impl Handler<Enqueue> for Matchmaker {
    type Result = ResponseActFuture<Self, Result<(), RoomRefusal>>;

    fn handle(&mut self, msg: Enqueue, _: &mut Context<Self>) -> Self::Result {
        if !GAMES.contains(&msg.game.as_str()) {
            return Box::pin(actix::fut::ready(Err(RoomRefusal::new(
                code::INVALID_FIELD,
                format!("unknown game {:?}", msg.game),
            ))));
        }
        if self.queue.iter().any(|e| e.player.id == msg.player.id) {
            return Box::pin(actix::fut::ready(Err(RoomRefusal::new(
                code::CONFLICT,
                "already in the queue",
            ))));
        }
        let registry = self.engine.registry.clone();
        let cluster = self.cluster.clone();
        let fut = async move {
            let seated = registry.player_room(&msg.player.id).await;
            if let Some(room) = seated.filter(|r| msg.released_from.as_ref() != Some(r)) {
                return Err(RoomRefusal::new(
                    code::CONFLICT,
                    format!("you have a seat in room {room}; join it or leave it first"),
                ));
            }
            let Some(c) = cluster else {
                return Ok(Some(msg));
            };
            let stored = StoredEntry {
                player: msg.player,
                game: msg.game,
                since_ms: crate::db::now_ms(),
                front: false,
            };
            let json = serde_json::to_string(&stored)
                .map_err(|_| RoomRefusal::new(code::INTERNAL, "cannot encode the entry"))?;
            let mut set = redis::cmd("HSETNX");
            set.arg(Self::queue_key(&c))
                .arg(stored.player.id.as_str())
                .arg(json);
            match c.run::<i64>("directory_write", &set).await {
                Ok(1) => Ok(None),
                Ok(_) => Err(RoomRefusal::new(code::CONFLICT, "already in the queue")),
                Err(_) => Err(RoomRefusal::new(
                    code::UNAVAILABLE,
                    "matchmaking is unavailable",
                )),
            }
        };
        Box::pin(fut.into_actor(self).map(|res, act, _| match res {
            Ok(Some(msg)) => {
                if act.queue.iter().any(|e| e.player.id == msg.player.id) {
                    return Err(RoomRefusal::new(code::CONFLICT, "already in the queue"));
                }
                act.queue.push(Entry {
                    player: msg.player,
                    game: msg.game,
                    since: Instant::now(),
                    front: false,
                });
                act.gauge();
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        }))
    }
}

impl Handler<Cancel> for Matchmaker {
    type Result = ResponseActFuture<Self, bool>;

    fn handle(&mut self, msg: Cancel, _: &mut Context<Self>) -> Self::Result {
        let before = self.queue.len();
        self.queue.retain(|e| e.player.id != msg.player);
        self.gauge();
        let local = self.queue.len() != before;
        let Some(c) = self.cluster.clone() else {
            return Box::pin(actix::fut::ready(local));
        };
        Box::pin(
            async move {
                let mut del = redis::cmd("HDEL");
                del.arg(Self::queue_key(&c)).arg(msg.player.as_str());
                matches!(c.run::<i64>("directory_write", &del).await, Ok(1))
            }
            .into_actor(self),
        )
    }
}

impl Handler<Requeue> for Matchmaker {
    type Result = ();

    fn handle(&mut self, msg: Requeue, ctx: &mut Context<Self>) {
        let mut entries = Vec::new();
        for p in msg.players {
            if self.queue.iter().any(|e| e.player.id == p.id) {
                continue;
            }
            let frame = ServerMsg::Queued { game: "pong" }.encode();
            self.engine
                .registry
                .notify_player(&p.id, SessionEvent::Frame(frame.into()));
            entries.push(Entry {
                player: p,
                game: "pong".into(),
                since: Instant::now(),
                front: true,
            });
        }
        self.push_entries(entries, ctx);
    }
}

impl Handler<LeaseNotice> for Matchmaker {
    type Result = ();

    fn handle(&mut self, msg: LeaseNotice, _: &mut Context<Self>) {
        if msg.event == LeaseEvent::Lost {
            tracing::info!("matchmaker leadership lost");
            self.leader = false;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(id: &str, rating: f64, waited: u64, front: bool) -> Entry {
        Entry {
            player: PlayerInfo {
                id: PlayerId(id.into()),
                name: id.into(),
                rating,
            },
            game: "pong".into(),
            since: Instant::now() - Duration::from_secs(waited),
            front,
        }
    }

    #[test]
    fn pairs_close_ratings_and_keeps_far_ones_waiting() {
        let mut q = vec![
            entry("a", 1500.0, 0, false),
            entry("b", 1510.0, 0, false),
            entry("c", 2400.0, 0, false),
        ];
        let pairs = take_pairs(&mut q, Instant::now());
        assert_eq!(pairs.len(), 1);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].player.id.as_str(), "c");
    }
}
