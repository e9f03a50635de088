import { test } from 'node:test';
import assert from 'node:assert/strict';
import { visibleCount, headAt, glide, glideStep, fitGrid, crashText, seatColour, SEAT_COLOURS } from '../js/cycles-draw.js';

const trail = [
  { x: 2, y: 2, tick: -Infinity }, { x: 3, y: 2, tick: -Infinity },
  { x: 4, y: 2, tick: 40 }, { x: 4, y: 3, tick: 44 }, { x: 4, y: 4, tick: 48 },
];

test('the cells shown at a render tick are those added by then', () => {
  assert.equal(visibleCount(trail, 0), 2, 'cells of a full snapshot are always there');
  assert.equal(visibleCount(trail, 39.9), 2);
  assert.equal(visibleCount(trail, 40), 3);
  assert.equal(visibleCount(trail, 47), 4);
  assert.equal(visibleCount(trail, 1e9), 5);
  assert.equal(visibleCount([], 10), 0);
});

test('a head is drawn between its last cell and the next, by the share of the move elapsed', () => {
  assert.deepEqual(headAt(trail, 3, 40, 4), { x: 4, y: 2 });
  assert.deepEqual(headAt(trail, 3, 42, 4), { x: 4, y: 2.5 });
  assert.deepEqual(headAt(trail, 4, 47, 4), { x: 4, y: 3.75 });
  // The newest cell: it holds (the next move is not known), or goes towards a predicted one.
  assert.deepEqual(headAt(trail, 5, 50, 4), { x: 4, y: 4 });
  assert.deepEqual(headAt(trail, 5, 50, 4, { x: 5, y: 4, tick: 52 }), { x: 4.5, y: 4 });
  // From a cell of a full snapshot (tick unknown) to the next: over one move interval.
  assert.deepEqual(headAt(trail, 2, 39, 4), { x: 3.75, y: 2 });
  assert.deepEqual(headAt(trail, 2, 30, 4), { x: 3, y: 2 });
  assert.equal(headAt([], 0, 10, 4), null);
});

test('a drawn head glides to a new target by at most a step per frame; far jumps are taken at once', () => {
  assert.deepEqual(glide(null, { x: 3, y: 4 }, 0.3), { x: 3, y: 4 });
  assert.deepEqual(glide({ x: 3, y: 4 }, { x: 3.2, y: 4 }, 0.3), { x: 3.2, y: 4 });
  const g = glide({ x: 3.5, y: 4 }, { x: 3, y: 4.5 }, 0.3);
  assert.ok(Math.abs(g.x - 3.2) < 1e-9 && Math.abs(g.y - 4.3) < 1e-9);
  assert.deepEqual(glide({ x: 3, y: 4 }, { x: 30, y: 20 }, 0.3), { x: 30, y: 20 }, 'a new round');
  // At 60 Hz, a frame of 16.7 ms and a move every 4 ticks: a quarter cell of travel per frame.
  assert.ok(Math.abs(glideStep(1000 / 60, 4, 60) - (1.5 * 0.25 + 0.25)) < 1e-9);
  assert.equal(glideStep(1000, 4, 60), glideStep(100, 4, 60), 'a slow frame does not glide further than 100 ms');
});

test('grid fits the canvas width in whole pixels; crash words; colours by seat', () => {
  assert.deepEqual(fitGrid(64, 48, 960), { cell: 15, w: 960, h: 720 });
  assert.deepEqual(fitGrid(32, 24, 1000), { cell: 31, w: 992, h: 744 });
  assert.equal(fitGrid(128, 128, 100).cell, 2);
  const name = (/** @type {number} */ s) => ['ada', 'bo'][s];
  assert.equal(crashText({ seat: 0, into: 'wall', by: null }, name), 'ada hit the wall');
  assert.equal(crashText({ seat: 0, into: 'trail', by: 1 }, name), "ada ran into bo's trail");
  assert.equal(crashText({ seat: 1, into: 'trail', by: 1 }, name), 'bo ran into their own trail');
  assert.equal(crashText({ seat: 1, into: 'trail', by: null }, name), 'bo crashed head-on');
  assert.equal(crashText({ seat: 1, into: 'head', by: null }, name), 'bo crashed head-on');
  assert.equal(new Set(SEAT_COLOURS).size, 8);
  assert.equal(seatColour(9), SEAT_COLOURS[1]);
});
