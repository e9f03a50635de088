//! The room's clock: timer wake-ups against absolute deadlines (bounded catch-up, skips
//! counted), and the tick itself — drain inputs, simulate, detect the outcome, encode the
//! snapshot once, fan it out, record the phase timings.

use super::*;

impl RoomActor {
    pub(super) fn schedule(&self, ctx: &mut Context<Self>) {
        let wake = self
            .next_deadline
            .checked_sub(TIMER_EARLY)
            .unwrap_or(self.next_deadline);
        let delay = wake.saturating_duration_since(Instant::now());
        ctx.run_later(delay, |act, ctx| act.on_timer(ctx));
    }

    /// Timer: run the ticks that are due (bounded catch-up), skip the rest, re-arm.
    pub(super) fn on_timer(&mut self, ctx: &mut Context<Self>) {
        if self.over() || self.moved {
            return;
        }
        let metrics = self.tick_metrics;
        let now = Instant::now();
        self.drain_inbox();
        metrics.tick_lateness.record(
            now.saturating_duration_since(self.next_deadline)
                .as_secs_f64(),
        );
        // Armed TIMER_EARLY before the deadline: a tick that runs that much early is on time.
        let plan = plan_ticks(now + TIMER_EARLY, self.next_deadline, self.period);
        for _ in 0..plan.run {
            self.tick(ctx);
            self.next_deadline += self.period;
            if self.over() {
                return;
            }
        }
        if plan.skip > 0 {
            metrics.ticks_skipped.increment(u64::from(plan.skip));
            self.next_deadline += self.period * plan.skip;
        }
        self.schedule(ctx);
    }

