//! [`play_match`]: one match for one bot, from `join` to `match_end`, measured. The game is
//! read from `joined.info.kind`: Pong with a [`PongBrain`], light cycles with a
//! [`CyclesModel`] (full and delta snapshots) and a [`CyclesBrain`].

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::time::{Interval, MissedTickBehavior};

use super::brain::{intent_value, Intent, PongBrain, PongInfo, PongState};
use super::client::{BotClient, ClientConfig};
use super::cycles_brain::{CyclesBrain, CyclesInfo, CyclesModel};
use super::error::{BotError, BotResult};
use super::stats::{AckTracker, Hist, IntervalTracker, TickTracker};
use super::wire::{Incoming, Joined, MatchEnd};
use crate::game::{GameEvent, Outcome};
use crate::protocol::ClientMsg;

/// Which room to join.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinTarget {
    /// By room id (quick match, reconnection).
    Room(String),
    /// By private join code.
    Code(String),
}

/// Counters shared by many bots and read while they run (progress lines). Relaxed atomics: one
/// uncontended add per snapshot.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Inputs sent.
    pub inputs_sent: AtomicU64,
    /// Snapshots received.
    pub snapshots_received: AtomicU64,
    /// Lost connections after which the bot did not get its seat back.
    pub resumes_failed: AtomicU64,
    /// Payload bytes of the snapshots received.
    pub snapshot_bytes: AtomicU64,
    /// Snapshots received that carried the full state.
    pub full_snapshots: AtomicU64,
}

impl LiveCounters {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// How a bot plays.
#[derive(Clone, Debug)]
pub struct PlayOptions {
    /// Probability of misplaying each approaching ball (see [`PongBrain`]).
    pub miss_rate: f64,
    /// Seed of the brain's random choices.
    pub seed: u64,
    /// Bound on `join` → `joined`.
    pub join_timeout: Duration,
    /// Longest silence tolerated during the match. Snapshots arrive every tick while playing,
    /// but a room waits for the opponent (the server's join window) and pauses while a player
    /// reconnects (its grace window), so this must exceed both.
    pub idle_timeout: Duration,
    /// Send a `ping` this often during the match (RTT and clock offset); `None`: never.
    pub ping_every: Option<Duration>,
    /// Counters to bump live, if any.
    pub live: Option<Arc<LiveCounters>>,
    /// Open loop: send the held intent every `period`, starting `phase` after `joined`, whatever
    /// the server answers (no coordinated omission: latency counts from the scheduled time).
    /// `None`: send only when the intent changes, as the web client does.
    pub input_schedule: Option<InputSchedule>,
    /// How to come back after a lost connection (and the deliberate-drop drill); `None`: a
    /// lost connection ends the match with an error.
    pub reconnect: Option<Reconnect>,
    /// At this time, `leave` the match (a resignation) and wait for its end: how a timed run
    /// (`--duration`) stops matches still in progress.
    pub stop_at: Option<Instant>,
}

impl Default for PlayOptions {
    fn default() -> Self {
        Self {
            miss_rate: 0.3,
            seed: 0,
            join_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            ping_every: None,
            live: None,
            input_schedule: None,
            reconnect: None,
            stop_at: None,
        }
    }
}

/// A fixed input schedule (see [`PlayOptions::input_schedule`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputSchedule {
    /// Time between two inputs.
    pub period: Duration,
    /// Delay of the first input after `joined` (spread bots over the period).
    pub phase: Duration,
}

