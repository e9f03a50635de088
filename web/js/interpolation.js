// Interpolation of remote objects (the opponent's paddle, the ball) between snapshots, rendered a
// configurable delay behind the newest tick seen, so that a late snapshot still has a successor
// to blend towards. Pure; unit-tested in web/test/interpolation.test.js.

/** @typedef {import('./protocol.js').PongState} PongState */

/**
 * @typedef {object} Frame
 * @property {number} tick
 * @property {[number,number,number,number]} ball
 * @property {[number,number]} paddles
 * @property {[number,number]} scores
 * @property {number} serving_in
 */

/**
 * @typedef {object} Sample
 * @property {[number,number]} ball  x, y
 * @property {[number,number]} paddles
 * @property {[number,number]} scores
 * @property {number} serving_in
 * @property {number} tick  the (fractional) tick sampled
 * @property {'interpolated'|'held'|'extrapolated'|'empty'} mode
 */

/** Default render delay, ms: covers ~4 ticks of jitter at 60 Hz plus one snapshot interval. */
export const DEFAULT_RENDER_DELAY_MS = 80;

/** Longest the ball is extrapolated past the newest snapshot, ms (then it holds). */
export const MAX_EXTRAPOLATION_MS = 100;

export class SnapshotBuffer {
  /** @param {{hz:number, capacity?:number}} o */
  constructor(o) {
    this.hz = o.hz;
    /** Frames kept: two seconds at the tick rate is far more than any render delay needs. */
    this.capacity = o.capacity ?? Math.max(8, o.hz * 2);
    /** @type {Frame[]} ordered by tick, ticks unique */
    this.frames = [];
  }

  clear() {
    this.frames = [];
  }

  /** @param {PongState} state  a snapshot's `state` (its `tick` is the game tick) */
  push(state) {
    /** @type {Frame} */
    const f = {
      tick: state.tick,
      ball: [state.ball[0], state.ball[1], state.ball[2], state.ball[3]],
      paddles: [state.paddles[0], state.paddles[1]],
      scores: [state.scores[0], state.scores[1]],
      serving_in: state.serving_in,
    };
    const last = this.frames[this.frames.length - 1];
    if (last && f.tick < last.tick) {
      // Older than what we have: a new game (tick restarted) or a reordering; a new game wins.
      if (last.tick - f.tick > this.hz) this.frames = [];
      else return;
    }
    if (last && f.tick === last.tick) this.frames[this.frames.length - 1] = f;
    else this.frames.push(f);
    if (this.frames.length > this.capacity) this.frames.shift();
  }

  /** Newest frame, or undefined. */
  get latest() {
    return this.frames[this.frames.length - 1];
  }

  /**
   * The state at (fractional) tick `t`.
   * @param {number} t
   * @returns {Sample}
   */
  sample(t) {
    const fs = this.frames;
    if (fs.length === 0) {
      return { ball: [0, 0], paddles: [0, 0], scores: [0, 0], serving_in: 0, tick: t, mode: 'empty' };
    }
    const first = fs[0];
    const last = fs[fs.length - 1];
    if (t <= first.tick) return held(first, t);
    if (t >= last.tick) {
      // Past the newest: extend the ball along its velocity for a short while, hold the paddles.
      const dtMs = Math.min((t - last.tick) * (1000 / this.hz), MAX_EXTRAPOLATION_MS);
      if (last.serving_in > 0 || dtMs <= 0) return held(last, t);
      const x = last.ball[0] + (last.ball[2] * dtMs) / 1000;
      const y = last.ball[1] + (last.ball[3] * dtMs) / 1000;
      return {
        ball: [x, y], paddles: [last.paddles[0], last.paddles[1]], scores: [last.scores[0], last.scores[1]],
        serving_in: last.serving_in, tick: t, mode: 'extrapolated',
      };
    }
    // Binary search for the pair around t.
    let lo = 0;
    let hi = fs.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (fs[mid].tick <= t) lo = mid;
      else hi = mid;
    }
    const a = fs[lo];
    const b = fs[hi];
    const k = (t - a.tick) / (b.tick - a.tick);
    // A point re-centres the ball: never slide it across the field, jump at the midpoint.
    const teleport = a.scores[0] !== b.scores[0] || a.scores[1] !== b.scores[1];
    const ball = teleport
      ? /** @type {[number,number]} */ (k < 0.5 ? [a.ball[0], a.ball[1]] : [b.ball[0], b.ball[1]])
      : /** @type {[number,number]} */ ([lerp(a.ball[0], b.ball[0], k), lerp(a.ball[1], b.ball[1], k)]);
    return {
      ball,
      paddles: [lerp(a.paddles[0], b.paddles[0], k), lerp(a.paddles[1], b.paddles[1], k)],
      scores: k < 1 ? [a.scores[0], a.scores[1]] : [b.scores[0], b.scores[1]],
      serving_in: a.serving_in,
      tick: t,
      mode: 'interpolated',
    };
  }
}

/** @param {number} a @param {number} b @param {number} k */
function lerp(a, b, k) {
  return a + (b - a) * k;
}

/** @param {Frame} f @param {number} t @returns {Sample} */
function held(f, t) {
  return {
    ball: [f.ball[0], f.ball[1]], paddles: [f.paddles[0], f.paddles[1]], scores: [f.scores[0], f.scores[1]],
    serving_in: f.serving_in, tick: t, mode: 'held',
  };
}

/**
 * The tick to render remote objects at: the seen tick minus the render delay.
 * @param {number} seenTick
 * @param {number} delayMs
 * @param {number} hz
 */
export function renderTick(seenTick, delayMs, hz) {
  return seenTick - (delayMs * hz) / 1000;
}
