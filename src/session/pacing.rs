//! The message rate limit, judged by the client's pacing rather than by when the server got
//! round to reading (issue 13 point 4).
//!
//! A token bucket (`rate` per second, `burst` deep) charges every message. On its own it would
//! punish a backlog the server created: when a server thread stalls (SIGSTOP, a long pause, a
//! starved core) the messages a well-paced client sent meanwhile wait in the socket and are
//! read back to back afterwards — partly at once, partly later (a stalled receiver's kernel
//! drops segments that the client retransmits, coalesced). So each thread that runs sessions
//! keeps a [`StallLedger`] of the stretches when it did not run (observed by a pulse: a timer
//! that should fire every [`PULSE`]); a message over the bucket may spend **stall credit**:
//! `rate ×` the time the thread was stalled in the last [`CREDIT_WINDOW`], claimed once per
//! stall. A client that keeps to the rate is never cut off by the server's
//! own stall; a client that bursts while the server runs normally gets no credit at all.
//!
//! Pure: time is passed in, so the rules are tested with a synthetic clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How often a session thread's pulse observes itself. A gap longer than
/// [`STALL_THRESHOLD`] between two observations is recorded as a stall.
pub const PULSE: Duration = Duration::from_millis(20);
/// Gaps up to this are ordinary timer and scheduling jitter, not stalls.
pub const STALL_THRESHOLD: Duration = Duration::from_millis(60);
/// Stalls older than this are forgotten (a backlog is read within moments of the stall).
pub const STALL_MEMORY: Duration = Duration::from_secs(60);
/// At most this many stalls are remembered per thread.
const MAX_STALLS: usize = 64;

/// Stretches of time when one thread did not run.
#[derive(Debug, Default)]
pub struct StallLedger {
    last: Option<Instant>,
    stalls: VecDeque<(Instant, Instant)>,
}

impl StallLedger {
    /// The thread runs at `now`: a gap since the previous observation longer than
    /// [`STALL_THRESHOLD`] is recorded as a stall.
    pub fn observe(&mut self, now: Instant) {
        if let Some(last) = self.last {
            if now.saturating_duration_since(last) > STALL_THRESHOLD {
                if self.stalls.len() == MAX_STALLS {
                    self.stalls.pop_front();
                }
                self.stalls.push_back((last, now));
            }
        }
        if self.last.is_none_or(|l| now > l) {
            self.last = Some(now);
        }
        while self
            .stalls
            .front()
            .is_some_and(|(_, end)| now.saturating_duration_since(*end) > STALL_MEMORY)
        {
            self.stalls.pop_front();
        }
    }

    /// How long the thread was stalled between `from` and `to`.
    pub fn stalled_between(&self, from: Instant, to: Instant) -> Duration {
        self.stalls
            .iter()
            .map(|&(a, b)| {
                let (a, b) = (a.max(from), b.min(to));
                b.saturating_duration_since(a)
            })
            .sum()
    }
}

/// Stall credit is claimed for stalls within this long before the message that needs it: the
/// backlog a stall leaves may keep arriving for a while after it (the kernel drops segments
/// of a stalled receiver and the client retransmits them later, coalesced).
pub const CREDIT_WINDOW: Duration = Duration::from_secs(10);

/// One session's message rate limit.
#[derive(Debug)]
pub struct Pacing {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    /// Stall credit claimed and not spent yet, and until when it may be spent.
    credit: f64,
    credit_until: Instant,
    /// Stalls up to here have been claimed.
    claimed_to: Instant,
}

impl Pacing {
    /// `rate` messages per second sustained, bursts of `burst`; the bucket starts full.
    pub fn new(rate: u32, burst: u32, now: Instant) -> Pacing {
        Pacing {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: now,
            credit: 0.0,
            credit_until: now,
            claimed_to: now,
        }
    }