/// Where and how a bot reconnects (see [`PlayOptions::reconnect`]).
#[derive(Clone, Debug)]
pub struct Reconnect {
    /// WebSocket URLs of the instances, tried in turn starting after `current`.
    pub ws_urls: Arc<Vec<String>>,
    /// Index in `ws_urls` of the instance the bot is connected to.
    pub current: usize,
    /// The bot's token.
    pub token: String,
    /// Connection settings.
    pub client: ClientConfig,
    /// Local address to connect from, if any.
    pub local: Option<IpAddr>,
    /// Give up when no instance let the bot back into its room within this time.
    pub within: Duration,
    /// The drill: drop the connection (no close frame) after this many snapshots of play, then
    /// reconnect through the next instance and rejoin.
    pub drop_after_snapshots: Option<u64>,
    /// When `welcome.room` names another room after the reconnect, stop with
    /// [`BotError::Replaced`] (tournaments replay a match that died with its instance in a new
    /// room) instead of waiting for it to name the old one.
    pub follow_replacement: bool,
}

/// Reconnections during one match.
#[derive(Clone, Debug, Default)]
pub struct ReconnectStats {
    /// Drops after which the bot got its seat back.
    pub ok: u64,
    /// Drops after which it did not (the match then ends with the error).
    pub failed: u64,
    /// Of those, drops the bot caused itself (the drill).
    pub deliberate: u64,
    /// Connection lost → `joined` again.
    pub resume: Hist,
}

/// What one bot saw of one match.
#[derive(Clone, Debug)]
pub struct MatchSummary {
    /// Room id.
    pub room: String,
    /// Match id.
    pub match_id: String,
    /// Our seat.
    pub seat: u8,
    /// How the match ended.
    pub outcome: Outcome,
    /// Whether it was rated.
    pub rated: bool,
    /// `joined` → `match_end`.
    pub duration: Duration,
    /// Snapshots received.
    pub snapshots: u64,
    /// First and last snapshot tick.
    pub ticks: Option<(u64, u64)>,
    /// Snapshot periods with no snapshot (see [`TickTracker::gaps`]); pauses are not gaps.
    pub tick_gaps: u64,
    /// Largest jump between consecutive snapshot ticks.
    pub max_tick_gap: u64,
    /// Snapshots whose tick did not advance.
    pub stale_snapshots: u64,
    /// Inputs sent.
    pub inputs_sent: u64,
    /// Inputs never acked by a snapshot before the end.
    pub inputs_unacked: usize,
    /// Game events received.
    pub events: u64,
    /// Points scored (`scored` events).
    pub points: u64,
    /// Input → first snapshot acking it.
    pub latency: Hist,
    /// Time between consecutive snapshots while the room was counting down or playing.
    pub snapshot_interval: Hist,
    /// Balls that came towards us, and how many of them we planned to miss.
    pub approaches: u64,
    /// Planned misses (see [`PongBrain`]).
    pub planned_misses: u64,
    /// Reconnections during the match.
    pub reconnects: ReconnectStats,
    /// Payload bytes of the snapshot frames received (in the connection's encoding): with
    /// [`MatchSummary::snapshots`], the bytes per snapshot (light cycles: mostly deltas).
    pub snapshot_bytes: u64,
    /// Snapshots that carried the full state (light cycles; Pong's are all full and counted
    /// here too).
    pub full_snapshots: u64,
    /// Whether the bot left the match at [`PlayOptions::stop_at`].
    pub left_at_stop: bool,
    /// Index (in [`Reconnect::ws_urls`]) of the instance the bot was connected to at the end,
    /// when it could reconnect.
    pub instance: Option<usize>,
}

impl MatchSummary {
    /// Whether we won (`None`: draw or abandoned).
    pub fn won(&self) -> Option<bool> {
        self.outcome.winner.map(|w| w == self.seat)
    }
}

/// Snapshot ticks of one uninterrupted stretch (between pauses), folded into totals.
#[derive(Default)]
struct Ticks {
    current: TickTracker,
    first: Option<u64>,
    last: Option<u64>,
    gaps: u64,
    max_gap: u64,
    stale: u64,
}

impl Ticks {
    fn observe(&mut self, tick: u64) {
        self.current.observe(tick);
        self.first.get_or_insert(tick);
        self.last = Some(tick);
    }