    pub(super) fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        match self.state {
            RoomState::Waiting => {
                if self.deadline.is_some_and(|d| now >= d) {
                    self.no_show(ctx);
                }
            }
            RoomState::Countdown => {
                if self.deadline.is_some_and(|d| now >= d) {
                    if self.started.is_none() {
                        self.started = Some(now);
                        let started_ms = crate::db::now_ms();
                        self.started_ms = Some(started_ms);
                        // Persisted (durably, retried), then reported to the tournament.
                        let report = self.tournament_report(MatchReportKind::Started);
                        self.engine.outbox.submit(Write::Start {
                            match_id: self.match_id.0.clone(),
                            epoch: self.epoch,
                            started_ms,
                            report,
                        });
                    }
                    self.set_state(RoomState::Playing, None);
                } else {
                    self.maybe_snapshot(true);
                }
            }
            RoomState::Playing => {
                // Games that go on without away players: seats away past the grace are out.
                self.forfeit_overdue(ctx);
                if !self.over() {
                    self.play_tick(ctx);
                }
            }
            RoomState::Paused => {
                if self.deadline.is_some_and(|d| now >= d) {
                    self.forfeit_absent(ctx);
                }
            }
            RoomState::Finished => {}
        }
    }

    pub(super) fn play_tick(&mut self, ctx: &mut Context<Self>) {
        let metrics = m::engine();
        let t0 = Instant::now();
        // 1. drain inputs: those due at this tick (the step below makes it `tick + 1`), in
        // arrival order; inputs named for a later tick stay queued, in order.
        let tick = self.game.tick();
        let at = tick + 1;
        let intents = self.game.inputs_are_intents();
        for _ in 0..self.pending.len() {
            let Some(PendingInput {
                seat,
                seq,
                at: due,
                input,
            }) = self.pending.pop_front()
            else {
                break;
            };
            if due > at {
                self.pending.push_back(PendingInput {
                    seat,
                    seq,
                    at: due,
                    input,
                });
                continue;
            }
            let slot = &mut self.seats[seat as usize];
            if intents && slot.last_input.as_ref() == Some(&input) {
                slot.last_seq = seq;
                slot.ack_tick = at;
                metrics.inputs_repeated.increment(1);
                continue;
            }
            match self.game.apply_input(seat, &input) {
                Ok(()) => {
                    let slot = &mut self.seats[seat as usize];
                    slot.last_seq = seq;
                    slot.ack_tick = at;
                    if intents {
                        slot.last_input = Some(input.clone());
                    }
                    self.log.record_input(tick, seat, input);
                    metrics.inputs_applied.increment(1);
                }
                Err(e) => {
                    metrics.inputs_rejected.increment(1);
                    if let Some(h) = &self.seats[seat as usize].session {
                        let frame = ServerMsg::Error {
                            code: code::INVALID_INPUT,
                            message: &e.to_string(),
                        }
                        .encode();
                        let (frame, h) = (frame.into(), h.clone());
                        if !self.deliver(&h, &frame, &mut None) {
                            self.drop_session(&h.session_id, true);
                        }
                    }
                }
            }
        }
        let t1 = Instant::now();
        // 2. simulate
        self.events.clear();
        self.game.step(&mut self.events);
        self.tick_metrics.ticks.increment(1);
        let t2 = Instant::now();
        // 3. detect outcome
        let outcome = self.game.outcome();
        let timed_out = outcome.is_none()
            && self
                .started
                .is_some_and(|s| s.elapsed() >= self.engine.config.max_match_duration);
        let t3 = Instant::now();
        // 4. encode snapshot and events, once per encoding in use
        let mut frames = std::mem::take(&mut self.tick_frames);
        let (json, bin) = self.encodings_in_use();
        self.snapshot_into(outcome.is_some(), &mut frames, (json, bin));
        let tick = self.game.tick();
        for e in self
            .events
            .iter()
            .filter(|e| !matches!(e, GameEvent::Ended { .. }))
        {
            let event = ServerMsg::Event { tick, event: e }.encode();
            if bin {
                frames
                    .bin
                    .push(Bytes::from(protocol::bin::from_server_json(&event)));
            }
            if json {
                frames.json.push(event.into());
            }
        }
        let t4 = Instant::now();
        // 5. fan out (snapshot and events in one write per session)
        self.fan_out(&frames);
        frames.clear();
        self.tick_frames = frames;
        let scored = self
            .events
            .iter()
            .any(|e| matches!(e, GameEvent::Scored { .. }));
        if scored {
            self.publish_summary();
        }
        let t5 = Instant::now();
        // 6. record metrics
        let phases = &self.tick_metrics.tick_phase;
        for (i, (a, b)) in [(t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t0, t5)]
            .into_iter()
            .enumerate()
        {
            phases[i].record(b.saturating_duration_since(a).as_secs_f64());
        }
        if let Some(outcome) = outcome {
            self.finish(outcome, false, ctx);
        } else if timed_out {
            let scores = self.game.scores();
            // Two seats: the one behind loses. More: nobody is singled out (the game's
            // `end_by_forfeit` ranks the seats by score).
            let loser = match scores.first().cmp(&scores.get(1)) {
                _ if scores.len() != 2 => NO_SEAT,
                std::cmp::Ordering::Less => 0,
                std::cmp::Ordering::Greater => 1,
                std::cmp::Ordering::Equal => NO_SEAT,
            };
            self.force_end(loser, EndReason::Abandoned, ctx);
        }
    }

    /// Send this tick's snapshot alone (countdown frames, the final frame), if it is a
    /// snapshot tick (`force`: always).
    pub(super) fn maybe_snapshot(&mut self, force: bool) {
        let mut frames = std::mem::take(&mut self.tick_frames);
        let uses = self.encodings_in_use();
        self.snapshot_into(force, &mut frames, uses);
        self.fan_out(&frames);
        frames.clear();
        self.tick_frames = frames;
    }

    /// Add the tick's snapshot to `frames` in each encoding in use (`(json, bin)`, see
    /// [`RoomActor::encodings_in_use`]), unless this tick is not a snapshot tick (`force`
    /// always makes one: countdown frames, final frame).
    pub(super) fn snapshot_into(
        &mut self,
        force: bool,
        frames: &mut TickFrames,
        (json, bin): (bool, bool),
    ) {
        self.ticks_since_snapshot += 1;
        if !force && self.ticks_since_snapshot < self.engine.config.snapshot_every {
            return;
        }
        self.ticks_since_snapshot = 0;
        let acks = self.acks();
        // Games that send deltas: what changed since the previous shared frame (the game sends
        // a full state itself when a delta cannot say it); the first shared frame is full.
        let since = self.last_shared_tick.filter(|_| self.game.sends_deltas());
        self.last_shared_tick = Some(self.game.tick());
        if json {
            frames.json.push(self.snapshot_json(&acks, since).into());
        }
        if bin {
            frames
                .bin
                .push(Bytes::from(self.snapshot_bin(&acks, since)));
        }
    }

    /// Each seat's last applied input sequence and the tick it took effect at.
    fn acks(&self) -> (Vec<u64>, Vec<u64>) {
        self.seats.iter().map(|s| (s.last_seq, s.ack_tick)).unzip()
    }

    /// The `snapshot` message of the current tick in JSON: the full state, or (`since`) what
    /// changed after that tick.
    fn snapshot_json(
        &self,
        (acks, ack_ticks): &(Vec<u64>, Vec<u64>),
        since: Option<u64>,
    ) -> String {
        let state = match since {
            Some(s) => self.game.snapshot_since(s),
            None => self.game.snapshot(),
        };
        protocol::snapshot_frame(self.game.tick(), acks, ack_ticks, &state)
    }

    /// The same in `rally.v1.bin`.
    fn snapshot_bin(
        &self,
        (acks, ack_ticks): &(Vec<u64>, Vec<u64>),
        since: Option<u64>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        protocol::bin::snapshot_head(&mut out, self.game.tick(), acks, ack_ticks);
        match since {
            Some(s) => self.game.snapshot_since_bin(s, &mut out),
            None => self.game.snapshot_bin(&mut out),
        }
        out
    }

    /// Games that send deltas: a session that joins, rejoins or starts spectating gets the full
    /// state on its own first (the shared frames that follow are deltas against it), through
    /// the same path the shared frames take to it, so it arrives before them.
    pub(super) fn send_full_snapshot(&mut self, s: &SessionHandle) {
        if !self.game.sends_deltas() || self.over() {
            return;
        }
        let acks = self.acks();
        let taken = match &s.direct {
            Some(d) => {
                let part = match d.encoding() {
                    Encoding::Json => Bytes::from(self.snapshot_json(&acks, None)),
                    Encoding::Bin => Bytes::from(self.snapshot_bin(&acks, None)),
                };
                d.write(&[&part]) != Err(SinkRefused::Slow)
            }
            None => {
                let frame: ByteString = self.snapshot_json(&acks, None).into();
                s.outbound.try_send(Outbound { frame }).is_ok()
            }
        };
        if !taken {
            let sid = s.session_id.clone();
            self.drop_session(&sid, true);
        }
    }
}

