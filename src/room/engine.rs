//! The engine: creates rooms on a pool of arbiters (one per core), registers them, and keeps
//! the shared pieces rooms need (registry, database, settings).

use super::messages::{PlayerInfo, Requeue, RoomRefusal};
use super::{RoomActor, RoomInit};
use crate::config::EngineConfig;
use crate::db::matches::{self, NewMatch};
use crate::db::Db;
use crate::durable::Outbox;
use crate::error::{AppError, AppResult, ErrorKind};
use crate::game::Seat;
use crate::ids::{MatchId, PlayerId, RoomId, TournamentId};
use crate::protocol::code;
use crate::registry::wire::{WireCreated, WireSpec};
use crate::registry::{
    Checkpoint, Registry, Resource, RoomHandle, RoomHost, RoomLookup, RoomRecord, RoomSummary,
};
use actix::prelude::*;
use futures_util::future::LocalBoxFuture;
use rand::Rng;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

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

    /// Parse a storage / wire name.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "quick" => Some(Mode::Quick),
            "private" => Some(Mode::Private),
            "tournament" => Some(Mode::Tournament),
            _ => None,
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

/// The ids of a room decided before it is created: a placement names them, so whichever
/// instance ends up creating the room uses the same ones.
#[derive(Clone, Debug)]
pub struct RoomIds {
    /// Room.
    pub room: RoomId,
    /// Its match row.
    pub match_id: MatchId,
    /// Its join code, already reserved (private rooms).
    pub code: Option<String>,
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
    /// Where rooms hand the writes they must not lose (results, starts, no-shows, seats).
    pub outbox: Outbox,
    /// Settings.
    pub config: EngineConfig,
    arbiters: Vec<ArbiterHandle>,
    next: AtomicUsize,
    arbiter_owners: parking_lot::Mutex<Vec<Arbiter>>,
    /// This instance's room actors, for what only the room itself is told (the outbox settling
    /// its writes: ratings to announce, fenced off); everything else reaches rooms through the
    /// registry's ports. Entries are removed when the actor stops.
    rooms: parking_lot::Mutex<std::collections::HashMap<RoomId, Addr<RoomActor>>>,
    /// Where no-show survivors of rooms created for other instances go (this instance's
    /// matchmaker, which shares the queue through Redis).
    requeue: OnceLock<Recipient<Requeue>>,
}

impl Engine {
    /// Start the arbiter pool; the outbox reports its settled writes to this engine's rooms
    /// and tournaments.
    pub fn new(registry: Registry, db: Db, outbox: Outbox, config: EngineConfig) -> Arc<Engine> {
        let owners: Vec<Arbiter> = (0..config.arbiters.max(1))
            .map(|_| Arbiter::new())
            .collect();
        let arbiters = owners.iter().map(|a| a.handle()).collect();
        let engine = Arc::new(Engine {
            registry,
            db,
            outbox,
            config,
            arbiters,
            rooms: parking_lot::Mutex::new(std::collections::HashMap::new()),
            next: AtomicUsize::new(0),
            arbiter_owners: parking_lot::Mutex::new(owners),
            requeue: OnceLock::new(),
        });
        engine
            .outbox
            .on_settled(super::persist::settled_handler(Arc::downgrade(&engine)));
        engine
    }

    /// Set the matchmaker that takes requeued players (once, at start).
    pub fn set_requeue(&self, r: Recipient<Requeue>) {
        let _ = self.requeue.set(r);
    }

    /// The matchmaker that takes requeued players.
    pub fn requeue_recipient(&self) -> Option<Recipient<Requeue>> {
        self.requeue.get().cloned()
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

    async fn new_code(&self, room: &RoomId) -> AppResult<String> {
        for _ in 0..64 {
            let code: String = {
                let mut rng = rand::thread_rng();
                (0..CODE_LEN)
                    .map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char)
                    .collect()
            };
            if self.registry.reserve_code(&code, room).await {
                return Ok(code);
            }
        }
        Err(AppError::unavailable("cannot reserve a room code"))
    }

