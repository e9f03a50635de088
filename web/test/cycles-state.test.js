import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CyclesState, nextMoveTick, prevMoveTick, standings, ordinal, readInfo, isCyclesState, turn, CRASHED, OUT, readCyclesFrames, cyclesFrameAt } from '../js/cycles-state.js';

/** A full state of tick `tick`: seat 0 rode from (2,2) to (4,2), seat 1 from (9,9) to (9,7). */
const full = (tick, o = {}) => ({
  tick, full: true, round: 1, starts_in: 0, scores: [0, 0], status: [0, 0],
  heads: [[4, 2, 1], [9, 7, 0]], trails: [[2, 2, 3, 2, 4, 2], [9, 9, 9, 8, 9, 7]], ...o,
});
/** A delta from `since` to `tick` adding `cells` ([seat, x, y, …]). */
const delta = (since, tick, cells, o = {}) => ({
  tick, full: false, since, round: 1, starts_in: 0, scores: [0, 0], status: [0, 0], heads: [[4, 2, 1], [9, 7, 0]], cells, ...o,
});

test('a full snapshot replaces everything: trails in order, heads, grid', () => {
  const s = new CyclesState({ seats: 2, width: 16, height: 12 });
  assert.equal(s.synced, false);
  assert.equal(s.apply(full(40)), 'full');
  assert.equal(s.synced, true);
  assert.equal(s.tick, 40);
  assert.deepEqual(s.trails[0].map((c) => [c.x, c.y]), [[2, 2], [3, 2], [4, 2]]);
  assert.deepEqual(s.heads[1], [9, 7, 0]);
  assert.equal(s.blocked(3, 2), true, 'a trail cell');
  assert.equal(s.blocked(5, 2), false);
  assert.equal(s.blocked(-1, 0), true, 'outside the grid');
  assert.equal(s.blocked(16, 0), true);
  assert.equal(s.blocked(0, 12), true);
  // A full snapshot of the same round again (every 300 ticks) rebuilds from scratch.
  s.apply(full(300, { trails: [[2, 2], [9, 9]], heads: [[2, 2, 1], [9, 9, 0]] }));
  assert.equal(s.trails[0].length, 1);
  assert.equal(s.blocked(3, 2), false);
});

test('a delta from the tick held adds its cells at its tick; a one-tick delta with cells marks a move', () => {
  const s = new CyclesState({ seats: 2, width: 16, height: 12 });
  s.apply(full(40));
  assert.equal(s.apply(delta(40, 41, [], { starts_in: 0 })), 'delta');
  assert.equal(s.lastMoveTick, null, 'no cells: no move seen');
  assert.equal(s.apply(delta(41, 42, [0, 5, 2, 1, 9, 6], { heads: [[5, 2, 1], [9, 6, 0]], scores: [0, 0] })), 'delta');
  assert.equal(s.tick, 42);
  assert.equal(s.lastMoveTick, 42);
  assert.deepEqual(s.trails[0].at(-1), { x: 5, y: 2, tick: 42 });
  assert.deepEqual(s.trails[1].at(-1), { x: 9, y: 6, tick: 42 });
  assert.equal(s.blocked(9, 6), true);
  assert.deepEqual(s.heads[0], [5, 2, 1]);
  // The countdown repeats a frozen tick: a delta since the tick held, of the same tick, is applied (nothing changes).
  assert.equal(s.apply(delta(42, 42, [], { heads: [[5, 2, 1], [9, 6, 0]] })), 'delta');
  assert.equal(s.trails[0].length, 4);
});

test('a delta from a tick not held is not applied: the copy waits for the next full snapshot', () => {
  const s = new CyclesState({ seats: 2, width: 16, height: 12 });
  // Before any full snapshot nothing can be applied.
  assert.equal(s.apply(delta(39, 40, [0, 5, 2])), 'waiting');
  assert.equal(s.synced, false);
  s.apply(full(40));
  // Tick 41 was missed: the delta since 41 is refused, and so is every delta after it.
  assert.equal(s.apply(delta(41, 42, [0, 5, 2])), 'waiting');
  assert.equal(s.synced, false);
  assert.equal(s.apply(delta(42, 43, [0, 6, 2])), 'waiting');
  assert.equal(s.trails[0].length, 3, 'nothing of the refused deltas was applied');
  assert.equal(s.blocked(5, 2), false);
  assert.equal(s.apply(full(44, { trails: [[2, 2, 3, 2, 4, 2, 5, 2, 6, 2, 7, 2], [9, 9]] })), 'full');
  assert.equal(s.synced, true);
  assert.equal(s.apply(delta(44, 45, [0, 8, 2])), 'delta');
  assert.equal(s.trails[0].length, 7);
  assert.deepEqual(s.counts, { full: 2, delta: 1, stale: 0, waiting: 3 });
});

