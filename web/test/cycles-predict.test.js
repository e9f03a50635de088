import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CyclesState, DIRS, turn } from '../js/cycles-state.js';
import { TurnPredictor, MAX_QUEUED_TURNS } from '../js/cycles-predict.js';

/**
 * The server side of one seat as docs/protocol.md §9 and §10a describe it: an input stamped for
 * tick N is applied at N when it arrived before N was simulated, else at the tick after its
 * arrival; applied turns queue (at most 3); every move (every `every` ticks from `first`)
 * consumes one and moves a cell. Each tick produces the snapshot state (a one-tick delta).
 */
class Server {
  constructor({ width = 40, height = 30, every = 4, first = 10, start = [5, 15, 1] } = {}) {
    Object.assign(this, { width, height, every, first });
    this.tick = 0;
    this.head = [...start];
    this.trail = [[start[0], start[1]]];
    /** @type {{seq:number, input:string, tick:number, arrive:number}[]} */
    this.inbox = [];
    /** @type {string[]} */
    this.queue = [];
    this.ack = 0;
    this.ackTick = 0;
    this.crashed = false;
    /** head after each tick */
    this.history = new Map([[0, [...start]]]);
  }

  /** An input that reaches the room just before tick `arrive` is simulated. */
  send(input, arrive) {
    this.inbox.push({ ...input, arrive });
  }

  fullState() {
    return { tick: this.tick, full: true, round: 1, starts_in: Math.max(0, this.first - this.tick), scores: [0], status: [this.crashed ? 1 : 0], heads: [[...this.head]], trails: [this.trail.flat()] };
  }

  step() {
    const since = this.tick;
    this.tick++;
    const k = this.tick;
    const due = this.inbox.filter((i) => i.arrive <= k && i.tick <= k).sort((a, b) => a.seq - b.seq);
    this.inbox = this.inbox.filter((i) => !due.includes(i));
    for (const i of due) {
      if (this.queue.length < 3) this.queue.push(i.input);
      this.ack = i.seq;
      this.ackTick = k;
    }
    const cells = [];
    if (!this.crashed && k >= this.first && (k - this.first) % this.every === 0) {
      const t = this.queue.shift();
      if (t) this.head[2] = turn(this.head[2], t);
      const nx = this.head[0] + DIRS[this.head[2]][0];
      const ny = this.head[1] + DIRS[this.head[2]][1];
      if (nx < 0 || ny < 0 || nx >= this.width || ny >= this.height || this.trail.some(([x, y]) => x === nx && y === ny)) {
        this.crashed = true;
      } else {
        this.head[0] = nx;
        this.head[1] = ny;
        this.trail.push([nx, ny]);
        cells.push(0, nx, ny);
      }
    }
    this.history.set(k, [...this.head]);
    return {
      tick: k, acks: [this.ack], ack_ticks: [this.ackTick],
      state: { tick: k, full: false, since, round: 1, starts_in: Math.max(0, this.first - k), scores: [0], status: [this.crashed ? 1 : 0], heads: [[...this.head]], cells },
    };
  }
}

/** A client of the server: its state copy and predictor, reconciled on every snapshot. */
function client(server) {
  const st = new CyclesState({ seats: 1, width: server.width, height: server.height });
  const p = new TurnPredictor({ moveEvery: server.every, hz: 60 });
  const f = server.fullState();
  st.apply(f);
  p.reconcile(f.tick, f.heads[0], 0, 1, 0, 0, st);
  const take = (snap, at) => {
    st.apply(snap.state);
    return p.reconcile(snap.tick, st.heads[0], st.status[0], st.round, snap.acks[0], snap.ack_ticks[0], st, at);
  };
  return { st, p, take };
}

