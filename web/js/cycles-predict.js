// Prediction of the player's own light cycle, reconciled with the snapshots through the ticks the
// server acknowledges (docs/protocol.md §9). Pure: ticks are arguments. Unit-tested in
// web/test/cycles-predict.test.js.
//
// Model (docs/protocol.md §10a, src/game/cycles.rs): a turn ("left"/"right") is an event. The
// room applies it at the start of the tick it is stamped for (`input.tick`) when it arrives in
// time, else at the next tick, and queues it for the seat; every move (one every `move_every`
// ticks once the round's delay is over) consumes at most one queued turn, then moves one cell.
// So the turn applied at tick A_i is consumed by the move
//     C_i = max(first move ≥ A_i, C_{i−1} + move_every)
// — the queue is first in, first out. The client knows A_i exactly once the input is acked
// (`ack_ticks`), and until then it is the stamped tick (or, for an input the snapshot shows
// was not applied on time, the tick after that snapshot). The predicted cycle is the server's
// head of the last snapshot, moved cell by cell at the move ticks after it, turning at each
// C_i, up to the tick shown (the player's timeline): a key press shows at the very next move,
// and a snapshot that disagrees (a late turn) is a correction of a cell or two.

import { DIRS, RIDING, turn as turned } from './cycles-state.js';

/** @typedef {import('./cycles-state.js').CyclesState} CyclesState */
/** @typedef {import('./cycles-state.js').Cell} Cell */

/**
 * The direction of a one-cell step, or null.
 * @param {number} dx @param {number} dy
 */
function dirOf(dx, dy) {
  const i = DIRS.findIndex(([x, y]) => x === dx && y === dy);
  return i < 0 ? null : i;
}

/** Most turns queued per seat on the server (a fourth is refused with `invalid_input`). */
export const MAX_QUEUED_TURNS = 3;

/**
 * @typedef {object} Turn
 * @property {number} seq
 * @property {'left'|'right'} turn
 * @property {number} stamp  the tick it was sent for
 * @property {number|null} at  the tick the server applied it at (null: not acked yet)
 * @property {number} consume  the move tick that consumes it (computed; Infinity: unknown)
 */

/**
 * @typedef {object} Path
 * @property {Cell[]} cells  predicted cells after the snapshot, with their move ticks
 * @property {number} x  head cell at the tick asked
 * @property {number} y
 * @property {number} dir  heading at the tick asked
 * @property {number} nextDir  heading the next move will take (the turn pressed shows here at once)
 * @property {number|null} nextTick  the next move after the tick asked (null: unknown)
 * @property {{x:number, y:number}|null} next  the cell of that move (null: a crash or unknown)
 * @property {number|null} lastTick  tick of the move that reached (x, y) (null: before the snapshot's)
 * @property {boolean} riding
 */

export class TurnPredictor {
  /** @param {{moveEvery:number, hz:number, seat?:number, maxQueued?:number, maxAheadTicks?:number}} o */
  constructor(o) {
    this.every = o.moveEvery;
    /** The own seat (its cells after the snapshot's tick do not block the path predicted from it). */
    this.seat = o.seat ?? 0;
    this.hz = o.hz;
    this.maxQueued = o.maxQueued ?? MAX_QUEUED_TURNS;
    /** Never predict further than this past the last snapshot (ticks). */
    this.maxAheadTicks = o.maxAheadTicks ?? o.hz * 2;
    /** @type {Turn[]} turns of this round not yet reflected in `base` */
    this.turns = [];
    /** The consumption tick of the last turn dropped (reflected in `base`). */
    this.floor = -Infinity;
    /** The server's own cycle at the last snapshot. @type {{tick:number, x:number, y:number, dir:number, status:number, round:number}|null} */
    this.base = null;
    this.nextSeq = 1;
    this.lastAck = 0;
    this.stats = {
      /** Turns sent. */
      inputs: 0,
      /** Turns not sent because the server's queue would be full. */
      refusedLocally: 0,
      /** Snapshots reconciled. */
      reconciliations: 0,
      /** Reconciliations that moved the predicted head at the shown tick. */
      corrections: 0,
      /** Largest such move, cells. */
      maxCorrection: 0,
      /** Acked turns applied later than their stamped tick, and the largest lateness (ticks). */
      lateInputs: 0,
      maxLateTicks: 0,
      /** Turns never acked within 2 s (dropped), forgotten. */
      lost: 0,
      /** Turns the server refused (`invalid_input`). */
      refused: 0,
    };
  }

