//! `rally loadgen`: drives a server with bot players over real WebSockets and measures it.
//!
//! `2 × rooms` guest bots connect; each room slot plays `matches` complete matches (quick
//! match: every bot queues `matches` times; private: one bot of each pair creates a room over
//! HTTP and both join by code). While they play, a progress line goes to stderr every few
//! seconds; at the end [`run`] returns a [`Report`], which [`command`] prints as a human summary
//! followed by one JSON line (the last line of stdout), exiting non-zero when any error occurred.
//!
//! Measuring hooks (issue 6 extends them): input→ack latency, snapshot inter-arrival times and
//! tick gaps per bot in HDR histograms merged at the end of each match; connect, auth and guest
//! creation times; RTT from pings; errors by kind; disconnects; own CPU time.

use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

use super::client::{BotClient, ClientConfig, Traffic};
use super::cpu::process_cpu_time;
use super::error::{BotError, BotResult};
use super::http::{Account, Api};
use super::play::{play_match, JoinTarget, LiveCounters, MatchSummary, PlayOptions};
use super::stats::Hist;
use super::wire::Incoming;
use crate::cli::LoadgenArgs;

mod report;
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
    /// Server base URL (`http://host:port`).
    pub url: String,
    /// Concurrent two-player room slots.
    pub rooms: usize,
    /// Complete matches per room slot.
    pub matches: usize,
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
            url: url.into(),
            rooms,
            matches,
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
        let duration = |flag: &str, v: &str| {
            humantime::parse_duration(v).map_err(|e| anyhow::anyhow!("--{flag} {v:?}: {e}"))
        };
        if a.rooms == 0 || a.matches == 0 {
            anyhow::bail!("--rooms and --matches must be at least 1");
        }
        if !(0.0..=1.0).contains(&a.miss_rate) {
            anyhow::bail!("--miss-rate must be between 0 and 1, got {}", a.miss_rate);
        }
        let seed = a.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
        let progress = duration("progress", &a.progress)?;
        Ok(Self {
            mode: a.mode,
            miss_rate: a.miss_rate,
            seed,
            timeout: duration("timeout", &a.timeout)?,
            points_to_win: a.points_to_win,
            progress_every: (!progress.is_zero()).then_some(progress),
            queue_timeout: duration("queue-timeout", &a.queue_timeout)?,
            idle_timeout: duration("idle-timeout", &a.idle_timeout)?,
            ..Self::new(a.url.clone(), a.rooms, a.matches)
        })
    }
}

/// Everything bots report into, behind one lock taken once per match and per bot.
#[derive(Default)]
struct Totals {
    latency: Hist,
    snapshot_interval: Hist,
    connect: Hist,
    auth: Hist,
    guest: Hist,
    rtt: Hist,
    matches: HashSet<String>,
    outcomes: BTreeMap<String, u64>,
    errors_by_kind: BTreeMap<String, u64>,
    first_error: Option<String>,
    errors: u64,
    disconnects: u64,
    stranded: u64,
    tick_gaps: u64,
    max_tick_gap: u64,
    traffic: Traffic,
}