    /// Ends the stretch: the room paused, so the next tick is not expected to follow on.
    fn cut(&mut self) {
        self.gaps += self.current.gaps();
        self.max_gap = self.max_gap.max(self.current.max_step);
        self.stale += self.current.stale;
        self.current = TickTracker::default();
    }
}

/// Joins `target`, plays Pong with a [`PongBrain`] until `match_end`, and returns what it saw.
///
/// Inputs go out only while the room is playing and the game is not decided: on a fixed
/// schedule when [`PlayOptions::input_schedule`] is set (open loop), else when the brain's
/// intent changes, at most twice per tick. Sequence numbers come from the client and keep
/// increasing across matches and reconnections. A lost connection is resumed through
/// [`PlayOptions::reconnect`] when given (protocol §5.5); any server `error`, another close or a
/// message the protocol does not allow here ends the match with an error.
pub async fn play_match(
    client: &mut BotClient,
    target: JoinTarget,
    opts: &PlayOptions,
) -> BotResult<MatchSummary> {
    let join = match &target {
        JoinTarget::Room(room) => ClientMsg::Join {
            room: Some(room.clone()),
            code: None,
        },
        JoinTarget::Code(code) => ClientMsg::Join {
            room: None,
            code: Some(code.clone()),
        },
    };
    client.send(&join).await?;
    let (joined, mut room_state) = wait_joined(client, opts.join_timeout).await?;
    let joined_at = Instant::now();
    if joined.role != "player" {
        return Err(BotError::Unexpected {
            expected: "joined as a player",
            got: format!("role {:?}", joined.role),
        });
    }
    let seat = joined.seat.ok_or(BotError::Unexpected {
        expected: "a seat in joined",
        got: "no seat".into(),
    })?;
    let mut player = Player::new(&joined.info, seat, opts)?;
    let tick_hz = u64::from(joined.tick_hz.max(1));
    // Clients may send up to twice the tick rate.
    let min_input_gap = Duration::from_micros(1_000_000 / (2 * tick_hz));
    // Light cycles' inputs are events (a turn each): there is no held intent to repeat on a
    // schedule, so its bots send only the turns they decide.
    let open_loop = opts.input_schedule.filter(|_| player.repeats_intents());
    let mut schedule: Option<Interval> = open_loop.map(|s| {
        let start = tokio::time::Instant::now() + s.phase;
        let mut timer = tokio::time::interval_at(start, s.period.max(min_input_gap));
        // A late loadgen skips sends rather than bursting (the server would rate-limit a burst);
        // the one it sends still counts from its scheduled time.
        timer.set_missed_tick_behavior(MissedTickBehavior::Skip);
        timer
    });
    let mut reconnect = opts.reconnect.clone();
    let stop = opts.stop_at.map(tokio::time::Instant::from_std);
    let stop_sleep = tokio::time::sleep_until(stop.unwrap_or_else(tokio::time::Instant::now));
    tokio::pin!(stop_sleep);

    let mut held = Intent::Stop;
    let mut last_input: Option<Instant> = None;
    let mut next_ping = opts.ping_every.map(|every| joined_at + every);
    let mut acks = AckTracker::default();
    let mut latency = Hist::default();
    let mut intervals = IntervalTracker::default();
    let mut snapshot_interval = Hist::default();
    let mut ticks = Ticks::default();
    let mut stats = ReconnectStats::default();
    let mut left = false;
    let mut decided = false;
    let (mut snapshots, mut inputs_sent, mut events, mut points) = (0u64, 0u64, 0u64, 0u64);
    let mut playing_snapshots = 0u64;
    let (mut snapshot_bytes, mut full_snapshots) = (0u64, 0u64);
    let seat_ix = usize::from(seat);

    let end = loop {
        let bytes_before = client.traffic().bytes_in;
        let event = tokio::select! {
            msg = client.recv(opts.idle_timeout) => Event::Message(msg),
            Some(at) = next_tick(&mut schedule) => Event::InputDue(at.into_std()),
            () = &mut stop_sleep, if stop.is_some() && !left => Event::Stop,
        };
        let step: BotResult<Option<MatchEnd>> = async {
            match event {
                Event::Stop => {
                    left = true;
                    client.send(&ClientMsg::Leave).await?;
                    Ok(None)
                }
                Event::InputDue(scheduled) => {
                    let may_send = matches!(room_state.as_deref(), None | Some("playing"))
                        && !decided
                        && !left;
                    if may_send {
                        let seq = client.next_input_seq();
                        client.send_input(seq, intent_value(held)).await?;
                        acks.sent(seq, scheduled);
                        inputs_sent += 1;
                        if let Some(live) = &opts.live {
                            LiveCounters::add(&live.inputs_sent);
                        }
                    }
                    Ok(None)
                }
                Event::Message(msg) => {
                    let msg = msg.map_err(|e| match e {
                        BotError::Timeout { after, .. } => BotError::Timeout {
                            waiting_for: "a snapshot or match_end",
                            after,
                        },
                        other => other,
                    })?;
                    match msg {
                        Incoming::Snapshot(snap) => {
                            let now = Instant::now();
                            snapshots += 1;
                            let bytes = client.traffic().bytes_in - bytes_before;
                            snapshot_bytes += bytes;
                            if let Some(live) = &opts.live {
                                live.snapshot_bytes.fetch_add(bytes, Ordering::Relaxed);
                            }
                            let fulls_before = full_snapshots;
                            if let Some(live) = &opts.live {
                                LiveCounters::add(&live.snapshots_received);
                            }
                            ticks.observe(snap.tick);
                            intervals.observe(now, &mut snapshot_interval);
                            if let Some(&ack) = snap.acks.get(seat_ix) {
                                acks.acked(ack, now, &mut latency);
                            }
                            let intent = match &mut player {
                                Player::Pong { brain, info } => {
                                    let state = PongState::parse(snap.state.get())?;
                                    full_snapshots += 1;
                                    decided = info.is_over(&state);
                                    Some(brain.decide(&state))
                                }
                                Player::Cycles { model, brain } => {
                                    if model.apply(&cycles_state(snap.state.get()))?
                                        == super::cycles_brain::Applied::Full
                                    {
                                        full_snapshots += 1;
                                    }
                                    let playing =
                                        matches!(room_state.as_deref(), None | Some("playing"));
                                    if playing && !left {
                                        if let Some(turn) = brain.decide(model) {
                                            let seq = client.next_input_seq();
                                            client.send_input(seq, serde_json::json!(turn)).await?;
                                            acks.sent(seq, Instant::now());
                                            inputs_sent += 1;
                                            if let Some(live) = &opts.live {
                                                LiveCounters::add(&live.inputs_sent);
                                            }
                                        }
                                    }
                                    None
                                }
                            };
                            if full_snapshots > fulls_before {
                                if let Some(live) = &opts.live {
                                    LiveCounters::add(&live.full_snapshots);
                                }
                            }
                            // Not after the deciding point: the room is finishing and would
                            // drop it.
                            let playing = matches!(room_state.as_deref(), None | Some("playing"))
                                && !decided;
                            if playing {
                                playing_snapshots += 1;
                            }
                            if let Some(intent) = intent.filter(|_| schedule.is_some()) {
                                held = intent;
                            } else {
                                let rate_ok = last_input
                                    .is_none_or(|t| now.duration_since(t) >= min_input_gap);
                                if let Some(intent) =
                                    intent.filter(|i| *i != held && playing && rate_ok && !left)
                                {
                                    let seq = client.next_input_seq();
                                    client.send_input(seq, intent_value(intent)).await?;
                                    let sent = Instant::now();
                                    acks.sent(seq, sent);
                                    last_input = Some(sent);
                                    held = intent;
                                    inputs_sent += 1;
                                    if let Some(live) = &opts.live {
                                        LiveCounters::add(&live.inputs_sent);
                                    }
                                }
                            }
                            if let (Some(due), Some(every)) = (next_ping, opts.ping_every) {
                                if now >= due {
                                    client.send_ping().await?;
                                    next_ping = Some(now + every);
                                }
                            }
                            let drill = reconnect.as_ref().and_then(|r| r.drop_after_snapshots);
                            if drill.is_some_and(|n| playing && playing_snapshots >= n) {
                                if let Some(r) = reconnect.as_mut() {
                                    r.drop_after_snapshots = None;
                                }
                                stats.deliberate += 1;
                                client.drop_connection().await;
                                return Err(BotError::Closed {
                                    code: None,
                                    reason: "dropped on purpose (--reconnect-rate)".into(),
                                });
                            }
                            Ok(None)
                        }
                        Incoming::Room(update) if update.room == joined.room => {
                            if !matches!(update.state.as_str(), "countdown" | "playing") {
                                intervals.reset();
                            }
                            if update.state == "paused" {
                                ticks.cut();
                            }
                            room_state = Some(update.state);
                            Ok(None)
                        }
                        Incoming::Event(ev) => {
                            events += 1;
                            if matches!(ev.event, GameEvent::Scored { .. }) {
                                points += 1;
                            }
                            Ok(None)
                        }
                        Incoming::MatchEnd(end) if end.room == joined.room => Ok(Some(end)),
                        // The answer to our `leave` at the end of a timed run. Before the
                        // start it freed the seat and no match_end follows.
                        Incoming::Left(_) if left => {
                            // Light cycles go on without a player who leaves: no match_end
                            // follows for it (the others' match ends without it).
                            if matches!(room_state.as_deref(), None | Some("waiting"))
                                || !player.repeats_intents()
                            {
                                Err(BotError::RunOver)
                            } else {
                                Ok(None)
                            }
                        }
                        Incoming::Room(_)
                        | Incoming::MatchEnd(_)
                        | Incoming::Pong(_)
                        | Incoming::Ratings(_)
                        | Incoming::Joined(_)
                        // Tournament events (a subscribed bot keeps receiving them while it
                        // plays).
                        | Incoming::Tournament(_)
                        | Incoming::Subscribed(_)
                        | Incoming::Unsubscribed(_)
                        | Incoming::Unknown(_) => Ok(None),
                        other @ (Incoming::Welcome(_)
                        | Incoming::Queued(_)
                        | Incoming::QueueLeft
                        | Incoming::MatchFound(_)
                        | Incoming::Left(_)
                        | Incoming::Location(_)
                        | Incoming::Error(_)) => Err(BotError::Unexpected {
                            expected: "game messages until match_end",
                            got: other.type_name().to_owned(),
                        }),
                    }
                }
            }
        }
        .await;
        match step {
            Ok(Some(end)) => break end,
            Ok(None) => {}
            Err(e) if e.invites_reconnect() && reconnect.is_some() && !left => {
                let Some(plan) = reconnect.as_mut() else {
                    return Err(e);
                };
                let dropped = Instant::now();
                tracing::debug!(room = %joined.room, error = %e, "bot lost its connection; resuming");
                match resume(client, plan, &joined.room, seat, opts.join_timeout).await {
                    Ok(state) => {
                        stats.ok += 1;
                        stats.resume.record(dropped.elapsed());
                        // Inputs lost with the old connection are never acked.
                        acks = AckTracker::default();
                        ticks.cut();
                        intervals.reset();
                        room_state = state;
                        playing_snapshots = 0;
                    }
                    Err(again) => {
                        stats.failed += 1;
                        if let Some(live) = &opts.live {
                            LiveCounters::add(&live.resumes_failed);
                        }
                        tracing::debug!(error = %again, "bot could not resume");
                        return Err(again);
                    }
                }
            }
            Err(e) => return Err(e),
        }
    };
    ticks.cut();
    Ok(MatchSummary {
        room: joined.room,
        match_id: joined.match_id,
        seat,
        outcome: end.outcome,
        rated: end.rated,
        duration: joined_at.elapsed(),
        snapshots,
        ticks: ticks.first.zip(ticks.last),
        tick_gaps: ticks.gaps,
        max_tick_gap: ticks.max_gap,
        stale_snapshots: ticks.stale,
        inputs_sent,
        inputs_unacked: acks.outstanding(),
        events,
        points,
        latency,
        snapshot_interval,
        approaches: player.approaches(),
        planned_misses: player.planned_misses(),
        reconnects: stats,
        snapshot_bytes,
        full_snapshots,
        left_at_stop: left,
        instance: reconnect.as_ref().map(|r| r.current),
    })
}

