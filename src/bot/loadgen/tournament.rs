//! `rally loadgen --tournament ID --players N`: N bots register as players, enter that
//! tournament, wait for it to start, play every match they are called to, and finish when the
//! tournament has: exit 0 when it finished and no bot hit an error, non-zero otherwise.
//!
//! Bots are spread over the instances (`--url`, repeatable: bot `i` starts on the `i % n`-th);
//! any instance serves the subscription. Each bot subscribes to the tournament's live events
//! (`docs/protocol.md`, "Tournaments") and joins the room of each `match_ready` event that names
//! it (or the room its `welcome` names, when a match was already waiting for it). A bot whose
//! instance goes away reconnects through the next one, subscribes again and rejoins its match
//! (protocol §5.5) — or, when the match died with the tournament's own instance, plays the new
//! room the adopted tournament replays it in. The organiser starts the tournament; loadgen only
//! plays.

use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

use super::{mix, RESUME_WITHIN};
use crate::bot::client::{BotClient, ClientConfig};
use crate::bot::error::{BotError, BotResult};
use crate::bot::http::Api;
use crate::bot::play::{play_match, JoinTarget, MatchSummary, PlayOptions, Reconnect};
use crate::bot::wire::Incoming;
use crate::protocol::{ClientMsg, TournamentEvent};

/// Most bots one run may start: the largest bracket a tournament takes.
pub const MAX_PLAYERS: usize = crate::tournament::bracket::MAX_ELIMINATION_ENTRANTS;

/// What to run.
#[derive(Clone, Debug)]
pub struct TournamentOptions {
    /// Base URLs of the instances; bot `i` starts on `urls[i % n]`.
    pub urls: Vec<String>,
    /// The tournament to enter (registration must be open).
    pub tournament: String,
    /// Bots.
    pub players: usize,
    /// Probability that a bot misplays an approaching ball.
    pub miss_rate: f64,
    /// Seed of names, passwords and play.
    pub seed: u64,
    /// Bound on the whole run, waiting for the start included.
    pub timeout: Duration,
    /// Longest silence tolerated inside a match (must exceed the tournament's no-show window).
    pub idle_timeout: Duration,
    /// WebSocket settings.
    pub client: ClientConfig,
    /// Bound on each HTTP request.
    pub http_timeout: Duration,
}

/// The result of a tournament run; the last line of stdout, as JSON.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TournamentReport {
    /// Tournament id.
    pub tournament: String,
    /// Bots started.
    pub players: usize,
    /// Seed used.
    pub seed: u64,
    /// Wall time, seconds.
    pub duration_s: f64,
    /// Distinct matches the bots played to `match_end`.
    pub matches_played: u64,
    /// Matches won by a bot (a walkover without a room is not counted).
    pub wins: u64,
    /// The tournament's status at the end (`finished` on success).
    pub status: Option<String>,
    /// The champion's player id, when finished.
    pub champion: Option<String>,
    /// Bots that failed.
    pub errors: u64,
    /// Failures by kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// The first failure, in words.
    pub first_error: Option<String>,
    /// The run hit `--timeout`.
    pub timed_out: bool,
    /// Lost connections after which a bot got back (to its match, or to the tournament).
    pub reconnects: u64,
    /// Matches a bot was playing when their instance died and played again in a new room.
    pub replayed: u64,
    /// Instances the bots were spread over.
    pub instances: usize,
}

impl TournamentReport {
    /// Whether the run was clean: finished, no error, in time.
    pub fn ok(&self) -> bool {
        self.errors == 0 && !self.timed_out && self.status.as_deref() == Some("finished")
    }

    /// One paragraph for humans.
    pub fn human(&self, url: &str) -> String {
        format!(
            "loadgen tournament {} on {url}: {} bots, {} matches played ({} won by bots) in \
             {:.1} s; status {}; champion {}; {} reconnects, {} matches replayed; {} errors{}",
            self.tournament,
            self.players,
            self.matches_played,
            self.wins,
            self.duration_s,
            self.status.as_deref().unwrap_or("unknown"),
            self.champion.as_deref().unwrap_or("none"),
            self.reconnects,
            self.replayed,
            self.errors,
            self.first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default(),
        )
    }
}

#[derive(Default)]
struct Totals {
    matches: HashSet<String>,
    wins: u64,
    reconnects: u64,
    replayed: u64,
    errors: u64,
    errors_by_kind: BTreeMap<String, u64>,
    first_error: Option<String>,
}

struct Shared {
    opts: TournamentOptions,
    /// One HTTP client per instance, in `--url` order.
    apis: Vec<Api>,
    /// Their WebSocket URLs.
    ws_urls: Arc<Vec<String>>,
    deadline: Instant,
    totals: Mutex<Totals>,
}

