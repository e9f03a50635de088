//! In-process registry: this instance's rooms and sessions, in memory behind short-held
//! mutexes. On its own it is the single-instance registry; with Redis it is the local half.

use super::{RoomHandle, RoomRecord, RoomSummary, SessionHandle, TournamentHandle};
use crate::ids::{PlayerId, RoomId, TournamentId};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
struct Inner {
    rooms: HashMap<RoomId, RoomEntry>,
    codes: HashMap<String, RoomId>,
    /// Each player's current session (its id: the handle is kept once, in `by_id`).
    sessions: HashMap<PlayerId, String>,
    /// Every live authenticated session by id, the replaced ones included until they stop
    /// (what rooms on other instances deliver to). Holds every id `sessions` names.
    by_id: HashMap<String, SessionHandle>,
    player_rooms: HashMap<PlayerId, RoomId>,
    tournaments: HashMap<TournamentId, TournamentHandle>,
}

struct RoomEntry {
    handle: RoomHandle,
    record: RoomRecord,
}

/// The local tables (cheap to clone).
#[derive(Clone, Default)]
pub struct LocalRegistry {
    inner: Arc<Mutex<Inner>>,
}

impl LocalRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Make a room reachable; private rooms (with a code) are not listed.
    pub fn register_room(&self, handle: RoomHandle, record: RoomRecord) {
        let mut g = self.inner.lock();
        if let Some(c) = &record.code {
            g.codes.insert(c.clone(), handle.id.clone());
        }
        g.rooms
            .insert(handle.id.clone(), RoomEntry { handle, record });
    }

    /// The directory record of a local room.
    pub fn record(&self, id: &RoomId) -> Option<RoomRecord> {
        self.inner.lock().rooms.get(id).map(|e| e.record.clone())
    }

    /// Every local room's handle and record (re-announce, hand-over).
    pub fn rooms(&self) -> Vec<(RoomHandle, RoomRecord)> {
        self.inner
            .lock()
            .rooms
            .values()
            .map(|e| (e.handle.clone(), e.record.clone()))
            .collect()
    }

    /// Every seat → room pair held by local rooms (re-announce).
    pub fn player_rooms(&self) -> Vec<(PlayerId, RoomId)> {
        let g = self.inner.lock();
        g.player_rooms
            .iter()
            .filter(|(_, r)| g.rooms.contains_key(*r))
            .map(|(p, r)| (p.clone(), r.clone()))
            .collect()
    }

    /// Every local session: (player, session id).
    pub fn session_ids(&self) -> Vec<(PlayerId, String)> {
        self.inner
            .lock()
            .sessions
            .iter()
            .map(|(p, s)| (p.clone(), s.clone()))
            .collect()
    }

    /// True when `code` is free.
    pub fn code_free(&self, code: &str) -> bool {
        !self.inner.lock().codes.contains_key(code)
    }

    /// Forget a stopped room (its code, and presence pointing at it); returns the players
    /// whose room it was.
    pub fn deregister_room(&self, id: &RoomId) -> Vec<PlayerId> {
        let mut g = self.inner.lock();
        if let Some(e) = g.rooms.remove(id) {
            if let Some(c) = e.record.code {
                g.codes.remove(&c);
            }
        }
        let gone: Vec<PlayerId> = g
            .player_rooms
            .iter()
            .filter(|(_, r)| *r == id)
            .map(|(p, _)| p.clone())
            .collect();
        g.player_rooms.retain(|_, r| r != id);
        gone
    }

    /// Reach a room.
    pub fn room(&self, id: &RoomId) -> Option<RoomHandle> {
        self.inner.lock().rooms.get(id).map(|e| e.handle.clone())
    }

    /// Resolve a private room code (case-insensitive) of a local room.
    pub fn room_id_by_code(&self, code: &str) -> Option<RoomId> {
        self.inner
            .lock()
            .codes
            .get(&code.to_ascii_uppercase())
            .cloned()
    }

    /// Replace a room's summary; false when the room is not here or nothing changed.
    pub fn update_summary(&self, id: &RoomId, summary: RoomSummary) -> bool {
        match self.inner.lock().rooms.get_mut(id) {
            Some(e) if e.record.summary != summary => {
                e.record.summary = summary;
                true
            }
            _ => false,
        }
    }

    /// Listed (public) rooms, newest first, paginated.
    pub fn list_rooms(&self, offset: usize, limit: usize) -> (Vec<RoomSummary>, usize) {
        let g = self.inner.lock();
        let mut all: Vec<RoomSummary> = g
            .rooms
            .values()
            .filter(|e| e.record.listed())
            .map(|e| e.record.summary.clone())
            .collect();
        let total = all.len();
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        (all.into_iter().skip(offset).take(limit).collect(), total)
    }

    /// Number of rooms on this instance.
    pub fn room_count(&self) -> usize {
        self.inner.lock().rooms.len()
    }

    /// Presence: a session of `player` authenticated. Returns the session it replaces (the
    /// caller closes it: newest connection wins).
    pub fn session_connected(
        &self,
        player: &PlayerId,
        session: SessionHandle,
    ) -> Option<SessionHandle> {
        let mut g = self.inner.lock();
        let id = session.session_id.clone();
        g.by_id.insert(id.clone(), session);
        let old = g.sessions.insert(player.clone(), id)?;
        g.by_id.get(&old).cloned()
    }

    /// A live session by id (current or replaced but not yet closed).
    pub fn session_by_id(&self, session_id: &str) -> Option<SessionHandle> {
        self.inner.lock().by_id.get(session_id).cloned()
    }

    /// Presence: the session ended; the player's current session is only removed if it is
    /// this one.
    pub fn session_gone(&self, player: &PlayerId, session_id: &str) {
        let mut g = self.inner.lock();
        g.by_id.remove(session_id);
        if g.sessions.get(player).is_some_and(|s| s == session_id) {
            g.sessions.remove(player);
        }
    }

    /// The live session of `player`.
    pub fn session(&self, player: &PlayerId) -> Option<SessionHandle> {
        let g = self.inner.lock();
        g.sessions
            .get(player)
            .and_then(|id| g.by_id.get(id))
            .cloned()
    }

    /// Every live session (shutdown notices).
    pub fn all_sessions(&self) -> Vec<SessionHandle> {
        let g = self.inner.lock();
        g.sessions
            .values()
            .filter_map(|id| g.by_id.get(id))
            .cloned()
            .collect()
    }

    /// Number of live sessions.
    pub fn session_count(&self) -> usize {
        self.inner.lock().sessions.len()
    }

    /// Presence: `player` holds a seat in `room` (None: no longer).
    pub fn set_player_room(&self, player: &PlayerId, room: Option<RoomId>) {
        let mut g = self.inner.lock();
        match room {
            Some(r) => {
                g.player_rooms.insert(player.clone(), r);
            }
            None => {
                g.player_rooms.remove(player);
            }
        }
    }

    /// Clear `player`'s room only if it is `room`.
    pub fn clear_player_room(&self, player: &PlayerId, room: &RoomId) {
        let mut g = self.inner.lock();
        if g.player_rooms.get(player) == Some(room) {
            g.player_rooms.remove(player);
        }
    }

    /// "Which room am I in?"
    pub fn player_room(&self, player: &PlayerId) -> Option<RoomId> {
        self.inner.lock().player_rooms.get(player).cloned()
    }

    /// Claim a tournament for this instance: true (and registered) when nobody runs it yet.
    /// The in-process registry is the only instance; a shared registry makes this a lease.
    pub fn claim_tournament(&self, handle: TournamentHandle) -> bool {
        let mut g = self.inner.lock();
        if g.tournaments.get(&handle.id).is_some_and(|h| h.connected()) {
            return false;
        }
        g.tournaments.insert(handle.id.clone(), handle);
        true
    }

    /// Release a tournament (finished, cancelled, or its actor stopped).
    pub fn release_tournament(&self, id: &TournamentId) {
        self.inner.lock().tournaments.remove(id);
    }

    /// Reach a running tournament's actor.
    pub fn tournament(&self, id: &TournamentId) -> Option<TournamentHandle> {
        self.inner.lock().tournaments.get(id).cloned()
    }
}
