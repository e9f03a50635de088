//! [`play_match`]: one Pong match for one bot, from `join` to `match_end`, measured.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::brain::{intent_value, Intent, PongBrain, PongInfo, PongState};
use super::client::BotClient;
use super::error::{BotError, BotResult};
use super::stats::{AckTracker, Hist, IntervalTracker, TickTracker};
use super::wire::{Incoming, Joined};
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
        }
    }
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
/// Inputs are sent only when the brain's intent changes, at most twice per tick, and only
/// while the room is playing and the game is not decided. Sequence numbers come from the client and keep increasing across
/// matches on the same connection. Any server `error`, an unexpected close or a message the
/// protocol does not allow here ends the match with an error.
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
    let mut room_state: Option<String> = None;
    // The room may announce its state before or after `joined`; keep the latest either way.
    let joined: Joined = client
        .wait_for("joined", opts.join_timeout, |m| match m {
            Incoming::Joined(j) => Some(j),
            Incoming::Room(update) => {
                room_state = Some(update.state);
                None
            }
            _ => None,
        })
        .await?;
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
    if seat > 1 {
        return Err(BotError::Unexpected {
            expected: "seat 0 or 1",
            got: format!("seat {seat}"),
        });
    }
    let info = PongInfo::from_json(&joined.info)?;
    let tick_hz = u64::from(joined.tick_hz.max(1));
    // Clients may send up to twice the tick rate.
    let min_input_gap = Duration::from_micros(1_000_000 / (2 * tick_hz));
    let mut brain = PongBrain::new(seat, info, opts.miss_rate, opts.seed);

    let mut held = Intent::Stop;
    let mut last_input: Option<Instant> = None;
    let mut next_ping = opts.ping_every.map(|every| joined_at + every);
    let mut acks = AckTracker::default();
    let mut latency = Hist::default();
    let mut intervals = IntervalTracker::default();
    let mut snapshot_interval = Hist::default();
    let mut ticks = Ticks::default();
    let (mut snapshots, mut inputs_sent, mut events, mut points) = (0u64, 0u64, 0u64, 0u64);
    let seat_ix = usize::from(seat);

    let end = loop {
        let msg = client.recv(opts.idle_timeout).await.map_err(|e| match e {
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
                if let Some(live) = &opts.live {
                    LiveCounters::add(&live.snapshots_received);
                }
                ticks.observe(snap.tick);
                intervals.observe(now, &mut snapshot_interval);
                if let Some(&ack) = snap.acks.get(seat_ix) {
                    acks.acked(ack, now, &mut latency);
                }
                let state = PongState::parse(snap.state.get())?;
                let intent = brain.decide(&state);
                // Not after the deciding point: the room is finishing and would drop it.
                let may_send = matches!(room_state.as_deref(), None | Some("playing"))
                    && !info.is_over(&state);
                let rate_ok = last_input.is_none_or(|t| now.duration_since(t) >= min_input_gap);
                if intent != held && may_send && rate_ok {
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
                if let (Some(due), Some(every)) = (next_ping, opts.ping_every) {
                    if now >= due {
                        client.send_ping().await?;
                        next_ping = Some(now + every);
                    }
                }
            }
            Incoming::Room(update) if update.room == joined.room => {
                if !matches!(update.state.as_str(), "countdown" | "playing") {
                    intervals.reset();
                }
                if update.state == "paused" {
                    ticks.cut();
                }
                room_state = Some(update.state);
            }
            Incoming::Event(ev) => {
                events += 1;
                if matches!(ev.event, GameEvent::Scored { .. }) {
                    points += 1;
                }
            }
            Incoming::MatchEnd(end) if end.room == joined.room => break end,
            Incoming::Room(_)
            | Incoming::MatchEnd(_)
            | Incoming::Pong(_)
            | Incoming::Ratings(_)
            | Incoming::Joined(_)
            // Tournament events (a subscribed bot keeps receiving them while it plays).
            | Incoming::Tournament(_)
            | Incoming::Subscribed(_)
            | Incoming::Unsubscribed(_)
            | Incoming::Unknown(_) => {}
            other @ (Incoming::Welcome(_)
            | Incoming::Queued(_)
            | Incoming::QueueLeft
            | Incoming::MatchFound(_)
            | Incoming::Left(_)
            | Incoming::Location(_)
            | Incoming::Error(_)) => {
                return Err(BotError::Unexpected {
                    expected: "game messages until match_end",
                    got: other.type_name().to_owned(),
                })
            }
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
        approaches: brain.approaches(),
        planned_misses: brain.planned_misses(),
    })
}