/// The game-specific side of a bot: what it decides from each snapshot.
enum Player {
    /// Pong: a held intent from each snapshot.
    Pong { brain: PongBrain, info: PongInfo },
    /// Light cycles: a model rebuilt from full and delta snapshots, and a turn when needed.
    Cycles {
        model: Box<CyclesModel>,
        brain: CyclesBrain,
    },
}

impl Player {
    /// The player for the game of `info` (`joined.info`; `kind` absent means Pong, as servers
    /// before the catalogue sent), seated at `seat`.
    fn new(info: &serde_json::Value, seat: u8, opts: &PlayOptions) -> BotResult<Player> {
        match info.get("kind").and_then(|k| k.as_str()) {
            Some("cycles") => {
                let ci = CyclesInfo::from_json(info)?;
                if seat >= ci.seats {
                    return Err(BotError::Unexpected {
                        expected: "a seat of the room",
                        got: format!("seat {seat} of {}", ci.seats),
                    });
                }
                Ok(Player::Cycles {
                    model: Box::new(CyclesModel::new(ci)),
                    brain: CyclesBrain::new(seat, opts.seed),
                })
            }
            None | Some("pong") => {
                if seat > 1 {
                    return Err(BotError::Unexpected {
                        expected: "seat 0 or 1",
                        got: format!("seat {seat}"),
                    });
                }
                let info = PongInfo::from_json(info)?;
                Ok(Player::Pong {
                    brain: PongBrain::new(seat, info, opts.miss_rate, opts.seed),
                    info,
                })
            }
            Some(other) => Err(BotError::Unexpected {
                expected: "a game this bot plays (pong, cycles)",
                got: other.to_owned(),
            }),
        }
    }

