//! The engine: creates rooms on a pool of arbiters (one per core), registers them, and keeps
//! the shared pieces rooms need (registry, database, settings).

use super::messages::{PlayerInfo, Requeue};
use super::RoomActor;
use crate::config::EngineConfig;
use crate::db::matches::{self, NewMatch};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::game::Seat;
use crate::ids::{MatchId, RoomId, TournamentId};
use crate::registry::{Registry, RoomHandle};
use actix::prelude::*;
use rand::Rng;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Where a match comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Quick match (rated for everyone).
    Quick,
    /// Private room by code (unrated unless created as rated).
    Private,
    /// Tournament match.
    Tournament,
}

impl Mode {
    /// Storage / wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Quick => "quick",
            Mode::Private => "private",
            Mode::Tournament => "tournament",
        }
    }
}

/// What room to create.
pub struct RoomSpec {
    /// Game kind.
    pub game: String,
    /// Game config (validated by the game).
    pub config: serde_json::Value,
    /// Origin.
    pub mode: Mode,
    /// Rated.
    pub rated: bool,
    /// Seats assigned in advance (quick match, tournaments); None = first come (private).
    pub seats: Option<Vec<PlayerInfo>>,
    /// Give the room a join code and keep it out of the public list.
    pub private: bool,
    /// Where no-show survivors go back to the queue (quick match).
    pub requeue: Option<Recipient<Requeue>>,
    /// Set for a tournament match: the room reports to that tournament and applies its
    /// no-show rule.
    pub tournament: Option<TournamentLink>,
}

/// What makes a room a tournament match. The room reaches its tournament through the registry
/// (never through an address kept on the side), reporting the start and the result after each
/// is persisted.
#[derive(Clone, Debug)]
pub struct TournamentLink {
    /// The tournament.
    pub tournament: TournamentId,
    /// The bracket slot key (`r2m1`), stored on the match row.
    pub slot: String,
    /// How long the seated players have to join; replaces the quick-match join window. A player
    /// still absent then forfeits (a walkover for the other).
    pub no_show: std::time::Duration,
    /// The seat that advances when neither player came (the better seed).
    pub better_seed_seat: Seat,
}

/// A created room.
#[derive(Clone, Debug)]
pub struct CreatedRoom {
    /// Room.
    pub room: RoomId,
    /// Match row id.
    pub match_id: MatchId,
    /// Join code for private rooms.
    pub code: Option<String>,
}

/// Alphabet of join codes: no 0/O, 1/I to read aloud.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Join code length: 32^6 ≈ 10^9 codes.
pub const CODE_LEN: usize = 6;

/// Shared engine state.
pub struct Engine {
    /// The registry.
    pub registry: Registry,
    /// Database.
    pub db: Db,
    /// Settings.
    pub config: EngineConfig,
    arbiters: Vec<ArbiterHandle>,
    next: AtomicUsize,
    arbiter_owners: parking_lot::Mutex<Vec<Arbiter>>,
}

impl Engine {
    /// Start the arbiter pool.
    pub fn new(registry: Registry, db: Db, config: EngineConfig) -> Arc<Engine> {
        let owners: Vec<Arbiter> = (0..config.arbiters.max(1))
            .map(|_| Arbiter::new())
            .collect();
        let arbiters = owners.iter().map(|a| a.handle()).collect();
        Arc::new(Engine {
            registry,
            db,
            config,
            arbiters,
            next: AtomicUsize::new(0),
            arbiter_owners: parking_lot::Mutex::new(owners),
        })
    }

    /// Stop the room arbiters (shutdown).
    pub fn stop(&self) {
        for a in self.arbiter_owners.lock().drain(..) {
            a.stop();
        }
    }

    /// The next arbiter of the pool, round robin (rooms, and the tournament actors that drive
    /// them, run there rather than on an HTTP worker).
    pub fn pick_arbiter(&self) -> ArbiterHandle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.arbiters.len();
        self.arbiters[i].clone()
    }

    fn new_code(&self) -> String {
        let mut rng = rand::thread_rng();
        loop {
            let code: String = (0..CODE_LEN)
                .map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char)
                .collect();
            if self.registry.code_free(&code) {
                return code;
            }
        }
    }

    /// Create the match row, start the room on an arbiter, register it. The match row exists
    /// before anyone can join.
    pub async fn create_room(self: &Arc<Self>, spec: RoomSpec) -> AppResult<CreatedRoom> {
        let seed: u64 = rand::thread_rng().gen();
        let game = crate::game::create(&spec.game, &spec.config, seed)
            .map_err(|e| AppError::validation(e.to_string()))?;
        let room_id = RoomId::generate();
        let match_id = MatchId::generate();
        let seat = |i: usize| {
            spec.seats
                .as_ref()
                .and_then(|s| s.get(i))
                .map(|p| p.id.0.clone())
        };
        let row = NewMatch {
            id: match_id.0.clone(),
            room_id: room_id.0.clone(),
            game: spec.game.clone(),
            mode: spec.mode.as_str().to_string(),
            rated: spec.rated,
            player0: seat(0),
            player1: seat(1),
            seed: seed as i64,
            config: spec.config.to_string(),
            tournament_id: spec.tournament.as_ref().map(|t| t.tournament.0.clone()),
            tournament_slot: spec.tournament.as_ref().map(|t| t.slot.clone()),
        };
        self.db
            .run(move |c| matches::insert_created(c, &row))
            .await?;
        let code = spec.private.then(|| self.new_code());
        let summary = super::RoomSummary {
            id: room_id.0.clone(),
            game: spec.game.clone(),
            state: "waiting",
            players: match &spec.seats {
                Some(s) => s.iter().map(|p| Some(p.name.clone())).collect(),
                None => vec![None; game.seats() as usize],
            },
            spectators: 0,
            score: game.scores(),
            mode: spec.mode.as_str(),
            rated: spec.rated,
            created_at: crate::db::now_ms(),
        };
        let seat_players: Vec<crate::ids::PlayerId> =
            spec.seats.iter().flatten().map(|p| p.id.clone()).collect();
        let engine = self.clone();
        let (rid, mid) = (room_id.clone(), match_id.clone());
        let capacity = self.config.room_queue;
        let addr = RoomActor::start_in_arbiter(&self.pick_arbiter(), move |ctx| {
            ctx.set_mailbox_capacity(capacity);
            RoomActor::new(engine, rid, mid, game, spec)
        });
        let handle = RoomHandle::local(room_id.clone(), addr);
        self.registry.register_room(handle, code.clone(), summary);
        // Presence before anyone is told about the room: a player who connects after the
        // notification went out still learns the room from `welcome` (the room's own start
        // hook, which sets it too, may run a little later on its arbiter).
        for p in seat_players {
            self.registry.set_player_room(&p, Some(room_id.clone()));
        }
        Ok(CreatedRoom {
            room: room_id,
            match_id,
            code,
        })
    }
}