impl Shared {
    fn record(&self, s: &MatchSummary) {
        let mut t = self.totals.lock();
        t.matches.insert(s.match_id.clone());
        if s.won() == Some(true) {
            t.wins += 1;
        }
        t.reconnects += s.reconnects.ok;
    }

    fn record_error(&self, who: &str, e: &BotError) {
        tracing::warn!(bot = who, error = %e, "loadgen tournament bot failed");
        let mut t = self.totals.lock();
        t.errors += 1;
        *t.errors_by_kind.entry(e.kind().into_owned()).or_default() += 1;
        if t.first_error.is_none() {
            t.first_error = Some(format!("{who}: {e}"));
        }
    }
}

/// How long to wait for one message before checking the deadline again.
const POLL: Duration = Duration::from_secs(5);

/// A bot's connection: the client, the instance it is on, and the session it subscribed with.
struct Line {
    client: BotClient,
    instance: usize,
    subscribed: Option<String>,
}

impl Line {
    /// Subscribe on the current connection unless already done (a reconnect makes a new
    /// session: subscriptions end with the session).
    async fn subscribe(&mut self, tournament: &str) -> BotResult<()> {
        let session = self.client.welcome().map(|w| w.session.clone());
        if session.is_some() && session == self.subscribed {
            return Ok(());
        }
        self.client
            .send(&ClientMsg::Subscribe {
                tournament: tournament.to_owned(),
            })
            .await?;
        self.subscribed = session;
        Ok(())
    }

    /// The connection broke: connect through the next instance (the others first), retrying
    /// until [`RESUME_WITHIN`] has passed.
    async fn reconnect(&mut self, shared: &Shared, token: &str) -> BotResult<()> {
        let n = shared.ws_urls.len();
        let started = Instant::now();
        let mut attempt = 0usize;
        loop {
            attempt += 1;
            let instance = (self.instance + attempt) % n;
            match BotClient::connect(&shared.ws_urls[instance], token, &shared.opts.client).await {
                Ok(mut fresh) => {
                    fresh.inherit(&self.client);
                    self.client = fresh;
                    self.instance = instance;
                    shared.totals.lock().reconnects += 1;
                    return Ok(());
                }
                Err(e) if started.elapsed() >= RESUME_WITHIN => return Err(e),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100 * attempt.min(10) as u64)).await
                }
            }
        }
    }
}

/// One bot: register, enter, subscribe, then play each match it is called to until the end.
async fn bot(shared: Arc<Shared>, idx: usize) -> BotResult<()> {
    let opts = &shared.opts;
    let name = format!("lg{:08x}-{idx}", opts.seed as u32);
    let password = format!("loadgen-{:016x}", mix(opts.seed ^ idx as u64));
    let instance = idx % shared.apis.len();
    let api = &shared.apis[instance];
    let account = api
        .register_retrying(&name, &password, shared.deadline)
        .await?;
    api.join_tournament(&account.token, &opts.tournament)
        .await?;
    let client = BotClient::connect(api.ws_url(), &account.token, &opts.client).await?;
    let mut line = Line {
        client,
        instance,
        subscribed: None,
    };
    line.subscribe(&opts.tournament).await?;
    let mut next_room = line.client.welcome().and_then(|w| w.room.clone());
    let mut played = 0;
    loop {
        if let Some(room) = next_room.take() {
            let play = PlayOptions {
                miss_rate: opts.miss_rate,
                seed: mix(mix(opts.seed ^ idx as u64) ^ played),
                join_timeout: Duration::from_secs(10),
                idle_timeout: opts.idle_timeout,
                ping_every: None,
                live: None,
                // A tournament bot plays as the web client does: inputs on intent changes.
                input_schedule: None,
                reconnect: Some(Reconnect {
                    ws_urls: shared.ws_urls.clone(),
                    current: line.instance,
                    token: account.token.clone(),
                    client: opts.client.clone(),
                    local: None,
                    within: RESUME_WITHIN,
                    drop_after_snapshots: None,
                    follow_replacement: true,
                }),
                stop_at: None,
            };
            match play_match(&mut line.client, JoinTarget::Room(room.clone()), &play).await {
                Ok(summary) => {
                    if let Some(i) = summary.instance {
                        line.instance = i;
                    }
                    shared.record(&summary);
                    played += 1;
                }
                // The match died with its instance; the tournament plays it again here.
                Err(BotError::Replaced { room: again }) => {
                    let mut t = shared.totals.lock();
                    t.replayed += 1;
                    // It reconnected to learn that (a new session).
                    if line.client.welcome().map(|w| &w.session) != line.subscribed.as_ref() {
                        t.reconnects += 1;
                    }
                    drop(t);
                    next_room = Some(again);
                }
                // Joining failed because the room is between instances (its instance died):
                // the tournament names the room to play in `welcome.room` once it is back.
                Err(e) if e.invites_reconnect() => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    line.reconnect(&shared, &account.token).await?;
                    next_room = line.client.welcome().and_then(|w| w.room.clone());
                }
                Err(e) => return Err(e),
            }
            line.subscribe(&opts.tournament).await?;
            continue;
        }
        let left = shared.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(BotError::Timeout {
                waiting_for: "the tournament to finish",
                after: opts.timeout,
            });
        }
        let msg = match line.client.recv(left.min(POLL)).await {
            Err(BotError::Timeout { .. }) => continue,
            Err(e) if e.invites_reconnect() => {
                line.reconnect(&shared, &account.token).await?;
                line.subscribe(&opts.tournament).await?;
                next_room = line.client.welcome().and_then(|w| w.room.clone());
                continue;
            }
            other => other?,
        };
        let Incoming::Tournament(t) = msg else {
            continue;
        };
        let status = match &t.event {
            TournamentEvent::MatchReady { room, players, .. }
                if players.iter().any(|p| p.id == account.player_id) =>
            {
                next_room = Some(room.clone());
                None
            }
            TournamentEvent::Status { status, .. } => Some(status.clone()),
            TournamentEvent::State { view } => view["status"].as_str().map(str::to_owned),
            _ => None,
        };
        match status.as_deref() {
            Some("finished") => break,
            Some("cancelled") => {
                return Err(BotError::Unexpected {
                    expected: "the tournament to finish",
                    got: "it was cancelled".into(),
                })
            }
            _ => {}
        }
    }
    line.client.close().await;
    Ok(())
}

