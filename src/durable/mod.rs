//! Durable writes: the database writes that players have been (or are about to be) told about
//! are never lost, whatever the database does.
//!
//! # The rule
//! Rooms never wait for the database. What a room must not lose — a match's start, its result
//! and rating change, a no-show, a seat taken in a private room — it hands to the [`Outbox`] as
//! a [`Write`]. The outbox first **journals** the write somewhere that survives the process,
//! then **applies** it to the database, retrying with backoff ([`MIN_BACKOFF`] doubling up to
//! [`MAX_BACKOFF`]) for as long as the database fails, until the database takes it or proves it
//! superseded. Every write is idempotent by match id and fenced by the room's ownership epoch,
//! so a retry — or a second instance finishing the same journal — never doubles anything:
//! "already recorded" counts as done (ratings are applied once, in the result's transaction),
//! "stale epoch" and "the row is terminal" mean someone with the right to decide has decided
//! (the write is dropped as superseded). Only a refusal that no retry can change (an unknown
//! match, an invalid value: a bug) drops a write as refused, with an error in the log.
//!
//! Rooms announce a result (`match_end`) only once it is journaled (bounded by
//! [`JOURNAL_WAIT`]), and ratings (`ratings`) only once the database has them.
//!
//! # Journals
//! - **Alone** (no Redis): an append-only file ([`file::FileJournal`], `RALLY_OUTBOX_FILE`),
//!   locked by the process. After a crash the next start reads it back and finishes every write
//!   before tournaments are restored (a restore abandons the rows still live, so it must see the
//!   results first).
//! - **Several instances** (Redis): a hash per instance ([`shared::SharedJournal`]) and a count
//!   of pending writes per match and per tournament (the *holds*). When an instance's heartbeat
//!   is gone, a survivor moves its journal into its own with one script and finishes the
//!   writes. While a match or a tournament has a pending write, nobody adopts it ([`Outbox::holds`]):
//!   an adopter's `take_over` would otherwise fence off a result players were already told.
//!
//! The tournament actor does not journal its own transitions: they are derived from match rows
//! (the source of truth) and recomputed on every retry, so it retries them itself, with the same
//! backoff, and reports them here ([`Outbox::tournament_waiting`]) so the pending gauge and the
//! alert see them.

pub mod apply;
pub mod file;
pub mod shared;
mod worker;

use crate::db::matches::{FinishOutcome, FinishedMatch, Timing};
use crate::db::Db;
use crate::error::AppError;
use crate::registry::Cluster;
use crate::tournament::messages::MatchReport;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Notify};

/// First retry delay after a failed write; doubled per failure up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between two attempts of one write: after an outage of any length, pending
/// writes land within this (plus one connection attempt) of the database answering again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a room waits for a result to be journaled before announcing it anyway (a journal
/// that cannot be written — disk full, Redis unreachable — must not hold players hostage; the
/// write is still retried from memory).
pub const JOURNAL_WAIT: Duration = Duration::from_secs(2);
/// Writes applied at once (to different matches; writes of one match are applied in order).
pub const APPLY_CONCURRENCY: usize = 4;

/// What a write does; the `kind` label of the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteKind {
    /// A player sat in a private room ([`Write::Seat`]).
    Seat,
    /// Play began ([`Write::Start`]).
    Start,
    /// A result and its rating change ([`Write::Finish`]).
    Finish,
    /// A no-show ([`Write::Abandon`]).
    Abandon,
    /// A tournament transition the tournament actor is retrying (not journaled; see the module
    /// documentation).
    Tournament,
}

impl WriteKind {
    /// Every kind, for metrics registered at zero.
    pub const ALL: [WriteKind; 5] = [
        WriteKind::Seat,
        WriteKind::Start,
        WriteKind::Finish,
        WriteKind::Abandon,
        WriteKind::Tournament,
    ];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteKind::Seat => "seat",
            WriteKind::Start => "start",
            WriteKind::Finish => "finish",
            WriteKind::Abandon => "abandon",
            WriteKind::Tournament => "tournament",
        }
    }
}

