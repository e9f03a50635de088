// The game connection: one WebSocket to /ws, authenticated by its first message, kept alive by
// ping/pong (which also feeds clock sync), and re-opened with backoff when it drops.

import { encode, decode, msg, closeInfo, ProtocolError } from './protocol.js';
import { ClockSync } from './clock.js';
import { Backoff } from './backoff.js';

/** @typedef {import('./protocol.js').ServerMsg} ServerMsg */
/** @typedef {import('./protocol.js').ClientMsg} ClientMsg */
/** @typedef {'connecting'|'online'|'reconnecting'|'closed'} ConnStatus */

/** Interval between pings once synced, ms: RTT shown and clock offset refreshed every second. */
export const PING_MS = 1000;
/** Quick pings right after connecting, so prediction has an RTT within half a second. */
const WARMUP_PINGS = 4;
/** With no message for this long the socket is considered dead and replaced, ms. */
export const SILENCE_MS = 6000;

/**
 * @typedef {object} ConnectionOptions
 * @property {string} url  ws:// or wss:// URL of /ws
 * @property {() => string|null} token  the current bearer token
 * @property {(m: ServerMsg) => void} onMessage
 * @property {(status: ConnStatus, detail: {text?:string, attempt?:number, delayMs?:number, code?:number, logout?:boolean}) => void} onStatus
 * @property {Backoff} [backoff]
 */

export class Connection {
  /** @param {ConnectionOptions} o */
  constructor(o) {
    this.o = o;
    this.backoff = o.backoff ?? new Backoff();
    this.clock = new ClockSync();
    /** @type {WebSocket|null} */
    this.ws = null;
    /** @type {ConnStatus} */
    this.status = 'closed';
    this.authed = false;
    this.wanted = false;
    this.pingId = 0;
    this.openedAt = 0;
    this.lastHeard = 0;
    /** @type {ReturnType<typeof setTimeout>|null} */
    this.retryTimer = null;
    /** @type {ReturnType<typeof setInterval>|null} */
    this.pingTimer = null;
    /** Frames sent and received, for the debug overlay. */
    this.counters = { sent: 0, received: 0, reconnects: 0, protocolErrors: 0 };
  }

  /** Open (or keep open) the connection. */
  start() {
    this.wanted = true;
    if (!this.ws) this.open();
  }

  /** Close for good (logout). */
  stop() {
    this.wanted = false;
    this.clearTimers();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, 'bye');
    }
    this.setStatus('closed', {});
  }

  /** Drop the socket as if the network failed (tests, and the silence watchdog). */
  drop() {
    if (this.ws) this.ws.close(4999, 'dropped by client');
  }

  /**
   * @param {ConnStatus} s
   * @param {{text?:string, attempt?:number, delayMs?:number, code?:number, logout?:boolean}} detail
   */
  setStatus(s, detail) {
    this.status = s;
    this.o.onStatus(s, detail);
  }

  clearTimers() {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.retryTimer = null;
    this.pingTimer = null;
  }

  open() {
    const token = this.o.token();
    if (!token) {
      this.setStatus('closed', { text: 'Not signed in.' });
      return;
    }
    this.authed = false;
    this.setStatus(this.counters.reconnects > 0 || this.backoff.attempts > 0 ? 'reconnecting' : 'connecting', { attempt: this.backoff.attempts });
    let ws;
    try {
      ws = new WebSocket(this.o.url);
    } catch {
      this.scheduleRetry(1006, '');
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.openedAt = performance.now();
      this.lastHeard = this.openedAt;
      this.sendRaw(msg.auth(token));
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.lastHeard = performance.now();
      this.counters.received++;
      let m;
      try {
        m = decode(typeof ev.data === 'string' ? ev.data : '');
      } catch (e) {
        this.counters.protocolErrors++;
        if (e instanceof ProtocolError) console.warn('rally: ignored a bad frame:', e.message);
        return;
      }
      if (m.type === 'welcome') {
        this.authed = true;
        this.startPings();
        this.setStatus('online', {});
      } else if (m.type === 'pong') {
        this.clock.addSample(m.client_time, m.server_time, performance.now());
      }
      this.o.onMessage(m);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.authed = false;
      this.clearTimers();
      this.backoff.closedAfter(this.openedAt ? performance.now() - this.openedAt : 0);
      this.openedAt = 0;
      if (!this.wanted) return;
      this.scheduleRetry(ev.code, ev.reason);
    };
  }

  /** @param {number} code @param {string} reason */
  scheduleRetry(code, reason) {
    const info = closeInfo(code, reason);
    if (!info.reconnect) {
      this.wanted = false;
      this.setStatus('closed', { text: info.text, code, logout: info.logout });
      return;
    }
    const delayMs = this.backoff.next();
    this.counters.reconnects++;
    this.setStatus('reconnecting', { text: info.text, attempt: this.backoff.attempts, delayMs, code });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.wanted && !this.ws) this.open();
    }, delayMs);
  }

  startPings() {
    let warm = 0;
    const ping = () => {
      if (!this.ws || !this.authed) return;
      if (performance.now() - this.lastHeard > SILENCE_MS) {
        this.drop();
        return;
      }
      this.sendRaw(msg.ping(++this.pingId, performance.now()));
    };
    ping();
    const warmTimer = setInterval(() => {
      if (++warm >= WARMUP_PINGS) clearInterval(warmTimer);
      ping();
    }, 100);
    this.pingTimer = setInterval(ping, PING_MS);
  }

  /**
   * Send a message once authenticated. Returns false when the socket is not ready (the caller
   * shows that it is reconnecting; game inputs are not queued, they would be stale).
   * @param {ClientMsg} m
   */
  send(m) {
    if (!this.ws || !this.authed || this.ws.readyState !== WebSocket.OPEN) return false;
    return this.sendRaw(m);
  }

  /** @param {ClientMsg} m */
  sendRaw(m) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(encode(m));
    this.counters.sent++;
    return true;
  }
}

/** The /ws URL of the page's origin. */
export function wsUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}
