//! `rally loadgen`: drives a server with bot players over real WebSockets and measures it.
//!
//! `2 × rooms` guest bots connect, spread over one or more instances (`--url`, repeatable), and
//! start over `--ramp`; each room slot plays `matches` complete matches, or keeps starting
//! matches until `--duration` has passed (then leaves the ones still running). Quick match:
//! every bot queues; private: one bot of each pair creates a room over HTTP and both join by
//! code. Bots send inputs open loop (`--input-hz`, on a fixed schedule whatever the server
//! answers), drop and resume their connection mid-match (`--reconnect-rate`), and reconnect
//! through another instance when theirs goes away. `--idle N` first opens N authenticated idle
//! connections and holds them for the whole run.
//!
//! Measured: input→ack latency from each input's scheduled time, snapshot inter-arrival times
//! and tick gaps (HDR histograms merged at the end of each match); connect, auth and guest
//! creation times; RTT from pings; resume time; errors by kind; disconnects; the load
//! generator's own CPU; and each instance's CPU, memory and tick lateness from its `/metrics`
//! over the measuring window (from the end of the ramp to the end of the run).
//!
//! A progress line goes to stderr every few seconds; at the end [`run`] returns a [`Report`],
//! which [`command`] prints as a human summary followed by one JSON line (the last line of
//! stdout), exiting non-zero when any error occurred or `--max-p99-ms` was exceeded.

use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

use super::client::{BotClient, ClientConfig, Traffic};
use super::cpu::process_cpu_time;
use super::error::{BotError, BotResult};
use super::http::{Account, Api};
use super::play::{
    play_match, InputSchedule, JoinTarget, LiveCounters, MatchSummary, PlayOptions, Reconnect,
};
use super::stats::Hist;
use super::wire::Incoming;
use crate::cli::LoadgenArgs;

pub mod idle;
mod report;
pub mod server;
pub mod tournament;
use crate::protocol::ClientMsg;
pub use report::Report;

/// How bots get into rooms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Quick match: every bot queues and joins the room the matchmaker picks.
    Quick,
    /// Private rooms: one bot per pair creates a room over HTTP; both join by code.
    Private,
}

/// What to run. [`Options::new`] gives the defaults of the command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// Base URLs of the instances (`http://host:port`); bot `i` starts on `urls[i % n]`.
    pub urls: Vec<String>,
    /// Concurrent two-player room slots (0 with `idle` only).
    pub rooms: usize,
    /// Complete matches per room slot (when `duration` is `None`).
    pub matches: usize,
    /// Timed run: keep starting matches until this long after the start, then leave the ones
    /// still running (they end by resignation and count as `matches_cut`).
    pub duration: Option<Duration>,
    /// Bots (private: room slots) start evenly spread over this time.
    pub ramp: Duration,
    /// Open-loop inputs per second per bot; 0: only when the intent changes.
    pub input_hz: f64,
    /// Fraction of bots that drop their connection once per match and resume it.
    pub reconnect_rate: f64,
    /// Authenticated idle connections held for the whole run.
    pub idle: usize,
    /// Fail the run when the latency p99 exceeds this, ms.
    pub max_p99_ms: Option<f64>,
    /// Metrics URLs to scrape (one per instance); `None`: `<url>/metrics` of each `--url`.
    pub metrics_urls: Option<Vec<String>>,
    /// Quick match or private rooms.
    pub mode: Mode,
    /// Probability that a bot misplays an approaching ball.
    pub miss_rate: f64,
    /// Seed of every bot's choices.
    pub seed: u64,
    /// Bound on the whole run; bots still running then are errors (`timeout`).
    pub timeout: Duration,
    /// `points_to_win` of private rooms (server default when `None`); quick matches use the
    /// server's setting.
    pub points_to_win: Option<u32>,
    /// Progress line interval on stderr; `None`: quiet.
    pub progress_every: Option<Duration>,
    /// WebSocket settings.
    pub client: ClientConfig,
    /// Longest wait in the quick-match queue for `match_found`.
    pub queue_timeout: Duration,
    /// Longest silence within a match (see [`PlayOptions::idle_timeout`]).
    pub idle_timeout: Duration,
    /// Bound on each HTTP request.
    pub http_timeout: Duration,
    /// Ping interval during matches (RTT, clock offset).
    pub ping_every: Option<Duration>,
}