/// One database write that must happen. Serialisable: this is what the journals hold.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Write {
    /// A player sat in a private room before the start.
    Seat {
        /// Match id.
        match_id: String,
        /// The room's ownership epoch.
        epoch: i64,
        /// The seat.
        seat: u8,
        /// The player.
        player: String,
    },
    /// Play began.
    Start {
        /// Match id.
        match_id: String,
        /// The room's ownership epoch.
        epoch: i64,
        /// When play began (Unix ms).
        started_ms: i64,
        /// Told to the tournament once recorded (tournament matches).
        report: Option<MatchReport>,
    },
    /// The result, with the rating change of a rated match.
    Finish {
        /// The result (its `epoch` fences it); boxed, as it is by far the largest write.
        result: Box<FinishedMatch>,
        /// When the match started and ended.
        timing: Timing,
        /// The room, told of ratings or of being fenced off if it still runs here.
        room: String,
        /// Told to the tournament once recorded (tournament matches).
        report: Option<MatchReport>,
    },
    /// Matched players did not all come: nobody is rated.
    Abandon {
        /// Match id.
        match_id: String,
        /// The room's ownership epoch.
        epoch: i64,
        /// End reason stored on the row (`no_show`).
        reason: String,
        /// When the room gave up (Unix ms).
        finished_ms: i64,
    },
}

impl Write {
    /// The metrics kind.
    pub fn kind(&self) -> WriteKind {
        match self {
            Write::Seat { .. } => WriteKind::Seat,
            Write::Start { .. } => WriteKind::Start,
            Write::Finish { .. } => WriteKind::Finish,
            Write::Abandon { .. } => WriteKind::Abandon,
        }
    }

    /// The match written. Writes of one match are applied in the order they were made.
    pub fn match_id(&self) -> &str {
        match self {
            Write::Seat { match_id, .. }
            | Write::Start { match_id, .. }
            | Write::Abandon { match_id, .. } => match_id,
            Write::Finish { result, .. } => &result.id,
        }
    }

    /// The tournament whose match this is, when known.
    pub fn tournament(&self) -> Option<&str> {
        match self {
            Write::Start { report, .. } | Write::Finish { report, .. } => {
                report.as_ref().map(|r| r.tournament.as_str())
            }
            Write::Seat { .. } | Write::Abandon { .. } => None,
        }
    }

    /// The holds this write puts on adoption while it is pending: its match, and its
    /// tournament.
    pub fn holds(&self) -> Vec<String> {
        let mut h = vec![hold_match(self.match_id())];
        if let Some(t) = self.tournament() {
            h.push(hold_tournament(t));
        }
        h
    }
}

/// The hold key of a match.
pub fn hold_match(id: &str) -> String {
    format!("match:{id}")
}

/// The hold key of a tournament.
pub fn hold_tournament(id: &str) -> String {
    format!("tournament:{id}")
}

/// A journaled write: the write and its identity.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// ULID, time-ordered: writes are applied in id order (per match).
    pub id: String,
    /// When the write was made (Unix ms); the oldest-pending gauge counts from it, also across a
    /// restart or an adoption.
    pub created_ms: i64,
    /// The write.
    pub write: Write,
}

/// How a write ended.
#[derive(Debug)]
pub enum Settled {
    /// A seat is recorded.
    Seated,
    /// The start is recorded.
    Started,
    /// The result is recorded now, or was already (a retry).
    Finished(FinishOutcome),
    /// The no-show is recorded.
    Abandoned,
    /// Provably superseded: fenced off by a newer epoch (`stale_epoch`), or the row is
    /// terminal. Nothing was written and nothing needs to be.
    Superseded {
        /// Another owner took the match over.
        stale_epoch: bool,
        /// Why, for the log.
        why: String,
    },
    /// Refused for good (unknown match, invalid value): no retry can change it.
    Refused(AppError),
}

impl Settled {
    /// The `result` label of `rally_durable_writes_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Settled::Seated | Settled::Started | Settled::Finished(_) | Settled::Abandoned => {
                "applied"
            }
            Settled::Superseded { .. } => "superseded",
            Settled::Refused(_) => "refused",
        }
    }
}

/// Called once per settled write (on the outbox's task): rooms hear of ratings and fencing,
/// tournaments of results.
pub type OnSettled = Arc<dyn Fn(&Entry, &Settled) + Send + Sync>;

