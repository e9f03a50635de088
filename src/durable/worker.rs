//! The outbox's two tasks, on the system arbiter.
//!
//! - **journal task**: takes newly submitted writes in batches, journals each batch (one file
//!   `write`, or one Redis pipeline), answers the rooms waiting to announce, then syncs the file
//!   to disk.
//! - **worker**: applies due writes (the oldest pending write of each match, up to
//!   [`APPLY_CONCURRENCY`] at once), retries failures with backoff, removes settled writes from
//!   the journal, tells [`super::OnSettled`]; every round of the cluster's lease period it also
//!   re-journals what it holds (a flushed Redis gets it back) and takes over the journals of
//!   vanished instances; every second it publishes the gauges.

use super::apply::apply;
use super::{
    backoff, Entry, Inner, Journal, Journaled, Settled, Submitted, WriteKind, APPLY_CONCURRENCY,
};
use futures_util::StreamExt;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// New writes journaled in one batch at most.
const JOURNAL_BATCH: usize = 256;
/// How often the gauges are refreshed (the oldest-pending age grows while nothing settles).
const GAUGE_EVERY: Duration = Duration::from_secs(1);
/// A write that keeps failing is logged again after this long (not on every retry).
const LOG_AGAIN_AFTER: Duration = Duration::from_secs(30);
/// Without a cluster, how often writes the journal refused are journaled again.
const REJOURNAL_EVERY: Duration = Duration::from_secs(5);

pub(super) async fn journal_task(inner: Arc<Inner>, mut rx: mpsc::UnboundedReceiver<Submitted>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < JOURNAL_BATCH {
            match rx.try_recv() {
                Ok(x) => batch.push(x),
                Err(_) => break,
            }
        }
        let entries: Vec<Entry> = batch.iter().map(|(e, _)| e.clone()).collect();
        let ok = journal_put(&inner, entries).await;
        {
            let mut st = inner.state.lock();
            for (e, _) in &batch {
                if let Some(h) = st.entries.get_mut(&e.id) {
                    h.journaled = if ok {
                        Journaled::Yes
                    } else {
                        Journaled::Failed
                    };
                }
            }
        }
        for (_, tx) in batch {
            let _ = tx.send(ok);
        }
        inner.wake.notify_one();
        if ok && matches!(inner.journal, Journal::File(_)) {
            // To disk in the background: the next batch need not wait for it.
            let j = inner.clone();
            actix::spawn(async move {
                let synced = actix_web::web::block(move || match &j.journal {
                    Journal::File(f) => f.sync(),
                    Journal::Shared(_) => Ok(()),
                })
                .await;
                if !matches!(synced, Ok(Ok(()))) {
                    tracing::warn!("syncing the outbox file to disk failed");
                }
            });
        }
    }
}

/// Journal `entries`; false (logged and counted) when the journal refused them.
async fn journal_put(inner: &Arc<Inner>, entries: Vec<Entry>) -> bool {
    let n = entries.len();
    let res: Result<(), String> = match &inner.journal {
        Journal::File(_) => {
            let j = inner.clone();
            match actix_web::web::block(move || match &j.journal {
                Journal::File(f) => f.put(&entries),
                Journal::Shared(_) => Ok(()),
            })
            .await
            {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
        Journal::Shared(s) => {
            let refs: Vec<&Entry> = entries.iter().collect();
            s.put(&refs).await.map(|_| ()).map_err(|e| e.to_string())
        }
    };
    match res {
        Ok(()) => true,
        Err(e) => {
            metrics::counter!("rally_durable_journal_errors_total", "journal" => inner.journal.label())
                .increment(n as u64);
            tracing::error!(
                journal = inner.journal.label(), writes = n, error = %e,
                "cannot journal durable writes; holding them in memory and retrying"
            );
            false
        }
    }
}

pub(super) async fn worker(inner: Arc<Inner>) {
    let round = match &inner.journal {
        Journal::Shared(s) => s.round(),
        Journal::File(_) => REJOURNAL_EVERY,
    };
    let mut next_round = Instant::now();
    let mut next_gauges = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next_round {
            housekeeping(&inner).await;
            next_round = Instant::now() + round;
        }
        if now >= next_gauges {
            publish_gauges(&inner);
            next_gauges = Instant::now() + GAUGE_EVERY;
        }
        let settled_any = apply_due(&inner).await;
        if settled_any {
            // The next write of a match may be due now.
            continue;
        }
        let wake_at = next_try(&inner)
            .unwrap_or(next_round)
            .min(next_round)
            .min(next_gauges);
        tokio::select! {
            _ = inner.wake.notified() => {}
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake_at)) => {}
        }
    }
}

