//! Tournaments: bracket tournaments run by actors.
//!
//! # Layout
//! - [`bracket`] (with `single_elimination` and [`round_robin`]): the pure bracket and
//!   standings state machine.
//! - [`model`]: tournament records, the rebuild of a bracket from persisted rows, and the
//!   tournament view (pure).
//! - [`plan`]: what an action or a result changes, computed on a copy before anything is
//!   written (pure).
//! - [`actor`]: the [`actor::TournamentActor`] (one per unfinished tournament) and the
//!   restore of unfinished tournaments at start-up; [`messages`]: what it receives;
//!   [`directory`]: the actors running in this process (what the HTTP API reaches).

pub mod actor;
pub mod bracket;
pub mod directory;
pub mod messages;
pub mod model;
pub mod plan;
pub mod round_robin;
mod single_elimination;

pub use directory::Tournaments;
use model::{Status, STATUSES};

/// Move one tournament between statuses in the `rally_tournaments{status}` gauge (`from`
/// `None`: a new tournament).
pub fn status_changed(from: Option<Status>, to: Status) {
    if let Some(from) = from {
        metrics::gauge!("rally_tournaments", "status" => from.as_str()).decrement(1.0);
    }
    metrics::gauge!("rally_tournaments", "status" => to.as_str()).increment(1.0);
}

/// Describe the tournament metrics and create their zero series (called once at install).
pub fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!(
        "rally_tournaments",
        "Tournaments by status (all instances' database)"
    );
    describe_counter!(
        "rally_tournament_matches_total",
        "Tournament matches by result: scheduled (room created), finished (played out), forfeited"
    );
    describe_counter!(
        "rally_tournament_no_shows_total",
        "Players who did not join their tournament match in time"
    );
    describe_histogram!(
        "rally_tournament_match_start_delay_seconds",
        Unit::Seconds,
        "Time from a tournament match's room being ready to play starting"
    );
    for s in STATUSES {
        metrics::gauge!("rally_tournaments", "status" => s.as_str()).set(0.0);
    }
    for r in ["scheduled", "finished", "forfeited"] {
        metrics::counter!("rally_tournament_matches_total", "result" => r).increment(0);
    }
    metrics::counter!("rally_tournament_no_shows_total").increment(0);
    // A histogram series exists once recorded; register it so its buckets render at zero.
    let _ = metrics::histogram!("rally_tournament_match_start_delay_seconds");
}

/// Set the `rally_tournaments` gauge from the database's counts (start-up).
pub fn set_status_counts(counts: &[(String, i64)]) {
    for s in STATUSES {
        let n = counts
            .iter()
            .find(|(name, _)| name == s.as_str())
            .map_or(0, |(_, n)| *n);
        metrics::gauge!("rally_tournaments", "status" => s.as_str()).set(n as f64);
    }
}