/// A submitted write and the room waiting to hear that it is journaled.
pub(crate) type Submitted = (Entry, oneshot::Sender<bool>);

/// Where pending writes are journaled.
pub(crate) enum Journal {
    /// The local file (single instance).
    File(file::FileJournal),
    /// Redis (several instances).
    Shared(shared::SharedJournal),
}

impl Journal {
    fn label(&self) -> &'static str {
        match self {
            Journal::File(_) => "file",
            Journal::Shared(_) => "redis",
        }
    }
}

/// Whether an entry is in the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Journaled {
    /// Its write to the journal is in flight: not applied yet (so its removal from the journal
    /// can never overtake it).
    Pending,
    /// In the journal.
    Yes,
    /// The journal refused it: held in memory only, journaled again at the next round.
    Failed,
}

/// A pending write and its retry state.
struct Held {
    entry: Entry,
    journaled: Journaled,
    attempts: u32,
    next_try: Instant,
    in_flight: bool,
    /// The last error, logged again only every so often.
    last_logged: Option<Instant>,
}

impl Held {
    fn new(entry: Entry, journaled: Journaled) -> Held {
        Held {
            entry,
            journaled,
            attempts: 0,
            next_try: Instant::now(),
            in_flight: false,
            last_logged: None,
        }
    }
}

#[derive(Default)]
struct State {
    /// Pending writes by entry id (so in creation order).
    entries: BTreeMap<String, Held>,
    /// Tournaments retrying a transition, since when.
    tournaments: HashMap<String, Instant>,
}

pub(crate) struct Inner {
    db: Db,
    journal: Journal,
    state: Mutex<State>,
    /// Wakes the worker: new journaled entries, claimed entries.
    wake: Notify,
    on_settled: Mutex<Option<OnSettled>>,
    /// New entries to journal (the journal task batches them).
    to_journal: mpsc::UnboundedSender<Submitted>,
    to_journal_rx: Mutex<Option<mpsc::UnboundedReceiver<Submitted>>>,
    /// Entries found in the journal at open (a previous run's), for the log and the metric.
    recovered: usize,
}

/// The durable write queue of one process. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

/// Resolves once a submitted write is journaled (see [`Outbox::submit`]).
pub struct JournalReceipt(oneshot::Receiver<bool>);

impl JournalReceipt {
    /// Wait until the write is journaled, at most [`JOURNAL_WAIT`]. True when it is; false when
    /// the journal failed or was too slow (the write is then retried from memory, and journaled
    /// again at the next round).
    pub async fn wait(self) -> bool {
        matches!(
            tokio::time::timeout(JOURNAL_WAIT, self.0).await,
            Ok(Ok(true))
        )
    }
}

impl Outbox {
    fn new(db: Db, journal: Journal, recovered: Vec<Entry>) -> Outbox {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = State::default();
        let n = recovered.len();
        for e in recovered {
            state
                .entries
                .insert(e.id.clone(), Held::new(e, Journaled::Yes));
        }
        if n > 0 {
            metrics::counter!("rally_durable_recovered_total", "source" => journal.label())
                .increment(n as u64);
        }
        Outbox {
            inner: Arc::new(Inner {
                db,
                journal,
                state: Mutex::new(state),
                wake: Notify::new(),
                on_settled: Mutex::new(None),
                to_journal: tx,
                to_journal_rx: Mutex::new(Some(rx)),
                recovered: n,
            }),
        }
    }

    /// A single instance's outbox: journal in the file at `path` (created with its directory
    /// when missing, locked against a second process) for `database` (its URL without the
    /// password), with the writes a previous run left in it. Blocking file I/O: call it from
    /// start-up code on the blocking pool.
    pub fn open_file(db: Db, path: &Path, database: &str) -> anyhow::Result<Outbox> {
        let (journal, recovered) = file::FileJournal::open(path, database)?;
        Ok(Outbox::new(db, Journal::File(journal), recovered))
    }

    /// A cluster member's outbox: journal in Redis (see [`shared`]).
    pub fn shared(db: Db, cluster: Arc<Cluster>) -> Outbox {
        Outbox::new(
            db,
            Journal::Shared(shared::SharedJournal::new(cluster)),
            Vec::new(),
        )
    }