    /// Create a room: with several instances, on the least-loaded live one (see
    /// [`crate::registry::placement`]: the request is routed there; if it goes unanswered, the
    /// room is created here with the ids the request named, so it exists once whoever
    /// created it).
    pub async fn create_room(self: &Arc<Self>, spec: RoomSpec) -> AppResult<CreatedRoom> {
        // A tournament's rooms run where the tournament runs: they report to its actor
        // in-process (their players reach them from any instance through routing).
        let Some(c) = self
            .registry
            .cluster()
            .filter(|_| spec.tournament.is_none())
            .cloned()
        else {
            return self.create_room_here(spec).await;
        };
        let placement = c.place().await;
        if &placement.target == c.id() {
            let created = self.create_room_here(spec).await;
            c.placed(placement, None);
            return created;
        }
        let ids = RoomIds {
            room: RoomId::generate(),
            match_id: MatchId::generate(),
            code: None,
        };
        let ids = match spec.private {
            true => RoomIds {
                code: Some(self.new_code(&ids.room).await?),
                ..ids
            },
            false => ids,
        };
        let wire = WireSpec {
            game: spec.game.clone(),
            config: spec.config.clone(),
            mode: spec.mode.as_str().to_string(),
            rated: spec.rated,
            seats: spec.seats.clone(),
            private: spec.private,
            requeue: spec.requeue.is_some(),
            room: Some(ids.room.clone()),
            match_id: Some(ids.match_id.clone()),
            code: ids.code.clone(),
        };
        if let Some(created) = c.request_create(&placement, wire).await {
            c.placed(placement, Some(created.created));
            return Ok(CreatedRoom {
                room: created.room,
                match_id: created.match_id,
                code: created.code,
            });
        }
        let target = placement.target.clone();
        c.placed(placement, None);
        tracing::warn!(%target, room = %ids.room, "placement request unanswered; creating the room here with the same ids");
        match self.create_room_with(spec, Some(ids.clone())).await {
            // The other instance did create it (its answer was late): one room, one match row.
            Err(e) if e.kind == ErrorKind::Conflict => {
                tracing::info!(room = %ids.room, "the unanswered placement had created the room");
                Ok(CreatedRoom {
                    room: ids.room,
                    match_id: ids.match_id,
                    code: ids.code,
                })
            }
            other => other,
        }
    }

    /// Create the match row, start the room on an arbiter, register it (and take its lease).
    /// The match row exists before anyone can join.
    pub async fn create_room_here(self: &Arc<Self>, spec: RoomSpec) -> AppResult<CreatedRoom> {
        self.create_room_with(spec, None).await
    }

    /// [`Engine::create_room_here`] with ids decided beforehand (a placement): a match row
    /// with that id already existing is a conflict, and nothing is started.
    async fn create_room_with(
        self: &Arc<Self>,
        spec: RoomSpec,
        ids: Option<RoomIds>,
    ) -> AppResult<CreatedRoom> {
        if self.registry.cluster().is_some_and(|c| c.draining()) {
            return Err(AppError::unavailable("this instance is shutting down"));
        }
        let seed: u64 = rand::thread_rng().gen();
        let game = crate::game::create(&spec.game, &spec.config, seed)
            .map_err(|e| AppError::validation(e.to_string()))?;
        let (room_id, match_id, planned_code) = match ids {
            Some(ids) => (ids.room, ids.match_id, ids.code),
            None => (RoomId::generate(), MatchId::generate(), None),
        };
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
            players: (0..usize::from(game.seats())).map(seat).collect(),
            seed: seed as i64,
            config: spec.config.to_string(),
            tournament_id: spec.tournament.as_ref().map(|t| t.tournament.0.clone()),
            tournament_slot: spec.tournament.as_ref().map(|t| t.slot.clone()),
        };
        self.db
            .run(move |c| matches::insert_created(c, &row))
            .await?;
        let code = match (spec.private, planned_code) {
            (true, Some(code)) => Some(code),
            (true, None) => Some(self.new_code(&room_id).await?),
            (false, _) => None,
        };
        if let Some(c) = self.registry.cluster() {
            c.acquire(&Resource::room(&room_id), None).await;
        }
        let created_ms = crate::db::now_ms();
        let record = RoomRecord {
            id: room_id.clone(),
            match_id: match_id.clone(),
            game: spec.game.clone(),
            config: spec.config.clone(),
            seed,
            mode: spec.mode.as_str().to_string(),
            rated: spec.rated,
            seats: spec.seats.clone(),
            code: code.clone(),
            requeue: spec.requeue.is_some(),
            created_ms,
            summary: RoomSummary {
                id: room_id.0.clone(),
                game: spec.game.clone(),
                state: "waiting".into(),
                players: match &spec.seats {
                    Some(s) => s.iter().map(|p| Some(p.name.clone())).collect(),
                    None => vec![None; game.seats() as usize],
                },
                spectators: 0,
                score: game.scores(),
                mode: spec.mode.as_str().to_string(),
                rated: spec.rated,
                created_at: created_ms,
            },
        };
        let seat_players: Vec<PlayerId> =
            spec.seats.iter().flatten().map(|p| p.id.clone()).collect();
        self.start_room(record, game, 1, None, spec.requeue, spec.tournament);
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