test('turns that arrive on time are predicted exactly: every predicted head is where the server puts it, no correction', () => {
  const server = new Server({ start: [5, 8, 1] });
  const { st, p, take } = client(server);
  const lead = 3; // the player's timeline runs 3 ticks ahead of the newest snapshot
  /** predictions made for tick T while the newest snapshot was T − lead */
  const predicted = new Map();
  const presses = new Map([[12, 'left'], [13, 'right'], [30, 'left'], [31, 'right'], [47, 'right'], [60, 'left'], [61, 'right']]);
  for (let k = 0; k < 120; k++) {
    const present = k + lead - 0.5;
    const t = presses.get(k);
    if (t) {
      const input = p.press(/** @type {'left'|'right'} */ (t), present, st);
      assert.ok(input, `turn at ${k} sent`);
      server.send(input, k + 2); // arrives before its stamp (k + lead)
    }
    const path = p.path(k + lead, st);
    predicted.set(k + lead, [path.x, path.y, path.dir]);
    take(server.step(), k + lead);
  }
  let compared = 0;
  for (const [tick, head] of predicted) {
    if (!server.history.has(tick)) continue;
    assert.deepEqual(head, server.history.get(tick), `tick ${tick}`);
    compared++;
  }
  assert.ok(compared > 100);
  assert.equal(p.stats.corrections, 0);
  assert.equal(p.stats.lateInputs, 0);
  assert.equal(p.stats.inputs, 7);
  assert.equal(server.crashed, false);
  assert.equal(server.queue.length, 0, 'every turn was consumed');
});

test('a turn that arrives late is applied at a later move: one correction, then the prediction agrees again', () => {
  const server = new Server({ first: 4, every: 4 });
  const { st, p, take } = client(server);
  for (let k = 0; k < 20; k++) take(server.step());
  // Pressed for tick 22 (consumed by the move at 24) but it reaches the room only before tick 27: consumed at 28.
  const input = p.press('left', 21.5, st);
  assert.equal(input?.tick, 22);
  server.send(input, 27);
  assert.equal(p.path(24, st).dir, 0, 'shown turning up at the move of tick 24');
  let corrections = 0;
  for (let k = 20; k < 40; k++) corrections += take(server.step(), k + 3) > 0 ? 1 : 0;
  assert.equal(p.stats.lateInputs, 1);
  assert.equal(p.stats.maxLateTicks, 5);
  assert.ok(p.stats.corrections >= 1 && corrections >= 1, 'the late turn is a correction');
  assert.ok(p.stats.maxCorrection <= 2, `a correction of a cell or two, was ${p.stats.maxCorrection}`);
  const path = p.path(server.tick, st);
  assert.deepEqual([path.x, path.y, path.dir], server.head);
  assert.deepEqual(server.history.get(28), [server.history.get(24)[0], server.history.get(24)[1] - 1, 0], 'the server turned at 28');
  assert.equal(server.history.get(24)[2], 1, 'not at 24');
});

test('a turn shows at once: the next move already takes the new heading', () => {
  const server = new Server({ first: 4, every: 6 });
  const { st, p, take } = client(server);
  for (let k = 0; k < 12; k++) take(server.step());
  const before = p.path(13.2, st);
  assert.equal(before.nextDir, 1);
  p.press('right', 13.2, st);
  const after = p.path(13.2, st);
  assert.equal(after.nextDir, 2, 'the nose of the head points down at once');
  assert.deepEqual(after.next, { x: before.x, y: before.y + 1 });
  assert.equal(after.nextTick, 16);
  const later = p.path(16, st);
  assert.deepEqual([later.x, later.y, later.dir], [before.x, before.y + 1, 2]);
});

test('no more turns than the server queues: a fourth before the next move is not sent', () => {
  const server = new Server({ first: 4, every: 30 });
  const { st, p, take } = client(server);
  for (let k = 0; k < 5; k++) take(server.step());
  const sent = [];
  const want = /** @type {const} */ (['left', 'right', 'left', 'left']);
  for (let i = 0; i < MAX_QUEUED_TURNS + 1; i++) sent.push(p.press(want[i], 6.5, st));
  assert.equal(sent.filter(Boolean).length, MAX_QUEUED_TURNS);
  assert.equal(sent[MAX_QUEUED_TURNS], null);
  assert.equal(p.stats.refusedLocally, 1);
  assert.deepEqual(p.queuedAt(6.5, st), ['left', 'right', 'left']);
  // Consumed one per move: 34, 64, 94.
  assert.equal(p.path(33, st).dir, 1);
  assert.equal(p.path(34, st).dir, 0);
  assert.equal(p.path(64, st).dir, 1);
  assert.equal(p.path(94, st).dir, 0);
  assert.deepEqual(p.queuedAt(64, st), ['left']);
});