/// What a timer wake-up should do: run `run` ticks now (each advancing the deadline by one
/// period), then skip `skip` periods so the next deadline is in the future.
#[derive(Debug, PartialEq, Eq)]
pub struct TickPlan {
    /// Ticks to run now (at most [`MAX_CATCHUP_TICKS`]).
    pub run: u32,
    /// Periods to skip afterwards (counted as skipped ticks).
    pub skip: u32,
}

/// Plan a wake-up at `now` for a room whose next tick was due at `deadline`. Pure: tested
/// with a synthetic clock.
pub fn plan_ticks(now: Instant, deadline: Instant, period: Duration) -> TickPlan {
    if now < deadline {
        return TickPlan { run: 0, skip: 0 };
    }
    let period_ns = period.as_nanos().max(1);
    // Ticks due: the one at `deadline` plus every full period since.
    let due = now.duration_since(deadline).as_nanos() / period_ns + 1;
    let due = u32::try_from(due).unwrap_or(u32::MAX);
    let run = due.min(MAX_CATCHUP_TICKS);
    TickPlan {
        run,
        skip: due - run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_time_and_early_wakeups() {
        let t0 = Instant::now();
        let p = Duration::from_micros(16_667);
        assert_eq!(plan_ticks(t0, t0 + p, p), TickPlan { run: 0, skip: 0 });
        assert_eq!(plan_ticks(t0, t0, p), TickPlan { run: 1, skip: 0 });
        // 1 ms late (tokio's timer granularity): still one tick.
        assert_eq!(
            plan_ticks(t0 + Duration::from_millis(1), t0, p),
            TickPlan { run: 1, skip: 0 }
        );
    }

    #[test]
    fn catches_up_a_bounded_number_then_skips() {
        let t0 = Instant::now();
        let p = Duration::from_millis(10);
        // Two and a half periods late: three ticks due, all run.
        assert_eq!(
            plan_ticks(t0 + Duration::from_millis(25), t0, p),
            TickPlan { run: 3, skip: 0 }
        );
        // A 1 s stall: 101 due, 3 run, 98 skipped; the next deadline lands in the future.
        let now = t0 + Duration::from_secs(1);
        let plan = plan_ticks(now, t0, p);
        assert_eq!(
            plan,
            TickPlan {
                run: MAX_CATCHUP_TICKS,
                skip: 98
            }
        );
        let next = t0 + p * (plan.run + plan.skip);
        assert!(next > now && next <= now + p);
    }

    #[test]
    fn no_drift_over_many_periods() {
        // Scheduling against absolute deadlines: after N on-time wake-ups the deadline is
        // exactly t0 + N periods, whatever the wake-up jitter was.
        let t0 = Instant::now();
        let p = Duration::from_micros(16_667);
        let mut deadline = t0;
        for i in 0..600u32 {
            let jitter = Duration::from_micros(u64::from(i % 7) * 150);
            let plan = plan_ticks(deadline + jitter, deadline, p);
            assert_eq!(plan, TickPlan { run: 1, skip: 0 });
            deadline += p;
        }
        assert_eq!(deadline, t0 + p * 600);
    }
}