test('an older delta is stale and changes nothing', () => {
  const s = new CyclesState({ seats: 2, width: 16, height: 12 });
  s.apply(full(40));
  s.apply(delta(40, 41, [0, 5, 2]));
  assert.equal(s.apply(delta(39, 40, [0, 9, 9])), 'stale');
  assert.equal(s.synced, true);
  assert.equal(s.trails[0].length, 4);
  assert.equal(s.apply(full(30)), 'stale');
});

test('a new round: a delta of another round waits, its full snapshot clears the grid and the move times', () => {
  const s = new CyclesState({ seats: 2, width: 16, height: 12 });
  s.apply(full(40));
  s.apply(delta(40, 41, [0, 5, 2]));
  assert.equal(s.lastMoveTick, 41);
  assert.equal(s.apply(delta(41, 42, [], { round: 2 })), 'waiting');
  const r2 = full(42, { round: 2, starts_in: 120, scores: [1, 0], status: [0, 0], heads: [[3, 3, 1], [12, 8, 3]], trails: [[3, 3], [12, 8]] });
  assert.equal(s.apply(r2), 'full');
  assert.equal(s.round, 2);
  assert.equal(s.lastMoveTick, null);
  assert.equal(s.firstMoveTick, 162, 'the first move of the round: tick + starts_in');
  assert.equal(s.blocked(5, 2), false);
  assert.equal(s.blocked(12, 8), true);
  assert.deepEqual(s.scores, [1, 0]);
  assert.equal(s.nextMove(100, 4), 162, 'no move before the round delay is over');
  assert.equal(s.nextMove(163, 4), 166);
});

test('move ticks from one known move and the first move of the round', () => {
  assert.equal(nextMoveTick(10, 4, null, null), null);
  assert.equal(nextMoveTick(10, 4, 12, null), 12);
  assert.equal(nextMoveTick(13, 4, 12, null), 16);
  assert.equal(nextMoveTick(16, 4, 12, null), 16);
  assert.equal(nextMoveTick(5, 4, 12, null), 8, 'a known move fixes the phase both ways');
  assert.equal(nextMoveTick(5, 4, 12, 12), 12, 'but none before the round\'s first move');
  assert.equal(nextMoveTick(13, 4, 16, 12), 16);
  assert.equal(nextMoveTick(5, 4, null, 20), 20);
  assert.equal(nextMoveTick(21, 4, null, 20), 24);
  assert.equal(prevMoveTick(15, 4, 12, null), 12);
  assert.equal(prevMoveTick(16, 4, 12, null), 16);
  assert.equal(prevMoveTick(19, 4, null, 20), null, 'before the first move of the round');
});

test('standings: places from the outcome (shared places kept), else from the rounds won', () => {
  const players = [{ seat: 0, name: 'ada' }, { seat: 1, name: 'bo' }, { seat: 2, name: 'cy' }, { seat: 3, name: 'di' }];
  const rows = standings({ places: [2, 1, 4, 2], scores: [1, 2, 0, 1], winner: 1 }, players, 4);
  assert.deepEqual(rows.map((r) => [r.place, r.name, r.score]), [[1, 'bo', 2], [2, 'ada', 1], [2, 'di', 1], [4, 'cy', 0]]);
  const old = standings({ scores: [0, 3, 1] }, players, 3);
  assert.deepEqual(old.map((r) => [r.place, r.seat]), [[1, 1], [2, 2], [3, 0]]);
  assert.equal(ordinal(1), '1st');
  assert.equal(ordinal(2), '2nd');
  assert.equal(ordinal(3), '3rd');
  assert.equal(ordinal(4), '4th');
  assert.equal(ordinal(11), '11th');
  assert.equal(ordinal(22), '22nd');
});

