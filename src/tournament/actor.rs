//! The tournament actor: one per tournament that is not over (draft, registration, running),
//! on the room arbiter pool. It owns the tournament's state — registration, seeding, the
//! bracket, the matches of the current round — and is the only writer of it.
//!
//! # Persist, then announce
//! Every transition is planned on a copy ([`super::plan`]), written in one transaction
//! (fenced by the tournament's ownership epoch), and only then adopted and announced. While a
//! write is in flight the mailbox waits (`ctx.wait` / `AtomicResponse`), so transitions never
//! interleave. A failed write changes nothing in memory; the actor then reloads from the
//! database (the source of truth) and carries on.
//!
//! # Matches
//! Each ready match gets a room through [`Engine::create_room`] (its match row is written
//! first), with the tournament's match settings and no-show rule; both players are told over
//! their live sessions. Rooms report back through the registry after persisting: `Started`,
//! then `Finished` with the result, which advances the bracket.

use super::bracket::{MatchResult, MatchSlot};
use super::directory::Tournaments;
use super::messages::*;
use super::model::{better_seed_seat, rebuild, slot_key, MatchRecord, RowStatus, Status};
use super::plan::{Effect, Plan, State};
use crate::db::tournaments::{self, Loaded};
use crate::error::{AppError, AppResult};
use crate::ids::{PlayerId, TournamentId};
use crate::protocol::{ServerMsg, TournamentEvent};
use crate::registry::{LeaseEvent, LeaseNotice, Resource, ResourceKind};
use crate::room::messages::{Conclude, ForfeitPlayer, PlayerInfo, SessionEvent};
use crate::room::{Engine, Mode, RoomSpec, TournamentLink};
use actix::prelude::*;
use bytestring::ByteString;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Wait before the first retry after a failed write or room creation (then the state is
/// reloaded from the database): short enough that players barely notice a blip. Each further
/// failure doubles it, up to [`MAX_RETRY_DELAY`].
pub const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Longest wait between two retries while the database stays unreachable: a tournament resumes
/// within this of the database answering again, without hammering it meanwhile.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(8);

/// How long a finished or cancelled tournament's actor stays up before it stops, so reports
/// of rooms still lingering find it (they change nothing any more).
pub const LINGER: Duration = Duration::from_secs(5);

/// The caller recorded in the audit log for scheduled actions (registration opening and
/// closing at the configured times).
pub fn system_caller() -> Caller {
    Caller {
        id: PlayerId("system".into()),
        name: "system".into(),
    }
}

/// One tournament.
pub struct TournamentActor {
    engine: Arc<Engine>,
    /// This instance's tournament actors (this one leaves it when it stops).
    tournaments: Tournaments,
    id: TournamentId,
    /// Ownership epoch carried by every write; a restore elsewhere bumps it and fences this
    /// actor off.
    epoch: i64,
    /// Mirrors the database; replaced only after a write succeeded.
    state: State,
    /// When each live match's room was created, by match id (start-delay histogram).
    ready_at: HashMap<String, Instant>,
    /// Sessions listening to live events, by session id.
    subscribers: HashMap<String, Recipient<SessionEvent>>,
    /// Walkovers the last rebuild found due; persisted when the actor resumes.
    due: Vec<(MatchSlot, MatchResult)>,
    /// A reload is scheduled (after a failed write).
    reload_pending: bool,
    /// Failed writes or reloads in a row (the retry delay doubles with each).
    failures: u32,
    /// Another instance owns this tournament now (its lease was lost): stop without giving
    /// anything up.
    stepped_down: bool,
}

/// Rebuild the in-memory state of a loaded tournament.
fn state_of(loaded: Loaded) -> AppResult<(State, Vec<(MatchSlot, MatchResult)>)> {
    let Loaded {
        meta,
        entrants,
        records,
        ..
    } = loaded;
    let (bracket, due) = match meta.status {
        Status::Running | Status::Finished => {
            let r = rebuild(meta.format, &entrants, &records).map_err(|e| {
                AppError::internal(anyhow::anyhow!(
                    "tournament {}: rebuild failed: {e}",
                    meta.id
                ))
            })?;
            (Some(r.bracket), r.due)
        }
        _ => (None, Vec::new()),
    };
    let state = State {
        meta,
        entrants,
        records,
        bracket,
    };
    Ok((state, due))
}

impl TournamentActor {
    /// Start the actor of a loaded tournament on the arbiter pool and register it. `epoch` is
    /// the ownership epoch this process holds (1 at creation, or what [`tournaments::claim`]
    /// returned at restore).
    pub fn spawn(
        engine: &Arc<Engine>,
        tournaments: &Tournaments,
        loaded: Loaded,
        epoch: i64,
    ) -> AppResult<Addr<TournamentActor>> {
        let id = TournamentId(loaded.meta.id.clone());
        if tournaments.get(&id).is_some() {
            return Err(AppError::conflict(format!(
                "tournament {id} already runs here"
            )));
        }
        let (state, due) = state_of(loaded)?;
        let actor = TournamentActor {
            engine: engine.clone(),
            tournaments: tournaments.clone(),
            id: id.clone(),
            epoch,
            state,
            ready_at: HashMap::new(),
            subscribers: HashMap::new(),
            due,
            reload_pending: false,
            failures: 0,
            stepped_down: false,
        };
        let addr = TournamentActor::start_in_arbiter(&engine.pick_arbiter(), move |_| actor);
        if let Some(c) = engine.registry.cluster() {
            c.hold(&Resource::tournament(id.as_str()), addr.clone().recipient());
        }
        if !tournaments.claim(&engine.registry, &id, &addr) {
            return Err(AppError::conflict(format!(
                "tournament {id} already runs here"
            )));
        }
        Ok(addr)
    }

    /// The tournament view, as served by the API.
    fn view(&self) -> serde_json::Value {
        let s = &self.state;
        super::model::render(&s.meta, &s.entrants, s.bracket.as_ref(), &s.records)
    }

    fn now() -> i64 {
        crate::db::now_ms()
    }

    /// Write `plan`'s change (skipped when there is nothing to write), then adopt and
    /// announce it. Run under `ctx.wait` (directly or through `AtomicResponse`).
    fn commit(&mut self, mut plan: Plan) -> impl ActorFuture<Self, Output = AppResult<()>> {
        let change = std::mem::take(&mut plan.change);
        let write = (!change.is_empty()).then(|| {
            let (db, id, epoch) = (self.engine.db.clone(), self.id.0.clone(), self.epoch);
            async move {
                db.run(move |c| tournaments::apply(c, &id, epoch, &change))
                    .await
            }
        });
        async move {
            match write {
                Some(w) => w.await,
                None => Ok(()),
            }
        }
        .into_actor(self)
        .map(move |res, act, ctx| {
            res?;
            act.recovered();
            act.adopt(plan, ctx);
            Ok(())
        })
    }

    /// Commit a plan the actor made itself; a failed write is logged and the state reloaded.
    fn commit_internal(&mut self, plan: Plan, ctx: &mut Context<Self>) {
        ctx.wait(self.commit(plan).map(|res, act, ctx| {
            if let Err(e) = res {
                tracing::error!(tournament = %act.id, error = ?e, "tournament write failed; reloading");
                act.reload_later(ctx);
            }
        }));
    }

    /// Take over the planned state, then tell rooms, count, announce, and start what is ready.
    fn adopt(&mut self, plan: Plan, ctx: &mut Context<Self>) {
        let before = self.state.meta.status;
        self.state = plan.next;
        let after = self.state.meta.status;
        if before != after {
            super::status_changed(Some(before), after);
        }
        for result in plan.counted {
            metrics::counter!("rally_tournament_matches_total", "result" => result).increment(1);
        }
        for effect in plan.effects {
            self.tell_room(effect);
        }
        // Every adopted change (seeding, disqualification included) reaches subscribers as
        // the new state, after its own events.
        self.announce(&plan.events);
        self.announce_state();
        if after.is_over() {
            tracing::info!(tournament = %self.id, status = after.as_str(), "tournament over");
            ctx.run_later(LINGER, |_, ctx| ctx.stop());
        } else {
            self.start_ready(ctx);
        }
    }

    fn tell_room(&self, effect: Effect) {
        let registry = &self.engine.registry;
        match effect {
            Effect::Forfeit { room, player } => {
                // A tournament's rooms run where it runs (in-process).
                if let Some(p) = registry.local_room(&room).as_ref().and_then(|r| r.port()) {
                    p.forfeit.do_send(ForfeitPlayer { player });
                }
            }
            Effect::Conclude {
                room,
                winner,
                reason,
            } => {
                if let Some(p) = registry.local_room(&room).as_ref().and_then(|r| r.port()) {
                    p.conclude.do_send(Conclude { winner, reason });
                }
            }
        }
    }

    /// Create a room for every match that can start.
    fn start_ready(&mut self, ctx: &mut Context<Self>) {
        for slot in self.state.startable() {
            let Some(bracket) = self.state.bracket.as_mut() else {
                return;
            };
            let Some(m) = bracket.get_match(slot) else {
                continue;
            };
            if bracket.mark_started(slot).is_err() {
                continue;
            }
            let [Some(p0), Some(p1)] = m.players.clone() else {
                continue;
            };
            let seats: Vec<PlayerInfo> = [&p0, &p1]
                .into_iter()
                .map(|p| {
                    let e = self.state.entrants.iter().find(|e| &e.player == p);
                    PlayerInfo {
                        id: PlayerId(p.clone()),
                        name: e.map(|e| e.name.clone()).unwrap_or_default(),
                        rating: e.map_or(0.0, |e| e.rating),
                    }
                })
                .collect();
            let settings = &self.state.meta.settings;
            let spec = RoomSpec {
                game: self.state.meta.game.clone(),
                config: settings.game_config(),
                mode: Mode::Tournament,
                rated: false,
                seats: Some(seats),
                private: false,
                requeue: None,
                tournament: Some(TournamentLink {
                    tournament: self.id.clone(),
                    slot: slot_key(slot),
                    no_show: Duration::from_millis(settings.no_show_timeout_ms),
                    better_seed_seat: better_seed_seat(m.seeds),
                }),
            };
            let engine = self.engine.clone();
            let players = [p0, p1];
            ctx.wait(
                async move { engine.create_room(spec).await }
                    .into_actor(self)
                    .map(move |res, act, ctx| match res {
                        Ok(created) => act.on_room_created(slot, players, created),
                        Err(e) => {
                            tracing::error!(tournament = %act.id, %slot, error = ?e, "creating a match room failed");
                            if let Some(b) = act.state.bracket.as_mut() {
                                let _ = b.cancel_start(slot);
                            }
                            act.reload_later(ctx);
                        }
                    }),
            );
        }
    }

    fn on_room_created(
        &mut self,
        slot: MatchSlot,
        players: [String; 2],
        created: crate::room::CreatedRoom,
    ) {
        self.state.records.push(MatchRecord {
            id: created.match_id.0.clone(),
            room: created.room.0.clone(),
            slot,
            status: RowStatus::Created,
            players: [Some(players[0].clone()), Some(players[1].clone())],
            winner_seat: None,
            scores: [0, 0],
            end_reason: None,
            created_at: Self::now(),
        });
        self.ready_at
            .insert(created.match_id.0.clone(), Instant::now());
        metrics::counter!("rally_tournament_matches_total", "result" => "scheduled").increment(1);
        let event = TournamentEvent::MatchReady {
            key: slot_key(slot),
            round: slot.round,
            match_id: created.match_id.0.clone(),
            room: created.room.0.clone(),
            players: players.iter().map(|p| self.state.player_ref(p)).collect(),
            join_within_ms: self.state.meta.settings.no_show_timeout_ms,
        };
        // "Your match is ready, room X": to both players, subscribed or not.
        let frame = self.frame(&event);
        for p in &players {
            let pid = PlayerId(p.clone());
            match self.engine.registry.session(&pid) {
                Some(s) => {
                    if !self.subscribers.contains_key(&s.session_id) {
                        s.events.do_send(SessionEvent::Frame(frame.clone()));
                    }
                }
                // Connected to another instance (or not at all): through presence.
                None => self
                    .engine
                    .registry
                    .notify_player(&pid, SessionEvent::Frame(frame.clone())),
            }
        }
        self.announce(std::slice::from_ref(&event));
        self.announce_state();
    }

    fn frame(&self, event: &TournamentEvent) -> ByteString {
        ServerMsg::Tournament {
            tournament: &self.id.0,
            event,
        }
        .encode()
        .into()
    }

    /// Send events to every subscriber (encoded once each).
    fn announce(&mut self, events: &[TournamentEvent]) {
        self.subscribers.retain(|_, r| r.connected());
        for event in events {
            let frame = self.frame(event);
            for r in self.subscribers.values() {
                r.do_send(SessionEvent::Frame(frame.clone()));
            }
        }
    }

    fn announce_state(&mut self) {
        if self.subscribers.is_empty() {
            return;
        }
        let view = self.view();
        self.announce(&[TournamentEvent::State { view }]);
    }

    /// Persist walkovers the rebuild found due, finish a completed bracket, start what is
    /// ready: what a restored (or reloaded) actor does first.
    fn resume(&mut self, ctx: &mut Context<Self>) {
        let due = std::mem::take(&mut self.due);
        if !due.is_empty() {
            match self.state.plan_due(due, Self::now()) {
                Ok(plan) => return self.commit_internal(plan, ctx),
                Err(e) => {
                    tracing::error!(tournament = %self.id, error = ?e, "due walkovers refused")
                }
            }
        }
        if let Some(plan) = self.state.plan_finish_if_complete(Self::now()) {
            return self.commit_internal(plan, ctx);
        }
        self.start_ready(ctx);
    }

    /// A write went through: the database answers again.
    fn recovered(&mut self) {
        if self.failures > 0 {
            tracing::info!(tournament = %self.id, failures = self.failures, "tournament writes go through again");
            self.failures = 0;
            self.engine.outbox.tournament_waiting(&self.id.0, false);
        }
    }

    /// After a failed write: reload everything from the database and resume, after a delay
    /// that doubles with every failure in a row (up to [`MAX_RETRY_DELAY`]). Nothing was
    /// adopted or announced; the transition is recomputed from the rows on reload, so it
    /// happens — once — as soon as the database takes it.
    fn reload_later(&mut self, ctx: &mut Context<Self>) {
        if self.reload_pending {
            return;
        }
        self.reload_pending = true;
        self.failures = self.failures.saturating_add(1);
        metrics::counter!("rally_durable_retries_total", "kind" => "tournament").increment(1);
        self.engine.outbox.tournament_waiting(&self.id.0, true);
        let delay = RETRY_DELAY
            .saturating_mul(1u32 << self.failures.saturating_sub(1).min(8))
            .min(MAX_RETRY_DELAY);
        ctx.run_later(delay, |act, ctx| {
            let (db, id) = (act.engine.db.clone(), act.id.0.clone());
            ctx.wait(
                async move { db.run(move |c| tournaments::load(c, &id)).await }
                    .into_actor(act)
                    .map(|res, act, ctx| {
                        act.reload_pending = false;
                        match res.and_then(|l| {
                            l.ok_or_else(|| AppError::not_found("tournament vanished"))
                        }) {
                            Ok(loaded) if loaded.row.epoch != act.epoch => {
                                tracing::warn!(tournament = %act.id, "another owner took this tournament over; stopping");
                                act.engine.outbox.tournament_waiting(&act.id.0, false);
                                ctx.stop();
                            }
                            Ok(loaded) => match state_of(loaded) {
                                Ok((state, due)) => {
                                    // The database answers again (a write that still fails
                                    // starts the count over).
                                    act.recovered();
                                    act.state = state;
                                    act.due = due;
                                    act.announce_state();
                                    if act.state.meta.status.is_over() {
                                        ctx.stop();
                                    } else {
                                        // A registration time that passed while the database
                                        // was away fires now.
                                        act.schedule_registration(ctx);
                                        act.resume(ctx);
                                    }
                                }
                                Err(e) => {
                                    tracing::error!(tournament = %act.id, error = ?e, "reload failed");
                                    act.reload_later(ctx);
                                }
                            },
                            Err(e) => {
                                tracing::error!(tournament = %act.id, error = ?e, "reload failed");
                                act.reload_later(ctx);
                            }
                        }
                    }),
            );
        });
    }

    /// Registration opening and closing at the configured times (also after a restart: a
    /// time already past fires at once).
    fn schedule_registration(&self, ctx: &mut Context<Self>) {
        let meta = &self.state.meta;
        let now = Self::now();
        let delay = |at: i64| Duration::from_millis(u64::try_from(at - now).unwrap_or(0));
        if let (Status::Draft, Some(at)) = (meta.status, meta.registration_opens_at) {
            ctx.run_later(delay(at), |act, ctx| act.scheduled(AdminAction::Open, ctx));
        }
        if let (Status::Draft | Status::Registration, Some(at)) =
            (meta.status, meta.registration_closes_at)
        {
            ctx.run_later(delay(at), |act, ctx| act.scheduled(AdminAction::Close, ctx));
        }
    }

    fn scheduled(&mut self, action: AdminAction, ctx: &mut Context<Self>) {
        match self
            .state
            .plan_admin(&system_caller(), &action, Self::now())
        {
            Ok(plan) => self.commit_internal(plan, ctx),
            Err(e) => {
                tracing::debug!(tournament = %self.id, error = ?e, "scheduled action skipped")
            }
        }
    }

    fn reply(&mut self, plan: AppResult<Plan>) -> AtomicResponse<Self, ViewResult> {
        let fut: ResponseActFuture<Self, ViewResult> = match plan {
            Err(e) => Box::pin(fut::ready(Err(e))),
            Ok(plan) => Box::pin(
                self.commit(plan)
                    .map(|res, act, _| res.map(|()| act.view())),
            ),
        };
        AtomicResponse::new(fut)
    }
}

impl Actor for TournamentActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::info!(tournament = %self.id, status = self.state.meta.status.as_str(), "tournament actor started");
        self.schedule_registration(ctx);
        if self.state.meta.status == Status::Running {
            self.resume(ctx);
        }
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        self.tournaments
            .release(&self.engine.registry, &self.id, &ctx.address());
        self.engine.outbox.tournament_waiting(&self.id.0, false);
        if self.stepped_down {
            return;
        }
        if let Some(c) = self.engine.registry.cluster().cloned() {
            // Over: nobody needs to own it any more. Otherwise (shutdown) let a survivor
            // adopt it at once.
            let over = self.state.meta.status.is_over();
            let id = self.id.0.clone();
            actix::spawn(async move {
                if over {
                    c.unregister_owned(ResourceKind::Tournament, &id).await;
                }
                c.release(&Resource::tournament(&id)).await;
            });
        }
    }
}

