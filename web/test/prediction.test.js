import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PaddlePredictor } from '../js/prediction.js';
import { simulate } from './sim.js';

const opts = { hz: 60, speed: 12000, height: 1800, fieldHeight: 9000, smoothMs: 0 };

test('the step mirrors the server integer step', () => {
  assert.equal(new PaddlePredictor(opts).step, 200);
  assert.equal(new PaddlePredictor({ ...opts, hz: 64 }).step, 187.5);
  assert.equal(new PaddlePredictor({ ...opts, hz: 7, speed: 1000 }).step, Math.floor(1000 * 256 / 7) / 256);
});

test('a key press moves the predicted paddle at once and is sent with a new sequence', () => {
  const p = new PaddlePredictor(opts);
  p.reconcile(100, 4500, 0);
  const present = 104.5;
  assert.equal(p.yAt(present), 4500);
  const sent = p.press('down', present);
  assert.deepEqual(sent, { seq: 1, intent: 'down' });
  assert.equal(p.press('down', present), null, 'same intent: nothing to send');
  // Applies at tick 105: half of it is visible at 104.5 + 0.5.
  assert.equal(p.yAt(105), 4700);
  assert.equal(p.yAt(105.5), 4800);
  assert.equal(p.yAt(107), 5100);
});

test('reconciliation replays unacked inputs over the authoritative position', () => {
  const p = new PaddlePredictor(opts);
  p.reconcile(100, 4500, 0);
  p.press('down', 102.2); // applies at 103
  p.press('up', 104.2); // applies at 105
  // Server: down applied at 103 (ack 1), the snapshot of 104 shows 4900.
  assert.equal(p.reconcile(103, 4700, 1), 0);
  assert.equal(p.reconcile(104, 4900, 1), 0);
  // Up is still pending: from 4900 it moves up at 105.
  assert.equal(p.yAt(106), 4500);
  assert.equal(p.pending.length, 1);
  assert.equal(p.stats.corrections, 0);
});

test('a mispredicted apply tick is one counted correction of the right size', () => {
  const p = new PaddlePredictor(opts);
  p.reconcile(100, 4500, 0);
  p.press('down', 101.5); // predicted at 102
  // The input was late: applied at 103 instead, so at 103 the paddle is 4700, not 4900.
  assert.equal(p.reconcile(101, 4500, 0), 0);
  assert.equal(p.reconcile(102, 4500, 0), -200);
  assert.equal(p.reconcile(103, 4700, 1), 0, 'after re-timing the rest is right');
  assert.deepEqual([p.stats.corrections, p.stats.maxCorrection, p.stats.totalCorrection], [1, 200, 200]);
});

test('rounding of server positions is not a correction', () => {
  const p = new PaddlePredictor({ ...opts, hz: 64 });
  p.reconcile(10, 4500, 0);
  p.press('down', 10);
  assert.equal(p.reconcile(11, 4688, 1), 0); // 4687.5 rounded by the server
  assert.equal(p.stats.corrections, 0);
});

test('the paddle stays inside the field', () => {
  const p = new PaddlePredictor(opts);
  p.reconcile(0, 4500, 0);
  p.press('up', 0);
  assert.equal(p.yAt(1000), 900);
  assert.equal(p.yAt(100000), 900, 'never predicts past maxAheadTicks either');
});

test('sequence numbers start above the server ack after a rejoin', () => {
  const p = new PaddlePredictor(opts);
  p.reconcile(500, 4500, 41);
  assert.deepEqual(p.press('up', 501), { seq: 42, intent: 'up' });
  assert.deepEqual(p.press('up', 501, true), { seq: 43, intent: 'up' }, 'forced restatement');
});

test('inputs the server never acks are forgotten', () => {
  const p = new PaddlePredictor(opts);
  p.reconcile(0, 4500, 0);
  p.press('down', 0);
  for (let t = 1; t <= 200; t++) p.reconcile(t, 4500, 0);
  assert.equal(p.pending.length, 0);
  assert.equal(p.stats.lost, 1);
  assert.equal(p.yAt(300), 4500);
});

test('hold freezes prediction during countdown and pause', () => {
  const p = new PaddlePredictor(opts);
  p.reconcile(0, 4500, 0);
  p.press('down', 3);
  p.hold(0, 4500);
  assert.equal(p.pending[0].applyTick, 1);
});

test('the display blends a correction out instead of jumping', () => {
  const p = new PaddlePredictor({ ...opts, smoothMs: 50 });
  p.reconcile(100, 4500, 0);
  p.press('down', 101.5);
  const err = p.reconcile(102, 4500, 0, { present: 102, now: 1000 });
  assert.equal(err, -200);
  assert.equal(p.displayY(102, 1000), 4700, 'shown where it was');
  assert.ok(Math.abs(p.displayY(102, 1500) - 4500) < 1, 'converged');
});

const pattern = (/** @type {number} */ f) => {
  const c = f % 90;
  return c === 10 ? 'up' : c === 40 ? 'down' : c === 70 ? 'stop' : null;
};

test('netcode model: constant latency gives no corrections at all', () => {
  for (const owdMs of [0, 20, 75, 150]) {
    const r = simulate({ owdMs, jitterMs: 0, seconds: 15, presses: pattern });
    assert.equal(r.stats.corrections, 0, `one-way ${owdMs} ms`);
    assert.ok(r.stats.inputs >= 28);
  }
});

test('netcode model: 75 ms ± 10 ms jitter stays within the documented bound', () => {
  for (const seed of [1, 2, 3, 4]) {
    const r = simulate({ owdMs: 75, jitterMs: 10, seconds: 20, presses: pattern, seed });
    // docs/web-client.md: corrections <= inputs sent, each at most two ticks of reversal.
    assert.ok(r.stats.corrections <= r.stats.inputs, JSON.stringify(r.stats));
    assert.ok(r.stats.maxCorrection <= 4 * 200, JSON.stringify(r.stats));
    // Every up/down press visibly moves the paddle in the same frame (unless at a wall).
    for (const x of r.responses) {
      if (x.pressed === 'up') assert.ok(x.moved <= 0);
      if (x.pressed === 'down') assert.ok(x.moved >= 0);
    }
    assert.ok(r.responses.filter((x) => x.pressed !== 'stop' && x.moved !== 0).length >= r.responses.length / 2);
  }
});