    /// Whether inputs are held intents that an open-loop schedule may repeat.
    fn repeats_intents(&self) -> bool {
        matches!(self, Player::Pong { .. })
    }

    fn approaches(&self) -> u64 {
        match self {
            Player::Pong { brain, .. } => brain.approaches(),
            Player::Cycles { .. } => 0,
        }
    }

    fn planned_misses(&self) -> u64 {
        match self {
            Player::Pong { brain, .. } => brain.planned_misses(),
            Player::Cycles { .. } => 0,
        }
    }
}

/// A cycles snapshot `state` as the JSON object [`CyclesModel::apply`] reads: a `rally.v1.bin`
/// connection receives the compact form (docs/protocol.md §13.4: the object's values in order,
/// as an array), which is mapped back onto the names of the full or the delta form.
fn cycles_state(raw: &str) -> std::borrow::Cow<'_, str> {
    const FULL: [&str; 8] = [
        "tick",
        "full",
        "round",
        "starts_in",
        "scores",
        "status",
        "heads",
        "trails",
    ];
    const DELTA: [&str; 9] = [
        "tick",
        "full",
        "since",
        "round",
        "starts_in",
        "scores",
        "status",
        "heads",
        "cells",
    ];
    if !raw.trim_start().starts_with('[') {
        return std::borrow::Cow::Borrowed(raw);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(raw) else {
        return std::borrow::Cow::Borrowed(raw);
    };
    let names: &[&str] = if values.get(1) == Some(&serde_json::Value::Bool(true)) {
        &FULL
    } else {
        &DELTA
    };
    let object: serde_json::Map<String, serde_json::Value> =
        names.iter().map(|n| (*n).to_owned()).zip(values).collect();
    std::borrow::Cow::Owned(serde_json::Value::Object(object).to_string())
}

