//! The registry: which room lives where, how to reach it, and presence (player → live
//! session, player → current room).
//!
//! Every part of rally reaches rooms through here — sessions, the matchmaker, the rooms API and
//! tournaments — never through an `Addr<RoomActor>` kept on the side.
//!
//! # Backends
//! - [`local`]: this instance's rooms and sessions, in memory. Always present: even with Redis,
//!   a session on the owning instance talks to its room in-process.
//! - [`cluster`] (Redis, when `RALLY_REDIS_URL` is set): instance heartbeats, leases on owned
//!   resources ([`lease`]), the shared directory (room records, codes, summaries, presence),
//!   cross-instance routing over pub/sub ([`routing`]: what arrives; [`remote`]: the session
//!   side, routes and delivery; [`proxy`]: the owner side; [`wire`]: the messages), placement
//!   of new rooms ([`placement`]), the background upkeep that renews, re-announces, watches
//!   routes and adopts orphans ([`upkeep`]), and the ordered directory writer ([`writer`]).
//!
//! [`Registry`] offers the same methods over both; the ones that may need Redis are `async`.
//!
//! # The seam
//! The registry knows rooms and tournaments only through its own types: the messages it
//! carries ([`messages`]), the ports of recipients a room or a tournament hands over when it
//! registers ([`RoomPort`], [`TournamentPort`]) and the [`RoomHost`] trait the room engine
//! implements for placement and adoption. It imports neither the actors nor the engine, so it
//! can be read — and tested, with stand-in actors — on its own.

pub mod cluster;
pub mod handle;
pub mod lease;
pub mod local;
pub mod messages;
pub mod placement;
pub mod proxy;
pub mod remote;
pub mod routing;
pub mod upkeep;
pub mod wire;
pub mod writer;

pub use cluster::Cluster;
pub use handle::{
    Host, RoomHandle, RoomHost, RoomPort, RoomRequest, TournamentHandle, TournamentPort,
    Undelivered,
};
pub use lease::{LeaseEvent, LeaseNotice, Resource, ResourceKind};
pub use local::LocalRegistry;
pub use messages::SessionHandle;

use crate::ids::{MatchId, PlayerId, RoomId, TournamentId};
use crate::replay::InputLog;
use messages::{PlayerInfo, SessionEvent};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What `GET /api/v1/rooms` shows of a room.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RoomSummary {
    /// Room id.
    pub id: String,
    /// Game kind.
    pub game: String,
    /// Room state.
    pub state: String,
    /// Player names by seat (None = empty seat).
    pub players: Vec<Option<String>>,
    /// Spectators watching.
    pub spectators: usize,
    /// Scores by seat.
    pub score: Vec<u32>,
    /// Quick, private or tournament.
    pub mode: String,
    /// Whether ratings change.
    pub rated: bool,
    /// Unix ms.
    pub created_at: i64,
}

/// Everything needed to recreate a room on another instance (with a [`Checkpoint`], where it
/// was; without one, from the start). Written to the directory when the room is created and
/// rewritten with each summary change.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoomRecord {
    /// Room.
    pub id: RoomId,
    /// Its match row.
    pub match_id: MatchId,
    /// Game kind.
    pub game: String,
    /// Game config.
    pub config: serde_json::Value,
    /// Game seed (also on the match row).
    pub seed: u64,
    /// `quick` | `private` | `tournament`.
    pub mode: String,
    /// Rated.
    pub rated: bool,
    /// Seats assigned in advance.
    pub seats: Option<Vec<PlayerInfo>>,
    /// Join code (private rooms; not listed).
    pub code: Option<String>,
    /// Whether no-show survivors go back to the quick-match queue.
    pub requeue: bool,
    /// Unix ms.
    pub created_ms: i64,
    /// Latest summary.
    pub summary: RoomSummary,
}

impl RoomRecord {
    /// Listed in `GET /api/v1/rooms` (private rooms never are).
    pub fn listed(&self) -> bool {
        self.code.is_none()
    }
}

/// A room's periodic checkpoint: enough to resume the match where it was.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The owner's epoch when it was written.
    pub epoch: i64,
    /// Room state name.
    pub state: String,
    /// `game.save()`.
    pub game: serde_json::Value,
    /// The input log so far (the replay must cover the whole match).
    pub log: InputLog,
    /// Players by seat.
    pub seats: Vec<Option<PlayerInfo>>,
    /// Last applied input sequence number by seat.
    pub last_seq: Vec<u64>,
    /// Milliseconds played so far (None before the start).
    pub played_ms: Option<u64>,
    /// Unix ms when written.
    pub saved_ms: i64,
}

