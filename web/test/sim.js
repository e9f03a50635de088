// A tiny model of a rally room and a network, for the netcode tests: a server paddle stepped at
// a fixed tick with inputs applied at tick start (like src/room), snapshots and pongs delayed by
// a configurable one-way latency with jitter, and a client that runs the real modules.

import { ClockSync, TickClock } from '../js/clock.js';
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
  let serverTick = 100;
  /** @type {{at:number, seq:number, intent:string}[]} */
  let inbound = [];
  /** @type {{at:number, kind:'snap'|'pong', tick?:number, y?:number, ack?:number, clientTime?:number, serverTime?:number}[]} */
  let outbound = [];
  let lastDown = 0;
  let lastUp = 0;
  const clock = new ClockSync();
  const ticks = new TickClock({ hz });
  const pred = new PaddlePredictor({ hz, speed, height, fieldHeight: field });
  let nextServerTick = 5.3; // ms phase of the server clock
  let nextFrame = 0;
  let nextPing = 0;
  let frame = 0;
  let pingId = 0;
  const frameMs = 1000 / 60;
  /** @type {{frame:number, pressed:string, moved:number}[]} */
  const responses = [];
  for (let now = 0; now < o.seconds * 1000; now += 0.25) {
    // server tick
    if (now >= nextServerTick) {
      nextServerTick += period;
      const due = inbound.filter((i) => i.at <= now);
      inbound = inbound.filter((i) => i.at > now);
      for (const i of due) {
        if (i.seq > lastSeq) { lastSeq = i.seq; sIntent = i.intent; }
      }
      const d = sIntent === 'up' ? -step : sIntent === 'down' ? step : 0;
      sy = Math.min(field * SUB - (height * SUB) / 2, Math.max((height * SUB) / 2, sy + d));
      serverTick++;
      // TCP keeps order: a frame never overtakes the previous one
      const at = Math.max(lastDown, now + delay());
      lastDown = at;
      outbound.push({ at, kind: 'snap', tick: serverTick, y: Math.round(sy / SUB), ack: lastSeq });
    }
    // client receive
    const arrived = outbound.filter((m) => m.at <= now);
    outbound = outbound.filter((m) => m.at > now);
    for (const m of arrived) {
      if (m.kind === 'pong') clock.addSample(/** @type {number} */ (m.clientTime), /** @type {number} */ (m.serverTime), now);
      else {
        ticks.observe(/** @type {number} */ (m.tick), now);
        pred.reconcile(/** @type {number} */ (m.tick), /** @type {number} */ (m.y), /** @type {number} */ (m.ack),
          { present: ticks.present(now, clock.rtt, clock.minRtt), now });
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
          const present = ticks.present(now, clock.rtt, clock.minRtt);
          const before = pred.displayY(present, now);
          const input = pred.press(want, present);
          if (input) {
            const at = Math.max(lastUp, now + delay());
            lastUp = at;
            inbound.push({ at, seq: input.seq, intent: input.intent });
            responses.push({ frame, pressed: want, moved: pred.displayY(ticks.present(now + 0.1, clock.rtt, clock.minRtt), now + 0.1) - before });
          }
        }
      }
    }
  }
  return { stats: pred.stats, responses, pred, clock, ticks };
}
