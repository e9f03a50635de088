//! Leases on owned resources (rooms, tournaments, the matchmaker leadership): the names, the
//! notices holders receive, and the Lua scripts.
//!
//! A lease is the key `<prefix>:lease:<kind>:<id>` holding the owner's instance id, created with
//! `SET key owner NX PX ttl`, renewed by [`RENEW_SCRIPT`] every third of the TTL (one script
//! call renews every lease the instance holds) and released by [`RELEASE_SCRIPT`]
//! (check-and-delete). A lease says who should run a resource; it is **not** the fencing
//! token: writes that matter carry the Postgres epoch the owner got from `take_over`, so a
//! Redis flush or a paused owner can never make two writers both succeed.
//!
//! A holder (any actor) registers a [`Recipient<LeaseNotice>`] with the cluster; it is told
//! when its lease is lost (someone else owns the key now: step down at once) or re-acquired
//! (the key had vanished — Redis flushed or restarted — and was re-created: check the fencing
//! token before going on).

use crate::ids::RoomId;
use actix::prelude::*;
use serde::{Deserialize, Serialize};

/// Kinds of owned resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// A game room.
    Room,
    /// A running tournament.
    Tournament,
    /// The quick-match leader (one instance pairs the shared queue).
    Matchmaker,
}

impl ResourceKind {
    /// Key segment and metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Room => "room",
            ResourceKind::Tournament => "tournament",
            ResourceKind::Matchmaker => "matchmaker",
        }
    }
}

/// One owned resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resource {
    /// Kind.
    pub kind: ResourceKind,
    /// Id within the kind.
    pub id: String,
}

impl Resource {
    /// A room's lease.
    pub fn room(id: &RoomId) -> Self {
        Self {
            kind: ResourceKind::Room,
            id: id.0.clone(),
        }
    }

    /// A tournament's lease.
    pub fn tournament(id: &str) -> Self {
        Self {
            kind: ResourceKind::Tournament,
            id: id.to_string(),
        }
    }

    /// The matchmaker leadership.
    pub fn matchmaker() -> Self {
        Self {
            kind: ResourceKind::Matchmaker,
            id: "quick".into(),
        }
    }
}

/// What happened to a held lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseEvent {
    /// Another instance owns it now: stop at once, write nothing more.
    Lost,
    /// The key had vanished (Redis flushed or restarted) and this instance re-created it:
    /// verify the fencing token (the Postgres epoch) before going on.
    Reacquired,
}

/// Sent to a lease holder.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct LeaseNotice {
    /// Which lease.
    pub resource: Resource,
    /// What happened.
    pub event: LeaseEvent,
}

/// Renew every lease in `KEYS` held by `ARGV[1]` for `ARGV[2]` ms. Returns one status per key:
/// 1 renewed, 2 re-created (the key was missing), 0 lost (another owner).
pub const RENEW_SCRIPT: &str = r#"
local out = {}
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    out[i] = 1
  elseif not owner then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    out[i] = 2
  else
    out[i] = 0
  end
end
return out
"#;

/// Delete `KEYS[1]` only when it holds `ARGV[1]`; returns 1 when deleted.
pub const RELEASE_SCRIPT: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// Delete `KEYS[1]` only when its value is `ARGV[1]` (presence, player → room).
pub const DELETE_IF_SCRIPT: &str = RELEASE_SCRIPT;