/// Where a room is, as far as the registry can tell.
pub enum RoomLookup {
    /// Here, or on a live instance.
    Found(RoomHandle),
    /// Its lease names an instance whose heartbeat is gone (or Redis does not answer): it
    /// will be adopted (or its tournament replays it) within a lease period. Not worth
    /// waiting for an answer from the dead owner.
    OwnerDown,
    /// No owner holds it: adopt it, if it is adoptable.
    Ownerless,
    /// Not known here (single instance), or ours but stopped.
    Unknown,
}

/// Presence answer for "which room am I in?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The room with the player's seat.
    pub room: RoomId,
}

/// Used by sessions to report which player they serve (for presence).
pub type PresenceKey = PlayerId;

/// What to do with a stopping room's directory entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Departure {
    /// The room is over: forget it everywhere.
    Finished,
    /// The room moved (lease lost, handed over): another instance owns the entries now.
    Moved,
}

/// The registry (cheap to clone): the local tables plus, with Redis, the cluster.
#[derive(Clone, Default)]
pub struct Registry {
    local: LocalRegistry,
    cluster: Option<Arc<Cluster>>,
}

impl Registry {
    /// A single-instance registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry backed by Redis.
    pub fn clustered(cluster: Arc<Cluster>) -> Self {
        Self {
            local: cluster.local.clone(),
            cluster: Some(cluster),
        }
    }

    /// The Redis side, when configured.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    /// The in-process tables.
    pub fn local(&self) -> &LocalRegistry {
        &self.local
    }

    /// Make a room reachable (and, with Redis, announce it).
    pub fn register_room(&self, handle: RoomHandle, record: RoomRecord) {
        let id = handle.id.clone();
        self.local.register_room(handle, record);
        if let Some(c) = &self.cluster {
            c.room_started();
            c.announce_room(&id);
        }
    }

    /// Reserve a private room code for `room`; false when taken.
    pub async fn reserve_code(&self, code: &str, room: &RoomId) -> bool {
        if !self.local.code_free(code) {
            return false;
        }
        match &self.cluster {
            None => true,
            Some(c) => c.reserve_code(code, room).await,
        }
    }

    /// Forget a stopped room; with [`Departure::Finished`] also its directory entries.
    pub fn deregister_room(&self, id: &RoomId, departure: Departure) {
        let code = self.local.record(id).and_then(|r| r.code);
        let players = self.local.deregister_room(id);
        if let Some(c) = &self.cluster {
            c.room_departed(id, departure, players, code);
        }
    }

    /// A room on this instance.
    pub fn local_room(&self, id: &RoomId) -> Option<RoomHandle> {
        self.local.room(id)
    }

    /// Reach a room, wherever it runs.
    pub async fn room(&self, id: &RoomId) -> RoomLookup {
        if let Some(h) = self.local.room(id) {
            return RoomLookup::Found(h);
        }
        let Some(c) = self.cluster.as_ref() else {
            return RoomLookup::Unknown;
        };
        match c.room_owner(id).await {
            Ok(None) => RoomLookup::Ownerless,
            // Our lease, but not running here (it just stopped).
            Ok(Some((owner, _))) if &owner == c.id() => RoomLookup::Unknown,
            Ok(Some((owner, true))) => {
                RoomLookup::Found(RoomHandle::remote(id.clone(), owner, c.clone()))
            }
            Ok(Some((_, false))) => RoomLookup::OwnerDown,
            Err(_) => RoomLookup::OwnerDown,
        }
    }

    /// Resolve a private room code (case-insensitive) to a room id.
    pub async fn room_id_by_code(&self, code: &str) -> Option<RoomId> {
        let code = code.to_ascii_uppercase();
        if let Some(id) = self.local.room_id_by_code(&code) {
            return Some(id);
        }
        self.cluster.as_ref()?.room_by_code(&code).await
    }

    /// Replace a room's summary (state, score, seats changed).
    pub fn update_summary(&self, id: &RoomId, summary: RoomSummary) {
        if self.local.update_summary(id, summary) {
            if let Some(c) = &self.cluster {
                c.announce_room(id);
            }
        }
    }

    /// Write a room's checkpoint (non-blocking; coalesced: only the latest is written).
    pub fn checkpoint(&self, id: &RoomId, checkpoint: &Checkpoint) {
        if let Some(c) = &self.cluster {
            c.checkpoint(id, checkpoint);
        }
    }

    /// Whether rooms should write checkpoints at all.
    pub fn wants_checkpoints(&self) -> bool {
        self.cluster.is_some()
    }

    /// Listed (public) rooms, newest first, paginated — the same on every instance.
    pub async fn list_rooms(&self, offset: usize, limit: usize) -> (Vec<RoomSummary>, usize) {
        match &self.cluster {
            None => self.local.list_rooms(offset, limit),
            Some(c) => match c.list_rooms(offset, limit).await {
                Some(r) => r,
                None => self.local.list_rooms(offset, limit),
            },
        }
    }

