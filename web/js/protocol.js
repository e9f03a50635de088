// The rally WebSocket protocol (src/protocol/mod.rs, docs/protocol.md), version 1: encoding of
// client messages, checked decoding of server messages, and words for close and error codes.
// Pure: no DOM, no socket; unit-tested in web/test/protocol.test.js.

import { isCyclesState } from './cycles-state.js';

/** Protocol version this client speaks (the server announces its own in `welcome`). */
export const PROTOCOL_VERSION = 1;

/** Largest frame the server accepts, bytes (protocol::MAX_FRAME_BYTES). */
export const MAX_FRAME_BYTES = 8 * 1024;

/** Close codes (protocol::close). */
export const Close = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  ABNORMAL: 1006,
  UNSUPPORTED_DATA: 1003,
  INVALID_DATA: 1007,
  TOO_BIG: 1009,
  RESTART: 1012,
  TRY_AGAIN: 1013,
  PROTOCOL: 4000,
  UNAUTHORIZED: 4001,
  AUTH_TIMEOUT: 4002,
  FORBIDDEN: 4003,
  RATE_LIMITED: 4008,
  HEARTBEAT_TIMEOUT: 4009,
  SESSION_REPLACED: 4010,
  SLOW_CLIENT: 4011,
});

/** @typedef {'up'|'down'|'stop'} Intent */
/** @typedef {'left'|'right'} Turn  light cycles (§10a): events, applied once each */

/**
 * @typedef {{type:'auth', token:string}
 *  | {type:'ping', id:number, client_time:number}
 *  | {type:'queue', game?:string, size?:number}
 *  | {type:'cancel_queue'}
 *  | {type:'join', room?:string, code?:string}
 *  | {type:'spectate', room?:string, code?:string}
 *  | {type:'input', seq:number, input:Intent|Turn, tick?:number}
 *  | {type:'resign'} | {type:'leave'} | {type:'where'}
 *  | {type:'subscribe', tournament:string} | {type:'unsubscribe', tournament:string}
 *  | {type:string, [key:string]:unknown}} ClientMsg
 */

/** @typedef {{seat:number, id:string, name:string, connected:boolean, rating:number}} SeatView */

/**
 * @typedef {object} PongState
 * @property {number} tick
 * @property {[number,number,number,number]} ball  x, y, vx, vy (units, units/s)
 * @property {[number,number]} paddles  centre y of seat 0 and seat 1
 * @property {[number,number]} scores
 * @property {number} serving_in  ticks before the serve; 0 while in play
 */

/** @typedef {{type:'snapshot', tick:number, acks:number[], ack_ticks?:number[], state:PongState}} Snapshot */

/**
 * A decoded server message. Known fields per type are listed in docs/protocol.md; the decoder
 * checks the ones this client relies on.
 * @typedef {{type:string, [key:string]:any}} ServerMsg
 */

/** Client message types (protocol::KNOWN_TYPES). */
export const CLIENT_TYPES = Object.freeze([
  'auth', 'ping', 'queue', 'cancel_queue', 'join', 'spectate', 'input', 'resign', 'leave', 'where',
  // Tournament live events (issue 4); servers without tournaments answer unknown_type.
  'subscribe', 'unsubscribe',
]);

/** Pong intents. */
export const INTENTS = Object.freeze(['up', 'down', 'stop']);

/** Every input this client sends: Pong's intents and the light cycles' turns. */
export const INPUTS = Object.freeze([...INTENTS, 'left', 'right']);

/** Thrown when a message cannot be encoded or a frame is not a valid server message. */
export class ProtocolError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/**
 * Encode a client message as a JSON text frame, refusing what the server would refuse.
 * @param {ClientMsg} msg
 * @returns {string}
 */
export function encode(msg) {
  if (!msg || typeof msg !== 'object' || !CLIENT_TYPES.includes(msg.type)) {
    throw new ProtocolError(`unknown client message type ${JSON.stringify(msg && msg.type)}`);
  }
  switch (msg.type) {
    case 'auth':
      if (typeof msg.token !== 'string' || msg.token === '') throw new ProtocolError('auth needs a token');
      break;
    case 'ping':
      if (!isUint(msg.id)) throw new ProtocolError('ping id must be a non-negative integer');
      break;
    case 'input':
      if (!isUint(msg.seq) || Number(msg.seq) < 1) throw new ProtocolError('input seq must be a positive integer');
      if (!INPUTS.includes(/** @type {any} */ (msg.input))) throw new ProtocolError(`unknown input ${JSON.stringify(msg.input)}`);
      if (msg.tick !== undefined && !isUint(msg.tick)) throw new ProtocolError('input tick must be a non-negative integer');
      break;
    case 'queue':
      if (msg.size !== undefined && (!isUint(msg.size) || Number(msg.size) < 1)) throw new ProtocolError('queue size must be a positive integer');
      break;
    case 'join':
    case 'spectate':
      if (!msg.room && !msg.code) throw new ProtocolError(`${msg.type} needs a room or a code`);
      break;
    default:
  }
  const text = JSON.stringify(msg);
  if (text.length > MAX_FRAME_BYTES) throw new ProtocolError('message too large');
  return text;
}

