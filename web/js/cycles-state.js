// Light cycles ("cycles", docs/protocol.md §10a): the client's copy of the game state, built
// from full and delta snapshots exactly as the protocol says. Pure: no DOM. Unit-tested in
// web/test/cycles-state.test.js.
//
// A full snapshot (`full: true`) replaces everything. A delta (`full: false`) carries the trail
// cells added after tick `since`; it is applied only when this copy holds the state of tick
// `since` (and the same round). A delta the copy cannot apply (it missed one, or it is of another
// round) leaves the copy unsynced until the next full snapshot: the server sends one at the
// start of every round, every 300 ticks, and to a client alone when it joins, rejoins or starts
// spectating. Every trail cell remembers the tick it was added at (when known), so a view can
// draw the trails as they were at any tick it renders (others are drawn a little in the past).

/** Directions by number: 0 up (−y), 1 right (+x), 2 down (+y), 3 left (−x). */
export const DIRS = /** @type {readonly (readonly [number, number])[]} */ (Object.freeze([[0, -1], [1, 0], [0, 1], [-1, 0]]));

/** `status[seat]`: riding, crashed this round, out of the match (left or forfeited). */
export const RIDING = 0;
export const CRASHED = 1;
export const OUT = 2;

/** The turns a player can send (inputs are events: each is applied once). */
export const TURNS = Object.freeze(['left', 'right']);

/**
 * The heading after a relative turn.
 * @param {number} dir
 * @param {'left'|'right'|string} t
 */
export function turn(dir, t) {
  return t === 'left' ? (dir + 3) % 4 : t === 'right' ? (dir + 1) % 4 : dir;
}

/**
 * A trail cell, with the tick it was added at (−Infinity: before the full snapshot it came in,
 * exact tick unknown).
 * @typedef {{x:number, y:number, tick:number}} Cell
 */

/**
 * The game's description from `joined.info`, with the protocol's defaults.
 * @typedef {object} CyclesInfo
 * @property {number} seats
 * @property {number} width
 * @property {number} height
 * @property {number} moveEvery  ticks per cell
 * @property {number} roundsToWin
 * @property {number} roundDelayMs
 * @property {number} hz
 * @property {number} maxQueuedTurns  turns the server queues per seat (a further one is refused)
 */

/**
 * Read `joined.info` of a cycles room.
 * @param {any} info
 * @param {number} [hz]
 * @returns {CyclesInfo}
 */
export function readInfo(info, hz) {
  const i = info || {};
  const int = (/** @type {any} */ v, /** @type {number} */ d, /** @type {number} */ lo, /** @type {number} */ hi) => (Number.isInteger(v) && v >= lo && v <= hi ? v : d);
  return {
    seats: int(i.seats, 4, 2, 8),
    width: int(i.width, 64, 1, 1024),
    height: int(i.height, 48, 1, 1024),
    moveEvery: int(i.move_every, 4, 1, 1000),
    roundsToWin: int(i.rounds_to_win, 3, 1, 100),
    roundDelayMs: int(i.round_delay_ms, 2000, 0, 600000),
    hz: int(hz ?? i.tick_hz, 60, 1, 1000),
    maxQueuedTurns: int(i.max_queued_turns, 3, 1, 100),
  };
}

/** @param {unknown} v */
const isInt = (v) => typeof v === 'number' && Number.isInteger(v);

/**
 * Whether `s` has the shape of a cycles `snapshot.state` (full or delta); used by the decoder.
 * @param {any} s
 */
export function isCyclesState(s) {
  if (!s || typeof s !== 'object' || !isInt(s.tick) || typeof s.full !== 'boolean') return false;
  if (!Array.isArray(s.scores) || !s.scores.every(isInt) || !Array.isArray(s.status) || !s.status.every(isInt)) return false;
  // A seat without a cycle this round (out before it started) has a null head.
  if (!Array.isArray(s.heads) || !s.heads.every((/** @type {any} */ h) => h === null || (Array.isArray(h) && h.length === 3 && h.every(isInt)))) return false;
  if (s.full) return Array.isArray(s.trails) && s.trails.every((/** @type {any} */ t) => Array.isArray(t) && t.length % 2 === 0 && t.every(isInt));
  return isInt(s.since) && Array.isArray(s.cells) && s.cells.length % 3 === 0 && s.cells.every(isInt);
}

