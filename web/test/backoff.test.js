import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from '../js/backoff.js';

test('grows exponentially to the cap', () => {
  const b = new Backoff({ baseMs: 100, maxMs: 1000, jitter: 0 });
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 800, 1000, 1000]);
});

test('jitter spreads the delay within its fraction', () => {
  const lo = new Backoff({ baseMs: 1000, jitter: 0.5, random: () => 0 });
  const hi = new Backoff({ baseMs: 1000, jitter: 0.5, random: () => 0.999 });
  assert.equal(lo.next(), 500);
  assert.equal(hi.next(), 1000);
});

test('a stable connection starts over; a flapping one keeps backing off', () => {
  const b = new Backoff({ baseMs: 100, jitter: 0, stableMs: 5000 });
  b.next(); b.next();
  b.closedAfter(1000);
  assert.equal(b.next(), 400);
  b.closedAfter(6000);
  assert.equal(b.next(), 100);
  b.next();
  b.reset();
  assert.equal(b.attempts, 0);
});