impl Handler<LeaseNotice> for TournamentActor {
    type Result = ();

    fn handle(&mut self, msg: LeaseNotice, ctx: &mut Context<Self>) {
        match msg.event {
            LeaseEvent::Lost => {
                // Another instance restored it (and bumped its epoch: our writes are refused
                // from now on). Its rooms here are abandoned by that restore.
                tracing::warn!(tournament = %self.id, "tournament lease lost; stepping down");
                self.stepped_down = true;
                ctx.stop();
            }
            // The key vanished (Redis flushed) and was re-created: the epoch in the database
            // still fences us if someone else took over meanwhile.
            LeaseEvent::Reacquired => {}
        }
    }
}

/// Take a tournament's lease (several instances; trivially true on one) and mark it as a
/// resource that must always have an owner, so survivors adopt it if this instance dies.
pub async fn claim_lease(engine: &Arc<Engine>, id: &str) -> bool {
    let Some(c) = engine.registry.cluster() else {
        return true;
    };
    if !c.acquire(&Resource::tournament(id), None).await {
        return false;
    }
    c.register_owned(ResourceKind::Tournament, id).await;
    true
}

/// Adopt a tournament whose owner vanished (the orphan scan of the cluster calls this).
pub async fn adopt(engine: &Arc<Engine>, tournaments: &Tournaments, id: &str) -> bool {
    let restored = restore_one(engine, tournaments, id).await;
    if restored {
        metrics::counter!("rally_failovers_total", "kind" => "tournament").increment(1);
    }
    restored
}