  /**
   * Sequence numbers increase strictly per seat, across reconnects: start above the ack.
   * @param {number} ack
   */
  seqFloor(ack) {
    if (ack + 1 > this.nextSeq) this.nextSeq = ack + 1;
  }

  /**
   * The consumption tick of every turn kept (FIFO, one per move).
   * @param {CyclesState} st
   */
  schedule(st) {
    let prev = this.floor;
    const after = this.base ? this.base.tick + 1 : 0;
    for (const t of this.turns) {
      // Not acked by the snapshot of base.tick: not applied by then (it is late).
      const at = t.at ?? Math.max(t.stamp, after);
      const m = st.nextMove(at, this.every);
      t.consume = m === null ? Infinity : Math.max(m, prev + this.every);
      prev = t.consume;
    }
  }

  /**
   * The player turns at the (fractional) present tick. Returns the input to send, or null when
   * the server would refuse it (its queue for the seat is full, or the cycle is not riding).
   * @param {'left'|'right'} t
   * @param {number} present
   * @param {CyclesState} st
   * @returns {{seq:number, input:'left'|'right', tick:number}|null}
   */
  press(t, present, st) {
    if (this.base && this.base.status !== RIDING) return null;
    const last = this.turns[this.turns.length - 1];
    const stamp = Math.max(Math.floor(present) + 1, last ? last.stamp : 0);
    this.schedule(st);
    // Queued on the server when this one is applied: those applied by then, not yet consumed.
    const queued = this.turns.filter((x) => x.consume >= stamp).length;
    if (queued >= this.maxQueued) {
      this.stats.refusedLocally++;
      return null;
    }
    const seq = this.nextSeq++;
    this.turns.push({ seq, turn: t, stamp, at: null, consume: Infinity });
    this.stats.inputs++;
    return { seq, input: t, tick: stamp };
  }

  /**
   * While the room does not tick (countdown, pause) turns are held by the server for the first
   * playing tick: re-stamp them after `tick`.
   * @param {number} tick
   */
  hold(tick) {
    for (const t of this.turns) if (t.at === null) t.stamp = Math.max(t.stamp, tick + 1);
  }

  /**
   * A snapshot of `tick` shows the own cycle `head` ([x, y, dir]) with `status`; the last applied
   * input is `ack`, applied at `ackTick` (0: unknown). Returns how far (cells) the predicted head
   * at tick `at` moved because of it: 0 when the server did what was predicted.
   * @param {number} tick
   * @param {number[]} head
   * @param {number} status
   * @param {number} round
   * @param {number} ack
   * @param {number} ackTick
   * @param {CyclesState} st  already holding this snapshot
   * @param {number} [at]  the tick shown (default: one move after the snapshot)
   */
  reconcile(tick, head, status, round, ack, ackTick, st, at) {
    const s = this.stats;
    if (this.base && tick < this.base.tick) return 0;
    s.reconciliations++;
    const probe = at ?? tick + this.every;
    const before = this.base && this.base.round === round ? this.path(probe, st) : null;
    const newRound = !!this.base && this.base.round !== round;
    const prevTick = this.base ? this.base.tick : 0;
    for (const t of this.turns) {
      if (t.seq > ack || t.at !== null) continue;
      if (t.seq === ack && ackTick > 0) t.at = ackTick;
      else t.at = Math.min(Math.max(t.stamp, prevTick + 1), ackTick > 0 ? ackTick : Infinity);
      if (t.at > t.stamp) {
        s.lateInputs++;
        s.maxLateTicks = Math.max(s.maxLateTicks, t.at - t.stamp);
      }
    }
    if (newRound) {
      // The server empties the queue at each round start (this snapshot's tick, the first of
      // the round): turns applied by then are gone; those applied later belong to this round.
      this.turns = this.turns.filter((t) => t.at === null || t.at > tick);
      this.floor = -Infinity;
    }
    this.lastAck = Math.max(this.lastAck, ack);
    this.seqFloor(ack);
    this.base = { tick, x: head[0], y: head[1], dir: head[2], status, round };
    this.schedule(st);
    // Turns the snapshot already reflects leave; so do turns never acked (refused or lost).
    const kept = [];
    for (const t of this.turns) {
      if (t.at !== null && t.consume <= tick) {
        this.floor = t.consume;
      } else if (t.at === null && tick - t.stamp > this.hz * 2) {
        s.lost++;
      } else {
        kept.push(t);
      }
    }
    this.turns = kept;
    if (status !== RIDING) {
      // Crashed or out: nothing to predict. Turns not applied yet stay: stamped after the next
      // round's start they are applied there; refused, the server says so (`refused`).
      this.turns = this.turns.filter((t) => t.at === null);
      return 0;
    }
    if (!before) return 0;
    const after = this.path(probe, st);
    const err = Math.abs(after.x - before.x) + Math.abs(after.y - before.y);
    if (err > 0) {
      s.corrections++;
      s.maxCorrection = Math.max(s.maxCorrection, err);
    }
    return err;
  }