/**
 * What `CyclesState.apply` did with a snapshot state.
 * @typedef {'full'|'delta'|'stale'|'waiting'} ApplyResult
 *   full: replaced everything; delta: applied; stale: older than what is held, ignored;
 *   waiting: a delta that could not be applied, the copy waits for the next full snapshot
 */

export class CyclesState {
  /** @param {{seats:number, width:number, height:number}} o */
  constructor(o) {
    this.seats = o.seats;
    this.width = o.width;
    this.height = o.height;
    /** Whether the copy holds the state of `tick` (false before the first full, and after a missed delta). */
    this.synced = false;
    /** The tick whose state is held (−1 before any). */
    this.tick = -1;
    this.round = 0;
    /** Ticks until the cycles move this round (0 once they move). */
    this.startsIn = 0;
    /** @type {number[]} */ this.scores = new Array(o.seats).fill(0);
    /** @type {number[]} */ this.status = new Array(o.seats).fill(RIDING);
    /** @type {([number, number, number]|null)[]} x, y, heading by seat (null: no cycle this round) */ this.heads = [];
    /** @type {Cell[][]} each seat's trail from its spawn to its head */ this.trails = [];
    /** Occupied cells: seat + 1, 0 when free. */
    this.grid = new Uint8Array(o.width * o.height);
    /** The tick each occupied cell was added at (−Infinity: unknown, before a full snapshot). */
    this.cellTick = new Float64Array(o.width * o.height);
    /**
     * The last tick at which a cycle was seen to move (a delta of exactly one tick that added
     * cells), or null: with `moveEvery` it gives the ticks of every move.
     * @type {number|null}
     */
    this.lastMoveTick = null;
    /** The tick the cycles first move this round (from `starts_in`), or null when unknown. */
    this.firstMoveTick = null;
    this.counts = { full: 0, delta: 0, stale: 0, waiting: 0 };
  }

  /**
   * Whether (x, y) is outside the grid or holds a trail.
   * @param {number} x @param {number} y
   */
  blocked(x, y) {
    return x < 0 || y < 0 || x >= this.width || y >= this.height || this.grid[y * this.width + x] !== 0;
  }

  /**
   * Whether (x, y) blocks a cycle of `seat` moving after tick `after`: outside the grid, or a
   * trail cell — except the seat's own cells added after `after` (the path being predicted
   * from there, already confirmed by the server).
   * @param {number} x @param {number} y @param {number} seat @param {number} after
   */
  blockedFor(x, y, seat, after) {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return true;
    const i = y * this.width + x;
    const g = this.grid[i];
    return g !== 0 && !(g === seat + 1 && this.cellTick[i] > after);
  }

  /**
   * @param {number} seat @param {number} x @param {number} y @param {number} tick
   */
  addCell(seat, x, y, tick) {
    const t = this.trails[seat] || (this.trails[seat] = []);
    t.push({ x, y, tick });
    if (x >= 0 && y >= 0 && x < this.width && y < this.height) {
      this.grid[y * this.width + x] = seat + 1;
      this.cellTick[y * this.width + x] = tick;
    }
  }

  /**
   * Apply a `snapshot.state`.
   * @param {any} s
   * @returns {ApplyResult}
   */
  apply(s) {
    const r = this.applyInner(s);
    this.counts[r]++;
    return r;
  }

