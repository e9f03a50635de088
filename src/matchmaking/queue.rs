//! The quick-match queue actor: pairs players by rating with a window that widens with
//! waiting time, creates their room through the engine, and tells both sessions.
//!
//! One matchmaker per instance for now; the multi-instance registry moves the queue behind the
//! registry seam.

use super::rating;
use crate::game::GAMES;
use crate::ids::PlayerId;
use crate::protocol::{code, ServerMsg};
use crate::room::messages::{PlayerInfo, Requeue, RoomRefusal, SessionEvent};
use crate::room::{Engine, Mode, RoomSpec};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Instant;

/// Enter the queue.
#[derive(Message)]
#[rtype(result = "Result<(), RoomRefusal>")]
pub struct Enqueue {
    /// Who.
    pub player: PlayerInfo,
    /// Which game.
    pub game: String,
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
}

impl Matchmaker {
    /// A matchmaker creating rooms through `engine`.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self {
            engine,
            queue: Vec::new(),
        }
    }

    fn gauge(&self) {
        metrics::gauge!("rally_matchmaking_queue_players").set(self.queue.len() as f64);
    }

    /// Pair whoever can be paired now.
    fn pair(&mut self, ctx: &mut Context<Self>) {
        if self.queue.len() < 2 {
            return;
        }
        let now = Instant::now();
        self.queue
            .sort_by(|a, b| b.front.cmp(&a.front).then(a.since.cmp(&b.since)));
        let n = self.queue.len();
        let mut used = vec![false; n];
        let mut pairs = Vec::new();
        for i in 0..n {
            if used[i] {
                continue;
            }
            let a = &self.queue[i];
            let wa = rating::window(now.duration_since(a.since).as_secs_f64());
            let mut best: Option<(usize, f64)> = None;
            for (j, b) in self.queue.iter().enumerate().skip(i + 1) {
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
            return;
        }
        let mut taken: Vec<(Entry, Entry)> = Vec::new();
        let mut rest = Vec::new();
        let mut slots: Vec<Option<Entry>> = self.queue.drain(..).map(Some).collect();
        for (i, j) in pairs {
            if let (Some(a), Some(b)) = (slots[i].take(), slots[j].take()) {
                taken.push((a, b));
            }
        }
        rest.extend(slots.into_iter().flatten());
        self.queue = rest;
        self.gauge();
        for (a, b) in taken {
            for e in [&a, &b] {
                metrics::histogram!("rally_matchmaking_wait_seconds")
                    .record(now.duration_since(e.since).as_secs_f64());
            }
            self.start_match(a, b, ctx);
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
            .map(|(created, players, engine, join_ms), act, _| match created {
                Ok(c) => {
                    for p in &players {
                        if let Some(s) = engine.registry.session(&p.id) {
                            s.events.do_send(SessionEvent::MatchFound {
                                room: c.room.clone(),
                                join_within_ms: join_ms,
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = ?e, "creating a quick-match room failed; requeueing");
                    for p in players {
                        act.queue.push(Entry {
                            player: p,
                            game: "pong".into(),
                            since: Instant::now(),
                            front: true,
                        });
                    }
                    act.gauge();
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
    type Result = Result<(), RoomRefusal>;

    fn handle(&mut self, msg: Enqueue, _: &mut Context<Self>) -> Self::Result {
        if !GAMES.contains(&msg.game.as_str()) {
            return Err(RoomRefusal::new(
                code::INVALID_FIELD,
                format!("unknown game {:?}", msg.game),
            ));
        }
        if self.queue.iter().any(|e| e.player.id == msg.player.id) {
            return Err(RoomRefusal::new(code::CONFLICT, "already in the queue"));
        }
        if let Some(room) = self.engine.registry.player_room(&msg.player.id) {
            return Err(RoomRefusal::new(
                code::CONFLICT,
                format!("you have a seat in room {room}; join it or leave it first"),
            ));
        }
        self.queue.push(Entry {
            player: msg.player,
            game: msg.game,
            since: Instant::now(),
            front: false,
        });
        self.gauge();
        Ok(())
    }
}

impl Handler<Cancel> for Matchmaker {
    type Result = bool;

    fn handle(&mut self, msg: Cancel, _: &mut Context<Self>) -> bool {
        let before = self.queue.len();
        self.queue.retain(|e| e.player.id != msg.player);
        self.gauge();
        self.queue.len() != before
    }
}

impl Handler<Requeue> for Matchmaker {
    type Result = ();

    fn handle(&mut self, msg: Requeue, _: &mut Context<Self>) {
        for p in msg.players {
            if self.queue.iter().any(|e| e.player.id == p.id) {
                continue;
            }
            if let Some(s) = self.engine.registry.session(&p.id) {
                let frame = ServerMsg::Queued { game: "pong" }.encode();
                s.events.do_send(SessionEvent::Frame(frame.into()));
            }
            self.queue.push(Entry {
                player: p,
                game: "pong".into(),
                since: Instant::now(),
                front: true,
            });
        }
        self.gauge();
    }
}
