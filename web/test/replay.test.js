import { test } from 'node:test';
import assert from 'node:assert/strict';
import { paddleTrack, tickTime } from '../js/replay.js';

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