    /// Start a room actor on an arbiter and register it.
    fn start_room(
        self: &Arc<Self>,
        record: RoomRecord,
        game: Box<dyn crate::game::Game>,
        epoch: i64,
        checkpoint: Option<Checkpoint>,
        requeue: Option<Recipient<Requeue>>,
        tournament: Option<TournamentLink>,
    ) -> RoomHandle {
        let engine = self.clone();
        let capacity = self.config.room_queue;
        let rec = record.clone();
        let inbox = Arc::new(crate::registry::messages::InputInbox::new(capacity));
        let room_inbox = inbox.clone();
        let addr = RoomActor::start_in_arbiter(&self.pick_arbiter(), move |ctx| {
            ctx.set_mailbox_capacity(capacity);
            RoomActor::new(
                engine,
                RoomInit {
                    record: rec,
                    game,
                    epoch,
                    checkpoint,
                    requeue,
                    tournament,
                    inbox: room_inbox,
                },
            )
        });
        let handle = RoomHandle::local(record.id.clone(), super::port(&addr, inbox));
        self.rooms.lock().insert(record.id.clone(), addr.clone());
        if let Some(c) = self.registry.cluster() {
            c.hold(&Resource::room(&record.id), addr.recipient());
        }
        self.registry.register_room(handle.clone(), record);
        handle
    }

    /// The actor of a room running here, if it still runs.
    pub(super) fn local_actor(&self, id: &RoomId) -> Option<Addr<RoomActor>> {
        self.rooms.lock().get(id).filter(|a| a.connected()).cloned()
    }

    /// A room actor stopped: forget its address (only if it is still this actor's).
    pub(super) fn actor_stopped(&self, id: &RoomId, addr: &Addr<RoomActor>) {
        let mut rooms = self.rooms.lock();
        if rooms.get(id).is_some_and(|a| a == addr) {
            rooms.remove(id);
        }
    }

    /// Reach a room wherever it runs; a room whose owner vanished is adopted on the spot.
    /// `Err` is the refusal to send the player: `not_found` for a room that does not exist
    /// (or whose match is over), `unavailable` at once for a room between owners — its owner
    /// died and it is not adopted yet, or it is a tournament match that its tournament replays
    /// in a new room — rather than a request to a dead instance that would time out.
    pub async fn find_room(self: &Arc<Self>, id: &RoomId) -> Result<RoomHandle, RoomRefusal> {
        let moving = || {
            RoomRefusal::new(
                code::UNAVAILABLE,
                "the instance running this room is down; it resumes elsewhere within seconds: \
                 join again (a tournament match is replayed in a new room: see welcome.room)",
            )
        };
        let not_found = || RoomRefusal::new(code::NOT_FOUND, "no such room");
        match self.registry.room(id).await {
            RoomLookup::Found(h) => return Ok(h),
            RoomLookup::Unknown => return Err(not_found()),
            RoomLookup::OwnerDown => return Err(moving()),
            RoomLookup::Ownerless => {}
        }
        let Some(c) = self.registry.cluster() else {
            return Err(not_found());
        };
        if c.draining() {
            return Err(moving());
        }
        if let Some(h) = self.adopt_room(id).await {
            return Ok(h);
        }
        // Not adoptable: over (forgotten), or a tournament room waiting for its tournament.
        match c.room_record(id).await {
            Some(_) => Err(moving()),
            None => Err(not_found()),
        }
    }

