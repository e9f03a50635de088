import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JitterMeter, SmoothTimeline, TickClock, inputLeadTicks, MAX_INPUT_MARGIN_TICKS } from '../js/clock.js';
import { adaptiveDelayMs, extrapolateBall, BallSmoother, SnapshotBuffer } from '../js/interpolation.js';
import { msg } from '../js/protocol.js';

const geometry = { width: 16000, height: 9000, ball: 240, paddleX: [640, 15360], paddleWidth: 240, paddleHeight: 1800 };

test('snapshot jitter is measured against the fastest path of the window', () => {
  const c = new TickClock({ hz: 60 });
  const j = new JitterMeter();
  const period = 1000 / 60;
  // Every tenth snapshot 40 ms late, the rest on time.
  for (let t = 1; t <= 100; t++) j.add(c.observe(t, 1000 + t * period + (t % 10 === 0 ? 40 : 0)));
  assert.ok(Math.abs(j.percentile(0.5)) < 1e-9);
  assert.ok(Math.abs(j.percentile(0.95) - 40) < 1e-9);
  assert.equal(new JitterMeter().percentile(0.95), 0);
});

test('the render delay follows the jitter between a floor of 1.5 ticks and a ceiling', () => {
  const period = 1000 / 60;
  assert.equal(adaptiveDelayMs(0, { hz: 60 }), 1.5 * period);
  assert.equal(adaptiveDelayMs(30, { hz: 60 }), 30 + period);
  assert.equal(adaptiveDelayMs(30, { hz: 60, snapshotEvery: 3 }), 30 + 3 * period);
  assert.equal(adaptiveDelayMs(900, { hz: 60 }), 250);
});

test('inputs are stamped a round trip plus a bounded jitter margin ahead of the seen tick', () => {
  assert.equal(inputLeadTicks(150, 0, 60), 9);
  assert.equal(inputLeadTicks(150, 1000 / 60, 60), 10);
  assert.equal(inputLeadTicks(150, 10_000, 60), 9 + MAX_INPUT_MARGIN_TICKS);
});

test('a smooth timeline catches up by running slightly faster, never by jumping', () => {
  const tl = new SmoothTimeline({ hz: 60, maxFast: 0.1, maxSlow: 0.25 });
  const f = 1000 / 60;
  assert.equal(tl.at(0, 100), 100);
  // The target jumps 6 ticks ahead (snapshots arrive after a stall): at most 1.1 ticks per frame.
  let now = 0;
  let prev = 100;
  let frames = 0;
  while (frames < 200) {
    now += f;
    const v = tl.at(now, 106 + now / f);
    assert.ok(v - prev <= 1.1 + 1e-9 && v - prev >= 0.75 - 1e-9, `${v - prev}`);
    prev = v;
    frames++;
    if (Math.abs(v - (106 + now / f)) < 1e-6) break;
  }
  assert.ok(frames <= 61, `${frames} frames to catch up 6 ticks`);
  // Far off (a new room): snaps.
  assert.equal(tl.at(now + f, 5000), 5000);
  assert.equal(tl.snaps, 1);
});

test('extrapolation bounces off walls and paddles like the server, and stops at a goal line', () => {
  const f = { tick: 0, ball: /** @type {[number,number,number,number]} */ ([8000, 8700, 6000, 6000]), paddles: /** @type {[number,number]} */ ([4500, 4500]), scores: /** @type {[number,number]} */ ([0, 0]), serving_in: 0 };
  const [, y] = extrapolateBall(f, 100, geometry);
  // 600 units down from 8700 would be 9300: reflected at 8880.
  assert.ok(Math.abs(y - (2 * 8880 - 9300)) < 1e-6, `${y}`);
  // Towards seat 1's paddle, which covers the ball: comes back.
  const g = { ...f, ball: /** @type {[number,number,number,number]} */ ([15000, 4500, 6000, 0]) };
  const [x] = extrapolateBall(g, 100, geometry);
  const face = 15360 - 120 - 120;
  assert.ok(Math.abs(x - (2 * face - 15600)) < 1e-6, `${x}`);
  // The paddle is elsewhere: the ball goes on to the goal line and stops there.
  const h = { ...g, paddles: /** @type {[number,number]} */ ([4500, 900]) };
  assert.equal(extrapolateBall(h, 250, geometry)[0], 16000);
  // Without geometry: a straight line (older behaviour).
  assert.deepEqual(extrapolateBall(f, 100, undefined), [8600, 9300]);
});

test('a stall longer than the render delay is extrapolated, not frozen', () => {
  const b = new SnapshotBuffer({ hz: 60, geometry });
  b.push(/** @type {any} */ ({ tick: 10, ball: [5000, 4500, 6000, 0], paddles: [4500, 4500], scores: [0, 0], serving_in: 0 }));
  const at = [12, 16, 20, 24].map((t) => b.sample(t).ball[0]);
  for (let i = 1; i < at.length; i++) assert.ok(at[i] > at[i - 1], `frozen at ${at}`);
  assert.equal(b.sample(16).mode, 'extrapolated');
});

test('the ball smoother works an offset off within ~100 ms, never faster than 1.5× the ball', () => {
  const s = new BallSmoother();
  s.add(0, 1200);
  const f = 1000 / 60;
  let frames = 0;
  while (Math.hypot(...s.offset) > 0 && frames < 100) {
    const before = Math.hypot(...s.offset);
    s.frame(f, 8000);
    assert.ok(before - Math.hypot(...s.offset) <= 1.5 * 8000 * f / 1000 + 1e-6);
    frames++;
  }
  assert.ok(frames <= 12, `${frames} frames`);
  assert.equal(s.absorbed, 1);
});

test('inputs carry the tick they are for when known', () => {
  assert.deepEqual(msg.input(3, 'up', 120), { type: 'input', seq: 3, input: 'up', tick: 120 });
  assert.deepEqual(msg.input(3, 'up'), { type: 'input', seq: 3, input: 'up' });
});
