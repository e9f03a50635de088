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
   * Observe a snapshot of `tick` arriving at local time `now`.
   * @param {number} tick
   * @param {number} now
   */
  observe(tick, now) {
    if (tick <= this.lastTick) this.candidates = [];
    this.lastTick = tick;
    this.lastArrival = now;
    this.candidates.push(now - tick * this.period);
    if (this.candidates.length > this.window) this.candidates.shift();
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