/// Runs the bots until the tournament has finished (at most `opts.timeout`) and reports.
pub async fn run(opts: TournamentOptions) -> BotResult<TournamentReport> {
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
    let ws_urls = Arc::new(apis.iter().map(|a| a.ws_url().to_owned()).collect());
    let started = Instant::now();
    let shared = Arc::new(Shared {
        deadline: started + opts.timeout,
        apis,
        ws_urls,
        opts,
        totals: Mutex::new(Totals::default()),
    });
    let mut bots = JoinSet::new();
    for i in 0..shared.opts.players {
        let s = shared.clone();
        bots.spawn(async move {
            if let Err(e) = bot(s.clone(), i).await {
                s.record_error(&format!("bot{i}"), &e);
            }
        });
    }
    // The bots watch the deadline themselves; this bounds a bot stuck inside a match.
    let grace = shared.opts.timeout + shared.opts.idle_timeout;
    let all = async { while bots.join_next().await.is_some() {} };
    let timed_out = tokio::time::timeout(grace, all).await.is_err();
    if timed_out {
        bots.abort_all();
    }
    // Any instance serves the view (from the database); the first that answers.
    let mut view = Err(BotError::BadUrl {
        url: String::new(),
        reason: "no instance answered".into(),
    });
    for api in &shared.apis {
        view = api.tournament(&shared.opts.tournament).await;
        if view.is_ok() {
            break;
        }
    }
    let t = shared.totals.lock();
    let mut report = TournamentReport {
        tournament: shared.opts.tournament.clone(),
        players: shared.opts.players,
        seed: shared.opts.seed,
        duration_s: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        matches_played: t.matches.len() as u64,
        wins: t.wins,
        errors: t.errors,
        errors_by_kind: t.errors_by_kind.clone(),
        first_error: t.first_error.clone(),
        timed_out,
        reconnects: t.reconnects,
        replayed: t.replayed,
        instances: shared.apis.len(),
        ..TournamentReport::default()
    };
    match view {
        Ok(v) => {
            report.status = v["status"].as_str().map(str::to_owned);
            report.champion = v["champion"]["id"].as_str().map(str::to_owned);
        }
        Err(e) => {
            report.errors += 1;
            report.first_error.get_or_insert_with(|| e.to_string());
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_run_is_ok_only_when_finished_cleanly() {
        let mut r = TournamentReport {
            status: Some("finished".into()),
            ..TournamentReport::default()
        };
        assert!(r.ok());
        r.errors = 1;
        assert!(!r.ok());
        r.errors = 0;
        r.status = Some("cancelled".into());
        assert!(!r.ok());
        assert!(r.human("http://x").contains("cancelled"));
    }
}
