// Replays. GET /api/v1/matches/{id}/replay holds the seed, the config and the input log (no
// positions): paddles depend only on inputs, so `paddleTrack` rebuilds their exact path with the
// server's integer step (the input timeline of the viewer). The ball depends on the seeded RNG;
// GET /api/v1/matches/{id}/replay/frames?every=N gives the server's re-simulated snapshots, one
// every N ticks, and `sampleFrames` reads the state at any fractional tick between them (see
// docs/web-client.md, "Replays"). Pure; unit-tested in web/test/replay.test.js.

import { SUB } from './prediction.js';

/** @typedef {import('./interpolation.js').Frame} Frame */

/** Pong defaults (src/game/pong/config.rs) used when the stored config leaves a field out. */
export const PONG_DEFAULTS = Object.freeze({
  points_to_win: 5, tick_hz: 60, serve_delay_ms: 1000, paddle_height: 1800, paddle_speed: 12000,
  ball_speed: 8000, ball_speedup_permille: 60, max_ball_speed: 32000,
});

export const FIELD = Object.freeze({ width: 16000, height: 9000 });

/**
 * @typedef {object} ReplayData
 * @property {string} match
 * @property {string} game
 * @property {number} seed
 * @property {Record<string,any>|null} config
 * @property {number} ticks
 * @property {{inputs:[number,number,any][], end:{tick:number, loser:number, reason:string}|null}} log
 * @property {(string|null)[]} players
 * @property {number[]} scores
 */

/**
 * @typedef {object} ReplayTrack
 * @property {number} hz
 * @property {number} ticks
 * @property {Float64Array[]} paddles  paddles[seat][tick] = centre y after that tick
 * @property {{tick:number, seat:number, input:string}[]} inputs
 * @property {Record<string, number>} config
 */

/**
 * Rebuild both paddles' paths from a replay.
 * @param {ReplayData} replay
 * @param {number} [maxTicks]  refuse longer replays (memory), default 15 minutes at 240 Hz
 * @returns {ReplayTrack}
 */
export function paddleTrack(replay, maxTicks = 15 * 60 * 240) {
  const config = { ...PONG_DEFAULTS, ...(replay.config || {}) };
  const hz = config.tick_hz;
  const ticks = Math.min(Math.max(0, replay.ticks | 0), maxTicks);
  const step = Math.max(1, Math.floor((config.paddle_speed * SUB) / hz));
  const half = (config.paddle_height * SUB) / 2;
  const lo = half;
  const hi = FIELD.height * SUB - half;
  const inputs = (replay.log && replay.log.inputs ? replay.log.inputs : [])
    .map(([tick, seat, input]) => ({ tick: Number(tick), seat: Number(seat), input: String(input) }))
    .filter((i) => i.seat === 0 || i.seat === 1);
  /** @type {Float64Array[]} */
  const paddles = [new Float64Array(ticks + 1), new Float64Array(ticks + 1)];
  const y = [(FIELD.height * SUB) / 2, (FIELD.height * SUB) / 2];
  const intent = ['stop', 'stop'];
  let next = 0;
  paddles[0][0] = y[0] / SUB;
  paddles[1][0] = y[1] / SUB;
  // An input logged at tick k was applied before the step from k to k + 1.
  for (let k = 0; k < ticks; k++) {
    while (next < inputs.length && inputs[next].tick <= k) {
      intent[inputs[next].seat] = inputs[next].input;
      next++;
    }
    for (const s of [0, 1]) {
      const d = intent[s] === 'up' ? -step : intent[s] === 'down' ? step : 0;
      y[s] = Math.min(hi, Math.max(lo, y[s] + d));
      paddles[s][k + 1] = y[s] / SUB;
    }
  }
  return { hz, ticks, paddles, inputs, config };
}

/**
 * Format a tick as m:ss.t.
 * @param {number} tick
 * @param {number} hz
 */
export function tickTime(tick, hz) {
  const s = tick / hz;
  const m = Math.floor(s / 60);
  const rest = s - m * 60;
  return `${m}:${rest < 10 ? '0' : ''}${rest.toFixed(1)}`;
}

// ---------------------------------------------------------------- re-simulated frames

/** Most frames the server returns for one replay (`crate::replay::MAX_REPLAY_FRAMES`). */
export const MAX_REPLAY_FRAMES = 20000;

/**
 * Frames the viewer asks for by default: every tick up to this many (about 2 min 45 s at
 * 60 Hz, ~500 kB of JSON), then every N-th tick, interpolated.
 */
export const DEFAULT_FRAME_BUDGET = 10000;

/**
 * Pong's fixed geometry (src/game/pong, docs/protocol.md §10): paddle centres x, paddle width,
 * ball size, field.
 */
export const PONG_GEOMETRY = Object.freeze({
  paddleX: /** @type {readonly [number, number]} */ ([640, 15360]),
  paddleWidth: 240,
  ballSize: 240,
  width: FIELD.width,
  height: FIELD.height,
});

