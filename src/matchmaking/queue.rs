//! The quick-match queue actor: groups players by rating with a window that widens with
//! waiting time, creates their room through the engine, and tells every session.
//!
//! There is one queue per `(game, size)`: a player asks for a game and a group size (`queue`
//! `size`, default the game's [`crate::game::GameSpec::default_queue_size`], within its seat
//! range). A group is `size` players of one queue whose ratings fit: its spread (highest minus
//! lowest rating) is within the widest [`rating::window`] of its members' waits — for pairs
//! exactly Pong's old rule, `|a - b| <= max(window(a), window(b))` (see [`take_groups`]).
//!
//! Single instance: the queue is this actor's vector. Several instances (Redis): the queue is
//! one Redis hash shared by all (`P:mm:queue`, player → entry) that every instance's matchmaker
//! adds to and removes from, and one **leader**, elected by a lease like any owned resource,
//! pairs it; a group is taken out of the hash by one script (all or none), its room is
//! placed on the least-loaded instance, and its players are told through presence, wherever
//! they are connected. Why a leader and not "everyone pairs": two instances pairing the same
//! snapshot would race for the same players; one pairing loop keeps the rating-window
//! algorithm exactly as on one instance, and a dead leader is replaced within one lease TTL
//! (players stay queued in Redis meanwhile).

use super::rating;
use crate::game::{GameError, GAMES};
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

/// Remove a group's queue entries only if all are still there: KEYS[1] hash, ARGV the
/// players. Returns 1 when all were removed.
const TAKE_GROUP_SCRIPT: &str = r#"
for i = 1, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
    return 0
  end
end
redis.call('HDEL', KEYS[1], unpack(ARGV))
return 1
"#;

/// A queue entry as stored in Redis.
#[derive(Serialize, Deserialize)]
struct StoredEntry {
    player: PlayerInfo,
    game: String,
    /// The group size asked for (entries stored before sizes existed are pairs).
    #[serde(default = "pair")]
    size: u8,
    since_ms: i64,
    front: bool,
}

fn pair() -> u8 {
    2
}

