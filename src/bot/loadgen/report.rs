//! [`Report`]: the result of a load run, as JSON (the last line of stdout) and in words.

use serde::Serialize;
use std::collections::BTreeMap;

use super::server::ServerReport;
use super::Mode;
use crate::bot::stats::{Percentiles, ShortPercentiles};

/// The result of a run; serialised as the last line of `rally loadgen`'s stdout. Durations are
/// milliseconds unless the name says otherwise.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Room slots.
    pub rooms: usize,
    /// Bots (`seats` per room).
    pub players: usize,
    /// The game played.
    pub game: String,
    /// Players per room.
    pub seats: u8,
    /// Mean payload bytes of a snapshot frame as the bots received them (in `encoding`); for
    /// light cycles mostly deltas (`full_snapshots` of them were full).
    pub bytes_per_snapshot: f64,
    /// Snapshots that carried the full state (Pong: all of them).
    pub full_snapshots: u64,
    /// Instances (`--url`s) the bots were spread over.
    pub instances: usize,
    /// Quick or private.
    pub mode: Mode,
    /// The wire encoding the bots spoke: `json` or `bin` (`--encoding`).
    pub encoding: &'static str,
    /// Matches per room slot; `null` for a timed run.
    pub matches_per_room: Option<usize>,
    /// Seed used (repeat a run with `--seed`).
    pub seed: u64,
    /// Wall time of the room phase (after the idle connections were up), seconds.
    pub duration_s: f64,
    /// `--ramp`, seconds.
    pub ramp_s: f64,
    /// Open-loop inputs per second per bot (0: on intent change).
    pub input_hz: f64,
    /// Distinct matches that reached `match_end` on their own (not cut by the end of a timed
    /// run).
    pub matches_completed: u64,
    /// Matches the bots left because the timed run ended.
    pub matches_cut: u64,
    /// `rooms × matches`; 0 for a timed run.
    pub matches_target: u64,
    /// Inputs sent by all bots.
    pub inputs_sent: u64,
    /// Snapshots received by all bots.
    pub snapshots_received: u64,
    /// Input → first snapshot acking it.
    pub latency_ms: Percentiles,
    /// Number of latency samples.
    pub latency_samples: u64,
    /// `--max-p99-ms`, if given.
    pub max_p99_ms: Option<f64>,
    /// Whether `latency_ms.p99` exceeded it (the run then fails).
    pub p99_exceeded: bool,
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
    /// Reconnections that got the bot back (into its seat, or between matches to an instance).
    pub reconnects_ok: u64,
    /// Reconnections that failed (each is also an error).
    pub reconnects_failed: u64,
    /// Drops the bots caused themselves (`--reconnect-rate`).
    pub reconnects_deliberate: u64,
    /// Connection lost → `joined` in the old seat again.
    pub resume_ms: ShortPercentiles,
    /// Quick match: bots left without an opponent because other bots failed (not counted in
    /// `errors`).
    pub stranded: u64,
    /// Completed matches by end reason (`score`, `forfeit`, `resign`, `abandoned`).
    pub outcomes: BTreeMap<String, u64>,
    /// `--idle`: connections asked for.
    pub idle_target: usize,
    /// Idle connections authenticated.
    pub idle_connected: u64,
    /// Idle connections that could not be set up (also errors).
    pub idle_failed: u64,
    /// Idle connections lost while held (also errors).
    pub idle_dropped: u64,
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
    /// Each instance over the measuring window (end of the ramp to the end of the run), from
    /// its `/metrics`.
    pub servers: Vec<ServerReport>,
    /// Whether the run hit `--timeout`.
    pub timed_out: bool,
}

impl Report {
    /// Whether the run is a success: no errors, no stranded bots, every match completed (for
    /// a run by match count), every idle connection held, and the p99 bound (if any) kept.
    pub fn ok(&self) -> bool {
        self.errors == 0
            && self.stranded == 0
            && !self.timed_out
            && self.matches_completed >= self.matches_target
            && !self.p99_exceeded
            && self.idle_connected == self.idle_target as u64
            && self.idle_dropped == 0
    }

