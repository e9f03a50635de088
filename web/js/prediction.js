// Client-side prediction of the player's own paddle, reconciled with the server by acknowledged
// input sequence. Pure: ticks and times are arguments. Unit-tested in web/test/prediction.test.js.
//
// Model (mirrors src/game/pong): an input is an intent held until the next one. The room applies
// queued inputs at the start of a tick, then steps; a snapshot of tick T shows the paddle after
// step T and acks, per seat, the last input sequence applied. The paddle moves
// floor(speed·256/hz)/256 units per tick and stays inside the field.
//
// The client runs "in the present": the tick at which an input sent now will be applied
// (TickClock.present + 1). Each input remembers the tick it is predicted to apply at. The
// displayed paddle is the last authoritative position (snapshot tick T, acked intent) stepped
// forward tick by tick to the present, switching intent at each pending input's apply tick. When
// a snapshot arrives, the prediction for tick T is compared with the server's position: any
// difference above `epsilon` is a correction, counted (number, largest, sum) for tests and the
// debug overlay, and hidden on screen by a short exponential blend.

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
 * @property {number} applyTick  tick whose step it is predicted to affect first
 * @property {number} firstGuess  the apply tick predicted when it was sent
 */

/**
 * @typedef {object} PredictorOptions
 * @property {number} hz  room tick rate
 * @property {number} speed  paddle speed, units per second (joined.info.paddle.speed)
 * @property {number} height  paddle height, units
 * @property {number} fieldHeight  field height, units
 * @property {number} [epsilon]  differences up to this many units are rounding, not corrections
 * @property {number} [smoothMs]  time constant of the blend that hides corrections (0 = snap)
 * @property {number} [maxAheadTicks]  never predict further than this past the last snapshot
 */

