//! The Redis half of the registry: this instance's identity, the shared directory, presence,
//! leases and the queues that carry writes and cross-instance messages.
//!
//! # Keys (all under `RALLY_REDIS_PREFIX`, written `P` here)
//! | key | value | life |
//! |---|---|---|
//! | `P:inst:<id>` | [`InstanceInfo`] JSON (address, room count, draining) | PX lease TTL, heartbeat |
//! | `P:lease:<kind>:<id>` | owner instance id | PX lease TTL, renewed |
//! | `P:owned:<kind>` | set of resource ids that must have an owner | until the resource ends |
//! | `P:room:<id>` | [`RoomRecord`] JSON (spec + summary) | until the room ends |
//! | `P:rooms` | sorted set of listed room ids by creation time | until the room ends |
//! | `P:code:<CODE>` | room id | until the room ends |
//! | `P:ckpt:<id>` | [`Checkpoint`] JSON | until the room ends |
//! | `P:presence:<player>` | `<instance>/<session>` | PX 3 × TTL, refreshed |
//! | `P:proom:<player>` | room id | PX 3 × TTL, refreshed |
//! | `P:mm:queue` | hash player → queue entry | shared quick-match queue |
//! | `P:ch:<id>` | pub/sub channel of an instance | – |
//!
//! Everything an instance owns is re-announced every third of the TTL, so a flushed or
//! restarted Redis is whole again within one lease period.
//!
//! Rooms never wait on Redis: summaries and checkpoints are handed to one writer task
//! (coalesced: only the latest is written), and record/checkpoint writes are conditional on
//! still holding the lease, so a paused old owner cannot overwrite its successor's entries.

use super::lease::{self, LeaseNotice, Resource, ResourceKind};
use super::messages::SessionEvent;
use super::placement::InFlight;
use super::proxy::{ProxyEntry, ProxyKey};
use super::remote::Route;
use super::wire::Body;
use super::{Checkpoint, Departure, LocalRegistry, RoomRecord, RoomSummary};
use crate::config::ClusterConfig;
use crate::ids::{InstanceId, PlayerId, RoomId, TournamentId};
use actix::prelude::*;
use deadpool_redis::redis::{self, RedisResult};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Notify};

/// Cross-instance messages queued for publishing. A full queue drops inputs (counted as
/// dropped, like a full room mailbox) and applies back-pressure to frame proxies.
pub const OUTGOING_QUEUE: usize = 4096;
/// Messages published in one pipeline round trip.
pub const PUBLISH_BATCH: usize = 256;

/// Write a value only while holding the lease: KEYS[1] lease, KEYS[2] target, ARGV[1] owner,
/// ARGV[2] value. Returns 1 when written.
const SET_IF_OWNER_SCRIPT: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0
"#;

/// The owner in a lease (KEYS[1]) and whether its heartbeat (ARGV[1] .. owner) exists:
/// `{owner, 1|0}`, or nil when nobody holds the lease.
const OWNER_ALIVE_SCRIPT: &str = r#"
local o = redis.call('GET', KEYS[1])
if not o then return nil end
return {o, redis.call('EXISTS', ARGV[1] .. o)}
"#;

/// A message queued for publishing: to whom, the envelope, and the correlation id of the
/// request it carries (a request published to nobody — its target's subscription is gone: the
/// process died — fails at once instead of waiting for its timeout).
pub(crate) struct Outgoing {
    pub(crate) to: InstanceId,
    pub(crate) text: String,
    pub(crate) corr: Option<u64>,
}

/// What an instance publishes with its heartbeat.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// Instance id.
    pub id: InstanceId,
    /// Address of its listener.
    pub addr: String,
    /// Rooms it runs (placement picks the fewest).
    pub rooms: usize,
    /// Shutting down: no new rooms.
    pub draining: bool,
    /// Rooms started here since the instance started (a counter: placement uses it to tell
    /// which of its placements the room count already includes).
    #[serde(default)]
    pub created: u64,
}

pub(crate) use super::writer::Op;

