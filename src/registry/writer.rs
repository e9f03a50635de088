//! The directory writer: queued writes (room records, departures, checkpoints, presence,
//! seats, presence-addressed events) applied in order by one task, batched into pipelines.
//! Rooms and sessions never wait for it.

use super::cluster::Cluster;
use super::lease::{self, Resource};
use super::wire::{Body, WireEvent};
use super::Departure;
use crate::ids::{InstanceId, PlayerId, RoomId};
use deadpool_redis::redis;

/// A session takes a player's presence over: KEYS[1] presence key, ARGV[1] `<instance>/<session>`,
/// ARGV[2] ttl ms, ARGV[3] the session id. Session ids are ULIDs (their order is their
/// connection order), so the newest connection wins whatever order the instances' writes reach
/// Redis in: `{1, previous}` when written, `{0, current}` when the current one is newer (the
/// caller's session is the one to go).
const TAKEOVER_SCRIPT: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur then
  local sid = string.match(cur, '/(.*)$')
  if sid and sid > ARGV[3] then
    return {0, cur}
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, cur}
"#;

/// Fire-and-forget directory writes, in order, by one task.
pub(crate) enum Op {
    Room(RoomId),
    Departed {
        room: RoomId,
        departure: Departure,
        players: Vec<PlayerId>,
        code: Option<String>,
    },
    Checkpoint(RoomId),
    Presence {
        player: PlayerId,
        session: String,
    },
    PresenceGone {
        player: PlayerId,
        session: String,
    },
    PlayerRoom {
        player: PlayerId,
        room: Option<RoomId>,
    },
    ClearPlayerRoom {
        player: PlayerId,
        room: RoomId,
    },
    Notify {
        player: PlayerId,
        event: WireEvent,
    },
    /// A room was adopted here: tell the instances of its players' sessions.
    Moved {
        room: RoomId,
        players: Vec<PlayerId>,
    },
}