    /// Set what hears of settled writes (once, before [`Outbox::start`]).
    pub fn on_settled(&self, f: OnSettled) {
        *self.inner.on_settled.lock() = Some(f);
    }

    /// Start the journal and worker tasks on the current arbiter (the system one).
    pub fn start(&self) {
        if let Some(rx) = self.inner.to_journal_rx.lock().take() {
            actix::spawn(worker::journal_task(self.inner.clone(), rx));
            actix::spawn(worker::worker(self.inner.clone()));
        }
    }

    /// Writes found in the journal when it was opened (a previous run's).
    pub fn recovered(&self) -> usize {
        self.inner.recovered
    }

    /// Hand a write over: it is journaled, then applied until the database takes it or proves
    /// it superseded. Never blocks; the receipt says when it is journaled.
    pub fn submit(&self, write: Write) -> JournalReceipt {
        let entry = Entry {
            id: crate::ids::next_ulid().to_string(),
            created_ms: crate::db::now_ms(),
            write,
        };
        let (tx, rx) = oneshot::channel();
        self.inner.state.lock().entries.insert(
            entry.id.clone(),
            Held::new(entry.clone(), Journaled::Pending),
        );
        if let Err(mpsc::error::SendError((entry, tx))) = self.inner.to_journal.send((entry, tx)) {
            // The journal task is gone (the process is stopping): keep it in memory.
            if let Some(h) = self.inner.state.lock().entries.get_mut(&entry.id) {
                h.journaled = Journaled::Failed;
            }
            let _ = tx.send(false);
        }
        JournalReceipt(rx)
    }

    /// Writes not yet in the database (this process's, and the ones it took over).
    pub fn pending(&self) -> usize {
        self.inner.state.lock().entries.len()
    }

    /// Whether a pending write concerns `match_id` or `tournament` — anywhere in the cluster
    /// with Redis (true when Redis cannot be asked: adopting is never urgent enough to risk
    /// fencing off a result). Nobody adopts a held match or tournament.
    pub async fn holds(&self, match_id: Option<&str>, tournament: Option<&str>) -> bool {
        let keys: Vec<String> = match_id
            .map(hold_match)
            .into_iter()
            .chain(tournament.map(hold_tournament))
            .collect();
        if keys.is_empty() {
            return false;
        }
        let local = {
            let st = self.inner.state.lock();
            st.entries
                .values()
                .any(|h| h.entry.write.holds().iter().any(|k| keys.contains(k)))
        };
        if local {
            return true;
        }
        match &self.inner.journal {
            Journal::File(_) => false,
            Journal::Shared(j) => j.holds(&keys).await.unwrap_or(true),
        }
    }

    /// Wait until every pending write is settled (start-up: the previous run's writes go in
    /// before tournaments are restored). Retries for as long as the database fails.
    pub async fn settle_all(&self) {
        let mut last_log = Instant::now();
        while self.pending() > 0 {
            if last_log.elapsed() >= Duration::from_secs(10) {
                tracing::warn!(
                    pending = self.pending(),
                    "still finishing the previous run's durable writes (is the database up?)"
                );
                last_log = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A tournament's transition failed and is being retried (`true`), or went through
    /// (`false`): counted in the pending gauges (kind `tournament`).
    pub fn tournament_waiting(&self, tournament: &str, waiting: bool) {
        let mut st = self.inner.state.lock();
        if waiting {
            st.tournaments
                .entry(tournament.to_string())
                .or_insert_with(Instant::now);
        } else {
            st.tournaments.remove(tournament);
        }
    }
}

/// Finish, without an outbox, the writes a single-instance run left in the journal file at
/// `path` for `database` (an instance that now runs with Redis must not ignore them): each is
/// applied with the same retries, then the file is emptied. Returns how many there were.
/// Nothing to do when the file does not exist, belongs to another database, or another process
/// holds it (that process finishes them).
pub async fn drain_file(db: &Db, path: &Path, database: &str) -> anyhow::Result<usize> {
    if !path.exists() {
        return Ok(0);
    }
    let (p, d) = (path.to_path_buf(), database.to_string());
    let opened = actix_web::web::block(move || file::FileJournal::open(&p, &d))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (journal, entries) = match opened {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(error = %e, "not finishing the outbox file here");
            return Ok(0);
        }
    };
    let n = entries.len();
    if n > 0 {
        metrics::counter!("rally_durable_recovered_total", "source" => "file").increment(n as u64);
        tracing::warn!(writes = n, file = %path.display(), "finishing a single-instance run's durable writes");
    }
    for e in &entries {
        let mut attempts = 0;
        let settled = loop {
            match apply::apply(db, &e.write).await {
                Ok(s) => break s,
                Err(err) => {
                    attempts += 1;
                    metrics::counter!("rally_durable_retries_total", "kind" => e.write.kind().as_str())
                        .increment(1);
                    tracing::warn!(error = ?err, attempts, "durable write failed; retrying with backoff");
                    tokio::time::sleep(backoff(attempts)).await;
                }
            }
        };
        metrics::counter!("rally_durable_writes_total", "kind" => e.write.kind().as_str(), "result" => settled.label())
            .increment(1);
    }
    actix_web::web::block(move || journal.truncate_if(|| true))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))??;
    Ok(n)
}

