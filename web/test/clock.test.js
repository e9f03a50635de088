import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClockSync, TickClock } from '../js/clock.js';

test('clock sync: RTT is the median, offset comes from the fastest sample', () => {
  const c = new ClockSync({ window: 5 });
  assert.equal(c.synced, false);
  assert.equal(c.rtt, 0);
  // Server clock = local + 1000; one-way 20 ms, except one slow sample.
  const serverOffset = 1000;
  for (const [sent, up, down] of [[0, 20, 20], [100, 20, 20], [200, 90, 20], [300, 20, 20], [400, 25, 25]]) {
    c.addSample(sent, sent + up + serverOffset, sent + up + down);
  }
  assert.equal(c.synced, true);
  assert.equal(c.rtt, 40);
  assert.equal(c.minRtt, 40);
  assert.equal(c.offset, 1000);
  assert.equal(c.serverNow(5000), 6000);
});

test('clock sync: keeps a window and ignores impossible samples', () => {
  const c = new ClockSync({ window: 3 });
  assert.equal(c.addSample(100, 0, 50), null); // arrived before it was sent
  for (let i = 0; i < 10; i++) c.addSample(i * 100, 0, i * 100 + 10 + i);
  assert.equal(c.samples.length, 3);
  assert.equal(c.rtt, 18);
});

test('tick clock: least-delayed arrivals define the seen tick', () => {
  const hz = 50; // 20 ms per tick
  const t = new TickClock({ hz });
  assert.equal(t.ready, false);
  // Tick k is produced at 20k ms; one-way 30 ms plus up to 15 ms of jitter.
  const jitter = [0, 15, 5, 10, 0, 12];
  for (let k = 1; k <= 6; k++) t.observe(k, 20 * k + 30 + jitter[k - 1]);
  assert.equal(t.ready, true);
  // At local time 200, the fastest path has delivered tick (200 - 30) / 20.
  assert.equal(t.seen(200), 8.5);
  // An input sent at 200 with 60 ms RTT arrives at server time 230, during tick 11.5.
  assert.equal(t.present(200, 60), 11.5);
});

test('tick clock: a stalled or restarted tick resets the estimate', () => {
  const t = new TickClock({ hz: 50 });
  t.observe(10, 1000);
  t.observe(11, 1020);
  // countdown: the same tick again, much later
  t.observe(11, 3000);
  assert.equal(t.seen(3000), 11);
  t.observe(12, 3020);
  assert.equal(t.seen(3040), 13);
  t.reset();
  assert.equal(t.ready, false);
});
