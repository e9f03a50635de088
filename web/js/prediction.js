// Client-side prediction of the player's own paddle, reconciled with the server through the
// ticks the server acknowledges. Pure: ticks and times are arguments. Unit-tested in
// web/test/prediction.test.js.
//
// Model (mirrors src/game/pong and src/room): an input is an intent held until the next one. Each
// input is stamped with the tick it is for (`input.tick`, docs/protocol.md §9): the room applies
// it at the start of that tick when it arrives in time, at the next tick otherwise, and every
// snapshot tells (`acks`, `ack_ticks`) which input took effect at which tick. A snapshot of tick T
// shows the paddle after step T; the paddle moves floor(speed·256/hz)/256 units per tick and stays
// inside the field.
//
// The own paddle is shown on the player's timeline: the (fractional) tick at which an input sent
// now would arrive at the server (`present`, see clock.js). A press at present P is stamped
// floor(P) + 1. The predicted paddle is the server's position at the last tick both timelines
// agree on, stepped forward with the player's own intents at their stamped ticks — an input whose
// stamped tick the server has already simulated without it (it is late, or its ack is still on the
// way) is still shown as if it had been applied on time, so a stalled input never freezes the
// paddle; when its ack reveals a later tick, that difference is a real disagreement.
//
// What is drawn never jumps: every discontinuity of the prediction (a correction when a snapshot
// arrives, the sub-tick shift of a press or release) goes into a visual offset that is worked off
// at a bounded speed per frame (`OffsetSmoother`), fast for small offsets, and at most
// `maxStepFrac` of the paddle height per frame for large ones (a real disagreement converges in
// ~100 ms for up to half a paddle, longer beyond, but never as a visible jump).

/** @typedef {import('./protocol.js').Intent} Intent */

/** Sub-units per field unit in the server's integer physics (game::pong::SUB). */
export const SUB = 256;

/** @param {Intent} intent */
function dir(intent) {
  return intent === 'up' ? -1 : intent === 'down' ? 1 : 0;
}

/**
 * @typedef {object} PendingInput
 * @property {number} seq
 * @property {Intent} intent
 * @property {number} tick  the tick it is stamped for (sent as `input.tick`)
 */

/**
 * @typedef {object} PredictorOptions
 * @property {number} hz  room tick rate
 * @property {number} speed  paddle speed, units per second (joined.info.paddle.speed)
 * @property {number} height  paddle height, units
 * @property {number} fieldHeight  field height, units
 * @property {number} [epsilon]  differences up to this many units are rounding, not corrections
 * @property {number} [maxAheadTicks]  never predict further than this past the last snapshot
 */

/** Correction size buckets (units) counted in `stats.correctionsBySize`. */
export const CORRECTION_BUCKETS = [50, 200, 600];

/**
 * Visual offset between what is drawn and the prediction, worked off at a bounded speed.
 */
export class OffsetSmoother {
  /**
   * @param {{height:number, speed:number, tauMs?:number, maxStepFrac?:number}} o
   *   height: paddle height (units); speed: paddle speed (units/s)
   */
  constructor(o) {
    /** Time constant of the exponential part, ms. */
    this.tauMs = o.tauMs ?? 35;
    /** Largest decay in one frame, units, whatever the frame time (a slow frame must not jump). */
    this.maxStep = (o.maxStepFrac ?? 0.065) * o.height;
    /** Smallest decay speed, units per ms: small offsets vanish within a frame or two. */
    this.minRate = o.speed / 2000;
    this.offset = 0;
  }

  /** @param {number} delta  added to the offset (before − after of a discontinuity) */
  add(delta) {
    this.offset += delta;
  }

  /**
   * Advance by one frame of `dtMs`; returns how much the offset changed (units, ≥ 0). `motion` is
   * how far the prediction itself moved this frame (signed): working the offset off never takes
   * more than half of it back, so a press always shows in its direction on the next frame.
   * @param {number} dtMs
   * @param {number} [motion]
   */
  frame(dtMs, motion = 0) {
    const a = Math.abs(this.offset);
    if (a === 0) return 0;
    const dt = Math.max(0, Math.min(dtMs, 100));
    const want = Math.max(a * (1 - Math.exp(-dt / this.tauMs)), this.minRate * dt);
    // Working the offset off moves what is drawn by −sign(offset).
    const against = motion !== 0 && -Math.sign(this.offset) !== Math.sign(motion);
    const d = Math.min(a, want, this.maxStep, against ? Math.abs(motion) / 2 : Infinity);
    this.offset -= Math.sign(this.offset) * d;
    if (Math.abs(this.offset) < 0.5) this.offset = 0;
    return d;
  }

