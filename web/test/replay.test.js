import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { paddleTrack, tickTime, framesEvery, readFrames, sampleFrames, fold, pointTicks, MAX_REPLAY_FRAMES, PONG_GEOMETRY } from '../js/replay.js';

test('rebuilds paddle paths from the input log with the server step and bounds', () => {
  const track = paddleTrack({
    match: 'm', game: 'pong', seed: 1, config: { tick_hz: 60, points_to_win: 1 }, ticks: 40,
    log: { inputs: [[0, 0, 'up'], [2, 0, 'stop'], [5, 1, 'down'], [5, 0, 'down']], end: null },
    players: ['a', 'b'], scores: [1, 0],
  });
  assert.equal(track.hz, 60);
  assert.equal(track.paddles[0][0], 4500);
  assert.equal(track.paddles[0][1], 4300, 'applied before the first step');
  assert.equal(track.paddles[0][2], 4100);
  assert.equal(track.paddles[0][3], 4100, 'stop at tick 2');
  assert.equal(track.paddles[0][6], 4300);
  assert.equal(track.paddles[1][5], 4500);
  assert.equal(track.paddles[1][6], 4700);
  assert.equal(track.paddles[1][40], 8100, 'clamped at the bottom wall');
  assert.equal(track.inputs.length, 4);
});

test('uses the defaults for a null config', () => {
  const track = paddleTrack({ match: 'm', game: 'pong', seed: 1, config: null, ticks: 3, log: { inputs: [], end: null }, players: [null, null], scores: [0, 0] });
  assert.equal(track.config.paddle_speed, 12000);
  assert.equal(track.paddles[0].length, 4);
});

test('formats times', () => {
  assert.equal(tickTime(90, 60), '0:01.5');
  assert.equal(tickTime(60 * 75, 60), '1:15.0');
});

// ---------------------------------------------------------------- re-simulated frames

/** A real 1-point match as a rally server recorded it (see its "about"). */
const fixture = JSON.parse(fs.readFileSync(new URL('./fixtures/replay-frames.json', import.meta.url), 'utf8'));
const truth = readFrames({
  match: fixture.replay.match, tick_hz: fixture.tick_hz, every: 1,
  frames: fixture.frames.map((/** @type {number[]} */ f) => ({
    tick: f[0], ball: f.slice(1, 5), paddles: f.slice(5, 7), scores: f.slice(7, 9), serving_in: f[9],
  })),
});
/** The frames the server sends for `every` (tick 1, every N-th tick, the last tick). */
const thin = (/** @type {number} */ every) => truth.frames.filter((f, i) => i === 0 || i === truth.frames.length - 1 || f.tick % every === 0);

/** @param {number} tick @param {Partial<import('../js/interpolation.js').Frame>} [o] @returns {import('../js/interpolation.js').Frame} */
const fr = (tick, o = {}) => ({ tick, ball: [8000, 4500, 0, 0], paddles: [4500, 4500], scores: [0, 0], serving_in: 0, ...o });

test('asks for every tick of a normal match and never more frames than the server serves', () => {
  assert.equal(framesEvery(974), 1);
  assert.equal(framesEvery(974, 4), 4, 'an explicit every is kept');
  assert.equal(framesEvery(60 * 60 * 15, 1), Math.ceil((60 * 60 * 15) / MAX_REPLAY_FRAMES), 'raised to the server limit');
  assert.ok(Math.floor(54000 / framesEvery(54000)) <= MAX_REPLAY_FRAMES);
  assert.equal(framesEvery(54000), 6, 'a 15 minute match fits the default budget');
  assert.equal(framesEvery(0), 1);
});

test('reads the frames document and refuses a malformed one', () => {
  const f = readFrames({ match: 'm', tick_hz: 60, every: 2, frames: [fr(1), fr(2), fr(2), fr(4)] });
  assert.deepEqual([f.hz, f.every, f.frames.map((x) => x.tick)], [60, 2, [1, 2, 4]], 'duplicate ticks dropped');
  assert.throws(() => readFrames({ frames: [] }), /no frames/);
  assert.throws(() => readFrames({ error: {} }), /malformed/);
});

test('folds positions into the field as bounces do', () => {
  assert.equal(fold(100, 120, 8880), 140);
  assert.equal(fold(8900, 120, 8880), 8860);
  assert.equal(fold(4000, 120, 8880), 4000);
  assert.equal(fold(120 - 2 * 8760 - 5, 120, 8880), 125, 'several bounces');
});

test('the recorded frames agree with the paddles rebuilt from the input log', () => {
  const track = paddleTrack(fixture.replay);
  assert.equal(track.ticks, truth.frames[truth.frames.length - 1].tick);
  for (const f of truth.frames) {
    assert.equal(track.paddles[0][f.tick], f.paddles[0], `seat 0 at tick ${f.tick}`);
    assert.equal(track.paddles[1][f.tick], f.paddles[1], `seat 1 at tick ${f.tick}`);
  }
});