  /** @param {any} s @returns {ApplyResult} */
  applyInner(s) {
    if (s.full) {
      if (this.synced && s.tick < this.tick) return 'stale';
      const newRound = s.round !== this.round;
      // The periodic full snapshot of a round held: cells already held keep their ticks, the
      // new ones were added after the tick held.
      const prev = this.synced && !newRound ? this.trails : [];
      const after = this.synced && !newRound ? s.tick : -Infinity;
      let moved = false;
      this.grid.fill(0);
      this.trails = [];
      const trails = /** @type {number[][]} */ (s.trails);
      for (let seat = 0; seat < trails.length; seat++) {
        this.trails[seat] = [];
        const t = trails[seat];
        const old = prev[seat] || [];
        let same = true;
        for (let i = 0, k = 0; i + 1 < t.length; i += 2, k++) {
          same = same && k < old.length && old[k].x === t[i] && old[k].y === t[i + 1];
          if (!same && k >= old.length && after > -Infinity) moved = true;
          this.addCell(seat, t[i], t[i + 1], same ? old[k].tick : after);
        }
      }
      if (moved && s.tick - this.tick === 1) this.lastMoveTick = s.tick;
      if (newRound) {
        this.lastMoveTick = null;
        this.firstMoveTick = null;
      }
      this.setScalars(s);
      this.synced = true;
      return 'full';
    }
    if (this.synced && s.since === this.tick && s.round === this.round) {
      const cells = /** @type {number[]} */ (s.cells);
      // Cells of a one-tick delta were added at that tick; otherwise somewhere after `since`
      // (shown from `tick`, never too early).
      for (let i = 0; i + 2 < cells.length; i += 3) this.addCell(cells[i], cells[i + 1], cells[i + 2], s.tick);
      if (cells.length && s.tick - s.since === 1) this.lastMoveTick = s.tick;
      this.setScalars(s);
      return 'delta';
    }
    if (this.synced && s.tick <= this.tick) return 'stale';
    // A gap (a delta from a tick not held) or another round: wait for the next full snapshot.
    this.synced = false;
    return 'waiting';
  }

  /** @param {any} s */
  setScalars(s) {
    this.tick = s.tick;
    this.round = s.round;
    this.startsIn = s.starts_in ?? 0;
    this.scores = s.scores.slice();
    this.status = s.status.slice();
    this.heads = s.heads.map((/** @type {number[]|null} */ h) => (h ? [h[0], h[1], h[2]] : null));
    if (this.startsIn > 0) this.firstMoveTick = s.tick + this.startsIn;
  }

  /**
   * The first move tick at or after `t` (moves happen every `moveEvery` ticks from the round's
   * first move; none before it). Null when no move time is known yet.
   * @param {number} t
   * @param {number} moveEvery
   */
  nextMove(t, moveEvery) {
    return nextMoveTick(t, moveEvery, this.lastMoveTick, this.firstMoveTick);
  }
}

/**
 * The first move tick ≥ `t`, given one known move tick (`known`) and/or the round's first move
 * (`first`, no move before it). Null when neither is known.
 * @param {number} t
 * @param {number} every
 * @param {number|null} known
 * @param {number|null} first
 */
export function nextMoveTick(t, every, known, first) {
  const anchor = known ?? first;
  if (anchor === null) return null;
  let m = anchor + Math.ceil((t - anchor) / every) * every;
  // No move before the round's first (a turn applied during the round delay waits for it).
  if (first !== null && m < first) m = first;
  return m;
}

/**
 * The last move tick ≤ `t`, or null (none known, or `t` before the round's first move).
 * @param {number} t
 * @param {number} every
 * @param {number|null} known
 * @param {number|null} first
 */
export function prevMoveTick(t, every, known, first) {
  const anchor = known ?? first;
  if (anchor === null) return null;
  const m = anchor + Math.floor((t - anchor) / every) * every;
  if (first !== null && m < first) return null;
  return m;
}

/**
 * The finishing order of a finished match for the end screen: seats sorted by place (then
 * seat), with name and score. `places[seat]` is 1-based (Outcome.places); without places (an
 * older server) the order follows the scores.
 * @param {{places?:number[], scores?:number[], winner?:number|null}} outcome
 * @param {{seat:number, name:string}[]} players
 * @param {number} seats
 * @returns {{seat:number, place:number, name:string, score:number}[]}
 */
export function standings(outcome, players, seats) {
  const scores = Array.isArray(outcome.scores) ? outcome.scores : [];
  let places = Array.isArray(outcome.places) && outcome.places.length ? outcome.places : null;
  if (!places) {
    // Rank by score: equal scores share a place.
    const sc = Array.from({ length: seats }, (_, s) => scores[s] ?? 0);
    places = sc.map((v) => 1 + sc.filter((w) => w > v).length);
  }
  const rows = [];
  for (let seat = 0; seat < seats; seat++) {
    rows.push({
      seat,
      place: places[seat] ?? seats,
      name: players.find((p) => p.seat === seat)?.name || `seat ${seat + 1}`,
      score: scores[seat] ?? 0,
    });
  }
  return rows.sort((a, b) => a.place - b.place || a.seat - b.seat);
}