  reset() {
    this.offset = 0;
  }
}

export class PaddlePredictor {
  /** @param {PredictorOptions} o */
  constructor(o) {
    this.hz = o.hz;
    /** Paddle travel per tick, units, exactly as the server's integer step. */
    this.step = Math.max(1, Math.floor((o.speed * SUB) / o.hz)) / SUB;
    this.min = o.height / 2;
    this.max = o.fieldHeight - o.height / 2;
    this.epsilon = o.epsilon ?? 1;
    this.maxAheadTicks = o.maxAheadTicks ?? Math.ceil(o.hz * 2);
    /** Last authoritative state: position after step `tick`, with the acked intent. */
    this.base = { tick: 0, y: o.fieldHeight / 2, intent: /** @type {Intent} */ ('stop'), ack: 0, ackTick: 0 };
    /** Whether a snapshot has set `base`. */
    this.synced = false;
    /** @type {PendingInput[]} sent, not yet acked, in sequence order */
    this.pending = [];
    this.nextSeq = 1;
    /** @type {Map<number, number>} server paddle position by tick (the last two seconds) */
    this.history = new Map();
    this.stats = {
      /** Snapshots reconciled. */
      reconciliations: 0,
      /** Reconciliations whose prediction for the snapshot tick was off by more than epsilon. */
      corrections: 0,
      /** Largest correction, units. */
      maxCorrection: 0,
      /** Sum of corrections, units. */
      totalCorrection: 0,
      /** Corrections by size: < 50, < 200, < 600, ≥ 600 units. */
      correctionsBySize: [0, 0, 0, 0],
      /** Inputs sent. */
      inputs: 0,
      /** Acked inputs the server applied later than their stamped tick. */
      lateInputs: 0,
      /** Largest lateness of an acked input, ticks. */
      maxLateTicks: 0,
      /** Inputs dropped because the server never acked them. */
      lost: 0,
    };
  }

  /** @param {number} y */
  clamp(y) {
    return Math.min(this.max, Math.max(this.min, y));
  }

  /**
   * Inputs must have strictly increasing sequence numbers for the seat, across reconnects: after
   * (re)joining, start above the server's ack.
   * @param {number} ack
   */
  seqFloor(ack) {
    if (ack + 1 > this.nextSeq) this.nextSeq = ack + 1;
  }

  /** The intent the paddle will hold once every sent input is applied. */
  get intent() {
    return this.pending.length ? this.pending[this.pending.length - 1].intent : this.base.intent;
  }

  /**
   * The player asks for `intent` at the (fractional) present tick. Returns the input to send
   * (with the tick it is for), or null when it changes nothing.
   * @param {Intent} intent
   * @param {number} present  the player's timeline (GameView.present)
   * @param {boolean} [force]  send even when it changes nothing (to state the intent after a rejoin)
   * @returns {{seq:number, intent:Intent, tick:number} | null}
   */
  press(intent, present, force = false) {
    if (intent === this.intent && !force) return null;
    const last = this.pending[this.pending.length - 1];
    const tick = Math.max(Math.floor(present) + 1, last ? last.tick : 0);
    const seq = this.nextSeq++;
    this.pending.push({ seq, intent, tick });
    this.stats.inputs++;
    return { seq, intent, tick };
  }

  /**
   * The intent that drives step `k` on the player's timeline.
   * @param {number} k
   */
  intentAt(k) {
    let intent = this.base.intent;
    for (const p of this.pending) {
      if (p.tick <= k) intent = p.intent;
      else break;
    }
    return intent;
  }

  /**
   * Where the prediction starts: the server's position after tick `from − 1`. Normally the last
   * snapshot; when an unacked input is stamped at or before it (late, or its ack is on the way),
   * the server's position just before that stamp, so the input is shown as applied on time.
   * @returns {{from:number, y:number}}
   */
  anchor() {
    const b = this.base;
    const first = this.pending[0];
    if (first && first.tick <= b.tick) {
      const y = this.history.get(first.tick - 1);
      if (y !== undefined) return { from: first.tick, y };
    }
    return { from: b.tick + 1, y: b.y };
  }