test('every frame is shown as recorded; the end shows the final score', () => {
  for (const every of [1, 5]) {
    const frames = thin(every);
    for (const f of frames) {
      const s = sampleFrames(frames, f.tick, truth.hz);
      assert.equal(s.mode, 'frame');
      assert.deepEqual([s.ball, s.paddles, s.scores], [[f.ball[0], f.ball[1]], f.paddles, f.scores]);
    }
    const end = sampleFrames(frames, 1e9, truth.hz);
    assert.deepEqual(end.scores, fixture.replay.scores);
  }
  assert.deepEqual(pointTicks(truth.frames), [974]);
});

test('between frames taken every N ticks the ball stays within a few units of the real path', () => {
  // Measured on the recorded match (6 paddle hits, several wall bounces, one point).
  for (const [every, maxErr, meanErr] of [[2, 40, 1], [5, 40, 1], [10, 40, 2]]) {
    const frames = thin(every);
    let max = 0;
    let sum = 0;
    for (const f of truth.frames) {
      const s = sampleFrames(frames, f.tick, truth.hz);
      const e = Math.hypot(s.ball[0] - f.ball[0], s.ball[1] - f.ball[1]);
      max = Math.max(max, e);
      sum += e;
      assert.deepEqual(s.scores, f.scores, `score at tick ${f.tick} (every ${every})`);
      for (const seat of [0, 1]) assert.ok(Math.abs(s.paddles[seat] - f.paddles[seat]) <= 200 * every, 'paddles');
    }
    assert.ok(max <= maxErr, `every ${every}: largest ball error ${max.toFixed(0)} units`);
    assert.ok(sum / truth.frames.length <= meanErr, `every ${every}: mean ball error ${(sum / truth.frames.length).toFixed(2)}`);
  }
  // A naive straight line between the frames is far off at the hits (what the bounces fix).
  const frames = thin(10);
  let naive = 0;
  for (const f of truth.frames) {
    const i = frames.findIndex((x) => x.tick > f.tick);
    if (i <= 0) continue;
    const [a, b] = [frames[i - 1], frames[i]];
    const k = (f.tick - a.tick) / (b.tick - a.tick);
    naive = Math.max(naive, Math.hypot(a.ball[0] + (b.ball[0] - a.ball[0]) * k - f.ball[0], a.ball[1] + (b.ball[1] - a.ball[1]) * k - f.ball[1]));
  }
  assert.ok(naive > 200, `a straight line is off by ${naive.toFixed(0)}`);
});

test('a wall bounce between two frames is exact', () => {
  // 6000 units/s up from y = 300 at 60 Hz: 100 units a tick, the wall (y = 120) after 1.8 ticks.
  const a = fr(10, { ball: [5000, 300, 6000, -6000] });
  const b = fr(14, { ball: [5400, 340, 6000, 6000] });
  const s = sampleFrames([a, b], 12, 60);
  assert.deepEqual(s.ball, [5200, 140]);
  assert.equal(s.mode, 'interpolated');
});

test('the serve leaves the centre at its tick; a point runs to the goal line and re-centres', () => {
  const rest = fr(10, { serving_in: 3 });
  const moving = fr(15, { ball: [8200, 4500, 6000, 0] });
  assert.deepEqual(sampleFrames([rest, moving], 12, 60).ball, [8000, 4500], 'still waiting');
  assert.equal(sampleFrames([rest, moving], 12, 60).serving_in, 1);
  assert.deepEqual(sampleFrames([rest, moving], 14, 60).ball, [8100, 4500], 'served at tick 13');
  const near = fr(20, { ball: [15900, 4500, 6000, 0] });
  const after = fr(24, { scores: [1, 0], serving_in: 57 });
  const s1 = sampleFrames([near, after], 20.5, 60);
  assert.deepEqual([s1.ball, s1.scores], [[15950, 4500], [0, 0]]);
  const s2 = sampleFrames([near, after], 22, 60);
  assert.deepEqual([s2.ball, s2.scores], [[8000, 4500], [1, 0]], 'past the goal line: centred, scored');
});

test('a paddle hit between two frames turns at the paddle face', () => {
  const face = PONG_GEOMETRY.paddleX[1] - PONG_GEOMETRY.paddleWidth / 2 - PONG_GEOMETRY.ballSize / 2; // 15120
  const a = fr(10, { ball: [face - 200, 4000, 6000, 0] });
  const b = fr(14, { ball: [face - 200, 4000, -6000, 0] });
  const s = sampleFrames([a, b], 12, 60);
  assert.ok(Math.abs(s.ball[0] - face) < 1e-9, `at the face at the hit: ${s.ball[0]}`);
  assert.ok(sampleFrames([a, b], 11, 60).ball[0] <= face && sampleFrames([a, b], 13, 60).ball[0] <= face, 'never behind the paddle');
});
