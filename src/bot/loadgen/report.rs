//! [`Report`]: the result of a load run, as JSON (the last line of stdout) and in words.

use serde::Serialize;
use std::collections::BTreeMap;

use super::Mode;
use crate::bot::stats::{Percentiles, ShortPercentiles};

/// The result of a run; serialised as the last line of `rally loadgen`'s stdout. Durations are
/// milliseconds unless the name says otherwise.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Room slots.
    pub rooms: usize,
    /// Bots (2 per room).
    pub players: usize,
    /// Quick or private.
    pub mode: Mode,
    /// Matches per room slot.
    pub matches_per_room: usize,
    /// Seed used (repeat a run with `--seed`).
    pub seed: u64,
    /// Wall time of the run, seconds.
    pub duration_s: f64,
    /// Distinct matches that reached `match_end`.
    pub matches_completed: u64,
    /// `rooms × matches`.
    pub matches_target: u64,
    /// Inputs sent by all bots.
    pub inputs_sent: u64,
    /// Snapshots received by all bots.
    pub snapshots_received: u64,
    /// Input → first snapshot acking it.
    pub latency_ms: Percentiles,
    /// Number of latency samples.
    pub latency_samples: u64,
    /// Time between consecutive snapshots of a bot while its room counts down or plays.
    pub snapshot_interval_ms: ShortPercentiles,
    /// Snapshot periods that no snapshot arrived for, over all bots.
    pub tick_gaps: u64,
    /// Largest jump between consecutive snapshot ticks seen by any bot.
    pub max_tick_gap: u64,
    /// Bots that failed (each counts once, with its first error) plus bots still running at
    /// the timeout.
    pub errors: u64,
    /// Errors by [`BotError::kind`].
    pub errors_by_kind: BTreeMap<String, u64>,
    /// The first error, in words.
    pub first_error: Option<String>,
    /// Errors that were lost connections (closed by the server, broken).
    pub disconnects: u64,
    /// Reconnections that resumed the match (none yet: no `--reconnect-rate`).
    pub reconnects_ok: u64,
    /// Reconnections that failed.
    pub reconnects_failed: u64,
    /// Quick match: bots left without an opponent because other bots failed (not counted in
    /// `errors`).
    pub stranded: u64,
    /// Completed matches by end reason (`score`, `forfeit`, `resign`, `abandoned`).
    pub outcomes: BTreeMap<String, u64>,
    /// TCP + WebSocket handshake.
    pub connect_ms: ShortPercentiles,
    /// `auth` → `welcome`.
    pub auth_ms: ShortPercentiles,
    /// `POST /api/v1/auth/guest`, including waits on 429.
    pub guest_ms: ShortPercentiles,
    /// Times the server answered 429 to guest creation.
    pub rate_limited_waits: u64,
    /// `ping` → `pong` round trips.
    pub rtt_ms: ShortPercentiles,
    /// Text frames and payload bytes, both directions, all bots.
    pub frames_in: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Text frames sent.
    pub frames_out: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// CPU time (user + system) this process used during the run, seconds. When the server runs
    /// in the same process (tests), it is included.
    pub loadgen_cpu_s: f64,
    /// `loadgen_cpu_s / duration_s`, percent of one core.
    pub loadgen_cpu_percent: f64,
    /// Whether the run hit `--timeout`.
    pub timed_out: bool,
}

impl Report {
    /// Whether the run is a success: no errors, no stranded bots, every match completed.
    pub fn ok(&self) -> bool {
        self.errors == 0
            && self.stranded == 0
            && !self.timed_out
            && self.matches_completed >= self.matches_target
    }

    /// A few human-readable lines.
    pub fn human(&self, url: &str) -> String {
        let l = &self.latency_ms;
        let s = &self.snapshot_interval_ms;
        let mut out = format!(
            "rally loadgen: {} rooms × {} matches ({}) against {url}: {}/{} matches in {:.1} s\n",
            self.rooms,
            self.matches_per_room,
            match self.mode {
                Mode::Quick => "quick match",
                Mode::Private => "private rooms",
            },
            self.matches_completed,
            self.matches_target,
            self.duration_s
        );
        out += &format!(
            "  input→ack latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  ({} samples)\n",
            l.p50, l.p90, l.p99, l.p999, l.max, self.latency_samples
        );
        out += &format!(
            "  snapshot interval ms: p50 {:.2}  p99 {:.2}  max {:.2}; tick gaps {} (max jump {})\n",
            s.p50, s.p99, s.max, self.tick_gaps, self.max_tick_gap
        );
        out += &format!(
            "  inputs {}  snapshots {}  errors {}  disconnects {}  stranded {}\n",
            self.inputs_sent, self.snapshots_received, self.errors, self.disconnects, self.stranded
        );
        if let Some(e) = &self.first_error {
            out += &format!("  first error: {e}\n");
        }
        out += &format!(
            "  loadgen CPU {:.2} s ({:.0} % of a core)",
            self.loadgen_cpu_s, self.loadgen_cpu_percent
        );
        out
    }
}