/// What woke the match loop.
enum Event {
    Message(BotResult<Incoming>),
    InputDue(Instant),
    Stop,
}

/// The next scheduled input time; never, without a schedule.
async fn next_tick(schedule: &mut Option<Interval>) -> Option<tokio::time::Instant> {
    match schedule {
        Some(timer) => Some(timer.tick().await),
        None => std::future::pending().await,
    }
}

/// Waits for `joined`, keeping the latest room state announced before it (the room may
/// announce its state before or after `joined`).
async fn wait_joined(
    client: &mut BotClient,
    timeout: Duration,
) -> BotResult<(Joined, Option<String>)> {
    let mut room_state = None;
    let joined = client
        .wait_for("joined", timeout, |m| match m {
            Incoming::Joined(j) => Some(j),
            Incoming::Room(update) => {
                room_state = Some(update.state);
                None
            }
            _ => None,
        })
        .await?;
    Ok((joined, room_state))
}

/// Protocol §5.5: connect again (through the next instance first), check that `welcome.room`
/// still names our room, and rejoin it in our seat. Retries until `plan.within` has passed —
/// while an instance fails over, connects are refused and the room may be briefly unknown.
/// Returns the room state announced with `joined`.
async fn resume(
    client: &mut BotClient,
    plan: &mut Reconnect,
    room: &str,
    seat: u8,
    join_timeout: Duration,
) -> BotResult<Option<String>> {
    let started = Instant::now();
    let n = plan.ws_urls.len().max(1);
    let mut attempt = 0usize;
    let mut last_error = None;
    while started.elapsed() < plan.within {
        attempt += 1;
        let idx = (plan.current + attempt) % n;
        let Some(url) = plan.ws_urls.get(idx) else {
            break;
        };
        match try_rejoin(url, plan, client, room, seat, join_timeout).await {
            Ok(state) => {
                plan.current = idx;
                return Ok(state);
            }
            // The match is played again elsewhere (a tournament replays it): nothing to rejoin.
            Err(e @ BotError::Replaced { .. }) => return Err(e),
            // Also when welcome.room does not name the room yet, or `join` is refused: while
            // a room fails over to another instance, both are briefly true.
            Err(e) => {
                last_error = Some(e);
                let backoff = Duration::from_millis(100 * attempt.min(10) as u64);
                tokio::time::sleep(backoff).await;
            }
        }
    }
    Err(last_error.unwrap_or(BotError::Timeout {
        waiting_for: "a reconnection that rejoins the room",
        after: plan.within,
    }))
}