/// Enter the queue.
#[derive(Message)]
#[rtype(result = "Result<(), RoomRefusal>")]
pub struct Enqueue {
    /// Who.
    pub player: PlayerInfo,
    /// Which game.
    pub game: String,
    /// The group size (players per match), already checked against the game's seat range
    /// ([`check_queue`]).
    pub size: u8,
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
    /// Players per match: entries only group with entries of the same game and size.
    size: u8,
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

/// The group size of a `queue` request for `game`: `size`, or the game's default queue size;
/// an unknown game or a size outside the game's seat range is `invalid_field`.
pub fn check_queue(game: &str, size: Option<u8>) -> Result<u8, RoomRefusal> {
    let Some(spec) = crate::game::spec(game) else {
        return Err(RoomRefusal::new(
            code::INVALID_FIELD,
            format!("unknown game {game:?} (known games: {})", GAMES.join(", ")),
        ));
    };
    let size = size.unwrap_or(spec.default_queue_size);
    if !(spec.min_seats..=spec.max_seats).contains(&size) {
        return Err(RoomRefusal::new(
            code::INVALID_FIELD,
            format!(
                "size must be in {}..={} for {}, got {size}",
                spec.min_seats, spec.max_seats, spec.kind
            ),
        ));
    }
    Ok(size)
}

/// Take every group that can be made now out of `queue`; pure apart from the clock reading in
/// `now`.
///
/// The rule (docs/protocol.md §5.1): entries are visited front entries first (put back after a
/// no-show), then the longest waiting. Each unused entry anchors a group of its queue (same game,
/// same size): the other entries of that queue, nearest rating to the anchor first, join one by
/// one while the group's rating spread stays within the widest [`rating::window`] of the
/// group's members (the window widens with each member's wait). A group that reaches its size
/// is taken; otherwise the anchor keeps waiting. For a size of 2 this is exactly the pairing
/// rule `|a - b| <= max(window(a), window(b))`, nearest opponent first.
fn take_groups(queue: &mut Vec<Entry>, now: Instant) -> Vec<Vec<Entry>> {
    if queue.len() < 2 {
        return Vec::new();
    }
    queue.sort_by(|a, b| b.front.cmp(&a.front).then(a.since.cmp(&b.since)));
    let n = queue.len();
    let window = |e: &Entry| rating::window(now.duration_since(e.since).as_secs_f64());
    let mut used = vec![false; n];
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for i in 0..n {
        if used[i] {
            continue;
        }
        let a = &queue[i];
        let size = usize::from(a.size.max(2));
        let mut candidates: Vec<usize> = (i + 1..n)
            .filter(|&j| {
                let b = &queue[j];
                !used[j] && b.game == a.game && b.size == a.size && b.player.id != a.player.id
            })
            .collect();
        // Stable: equal distances keep the queue order (front, then longest waiting).
        candidates.sort_by(|&x, &y| {
            let dx = (queue[x].player.rating - a.player.rating).abs();
            let dy = (queue[y].player.rating - a.player.rating).abs();
            dx.total_cmp(&dy)
        });
        let mut group = vec![i];
        let (mut lo, mut hi, mut widest) = (a.player.rating, a.player.rating, window(a));
        for j in candidates {
            if group.len() == size {
                break;
            }
            let b = &queue[j];
            if group.iter().any(|&k| queue[k].player.id == b.player.id) {
                continue;
            }
            let (lo2, hi2) = (lo.min(b.player.rating), hi.max(b.player.rating));
            let widest2 = widest.max(window(b));
            if hi2 - lo2 <= widest2 {
                group.push(j);
                (lo, hi, widest) = (lo2, hi2, widest2);
            }
        }
        if group.len() == size {
            for &k in &group {
                used[k] = true;
            }
            groups.push(group);
        }
    }
    if groups.is_empty() {
        return Vec::new();
    }
    let mut slots: Vec<Option<Entry>> = queue.drain(..).map(Some).collect();
    let mut taken = Vec::with_capacity(groups.len());
    for group in groups {
        let entries: Vec<Entry> = group.iter().filter_map(|&k| slots[k].take()).collect();
        taken.push(entries);
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

    /// Group whoever can be grouped now.
    fn pair(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        if let Some(c) = self.cluster.clone() {
            return self.pair_shared(c, ctx);
        }
        let taken = take_groups(&mut self.queue, now);
        if taken.is_empty() {
            return;
        }
        self.gauge();
        self.start_groups(taken, now, ctx);
    }

    fn start_groups(&mut self, taken: Vec<Vec<Entry>>, now: Instant, ctx: &mut Context<Self>) {
        for group in taken {
            for e in &group {
                metrics::histogram!("rally_matchmaking_wait_seconds")
                    .record(now.duration_since(e.since).as_secs_f64());
            }
            self.start_match(group, ctx);
        }
    }

    /// One round on the shared queue: become leader if nobody is, and as leader take groups
    /// out of the hash.
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
                    size: e.size,
                    front: e.front,
                })
                .collect();
            let mut out = Vec::new();
            for group in take_groups(&mut queue, now) {
                let mut take = redis::cmd("EVAL");
                take.arg(TAKE_GROUP_SCRIPT).arg(1).arg(&key);
                for e in &group {
                    take.arg(e.player.id.as_str());
                }
                if let Ok(1) = c.run::<i64>("directory_write", &take).await {
                    out.push(group);
                }
            }
            (true, out)
        };
        ctx.spawn(fut.into_actor(self).map(|(leader, taken), act, ctx| {
            act.busy = false;
            act.leader = leader;
            act.start_groups(taken, Instant::now(), ctx);
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
                                size: e.size,
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

    /// The config of a quick match: the game's config for `size` seats
    /// ([`crate::game::config_for_seats`]); Pong takes the server's `points_to_win` and
    /// `tick_hz` settings on top, as it always did.
    fn quick_config(&self, game: &str, size: u8) -> Result<serde_json::Value, GameError> {
        let mut config = crate::game::config_for_seats(game, size)?;
        if game == crate::game::pong::KIND {
            config = serde_json::json!({
                "points_to_win": self.engine.config.points_to_win,
                "tick_hz": self.engine.config.tick_hz,
            });
        }
        Ok(config)
    }

    fn start_match(&mut self, group: Vec<Entry>, ctx: &mut Context<Self>) {
        let Some(first) = group.first() else {
            return;
        };
        let engine = self.engine.clone();
        let requeue = ctx.address().recipient();
        let players: Vec<PlayerInfo> = group.iter().map(|e| e.player.clone()).collect();
        let (game, size) = (first.game.clone(), first.size);
        let config = match self.quick_config(&game, size) {
            Ok(c) => c,
            Err(e) => {
                // Sizes are checked when players queue: this is a bug, not a player's error.
                tracing::error!(error = %e, game, size, "no quick-match config; group dropped");
                return;
            }
        };
        let join_ms = engine.config.join_window.as_millis() as u64;
        ctx.spawn(
            async move {
                let created = engine
                    .create_room(RoomSpec {
                        game: game.clone(),
                        config,
                        mode: Mode::Quick,
                        rated: true,
                        seats: Some(players.clone()),
                        private: false,
                        requeue: Some(requeue),
                        tournament: None,
                    })
                    .await;
                (created, players, engine, join_ms, game)
            }
            .into_actor(self)
            .map(move |(created, players, engine, join_ms, game), act, ctx| match created {
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
                            game: game.clone(),
                            size,
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
        if let Err(refused) = check_queue(&msg.game, Some(msg.size)) {
            return Box::pin(actix::fut::ready(Err(refused)));
        }
        if self.queue.iter().any(|e| e.player.id == msg.player.id) {
            return Box::pin(actix::fut::ready(Err(RoomRefusal::new(
                code::CONFLICT,
                "already in the queue",
            ))));
        }
        let registry = self.engine.registry.clone();
        let cluster = self.cluster.clone();
        let db = self.engine.db.clone();
        let mut msg = msg;
        let fut = async move {
            let seated = registry.player_room(&msg.player.id).await;
            // Ratings are per game: group by the rating in the game queued for (the session's
            // own rating is its Pong rating). A database hiccup keeps the session's rating.
            let (id, game) = (msg.player.id.0.clone(), msg.game.clone());
            if let Ok(r) = db
                .run(move |c| crate::db::matches::rating_in(c, &id, &game))
                .await
            {
                msg.player.rating = r.rating;
            }
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
                size: msg.size,
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
                    size: msg.size,
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
            let frame = ServerMsg::Queued {
                game: &msg.game,
                size: msg.size,
            }
            .encode();
            self.engine
                .registry
                .notify_player(&p.id, SessionEvent::Frame(frame.into()));
            entries.push(Entry {
                player: p,
                game: msg.game.clone(),
                size: msg.size,
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
        sized(id, "pong", 2, rating, waited, front)
    }

    fn sized(id: &str, game: &str, size: u8, rating: f64, waited: u64, front: bool) -> Entry {
        Entry {
            player: PlayerInfo {
                id: PlayerId(id.into()),
                name: id.into(),
                rating,
            },
            game: game.into(),
            size,
            since: Instant::now() - Duration::from_secs(waited),
            front,
        }
    }

    fn ids(group: &[Entry]) -> Vec<&str> {
        let mut v: Vec<&str> = group.iter().map(|e| e.player.id.as_str()).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn pairs_close_ratings_and_keeps_far_ones_waiting() {
        let mut q = vec![
            entry("a", 1500.0, 0, false),
            entry("b", 1510.0, 0, false),
            entry("c", 2400.0, 0, false),
        ];
        let groups = take_groups(&mut q, Instant::now());
        assert_eq!(groups.len(), 1);
        assert_eq!(ids(&groups[0]), ["a", "b"]);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].player.id.as_str(), "c");
    }

    #[test]
    fn pairs_the_nearest_rating_first() {
        let mut q = vec![
            entry("a", 1500.0, 0, false),
            entry("far", 1580.0, 0, false),
            entry("near", 1520.0, 0, false),
        ];
        let groups = take_groups(&mut q, Instant::now());
        assert_eq!(groups.len(), 1);
        assert_eq!(ids(&groups[0]), ["a", "near"]);
    }

    #[test]
    fn groups_of_four_form_per_game_and_size() {
        let mut q = vec![
            sized("a", "cycles", 4, 1500.0, 0, false),
            sized("b", "cycles", 4, 1510.0, 0, false),
            sized("c", "cycles", 4, 1490.0, 0, false),
            // Another size of the same game: another queue.
            sized("x", "cycles", 3, 1500.0, 0, false),
            // Pong players never join a cycles group.
            sized("p", "pong", 2, 1500.0, 0, false),
        ];
        assert!(take_groups(&mut q, Instant::now()).is_empty());
        assert_eq!(q.len(), 5);
        q.push(sized("d", "cycles", 4, 1505.0, 0, false));
        let groups = take_groups(&mut q, Instant::now());
        assert_eq!(groups.len(), 1);
        assert_eq!(ids(&groups[0]), ["a", "b", "c", "d"]);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn a_group_waits_for_the_window_to_cover_its_spread() {
        // Spread 1500..1900 = 400: beyond a fresh window, within a long wait's.
        let fresh = |q: &mut Vec<Entry>| {
            q.extend([
                sized("a", "cycles", 3, 1500.0, 0, false),
                sized("b", "cycles", 3, 1700.0, 0, false),
                sized("c", "cycles", 3, 1900.0, 0, false),
            ])
        };
        let mut q = Vec::new();
        fresh(&mut q);
        assert!(rating::window(0.0) < 400.0);
        assert!(take_groups(&mut q, Instant::now()).is_empty());
        // The widest window among the members counts: one member waiting long is enough.
        let mut q = Vec::new();
        fresh(&mut q);
        q[0].since = Instant::now() - Duration::from_secs(3600);
        assert!(rating::window(3600.0) >= 400.0);
        let groups = take_groups(&mut q, Instant::now());
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].len(), 3);
    }

    #[test]
    fn queue_requests_are_checked_against_the_game() {
        assert_eq!(check_queue("pong", None).unwrap(), 2);
        assert_eq!(check_queue("pong", Some(2)).unwrap(), 2);
        let bad = check_queue("pong", Some(3)).unwrap_err();
        assert_eq!(bad.code, code::INVALID_FIELD);
        let unknown = check_queue("chess", None).unwrap_err();
        assert_eq!(unknown.code, code::INVALID_FIELD);
        for spec in crate::game::specs() {
            assert_eq!(
                check_queue(spec.kind, None).unwrap(),
                spec.default_queue_size
            );
            assert!(check_queue(spec.kind, Some(spec.max_seats + 1)).is_err());
            assert!(check_queue(spec.kind, Some(spec.min_seats - 1)).is_err());
        }
    }
}