impl Handler<Admin> for TournamentActor {
    type Result = AtomicResponse<Self, ViewResult>;

    fn handle(&mut self, msg: Admin, _: &mut Context<Self>) -> Self::Result {
        let plan = self.state.plan_admin(&msg.by, &msg.action, Self::now());
        if plan.is_ok() {
            tracing::info!(tournament = %self.id, by = %msg.by.id, action = msg.action.audit_name(), "organiser action");
        }
        self.reply(plan)
    }
}

impl Handler<Join> for TournamentActor {
    type Result = AtomicResponse<Self, ViewResult>;

    fn handle(&mut self, msg: Join, _: &mut Context<Self>) -> Self::Result {
        let plan = self
            .state
            .plan_join(&msg.player, &msg.name, msg.rating, Self::now());
        self.reply(plan)
    }
}

impl Handler<Leave> for TournamentActor {
    type Result = AtomicResponse<Self, ViewResult>;

    fn handle(&mut self, msg: Leave, _: &mut Context<Self>) -> Self::Result {
        let plan = self.state.plan_leave(&msg.player);
        self.reply(plan)
    }
}

impl Handler<MatchReport> for TournamentActor {
    type Result = ();

    fn handle(&mut self, msg: MatchReport, ctx: &mut Context<Self>) {
        let Some(record) = self
            .state
            .records
            .iter_mut()
            .find(|r| r.id == msg.match_id.0)
        else {
            tracing::warn!(tournament = %self.id, r#match = %msg.match_id, "report for an unknown match");
            return;
        };
        if !record.status.is_live() {
            return; // already known (a repeated report), or settled / abandoned meanwhile
        }
        match msg.kind {
            MatchReportKind::Started => {
                record.status = RowStatus::Playing;
                if let Some(at) = self.ready_at.remove(&msg.match_id.0) {
                    metrics::histogram!("rally_tournament_match_start_delay_seconds")
                        .record(at.elapsed().as_secs_f64());
                }
                let event = TournamentEvent::MatchStarted {
                    key: msg.slot,
                    match_id: msg.match_id.0,
                    room: msg.room.0,
                };
                self.announce(&[event]);
                self.announce_state();
            }
            MatchReportKind::Finished {
                winner_seat,
                scores,
                reason,
                no_show_seats,
            } => {
                self.ready_at.remove(&msg.match_id.0);
                metrics::counter!("rally_tournament_no_shows_total")
                    .increment(no_show_seats.len() as u64);
                let mut finished = record.clone();
                finished.status = RowStatus::Finished;
                finished.winner_seat = winner_seat;
                finished.scores = scores;
                finished.end_reason = Some(reason.as_str().to_owned());
                match self.state.plan_result(finished, Self::now()) {
                    Ok(plan) => self.commit_internal(plan, ctx),
                    Err(e) => {
                        tracing::error!(tournament = %self.id, error = ?e, "match result refused; reloading");
                        self.reload_later(ctx);
                    }
                }
            }
        }
    }
}

impl Handler<Subscribe> for TournamentActor {
    type Result = MessageResult<Subscribe>;

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) -> Self::Result {
        self.subscribers.insert(msg.session_id, msg.events);
        MessageResult(self.view())
    }
}