export class PaddlePredictor {
  /** @param {PredictorOptions} o */
  constructor(o) {
    this.hz = o.hz;
    /** Paddle travel per tick, units, exactly as the server's integer step. */
    this.step = Math.max(1, Math.floor((o.speed * SUB) / o.hz)) / SUB;
    this.min = o.height / 2;
    this.max = o.fieldHeight - o.height / 2;
    this.epsilon = o.epsilon ?? 1;
    this.smoothMs = o.smoothMs ?? 60;
    this.maxAheadTicks = o.maxAheadTicks ?? Math.ceil(o.hz * 2);
    /** Last authoritative state: position after step `tick`, with the acked intent. */
    this.base = { tick: 0, y: o.fieldHeight / 2, intent: /** @type {Intent} */ ('stop'), ack: 0 };
    /** Whether a snapshot has set `base`. */
    this.synced = false;
    /** @type {PendingInput[]} sent, not yet acked, in sequence order */
    this.pending = [];
    this.nextSeq = 1;
    /** Learned correction (ticks) to the predicted apply tick; see `reconcile`. */
    this.bias = 0;
    /** Visual offset blending out the last corrections. */
    this.blend = { offset: 0, at: 0 };
    this.stats = {
      /** Snapshots reconciled. */
      reconciliations: 0,
      /** Reconciliations whose prediction for the snapshot tick was off by more than epsilon. */
      corrections: 0,
      /** Largest correction, units. */
      maxCorrection: 0,
      /** Sum of corrections, units. */
      totalCorrection: 0,
      /** Inputs sent. */
      inputs: 0,
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
   * The player asks for `intent` at the (fractional) present tick. Returns the input to send, or
   * null when it changes nothing.
   * @param {Intent} intent
   * @param {number} present  TickClock.present(now, rtt)
   * @param {boolean} [force]  send even when it changes nothing (to state the intent after a rejoin)
   * @returns {{seq:number, intent:Intent} | null}
   */
  press(intent, present, force = false) {
    if (intent === this.intent && !force) return null;
    const last = this.pending[this.pending.length - 1];
    const guess = Math.floor(present + this.bias) + 1;
    const applyTick = Math.max(guess, this.base.tick + 1, last ? last.applyTick : 0);
    const seq = this.nextSeq++;
    this.pending.push({ seq, intent, applyTick, firstGuess: applyTick });
    this.stats.inputs++;
    return { seq, intent };
  }

  /**
   * The intent that drives step `k`.
   * @param {number} k
   */
  intentAt(k) {
    let intent = this.base.intent;
    for (const p of this.pending) {
      if (p.applyTick <= k) intent = p.intent;
      else break;
    }
    return intent;
  }

  /**
   * Predicted paddle centre after (fractional) tick `t`.
   * @param {number} t
   */
  yAt(t) {
    const b = this.base;
    if (t <= b.tick) return b.y;
    const end = Math.min(t, b.tick + this.maxAheadTicks);
    const whole = Math.floor(end);
    let y = b.y;
    for (let k = b.tick + 1; k <= whole; k++) y = this.clamp(y + dir(this.intentAt(k)) * this.step);
    const frac = end - whole;
    if (frac > 0) y = this.clamp(y + dir(this.intentAt(whole + 1)) * this.step * frac);
    return y;
  }

  /**
   * What to draw: the prediction at the present plus the fading correction blend.
   * @param {number} present
   * @param {number} now  local ms
   */
  displayY(present, now) {
    return this.clamp(this.yAt(present) + this.blendOffset(now));
  }

  /** @param {number} now */
  blendOffset(now) {
    if (!this.smoothMs || this.blend.offset === 0) return 0;
    const k = Math.exp(-(now - this.blend.at) / this.smoothMs);
    return Math.abs(this.blend.offset * k) < 0.5 ? 0 : this.blend.offset * k;
  }

  /**
   * A snapshot of tick `tick` says the paddle is at `y` and the last applied input is `ack`.
   * Returns the correction in units (0 when the prediction was right).
   * @param {number} tick
   * @param {number} y
   * @param {number} ack
   * @param {{present?:number, now?:number}} [at]  when given, a correction is blended out on screen
   */
  reconcile(tick, y, ack, at = {}) {
    const s = this.stats;
    if (this.synced && tick < this.base.tick) return 0; // reordered or stale: ignore
    s.reconciliations++;
    let error = 0;
    if (this.synced) {
      const before = at.present !== undefined ? this.displayY(at.present, at.now ?? 0) : 0;
      error = y - this.yAt(tick);
      const prevTick = this.base.tick;
      let intent = this.base.intent;
      const stillPending = [];
      for (const p of this.pending) {
        if (p.seq <= ack) {
          intent = p.intent;
          // Applied in (prevTick, tick]; when snapshots are consecutive that is exactly `tick`.
          if (tick - prevTick === 1) {
            // Learn from the first guess: later re-timings (settlePending) would hide late misses.
            const miss = tick - p.firstGuess;
            this.bias = Math.max(-this.hz / 4, Math.min(this.hz / 4, this.bias + 0.2 * miss));
          }
        } else {
          stillPending.push(p);
        }
      }
      this.pending = stillPending;
      this.base = { tick, y, intent, ack: Math.max(ack, this.base.ack) };
      this.settlePending(tick);
      if (Math.abs(error) > this.epsilon) {
        s.corrections++;
        s.totalCorrection += Math.abs(error);
        s.maxCorrection = Math.max(s.maxCorrection, Math.abs(error));
        if (at.present !== undefined && this.smoothMs) {
          const after = this.yAt(at.present);
          this.blend = { offset: before - after, at: at.now ?? 0 };
          // Never hide more than two paddle heights: a bigger jump is shown as it is.
          if (Math.abs(this.blend.offset) > 2 * (this.max - this.min)) this.blend.offset = 0;
        }
      } else {
        error = 0;
      }
    } else {
      // First snapshot: adopt it. Inputs the server has applied are gone; the intent of the
      // newest applied one is unknown here, so assume the newest acked pending or stop.
      let intent = /** @type {Intent} */ ('stop');
      this.pending = this.pending.filter((p) => {
        if (p.seq <= ack) { intent = p.intent; return false; }
        return true;
      });
      this.base = { tick, y, intent, ack };
      this.synced = true;
      this.seqFloor(ack);
      this.settlePending(tick);
    }
    return error;
  }

  /**
   * Pending inputs not applied by `tick` apply at `tick + 1` at the earliest; an input the server
   * never acks (it refused a stale sequence, or dropped it) is forgotten after two seconds.
   * @param {number} tick
   */
  settlePending(tick) {
    const keep = [];
    let floor = tick + 1;
    for (const p of this.pending) {
      if (tick - p.firstGuess > this.hz * 2) { this.stats.lost++; continue; }
      p.applyTick = Math.max(p.applyTick, floor);
      floor = p.applyTick;
      keep.push(p);
    }
    this.pending = keep;
  }

  /**
   * While the room is not playing (countdown, pause) the game does not step: pending inputs will
   * be applied at the first tick after `tick`, and nothing moves until then.
   * @param {number} tick
   * @param {number} y
   */
  hold(tick, y) {
    this.base = { ...this.base, tick, y };
    this.synced = true;
    for (const p of this.pending) p.applyTick = tick + 1;
    this.blend = { offset: 0, at: 0 };
  }
}