impl Cluster {
    /// Apply one batch of queued writes.
    pub(crate) async fn apply_ops(&self, ops: Vec<Op>) {
        let ttl3 = self.ttl_ms() * 3;
        let mut p = redis::pipe();
        let mut n = 0;
        let mut conditional: Vec<(Resource, String, String)> = Vec::new();
        let mut notifies: Vec<(PlayerId, WireEvent)> = Vec::new();
        let mut takeovers: Vec<(PlayerId, String)> = Vec::new();
        let mut moves: Vec<(RoomId, Vec<PlayerId>)> = Vec::new();
        for op in ops {
            match op {
                Op::Room(id) => {
                    let Some(rec) = self.local.record(&id) else {
                        continue;
                    };
                    if let Ok(json) = serde_json::to_string(&rec) {
                        conditional.push((
                            Resource::room(&id),
                            self.key(&format!("room:{id}")),
                            json,
                        ));
                    }
                    p.cmd("SADD")
                        .arg(self.key("owned:room"))
                        .arg(id.as_str())
                        .ignore();
                    if rec.listed() {
                        p.cmd("ZADD")
                            .arg(self.key("rooms"))
                            .arg(rec.created_ms)
                            .arg(id.as_str())
                            .ignore();
                    }
                    if let Some(code) = &rec.code {
                        p.cmd("SET")
                            .arg(self.key(&format!("code:{code}")))
                            .arg(id.as_str())
                            .ignore();
                    }
                    n += 1;
                }
                Op::Checkpoint(id) => {
                    if let Some(json) = self.checkpoints.lock().remove(&id) {
                        conditional.push((
                            Resource::room(&id),
                            self.key(&format!("ckpt:{id}")),
                            json,
                        ));
                    }
                }
                Op::Departed {
                    room,
                    departure,
                    players,
                    code,
                } => {
                    if departure == Departure::Moved {
                        continue;
                    }
                    let rid = room.as_str();
                    p.cmd("DEL")
                        .arg(self.key(&format!("room:{rid}")))
                        .arg(self.key(&format!("ckpt:{rid}")))
                        .ignore();
                    p.cmd("ZREM").arg(self.key("rooms")).arg(rid).ignore();
                    p.cmd("SREM").arg(self.key("owned:room")).arg(rid).ignore();
                    if let Some(code) = code {
                        p.cmd("EVAL")
                            .arg(lease::DELETE_IF_SCRIPT)
                            .arg(1)
                            .arg(self.key(&format!("code:{code}")))
                            .arg(rid)
                            .ignore();
                    }
                    for pl in players {
                        p.cmd("EVAL")
                            .arg(lease::DELETE_IF_SCRIPT)
                            .arg(1)
                            .arg(self.key(&format!("proom:{pl}")))
                            .arg(rid)
                            .ignore();
                    }
                    p.cmd("EVAL")
                        .arg(lease::RELEASE_SCRIPT)
                        .arg(1)
                        .arg(self.lease_key(&Resource::room(&room)))
                        .arg(self.id().as_str())
                        .ignore();
                    n += 1;
                }
                Op::Presence { player, session } => {
                    takeovers.push((player, session));
                }
                Op::PresenceGone { player, session } => {
                    p.cmd("EVAL")
                        .arg(lease::DELETE_IF_SCRIPT)
                        .arg(1)
                        .arg(self.key(&format!("presence:{player}")))
                        .arg(self.presence_value(&session))
                        .ignore();
                    n += 1;
                }
                Op::PlayerRoom { player, room } => {
                    let k = self.key(&format!("proom:{player}"));
                    match room {
                        Some(r) => p.cmd("SET").arg(k).arg(r.as_str()).arg("PX").arg(ttl3),
                        None => p.cmd("DEL").arg(k),
                    }
                    .ignore();
                    n += 1;
                }
                Op::ClearPlayerRoom { player, room } => {
                    p.cmd("EVAL")
                        .arg(lease::DELETE_IF_SCRIPT)
                        .arg(1)
                        .arg(self.key(&format!("proom:{player}")))
                        .arg(room.as_str())
                        .ignore();
                    n += 1;
                }
                Op::Notify { player, event } => notifies.push((player, event)),
                Op::Moved { room, players } => moves.push((room, players)),
            }
        }
        if n > 0 {
            if let Err(e) = self.run_pipe::<()>("directory_write", &p).await {
                tracing::warn!(error = %e, "directory write failed (re-announced later)");
            }
        }
        for (r, k, v) in conditional {
            self.set_if_owner(&r, &k, &v).await;
        }
        for (player, session) in takeovers {
            let mut c = redis::cmd("EVAL");
            c.arg(TAKEOVER_SCRIPT)
                .arg(1)
                .arg(self.key(&format!("presence:{player}")))
                .arg(self.presence_value(&session))
                .arg(ttl3)
                .arg(&session);
            let Ok((took, other)) = self.run::<(i64, Option<String>)>("presence", &c).await else {
                continue;
            };
            let kick = WireEvent::Kick {
                code: crate::protocol::close::SESSION_REPLACED,
                error: crate::protocol::code::CONFLICT.into(),
                message: "a newer connection of this player took over".into(),
            };
            if took == 0 {
                // A newer session of this player is live elsewhere (its write got here first):
                // this one is the older, and goes.
                if let Some(h) = self.local.session_by_id(&session) {
                    h.events.do_send(kick.into());
                }
                continue;
            }
            if let Some((inst, sid)) = other.as_deref().and_then(|o| o.split_once('/')) {
                if inst != self.id().as_str() && sid != session {
                    self.publish(
                        &InstanceId(inst.to_string()),
                        Body::Player {
                            player: player.clone(),
                            session: Some(sid.to_string()),
                            event: kick,
                        },
                    )
                    .await;
                }
            }
        }
        for (room, players) in moves {
            let mut told: Vec<InstanceId> = Vec::new();
            for p in players {
                let Some((inst, _)) = self.presence(&p).await else {
                    continue;
                };
                if told.contains(&inst) {
                    continue;
                }
                if &inst == self.id() {
                    self.room_moved(&room, self.id());
                } else {
                    self.publish(
                        &inst,
                        Body::Moved {
                            room: room.clone(),
                            owner: self.id().clone(),
                        },
                    )
                    .await;
                }
                told.push(inst);
            }
        }
        for (player, event) in notifies {
            match self.presence(&player).await {
                Some((inst, _)) if &inst == self.id() => {
                    if let Some(s) = self.local.session(&player) {
                        s.events.do_send(event.into());
                    }
                }
                Some((inst, _)) => {
                    self.publish(
                        &inst,
                        Body::Player {
                            player,
                            session: None,
                            event,
                        },
                    )
                    .await;
                }
                None => {}
            }
        }
    }
}