impl Options {
    /// `rooms` slots × `matches` against `url`, everything else at the command line's defaults.
    pub fn new(url: impl Into<String>, rooms: usize, matches: usize) -> Self {
        Self {
            urls: vec![url.into()],
            rooms,
            matches,
            duration: None,
            ramp: Duration::ZERO,
            input_hz: 60.0,
            reconnect_rate: 0.0,
            idle: 0,
            max_p99_ms: None,
            metrics_urls: None,
            mode: Mode::Quick,
            miss_rate: 0.3,
            seed: 1,
            timeout: Duration::from_secs(600),
            points_to_win: None,
            progress_every: Some(Duration::from_secs(5)),
            client: ClientConfig::default(),
            queue_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(60),
            http_timeout: Duration::from_secs(30),
            ping_every: Some(Duration::from_secs(2)),
        }
    }
}

impl TryFrom<&LoadgenArgs> for Options {
    type Error = anyhow::Error;

    fn try_from(a: &LoadgenArgs) -> anyhow::Result<Self> {
        if a.matches == 0 {
            anyhow::bail!("--matches must be at least 1");
        }
        if a.rooms == 0 && a.idle == 0 {
            anyhow::bail!("--rooms must be at least 1 (or give --idle)");
        }
        if !(0.0..=1.0).contains(&a.miss_rate) {
            anyhow::bail!("--miss-rate must be between 0 and 1, got {}", a.miss_rate);
        }
        if !(0.0..=1.0).contains(&a.reconnect_rate) {
            anyhow::bail!(
                "--reconnect-rate must be between 0 and 1, got {}",
                a.reconnect_rate
            );
        }
        if !(0.0..=MAX_INPUT_HZ).contains(&a.input_hz) {
            anyhow::bail!(
                "--input-hz must be between 0 and {MAX_INPUT_HZ} (the server allows twice a 60 Hz \
                 tick rate), got {}",
                a.input_hz
            );
        }
        if a.urls.is_empty() {
            anyhow::bail!("give at least one --url");
        }
        let run_for = a
            .duration
            .as_deref()
            .map(|d| duration("duration", d))
            .transpose()?;
        if a.rooms == 0 && run_for.is_none() {
            anyhow::bail!("--idle without --rooms needs --duration (how long to hold them)");
        }
        let timeout = duration("timeout", &a.timeout)?;
        if let Some(d) = run_for.filter(|d| timeout <= *d) {
            anyhow::bail!(
                "--timeout ({}) bounds the whole run and must exceed --duration ({}): the \
                 matches still running at the cut need time to end",
                humantime::format_duration(timeout),
                humantime::format_duration(d)
            );
        }
        let seed = seed_or_clock(a.seed);
        let progress = duration("progress", &a.progress)?;
        Ok(Self {
            mode: a.mode,
            miss_rate: a.miss_rate,
            seed,
            timeout,
            duration: run_for,
            ramp: duration("ramp", &a.ramp)?,
            input_hz: a.input_hz,
            reconnect_rate: a.reconnect_rate,
            idle: a.idle,
            max_p99_ms: a.max_p99_ms,
            metrics_urls: (!a.metrics_url.is_empty()).then(|| a.metrics_url.clone()),
            urls: a.urls.clone(),
            points_to_win: a.points_to_win,
            progress_every: (!progress.is_zero()).then_some(progress),
            queue_timeout: duration("queue-timeout", &a.queue_timeout)?,
            idle_timeout: duration("idle-timeout", &a.idle_timeout)?,
            client: ClientConfig {
                encoding: encoding(&a.encoding)?,
                ..ClientConfig::default()
            },
            ..Self::new(String::new(), a.rooms, a.matches)
        })
    }
}

/// `--encoding`.
fn encoding(v: &str) -> anyhow::Result<crate::protocol::Encoding> {
    crate::protocol::Encoding::parse(v)
        .ok_or_else(|| anyhow::anyhow!("--encoding must be json or bin, got {v:?}"))
}

/// A duration flag (`30s`, `2m`), with the flag named in the error.
fn duration(flag: &str, v: &str) -> anyhow::Result<Duration> {
    humantime::parse_duration(v).map_err(|e| anyhow::anyhow!("--{flag} {v:?}: {e}"))
}

/// `--seed`, or the clock when absent (the report prints the seed used).
fn seed_or_clock(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    })
}

/// Highest `--input-hz`: the server's message rate limit is 150/s per connection, and pings
/// and the other messages need some of it.
pub const MAX_INPUT_HZ: f64 = 120.0;
/// How long a bot tries to get back into its room after losing its connection: the server's
/// default reconnect grace (30 s) plus a margin for an instance failing over.
pub const RESUME_WITHIN: Duration = Duration::from_secs(40);

/// Everything bots report into, behind one lock taken once per match and per bot.
#[derive(Default)]
struct Totals {
    latency: Hist,
    snapshot_interval: Hist,
    connect: Hist,
    auth: Hist,
    guest: Hist,
    rtt: Hist,
    resume: Hist,
    matches: HashSet<String>,
    cut: HashSet<String>,
    outcomes: BTreeMap<String, u64>,
    errors_by_kind: BTreeMap<String, u64>,
    first_error: Option<String>,
    errors: u64,
    disconnects: u64,
    stranded: u64,
    tick_gaps: u64,
    max_tick_gap: u64,
    reconnects_ok: u64,
    reconnects_failed: u64,
    reconnects_deliberate: u64,
    traffic: Traffic,
}