    /// Number of rooms on this instance.
    pub fn room_count(&self) -> usize {
        self.local.room_count()
    }

    /// Presence: a session of `player` authenticated. Returns the local session it replaces
    /// (the caller closes it: newest connection wins); a session on another instance is told
    /// by the cluster.
    pub fn session_connected(
        &self,
        player: &PlayerId,
        session: SessionHandle,
    ) -> Option<SessionHandle> {
        let sid = session.session_id.clone();
        let old = self.local.session_connected(player, session);
        if let Some(c) = &self.cluster {
            c.presence_connected(player, &sid);
        }
        old
    }

    /// Presence: the session ended; only removes it if it is still the current one.
    pub fn session_gone(&self, player: &PlayerId, session_id: &str) {
        self.local.session_gone(player, session_id);
        if let Some(c) = &self.cluster {
            c.presence_gone(player, session_id);
        }
    }

    /// The live session of `player` on this instance.
    pub fn session(&self, player: &PlayerId) -> Option<SessionHandle> {
        self.local.session(player)
    }

    /// Deliver a control event to `player` on whichever instance they are connected to. When a
    /// room here relays frames to the player on another instance, the event follows them
    /// through the same relay (so a rating change arrives after the match end, as it does
    /// for a local player); otherwise presence says where the player is.
    pub fn notify_player(&self, player: &PlayerId, event: SessionEvent) {
        if let Some(s) = self.local.session(player) {
            s.events.do_send(event);
            return;
        }
        if let Some(c) = &self.cluster {
            c.notify_player(player, event);
        }
    }

    /// Every live session on this instance (shutdown notices).
    pub fn all_sessions(&self) -> Vec<SessionHandle> {
        self.local.all_sessions()
    }

    /// Number of live sessions on this instance.
    pub fn session_count(&self) -> usize {
        self.local.session_count()
    }

    /// Presence: `player` holds a seat in `room` (None: no longer).
    pub fn set_player_room(&self, player: &PlayerId, room: Option<RoomId>) {
        self.local.set_player_room(player, room.clone());
        if let Some(c) = &self.cluster {
            c.set_player_room(player, room);
        }
    }

    /// Clear `player`'s room only if it is `room`.
    pub fn clear_player_room(&self, player: &PlayerId, room: &RoomId) {
        self.local.clear_player_room(player, room);
        if let Some(c) = &self.cluster {
            c.clear_player_room(player, room);
        }
    }

    /// Register a tournament actor running here: true when no live one runs here yet. With
    /// several instances the caller holds the tournament's lease first
    /// ([`Cluster::acquire`] on [`Resource::tournament`]).
    pub fn claim_tournament(&self, handle: TournamentHandle) -> bool {
        self.local.claim_tournament(handle)
    }

    /// Forget a tournament actor (finished, cancelled, stepped down).
    pub fn release_tournament(&self, id: &TournamentId) {
        self.local.release_tournament(id)
    }

    /// Reach a tournament actor running here.
    pub fn tournament(&self, id: &TournamentId) -> Option<TournamentHandle> {
        self.local.tournament(id)
    }

    /// Reach a running tournament wherever it runs (its lease names the owner).
    pub async fn find_tournament(&self, id: &TournamentId) -> Option<TournamentHandle> {
        if let Some(h) = self.local.tournament(id).filter(|h| h.connected()) {
            return Some(h);
        }
        let c = self.cluster.as_ref()?;
        let owner = c.owner(&Resource::tournament(id.as_str())).await?;
        if &owner == c.id() {
            return None;
        }
        Some(TournamentHandle::remote(id.clone(), owner, c.clone()))
    }

    /// "Which room am I in?"
    pub async fn player_room(&self, player: &PlayerId) -> Option<RoomId> {
        if let Some(r) = self.local.player_room(player) {
            return Some(r);
        }
        self.cluster.as_ref()?.player_room(player).await
    }
}

#[cfg(test)]
mod seam_tests {
    /// Modules the registry must not import (issue 13, "Architecture"): the actors and what
    /// builds on it. It knows rooms and tournaments only through its own messages and ports.
    const ABOVE: [&str; 7] = [
        "room",
        "tournament",
        "session",
        "matchmaking",
        "durable",
        "api",
        "app",
    ];

    #[test]
    fn the_registry_imports_nothing_built_on_it() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/registry");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("src/registry") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                for m in ABOVE {
                    let m = format!("crate::{m}");
                    assert!(
                        !code.contains(&m),
                        "{}:{}: the registry imports {m}: {line}",
                        path.display(),
                        n + 1
                    );
                }
            }
            checked += 1;
        }
        assert!(
            checked >= 10,
            "only {checked} files found in {}",
            dir.display()
        );
    }
}
