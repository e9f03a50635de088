// What a player sees, measured: the definitions behind the per-frame statistics of the game view
// (`__rally.stats`, the network overlay, docs/web-client.md). Pure; unit-tested in
// web/test/feel.test.js.

/** @typedef {import('./protocol.js').Intent} Intent */

/** @param {Intent} intent */
function dir(intent) {
  return intent === 'up' ? -1 : intent === 'down' ? 1 : 0;
}

/**
 * The part of a single-frame move of the drawn own paddle that the local input does not explain,
 * units. A move in the direction of one of `intents` (the local intent of the previous and of this
 * frame) is explained up to paddle speed × `dtMs` (stopping at the walls; a press or release
 * during the frame explains a part of it); what goes beyond, or any move the other way, is
 * unexplained. Standing still is never a jump.
 * @param {number} dy  the drawn move, units
 * @param {number} prevY  where the paddle was drawn before
 * @param {number} dtMs  frame time
 * @param {Intent[]} intents
 * @param {{speed:number, min:number, max:number}} o  paddle speed (units/s) and the centre's range
 */
export function explainedJump(dy, prevY, dtMs, intents, o) {
  let best = Math.abs(dy);
  for (const intent of intents) {
    const d = dir(intent);
    if (d === 0) continue;
    const reach = Math.abs(Math.min(o.max, Math.max(o.min, prevY + (d * o.speed * dtMs) / 1000)) - prevY);
    if (dy * d > 0) best = Math.min(best, Math.max(0, Math.abs(dy) - reach));
  }
  return best;
}

/**
 * Where the own paddle may be drawn this frame: `y` (prediction plus offset) bounded so that the
 * move from `prevY` is at most what the local input explains (see `explainedJump`) plus `maxStep`
 * (the largest correction shown in one frame). Whatever makes the prediction itself jump — a
 * correction, a jump of the player's timeline — is then shown as a glide; the caller keeps the
 * rest in its offset.
 * @param {number} y  where the paddle would be drawn
 * @param {number} prevY  where it was drawn last frame
 * @param {number} dtMs  frame time
 * @param {Intent[]} intents  the local intent of the previous and of this frame
 * @param {{speed:number, min:number, max:number, maxStep:number}} o
 */
export function limitDrawnMove(y, prevY, dtMs, intents, o) {
  let up = o.maxStep;
  let down = o.maxStep;
  const travel = (o.speed * Math.max(0, dtMs)) / 1000;
  for (const intent of intents) {
    const d = dir(intent);
    if (d < 0) up = Math.max(up, o.maxStep + (prevY - Math.max(o.min, prevY - travel)));
    if (d > 0) down = Math.max(down, o.maxStep + (Math.min(o.max, prevY + travel) - prevY));
  }
  return Math.min(prevY + down, Math.max(prevY - up, y));
}