    /// Charge one message read at `now`. `stalled(from)` says how long this thread was stalled
    /// between `from` and `now`. False: over the limit.
    pub fn admit(&mut self, now: Instant, stalled: impl FnOnce(Instant) -> Duration) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return true;
        }
        if now > self.credit_until {
            self.credit = 0.0;
        }
        // Claim the stalls not claimed yet (within the window): what a client keeping to the
        // rate could have sent while the thread did not read.
        let from = self
            .claimed_to
            .max(now.checked_sub(CREDIT_WINDOW).unwrap_or(now));
        if now > from {
            let s = stalled(from);
            if !s.is_zero() {
                self.credit += (s.as_secs_f64() * self.rate).ceil();
                self.credit_until = now + CREDIT_WINDOW;
            }
            self.claimed_to = now;
        }
        if self.credit >= 1.0 {
            self.credit -= 1.0;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_ledger_records_gaps_longer_than_the_threshold() {
        let t0 = Instant::now();
        let mut l = StallLedger::default();
        for i in 0..10 {
            l.observe(t0 + PULSE * i);
        }
        assert_eq!(l.stalled_between(t0, t0 + ms(1000)), Duration::ZERO);
        let before = t0 + PULSE * 9;
        l.observe(before + ms(3000));
        assert_eq!(l.stalled_between(t0, t0 + ms(10_000)), ms(3000));
        // Only the overlap counts.
        assert_eq!(
            l.stalled_between(before + ms(1000), before + ms(2000)),
            ms(1000)
        );
        assert_eq!(
            l.stalled_between(before + ms(3000), before + ms(4000)),
            Duration::ZERO
        );
        // Old stalls are forgotten (the thread pulsing normally meanwhile).
        let resumed = before + ms(3000);
        let mut now = resumed;
        while now < resumed + STALL_MEMORY {
            now += PULSE;
            l.observe(now);
        }
        assert_eq!(l.stalled_between(t0, t0 + ms(10_000)), ms(3000));
        l.observe(now + PULSE);
        assert_eq!(l.stalled_between(t0, t0 + ms(10_000)), Duration::ZERO);
    }

    #[test]
    fn a_burst_past_the_bucket_is_refused_while_the_server_runs() {
        let t0 = Instant::now();
        let none = |_| Duration::ZERO;
        let mut p = Pacing::new(150, 75, t0);
        let admitted = (0..200).filter(|_| p.admit(t0, none)).count();
        assert_eq!(admitted, 75);
        // A steady 150/s is admitted for ever.
        let mut p = Pacing::new(150, 75, t0);
        for i in 0..3000u32 {
            let now = t0 + Duration::from_secs_f64(f64::from(i) / 150.0);
            assert!(p.admit(now, none), "message {i}");
        }
    }

    #[test]
    fn a_backlog_from_a_server_stall_is_not_a_burst() {
        // 60 inputs/s for 5 s; the server stalls for 3 s and then reads the 180 inputs that
        // waited, part at once and part 200 ms later (retransmitted by the client's kernel).
        let t0 = Instant::now();
        let mut ledger = StallLedger::default();
        let mut p = Pacing::new(150, 75, t0);
        let mut last = t0;
        for i in 0..300u32 {
            last = t0 + Duration::from_secs_f64(f64::from(i) / 60.0);
            ledger.observe(last);
            assert!(p.admit(last, |f| ledger.stalled_between(f, last)));
        }
        let resume = last + ms(3000);
        ledger.observe(resume);
        for i in 0..120 {
            assert!(
                p.admit(resume, |f| ledger.stalled_between(f, resume)),
                "{i}"
            );
        }
        let later = resume + ms(200);
        let mut t = resume;
        while t < later {
            t += PULSE;
            ledger.observe(t);
        }
        for i in 0..60 {
            assert!(
                p.admit(later, |f| ledger.stalled_between(f, later)),
                "late {i}"
            );
        }
        // The credit covers the stall, not more: 3 s at 150/s, claimed once.
        let mut p = Pacing::new(150, 75, t0);
        let admitted = (0..2000)
            .filter(|_| p.admit(resume, |f| ledger.stalled_between(f, resume)))
            .count();
        assert_eq!(admitted, 75 + 450);
        let admitted = (0..2000)
            .filter(|_| p.admit(later, |f| ledger.stalled_between(f, later)))
            .count();
        assert_eq!(
            admitted, 30,
            "200 ms of refill, no second claim of the same stall"
        );
        // The same 180 at once without a stall is a burst.
        let mut p = Pacing::new(150, 75, t0);
        let refused = (0..180)
            .filter(|_| !p.admit(resume, |_| Duration::ZERO))
            .count();
        assert_eq!(refused, 105);
    }
}