/// State shared by every bot task of a run.
struct Shared {
    opts: Options,
    api: Api,
    started: Instant,
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
        if t.matches.insert(s.match_id.clone()) {
            *t.outcomes
                .entry(s.outcome.reason.as_str().to_owned())
                .or_default() += 1;
            self.matches_completed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn record_error(&self, who: &str, e: &BotError) {
        tracing::warn!(bot = who, error = %e, "loadgen bot failed");
        let mut t = self.totals.lock();
        if matches!(e, BotError::Stranded) {
            t.stranded += 1;
            return;
        }
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

    fn play_options(&self, bot: usize, match_no: usize) -> PlayOptions {
        PlayOptions {
            miss_rate: self.opts.miss_rate,
            seed: mix(mix(self.opts.seed ^ bot as u64) ^ match_no as u64),
            join_timeout: Duration::from_secs(10),
            idle_timeout: self.opts.idle_timeout,
            ping_every: self.opts.ping_every,
            live: Some(self.live.clone()),
        }
    }
}

/// A connected bot.
struct Bot {
    name: String,
    account: Account,
    client: BotClient,
}

/// SplitMix64: spreads one seed into independent per-bot, per-match seeds.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Creates a guest account and connects it.
async fn start_bot(shared: &Shared, idx: usize) -> BotResult<Bot> {
    let t0 = Instant::now();
    let (account, waits) = shared
        .api
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
    let client =
        BotClient::connect(shared.api.ws_url(), &account.token, &shared.opts.client).await?;
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
        name: format!("bot{idx}"),
        account,
        client,
    })
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

/// Queues for a quick match and returns the room to join.
async fn queue_for_match(shared: &Shared, client: &mut BotClient, mine: i64) -> BotResult<String> {
    client
        .send(&ClientMsg::Queue {
            game: "pong".into(),
        })
        .await?;
    let queued_at = Instant::now();
    let mut queued = false;
    loop {
        match client.recv(Duration::from_secs(1)).await {
            Ok(Incoming::Queued(_)) => queued = true,
            Ok(Incoming::MatchFound(m)) => return Ok(m.room),
            // Ratings of the previous match, pongs.
            Ok(_) => {}
            Err(BotError::Timeout { .. }) => {
                if !queued && queued_at.elapsed() > Duration::from_secs(10) {
                    return Err(BotError::Timeout {
                        waiting_for: "queued",
                        after: Duration::from_secs(10),
                    });
                }
                if shared.remaining.load(Ordering::Relaxed) <= mine {
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

/// One quick-match bot: connect, then queue and play `matches` times.
async fn quick_bot(shared: Arc<Shared>, idx: usize) {
    let matches = shared.opts.matches as i64;
    let mut left = matches;
    let who = format!("bot{idx}");
    let result = async {
        let mut bot = start_bot(&shared, idx).await?;
        let mut played = Ok(());
        for m in 0..shared.opts.matches {
            let step = async {
                let room = queue_for_match(&shared, &mut bot.client, left).await?;
                shared.in_match.fetch_add(1, Ordering::Relaxed);
                let r = play_match(
                    &mut bot.client,
                    JoinTarget::Room(room),
                    &shared.play_options(idx, m),
                )
                .await;
                shared.in_match.fetch_sub(1, Ordering::Relaxed);
                r
            }
            .await;
            match step {
                Ok(summary) => {
                    shared.record_match(&summary);
                    left -= 1;
                    shared.remaining.fetch_sub(1, Ordering::Relaxed);
                }
                Err(e) => {
                    played = Err(e);
                    break;
                }
            }
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
    for m in 0..shared.opts.matches {
        let room = match shared
            .api
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
            shared.play_options(2 * slot, m),
            shared.play_options(2 * slot + 1, m),
        );
        let (ra, rb) = tokio::join!(
            play_match(
                &mut host.client,
                JoinTarget::Code(room.code.clone()),
                &host_opts
            ),
            play_match(
                &mut guest.client,
                JoinTarget::Code(room.code.clone()),
                &guest_opts
            ),
        );
        shared.in_match.fetch_sub(2, Ordering::Relaxed);
        let mut failed = false;
        for (bot, r) in [(&host, ra), (&guest, rb)] {
            match r {
                Ok(summary) => shared.record_match(&summary),
                Err(e) => {
                    shared.record_error(&bot.name, &e);
                    failed = true;
                }
            }
        }
        if failed {
            break;
        }
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
        eprintln!(
            "loadgen {:>6.1}s: bots {}/{} connected, {} in a match; matches {}/{}; snapshots {} \
             ({:.0}/s); inputs {}; p99 {:.1} ms; errors {}",
            shared.started.elapsed().as_secs_f64(),
            shared.connected.load(Ordering::Relaxed),
            2 * shared.opts.rooms,
            shared.in_match.load(Ordering::Relaxed),
            shared.matches_completed.load(Ordering::Relaxed),
            shared.opts.rooms * shared.opts.matches,
            snapshots,
            rate,
            shared.live.inputs_sent.load(Ordering::Relaxed),
            p99,
            shared.errors.load(Ordering::Relaxed),
        );
    }
}

/// Runs the load: starts the bots, waits for them (at most `opts.timeout`), and reports.
/// Fails only when the options are unusable (bad URL); bot failures are counted in the report.
pub async fn run(opts: Options) -> BotResult<Report> {
    let api = Api::new(&opts.url, opts.http_timeout)?;
    let cpu_before = process_cpu_time();
    let started = Instant::now();
    let shared = Arc::new(Shared {
        remaining: AtomicI64::new((2 * opts.rooms * opts.matches) as i64),
        opts,
        api,
        started,
        live: Arc::new(LiveCounters::default()),
        totals: Mutex::new(Totals::default()),
        connected: AtomicUsize::new(0),
        in_match: AtomicUsize::new(0),
        matches_completed: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        rate_limited_waits: AtomicU64::new(0),
        rate_limit_hint: AtomicBool::new(false),
    });
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
    let progress = opts
        .progress_every
        .map(|every| tokio::spawn(progress(shared.clone(), every)));
    let all_done = async {
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
    let timed_out = tokio::time::timeout(opts.timeout, all_done).await.is_err();
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
    if let Some(p) = progress {
        p.abort();
    }
    let duration = started.elapsed();
    let cpu = match (cpu_before, process_cpu_time()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => Duration::ZERO,
    };
    let t = shared.totals.lock();
    let duration_s = duration.as_secs_f64();
    Ok(Report {
        rooms: opts.rooms,
        players: 2 * opts.rooms,
        mode: opts.mode,
        matches_per_room: opts.matches,
        seed: opts.seed,
        duration_s: round3(duration_s),
        matches_completed: t.matches.len() as u64,
        matches_target: (opts.rooms * opts.matches) as u64,
        inputs_sent: shared.live.inputs_sent.load(Ordering::Relaxed),
        snapshots_received: shared.live.snapshots_received.load(Ordering::Relaxed),
        latency_ms: t.latency.percentiles(),
        latency_samples: t.latency.len(),
        snapshot_interval_ms: t.snapshot_interval.short_percentiles(),
        tick_gaps: t.tick_gaps,
        max_tick_gap: t.max_tick_gap,
        errors: t.errors,
        errors_by_kind: t.errors_by_kind.clone(),
        first_error: t.first_error.clone(),
        disconnects: t.disconnects,
        reconnects_ok: 0,
        reconnects_failed: 0,
        stranded: t.stranded,
        outcomes: t.outcomes.clone(),
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
        timed_out,
    })
}

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
    let url = opts.url.clone();
    let runtime = runtime(args)?;
    let report = runtime.block_on(run(opts))?;
    println!("{}", report.human(&url));
    println!("{}", serde_json::to_string(&report)?);
    if !report.ok() {
        anyhow::bail!(
            "loadgen failed: {} errors, {} stranded, {}/{} matches{}",
            report.errors,
            report.stranded,
            report.matches_completed,
            report.matches_target,
            report
                .first_error
                .as_deref()
                .map(|e| format!("; first error: {e}"))
                .unwrap_or_default()
        );
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
    let duration = |flag: &str, v: &str| {
        humantime::parse_duration(v).map_err(|e| anyhow::anyhow!("--{flag} {v:?}: {e}"))
    };
    let defaults = Options::new(args.url.clone(), 1, 1);
    let opts = tournament::TournamentOptions {
        url: args.url.clone(),
        tournament: id,
        players: args.players,
        miss_rate: args.miss_rate,
        seed: args.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        }),
        timeout: duration("timeout", &args.timeout)?,
        idle_timeout: duration("idle-timeout", &args.idle_timeout)?,
        client: defaults.client,
        http_timeout: defaults.http_timeout,
    };
    let report = runtime(args)?.block_on(tournament::run(opts))?;
    println!("{}", report.human(&args.url));
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
