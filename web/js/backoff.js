// Reconnect policy: exponential backoff with full jitter, capped, reset after a connection that
// lasted. Pure: the random source is injectable. Unit-tested in web/test/backoff.test.js.

/**
 * @typedef {object} BackoffOptions
 * @property {number} [baseMs]  first delay before jitter (default 250 ms: a blip is retried at once)
 * @property {number} [maxMs]  cap (default 8 s: a restarting server is found within seconds)
 * @property {number} [factor]  growth per attempt (default 2)
 * @property {number} [jitter]  fraction of the delay that is random, 0..1 (default 0.5), so that
 *   many clients dropped at once do not reconnect in lockstep
 * @property {number} [stableMs]  a connection that lived this long resets the attempts (default 10 s)
 * @property {() => number} [random]  uniform [0,1)
 */

export class Backoff {
  /** @param {BackoffOptions} [o] */
  constructor(o = {}) {
    this.baseMs = o.baseMs ?? 250;
    this.maxMs = o.maxMs ?? 8000;
    this.factor = o.factor ?? 2;
    this.jitter = o.jitter ?? 0.5;
    this.stableMs = o.stableMs ?? 10_000;
    this.random = o.random ?? Math.random;
    /** Consecutive failed attempts. */
    this.attempts = 0;
  }

  /** The delay before the next attempt, ms; counts the attempt. */
  next() {
    const raw = Math.min(this.maxMs, this.baseMs * this.factor ** this.attempts);
    this.attempts++;
    const fixed = raw * (1 - this.jitter);
    return Math.round(fixed + raw * this.jitter * this.random());
  }

  /**
   * A connection closed after living `livedMs`: a long-lived one starts the sequence over.
   * @param {number} livedMs
   */
  closedAfter(livedMs) {
    if (livedMs >= this.stableMs) this.attempts = 0;
  }

  /** Connected and authenticated. The attempts are kept until the connection proves stable. */
  reset() {
    this.attempts = 0;
  }
}