  /**
   * Predicted paddle centre after (fractional) tick `t`.
   * @param {number} t
   */
  yAt(t) {
    const { from, y: y0 } = this.anchor();
    if (t < from - 1) return this.pastY(t, from - 1, y0);
    const end = Math.min(t, this.base.tick + this.maxAheadTicks);
    const whole = Math.floor(end);
    let y = y0;
    for (let k = from; k <= whole; k++) y = this.clamp(y + dir(this.intentAt(k)) * this.step);
    const frac = end - whole;
    if (frac > 0 && whole + 1 >= from) y = this.clamp(y + dir(this.intentAt(whole + 1)) * this.step * frac);
    return y;
  }

  /**
   * The server's position at a (fractional) tick `t` before the anchor tick `anchorTick` (where
   * it is `anchorY`): between the two known ticks around `t`, the motion of the ticks between them
   * spread evenly — as `yAt` spreads a predicted tick's motion over it — so the curve has no step
   * where a snapshot moves the anchor past the shown tick.
   * @param {number} t
   * @param {number} anchorTick
   * @param {number} anchorY
   */
  pastY(t, anchorTick, anchorY) {
    let lo = -Infinity;
    let loY = anchorY;
    let hi = anchorTick;
    let hiY = anchorY;
    for (const [k, y] of this.history) {
      if (k <= t) {
        if (k > lo) { lo = k; loY = y; }
      } else if (k < hi) {
        hi = k;
        hiY = y;
      }
    }
    if (!Number.isFinite(lo)) return hiY;
    return hi === lo ? loY : loY + ((hiY - loY) * (t - lo)) / (hi - lo);
  }

  /**
   * A snapshot of tick `tick` says the paddle is at `y`, the last applied input is `ack`, which
   * took effect at `ackTick` (0: unknown, an older server). Returns the correction in units: how
   * much the prediction at tick `at` (the tick shown; by default the tick after the snapshot and
   * every stamped input) moved because of this snapshot — 0 when the server did what was
   * predicted, including an input whose ack is merely still on its way.
   * @param {number} tick
   * @param {number} y
   * @param {number} ack
   * @param {number} [ackTick]
   * @param {number} [at]
   */
  reconcile(tick, y, ack, ackTick = 0, at = undefined) {
    const s = this.stats;
    if (this.synced && tick < this.base.tick) return 0; // reordered or stale: ignore
    s.reconciliations++;
    this.history.set(tick, y);
    if (this.history.size > this.hz * 2) {
      for (const k of this.history.keys()) {
        if (k < tick - this.hz * 2) this.history.delete(k);
        else break;
      }
    }
    const lastStamp = this.pending.length ? this.pending[this.pending.length - 1].tick : 0;
    const probe = at ?? Math.max(tick, lastStamp) + 1;
    const before = this.synced ? this.yAt(probe) : 0;
    let intent = this.synced ? this.base.intent : /** @type {Intent} */ ('stop');
    const stillPending = [];
    for (const p of this.pending) {
      if (p.seq <= ack) {
        intent = p.intent;
        if (p.seq === ack && ackTick > p.tick) {
          s.lateInputs++;
          s.maxLateTicks = Math.max(s.maxLateTicks, ackTick - p.tick);
        }
      } else if (tick - p.tick > this.hz * 2) {
        s.lost++; // never acked (refused as stale, or dropped): forget it
      } else {
        stillPending.push(p);
      }
    }
    this.pending = stillPending;
    this.base = { tick, y, intent, ack: Math.max(ack, this.base.ack), ackTick };
    let error = 0;
    if (!this.synced) {
      this.synced = true;
      this.seqFloor(ack);
    } else {
      error = this.yAt(probe) - before;
      if (Math.abs(error) <= this.epsilon) error = 0;
    }
    if (error !== 0) {
      const a = Math.abs(error);
      s.corrections++;
      s.totalCorrection += a;
      s.maxCorrection = Math.max(s.maxCorrection, a);
      let b = 0;
      while (b < CORRECTION_BUCKETS.length && a >= CORRECTION_BUCKETS[b]) b++;
      s.correctionsBySize[b]++;
    }
    return error;
  }

  /**
   * While the room is not playing (countdown, pause) the game does not step: nothing moves, and
   * inputs sent now are stamped for the first playing tick (the server holds them until then).
   * @param {number} tick
   * @param {number} y
   */
  hold(tick, y) {
    this.base = { ...this.base, tick, y };
    this.synced = true;
    this.history.clear();
    this.history.set(tick, y);
    for (const p of this.pending) p.tick = Math.max(p.tick, tick + 1);
  }
}