  /**
   * The predicted own cycle at (fractional) tick `t`: the snapshot's head moved at every move
   * tick after it up to `t`, turning where a turn is consumed, stopping before a wall or a trail
   * (the server decides the crash).
   * @param {number} t
   * @param {CyclesState} st
   * @returns {Path}
   */
  path(t, st) {
    const b = this.base;
    if (!b) return { cells: [], x: 0, y: 0, dir: 0, nextDir: 0, nextTick: null, next: null, lastTick: null, riding: false };
    if (t < b.tick) {
      // Before the snapshot: where the server's trail says the cycle was (the shown tick can be a
      // little behind a snapshot that just arrived; that is no correction).
      const past = this.pastPath(t, st);
      if (past) return past;
    }
    this.schedule(st);
    let x = b.x;
    let y = b.y;
    let dir = b.dir;
    /** @type {Cell[]} */
    const cells = [];
    const riding = b.status === RIDING;
    let m = riding ? st.nextMove(b.tick + 1, this.every) : null;
    let lastTick = /** @type {number|null} */ (null);
    const end = Math.min(t, b.tick + this.maxAheadTicks);
    const own = new Set();
    const free = (/** @type {number} */ nx, /** @type {number} */ ny) => !st.blockedFor(nx, ny, this.seat, b.tick) && !own.has(ny * st.width + nx);
    let crashed = false;
    let ti = 0;
    const turnAt = (/** @type {number} */ tick, /** @type {number} */ d) => {
      while (ti < this.turns.length && this.turns[ti].consume < tick) ti++;
      let out = d;
      if (ti < this.turns.length && this.turns[ti].consume === tick) out = turned(d, this.turns[ti].turn);
      return out;
    };
    while (m !== null && m <= end) {
      const d = turnAt(m, dir);
      const nx = x + DIRS[d][0];
      const ny = y + DIRS[d][1];
      if (!free(nx, ny)) { crashed = true; break; }
      dir = d;
      x = nx;
      y = ny;
      own.add(y * st.width + x);
      cells.push({ x, y, tick: m });
      lastTick = m;
      m += this.every;
    }
    let nextDir = dir;
    /** @type {{x:number, y:number}|null} */
    let next = null;
    if (riding && !crashed && m !== null) {
      nextDir = turnAt(m, dir);
      const nx = x + DIRS[nextDir][0];
      const ny = y + DIRS[nextDir][1];
      if (free(nx, ny)) next = { x: nx, y: ny };
    }
    return { cells, x, y, dir, nextDir, nextTick: crashed ? null : m, next, lastTick, riding: riding && !crashed };
  }

  /**
   * The own cycle at tick `t` from the trail cells the server confirmed after `t` (null when
   * there are none).
   * @param {number} t
   * @param {CyclesState} st
   * @returns {Path|null}
   */
  pastPath(t, st) {
    const trail = st.trails[this.seat] || [];
    let n = trail.length;
    while (n > 0 && trail[n - 1].tick > t) n--;
    if (n === 0 || n === trail.length) return null;
    const c = trail[n - 1];
    const nx = trail[n];
    const toward = dirOf(nx.x - c.x, nx.y - c.y);
    const prev = n >= 2 ? trail[n - 2] : null;
    const dir = prev ? dirOf(c.x - prev.x, c.y - prev.y) : toward;
    return {
      cells: [], x: c.x, y: c.y, dir: dir ?? 0, nextDir: toward ?? 0, nextTick: nx.tick, next: { x: nx.x, y: nx.y },
      lastTick: Number.isFinite(c.tick) ? c.tick : null, riding: true,
    };
  }

  /**
   * The server refused an input (`invalid_input`: the cycle had crashed, or its queue was full
   * after all): inputs are applied in sequence order, so it is the oldest not yet acked. It is
   * never acked; forget it.
   */
  refused() {
    const i = this.turns.findIndex((t) => t.at === null);
    if (i >= 0) this.turns.splice(i, 1);
    this.stats.refused++;
  }

  /** Turns sent whose move has not come yet at tick `t` (shown as queued arrows). @param {number} t @param {CyclesState} st */
  queuedAt(t, st) {
    this.schedule(st);
    return this.turns.filter((x) => x.consume > t).map((x) => x.turn);
  }
}
