// Clock sync and server tick estimation. Pure: every function takes the local time (ms, e.g.
// performance.now()) as an argument, so tests drive it with a fake clock.

/**
 * Round-trip time and server clock offset from ping/pong pairs.
 *
 * Each pong gives rtt = now - client_time and offset = server_time + rtt/2 - now (assuming a
 * symmetric path). Of the last `window` samples, the offset of the one with the smallest RTT is
 * the least disturbed by queueing (NTP's minimum filter); the RTT shown to players is the median,
 * which ignores a single spike.
 */
export class ClockSync {
  /** @param {{window?:number}} [opts] */
  constructor(opts = {}) {
    /** How many recent samples to keep. */
    this.window = opts.window ?? 8;
    /** @type {{rtt:number, offset:number}[]} */
    this.samples = [];
  }

  /**
   * Record a pong.
   * @param {number} clientTime the client_time echoed by the server (local ms)
   * @param {number} serverTime server clock at the answer (Unix ms)
   * @param {number} now local ms when the pong arrived
   * @returns {{rtt:number, offset:number} | null} the sample, or null when it makes no sense
   */
  addSample(clientTime, serverTime, now) {
    const rtt = now - clientTime;
    if (!(rtt >= 0) || rtt > 60_000) return null;
    const sample = { rtt, offset: serverTime + rtt / 2 - now };
    this.samples.push(sample);
    if (this.samples.length > this.window) this.samples.shift();
    return sample;
  }

  /** Whether at least one sample was taken. */
  get synced() {
    return this.samples.length > 0;
  }

  /** Median RTT of the recent samples, ms (0 before any). */
  get rtt() {
    if (this.samples.length === 0) return 0;
    const sorted = this.samples.map((s) => s.rtt).sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }

  /** Smallest RTT of the recent samples, ms (0 before any). */
  get minRtt() {
    let m = Infinity;
    for (const s of this.samples) m = Math.min(m, s.rtt);
    return m === Infinity ? 0 : m;
  }

  /** server clock - local clock, ms, from the least-delayed recent sample (0 before any). */
  get offset() {
    let best = null;
    for (const s of this.samples) if (!best || s.rtt < best.rtt) best = s;
    return best ? best.offset : 0;
  }

  /**
   * The server's clock now, Unix ms.
   * @param {number} now local ms
   */
  serverNow(now) {
    return now + this.offset;
  }
}

/**
 * Estimates which server tick is being seen "now" from the arrival times of snapshots.
 *
 * A snapshot of tick T that arrives at local time a says tick 0 would have arrived at
 * a - T·1000/hz. Network and scheduling delays only ever make arrivals later, so the smallest of
 * these candidates over a recent window is the least-delayed path: `seen(now)` is the tick whose
 * snapshot would arrive right now on that path. Snapshots that arrive later than that are still
 * in flight from the renderer's point of view, which is why interpolation renders a little
 * behind `seen`.
 *
 * The game tick stops while a room counts down or is paused (snapshots repeat a tick, or stop);
 * a repeated tick or a jump backwards resets the window, so an estimate never spans a stall.
 */
/** Consecutive snapshots that must all be late before the tick clock takes a new base. */
const REBASE_SAMPLES = 20;
/** How late (ms) those must be. */
const REBASE_MS = 80;

export class TickClock {
  /** @param {{hz:number, window?:number}} opts */
  constructor(opts) {
    /** Ticks per second. */
    this.hz = opts.hz;
    /** Snapshots the minimum is taken over (about a second at the default 60 Hz). */
    this.window = opts.window ?? 60;
    /** @type {number[]} */
    this.candidates = [];
    /** Last tick observed, or -1. */
    this.lastTick = -1;
    /** Local time of the last observation. */
    this.lastArrival = 0;
    /** Times the base moved because the server's tick numbering fell behind (a server stall). */
    this.rebases = 0;
  }

  /** Milliseconds per tick. */
  get period() {
    return 1000 / this.hz;
  }

  /** Forget everything (a new room, or a stall). */
  reset() {
    this.candidates = [];
    this.lastTick = -1;
  }

  /**
   * Observe a snapshot of `tick` arriving at local time `now`. Returns how late it came compared
   * with the least-delayed path of the window (ms, ≥ 0): its arrival jitter.
   * @param {number} tick
   * @param {number} now
   */
  observe(tick, now) {
    if (tick <= this.lastTick) this.candidates = [];
    this.lastTick = tick;
    this.lastArrival = now;
    const c = now - tick * this.period;
    this.candidates.push(c);
    if (this.candidates.length > this.window) this.candidates.shift();
    let base = Infinity;
    for (const x of this.candidates) base = Math.min(base, x);
    // A server that stalled skips ticks without advancing game time: every snapshot after it is
    // late by the stall for good. That is a new base, not jitter: when the last REBASE_SAMPLES
    // all came REBASE_MS or more later than the base (a network stall delays a few snapshots,
    // decreasingly, never that many), the window restarts from them.
    const recent = this.candidates.slice(-REBASE_SAMPLES);
    if (recent.length === REBASE_SAMPLES && recent.every((x) => x - base >= REBASE_MS)) {
      this.candidates = recent;
      this.rebases++;
      base = Math.min(...recent);
    }
    return c - base;
  }

  /** Whether `seen` can be asked. */
  get ready() {
    return this.candidates.length > 0;
  }

  /**
   * The (fractional) tick seen now on the least-delayed path.
   * @param {number} now local ms
   */
  seen(now) {
    if (this.candidates.length === 0) return Math.max(0, this.lastTick);
    let base = Infinity;
    for (const c of this.candidates) base = Math.min(base, c);
    return (now - base) / this.period;
  }

