//! Measurement, pure: HDR histograms of durations, percentiles in milliseconds, and the small
//! trackers a bot feeds from the messages it sees (input acks, snapshot arrivals, tick numbers).
//! No clock is read here: callers pass `Instant`s, so everything is testable.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Largest duration a histogram records, µs: one minute. Longer samples are clamped to it (a
/// one-minute input latency is a failure whatever its exact value).
pub const HIST_MAX_US: u64 = 60_000_000;
/// Significant decimal digits kept by histograms: 2 gives 1 % precision (15.5 ms ± 0.15 ms)
/// in 2 560 counters, 10 KiB; 3 digits would take 17 408 counters. Every bot holds a few
/// histograms and a load run has hundreds of bots, so the size matters more than the digit.
pub const HIST_SIGFIG: u8 = 2;

/// A histogram of durations in microseconds, 1 µs … [`HIST_MAX_US`], with 32-bit counters
/// (saturating: four billion samples per bucket is beyond any run).
#[derive(Clone, Debug)]
pub struct Hist(Histogram<u32>);

impl Default for Hist {
    fn default() -> Self {
        match Histogram::new_with_bounds(1, HIST_MAX_US, HIST_SIGFIG) {
            Ok(h) => Self(h),
            // The bounds are constants that satisfy hdrhistogram's rules (low ≥ 1,
            // high ≥ 2 × low, sigfig ≤ 5); this branch cannot run.
            Err(e) => unreachable!("histogram bounds are valid constants: {e:?}"),
        }
    }
}

impl Hist {
    /// Records one duration (clamped to 1 µs … [`HIST_MAX_US`]).
    pub fn record(&mut self, d: Duration) {
        self.record_us(u64::try_from(d.as_micros()).unwrap_or(HIST_MAX_US));
    }

    /// Records one value in microseconds (clamped).
    pub fn record_us(&mut self, us: u64) {
        self.0.saturating_record(us.clamp(1, HIST_MAX_US));
    }

    /// Adds every sample of `other`.
    pub fn add(&mut self, other: &Hist) {
        // Same bounds on both sides, so adding cannot fail; fall back to sample-wise copy
        // rather than dropping data if it ever did.
        if self.0.add(&other.0).is_err() {
            for v in other.0.iter_recorded() {
                let _ = self.0.record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    /// Number of samples.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether no sample was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value at quantile `q` (0..=1), milliseconds; 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        us_to_ms(self.0.value_at_quantile(q))
    }

    /// The largest sample, milliseconds (0 when empty).
    pub fn max_ms(&self) -> f64 {
        us_to_ms(self.0.max())
    }

    /// p50, p90, p99, p99.9 and max, milliseconds.
    pub fn percentiles(&self) -> Percentiles {
        Percentiles {
            p50: self.quantile_ms(0.5),
            p90: self.quantile_ms(0.9),
            p99: self.quantile_ms(0.99),
            p999: self.quantile_ms(0.999),
            max: self.max_ms(),
        }
    }

    /// p50, p99 and max, milliseconds.
    pub fn short_percentiles(&self) -> ShortPercentiles {
        ShortPercentiles {
            p50: self.quantile_ms(0.5),
            p99: self.quantile_ms(0.99),
            max: self.max_ms(),
        }
    }
}

/// Microseconds to milliseconds, rounded to the microsecond for readable JSON.
pub fn us_to_ms(us: u64) -> f64 {
    // u64 → f64 is exact up to 2^53 µs (285 years).
    us as f64 / 1000.0
}

/// Latency percentiles, milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
}

/// Short percentile set, milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ShortPercentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

/// Input → ack latency: when an input with sequence `S` was sent, and the first snapshot whose
/// ack for our seat is `≥ S`. Sequences are strictly increasing, so the pending inputs form a
/// queue and one ack settles a prefix of it.
#[derive(Debug, Default)]
pub struct AckTracker {
    pending: VecDeque<(u64, Instant)>,
}

impl AckTracker {
    /// Notes that input `seq` left at `at`.
    pub fn sent(&mut self, seq: u64, at: Instant) {
        self.pending.push_back((seq, at));
    }

    /// A snapshot acking `ack` arrived at `now`: records the latency of every input it settles
    /// into `hist`, and returns how many it settled.
    pub fn acked(&mut self, ack: u64, now: Instant, hist: &mut Hist) -> usize {
        let mut n = 0;
        while let Some(&(seq, at)) = self.pending.front() {
            if seq > ack {
                break;
            }
            hist.record(now.saturating_duration_since(at));
            self.pending.pop_front();
            n += 1;
        }
        n
    }

    /// Inputs sent and not yet acked.
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }
}

/// Tick numbers of the snapshots a client receives: how many ticks were never seen (gaps) and
/// the largest single gap. With `snapshot_every = k` on the server every step is `k`, so gaps
/// are counted relative to the smallest step seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickTracker {
    /// First tick seen.
    pub first: Option<u64>,
    /// Last tick seen.
    pub last: Option<u64>,
    /// Snapshots observed.
    pub seen: u64,
    /// Smallest forward step between consecutive snapshots (the snapshot period in ticks).
    pub step: Option<u64>,
    /// Snapshots whose tick did not advance (repeated or older).
    pub stale: u64,
    /// Largest forward step between consecutive snapshots, ticks (1 when none was missed).
    pub max_step: u64,
}

