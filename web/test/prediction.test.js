import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PaddlePredictor, OffsetSmoother } from '../js/prediction.js';
import { explainedJump, limitDrawnMove } from '../js/feel.js';
import { simulate } from './sim.js';

const opts = { hz: 60, speed: 12000, height: 1800, fieldHeight: 9000 };

test('the step mirrors the server integer step', () => {
  assert.equal(new PaddlePredictor(opts).step, 200);
  assert.equal(new PaddlePredictor({ ...opts, hz: 64 }).step, 187.5);
  assert.equal(new PaddlePredictor({ ...opts, hz: 7, speed: 1000 }).step, Math.floor(1000 * 256 / 7) / 256);
});

test('a key press is stamped with the next tick of the player timeline and predicted from there', () => {
  const p = new PaddlePredictor(opts);
  p.reconcile(100, 4500, 0);
  const present = 104.5;
  assert.equal(p.yAt(present), 4500);
  const sent = p.press('down', present);
  assert.deepEqual(sent, { seq: 1, intent: 'down', tick: 105 });
  assert.equal(p.press('down', present), null, 'same intent: nothing to send');
  // Step 105 moves it (between tick 104 and 105).
  assert.equal(p.yAt(104), 4500);
  assert.equal(p.yAt(104.5), 4600);
  assert.equal(p.yAt(105), 4700);
  assert.equal(p.yAt(107), 5100);
  // A later input is never stamped before an earlier one.
  assert.equal(p.press('up', 103)?.tick, 105);
});

test('reconciliation with ack ticks: inputs applied on time need no correction', () => {
  const p = new PaddlePredictor(opts);
  p.reconcile(100, 4500, 0);
  p.press('down', 102.2); // tick 103
  p.press('up', 104.2); // tick 105
  assert.equal(p.reconcile(101, 4500, 0), 0);
  assert.equal(p.reconcile(102, 4500, 0), 0);
  assert.equal(p.reconcile(103, 4700, 1, 103), 0);
  assert.equal(p.reconcile(104, 4900, 1, 103), 0);
  // Up is still pending: from 4900 it moves up at 105.
  assert.equal(p.yAt(106), 4500);
  assert.equal(p.pending.length, 1);
  assert.equal(p.reconcile(105, 4700, 2, 105), 0);
  assert.deepEqual([p.stats.corrections, p.stats.lateInputs], [0, 0]);
});

test('a snapshot for a tick past the one shown is no correction when the server did what was predicted', () => {
  // On loopback a snapshot can arrive while the player's timeline is still inside its tick: the
  // prediction there must be the same curve before and after the snapshot moves the anchor.
  const p = new PaddlePredictor(opts);
  p.reconcile(100, 4500, 0);
  p.press('down', 100.2); // tick 101
  const shown = 100.9;
  const before = p.yAt(shown);
  assert.ok(Math.abs(before - 4680) < 1e-6);
  assert.equal(p.reconcile(101, 4700, 1, 101, shown), 0);
  assert.equal(p.yAt(shown), before);
  assert.equal(p.reconcile(102, 4900, 1, 101, 101.8), 0);
  // Between two older known ticks the motion is spread evenly; before everything known, the first.
  assert.ok(Math.abs(p.yAt(101.5) - 4800) < 1e-6);
  assert.equal(p.yAt(50), 4500);
  assert.equal(p.stats.corrections, 0);
});

test('an input whose ack is still on the way is shown as applied on time: no freeze', () => {
  const p = new PaddlePredictor(opts);
  p.reconcile(100, 4500, 0);
  p.press('down', 100.5); // tick 101
  // Snapshots 101..105 arrive without the ack (the input stalled upstream): the server's paddle
  // has not moved, but the prediction keeps moving from tick 101 on.
  for (let t = 101; t <= 105; t++) {
    p.reconcile(t, 4500, 0);
    assert.equal(p.yAt(t + 2), 4500 + (t + 2 - 100) * 200, `tick ${t}`);
  }
  // The ack arrives: applied at 106, five ticks late. One correction, of the lateness.
  const err = p.reconcile(106, 4700, 1, 106);
  assert.equal(err, -1000);
  assert.equal(p.stats.lateInputs, 1);
  assert.equal(p.stats.maxLateTicks, 5);
  assert.equal(p.yAt(108), 5100, 'from then on the authoritative path');
  assert.deepEqual(p.stats.correctionsBySize, [0, 0, 0, 1]);
});

test('corrections are counted by size', () => {
  const p = new PaddlePredictor(opts);
  p.reconcile(10, 4500, 0);
  p.reconcile(11, 4530, 0);
  p.reconcile(12, 4630, 0);
  p.reconcile(13, 4930, 0);
  assert.deepEqual(p.stats.correctionsBySize, [1, 1, 1, 0]);
  assert.equal(p.stats.maxCorrection, 300);
});

