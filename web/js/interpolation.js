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
 * @property {number} speed  the ball's speed in the frame used, units per second (0 at rest)
 */

/** Default render delay, ms: covers ~4 ticks of jitter at 60 Hz plus one snapshot interval. */
export const DEFAULT_RENDER_DELAY_MS = 80;

/**
 * Longest the ball is extrapolated past the newest snapshot, ms (then it holds): longer than a
 * TCP retransmission stall (100–200 ms) plus the render delay's margin, so a stall slows the view
 * (SmoothTimeline) instead of freezing the ball.
 */
export const MAX_EXTRAPOLATION_MS = 250;

/**
 * @typedef {object} Geometry  what extrapolation needs to bounce the ball like the server
 * @property {number} width  field width
 * @property {number} height  field height
 * @property {number} ball  ball size
 * @property {number[]} paddleX  paddle centres x, by seat
 * @property {number} paddleWidth
 * @property {number} paddleHeight
 */

/**
 * The adaptive render delay, ms: the `q` high percentile of snapshot arrival jitter plus one
 * snapshot interval (so the successor of the rendered tick is there too), between a floor of 1.5
 * ticks and `ceilingMs`.
 * @param {number} jitterMs  JitterMeter.percentile(q)
 * @param {{hz:number, snapshotEvery?:number, ceilingMs?:number}} o
 */
export function adaptiveDelayMs(jitterMs, o) {
  const period = 1000 / o.hz;
  const floor = 1.5 * period;
  const want = jitterMs + (o.snapshotEvery ?? 1) * period;
  return Math.min(o.ceilingMs ?? 250, Math.max(floor, want));
}

/**
 * The ball `dtMs` after frame `f`, moving with its velocity and bouncing off the top and bottom
 * walls and off a paddle (at its last known position) like the server; it stops at a goal line.
 * @param {Frame} f
 * @param {number} dtMs
 * @param {Geometry|undefined} g
 * @returns {[number, number]}
 */
export function extrapolateBall(f, dtMs, g) {
  let [x, y, vx, vy] = f.ball;
  if (!g) return [x + (vx * dtMs) / 1000, y + (vy * dtMs) / 1000];
  const half = g.ball / 2;
  const top = half;
  const bottom = g.height - half;
  const steps = Math.max(1, Math.ceil(dtMs / 4));
  const dt = dtMs / 1000 / steps;
  for (let i = 0; i < steps; i++) {
    let nx = x + vx * dt;
    let ny = y + vy * dt;
    if (ny < top) { ny = 2 * top - ny; vy = -vy; }
    if (ny > bottom) { ny = 2 * bottom - ny; vy = -vy; }
    for (let seat = 0; seat < g.paddleX.length; seat++) {
      const face = g.paddleX[seat] + (seat === 0 ? 1 : -1) * (g.paddleWidth / 2 + half);
      const towards = seat === 0 ? vx < 0 : vx > 0;
      const crosses = seat === 0 ? x >= face && nx < face : x <= face && nx > face;
      if (towards && crosses && Math.abs(ny - f.paddles[seat]) <= (g.paddleHeight + g.ball) / 2) {
        nx = 2 * face - nx;
        vx = -vx;
      }
    }
    x = nx;
    y = ny;
    if (x <= 0 || x >= g.width) return [Math.min(g.width, Math.max(0, x)), y];
  }
  return [x, y];
}

export class SnapshotBuffer {
  /** @param {{hz:number, capacity?:number, geometry?:Geometry}} o */
  constructor(o) {
    this.hz = o.hz;
    /** @type {Geometry|undefined} */
    this.geometry = o.geometry;
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
      return { ball: [0, 0], paddles: [0, 0], scores: [0, 0], serving_in: 0, tick: t, mode: 'empty', speed: 0 };
    }
    const first = fs[0];
    const last = fs[fs.length - 1];
    if (t <= first.tick) return held(first, t);
    if (t >= last.tick) {
      // Past the newest: extend the ball along its velocity for a short while, hold the paddles.
      const dtMs = Math.min((t - last.tick) * (1000 / this.hz), MAX_EXTRAPOLATION_MS);
      if (last.serving_in > 0 || dtMs <= 0) return held(last, t);
      const [x, y] = extrapolateBall(last, dtMs, this.geometry);
      return {
        ball: [x, y], paddles: [last.paddles[0], last.paddles[1]], scores: [last.scores[0], last.scores[1]],
        serving_in: last.serving_in, tick: t, mode: 'extrapolated', speed: Math.hypot(last.ball[2], last.ball[3]),
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
      // With a point in between, the score changes where the ball jumps to the centre.
      scores: (teleport ? k < 0.5 : k < 1) ? [a.scores[0], a.scores[1]] : [b.scores[0], b.scores[1]],
      serving_in: teleport && k >= 0.5 ? b.serving_in : a.serving_in,
      tick: t,
      mode: 'interpolated',
      speed: Math.max(Math.hypot(a.ball[2], a.ball[3]), Math.hypot(b.ball[2], b.ball[3])),
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
    serving_in: f.serving_in, tick: t, mode: 'held', speed: f.serving_in > 0 ? 0 : Math.hypot(f.ball[2], f.ball[3]),
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

/**
 * Hides the discontinuity when new snapshots change where the ball should have been (after
 * extrapolating through a stall): the difference goes into an offset that is worked off within
 * ~100 ms, never faster than `maxFactor` times the ball's own travel per frame — so the drawn ball
 * never jumps. A point or a serve (scores change, the ball at rest) is shown as it is.
 */
export class BallSmoother {
  /** @param {{tauMs?:number, maxFactor?:number}} [o] */
  constructor(o = {}) {
    this.tauMs = o.tauMs ?? 40;
    this.maxFactor = o.maxFactor ?? 1.5;
    /** @type {[number, number]} */
    this.offset = [0, 0];
    /** Offsets taken on (data changed under an extrapolated or interpolated view). */
    this.absorbed = 0;
  }

  reset() {
    this.offset = [0, 0];
  }

  /** @param {number} dx @param {number} dy */
  add(dx, dy) {
    this.offset = [this.offset[0] + dx, this.offset[1] + dy];
    if (Math.hypot(dx, dy) > 1) this.absorbed++;
  }

  /**
   * Advance one frame; `speed` is the ball's speed (units/s).
   * @param {number} dtMs @param {number} speed
   */
  frame(dtMs, speed) {
    const a = Math.hypot(this.offset[0], this.offset[1]);
    if (a === 0) return;
    const dt = Math.max(0, Math.min(dtMs, 100));
    const cap = (this.maxFactor * speed * dt) / 1000;
    const want = Math.max(a * (1 - Math.exp(-dt / this.tauMs)), (0.5 * speed * dt) / 1000);
    const d = Math.min(a, want, Math.max(cap, 1));
    const k = (a - d) / a;
    this.offset = [this.offset[0] * k, this.offset[1] * k];
    if (a - d < 0.5) this.offset = [0, 0];
  }
}
