// Pure helpers of the light cycles view (web/js/cycles.js): seat colours, which trail cells are
// shown at a render tick, where a head is drawn between two moves, and the bounded glide that
// keeps a drawn head from jumping. Unit-tested in web/test/cycles-draw.test.js.

/** @typedef {import('./cycles-state.js').Cell} Cell */

/** One colour per seat (seat 0 … 7), distinct on the dark field. */
export const SEAT_COLOURS = Object.freeze(['#38bdf8', '#f472b6', '#a3e635', '#fbbf24', '#c084fc', '#fb923c', '#2dd4bf', '#f87171']);

/** Colour names for the HUD and screen readers, in the same order. */
export const SEAT_COLOUR_NAMES = Object.freeze(['blue', 'pink', 'green', 'yellow', 'purple', 'orange', 'teal', 'red']);

/** @param {number} seat */
export function seatColour(seat) {
  return SEAT_COLOURS[((seat % SEAT_COLOURS.length) + SEAT_COLOURS.length) % SEAT_COLOURS.length];
}

/**
 * How many cells of a trail were there at tick `t`: cells carry the tick they were added at,
 * in order (−Infinity for cells of a full snapshot, whose exact tick is unknown).
 * @param {Cell[]} cells
 * @param {number} t
 */
export function visibleCount(cells, t) {
  let lo = 0;
  let hi = cells.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cells[mid].tick <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Where the head of a trail is drawn at (fractional) tick `t`, in cells: on its way from the
 * last cell shown to the next one, by the share of the move interval elapsed. The next cell is
 * the trail's own (known from a later snapshot) or `next` (predicted); without one the head
 * holds on its cell — it is never drawn where the cycle has not been.
 * @param {Cell[]} cells
 * @param {number} n  cells shown (visibleCount)
 * @param {number} t
 * @param {number} every  ticks per move
 * @param {{x:number, y:number, tick:number}|null} [next]
 * @returns {{x:number, y:number}|null}
 */
export function headAt(cells, n, t, every, next = null) {
  if (n <= 0) return null;
  const last = cells[n - 1];
  const to = n < cells.length ? cells[n] : next;
  if (!to || !Number.isFinite(to.tick)) return { x: last.x, y: last.y };
  const t0 = Math.max(last.tick, to.tick - every);
  const p = to.tick > t0 ? Math.min(1, Math.max(0, (t - t0) / (to.tick - t0))) : 0;
  return { x: last.x + (to.x - last.x) * p, y: last.y + (to.y - last.y) * p };
}

/**
 * Move a drawn point towards `target` by at most `maxStep` (cells, per axis): a head whose
 * target jumps (a predicted turn, a correction) glides there instead.
 * @param {{x:number, y:number}|null} prev  last drawn
 * @param {{x:number, y:number}} target
 * @param {number} maxStep
 */
export function glide(prev, target, maxStep) {
  if (!prev) return { x: target.x, y: target.y };
  const dx = target.x - prev.x;
  const dy = target.y - prev.y;
  // Far away (a new round, a reconnect): no glide across the field.
  if (Math.abs(dx) + Math.abs(dy) > 3) return { x: target.x, y: target.y };
  const cl = (/** @type {number} */ v) => Math.max(-maxStep, Math.min(maxStep, v));
  return { x: prev.x + cl(dx), y: prev.y + cl(dy) };
}

/**
 * The largest glide per frame: what the cycle itself travels in the frame (cells), half again,
 * plus a quarter cell, so a move is never held back and a jump of one cell takes a few frames.
 * @param {number} dtMs
 * @param {number} every  ticks per move
 * @param {number} hz
 */
export function glideStep(dtMs, every, hz) {
  const travel = (Math.max(0, Math.min(dtMs, 100)) * hz) / 1000 / every;
  return 1.5 * travel + 0.25;
}

/**
 * Cell size in pixels for a canvas `pixelWidth` wide showing a grid `width` × `height`.
 * @param {number} width @param {number} height @param {number} pixelWidth
 * @returns {{cell:number, w:number, h:number}}
 */
export function fitGrid(width, height, pixelWidth) {
  const cell = Math.max(2, Math.floor(pixelWidth / width));
  return { cell, w: cell * width, h: cell * height };
}

/**
 * Words for a `crashed` event: who crashed into what.
 * @param {{seat?:number, into?:string, by?:number|null}} d
 * @param {(seat:number) => string} name
 */
export function crashText(d, name) {
  const who = name(Number(d.seat));
  if (d.into === 'wall') return `${who} hit the wall`;
  if (d.into === 'head' || d.by === null || d.by === undefined) return `${who} crashed head-on`;
  if (d.by === d.seat) return `${who} ran into their own trail`;
  return `${who} ran into ${name(d.by)}'s trail`;
}