impl Handler<Unsubscribe> for TournamentActor {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        self.subscribers.remove(&msg.session_id);
    }
}

/// Restore every unfinished tournament into a new actor (start-up). Each is claimed first
/// (registry, then a new ownership epoch in the database), then the matches its rooms were
/// playing when the process died are abandoned as `interrupted` — they are replayed from
/// scratch in new rooms, since rooms keep no checkpoint — and its bracket is rebuilt from the
/// match rows. Returns how many were restored; one that fails is logged and skipped.
pub async fn restore_all(engine: &Arc<Engine>, tournaments: &Tournaments) -> AppResult<usize> {
    let ids = engine.db.run(tournaments::unfinished).await?;
    let mut restored = 0;
    for id in ids {
        if restore_one(engine, tournaments, &id).await {
            restored += 1;
        }
    }
    Ok(restored)
}

/// Restore one unfinished tournament here: its lease first (several instances: another
/// live owner keeps it), then a new ownership epoch, the interrupted matches abandoned, a new
/// actor. True when it now runs here.
pub async fn restore_one(engine: &Arc<Engine>, tournaments: &Tournaments, id: &str) -> bool {
    let tid_typed = TournamentId(id.to_string());
    if tournaments.get(&tid_typed).is_some() {
        return false;
    }
    // A result of one of its matches still pending (here, or in a vanished instance's journal
    // a survivor is finishing) goes first: the restore abandons the rows still live.
    if engine.outbox.holds(None, Some(id)).await {
        tracing::info!(tournament = %id, "tournament has pending durable writes; restoring it later");
        return false;
    }
    if !claim_lease(engine, id).await {
        return false;
    }
    let give_up = || async {
        if let Some(c) = engine.registry.cluster() {
            c.release(&Resource::tournament(id)).await;
        }
    };
    let tid = id.to_string();
    let claimed = engine
        .db
        .run(move |c| {
            let epoch = tournaments::claim(c, &tid)?;
            let interrupted =
                tournaments::abandon_live_matches(c, &tid, super::model::INTERRUPTED_REASON)?;
            Ok((epoch, interrupted, tournaments::load(c, &tid)?))
        })
        .await;
    match claimed {
        Ok((epoch, interrupted, Some(loaded))) => {
            if loaded.meta.status.is_over() {
                if let Some(c) = engine.registry.cluster() {
                    c.unregister_owned(ResourceKind::Tournament, id).await;
                }
                give_up().await;
                return false;
            }
            match TournamentActor::spawn(engine, tournaments, loaded, epoch) {
                Ok(_) => {
                    tracing::info!(tournament = %id, interrupted, "tournament restored");
                    true
                }
                Err(e) => {
                    tracing::error!(tournament = %id, error = ?e, "cannot restore tournament");
                    give_up().await;
                    false
                }
            }
        }
        Ok((_, _, None)) => {
            give_up().await;
            false
        }
        Err(e) => {
            tracing::error!(tournament = %id, error = ?e, "cannot restore tournament");
            give_up().await;
            false
        }
    }
}