async fn try_rejoin(
    url: &str,
    plan: &Reconnect,
    client: &mut BotClient,
    room: &str,
    seat: u8,
    join_timeout: Duration,
) -> BotResult<Option<String>> {
    let mut fresh = BotClient::connect_from(url, &plan.token, &plan.client, plan.local).await?;
    fresh.inherit(client);
    // The old connection (already broken, or dropped on purpose) goes away here.
    *client = fresh;
    let held = client.welcome().and_then(|w| w.room.clone());
    if let Some(other) = held.as_deref().filter(|r| *r != room) {
        if plan.follow_replacement {
            return Err(BotError::Replaced {
                room: other.to_owned(),
            });
        }
    }
    if held.as_deref() != Some(room) {
        return Err(BotError::Unexpected {
            expected: "welcome.room naming the room of the interrupted match",
            got: format!("{held:?}"),
        });
    }
    client
        .send(&ClientMsg::Join {
            room: Some(room.to_owned()),
            code: None,
        })
        .await?;
    let (joined, state) = wait_joined(client, join_timeout).await?;
    if joined.seat != Some(seat) || joined.room != room {
        return Err(BotError::Unexpected {
            expected: "our old seat in the same room",
            got: format!("room {} seat {:?}", joined.room, joined.seat),
        });
    }
    Ok(state)
}