/// The earliest retry among writes that are not in flight.
fn next_try(inner: &Inner) -> Option<Instant> {
    inner
        .state
        .lock()
        .entries
        .values()
        .filter(|h| !h.in_flight && h.journaled != Journaled::Pending)
        .map(|h| h.next_try)
        .min()
}

/// Re-journal what the journal does not hold (all of it with Redis, which may have been
/// flushed), take over vanished instances' journals (Redis), empty an idle file.
async fn housekeeping(inner: &Arc<Inner>) {
    let retry: Vec<Entry> = {
        let st = inner.state.lock();
        st.entries
            .values()
            .filter(|h| match inner.journal {
                Journal::Shared(_) => h.journaled != Journaled::Pending,
                Journal::File(_) => h.journaled == Journaled::Failed,
            })
            .map(|h| h.entry.clone())
            .collect()
    };
    if !retry.is_empty() {
        let ids: Vec<String> = retry.iter().map(|e| e.id.clone()).collect();
        let ok = journal_put(inner, retry).await;
        if ok {
            let mut st = inner.state.lock();
            for id in ids {
                if let Some(h) = st.entries.get_mut(&id) {
                    h.journaled = Journaled::Yes;
                }
            }
        }
    }
    match &inner.journal {
        Journal::Shared(s) => match s.claim_orphans().await {
            Ok(taken) if !taken.is_empty() => {
                metrics::counter!("rally_durable_recovered_total", "source" => "redis")
                    .increment(taken.len() as u64);
                let mut st = inner.state.lock();
                for e in taken {
                    st.entries
                        .entry(e.id.clone())
                        .or_insert_with(|| super::Held::new(e, Journaled::Yes));
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "cannot scan for orphaned outboxes"),
        },
        Journal::File(_) => truncate_if_idle(inner).await,
    }
}

async fn truncate_if_idle(inner: &Arc<Inner>) {
    let j = inner.clone();
    let _ = actix_web::web::block(move || match &j.journal {
        Journal::File(f) => f.truncate_if(|| j.state.lock().entries.is_empty()),
        Journal::Shared(_) => Ok(false),
    })
    .await;
}

/// Apply the due writes (the oldest pending one of each match); true when any settled.
async fn apply_due(inner: &Arc<Inner>) -> bool {
    let now = Instant::now();
    let due: Vec<Entry> = {
        let mut st = inner.state.lock();
        let mut seen: HashSet<String> = HashSet::new();
        let mut due = Vec::new();
        for h in st.entries.values_mut() {
            // Only the oldest pending write of a match may go: its writes apply in order.
            if !seen.insert(h.entry.write.match_id().to_string()) {
                continue;
            }
            if h.in_flight || h.journaled == Journaled::Pending || h.next_try > now {
                continue;
            }
            h.in_flight = true;
            due.push(h.entry.clone());
        }
        due
    };
    if due.is_empty() {
        return false;
    }
    let results: Vec<(Entry, Result<Settled, crate::error::AppError>)> =
        futures_util::stream::iter(due)
            .map(|e| {
                let db = inner.db.clone();
                async move {
                    let r = apply(&db, &e.write).await;
                    (e, r)
                }
            })
            .buffer_unordered(APPLY_CONCURRENCY)
            .collect()
            .await;
    let mut settled: Vec<(Entry, Settled)> = Vec::new();
    {
        let mut st = inner.state.lock();
        for (e, r) in results {
            match r {
                Ok(s) => {
                    st.entries.remove(&e.id);
                    settled.push((e, s));
                }
                Err(err) => {
                    let kind = e.write.kind();
                    metrics::counter!("rally_durable_retries_total", "kind" => kind.as_str())
                        .increment(1);
                    if let Some(h) = st.entries.get_mut(&e.id) {
                        h.in_flight = false;
                        h.attempts = h.attempts.saturating_add(1);
                        h.next_try = Instant::now() + backoff(h.attempts);
                        if h.last_logged.is_none_or(|t| t.elapsed() >= LOG_AGAIN_AFTER) {
                            h.last_logged = Some(Instant::now());
                            tracing::warn!(
                                kind = kind.as_str(), r#match = e.write.match_id(),
                                attempts = h.attempts, error = ?err,
                                "durable write failed; retrying with backoff"
                            );
                        }
                    }
                }
            }
        }
    }
    if settled.is_empty() {
        return false;
    }
    let done: Vec<Entry> = settled.iter().map(|(e, _)| e.clone()).collect();
    journal_done(inner, done).await;
    let hook = inner.on_settled.lock().clone();
    for (e, s) in &settled {
        let kind = e.write.kind();
        metrics::counter!("rally_durable_writes_total", "kind" => kind.as_str(), "result" => s.label())
            .increment(1);
        log_settled(e, s);
        if let Some(f) = &hook {
            f(e, s);
        }
    }
    publish_gauges(inner);
    true
}

fn log_settled(e: &Entry, s: &Settled) {
    let kind = e.write.kind().as_str();
    let age_ms = crate::db::now_ms() - e.created_ms;
    match s {
        Settled::Superseded { why, .. } => tracing::info!(
            kind,
            r#match = e.write.match_id(),
            why = why.as_str(),
            "durable write superseded; nothing to write"
        ),
        Settled::Refused(err) => tracing::error!(
            kind, r#match = e.write.match_id(), error = ?err,
            "durable write refused by the database; dropped"
        ),
        // Late writes (after an outage) are worth a line; the normal case is silent.
        _ if age_ms > 5_000 => tracing::info!(
            kind,
            r#match = e.write.match_id(),
            age_ms,
            "durable write applied after a delay"
        ),
        _ => {}
    }
}

/// Remove settled writes from the journal. A failure leaves them there: whoever reads the
/// journal later applies them again, which changes nothing.
async fn journal_done(inner: &Arc<Inner>, done: Vec<Entry>) {
    let res: Result<(), String> = match &inner.journal {
        Journal::File(_) => {
            let j = inner.clone();
            let ids: Vec<String> = done.iter().map(|e| e.id.clone()).collect();
            match actix_web::web::block(move || match &j.journal {
                Journal::File(f) => f.done(&ids),
                Journal::Shared(_) => Ok(()),
            })
            .await
            {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
        Journal::Shared(s) => s.done(&done).await.map_err(|e| e.to_string()),
    };
    if let Err(e) = res {
        tracing::warn!(error = %e, "cannot mark durable writes done in the journal (they will be re-applied harmlessly)");
    }
    if let Journal::File(_) = inner.journal {
        truncate_if_idle(inner).await;
    }
}

/// Set the pending gauges from this process's state.
fn publish_gauges(inner: &Inner) {
    let st = inner.state.lock();
    let now_ms = crate::db::now_ms();
    let mut counts = [0usize; WriteKind::ALL.len()];
    let mut oldest_ms: i64 = 0;
    for h in st.entries.values() {
        let kind = h.entry.write.kind();
        if let Some(i) = WriteKind::ALL.iter().position(|k| *k == kind) {
            counts[i] += 1;
        }
        oldest_ms = oldest_ms.max(now_ms - h.entry.created_ms);
    }
    if let Some(i) = WriteKind::ALL
        .iter()
        .position(|k| *k == WriteKind::Tournament)
    {
        counts[i] = st.tournaments.len();
    }
    for since in st.tournaments.values() {
        oldest_ms = oldest_ms.max(since.elapsed().as_millis() as i64);
    }
    for (kind, n) in WriteKind::ALL.iter().zip(counts) {
        metrics::gauge!("rally_durable_pending_writes", "kind" => kind.as_str()).set(n as f64);
    }
    metrics::gauge!("rally_durable_oldest_pending_seconds").set(oldest_ms.max(0) as f64 / 1000.0);
}