/// The Redis side of the registry (one per process).
pub struct Cluster {
    id: InstanceId,
    /// Settings.
    pub config: ClusterConfig,
    /// Outbound frames per session (the bound of frame proxies).
    pub session_queue: usize,
    pub(crate) pool: deadpool_redis::Pool,
    pub(crate) url: String,
    pub(crate) local: LocalRegistry,
    addr: Mutex<String>,
    ops: mpsc::UnboundedSender<Op>,
    pub(crate) ops_rx: Mutex<Option<mpsc::UnboundedReceiver<Op>>>,
    pub(crate) out: mpsc::Sender<Outgoing>,
    pub(crate) out_rx: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    pub(crate) pending: Mutex<HashMap<u64, oneshot::Sender<serde_json::Value>>>,
    pub(crate) corr: AtomicU64,
    pub(crate) leases: Mutex<HashMap<Resource, Option<Recipient<LeaseNotice>>>>,
    /// Local sessions' routes to rooms on other instances, by session id.
    pub(crate) routes: Mutex<HashMap<String, Route>>,
    /// Local sessions' subscriptions to tournaments on other instances → their owner.
    pub(crate) subs: Mutex<HashMap<(String, TournamentId), InstanceId>>,
    /// Proxies here for sessions on other instances (rooms and tournament subscriptions).
    pub(crate) proxies: Mutex<HashMap<ProxyKey, ProxyEntry>>,
    pub(crate) checkpoints: Mutex<HashMap<RoomId, String>>,
    draining: AtomicBool,
    /// Woken when the directory must be re-announced at once (pub/sub reconnected).
    pub(crate) reannounce: Notify,
    /// What adopts orphaned resources of other kinds than rooms (tournaments).
    pub(crate) adopters: Mutex<Vec<(ResourceKind, super::upkeep::Adopter)>>,
    /// Rooms started here (published with the heartbeat).
    pub(crate) created: AtomicU64,
    /// Placements this instance decided that the targets' heartbeats may not count yet.
    pub(crate) placements: Mutex<Vec<InFlight>>,
    /// Placement tokens.
    pub(crate) placement_seq: AtomicU64,
    /// When the heartbeat was last written (presence: longer than a lease ago means the
    /// other instances may have given this one up).
    pub(crate) last_beat: Mutex<Option<Instant>>,
}

impl Cluster {
    /// A cluster member with a fresh instance id. Call [`super::upkeep::start`] to run it.
    pub fn new(
        pool: deadpool_redis::Pool,
        url: &str,
        config: ClusterConfig,
        session_queue: usize,
    ) -> Arc<Cluster> {
        let (ops, ops_rx) = mpsc::unbounded_channel();
        let (out, out_rx) = mpsc::channel(OUTGOING_QUEUE);
        Arc::new(Cluster {
            id: InstanceId::generate(),
            config,
            session_queue,
            pool,
            url: url.to_string(),
            local: LocalRegistry::new(),
            addr: Mutex::new(String::new()),
            ops,
            ops_rx: Mutex::new(Some(ops_rx)),
            out,
            out_rx: Mutex::new(Some(out_rx)),
            pending: Mutex::new(HashMap::new()),
            corr: AtomicU64::new(1),
            leases: Mutex::new(HashMap::new()),
            routes: Mutex::new(HashMap::new()),
            subs: Mutex::new(HashMap::new()),
            proxies: Mutex::new(HashMap::new()),
            checkpoints: Mutex::new(HashMap::new()),
            draining: AtomicBool::new(false),
            reannounce: Notify::new(),
            adopters: Mutex::new(Vec::new()),
            created: AtomicU64::new(0),
            placements: Mutex::new(Vec::new()),
            placement_seq: AtomicU64::new(1),
            last_beat: Mutex::new(None),
        })
    }

    /// This instance.
    pub fn id(&self) -> &InstanceId {
        &self.id
    }

    /// Set the address published with the heartbeat.
    pub fn set_addr(&self, addr: String) {
        *self.addr.lock() = addr;
    }

    /// The address published with the heartbeat.
    pub fn addr(&self) -> String {
        self.addr.lock().clone()
    }

    /// Stop taking new rooms and orphans (SIGTERM).
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Register what adopts an orphaned resource of `kind` (rooms are built in): called
    /// with the resource id by the orphan scan; it claims the lease itself.
    pub fn on_orphan(&self, kind: ResourceKind, adopter: super::upkeep::Adopter) {
        self.adopters.lock().push((kind, adopter));
    }