/** @typedef {{paddleX: readonly number[], paddleWidth:number, ballSize:number, width:number, height:number}} Geometry */

/**
 * The `every` to ask for: `requested` when given (at least 1), else every tick up to `budget`
 * frames; never so small that the server would refuse (more than MAX_REPLAY_FRAMES frames).
 * @param {number} ticks  the replay's length
 * @param {number|null} [requested]
 * @param {number} [budget]
 */
export function framesEvery(ticks, requested = null, budget = DEFAULT_FRAME_BUDGET) {
  const floor = Math.max(1, Math.ceil(Math.max(0, ticks) / MAX_REPLAY_FRAMES));
  const wanted = requested && requested >= 1 ? Math.floor(requested) : Math.ceil(Math.max(0, ticks) / budget);
  return Math.max(floor, wanted, 1);
}

/**
 * @typedef {object} FrameSet
 * @property {number} hz
 * @property {number} every
 * @property {Frame[]} frames  ordered by tick, ticks unique
 */

/**
 * Check and read the document of GET …/replay/frames.
 * @param {any} doc
 * @returns {FrameSet}
 */
export function readFrames(doc) {
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.frames)) throw new Error('the replay frames are malformed');
  const hz = Number(doc.tick_hz) > 0 ? Number(doc.tick_hz) : 60;
  const every = Number(doc.every) >= 1 ? Number(doc.every) : 1;
  const n = (/** @type {any} */ v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  /** @type {Frame[]} */
  const frames = [];
  for (const f of doc.frames) {
    if (!f || typeof f !== 'object' || !Array.isArray(f.ball) || !Array.isArray(f.paddles)) continue;
    const tick = n(f.tick);
    if (frames.length && tick <= frames[frames.length - 1].tick) continue;
    frames.push({
      tick,
      ball: [n(f.ball[0]), n(f.ball[1]), n(f.ball[2]), n(f.ball[3])],
      paddles: [n(f.paddles[0]), n(f.paddles[1])],
      scores: Array.isArray(f.scores) ? [n(f.scores[0]), n(f.scores[1])] : [0, 0],
      serving_in: n(f.serving_in),
    });
  }
  if (!frames.length) throw new Error('the replay has no frames');
  return { hz, every, frames };
}

/**
 * @typedef {object} FrameSample
 * @property {[number,number]} ball  centre x, y
 * @property {[number,number]} paddles
 * @property {[number,number]} scores
 * @property {number} serving_in
 * @property {number} tick
 * @property {'frame'|'interpolated'|'held'} mode
 */

/**
 * Mirror `v` into [lo, hi] as a bouncing ball is (any number of bounces).
 * @param {number} v @param {number} lo @param {number} hi
 */
export function fold(v, lo, hi) {
  const span = hi - lo;
  if (span <= 0) return lo;
  const period = 2 * span;
  let r = (v - lo) % period;
  if (r < 0) r += period;
  return lo + (r > span ? period - r : r);
}

/**
 * The ball `dt` seconds from frame `f` along its velocity (negative `dt`: before it), bounced
 * off the top and bottom walls.
 * @param {Frame} f @param {number} dt @param {Geometry} g
 * @returns {[number, number]}
 */
function along(f, dt, g) {
  const half = g.ballSize / 2;
  return [f.ball[0] + f.ball[2] * dt, fold(f.ball[1] + f.ball[3] * dt, half, g.height - half)];
}

/**
 * The x of the paddle face the ball centre touches when it hits the paddle of the goal it was
 * moving towards with velocity `vx`.
 * @param {number} vx @param {Geometry} g
 */
function paddleFace(vx, g) {
  const reach = g.paddleWidth / 2 + g.ballSize / 2;
  return vx < 0 ? g.paddleX[0] + reach : g.paddleX[1] - reach;
}

/**
 * The game state at (fractional) tick `t`, from frames taken every N ticks. Exact at the
 * frames; between two frames the ball is carried forward from the first along its velocity and
 * back from the second along its own, each bounced off the walls, and the two are blended, so a
 * wall bounce is exact; across a paddle hit (the ball changed direction) the path runs from
 * the first frame to the paddle face and from there to the second. A serve starts from the centre at its tick; a point ends the ball at the
 * goal line and re-centres it (the score changes then). Paddles are linear between frames.
 * @param {Frame[]} frames  ordered by tick
 * @param {number} t
 * @param {number} hz
 * @param {Geometry} [g]
 * @returns {FrameSample}
 */