/// The retry delay after `attempts` failures: [`MIN_BACKOFF`] doubled per failure, capped at
/// [`MAX_BACKOFF`], with ±20 % jitter so writes held by several instances do not retry in step.
pub fn backoff(attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(16);
    let base = MIN_BACKOFF.saturating_mul(1u32 << exp).min(MAX_BACKOFF);
    let jitter: f64 = rand::Rng::gen_range(&mut rand::thread_rng(), 0.8..1.2);
    base.mul_f64(jitter)
}

/// Describe the metrics and register every series at zero (dashboards and alerts need them
/// before the first outage).
pub fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, Unit};
    describe_gauge!(
        "rally_durable_pending_writes",
        "Writes that matter (results, starts, no-shows, seats, tournament transitions) not yet in the database, by kind"
    );
    describe_gauge!(
        "rally_durable_oldest_pending_seconds",
        Unit::Seconds,
        "Age of the oldest pending durable write (0 when none)"
    );
    describe_counter!(
        "rally_durable_retries_total",
        "Failed attempts of durable writes, retried with backoff, by kind"
    );
    describe_counter!(
        "rally_durable_writes_total",
        "Durable writes settled, by kind and result (applied, superseded, refused)"
    );
    describe_counter!(
        "rally_durable_journal_errors_total",
        "Writes the journal (file or Redis) could not hold; they are retried from memory"
    );
    describe_counter!(
        "rally_durable_recovered_total",
        "Pending writes taken over from a previous run's file or a dead instance's Redis journal"
    );
    for kind in WriteKind::ALL {
        metrics::gauge!("rally_durable_pending_writes", "kind" => kind.as_str()).set(0.0);
        metrics::counter!("rally_durable_retries_total", "kind" => kind.as_str()).absolute(0);
        if kind != WriteKind::Tournament {
            for result in ["applied", "superseded", "refused"] {
                metrics::counter!("rally_durable_writes_total", "kind" => kind.as_str(), "result" => result)
                    .absolute(0);
            }
        }
    }
    metrics::gauge!("rally_durable_oldest_pending_seconds").set(0.0);
    for journal in ["file", "redis"] {
        metrics::counter!("rally_durable_journal_errors_total", "journal" => journal).absolute(0);
        metrics::counter!("rally_durable_recovered_total", "source" => journal).absolute(0);
    }
}

#[cfg(test)]
mod tests {
    use super::{backoff, MAX_BACKOFF, MIN_BACKOFF};

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b1 = backoff(1);
        assert!(b1 >= MIN_BACKOFF.mul_f64(0.8) && b1 <= MIN_BACKOFF.mul_f64(1.2));
        let b3 = backoff(3);
        assert!(b3 >= (MIN_BACKOFF * 4).mul_f64(0.8) && b3 <= (MIN_BACKOFF * 4).mul_f64(1.2));
        for n in [10, 100, u32::MAX] {
            assert!(backoff(n) <= MAX_BACKOFF.mul_f64(1.2));
            assert!(backoff(n) >= MAX_BACKOFF.mul_f64(0.8));
        }
    }
}
