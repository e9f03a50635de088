// Replays: what the client can show from GET /api/v1/matches/{id}/replay, whose payload is the
// seed, the config and the input log (no positions). Paddles depend only on inputs, so their
// exact path is rebuilt here with the server's integer step; the ball depends on the seeded RNG
// and is not re-simulated (see docs/web-client.md). Pure; unit-tested in web/test/replay.test.js.

import { SUB } from './prediction.js';

/** Pong defaults (src/game/pong/config.rs) used when the stored config leaves a field out. */
export const PONG_DEFAULTS = Object.freeze({
  points_to_win: 5, tick_hz: 60, serve_delay_ms: 1000, paddle_height: 1800, paddle_speed: 12000,
  ball_speed: 8000, ball_speedup_permille: 60, max_ball_speed: 32000,
});

export const FIELD = Object.freeze({ width: 16000, height: 9000 });

/**
 * @typedef {object} ReplayData
 * @property {string} match
 * @property {string} game
 * @property {number} seed
 * @property {Record<string,any>|null} config
 * @property {number} ticks
 * @property {{inputs:[number,number,any][], end:{tick:number, loser:number, reason:string}|null}} log
 * @property {(string|null)[]} players
 * @property {number[]} scores
 */

/**
 * @typedef {object} ReplayTrack
 * @property {number} hz
 * @property {number} ticks
 * @property {Float64Array[]} paddles  paddles[seat][tick] = centre y after that tick
 * @property {{tick:number, seat:number, input:string}[]} inputs
 * @property {Record<string, number>} config
 */

/**
 * Rebuild both paddles' paths from a replay.
 * @param {ReplayData} replay
 * @param {number} [maxTicks]  refuse longer replays (memory), default 15 minutes at 240 Hz
 * @returns {ReplayTrack}
 */
export function paddleTrack(replay, maxTicks = 15 * 60 * 240) {
  const config = { ...PONG_DEFAULTS, ...(replay.config || {}) };
  const hz = config.tick_hz;
  const ticks = Math.min(Math.max(0, replay.ticks | 0), maxTicks);
  const step = Math.max(1, Math.floor((config.paddle_speed * SUB) / hz));
  const half = (config.paddle_height * SUB) / 2;
  const lo = half;
  const hi = FIELD.height * SUB - half;
  const inputs = (replay.log && replay.log.inputs ? replay.log.inputs : [])
    .map(([tick, seat, input]) => ({ tick: Number(tick), seat: Number(seat), input: String(input) }))
    .filter((i) => i.seat === 0 || i.seat === 1);
  /** @type {Float64Array[]} */
  const paddles = [new Float64Array(ticks + 1), new Float64Array(ticks + 1)];
  const y = [(FIELD.height * SUB) / 2, (FIELD.height * SUB) / 2];
  const intent = ['stop', 'stop'];
  let next = 0;
  paddles[0][0] = y[0] / SUB;
  paddles[1][0] = y[1] / SUB;
  // An input logged at tick k was applied before the step from k to k + 1.
  for (let k = 0; k < ticks; k++) {
    while (next < inputs.length && inputs[next].tick <= k) {
      intent[inputs[next].seat] = inputs[next].input;
      next++;
    }
    for (const s of [0, 1]) {
      const d = intent[s] === 'up' ? -step : intent[s] === 'down' ? step : 0;
      y[s] = Math.min(hi, Math.max(lo, y[s] + d));
      paddles[s][k + 1] = y[s] / SUB;
    }
  }
  return { hz, ticks, paddles, inputs, config };
}

/**
 * Format a tick as m:ss.t.
 * @param {number} tick
 * @param {number} hz
 */
export function tickTime(tick, hz) {
  const s = tick / hz;
  const m = Math.floor(s / 60);
  const rest = s - m * 60;
  return `${m}:${rest < 10 ? '0' : ''}${rest.toFixed(1)}`;
}
