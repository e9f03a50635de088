import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotBuffer, renderTick, MAX_EXTRAPOLATION_MS } from '../js/interpolation.js';

/** @param {number} tick @param {Partial<import('../js/protocol.js').PongState>} [o] */
const st = (tick, o = {}) => ({ tick, ball: [1000 + tick * 100, 2000, 6000, 0], paddles: [4500, 4500 + tick * 10], scores: [0, 0], serving_in: 0, ...o });

test('interpolates ball and paddles between the two snapshots around the render tick', () => {
  const b = new SnapshotBuffer({ hz: 60 });
  b.push(/** @type {any} */ (st(10)));
  b.push(/** @type {any} */ (st(12)));
  const s = b.sample(11);
  assert.equal(s.mode, 'interpolated');
  assert.deepEqual(s.ball, [2100, 2000]);
  assert.deepEqual(s.paddles, [4500, 4610]);
  assert.equal(b.sample(11.5).ball[0], 2150);
});

test('holds before the first snapshot and extrapolates the ball briefly past the last', () => {
  const b = new SnapshotBuffer({ hz: 60 });
  b.push(/** @type {any} */ (st(10)));
  b.push(/** @type {any} */ (st(11)));
  assert.equal(b.sample(5).mode, 'held');
  const e = b.sample(12);
  assert.equal(e.mode, 'extrapolated');
  assert.equal(e.ball[0], 2100 + 100); // 6000 units/s for one 1/60 s tick
  const far = b.sample(1000);
  assert.equal(far.ball[0], 2100 + (6000 * MAX_EXTRAPOLATION_MS) / 1000);
  assert.equal(far.paddles[1], 4610, 'paddles are never extrapolated');
});

test('a point teleports the ball instead of sliding it across the field', () => {
  const b = new SnapshotBuffer({ hz: 60 });
  b.push(/** @type {any} */ (st(20, { ball: [15900, 100, 9000, 0] })));
  b.push(/** @type {any} */ (st(21, { ball: [8000, 4500, 0, 0], scores: [1, 0], serving_in: 60 })));
  assert.deepEqual(b.sample(20.3).ball, [15900, 100]);
  assert.deepEqual(b.sample(20.7).ball, [8000, 4500]);
  assert.deepEqual(b.sample(21).scores, [1, 0]);
});

test('keeps ticks ordered and bounded; a restarted game clears the buffer', () => {
  const b = new SnapshotBuffer({ hz: 5, capacity: 5 });
  for (let t = 1; t <= 8; t++) b.push(/** @type {any} */ (st(t)));
  assert.deepEqual(b.frames.map((f) => f.tick), [4, 5, 6, 7, 8]);
  b.push(/** @type {any} */ (st(7))); // reordered: ignored
  assert.equal(b.latest && b.latest.tick, 8);
  b.push(/** @type {any} */ (st(8, { scores: [1, 0] }))); // same tick again (countdown): replaced
  assert.deepEqual(b.latest && b.latest.scores, [1, 0]);
  b.push(/** @type {any} */ (st(0))); // new game
  assert.deepEqual(b.frames.map((f) => f.tick), [0]);
});

test('render tick is the seen tick minus the delay', () => {
  assert.equal(renderTick(100, 50, 60), 97);
  assert.equal(renderTick(100, 0, 60), 100);
});