/** @param {unknown} v */
function isUint(v) {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** @param {unknown} v @param {number} n */
function isNumArray(v, n) {
  return Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

/**
 * Decode one server text frame. Throws ProtocolError when it is not JSON, has no type, or a
 * message this client relies on has the wrong shape.
 * @param {string} text
 * @returns {ServerMsg}
 */
export function decode(text) {
  /** @type {any} */
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ProtocolError('server sent a frame that is not JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v) || typeof v.type !== 'string') {
    throw new ProtocolError('server sent a frame without a type');
  }
  switch (v.type) {
    case 'snapshot': {
      const s = v.state;
      if (!isUint(v.tick) || !Array.isArray(v.acks) || !v.acks.every(isUint) || !s || typeof s !== 'object') {
        throw new ProtocolError('malformed snapshot');
      }
      if (Array.isArray(s.heads)) {
        // Light cycles (§10a): a full or a delta state.
        if (!isCyclesState(s)) throw new ProtocolError('malformed snapshot');
      } else {
        if (!isNumArray(s.ball, 4) || !isNumArray(s.paddles, 2) || !isNumArray(s.scores, 2)) throw new ProtocolError('malformed snapshot');
        if (typeof s.serving_in !== 'number') s.serving_in = 0;
      }
      // Servers before input ticks send no ack_ticks: 0 means "unknown".
      if (!Array.isArray(v.ack_ticks) || !v.ack_ticks.every(isUint)) v.ack_ticks = v.acks.map(() => 0);
      break;
    }
    case 'pong':
      if (typeof v.client_time !== 'number' || typeof v.server_time !== 'number') {
        throw new ProtocolError('malformed pong');
      }
      break;
    case 'welcome':
      if (typeof v.session !== 'string' || !v.player || typeof v.player.id !== 'string') {
        throw new ProtocolError('malformed welcome');
      }
      break;
    case 'joined':
      if (typeof v.room !== 'string' || (v.role !== 'player' && v.role !== 'spectator') || !isUint(v.tick_hz)) {
        throw new ProtocolError('malformed joined');
      }
      break;
    case 'room':
      if (typeof v.state !== 'string' || !Array.isArray(v.players)) throw new ProtocolError('malformed room');
      break;
    case 'account':
      if (!v.player || typeof v.player.id !== 'string' || typeof v.player.role !== 'string'
        || (v.token !== null && typeof v.token !== 'string')) {
        throw new ProtocolError('malformed account');
      }
      break;
    case 'error':
      if (typeof v.code !== 'string') throw new ProtocolError('malformed error');
      if (typeof v.message !== 'string') v.message = '';
      break;
    default:
  }
  return v;
}

/** Constructors for the client messages, so call sites cannot misspell a field. */
export const msg = Object.freeze({
  /** @param {string} token @returns {ClientMsg} */
  auth: (token) => ({ type: 'auth', token }),
  /** @param {number} id @param {number} clientTime @returns {ClientMsg} */
  ping: (id, clientTime) => ({ type: 'ping', id, client_time: clientTime }),
  /**
   * Quick match; `size` is the number of players for games of more than two (docs/protocol.md
   * §10a), omitted for the game's default.
   * @param {string} [game] @param {number} [size] @returns {ClientMsg}
   */
  queue: (game = 'pong', size = undefined) => (size === undefined ? { type: 'queue', game } : { type: 'queue', game, size }),
  /** @returns {ClientMsg} */
  cancelQueue: () => ({ type: 'cancel_queue' }),
  /** @param {{room?:string, code?:string}} target @returns {ClientMsg} */
  join: (target) => ({ type: 'join', ...target }),
  /** @param {{room?:string, code?:string}} target @returns {ClientMsg} */
  spectate: (target) => ({ type: 'spectate', ...target }),
  /**
   * An input; `tick` is the tick it is for (docs/protocol.md §9), omitted when unknown.
   * @param {number} seq @param {Intent|Turn} intent @param {number} [tick] @returns {ClientMsg}
   */
  input: (seq, intent, tick) => (tick === undefined ? { type: 'input', seq, input: intent } : { type: 'input', seq, input: intent, tick }),
  /** @returns {ClientMsg} */
  resign: () => ({ type: 'resign' }),
  /** @returns {ClientMsg} */
  leave: () => ({ type: 'leave' }),
  /** @returns {ClientMsg} */
  where: () => ({ type: 'where' }),
  /** @param {string} tournament @returns {ClientMsg} */
  subscribe: (tournament) => ({ type: 'subscribe', tournament }),
  /** @param {string} tournament @returns {ClientMsg} */
  unsubscribe: (tournament) => ({ type: 'unsubscribe', tournament }),
});

/** Words for the WebSocket error codes (protocol::code), used when the server's message is empty. */
const ERROR_WORDS = /** @type {Record<string,string>} */ ({
  invalid_json: 'The client sent a malformed message.',
  unknown_type: 'The client sent a message the server does not know.',
  invalid_field: 'The client sent a message with a wrong field.',
  not_authenticated: 'Not signed in yet.',
  already_authenticated: 'Already signed in on this connection.',
  unauthorized: 'Your session has expired or was revoked; please sign in again.',
  forbidden: 'You are not allowed to do that.',
  not_found: 'No such room (or it has closed).',
  room_full: 'Every seat in that room is taken; you can spectate instead.',
  not_in_room: 'You are not in a room.',
  not_a_player: 'Spectators cannot play.',
  invalid_input: 'The game refused an input.',
  input_dropped: 'The room is busy; an input was dropped.',
  conflict: 'That conflicts with what you are already doing.',
  rate_limited: 'Too many messages; slow down.',
  binary_not_supported: 'The server accepts only text messages.',
  too_big: 'A message was too large.',
  internal: 'The server failed; please try again.',
  unavailable: 'The service is temporarily unavailable; please try again.',
});

/**
 * A sentence for a server error: the server's own message when it has one, else words for the
 * code. Never empty.
 * @param {string} code
 * @param {string} [message]
 */
export function errorText(code, message) {
  const words = ERROR_WORDS[code] || `Error: ${code}.`;
  if (!message) return words;
  const m = message.charAt(0).toUpperCase() + message.slice(1);
  return /[.!?]$/.test(m) ? m : `${m}.`;
}

/**
 * What a close code means for the user, and whether the client should reconnect by itself.
 * @param {number} code
 * @param {string} [reason]
 * @returns {{reconnect:boolean, logout:boolean, text:string}}
 */
export function closeInfo(code, reason) {
  const r = reason ? ` (${reason})` : '';
  switch (code) {
    case Close.UNAUTHORIZED:
      return { reconnect: false, logout: true, text: `Your session is no longer valid${r}; please sign in again.` };
    case Close.FORBIDDEN:
      return { reconnect: false, logout: true, text: `This token may not open a game connection${r}.` };
    case Close.SESSION_REPLACED:
      return { reconnect: false, logout: false, text: 'You opened rally in another tab or window; this one is disconnected.' };
    case Close.PROTOCOL:
    case Close.UNSUPPORTED_DATA:
    case Close.INVALID_DATA:
    case Close.TOO_BIG:
      return { reconnect: true, logout: false, text: `The server closed the connection after a protocol error${r}; reconnecting.` };
    case Close.RATE_LIMITED:
      return { reconnect: true, logout: false, text: 'Too many messages were sent; reconnecting.' };
    case Close.SLOW_CLIENT:
      return { reconnect: true, logout: false, text: 'The connection fell behind; reconnecting.' };
    case Close.HEARTBEAT_TIMEOUT:
      return { reconnect: true, logout: false, text: 'The connection stopped answering; reconnecting.' };
    case Close.RESTART:
    case Close.TRY_AGAIN:
      return { reconnect: true, logout: false, text: 'The server is restarting; reconnecting.' };
    case Close.AUTH_TIMEOUT:
      return { reconnect: true, logout: false, text: 'Signing in took too long; reconnecting.' };
    case Close.NORMAL:
      return { reconnect: true, logout: false, text: 'The server closed the connection; reconnecting.' };
    default:
      return { reconnect: true, logout: false, text: 'The connection was lost; reconnecting.' };
  }
}

/**
 * Human words for a finished match's reason.
 * @param {string} reason
 */
export function endReasonText(reason) {
  switch (reason) {
    case 'score': return 'by score';
    case 'forfeit': return 'by forfeit (a player did not come back in time)';
    case 'resign': return 'by resignation';
    case 'abandoned': return 'abandoned';
    case 'settled': return 'as settled by the organiser';
    case 'cancelled': return 'because the tournament was cancelled';
    default: return reason;
  }
}