test('joined.info with defaults; shapes; relative turns', () => {
  assert.deepEqual(readInfo({ kind: 'cycles', seats: 6, width: 32, height: 24, move_every: 2, rounds_to_win: 1, round_delay_ms: 500 }, 60),
    { seats: 6, width: 32, height: 24, moveEvery: 2, roundsToWin: 1, roundDelayMs: 500, hz: 60, maxQueuedTurns: 3 });
  assert.equal(readInfo({ max_queued_turns: 5 }).maxQueuedTurns, 5);
  assert.equal(readInfo({}).width, 64);
  assert.equal(readInfo({ seats: 99 }).seats, 4);
  assert.equal(isCyclesState(full(1)), true);
  assert.equal(isCyclesState(delta(1, 2, [0, 1, 1])), true);
  assert.equal(isCyclesState(delta(1, 2, [0, 1])), false);
  assert.equal(isCyclesState({ ...full(1), heads: [[1, 2]] }), false);
  // A seat without a cycle this round (out before it started): a null head, an empty trail.
  const s = new CyclesState({ seats: 2, width: 16, height: 12 });
  const none = full(1, { heads: [[4, 2, 1], null], trails: [[4, 2], []], status: [0, 2] });
  assert.equal(isCyclesState(none), true);
  assert.equal(s.apply(none), 'full');
  assert.equal(s.heads[1], null);
  assert.equal(s.trails[1].length, 0);
  assert.equal(turn(0, 'left'), 3);
  assert.equal(turn(3, 'right'), 0);
  assert.equal(turn(1, 'right'), 2);
  assert.equal(CRASHED, 1);
  assert.equal(OUT, 2);
});

test('replay frames (full or deltas, every N ticks) become trails per round with the ticks of their cells', () => {
  const f = (tick, round, trails, o = {}) => ({ tick, full: true, round, starts_in: 0, scores: [0, 0], status: [0, 0], heads: trails.map((t) => [t.at(-2), t.at(-1), 1]), trails, ...o });
  const doc = {
    tick_hz: 60, every: 4,
    frames: [
      f(1, 1, [[1, 1], [5, 5]]),
      f(5, 1, [[1, 1, 2, 1], [5, 5, 5, 4]]),
      // Two cells each between two frames: spread over the ticks between them.
      f(9, 1, [[1, 1, 2, 1, 3, 1, 4, 1], [5, 5, 5, 4, 5, 3, 5, 2]], { status: [0, 1] }),
      f(13, 2, [[8, 8], [2, 2]], { scores: [1, 0] }),
      { tick: 17, full: false, since: 13, round: 2, starts_in: 0, scores: [1, 0], status: [0, 0], heads: [[9, 8, 1], [2, 3, 2]], cells: [0, 9, 8, 1, 2, 3] },
    ],
  };
  const set = readCyclesFrames(doc, { width: 16, height: 12 });
  assert.equal(set.rounds.length, 2);
  assert.equal(set.lastTick, 17);
  assert.equal(set.seats, 2);
  const r1 = set.rounds[0];
  assert.deepEqual(r1.trails[0].map((c) => [c.x, c.y, c.tick]), [[1, 1, -Infinity], [2, 1, 5], [3, 1, 7], [4, 1, 9]]);
  assert.deepEqual(cyclesFrameAt(set, 10).frame.status, [0, 1]);
  assert.equal(cyclesFrameAt(set, 12).round.round, 1);
  const at15 = cyclesFrameAt(set, 15);
  assert.equal(at15.round.round, 2);
  assert.deepEqual(at15.frame.scores, [1, 0]);
  assert.deepEqual(set.rounds[1].trails[1].map((c) => [c.x, c.y, c.tick]), [[2, 2, -Infinity], [2, 3, 17]]);
  assert.throws(() => readCyclesFrames({ frames: [] }, { width: 16, height: 12 }), /no frames/);
});

test('a periodic full snapshot keeps the ticks of the cells held; its new cells are of its tick', () => {
  const s = new CyclesState({ seats: 2, width: 16, height: 12 });
  s.apply(full(40));
  s.apply(delta(40, 41, [0, 5, 2]));
  // Tick 300: full (one more cell each since 41 … here one tick later).
  const f = full(42, { trails: [[2, 2, 3, 2, 4, 2, 5, 2, 6, 2], [9, 9, 9, 8, 9, 7, 9, 6]] });
  assert.equal(s.apply(f), 'full');
  assert.deepEqual(s.trails[0].map((c) => c.tick), [-Infinity, -Infinity, -Infinity, 41, 42]);
  assert.deepEqual(s.trails[1].map((c) => c.tick), [-Infinity, -Infinity, -Infinity, 42]);
  assert.equal(s.lastMoveTick, 42, 'a one-tick full that added cells marks a move');
  // A full of another round starts from scratch.
  s.apply(full(50, { round: 2, trails: [[1, 1], [8, 8]], heads: [[1, 1, 1], [8, 8, 3]] }));
  assert.deepEqual(s.trails[0].map((c) => c.tick), [-Infinity]);
});