export function sampleFrames(frames, t, hz, g = PONG_GEOMETRY) {
  if (!frames.length) return { ball: [g.width / 2, g.height / 2], paddles: [g.height / 2, g.height / 2], scores: [0, 0], serving_in: 0, tick: t, mode: 'held' };
  const first = frames[0];
  const last = frames[frames.length - 1];
  if (t <= first.tick) return at(first, t, t === first.tick ? 'frame' : 'held');
  if (t >= last.tick) return at(last, t, t === last.tick ? 'frame' : 'held');
  let lo = 0;
  let hi = frames.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (frames[mid].tick <= t) lo = mid;
    else hi = mid;
  }
  let a = frames[lo];
  const b = frames[hi];
  if (t === a.tick) return at(a, t, 'frame');
  const k = (t - a.tick) / (b.tick - a.tick);
  const paddles = /** @type {[number,number]} */ ([lerp(a.paddles[0], b.paddles[0], k), lerp(a.paddles[1], b.paddles[1], k)]);
  const base = { paddles, tick: t, mode: /** @type {const} */ ('interpolated') };
  const resting = (/** @type {Frame} */ f) => f.ball[2] === 0 && f.ball[3] === 0;
  const scored = a.scores[0] !== b.scores[0] || a.scores[1] !== b.scores[1];
  if (scored) {
    // The ball runs to the goal line from `a`, then waits in the centre as in `b`.
    // (Served and scored between two frames far apart: the score changes halfway.)
    const vx = a.ball[2];
    const toGoal = vx === 0 ? ((b.tick - a.tick) / hz) / 2 : (vx < 0 ? -a.ball[0] / vx : (g.width - a.ball[0]) / vx);
    const dt = (t - a.tick) / hz;
    if (dt < toGoal) {
      return { ...base, ball: vx === 0 ? [a.ball[0], a.ball[1]] : along(a, dt, g), scores: [a.scores[0], a.scores[1]], serving_in: a.serving_in };
    }
    return { ...base, ball: [b.ball[0], b.ball[1]], scores: [b.scores[0], b.scores[1]], serving_in: b.serving_in };
  }
  if (resting(a)) {
    // Waiting for the serve: the ball leaves the centre at tick a + serving_in.
    const serve = a.tick + a.serving_in;
    if (resting(b) || t <= serve || serve >= b.tick) {
      return { ...base, ball: [a.ball[0], a.ball[1]], scores: [a.scores[0], a.scores[1]], serving_in: Math.max(0, serve - t) };
    }
    a = { ...a, tick: serve, serving_in: 0, ball: [a.ball[0], a.ball[1], b.ball[2], b.ball[3]] };
  }
  const scores = /** @type {[number,number]} */ ([a.scores[0], a.scores[1]]);
  const p = (/** @type {number} */ tt) => along(a, (tt - a.tick) / hz, g);
  const q = (/** @type {number} */ tt) => along(b, (tt - b.tick) / hz, g);
  if (a.ball[2] !== 0 && b.ball[2] !== 0 && Math.sign(a.ball[2]) !== Math.sign(b.ball[2])) {
    // A paddle hit: forward from `a` up to the hit, back from `b` after it. The hit tick is
    // where both reach the paddle face (averaged); the small gap between the two paths there
    // is spread over each side so that the path is continuous and exact at both frames.
    const face = paddleFace(a.ball[2], g);
    const ta = a.tick + ((face - a.ball[0]) / a.ball[2]) * hz;
    const tb = b.tick + ((face - b.ball[0]) / b.ball[2]) * hz;
    const th = Math.min(b.tick, Math.max(a.tick, (ta + tb) / 2));
    const ph = p(th);
    const qh = q(th);
    const mid = [(ph[0] + qh[0]) / 2, (ph[1] + qh[1]) / 2];
    if (t < th) {
      const w = (t - a.tick) / (th - a.tick);
      const x = p(t);
      return { ...base, ball: [x[0] + (mid[0] - ph[0]) * w, x[1] + (mid[1] - ph[1]) * w], scores, serving_in: 0 };
    }
    const w = th === b.tick ? 1 : (b.tick - t) / (b.tick - th);
    const x = q(t);
    return { ...base, ball: [x[0] + (mid[0] - qh[0]) * w, x[1] + (mid[1] - qh[1]) * w], scores, serving_in: 0 };
  }
  // Straight (or off the walls): blend the two carried paths, exact when nothing else happened.
  const kk = (t - a.tick) / (b.tick - a.tick);
  const pa = p(t);
  const qb = q(t);
  return { ...base, ball: [lerp(pa[0], qb[0], kk), lerp(pa[1], qb[1], kk)], scores, serving_in: 0 };
}

/** @param {number} a @param {number} b @param {number} k */
function lerp(a, b, k) {
  return a + (b - a) * k;
}

/** @param {Frame} f @param {number} t @param {FrameSample['mode']} mode @returns {FrameSample} */
function at(f, t, mode) {
  return {
    ball: [f.ball[0], f.ball[1]], paddles: [f.paddles[0], f.paddles[1]], scores: [f.scores[0], f.scores[1]],
    serving_in: f.serving_in, tick: t, mode,
  };
}

/**
 * Ticks at which a point was scored (for marks on the timeline).
 * @param {Frame[]} frames
 */
export function pointTicks(frames) {
  /** @type {number[]} */
  const out = [];
  for (let i = 1; i < frames.length; i++) {
    const a = frames[i - 1].scores;
    const b = frames[i].scores;
    if (a[0] !== b[0] || a[1] !== b[1]) out.push(frames[i].tick);
  }
  return out;
}