impl TickTracker {
    /// Notes a snapshot for `tick`.
    pub fn observe(&mut self, tick: u64) {
        self.seen += 1;
        if self.first.is_none() {
            self.first = Some(tick);
        }
        match self.last {
            Some(last) if tick <= last => self.stale += 1,
            Some(last) => {
                let d = tick - last;
                self.step = Some(self.step.map_or(d, |s| s.min(d)));
                self.max_step = self.max_step.max(d);
                self.last = Some(tick);
            }
            None => self.last = Some(tick),
        }
    }

    /// Ticks (in snapshot periods) that were skipped: the span covered minus the snapshots that
    /// advanced it. 0 when every period had its snapshot.
    pub fn gaps(&self) -> u64 {
        match (self.first, self.last, self.step) {
            (Some(first), Some(last), Some(step)) if step > 0 => {
                let periods = (last - first) / step;
                let advancing = self.seen - self.stale - 1;
                periods.saturating_sub(advancing)
            }
            _ => 0,
        }
    }
}

/// Snapshot inter-arrival times. [`IntervalTracker::reset`] it when the stream pauses on
/// purpose (room paused or waiting) so that pauses are not counted as late snapshots.
#[derive(Debug, Default)]
pub struct IntervalTracker {
    last: Option<Instant>,
}

impl IntervalTracker {
    /// Notes an arrival at `now`, recording the time since the previous one into `hist`.
    pub fn observe(&mut self, now: Instant, hist: &mut Hist) {
        if let Some(last) = self.last {
            hist.record(now.saturating_duration_since(last));
        }
        self.last = Some(now);
    }

    /// Forgets the previous arrival.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_in_milliseconds() {
        let mut h = Hist::default();
        assert!(h.is_empty());
        assert_eq!(h.percentiles(), Percentiles::default());
        for i in 1..=1000 {
            h.record(ms(i));
        }
        let p = h.percentiles();
        // 2 significant digits: within 1 %.
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.01 + 0.001;
        assert!(close(p.p50, 500.0), "{p:?}");
        assert!(close(p.p90, 900.0), "{p:?}");
        assert!(close(p.p99, 990.0), "{p:?}");
        assert!(close(p.p999, 999.0), "{p:?}");
        assert!(close(p.max, 1000.0), "{p:?}");
        let s = h.short_percentiles();
        assert_eq!((s.p50, s.p99, s.max), (p.p50, p.p99, p.max));
        assert_eq!(h.len(), 1000);
    }

    #[test]
    fn histograms_stay_small() {
        // Hundreds of bots hold a few each: keep them at about 10 KiB.
        let h = Hist::default();
        assert!(h.0.distinct_values() <= 4096, "{}", h.0.distinct_values());
    }

    #[test]
    fn extremes_are_clamped_and_merging_adds() {
        let mut a = Hist::default();
        a.record(Duration::ZERO);
        a.record(Duration::from_secs(3600));
        assert_eq!(a.len(), 2);
        assert!(a.max_ms() >= 59_000.0 && a.max_ms() <= 60_100.0);
        let mut b = Hist::default();
        b.record(ms(5));
        b.add(&a);
        assert_eq!(b.len(), 3);
        assert!((b.quantile_ms(0.5) - 5.0).abs() < 0.05);
    }

    #[test]
    fn acks_settle_a_prefix_of_pending_inputs() {
        let t0 = Instant::now();
        let mut acks = AckTracker::default();
        let mut h = Hist::default();
        acks.sent(1, t0);
        acks.sent(2, t0 + ms(10));
        acks.sent(5, t0 + ms(20));
        assert_eq!(acks.acked(0, t0 + ms(30), &mut h), 0);
        assert_eq!(acks.acked(2, t0 + ms(30), &mut h), 2);
        assert_eq!(acks.outstanding(), 1);
        // A later snapshot repeating the same ack settles nothing more.
        assert_eq!(acks.acked(2, t0 + ms(40), &mut h), 0);
        assert_eq!(acks.acked(7, t0 + ms(45), &mut h), 1);
        assert_eq!(acks.outstanding(), 0);
        assert_eq!(h.len(), 3);
        // 30 ms, 20 ms, 25 ms.
        assert!((h.max_ms() - 30.0).abs() < 0.3);
        assert!((h.quantile_ms(0.0) - 20.0).abs() < 0.2);
    }

    #[test]
    fn tick_gaps_count_missing_snapshots() {
        let mut t = TickTracker::default();
        assert_eq!(t.gaps(), 0);
        for tick in [10, 11, 12, 15, 16, 16, 14, 20] {
            t.observe(tick);
        }
        // Missing: 13, 14 (seen late, stale), 17, 18, 19.
        assert_eq!(t.gaps(), 5);
        assert_eq!(t.stale, 2);
        assert_eq!(t.step, Some(1));
        assert_eq!((t.first, t.last, t.seen), (Some(10), Some(20), 8));
        assert_eq!(t.max_step, 4);

        // Every second tick is the normal period with snapshot_every = 2.
        let mut t = TickTracker::default();
        for tick in [2, 4, 6, 10, 12] {
            t.observe(tick);
        }
        assert_eq!(t.step, Some(2));
        assert_eq!(t.gaps(), 1);
    }

    #[test]
    fn intervals_skip_resets() {
        let t0 = Instant::now();
        let mut iv = IntervalTracker::default();
        let mut h = Hist::default();
        iv.observe(t0, &mut h);
        iv.observe(t0 + ms(16), &mut h);
        iv.observe(t0 + ms(33), &mut h);
        iv.reset();
        iv.observe(t0 + ms(5000), &mut h);
        iv.observe(t0 + ms(5017), &mut h);
        assert_eq!(h.len(), 3);
        assert!(h.max_ms() < 18.0);
    }
}
