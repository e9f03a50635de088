//! `rally loadgen --tournament ID --players N`: N bots register as players, enter that
//! tournament, wait for it to start, play every match they are called to, and finish when the
//! tournament has: exit 0 when it finished and no bot hit an error, non-zero otherwise.
//!
//! Each bot subscribes to the tournament's live events (`docs/protocol.md`, "Tournaments") and
//! joins the room of each `match_ready` event that names it (or the room its `welcome` names,
//! when a match was already waiting for it). The organiser starts the tournament; loadgen only
//! plays.

use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

use super::mix;
use crate::bot::client::{BotClient, ClientConfig};
use crate::bot::error::{BotError, BotResult};
use crate::bot::http::Api;
use crate::bot::play::{play_match, JoinTarget, MatchSummary, PlayOptions};
use crate::bot::wire::Incoming;
use crate::protocol::{ClientMsg, TournamentEvent};

/// Most bots one run may start: the largest bracket a tournament takes.
pub const MAX_PLAYERS: usize = crate::tournament::bracket::MAX_ELIMINATION_ENTRANTS;

/// What to run.
#[derive(Clone, Debug)]
pub struct TournamentOptions {
    /// Server base URL.
    pub url: String,
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
             {:.1} s; status {}; champion {}; {} errors{}",
            self.tournament,
            self.players,
            self.matches_played,
            self.wins,
            self.duration_s,
            self.status.as_deref().unwrap_or("unknown"),
            self.champion.as_deref().unwrap_or("none"),
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
    errors: u64,
    errors_by_kind: BTreeMap<String, u64>,
    first_error: Option<String>,
}

struct Shared {
    opts: TournamentOptions,
    api: Api,
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

/// One bot: register, enter, subscribe, then play each match it is called to until the end.
async fn bot(shared: Arc<Shared>, idx: usize) -> BotResult<()> {
    let opts = &shared.opts;
    let name = format!("lg{:08x}-{idx}", opts.seed as u32);
    let password = format!("loadgen-{:016x}", mix(opts.seed ^ idx as u64));
    let account = shared
        .api
        .register_retrying(&name, &password, shared.deadline)
        .await?;
    shared
        .api
        .join_tournament(&account.token, &opts.tournament)
        .await?;
    let mut client = BotClient::connect(shared.api.ws_url(), &account.token, &opts.client).await?;
    client
        .send(&ClientMsg::Subscribe {
            tournament: opts.tournament.clone(),
        })
        .await?;
    let mut next_room = client.welcome().and_then(|w| w.room.clone());
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
                reconnect: None,
                stop_at: None,
            };
            let summary = play_match(&mut client, JoinTarget::Room(room), &play).await?;
            shared.record(&summary);
            played += 1;
            continue;
        }
        let left = shared.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(BotError::Timeout {
                waiting_for: "the tournament to finish",
                after: opts.timeout,
            });
        }
        let msg = match client.recv(left.min(POLL)).await {
            Err(BotError::Timeout { .. }) => continue,
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
    client.close().await;
    Ok(())
}

/// Runs the bots until the tournament has finished (at most `opts.timeout`) and reports.
pub async fn run(opts: TournamentOptions) -> BotResult<TournamentReport> {
    let api = Api::new(&opts.url, opts.http_timeout)?;
    let started = Instant::now();
    let shared = Arc::new(Shared {
        deadline: started + opts.timeout,
        api,
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
    let view = shared.api.tournament(&shared.opts.tournament).await;
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