/// State shared by every bot task of a run.
struct Shared {
    opts: Options,
    /// One HTTP client per instance, in `--url` order.
    apis: Vec<Api>,
    /// Their WebSocket URLs.
    ws_urls: Arc<Vec<String>>,
    /// When the run started (bounds `--timeout` and guest-creation retries).
    started: Instant,
    /// When the room phase started (after the idle connections were up): the ramp's origin.
    rooms_started: OnceLock<Instant>,
    /// Timed runs: no match starts after this, and running ones are left at it. Set with
    /// `rooms_started`.
    deadline: OnceLock<Option<Instant>>,
    live: Arc<LiveCounters>,
    totals: Mutex<Totals>,
    /// Quick match: matches still to be played, summed over live bots. When it equals one bot's
    /// own remaining count, nobody is left to pair with that bot.
    remaining: AtomicI64,
    connected: AtomicUsize,
    in_match: AtomicUsize,
    matches_completed: AtomicU64,
    errors: AtomicU64,
    rate_limited_waits: AtomicU64,
    rate_limit_hint: AtomicBool,
}

impl Shared {
    fn record_match(&self, s: &MatchSummary) {
        let mut t = self.totals.lock();
        t.latency.add(&s.latency);
        t.snapshot_interval.add(&s.snapshot_interval);
        t.tick_gaps += s.tick_gaps;
        t.max_tick_gap = t.max_tick_gap.max(s.max_tick_gap);
        t.reconnects_ok += s.reconnects.ok;
        t.reconnects_deliberate += s.reconnects.deliberate;
        t.resume.add(&s.reconnects.resume);
        if s.left_at_stop {
            t.cut.insert(s.match_id.clone());
        }
        if t.matches.insert(s.match_id.clone()) {
            *t.outcomes
                .entry(s.outcome.reason.as_str().to_owned())
                .or_default() += 1;
            self.matches_completed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn record_error(&self, who: &str, e: &BotError) {
        let mut t = self.totals.lock();
        match e {
            BotError::Stranded => {
                t.stranded += 1;
                return;
            }
            BotError::RunOver => return,
            _ => {}
        }
        tracing::warn!(bot = who, error = %e, "loadgen bot failed");
        t.errors += 1;
        self.errors.fetch_add(1, Ordering::Relaxed);
        if e.is_disconnect() {
            t.disconnects += 1;
        }
        *t.errors_by_kind.entry(e.kind().into_owned()).or_default() += 1;
        if t.first_error.is_none() {
            t.first_error = Some(format!("{who}: {e}"));
        }
    }

    /// How bot `idx`, on instance `instance` with `token`, plays its match `match_no`.
    fn play_options(
        &self,
        idx: usize,
        instance: usize,
        token: &str,
        match_no: usize,
    ) -> PlayOptions {
        let seed = mix(mix(self.opts.seed ^ idx as u64) ^ match_no as u64);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5EED);
        let input_schedule = (self.opts.input_hz > 0.0).then(|| {
            let period = Duration::from_secs_f64(1.0 / self.opts.input_hz);
            InputSchedule {
                period,
                phase: period.mul_f64(rng.gen::<f64>()),
            }
        });
        let drill = rng.gen::<f64>() < self.opts.reconnect_rate;
        PlayOptions {
            miss_rate: self.opts.miss_rate,
            seed,
            join_timeout: Duration::from_secs(10),
            idle_timeout: self.opts.idle_timeout,
            ping_every: self.opts.ping_every,
            live: Some(self.live.clone()),
            input_schedule,
            reconnect: Some(Reconnect {
                ws_urls: self.ws_urls.clone(),
                current: instance,
                token: token.to_owned(),
                client: self.opts.client.clone(),
                local: None,
                within: RESUME_WITHIN,
                // Between ½ s and 4 s of play at 60 Hz: inside even a short match.
                drop_after_snapshots: drill.then(|| rng.gen_range(30..240)),
                follow_replacement: false,
            }),
            stop_at: self.deadline(),
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.deadline.get().copied().flatten()
    }

    fn timed(&self) -> bool {
        self.opts.duration.is_some()
    }

    fn past_deadline(&self) -> bool {
        self.deadline().is_some_and(|d| Instant::now() >= d)
    }

    /// Waits for the bot's turn in the ramp.
    async fn ramp_wait(&self, position: usize, of: usize) {
        if self.opts.ramp.is_zero() || of == 0 {
            return;
        }
        let origin = self.rooms_started.get().copied().unwrap_or(self.started);
        let at = origin + self.opts.ramp.mul_f64(position as f64 / of as f64);
        tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
    }
}

/// A connected bot.
struct Bot {
    idx: usize,
    name: String,
    account: Account,
    client: BotClient,
    /// Index of the instance it is connected to.
    instance: usize,
}

/// SplitMix64: spreads one seed into independent per-bot, per-match seeds.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Creates a guest account and connects it, on instance `idx % n` or, when that one does not
/// answer, the next ones.
async fn start_bot(shared: &Shared, idx: usize) -> BotResult<Bot> {
    let n = shared.apis.len();
    let mut last = None;
    for k in 0..n {
        let instance = (idx + k) % n;
        match start_bot_on(shared, idx, instance).await {
            Ok(bot) => return Ok(bot),
            Err(e @ (BotError::Http { .. } | BotError::Connect { .. })) if k + 1 < n => {
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(BotError::Unexpected {
        expected: "an instance to connect to",
        got: "no --url".into(),
    }))
}

async fn start_bot_on(shared: &Shared, idx: usize, instance: usize) -> BotResult<Bot> {
    let api = &shared.apis[instance];
    let t0 = Instant::now();
    let (account, waits) = api
        .guest_retrying(shared.started + shared.opts.timeout)
        .await?;
    if waits > 0 {
        shared
            .rate_limited_waits
            .fetch_add(u64::from(waits), Ordering::Relaxed);
        if !shared.rate_limit_hint.swap(true, Ordering::Relaxed) {
            eprintln!(
                "loadgen: the server rate-limits guest creation (429); waiting it out. Start the \
                 server with a higher --auth-rate-per-minute for large runs."
            );
        }
    }
    let guest_time = t0.elapsed();
    let client = BotClient::connect(api.ws_url(), &account.token, &shared.opts.client).await?;
    {
        let mut t = shared.totals.lock();
        t.guest.record(guest_time);
        t.connect.record(client.connect_time());
        if let Some(a) = client.auth_time() {
            t.auth.record(a);
        }
    }
    shared.connected.fetch_add(1, Ordering::Relaxed);
    Ok(Bot {
        idx,
        name: format!("bot{idx}"),
        account,
        client,
        instance,
    })
}

/// Outside a match, a lost connection is replaced by a new one through the next instance
/// (the bot holds no seat, so there is nothing to rejoin).
async fn reconnect_between_matches(shared: &Shared, bot: &mut Bot) -> BotResult<()> {
    let n = shared.ws_urls.len();
    let started = Instant::now();
    let mut attempt = 0usize;
    loop {
        attempt += 1;
        let instance = (bot.instance + attempt) % n;
        match BotClient::connect(
            &shared.ws_urls[instance],
            &bot.account.token,
            &shared.opts.client,
        )
        .await
        {
            Ok(mut fresh) => {
                fresh.inherit(&bot.client);
                bot.client = fresh;
                bot.instance = instance;
                shared.totals.lock().reconnects_ok += 1;
                return Ok(());
            }
            Err(e) if started.elapsed() >= RESUME_WITHIN => {
                shared.totals.lock().reconnects_failed += 1;
                return Err(e);
            }
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100 * attempt.min(10) as u64)).await;
            }
        }
    }
}

/// Records a bot's traffic and RTT and closes its socket.
async fn finish_bot(shared: &Shared, bot: Bot) {
    {
        let mut t = shared.totals.lock();
        let tr = bot.client.traffic();
        t.traffic.frames_in += tr.frames_in;
        t.traffic.bytes_in += tr.bytes_in;
        t.traffic.frames_out += tr.frames_out;
        t.traffic.bytes_out += tr.bytes_out;
        t.rtt.add(bot.client.rtt());
    }
    shared.connected.fetch_sub(1, Ordering::Relaxed);
    bot.client.close().await;
}

/// Queues for a quick match and returns the room to join. In a timed run, a bot still waiting
/// at the deadline leaves the queue (`RunOver`) unless a match was found meanwhile.
async fn queue_for_match(shared: &Shared, client: &mut BotClient, mine: i64) -> BotResult<String> {
    client
        .send(&ClientMsg::Queue {
            game: "pong".into(),
            size: None,
        })
        .await?;
    let queued_at = Instant::now();
    let mut queued = false;
    let mut cancelled_at: Option<Instant> = None;
    loop {
        match client.recv(Duration::from_millis(500)).await {
            Ok(Incoming::Queued(_)) => queued = true,
            Ok(Incoming::MatchFound(m)) => return Ok(m.room),
            Ok(Incoming::QueueLeft) if cancelled_at.is_some() => return Err(BotError::RunOver),
            // Ratings of the previous match, pongs, a late `left`.
            Ok(_) => {}
            Err(BotError::Timeout { .. }) => {
                if let Some(at) = cancelled_at {
                    if at.elapsed() > Duration::from_secs(5) {
                        return Err(BotError::Timeout {
                            waiting_for: "queue_left",
                            after: Duration::from_secs(5),
                        });
                    }
                    continue;
                }
                if !queued && queued_at.elapsed() > Duration::from_secs(10) {
                    return Err(BotError::Timeout {
                        waiting_for: "queued",
                        after: Duration::from_secs(10),
                    });
                }
                if shared.past_deadline() {
                    client.send(&ClientMsg::CancelQueue).await?;
                    cancelled_at = Some(Instant::now());
                    continue;
                }
                if !shared.timed() && shared.remaining.load(Ordering::Relaxed) <= mine {
                    let _ = client.send(&ClientMsg::CancelQueue).await;
                    return Err(BotError::Stranded);
                }
                if queued_at.elapsed() > shared.opts.queue_timeout {
                    return Err(BotError::Timeout {
                        waiting_for: "match_found",
                        after: shared.opts.queue_timeout,
                    });
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Plays one match; the bot then remembers the instance it ended on (a resume may have moved
/// it).
async fn play_one(
    bot: &mut Bot,
    target: JoinTarget,
    opts: &PlayOptions,
) -> BotResult<MatchSummary> {
    let r = play_match(&mut bot.client, target, opts).await;
    if let Ok(summary) = &r {
        if let Some(i) = summary.instance {
            bot.instance = i;
        }
    }
    r
}

/// One quick-match bot: connect, then queue and play `matches` times (or until the deadline).
async fn quick_bot(shared: Arc<Shared>, idx: usize) {
    shared.ramp_wait(idx, 2 * shared.opts.rooms).await;
    let matches = shared.opts.matches as i64;
    let mut left = matches;
    let who = format!("bot{idx}");
    let result = async {
        let mut bot = start_bot(&shared, idx).await?;
        let mut played = Ok(());
        let mut m = 0usize;
        let mut requeues = 0;
        while shared.timed() || m < shared.opts.matches {
            if shared.past_deadline() {
                break;
            }
            let room = match queue_for_match(&shared, &mut bot.client, left).await {
                Ok(room) => room,
                Err(e) if e.invites_reconnect() && requeues < 3 => {
                    requeues += 1;
                    if let Err(e) = reconnect_between_matches(&shared, &mut bot).await {
                        played = Err(e);
                        break;
                    }
                    continue;
                }
                Err(BotError::RunOver) => break,
                Err(e) => {
                    played = Err(e);
                    break;
                }
            };
            shared.in_match.fetch_add(1, Ordering::Relaxed);
            let opts = shared.play_options(bot.idx, bot.instance, &bot.account.token, m);
            let step = play_one(&mut bot, JoinTarget::Room(room), &opts).await;
            shared.in_match.fetch_sub(1, Ordering::Relaxed);
            match step {
                Ok(summary) => {
                    shared.record_match(&summary);
                    left -= 1;
                    shared.remaining.fetch_sub(1, Ordering::Relaxed);
                }
                Err(BotError::RunOver) => break,
                Err(e) => {
                    played = Err(e);
                    break;
                }
            }
            m += 1;
        }
        finish_bot(&shared, bot).await;
        played
    }
    .await;
    if let Err(e) = result {
        shared.remaining.fetch_sub(left, Ordering::Relaxed);
        shared.record_error(&who, &e);
    }
}

/// One private-room slot: two bots; for each match the first creates a room, both join by code.
async fn private_slot(shared: Arc<Shared>, slot: usize) {
    shared.ramp_wait(slot, shared.opts.rooms).await;
    let (a, b) = tokio::join!(
        start_bot(&shared, 2 * slot),
        start_bot(&shared, 2 * slot + 1)
    );
    let (mut host, mut guest) = match (a, b) {
        (Ok(h), Ok(g)) => (h, g),
        (a, b) => {
            for (i, r) in [(2 * slot, a), (2 * slot + 1, b)] {
                match r {
                    Ok(bot) => finish_bot(&shared, bot).await,
                    Err(e) => shared.record_error(&format!("bot{i}"), &e),
                }
            }
            return;
        }
    };
    let config = match shared.opts.points_to_win {
        Some(p) => serde_json::json!({ "points_to_win": p }),
        None => serde_json::json!({}),
    };
    let mut m = 0usize;
    while shared.timed() || m < shared.opts.matches {
        if shared.past_deadline() {
            break;
        }
        let room = match shared.apis[host.instance]
            .create_room(&host.account.token, "pong", false, config.clone())
            .await
        {
            Ok(r) => r,
            Err(e) => {
                shared.record_error(&host.name, &e);
                break;
            }
        };
        shared.in_match.fetch_add(2, Ordering::Relaxed);
        let (host_opts, guest_opts) = (
            shared.play_options(host.idx, host.instance, &host.account.token, m),
            shared.play_options(guest.idx, guest.instance, &guest.account.token, m),
        );
        let (ra, rb) = tokio::join!(
            play_one(&mut host, JoinTarget::Code(room.code.clone()), &host_opts),
            play_one(&mut guest, JoinTarget::Code(room.code.clone()), &guest_opts),
        );
        shared.in_match.fetch_sub(2, Ordering::Relaxed);
        let mut stop = false;
        for (bot, r) in [(&host, ra), (&guest, rb)] {
            match r {
                Ok(summary) => shared.record_match(&summary),
                Err(BotError::RunOver) => stop = true,
                Err(e) => {
                    shared.record_error(&bot.name, &e);
                    stop = true;
                }
            }
        }
        if stop {
            break;
        }
        m += 1;
    }
    finish_bot(&shared, host).await;
    finish_bot(&shared, guest).await;
}

/// Prints a progress line to stderr every `every`.
async fn progress(shared: Arc<Shared>, every: Duration) {
    let mut last_snapshots = 0;
    let mut last_at = Instant::now();
    loop {
        tokio::time::sleep(every).await;
        let snapshots = shared.live.snapshots_received.load(Ordering::Relaxed);
        let now = Instant::now();
        let rate = (snapshots - last_snapshots) as f64 / now.duration_since(last_at).as_secs_f64();
        (last_snapshots, last_at) = (snapshots, now);
        let p99 = shared.totals.lock().latency.quantile_ms(0.99);
        let target = match shared.opts.duration {
            Some(d) => format!("{:.0} s run", d.as_secs_f64()),
            None => format!("{}", shared.opts.rooms * shared.opts.matches),
        };
        eprintln!(
            "loadgen {:>6.1}s: connections {} ({} bots, {} idle); {} in a match; matches {}/{}; \
             snapshots {} ({:.0}/s); inputs {}; p99 {:.1} ms; errors {}",
            shared.started.elapsed().as_secs_f64(),
            shared.connected.load(Ordering::Relaxed),
            2 * shared.opts.rooms,
            shared.opts.idle,
            shared.in_match.load(Ordering::Relaxed),
            shared.matches_completed.load(Ordering::Relaxed),
            target,
            snapshots,
            rate,
            shared.live.inputs_sent.load(Ordering::Relaxed),
            p99,
            shared.errors.load(Ordering::Relaxed),
        );
    }
}

/// Scrapes every instance's metrics (see [`server`]).
async fn scrape_all(http: &reqwest::Client, urls: &[String]) -> Vec<Option<server::Scrape>> {
    let mut out = Vec::with_capacity(urls.len());
    for u in urls {
        out.push(server::scrape(http, u).await);
    }
    out
}

/// Runs the load: opens the idle connections, starts the bots, waits for them (at most
/// `opts.timeout`), and reports. Fails only when the options are unusable (bad URL); bot
/// failures are counted in the report.
pub async fn run(opts: Options) -> BotResult<Report> {
    let apis = opts
        .urls
        .iter()
        .map(|u| Api::new(u, opts.http_timeout))
        .collect::<BotResult<Vec<_>>>()?;
    if apis.is_empty() {
        return Err(BotError::BadUrl {
            url: String::new(),
            reason: "no server URL given".into(),
        });
    }
    let metrics_urls: Vec<String> = match &opts.metrics_urls {
        Some(m) => m.clone(),
        None => apis
            .iter()
            .filter_map(|a| a.base().join("metrics").ok().map(String::from))
            .collect(),
    };
    let scraper = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|source| BotError::Http {
            op: "client",
            source,
        })?;
    if opts.idle > 0 {
        idle::raise_fd_limit();
    }
    let before = scrape_all(&scraper, &metrics_urls).await;
    let cpu_before = process_cpu_time();
    let ws_urls = Arc::new(apis.iter().map(|a| a.ws_url().to_owned()).collect());
    let shared = Arc::new(Shared {
        remaining: AtomicI64::new((2 * opts.rooms * opts.matches) as i64),
        apis,
        ws_urls,
        started: Instant::now(),
        rooms_started: OnceLock::new(),
        deadline: OnceLock::new(),
        opts,
        live: Arc::new(LiveCounters::default()),
        totals: Mutex::new(Totals::default()),
        connected: AtomicUsize::new(0),
        in_match: AtomicUsize::new(0),
        matches_completed: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        rate_limited_waits: AtomicU64::new(0),
        rate_limit_hint: AtomicBool::new(false),
    });
    let progress_task = shared
        .opts
        .progress_every
        .map(|every| tokio::spawn(progress(shared.clone(), every)));

    // Idle connections first, held to the end: the rooms then run beside them.
    let idle = if shared.opts.idle > 0 {
        Some(idle::open(&shared, shared.opts.idle).await)
    } else {
        None
    };

    // The clock of the room phase starts now (after the idle connections are up).
    let rooms_started = Instant::now();
    let _ = shared.rooms_started.set(rooms_started);
    let _ = shared
        .deadline
        .set(shared.opts.duration.map(|d| rooms_started + d));
    let opts = &shared.opts;
    let mut bots = JoinSet::new();
    match opts.mode {
        Mode::Quick => {
            for i in 0..2 * opts.rooms {
                bots.spawn(quick_bot(shared.clone(), i));
            }
        }
        Mode::Private => {
            for s in 0..opts.rooms {
                bots.spawn(private_slot(shared.clone(), s));
            }
        }
    }

    // The measuring window: from the end of the ramp to the deadline (timed runs) or to the
    // end of the run.
    let window_start = async {
        tokio::time::sleep(opts.ramp).await;
        scrape_all(&scraper, &metrics_urls).await
    };
    let all_done = async {
        // Idle connections only: hold them until the deadline.
        if opts.rooms == 0 {
            if let Some(d) = shared.deadline() {
                tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await;
            }
        }
        while let Some(r) = bots.join_next().await {
            if let Err(e) = r {
                shared.record_error(
                    "task",
                    &BotError::Unexpected {
                        expected: "a bot task to finish",
                        got: format!("{e}"),
                    },
                );
            }
        }
    };
    let deadline_scrape = async {
        match shared.deadline() {
            Some(d) => {
                tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await;
                Some(scrape_all(&scraper, &metrics_urls).await)
            }
            None => std::future::pending().await,
        }
    };
    let mut start_scrape = None;
    let mut end_scrape = None;
    let timed_out = tokio::time::timeout(opts.timeout, async {
        tokio::pin!(window_start, all_done, deadline_scrape);
        let mut done = false;
        while !done {
            tokio::select! {
                s = &mut window_start, if start_scrape.is_none() => start_scrape = Some(s),
                s = &mut deadline_scrape, if end_scrape.is_none() => end_scrape = s,
                () = &mut all_done => done = true,
            }
        }
    })
    .await
    .is_err();
    if timed_out {
        let unfinished = bots.len();
        bots.abort_all();
        while bots.join_next().await.is_some() {}
        let e = BotError::Timeout {
            waiting_for: "the run to finish (--timeout)",
            after: opts.timeout,
        };
        for _ in 0..unfinished {
            shared.record_error("run", &e);
        }
    }
    let start_scrape = match start_scrape {
        Some(s) => s,
        None => scrape_all(&scraper, &metrics_urls).await,
    };
    let end_scrape = match end_scrape {
        Some(s) => s,
        None => scrape_all(&scraper, &metrics_urls).await,
    };
    let (idle_connected, idle_failed, idle_dropped) = match idle {
        Some(idle) => {
            let counts = (
                idle.connected,
                idle.failed,
                idle.dropped.load(Ordering::Relaxed),
            );
            idle.close().await;
            counts
        }
        None => (0, 0, 0),
    };
    if let Some(p) = progress_task {
        p.abort();
    }
    let duration = rooms_started.elapsed();
    let cpu = match (cpu_before, process_cpu_time()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => Duration::ZERO,
    };
    let servers = metrics_urls
        .iter()
        .enumerate()
        .map(|(i, u)| {
            server::ServerReport::from_scrapes(
                u,
                before.get(i).and_then(Option::as_ref),
                start_scrape.get(i).and_then(Option::as_ref),
                end_scrape.get(i).and_then(Option::as_ref),
            )
        })
        .collect();
    let t = shared.totals.lock();
    let duration_s = duration.as_secs_f64();
    let completed = t.matches.len().saturating_sub(t.cut.len()) as u64;
    let latency_ms = t.latency.percentiles();
    let p99_exceeded = opts.max_p99_ms.is_some_and(|bound| latency_ms.p99 > bound);
    Ok(Report {
        rooms: opts.rooms,
        players: 2 * opts.rooms,
        instances: opts.urls.len(),
        mode: opts.mode,
        encoding: opts.client.encoding.as_str(),
        matches_per_room: if opts.duration.is_some() {
            None
        } else {
            Some(opts.matches)
        },
        seed: opts.seed,
        duration_s: round3(duration_s),
        ramp_s: round3(opts.ramp.as_secs_f64()),
        input_hz: opts.input_hz,
        matches_completed: completed,
        matches_cut: t.cut.len() as u64,
        matches_target: if opts.duration.is_some() {
            0
        } else {
            (opts.rooms * opts.matches) as u64
        },
        inputs_sent: shared.live.inputs_sent.load(Ordering::Relaxed),
        snapshots_received: shared.live.snapshots_received.load(Ordering::Relaxed),
        latency_ms,
        latency_samples: t.latency.len(),
        max_p99_ms: opts.max_p99_ms,
        p99_exceeded,
        snapshot_interval_ms: t.snapshot_interval.short_percentiles(),
        tick_gaps: t.tick_gaps,
        max_tick_gap: t.max_tick_gap,
        errors: t.errors,
        errors_by_kind: t.errors_by_kind.clone(),
        first_error: t.first_error.clone(),
        disconnects: t.disconnects,
        reconnects_ok: t.reconnects_ok,
        reconnects_failed: t.reconnects_failed + shared.live.resumes_failed.load(Ordering::Relaxed),
        reconnects_deliberate: t.reconnects_deliberate,
        resume_ms: t.resume.short_percentiles(),
        stranded: t.stranded,
        outcomes: t.outcomes.clone(),
        idle_target: opts.idle,
        idle_connected,
        idle_failed,
        idle_dropped,
        connect_ms: t.connect.short_percentiles(),
        auth_ms: t.auth.short_percentiles(),
        guest_ms: t.guest.short_percentiles(),
        rate_limited_waits: shared.rate_limited_waits.load(Ordering::Relaxed),
        rtt_ms: t.rtt.short_percentiles(),
        frames_in: t.traffic.frames_in,
        bytes_in: t.traffic.bytes_in,
        frames_out: t.traffic.frames_out,
        bytes_out: t.traffic.bytes_out,
        loadgen_cpu_s: round3(cpu.as_secs_f64()),
        loadgen_cpu_percent: if duration_s > 0.0 {
            round3(100.0 * cpu.as_secs_f64() / duration_s)
        } else {
            0.0
        },
        servers,
        timed_out,
    })
}

/// Rounds to three decimals (report fields).
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `rally loadgen`: runs on its own tokio runtime (`--threads`), prints the human summary and
/// the JSON line to stdout, and fails when the run was not clean.
pub fn command(args: &LoadgenArgs) -> anyhow::Result<()> {
    if args.tournament.is_some() {
        return tournament_command(args);
    }
    let opts = Options::try_from(args)?;
    let urls = opts.urls.join(", ");
    let runtime = runtime(args)?;
    let report = runtime.block_on(run(opts))?;
    println!("{}", report.human(&urls));
    println!("{}", serde_json::to_string(&report)?);
    if !report.ok() {
        anyhow::bail!("loadgen failed: {}", report.failure());
    }
    Ok(())
}

/// The bots' runtime: single-threaded for `--threads 1`, else multi-threaded.
fn runtime(args: &LoadgenArgs) -> std::io::Result<tokio::runtime::Runtime> {
    if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
}

/// `rally loadgen --tournament ID --players N` (see [`tournament`]).
fn tournament_command(args: &LoadgenArgs) -> anyhow::Result<()> {
    let id = args.tournament.clone().unwrap_or_default();
    if !(1..=tournament::MAX_PLAYERS).contains(&args.players) {
        anyhow::bail!(
            "--players must be between 1 and {}",
            tournament::MAX_PLAYERS
        );
    }
    if !(0.0..=1.0).contains(&args.miss_rate) {
        anyhow::bail!(
            "--miss-rate must be between 0 and 1, got {}",
            args.miss_rate
        );
    }
    if args.urls.is_empty() {
        anyhow::bail!("give at least one --url");
    }
    let url = args.urls.join(", ");
    let defaults = Options::new(String::new(), 1, 1);
    let opts = tournament::TournamentOptions {
        urls: args.urls.clone(),
        tournament: id,
        players: args.players,
        miss_rate: args.miss_rate,
        seed: seed_or_clock(args.seed),
        timeout: duration("timeout", &args.timeout)?,
        idle_timeout: duration("idle-timeout", &args.idle_timeout)?,
        client: ClientConfig {
            encoding: encoding(&args.encoding)?,
            ..defaults.client
        },
        http_timeout: defaults.http_timeout,
    };
    let report = runtime(args)?.block_on(tournament::run(opts))?;
    println!("{}", report.human(&url));
    println!("{}", serde_json::to_string(&report)?);
    if !report.ok() {
        anyhow::bail!(
            "loadgen tournament failed: status {}, {} errors{}",
            report.status.as_deref().unwrap_or("unknown"),
            report.errors,
            report
                .first_error
                .as_deref()
                .map(|e| format!("; first error: {e}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