    /// Why [`Report::ok`] is false, in words.
    pub fn failure(&self) -> String {
        let mut why = vec![format!(
            "{} errors, {} stranded, {}/{} matches",
            self.errors, self.stranded, self.matches_completed, self.matches_target
        )];
        if self.p99_exceeded {
            why.push(format!(
                "latency p99 {:.2} ms above --max-p99-ms {}",
                self.latency_ms.p99,
                self.max_p99_ms.unwrap_or_default()
            ));
        }
        if self.idle_target > 0 {
            why.push(format!(
                "idle {}/{} connected, {} dropped",
                self.idle_connected, self.idle_target, self.idle_dropped
            ));
        }
        if self.timed_out {
            why.push("the run hit --timeout".into());
        }
        if let Some(e) = &self.first_error {
            why.push(format!("first error: {e}"));
        }
        why.join("; ")
    }

    /// A few human-readable lines.
    pub fn human(&self, url: &str) -> String {
        let l = &self.latency_ms;
        let s = &self.snapshot_interval_ms;
        let how = match self.mode {
            Mode::Quick => "quick match",
            Mode::Private => "private rooms",
        };
        let inputs = if self.input_hz > 0.0 {
            format!("inputs {} Hz open loop", self.input_hz)
        } else {
            "inputs on change".to_owned()
        };
        let inputs = format!("{inputs}, {}", self.encoding);
        let mut out = match self.matches_per_room {
            Some(m) => format!(
                "rally loadgen: {} rooms × {m} matches ({how}, {inputs}) against {url}: {}/{} \
                 matches in {:.1} s\n",
                self.rooms, self.matches_completed, self.matches_target, self.duration_s
            ),
            None => format!(
                "rally loadgen: {} rooms for {:.1} s ({how}, {inputs}, ramp {:.0} s) against \
                 {url}: {} matches completed, {} cut at the end\n",
                self.rooms, self.duration_s, self.ramp_s, self.matches_completed, self.matches_cut
            ),
        };
        out += &format!(
            "  input→snapshot latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  ({} samples)\n",
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
        if self.reconnects_ok + self.reconnects_failed > 0 {
            out += &format!(
                "  reconnects: {} ok, {} failed ({} deliberate); resume ms p50 {:.1}  p99 {:.1}  max {:.1}\n",
                self.reconnects_ok,
                self.reconnects_failed,
                self.reconnects_deliberate,
                self.resume_ms.p50,
                self.resume_ms.p99,
                self.resume_ms.max
            );
        }
        if self.idle_target > 0 {
            out += &format!(
                "  idle connections: {}/{} connected, {} failed, {} dropped\n",
                self.idle_connected, self.idle_target, self.idle_failed, self.idle_dropped
            );
        }
        if let Some(e) = &self.first_error {
            out += &format!("  first error: {e}\n");
        }
        for srv in &self.servers {
            if !srv.scraped {
                out += &format!("  server {}: metrics not available\n", srv.url);
                continue;
            }
            let lat = &srv.tick_lateness_ms;
            let bound = |b: Option<f64>| b.map_or("> 50".to_owned(), |v| format!("≤ {v}"));
            out += &format!(
                "  server {}: CPU {:.0} % of a core, RSS {:.1} MiB (before {:.1}), {} sessions, \
                 {} rooms; tick lateness p50 ≤ {} ms, p99 {} ms, p99.9 {} ms over {} ticks; \
                 {} ticks skipped\n",
                srv.url,
                srv.cpu_percent,
                srv.rss_mib,
                srv.rss_before_mib,
                srv.sessions,
                srv.rooms,
                lat.p50_le,
                bound(lat.p99_le),
                bound(lat.p999_le),
                lat.ticks,
                srv.ticks_skipped
            );
        }
        out += &format!(
            "  loadgen CPU {:.2} s ({:.0} % of a core)",
            self.loadgen_cpu_s, self.loadgen_cpu_percent
        );
        out
    }
}