/**
 * "1st", "2nd", "3rd", "4th" …
 * @param {number} n
 */
export function ordinal(n) {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : ['th', 'st', 'nd', 'rd'][n % 10] || 'th';
  return `${n}${s}`;
}

// ---------------------------------------------------------------- replays

/**
 * One round of a replay: every seat's trail with the tick each cell was added at, and the
 * scalar state of each frame.
 * @typedef {object} ReplayRound
 * @property {number} round
 * @property {number} start  tick of the round's first frame
 * @property {Cell[][]} trails
 * @property {{tick:number, startsIn:number, scores:number[], status:number[], heads:(number[]|null)[]}[]} frames
 */

/**
 * @typedef {object} CyclesFrameSet
 * @property {number} hz
 * @property {number} every
 * @property {number} seats
 * @property {number} lastTick
 * @property {number} count  frames read
 * @property {ReplayRound[]} rounds
 */

/**
 * Read the document of GET …/replay/frames of a cycles match: each frame is a `snapshot.state`,
 * full, or a delta from the frame before. The trails are rebuilt per round; cells that appear
 * between two frames taken every N ticks get ticks spread evenly between them (a playback at
 * any tick shows them growing, exact at every frame).
 * @param {any} doc
 * @param {{width:number, height:number}} grid
 * @returns {CyclesFrameSet}
 */
export function readCyclesFrames(doc, grid) {
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.frames)) throw new Error('the replay frames are malformed');
  const hz = Number(doc.tick_hz) > 0 ? Number(doc.tick_hz) : 60;
  const every = Number(doc.every) >= 1 ? Number(doc.every) : 1;
  const frames = doc.frames.filter(isCyclesState);
  if (!frames.length) throw new Error('the replay has no frames');
  const seats = frames[0].heads.length;
  /** @type {ReplayRound[]} */
  const rounds = [];
  /** @type {CyclesState|null} */
  let st = null;
  /** @type {ReplayRound|null} */
  let cur = null;
  let prevTick = -1;
  for (const f of frames) {
    if (f.tick <= prevTick) continue;
    const newRound = !st || !cur || f.round !== cur.round;
    if (newRound) {
      st = new CyclesState({ seats, width: grid.width, height: grid.height });
      if (!f.full) continue; // a delta with nothing to apply it to
      st.apply(f);
      cur = { round: f.round, start: f.tick, trails: st.trails.map((t) => t.map((c) => ({ ...c }))), frames: [] };
      rounds.push(cur);
    } else if (st && cur) {
      const before = cur.trails.map((t) => t.length);
      const r = st.apply(f);
      if (r !== 'full' && r !== 'delta') continue;
      // The cells added since the frame before, spread over the ticks between the two frames.
      for (let seat = 0; seat < seats; seat++) {
        const t = st.trails[seat] || [];
        const have = before[seat] ?? 0;
        const added = t.length - have;
        if (added < 0) {
          cur.trails[seat] = t.map((c) => ({ ...c }));
          continue;
        }
        for (let j = 0; j < added; j++) {
          const c = t[have + j];
          cur.trails[seat] = cur.trails[seat] || [];
          cur.trails[seat].push({ x: c.x, y: c.y, tick: prevTick + ((f.tick - prevTick) * (j + 1)) / added });
        }
      }
    }
    if (!st || !cur) continue;
    cur.frames.push({ tick: f.tick, startsIn: st.startsIn, scores: st.scores.slice(), status: st.status.slice(), heads: st.heads.map((x) => (x ? x.slice() : null)) });
    prevTick = f.tick;
  }
  if (!rounds.length) throw new Error('the replay has no full frame');
  return { hz, every, seats, lastTick: prevTick, count: frames.length, rounds };
}

/**
 * The replay at tick `t`: its round and the last frame at or before `t`.
 * @param {CyclesFrameSet} set
 * @param {number} t
 */
export function cyclesFrameAt(set, t) {
  let round = set.rounds[0];
  for (const r of set.rounds) if (r.start <= t) round = r;
  let frame = round.frames[0];
  for (const f of round.frames) {
    if (f.tick <= t) frame = f;
    else break;
  }
  return { round, frame };
}