test('rounding of server positions is not a correction', () => {
  const p = new PaddlePredictor({ ...opts, hz: 64 });
  p.reconcile(10, 4500, 0);
  p.press('down', 10);
  assert.equal(p.reconcile(11, 4688, 1, 11), 0); // 4687.5 rounded by the server
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
  assert.deepEqual(p.press('up', 501), { seq: 42, intent: 'up', tick: 502 });
  assert.deepEqual(p.press('up', 501, true), { seq: 43, intent: 'up', tick: 502 }, 'forced restatement');
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

test('during countdown and pause inputs are stamped for the first playing tick', () => {
  const p = new PaddlePredictor(opts);
  p.reconcile(0, 4500, 0);
  p.hold(0, 4500);
  assert.equal(p.press('down', p.base.tick)?.tick, 1);
  p.hold(0, 4500);
  assert.equal(p.pending[0].tick, 1);
});

test('the offset smoother works a correction off without a jump', () => {
  const o = new OffsetSmoother({ height: 1800, speed: 12000 });
  o.add(1800);
  let frames = 0;
  let largest = 0;
  while (o.offset !== 0 && frames < 100) {
    largest = Math.max(largest, o.frame(1000 / 60));
    frames++;
  }
  assert.ok(largest <= 0.065 * 1800 + 1e-9, `a frame moved ${largest}`);
  assert.ok(frames <= 20, `${frames} frames to converge`);
  // A slow frame does not make a bigger step.
  o.add(1000);
  assert.ok(o.frame(200) <= 0.065 * 1800 + 1e-9);
  // Never takes back more than half of what the prediction moved this frame (a press shows).
  const t = new OffsetSmoother({ height: 1800, speed: 12000 });
  t.add(1000); // drawn below the prediction: working it off moves up
  assert.equal(t.frame(1000 / 60, 200), 100, 'the prediction moved down 200: at most 100 back up');
  assert.ok(t.frame(1000 / 60, -200) > 100, 'moving up anyway: no limit');
  // Small offsets vanish in a frame or two.
  const s = new OffsetSmoother({ height: 1800, speed: 12000 });
  s.add(80);
  s.frame(1000 / 60);
  s.frame(1000 / 60);
  assert.equal(s.offset, 0);
});

test('limitDrawnMove: a drawn move is what the input explains plus one frame of correction', () => {
  const o = { speed: 12000, min: 900, max: 8100, maxStep: 117 };
  const f = 1000 / 60;
  assert.equal(limitDrawnMove(4900, 4500, f, ['down'], o), 4817, 'down at speed (200) plus 117 at most');
  assert.equal(limitDrawnMove(4800, 4500, f, ['down'], o), 4800, 'within reach: unchanged');
  assert.equal(limitDrawnMove(4000, 4500, f, ['down', 'down'], o), 4383, 'against the key: the correction only');
  assert.equal(limitDrawnMove(4000, 4500, f, ['stop', 'up'], o), 4183, 'a press during the frame counts');
  assert.equal(limitDrawnMove(7000, 8050, f, ['down'], o), 7933);
  // Whatever it is asked, what it returns is never a jump by the test's own measure.
  for (const [y, prevY, intents] of [[9000, 4500, ['up']], [0, 4500, ['down']], [8100, 900, ['stop']], [900, 8100, ['up', 'stop']]]) {
    const at = limitDrawnMove(y, prevY, f, /** @type {any} */ (intents), o);
    assert.ok(explainedJump(at - prevY, prevY, f, /** @type {any} */ (intents), o) <= o.maxStep + 1e-9, `${y} ${prevY} ${intents}`);
  }
});

test('explainedJump: moves at paddle speed in a local direction are explained, others are not', () => {
  const o = { speed: 12000, min: 900, max: 8100 };
  const f = 1000 / 60;
  assert.equal(explainedJump(200, 4500, f, ['down'], o), 0);
  assert.equal(explainedJump(0, 4500, f, ['down'], o), 0, 'standing still is not a jump');
  assert.equal(explainedJump(-200, 4500, f, ['down'], o), 200, 'the wrong way');
  assert.equal(explainedJump(300, 4500, f, ['stop'], o), 300);
  assert.equal(explainedJump(-250, 4500, f, ['stop', 'up'], o), 50, 'beyond the reach of a frame');
  assert.equal(explainedJump(-120, 4500, f, ['stop', 'up'], o), 0, 'a press during the frame');
  assert.equal(explainedJump(100, 8000, f, ['down'], o), 0, 'stops at the wall');
});

const pattern = (/** @type {number} */ f) => {
  const c = f % 90;
  return c === 10 ? 'up' : c === 40 ? 'down' : c === 70 ? 'stop' : null;
};

test('netcode model: constant latency gives no corrections at all', () => {
  for (const owdMs of [0, 0.5, 20, 75, 150]) {
    const r = simulate({ owdMs, jitterMs: 0, seconds: 15, presses: pattern });
    assert.equal(r.stats.corrections, 0, `one-way ${owdMs} ms`);
    assert.ok(r.stats.inputs >= 28);
  }
});

test('netcode model: loopback (0.5 ms ± 0.5 ms): no corrections although snapshots arrive within the shown tick', () => {
  for (const seed of [1, 2, 3]) {
    const r = simulate({ owdMs: 0.5, jitterMs: 0.5, seconds: 15, presses: pattern, seed });
    assert.equal(r.stats.corrections, 0, JSON.stringify(r.stats));
  }
});

test('netcode model: 75 ms ± 15 ms jitter, inputs stamped with ticks: few, small corrections', () => {
  for (const seed of [1, 2, 3, 4]) {
    const r = simulate({ owdMs: 75, jitterMs: 15, seconds: 20, presses: pattern, seed });
    // The margin covers the jitter: most inputs land on their tick; a late one costs its lateness.
    assert.ok(r.stats.corrections <= r.stats.inputs / 4, JSON.stringify(r.stats));
    assert.ok(r.stats.maxCorrection <= 2 * 200, JSON.stringify(r.stats));
    // Every up/down press visibly moves the paddle in the same frame (unless at a wall).
    for (const x of r.responses) {
      if (x.pressed === 'up') assert.ok(x.moved <= 0);
      if (x.pressed === 'down') assert.ok(x.moved >= 0);
    }
    assert.ok(r.responses.filter((x) => x.pressed !== 'stop' && x.moved !== 0).length >= r.responses.length / 2);
  }
});