test('the prediction stops before a wall or a trail: the server decides the crash', () => {
  const server = new Server({ width: 10, height: 10, first: 2, every: 2, start: [6, 5, 1] });
  const { st, p, take } = client(server);
  take(server.step());
  const path = p.path(40, st);
  assert.deepEqual([path.x, path.y], [9, 5], 'last cell before the wall');
  assert.equal(path.next, null);
  assert.equal(path.riding, false);
  // Crashed on the server: nothing is predicted any more, and turns are not sent.
  for (let k = 1; k < 12; k++) take(server.step());
  assert.equal(st.status[0], 1);
  assert.equal(p.press('left', 13, st), null);
});

test('inputs during the countdown are held for the first playing tick; a new round drops the turns applied before it', () => {
  const server = new Server({ first: 4, every: 4 });
  const { st, p } = client(server);
  const input = p.press('left', 0, st);
  assert.equal(input?.tick, 1);
  p.hold(5);
  assert.equal(p.turns[0].stamp, 6);
  const second = p.press('right', 8.2, st);
  assert.equal(second?.tick, 9);
  // Round 2 starts at tick 9: the first turn was applied at 8 (then emptied with the queue),
  // the second is not applied yet, so it will be in round 2's queue.
  const r2 = { tick: 9, full: true, round: 2, starts_in: 10, scores: [1], status: [0], heads: [[3, 3, 2]], trails: [[3, 3]] };
  st.apply(r2);
  p.reconcile(9, r2.heads[0], 0, 2, 1, 8, st);
  assert.deepEqual(p.turns.map((t) => t.seq), [2]);
  assert.equal(p.path(19, st).dir, 3, 'consumed by round 2\'s first move');
  // Once a move of the round is seen, the turn applied in its delay is still the first move's.
  st.apply({ tick: 19, full: false, since: 9, round: 2, starts_in: 0, scores: [1], status: [0], heads: [[2, 3, 3]], cells: [0, 2, 3] });
  assert.equal(st.lastMoveTick, null, 'a delta over ten ticks does not date its move');
  st.apply({ tick: 20, full: false, since: 19, round: 2, starts_in: 0, scores: [1], status: [0], heads: [[2, 3, 3]], cells: [] });
  st.lastMoveTick = 19;
  assert.equal(st.nextMove(10, 4), 19);
  p.reconcile(10, r2.heads[0], 0, 2, 2, 10, st);
  p.turns = [];
  assert.equal(p.path(19, st).y, 4, 'moves from the new spawn at the round\'s first move (tick 19)');
  assert.equal(p.path(18, st).y, 3);
});

test('after a rejoin sequence numbers continue above the ack', () => {
  const p = new TurnPredictor({ moveEvery: 4, hz: 60 });
  p.seqFloor(41);
  const st = new CyclesState({ seats: 1, width: 10, height: 10 });
  st.apply({ tick: 5, full: true, round: 1, starts_in: 0, scores: [0], status: [0], heads: [[1, 1, 1]], trails: [[1, 1]] });
  p.reconcile(5, [1, 1, 1], 0, 1, 41, 3, st);
  assert.equal(p.press('right', 5.5, st)?.seq, 42);
});

test('a snapshot that arrives while the shown tick is still before it is no correction', () => {
  const server = new Server({ first: 4, every: 3 });
  const { p, take } = client(server);
  for (let k = 0; k < 60; k++) take(server.step(), k + 0.8); // the snapshot of k + 1 arrives at shown tick k + 0.8
  assert.equal(p.stats.corrections, 0);
  assert.ok(p.stats.reconciliations >= 60);
});

test('a turn in flight when the cycle crashes stays until the server applies or refuses it', () => {
  const server = new Server({ first: 4, every: 4 });
  const { st, p, take } = client(server);
  for (let k = 0; k < 8; k++) take(server.step());
  const a = p.press('left', 10.5, st);
  const b = p.press('right', 12.5, st);
  assert.ok(a && b);
  // The cycle crashes before they are applied (a snapshot says so).
  st.apply({ ...server.step().state, status: [1] });
  p.reconcile(9, st.heads[0], 1, 1, 0, 0, st);
  assert.deepEqual(p.turns.map((t) => t.seq), [a.seq, b.seq]);
  // The server refuses the first (crashed): it goes; the second waits for its answer.
  p.refused();
  assert.deepEqual(p.turns.map((t) => t.seq), [b.seq]);
  assert.equal(p.stats.refused, 1);
});
