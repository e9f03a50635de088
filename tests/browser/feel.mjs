// The play-feel measurement of issue 15, pure: what a test measured per animation frame of the
// game view (its frame log) and from its own key events, turned into the figures of
// docs/web-client.md. Independent of the client's own counters (web/js/game.js `count`), which
// the scenario compares with these.

/** @typedef {{t:number, y:number|null, ball:[number,number]|null, speed:number, serving:number, scores:number[]|null, intent:string, mode:string}} FrameRecord */
/** @typedef {{t:number, type:string, code:string}} KeyEvent */

const UP = new Set(['KeyW', 'ArrowUp']);
const DOWN = new Set(['KeyS', 'ArrowDown']);

/**
 * The local intent over time, from the key events the page received.
 * @param {KeyEvent[]} keys
 * @returns {(t:number) => 'up'|'down'|'stop'}
 */
export function intentTimeline(keys) {
  /** @type {{t:number, intent:'up'|'down'|'stop'}[]} */
  const changes = [];
  const held = new Set();
  for (const k of keys) {
    if (!UP.has(k.code) && !DOWN.has(k.code)) continue;
    if (k.type === 'keydown') held.add(k.code);
    else held.delete(k.code);
    const up = [...held].some((c) => UP.has(c));
    const down = [...held].some((c) => DOWN.has(c));
    changes.push({ t: k.t, intent: up && !down ? 'up' : down && !up ? 'down' : 'stop' });
  }
  return (t) => {
    let intent = /** @type {'up'|'down'|'stop'} */ ('stop');
    for (const c of changes) {
      if (c.t <= t) intent = c.intent;
      else break;
    }
    return intent;
  };
}

/**
 * @param {{frames:FrameRecord[], keys:KeyEvent[], paddle:{height:number, speed:number, min:number, max:number}}} o
 */
export function measure(o) {
  const { frames, keys, paddle } = o;
  const intentAt = intentTimeline(keys);
  const dir = (/** @type {string} */ i) => (i === 'up' ? -1 : i === 'down' ? 1 : 0);
  const r = {
    frames: frames.length,
    presses: 0, pressesMovedNextFrame: 0, pressesAtWall: 0, pressesWithoutFrame: 0,
    ownJumps: 0, maxOwnJump: 0, maxOwnUnexplained: 0,
    ballJumps: 0, maxBallJumpRatio: 0, ballFrozenFrames: 0, ballExtrapolatedFrames: 0,
    frameMsP50: 0, frameMsMax: 0,
    /** @type {any[]} the first presses that did not move the paddle, with the frames around them */
    failed: [],
    /** @type {any[]} the frames around the largest unexplained own-paddle move */
    worstOwn: [],
  };
  const dts = [];
  for (let i = 1; i < frames.length; i++) {
    const a = frames[i - 1];
    const b = frames[i];
    const dt = b.t - a.t;
    dts.push(dt);
    if (a.y !== null && b.y !== null) {
      const dy = b.y - a.y;
      let unexplained = Math.abs(dy);
      for (const intent of [intentAt(a.t), intentAt(b.t)]) {
        const d = dir(intent);
        if (d === 0) continue;
        // Towards the key, up to paddle speed for the frame (a key during the frame: part of it).
        const reach = Math.abs(Math.min(paddle.max, Math.max(paddle.min, a.y + (d * paddle.speed * dt) / 1000)) - a.y);
        if (dy * d > 0) unexplained = Math.min(unexplained, Math.max(0, Math.abs(dy) - reach));
      }
      r.maxOwnJump = Math.max(r.maxOwnJump, Math.abs(dy));
      if (unexplained > r.maxOwnUnexplained) {
        r.worstOwn = frames.slice(Math.max(0, i - 2), i + 2).map((f) => ({ ...f, ball: null, t: +(f.t - b.t).toFixed(1) }));
      }
      r.maxOwnUnexplained = Math.max(r.maxOwnUnexplained, unexplained);
      if (unexplained > 0.1 * paddle.height) r.ownJumps++;
    }
    const same = a.scores && b.scores && a.scores[0] === b.scores[0] && a.scores[1] === b.scores[1];
    if (a.ball && b.ball && b.serving === 0 && b.speed > 0 && same) {
      const moved = Math.hypot(b.ball[0] - a.ball[0], b.ball[1] - a.ball[1]);
      const ratio = moved / ((b.speed * Math.max(dt, 1)) / 1000);
      r.maxBallJumpRatio = Math.max(r.maxBallJumpRatio, ratio);
      if (ratio > 3) r.ballJumps++;
      if (moved < 0.01) r.ballFrozenFrames++;
      if (b.mode === 'extrapolated') r.ballExtrapolatedFrames++;
    }
  }
  // Each press (a key that makes the local intent up or down) must move the drawn paddle that
  // way on the first frame after it, unless the paddle is already at that wall.
  const first = frames[0]?.t ?? Infinity;
  const last = frames[frames.length - 1]?.t ?? -Infinity;
  for (const k of keys) {
    if (k.type !== 'keydown' || k.t <= first || k.t >= last) continue;
    const want = intentAt(k.t);
    if (want === 'stop' || intentAt(k.t - 0.001) === want) continue;
    r.presses++;
    let i = frames.findIndex((f) => f.t > k.t);
    if (i <= 0 || frames[i].y === null || frames[i - 1].y === null) { r.pressesWithoutFrame++; continue; }
    // Where the paddle was at the key event: the previous frame's position carried on with that
    // frame's local intent until then (a frame can be long before the event on a busy machine;
    // a change of keys releases one just before pressing the other).
    const prev = frames[i - 1];
    const dPrev = dir(intentAt(prev.t));
    const before = Math.min(paddle.max, Math.max(paddle.min, /** @type {number} */ (prev.y) + (dPrev * paddle.speed * (k.t - prev.t)) / 1000));
    const after = /** @type {number} */ (frames[i].y);
    const atWall = dir(want) < 0 ? before <= paddle.min + 1 : before >= paddle.max - 1;
    if (atWall) r.pressesAtWall++;
    if (atWall || (after - before) * dir(want) > 0) r.pressesMovedNextFrame++;
    else if (r.failed.length < 5) {
      r.failed.push({ key: k, want, frames: frames.slice(Math.max(0, i - 2), i + 3).map((f) => ({ ...f, t: +(f.t - k.t).toFixed(1) })) });
    }
  }
  dts.sort((x, y) => x - y);
  r.frameMsP50 = dts.length ? dts[dts.length >> 1] : 0;
  r.frameMsMax = dts.length ? dts[dts.length - 1] : 0;
  return r;
}
