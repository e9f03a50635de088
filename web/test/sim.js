// A tiny model of a rally room and a network, for the netcode tests: a server paddle stepped at
// a fixed tick with inputs applied at tick start (like src/room), snapshots and pongs delayed by
// a configurable one-way latency with jitter, and a client that runs the real modules.

import { ClockSync, TickClock, JitterMeter, SmoothTimeline, inputLeadTicks } from '../js/clock.js';
import { PaddlePredictor, SUB } from '../js/prediction.js';

/** Deterministic PRNG (mulberry32). @param {number} seed */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Run a match-long simulation.
 * @param {{owdMs:number, jitterMs:number, seconds:number, hz?:number, seed?:number,
 *   presses:(frame:number)=>('up'|'down'|'stop'|null)}} o
 */
export function simulate(o) {
  const hz = o.hz ?? 60;
  const period = 1000 / hz;
  const random = rng(o.seed ?? 1);
  const delay = () => o.owdMs + (random() * 2 - 1) * o.jitterMs;
  const speed = 12000;
  const height = 1800;
  const field = 9000;
  const step = Math.max(1, Math.floor((speed * SUB) / hz));
  // server state (sub-units)
  let sy = (field * SUB) / 2;
  let sIntent = 'stop';
  let lastSeq = 0;
  let ackTick = 0;
  let serverTick = 100;
  /** @type {{at:number, seq:number, intent:string, tick:number}[]} inputs on the way or held */
  let inbound = [];
  /** @type {{at:number, kind:'snap'|'pong', tick?:number, y?:number, ack?:number, ackTick?:number, clientTime?:number, serverTime?:number}[]} */
  let outbound = [];
  let lastDown = 0;
  let lastUp = 0;
  const clock = new ClockSync();
  const ticks = new TickClock({ hz });
  const jitter = new JitterMeter();
  const own = new SmoothTimeline({ hz });
  const pred = new PaddlePredictor({ hz, speed, height, fieldHeight: field });
  const present = (/** @type {number} */ now) => own.at(now, ticks.seen(now) + inputLeadTicks(clock.minRtt, jitter.percentile(0.9), hz));
  let nextServerTick = 5.3; // ms phase of the server clock
  let nextFrame = 0;
  let nextPing = 0;
  let frame = 0;
  let pingId = 0;
  const frameMs = 1000 / 60;
  /** @type {{frame:number, pressed:string, moved:number}[]} */
  const responses = [];
  for (let now = 0; now < o.seconds * 1000; now += 0.25) {
    // server tick: inputs that have arrived and are due (src/room: held until their tick, late
    // ones at the next tick), in order
    if (now >= nextServerTick) {
      nextServerTick += period;
      const t = serverTick + 1;
      const keep = [];
      for (const i of inbound) {
        if (i.at <= now && i.tick <= t && keep.length === 0) {
          if (i.seq > lastSeq) { lastSeq = i.seq; sIntent = i.intent; ackTick = t; }
        } else {
          keep.push(i);
        }
      }
      inbound = keep;
      const d = sIntent === 'up' ? -step : sIntent === 'down' ? step : 0;
      sy = Math.min(field * SUB - (height * SUB) / 2, Math.max((height * SUB) / 2, sy + d));
      serverTick = t;
      // TCP keeps order: a frame never overtakes the previous one
      const at = Math.max(lastDown, now + delay());
      lastDown = at;
      outbound.push({ at, kind: 'snap', tick: serverTick, y: Math.round(sy / SUB), ack: lastSeq, ackTick });
    }
    // client receive
    const arrived = outbound.filter((m) => m.at <= now);
    outbound = outbound.filter((m) => m.at > now);
    for (const m of arrived) {
      if (m.kind === 'pong') clock.addSample(/** @type {number} */ (m.clientTime), /** @type {number} */ (m.serverTime), now);
      else {
        jitter.add(ticks.observe(/** @type {number} */ (m.tick), now));
        pred.reconcile(/** @type {number} */ (m.tick), /** @type {number} */ (m.y), /** @type {number} */ (m.ack), m.ackTick, Number.isFinite(own.t) ? own.t : undefined);
      }
    }
    if (now >= nextPing) {
      nextPing += 250;
      const sent = now;
      const arriveServer = Math.max(lastUp, now + delay());
      lastUp = arriveServer;
      const back = Math.max(lastDown, arriveServer + delay());
      lastDown = back;
      outbound.push({ at: back, kind: 'pong', clientTime: sent, serverTime: arriveServer + 1e12 });
      pingId++;
    }
    if (now >= nextFrame) {
      nextFrame += frameMs;
      frame++;
      if (ticks.ready && clock.synced) {
        const want = o.presses(frame);
        if (want) {
          const p = present(now);
          const before = pred.yAt(p);
          const input = pred.press(want, p);
          if (input) {
            const at = Math.max(lastUp, now + delay());
            lastUp = at;
            inbound.push({ at, seq: input.seq, intent: input.intent, tick: input.tick });
            const later = present(now + frameMs);
            responses.push({ frame, pressed: want, moved: pred.yAt(later) - before });
          }
        }
      }
    }
  }
  return { stats: pred.stats, responses, pred, clock, ticks };
}