  /**
   * The (fractional) tick the server will be at when an input sent now reaches it. `seen` lags
   * the server by the fastest downstream trip (about half the smallest RTT); the input then takes
   * a typical upstream trip (about half the median RTT). An input sent now is applied at the
   * start of tick floor(present) + 1.
   * @param {number} now local ms
   * @param {number} rttMs  typical (median) round trip
   * @param {number} [minRttMs]  fastest round trip; defaults to `rttMs`
   */
  present(now, rttMs, minRttMs = rttMs) {
    return this.seen(now) + (minRttMs / 2 + rttMs / 2) / this.period;
  }
}

/**
 * Snapshot arrival jitter over a sliding window: how much later than the least-delayed path each
 * snapshot arrived (TickClock.observe). Its high percentile sets the render delay (a snapshot
 * needed for interpolation has then arrived in that share of cases) and the margin added to the
 * tick an input is stamped for.
 */
export class JitterMeter {
  /** @param {{window?:number}} [o] */
  constructor(o = {}) {
    /** Samples kept: three seconds of snapshots at 60 Hz. */
    this.window = o.window ?? 180;
    /** @type {number[]} */
    this.samples = [];
    /** @type {number[]|null} sorted copy, rebuilt lazily */
    this.sorted = null;
  }

  /** @param {number} ms */
  add(ms) {
    this.samples.push(ms);
    if (this.samples.length > this.window) this.samples.shift();
    this.sorted = null;
  }

  clear() {
    this.samples = [];
    this.sorted = null;
  }

  /**
   * The `q` quantile (0..1) of the window, ms (0 before any sample).
   * @param {number} q
   */
  percentile(q) {
    if (this.samples.length === 0) return 0;
    if (!this.sorted) this.sorted = [...this.samples].sort((a, b) => a - b);
    const i = Math.min(this.sorted.length - 1, Math.max(0, Math.ceil(q * this.sorted.length) - 1));
    return this.sorted[i];
  }
}

/**
 * A clock in ticks that follows a target without jumping: it runs at real speed, a little faster
 * (`maxFast`) when behind its target, a little slower (`maxSlow`) when ahead, and snaps only when
 * it is more than `snapTicks` away (a new room, the end of a pause). The view of the game runs on
 * two of them: the player's timeline and the render time of remote objects.
 */
export class SmoothTimeline {
  /**
   * @param {{hz:number, maxFast?:number, maxSlow?:number, maxStepTicks?:number, snapTicks?:number, farTicks?:number, farRate?:number}} o
   *   maxStepTicks: the largest correction in one call, whatever the time since the last (a slow
   *   frame on a busy machine must not turn 10 % into a visible jump); farTicks, farRate: further
   *   off than farTicks, it may run up to farRate faster or slower (and twice maxStepTicks)
   */
  constructor(o) {
    this.hz = o.hz;
    this.maxFast = o.maxFast ?? 0.1;
    this.maxSlow = o.maxSlow ?? 0.1;
    this.maxStepTicks = o.maxStepTicks ?? 0.25;
    this.snapTicks = o.snapTicks ?? 30;
    this.farTicks = o.farTicks ?? Infinity;
    this.farRate = o.farRate ?? this.maxFast;
    /** Current value, ticks (NaN before the first call). */
    this.t = NaN;
    this.last = 0;
    /** Jumps made (snaps), for the statistics. */
    this.snaps = 0;
  }

  reset() {
    this.t = NaN;
  }

  /**
   * Advance to local time `now` towards `target` (ticks); returns the new value. Calling it
   * twice at the same `now` returns the same value.
   * @param {number} now  local ms
   * @param {number} target
   */
  at(now, target) {
    if (!Number.isFinite(this.t) || Math.abs(target - this.t) > this.snapTicks) {
      if (Number.isFinite(this.t)) this.snaps++;
      this.t = target;
      this.last = now;
      return this.t;
    }
    const dt = (Math.max(0, now - this.last) * this.hz) / 1000;
    this.last = now;
    const err = target - (this.t + dt);
    const far = Math.abs(err) > this.farTicks;
    const fast = far ? Math.min(this.farRate * dt, 2 * this.maxStepTicks) : Math.min(this.maxFast * dt, this.maxStepTicks);
    const slow = far ? Math.min(this.farRate * dt, 2 * this.maxStepTicks) : Math.min(this.maxSlow * dt, this.maxStepTicks);
    this.t += dt + Math.max(-slow, Math.min(fast, err));
    return this.t;
  }
}

/** The bound of the jitter margin added to input ticks, ticks: beyond it a late input is cheaper than more lag. */
export const MAX_INPUT_MARGIN_TICKS = 4;

/**
 * How far ahead of the tick seen on the fastest path (TickClock.seen) an input sent now should be
 * stamped, ticks: the fastest round trip (the server is half of it ahead of what we see, and the
 * input takes the other half) plus a margin for the jitter of the way up (`jitterMs`, a high
 * percentile of the snapshot jitter, bounded by MAX_INPUT_MARGIN_TICKS). Stamped too early, an
 * input only waits in the room; too late, it is applied at the next tick and corrected.
 * @param {number} minRttMs
 * @param {number} jitterMs
 * @param {number} hz
 */
export function inputLeadTicks(minRttMs, jitterMs, hz) {
  const period = 1000 / hz;
  return minRttMs / period + Math.min(MAX_INPUT_MARGIN_TICKS, jitterMs / period);
}