    /// The local tables.
    pub fn local(&self) -> &LocalRegistry {
        &self.local
    }

    /// Shutting down.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// `P:<rest>`.
    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.config.prefix)
    }

    pub(crate) fn lease_key(&self, r: &Resource) -> String {
        self.key(&format!("lease:{}:{}", r.kind.as_str(), r.id))
    }

    pub(crate) fn channel(&self, instance: &InstanceId) -> String {
        self.key(&format!("ch:{instance}"))
    }

    pub(crate) fn presence_value(&self, session: &str) -> String {
        format!("{}/{session}", self.id)
    }

    pub(crate) fn ttl_ms(&self) -> u64 {
        self.config.lease_ttl.as_millis() as u64
    }

    /// A pooled connection, timed and counted as `op`.
    pub(crate) async fn conn(&self) -> RedisResult<deadpool_redis::Connection> {
        self.pool.get().await.map_err(|e| {
            redis::RedisError::from((redis::ErrorKind::Io, "redis pool", e.to_string()))
        })
    }

    /// Run `cmd` on a pooled connection, timed and counted as `op`.
    pub(crate) async fn run<T: redis::FromRedisValue>(
        &self,
        op: &'static str,
        cmd: &redis::Cmd,
    ) -> RedisResult<T> {
        let t0 = Instant::now();
        let res = match self.conn().await {
            Ok(mut c) => cmd.query_async::<T>(&mut c).await,
            Err(e) => Err(e),
        };
        record_op(op, t0, res.is_ok());
        res
    }

    /// Run a pipeline, timed and counted as `op`.
    pub(crate) async fn run_pipe<T: redis::FromRedisValue>(
        &self,
        op: &'static str,
        p: &redis::Pipeline,
    ) -> RedisResult<T> {
        let t0 = Instant::now();
        let res = match self.conn().await {
            Ok(mut c) => p.query_async::<T>(&mut c).await,
            Err(e) => Err(e),
        };
        record_op(op, t0, res.is_ok());
        res
    }

    // ---------------------------------------------------------------- leases

    /// Try to take `resource` (`SET NX PX`); on success it is renewed with the others and
    /// `holder` is told of losses.
    pub async fn acquire(
        &self,
        resource: &Resource,
        holder: Option<Recipient<LeaseNotice>>,
    ) -> bool {
        let mut c = redis::cmd("SET");
        c.arg(self.lease_key(resource))
            .arg(self.id.as_str())
            .arg("NX")
            .arg("PX")
            .arg(self.ttl_ms());
        let got = matches!(
            self.run::<Option<String>>("lease_acquire", &c).await,
            Ok(Some(_))
        );
        if got {
            self.leases.lock().insert(resource.clone(), holder);
        }
        got
    }

    /// Attach (or replace) the holder of a lease this instance already has.
    pub fn hold(&self, resource: &Resource, holder: Recipient<LeaseNotice>) {
        self.leases.lock().insert(resource.clone(), Some(holder));
    }

    /// Every lease this instance holds.
    pub fn held(&self) -> Vec<Resource> {
        self.leases.lock().keys().cloned().collect()
    }

    /// Whether this instance believes it holds `resource`.
    pub fn holds(&self, resource: &Resource) -> bool {
        self.leases.lock().contains_key(resource)
    }

    /// Give `resource` up (check-and-delete: never deletes a successor's lease).
    pub async fn release(&self, resource: &Resource) -> bool {
        self.leases.lock().remove(resource);
        let mut c = redis::cmd("EVAL");
        c.arg(lease::RELEASE_SCRIPT)
            .arg(1)
            .arg(self.lease_key(resource))
            .arg(self.id.as_str());
        matches!(self.run::<i64>("lease_release", &c).await, Ok(1))
    }

    /// The owner of a room's lease and whether that instance is alive (its heartbeat exists),
    /// in one round trip.
    pub async fn room_owner(&self, room: &RoomId) -> RedisResult<Option<(InstanceId, bool)>> {
        let mut c = redis::cmd("EVAL");
        c.arg(OWNER_ALIVE_SCRIPT)
            .arg(1)
            .arg(self.lease_key(&Resource::room(room)))
            .arg(self.key("inst:"));
        let v: Option<(String, i64)> = self.run("directory_read", &c).await?;
        Ok(v.map(|(o, alive)| (InstanceId(o), alive == 1)))
    }

    /// Who owns `resource` now (None also when Redis does not answer).
    pub async fn owner(&self, resource: &Resource) -> Option<InstanceId> {
        self.owner_checked(resource).await.ok().flatten()
    }

    /// Who owns `resource` now; `Err` when Redis does not answer.
    pub async fn owner_checked(&self, resource: &Resource) -> RedisResult<Option<InstanceId>> {
        let mut c = redis::cmd("GET");
        c.arg(self.lease_key(resource));
        Ok(self
            .run::<Option<String>>("directory_read", &c)
            .await?
            .map(InstanceId))
    }

    /// Mark `id` of `kind` as a resource that must always have an owner (orphan scans adopt
    /// it when its lease lapses).
    pub async fn register_owned(&self, kind: ResourceKind, id: &str) -> bool {
        let mut c = redis::cmd("SADD");
        c.arg(self.key(&format!("owned:{}", kind.as_str()))).arg(id);
        self.run::<i64>("directory_write", &c).await.is_ok()
    }

    /// The resource is over: no more adoption.
    pub async fn unregister_owned(&self, kind: ResourceKind, id: &str) -> bool {
        let mut c = redis::cmd("SREM");
        c.arg(self.key(&format!("owned:{}", kind.as_str()))).arg(id);
        self.run::<i64>("directory_write", &c).await.is_ok()
    }

    /// Resources of `kind` without a live lease.
    pub async fn orphans(&self, kind: ResourceKind) -> Vec<String> {
        let mut c = redis::cmd("SMEMBERS");
        c.arg(self.key(&format!("owned:{}", kind.as_str())));
        let Ok(ids) = self.run::<Vec<String>>("directory_read", &c).await else {
            return Vec::new();
        };
        if ids.is_empty() {
            return ids;
        }
        let mut m = redis::cmd("MGET");
        for id in &ids {
            m.arg(self.lease_key(&Resource {
                kind,
                id: id.clone(),
            }));
        }
        let Ok(owners) = self.run::<Vec<Option<String>>>("directory_read", &m).await else {
            return Vec::new();
        };
        ids.into_iter()
            .zip(owners)
            .filter(|(_, o)| o.is_none())
            .map(|(id, _)| id)
            .collect()
    }

    // ---------------------------------------------------------------- directory

    /// Queue the (re)write of a local room's record.
    pub fn announce_room(&self, id: &RoomId) {
        let _ = self.ops.send(Op::Room(id.clone()));
    }

    /// A local room stopped.
    pub fn room_departed(
        &self,
        id: &RoomId,
        departure: Departure,
        players: Vec<PlayerId>,
        code: Option<String>,
    ) {
        self.checkpoints.lock().remove(id);
        self.leases.lock().remove(&Resource::room(id));
        let _ = self.ops.send(Op::Departed {
            room: id.clone(),
            departure,
            players,
            code,
        });
    }

    /// Forget a room that cannot be adopted (its match is over) everywhere, its lease
    /// included: the lease taken to look at it is released (and no longer renewed).
    pub fn forget_room(&self, id: &RoomId, code: Option<String>, players: Vec<PlayerId>) {
        self.leases.lock().remove(&Resource::room(id));
        let _ = self.ops.send(Op::Departed {
            room: id.clone(),
            departure: Departure::Finished,
            players,
            code,
        });
    }

    /// A room whose owner died was adopted here: sessions of its players still routed to the
    /// old owner are told at once to reconnect (instead of waiting for their instance to notice).
    pub fn announce_moved(&self, id: &RoomId, players: Vec<PlayerId>) {
        let _ = self.ops.send(Op::Moved {
            room: id.clone(),
            players,
        });
    }

    /// Queue a checkpoint (only the latest per room is written).
    pub fn checkpoint(&self, id: &RoomId, cp: &Checkpoint) {
        let Ok(json) = serde_json::to_string(cp) else {
            return;
        };
        let fresh = self.checkpoints.lock().insert(id.clone(), json).is_none();
        if fresh {
            let _ = self.ops.send(Op::Checkpoint(id.clone()));
        }
    }

    /// Write a checkpoint now and wait for it (hand-over on shutdown).
    pub async fn checkpoint_now(&self, id: &RoomId, cp: &Checkpoint) -> bool {
        self.checkpoints.lock().remove(id);
        let Ok(json) = serde_json::to_string(cp) else {
            return false;
        };
        self.set_if_owner(&Resource::room(id), &self.key(&format!("ckpt:{id}")), &json)
            .await
    }

    pub(crate) async fn set_if_owner(&self, r: &Resource, key: &str, value: &str) -> bool {
        let mut c = redis::cmd("EVAL");
        c.arg(SET_IF_OWNER_SCRIPT)
            .arg(2)
            .arg(self.lease_key(r))
            .arg(key)
            .arg(self.id.as_str())
            .arg(value);
        matches!(self.run::<i64>("checkpoint", &c).await, Ok(1))
    }

    /// A room's record from the directory.
    pub async fn room_record(&self, id: &RoomId) -> Option<RoomRecord> {
        let mut c = redis::cmd("GET");
        c.arg(self.key(&format!("room:{id}")));
        let v = self
            .run::<Option<String>>("directory_read", &c)
            .await
            .ok()??;
        serde_json::from_str(&v).ok()
    }

    /// Whether Redis still knows `room`: a lease on it (live, or lapsing) or its record (it can
    /// be adopted). `Err` when Redis does not answer (nothing can be concluded then).
    pub async fn room_known(&self, room: &RoomId) -> RedisResult<bool> {
        let mut c = redis::cmd("EXISTS");
        c.arg(self.lease_key(&Resource::room(room)))
            .arg(self.key(&format!("room:{room}")));
        Ok(self.run::<i64>("directory_read", &c).await? > 0)
    }

    /// A room's latest checkpoint.
    pub async fn room_checkpoint(&self, id: &RoomId) -> Option<Checkpoint> {
        let mut c = redis::cmd("GET");
        c.arg(self.key(&format!("ckpt:{id}")));
        let v = self
            .run::<Option<String>>("directory_read", &c)
            .await
            .ok()??;
        serde_json::from_str(&v).ok()
    }

    /// Reserve a join code (`SET NX`).
    pub async fn reserve_code(&self, code: &str, room: &RoomId) -> bool {
        let mut c = redis::cmd("SET");
        c.arg(self.key(&format!("code:{code}")))
            .arg(room.as_str())
            .arg("NX");
        matches!(
            self.run::<Option<String>>("directory_write", &c).await,
            Ok(Some(_))
        )
    }

    /// Resolve a join code.
    pub async fn room_by_code(&self, code: &str) -> Option<RoomId> {
        let mut c = redis::cmd("GET");
        c.arg(self.key(&format!("code:{code}")));
        self.run::<Option<String>>("directory_read", &c)
            .await
            .ok()
            .flatten()
            .map(RoomId)
    }

    /// Listed rooms from the directory, newest first; None when Redis does not answer.
    pub async fn list_rooms(
        &self,
        offset: usize,
        limit: usize,
    ) -> Option<(Vec<RoomSummary>, usize)> {
        let mut p = redis::pipe();
        p.cmd("ZCARD").arg(self.key("rooms"));
        p.cmd("ZREVRANGE")
            .arg(self.key("rooms"))
            .arg(offset)
            .arg((offset + limit).saturating_sub(1) as i64);
        let (total, ids): (usize, Vec<String>) = self.run_pipe("directory_read", &p).await.ok()?;
        if ids.is_empty() || limit == 0 {
            return Some((Vec::new(), total));
        }
        let mut m = redis::cmd("MGET");
        for id in &ids {
            m.arg(self.key(&format!("room:{id}")));
        }
        let vals: Vec<Option<String>> = self.run("directory_read", &m).await.ok()?;
        let items = vals
            .into_iter()
            .flatten()
            .filter_map(|v| serde_json::from_str::<RoomRecord>(&v).ok())
            .map(|r| r.summary)
            .collect();
        Some((items, total))
    }

    // ---------------------------------------------------------------- presence

    /// A local session of `player` authenticated (a session elsewhere is kicked).
    pub fn presence_connected(&self, player: &PlayerId, session: &str) {
        let _ = self.ops.send(Op::Presence {
            player: player.clone(),
            session: session.to_string(),
        });
    }

    /// A local session ended.
    pub fn presence_gone(&self, player: &PlayerId, session: &str) {
        let _ = self.ops.send(Op::PresenceGone {
            player: player.clone(),
            session: session.to_string(),
        });
        self.routes.lock().remove(session);
    }

    /// Send `event` to `player` wherever they are connected. A frame for a player whom a room
    /// here has just released (the rating change after the match end) follows the room's
    /// frames through the same proxy, so it arrives after them, as it does for a local player;
    /// everything else goes by presence.
    pub fn notify_player(&self, player: &PlayerId, event: SessionEvent) {
        if matches!(event, SessionEvent::Frame(_)) {
            let proxy = self
                .proxies
                .lock()
                .values()
                .find(|e| e.released && e.player.as_ref() == Some(player))
                .map(|e| e.addr.clone());
            if let Some(p) = proxy.filter(|p| p.connected()) {
                p.do_send(super::proxy::ForPlayer {
                    player: player.clone(),
                    event,
                });
                return;
            }
        }
        let _ = self.ops.send(Op::Notify {
            player: player.clone(),
            event: event.into(),
        });
    }

    /// Seat bookkeeping.
    pub fn set_player_room(&self, player: &PlayerId, room: Option<RoomId>) {
        let _ = self.ops.send(Op::PlayerRoom {
            player: player.clone(),
            room,
        });
    }

    /// Clear `player`'s room if it is `room`.
    pub fn clear_player_room(&self, player: &PlayerId, room: &RoomId) {
        let _ = self.ops.send(Op::ClearPlayerRoom {
            player: player.clone(),
            room: room.clone(),
        });
    }

    /// "Which room am I in?" from the directory.
    pub async fn player_room(&self, player: &PlayerId) -> Option<RoomId> {
        let mut c = redis::cmd("GET");
        c.arg(self.key(&format!("proom:{player}")));
        self.run::<Option<String>>("presence", &c)
            .await
            .ok()
            .flatten()
            .map(RoomId)
    }

    /// The instance `player` is connected to, and the session.
    pub async fn presence(&self, player: &PlayerId) -> Option<(InstanceId, String)> {
        let mut c = redis::cmd("GET");
        c.arg(self.key(&format!("presence:{player}")));
        let v = self.run::<Option<String>>("presence", &c).await.ok()??;
        let (i, s) = v.split_once('/')?;
        Some((InstanceId(i.to_string()), s.to_string()))
    }

    /// Tell `to` to adopt `rooms` now (hand-over).
    pub async fn offer_rooms(&self, to: &InstanceId, rooms: Vec<RoomId>) -> bool {
        self.publish(to, Body::Adopt { rooms }).await
    }

    /// Take the queued writes (the writer task).
    pub(crate) fn take_ops(&self) -> Option<mpsc::UnboundedReceiver<Op>> {
        self.ops_rx.lock().take()
    }

    /// Take the outgoing queue (the publisher task).
    pub(crate) fn take_out(&self) -> Option<mpsc::Receiver<Outgoing>> {
        self.out_rx.lock().take()
    }
}

/// Count and time one registry operation.
pub(crate) fn record_op(op: &'static str, t0: Instant, ok: bool) {
    let result = if ok { "ok" } else { "error" };
    metrics::counter!("rally_registry_ops_total", "op" => op, "result" => result).increment(1);
    metrics::histogram!("rally_registry_op_duration_seconds", "op" => op)
        .record(t0.elapsed().as_secs_f64());
}

/// Registry operations (the `op` label values).
pub const REGISTRY_OPS: [&str; 9] = [
    "heartbeat",
    "lease_acquire",
    "lease_renew",
    "lease_release",
    "directory_read",
    "directory_write",
    "checkpoint",
    "presence",
    "publish",
];

/// Unix time in µs.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Back-off between reconnect attempts.
pub const RECONNECT_BACKOFF: Duration = Duration::from_millis(200);