    /// Claim a room whose owner is gone: take its lease (`SET NX`), bump the match epoch in
    /// Postgres (`take_over`: the old owner's writes are refused from now on), and recreate it
    /// from its latest checkpoint — or from the start when there is none. A room whose match
    /// is already over is forgotten instead.
    pub async fn adopt_room(self: &Arc<Self>, id: &RoomId) -> Option<RoomHandle> {
        let c = self.registry.cluster()?.clone();
        if c.draining() {
            return None;
        }
        if let Some(h) = self.registry.local_room(id) {
            return Some(h);
        }
        // Only a room with a record can be adopted, and the record is read before the lease
        // is touched: records are written only by a lease holder, so after a Redis flush (no
        // record until the owner has re-created its lease) a survivor never grabs — and thereby
        // takes away — the lease of a healthy owner.
        let seen = c.room_record(id).await?;
        // A write of this match still pending (its owner's journal, or one a survivor took
        // over) goes first: `take_over` would fence off a result its players were told.
        if self.outbox.holds(Some(seen.match_id.as_str()), None).await {
            tracing::debug!(room = %id, "orphaned room has pending durable writes; adopting later");
            return None;
        }
        let resource = Resource::room(id);
        if !c.acquire(&resource, None).await {
            return None;
        }
        let Some(record) = c.room_record(id).await else {
            c.release(&resource).await;
            return None;
        };
        if record.mode == Mode::Tournament.as_str() {
            // A tournament replays an interrupted match in a new room when it is adopted
            // itself (its restore abandons the old row); the old room is only forgotten once
            // its row is over.
            let mid = record.match_id.0.clone();
            let over = matches!(
                self.db.run(move |conn| matches::get(conn, &mid)).await,
                Ok(Some(row)) if matches::TERMINAL.contains(&row.status.as_str())
            );
            if over {
                let players = record
                    .seats
                    .iter()
                    .flatten()
                    .map(|p| p.id.clone())
                    .collect();
                c.forget_room(id, record.code.clone(), players);
            } else {
                c.release(&resource).await;
            }
            return None;
        }
        let players: Vec<PlayerId> = record
            .seats
            .iter()
            .flatten()
            .map(|p| p.id.clone())
            .collect();
        let mid = record.match_id.0.clone();
        let epoch = match self
            .db
            .run(move |conn| matches::take_over(conn, &mid))
            .await
        {
            Ok(e) => e,
            Err(e) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::Conflict) => {
                tracing::info!(room = %id, error = %e.message, "orphaned room's match is over; forgetting it");
                c.forget_room(id, record.code.clone(), players);
                return None;
            }
            Err(e) => {
                // The database is not answering: nothing is decided. Let the lease go; the next
                // scan (or a player's join) tries again.
                tracing::warn!(room = %id, error = ?e, "cannot take an orphaned room over now; retrying later");
                c.release(&resource).await;
                return None;
            }
        };
        let checkpoint = c.room_checkpoint(id).await;
        let game = match checkpoint.as_ref() {
            Some(cp) => crate::game::restore(&record.game, &cp.game),
            None => crate::game::create(&record.game, &record.config, record.seed),
        };
        let game = match game {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(room = %id, error = %e, "cannot rebuild an orphaned room");
                c.release(&resource).await;
                return None;
            }
        };
        metrics::counter!("rally_failovers_total", "kind" => "room").increment(1);
        // Players whose sessions still route to the dead owner reconnect now, not after their
        // instance notices.
        c.announce_moved(id, players.clone());
        tracing::info!(
            room = %id, epoch, resumed = checkpoint.is_some(),
            "adopted an orphaned room"
        );
        let requeue = if record.requeue {
            self.requeue_recipient()
        } else {
            None
        };
        Some(self.start_room(record, game, epoch, checkpoint, requeue, None))
    }
}

impl Engine {
    /// The room a placement request from another instance describes.
    fn spec_from_wire(&self, spec: WireSpec) -> RoomSpec {
        RoomSpec {
            game: spec.game,
            config: spec.config,
            mode: Mode::parse(&spec.mode).unwrap_or(Mode::Private),
            rated: spec.rated,
            seats: spec.seats,
            private: spec.private,
            requeue: if spec.requeue {
                self.requeue_recipient()
            } else {
                None
            },
            tournament: None,
        }
    }
}

/// The engine is what the cluster's background tasks create placed rooms with and adopt
/// orphans through.
impl RoomHost for Arc<Engine> {
    fn create_placed(
        &self,
        spec: WireSpec,
    ) -> LocalBoxFuture<'static, Result<WireCreated, String>> {
        let engine = self.clone();
        Box::pin(async move {
            let ids = match (spec.room.clone(), spec.match_id.clone()) {
                (Some(room), Some(match_id)) => Some(RoomIds {
                    room,
                    match_id,
                    code: spec.code.clone(),
                }),
                _ => None,
            };
            let spec = engine.spec_from_wire(spec);
            let created = engine.create_room_with(spec, ids).await;
            let count = engine.registry.cluster().map_or(0, |c| c.rooms_created());
            created
                .map(|c| WireCreated {
                    room: c.room,
                    match_id: c.match_id,
                    code: c.code,
                    created: count,
                })
                .map_err(|e| e.message)
        })
    }

    fn adopt(&self, room: RoomId) -> LocalBoxFuture<'static, ()> {
        let engine = self.clone();
        Box::pin(async move {
            engine.adopt_room(&room).await;
        })
    }
}
