// The Pong view: canvas rendering of a room driven by snapshots, with prediction of the player's
// own paddle (prediction.js), interpolation of everything else (interpolation.js), and the
// countdown, pause, result and latency displays. Keyboard (W/S, arrows) and touch controls.

import { h, mount } from './dom.js';
import { msg, endReasonText } from './protocol.js';
import { TickClock } from './clock.js';
import { PaddlePredictor } from './prediction.js';
import { SnapshotBuffer, renderTick, DEFAULT_RENDER_DELAY_MS } from './interpolation.js';

/** @typedef {import('./protocol.js').ServerMsg} ServerMsg */
/** @typedef {import('./protocol.js').Intent} Intent */
/** @typedef {import('./protocol.js').SeatView} SeatView */
/** @typedef {import('./net.js').Connection} Connection */

/** Where the render delay setting lives (ms). */
export const DELAY_KEY = 'rally.renderDelayMs';

/** @returns {number} */
export function renderDelaySetting() {
  const q = new URLSearchParams(location.search).get('delay');
  const v = Number(q ?? localStorage.getItem(DELAY_KEY) ?? DEFAULT_RENDER_DELAY_MS);
  return Number.isFinite(v) && v >= 0 && v <= 500 ? v : DEFAULT_RENDER_DELAY_MS;
}

/**
 * Test and debug hooks (read by tests/browser): counters and positions of the running view.
 * @type {Record<string, any>}
 */
const hooks = /** @type {any} */ (window).__rally || ((/** @type {any} */ (window)).__rally = {});

/**
 * @typedef {object} GameOptions
 * @property {Connection} conn
 * @property {ServerMsg} joined  the `joined` message
 * @property {string} me  own player id
 * @property {() => void} onLeave  back to the lobby
 * @property {() => void} onPlayAgain  queue again
 * @property {{room:string, code:string}|null} [invite]  the private room this player created
 * @property {{id:string, name:string}|null} [tournament]  the tournament this match belongs to
 */

/**
 * The tournament line of the HUD.
 * @param {{id:string, name:string}|null|undefined} t
 */
function tournamentLink(t) {
  return t ? h('a', { href: `#/tournaments/${encodeURIComponent(t.id)}`, testid: 'game-tournament' }, t.name) : null;
}

export class GameView {
  /** @param {GameOptions} o */
  constructor(o) {
    this.o = o;
    const j = o.joined;
    this.room = /** @type {string} */ (j.room);
    this.matchId = /** @type {string} */ (j.match);
    this.role = /** @type {'player'|'spectator'} */ (j.role);
    this.seat = typeof j.seat === 'number' ? j.seat : null;
    const info = j.info || {};
    this.hz = j.tick_hz || info.tick_hz || 60;
    this.field = { width: info.field?.width ?? 16000, height: info.field?.height ?? 9000 };
    this.paddle = {
      width: info.paddle?.width ?? 240,
      height: info.paddle?.height ?? 1800,
      x: /** @type {number[]} */ (info.paddle?.x ?? [640, 15360]),
      speed: info.paddle?.speed ?? 12000,
    };
    this.ballSize = info.ball?.size ?? 240;
    this.pointsToWin = info.points_to_win ?? null;
    this.delayMs = renderDelaySetting();
    this.ticks = new TickClock({ hz: this.hz });
    this.buffer = new SnapshotBuffer({ hz: this.hz });
    this.predictor = new PaddlePredictor({
      hz: this.hz, speed: this.paddle.speed, height: this.paddle.height, fieldHeight: this.field.height,
    });
    /** @type {string} */
    this.roomState = 'waiting';
    /** @type {SeatView[]} */
    this.players = [];
    this.spectators = 0;
    /** Local time when `remaining_ms` ends. */
    this.deadline = 0;
    /** @type {ServerMsg|null} */
    this.end = null;
    /** @type {ServerMsg|null} */
    this.ratings = null;
    this.firstSnapshot = true;
    /** @type {Intent|null} an intent wanted before the first snapshot told us the sequence floor */
    this.deferred = null;
    this.keys = { up: false, down: false };
    this.touch = { active: false, targetY: 0, up: false, down: false };
    this.frames = 0;
    this.lastShownY = this.field.height / 2;
    /** @type {{intent:Intent, frame:number, yBefore:number, dyFirstFrame:number|null, predictedDy:number|null, predictedAtPress:number, predictionDy:number|null}|null} */
    this.probe = null;
    this.raf = 0;
    this.dead = false;
    const unset = /** @type {any} */ (null);
    /** @type {HTMLCanvasElement} */ this.canvas = unset;
    /** @type {CanvasRenderingContext2D} */ this.ctx = unset;
    /** @type {HTMLElement[]} */ this.nameEls = unset;
    /** @type {HTMLElement} */ this.scoreEl = unset;
    /** @type {HTMLElement} */ this.stateEl = unset;
    /** @type {HTMLElement} */ this.specEl = unset;
    /** @type {HTMLElement} */ this.overlay = unset;
    /** @type {HTMLButtonElement} */ this.touchUp = unset;
    /** @type {HTMLButtonElement} */ this.touchDown = unset;
    /** @type {HTMLButtonElement} */ this.resignBtn = unset;
    /** @type {HTMLButtonElement} */ this.leaveBtn = unset;
    /** @type {HTMLElement} */ this.root = unset;
    /** @type {(() => void)|null} */ this.onBlur = null;
    this.buildDom();
    this.onKey = this.onKey.bind(this);
    window.addEventListener('keydown', this.onKey);
    window.addEventListener('keyup', this.onKey);
    this.onBlur = () => { this.keys.up = this.keys.down = false; this.updateIntent(); };
    window.addEventListener('blur', this.onBlur);
    Object.assign(hooks, {
      game: this, room: this.room, match: this.matchId, role: this.role, seat: this.seat, stateLog: [],
      keyProbes: [], stats: this.predictor.stats, delayMs: this.delayMs,
    });
    this.loop = this.loop.bind(this);
    this.raf = requestAnimationFrame(this.loop);
  }

  /** The root element to mount. */
  get element() {
    return this.root;
  }

  buildDom() {
    this.canvas = h('canvas', { class: 'field', testid: 'game-canvas', width: 960, height: 540, 'aria-label': 'Pong field' });
    this.ctx = /** @type {CanvasRenderingContext2D} */ (this.canvas.getContext('2d'));
    this.nameEls = [h('span', { class: 'name', testid: 'seat0-name' }), h('span', { class: 'name', testid: 'seat1-name' })];
    this.scoreEl = h('span', { class: 'score', testid: 'score', text: '0 – 0' });
    this.stateEl = h('span', { class: 'room-state', testid: 'room-state', text: 'waiting' });
    this.specEl = h('span', { class: 'spectators', testid: 'spectator-count' });
    this.overlay = h('div', { class: 'overlay hidden', testid: 'overlay' });
    this.touchUp = h('button', { class: 'touch up', testid: 'touch-up', type: 'button', 'aria-label': 'Move up', text: '▲' });
    this.touchDown = h('button', { class: 'touch down', testid: 'touch-down', type: 'button', 'aria-label': 'Move down', text: '▼' });
    for (const [el, dirn] of /** @type {[HTMLElement, 'up'|'down'][]} */ ([[this.touchUp, 'up'], [this.touchDown, 'down']])) {
      el.addEventListener('pointerdown', (e) => { e.preventDefault(); this.touch[dirn] = true; this.updateIntent(); });
      for (const ev of ['pointerup', 'pointercancel', 'pointerleave']) {
        el.addEventListener(ev, () => { this.touch[dirn] = false; this.updateIntent(); });
      }
    }
    // Dragging on the field steers the paddle towards the finger.
    this.canvas.addEventListener('pointerdown', (e) => {
      if (e.pointerType === 'mouse') return;
      this.touch.active = true;
      this.touch.targetY = this.fieldY(e.clientY);
      this.canvas.setPointerCapture(e.pointerId);
    });
    this.canvas.addEventListener('pointermove', (e) => { if (this.touch.active) this.touch.targetY = this.fieldY(e.clientY); });
    for (const ev of ['pointerup', 'pointercancel']) {
      this.canvas.addEventListener(ev, () => { this.touch.active = false; this.updateIntent(); });
    }
    const isPlayer = this.role === 'player';
    this.resignBtn = h('button', { type: 'button', class: 'danger', testid: 'resign', onclick: () => this.resign() }, 'Resign');
    this.leaveBtn = h('button', { type: 'button', testid: 'leave-room', onclick: () => this.leave() }, isPlayer ? 'Leave' : 'Stop watching');
    this.root = h('section', { class: 'game', testid: 'game-view', 'data-role': this.role },
      h('div', { class: 'hud' },
        h('span', { class: ['seat', 'seat0', this.seat === 0 && 'me'] }, this.nameEls[0]),
        this.scoreEl,
        h('span', { class: ['seat', 'seat1', this.seat === 1 && 'me'] }, this.nameEls[1])),
      h('div', { class: 'hud small' },
        h('span', null, isPlayer ? `You play ${this.seat === 0 ? 'left' : 'right'}` : 'Spectating'),
        tournamentLink(this.o.tournament),
        this.stateEl, this.specEl,
        this.pointsToWin ? h('span', null, `first to ${this.pointsToWin}`) : null),
      h('div', { class: 'stage' }, this.canvas, this.overlay),
      isPlayer ? h('div', { class: 'touch-controls' }, this.touchUp, this.touchDown) : null,
      h('div', { class: 'game-actions' },
        isPlayer ? h('span', { class: 'hint' }, 'W / S or ↑ / ↓ to move; on a phone, drag on the field or hold ▲ ▼.') : null,
        isPlayer ? this.resignBtn : null, this.leaveBtn));
  }

  /** @param {number} clientY */
  fieldY(clientY) {
    const r = this.canvas.getBoundingClientRect();
    return ((clientY - r.top) / r.height) * this.field.height;
  }

  destroy() {
    this.dead = true;
    cancelAnimationFrame(this.raf);
    window.removeEventListener('keydown', this.onKey);
    window.removeEventListener('keyup', this.onKey);
    if (this.onBlur) window.removeEventListener('blur', this.onBlur);
    if (hooks.game === this) hooks.game = null;
  }

  /** @param {KeyboardEvent} e */
  onKey(e) {
    const t = /** @type {HTMLElement|null} */ (e.target);
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT')) return;
    const down = e.type === 'keydown';
    if (e.code === 'KeyW' || e.code === 'ArrowUp') this.keys.up = down;
    else if (e.code === 'KeyS' || e.code === 'ArrowDown') this.keys.down = down;
    else return;
    e.preventDefault();
    if (!e.repeat) this.updateIntent();
  }

  /** @returns {Intent} */
  wantedIntent() {
    const up = this.keys.up || this.touch.up;
    const down = this.keys.down || this.touch.down;
    if (up && !down) return 'up';
    if (down && !up) return 'down';
    if (this.touch.active) {
      const dead = this.paddle.height / 6;
      if (this.touch.targetY < this.lastShownY - dead) return 'up';
      if (this.touch.targetY > this.lastShownY + dead) return 'down';
    }
    return 'stop';
  }

  updateIntent(force = false) {
    if (this.role !== 'player' || this.end || this.o.conn.status !== 'online') return;
    const intent = this.wantedIntent();
    if (this.firstSnapshot) {
      this.deferred = intent;
      return;
    }
    const now = performance.now();
    const playing = this.roomState === 'playing' && this.ticks.ready;
    const present = playing ? this.present(now) : this.predictor.base.tick;
    const yBefore = this.lastShownY;
    const input = this.predictor.press(intent, present, force);
    if (!input) return;
    if (!playing) this.predictor.hold(this.predictor.base.tick, this.predictor.base.y);
    this.o.conn.send(msg.input(input.seq, input.intent));
    if (playing && intent !== 'stop') {
      const predictedAtPress = this.predictor.yAt(this.present(performance.now()));
      this.probe = { intent, frame: this.frames, yBefore, dyFirstFrame: null, predictedDy: predictedAtPress - yBefore, predictedAtPress, predictionDy: null };
    }
  }

  /** @param {number} now */
  present(now) {
    const c = this.o.conn.clock;
    return this.ticks.present(now, c.rtt, c.minRtt);
  }

  /**
   * Two-step buttons: the first click arms for three seconds, the second acts (no modal dialog,
   * which a game in progress should not show).
   * @param {HTMLButtonElement} btn
   * @param {string} armedText
   */
  armed(btn, armedText) {
    if (btn.dataset.armed === '1') return true;
    const text = btn.textContent;
    btn.dataset.armed = '1';
    btn.textContent = armedText;
    setTimeout(() => { btn.dataset.armed = ''; btn.textContent = text; }, 3000);
    return false;
  }

  resign() {
    if (this.end) return;
    if (!this.armed(this.resignBtn, 'Click again to resign')) return;
    this.o.conn.send(msg.resign());
  }

  leave() {
    if (!this.end && this.role === 'player' && ['countdown', 'playing', 'paused'].includes(this.roomState)) {
      if (!this.armed(this.leaveBtn, 'Leaving resigns: click again')) return;
    }
    this.o.conn.send(msg.leave());
    this.o.onLeave();
  }

  /**
   * A server message for this room.
   * @param {ServerMsg} m
   */
  handle(m) {
    const now = performance.now();
    switch (m.type) {
      case 'room': {
        if (m.room !== this.room) return;
        const prev = this.roomState;
        this.roomState = m.state;
        this.players = m.players || [];
        this.spectators = m.spectators ?? 0;
        this.deadline = typeof m.remaining_ms === 'number' ? now + m.remaining_ms : 0;
        hooks.stateLog.push(m.state);
        hooks.roomState = m.state;
        if (m.state !== 'playing') this.ticks.reset();
        if (prev !== m.state && m.state === 'playing') this.buffer.clear();
        this.renderHud();
        break;
      }
      case 'snapshot': {
        const tick = m.tick;
        this.buffer.push({ ...m.state, tick });
        if (this.roomState === 'playing') this.ticks.observe(tick, now);
        if (this.role === 'player' && this.seat !== null) {
          const y = m.state.paddles[this.seat];
          const ack = m.acks[this.seat] ?? 0;
          if (this.firstSnapshot) {
            this.firstSnapshot = false;
            this.predictor.reconcile(tick, y, ack);
            if (this.roomState !== 'playing') this.predictor.hold(tick, y);
            // State the held intent once: after a reload the server may still hold an old one.
            this.deferred = null;
            this.updateIntent(true);
          } else if (this.roomState === 'playing') {
            this.predictor.reconcile(tick, y, ack, { present: this.present(now), now });
          } else {
            this.predictor.reconcile(tick, y, ack);
            this.predictor.hold(tick, y);
          }
        }
        const s = m.state.scores;
        this.scoreEl.textContent = `${s[0]} – ${s[1]}`;
        break;
      }
      case 'event':
        break;
      case 'match_end':
        if (m.room !== this.room) return;
        this.end = m;
        hooks.result = m;
        this.showResult();
        break;
      case 'ratings':
        if (m.match !== this.matchId) return;
        this.ratings = m;
        hooks.ratings = m;
        this.showResult();
        break;
      default:
    }
  }

  renderHud() {
    for (const seat of [0, 1]) {
      const p = this.players.find((x) => x.seat === seat);
      const el = this.nameEls[seat];
      el.textContent = p ? `${p.name} (${p.rating})${p.connected ? '' : ' · away'}` : 'waiting for a player…';
      el.classList.toggle('away', !!p && !p.connected);
    }
    const words = /** @type {Record<string,string>} */ ({
      waiting: 'waiting for players', countdown: 'get ready', playing: 'playing', paused: 'paused', finished: 'finished',
    });
    this.stateEl.textContent = words[this.roomState] || this.roomState;
    this.specEl.textContent = this.spectators ? `${this.spectators} watching` : '';
  }

  showResult() {
    const e = this.end;
    if (!e) return;
    const outcome = e.outcome || {};
    const winner = outcome.winner;
    const scores = outcome.scores || [0, 0];
    const nameOf = (/** @type {number} */ seat) => this.players.find((p) => p.seat === seat)?.name || `seat ${seat}`;
    let headline;
    if (winner === null || winner === undefined) headline = outcome.reason === 'abandoned' ? 'Match abandoned' : 'Draw';
    else if (this.role === 'player') headline = winner === this.seat ? 'You won!' : 'You lost';
    else headline = `${nameOf(winner)} won`;
    /** @type {HTMLElement|null} */
    let rating = null;
    if (this.ratings && Array.isArray(this.ratings.changes)) {
      const mine = this.ratings.changes.find((/** @type {any} */ c) => this.role === 'player' ? c.seat === this.seat : false);
      const rows = (mine ? [mine] : this.ratings.changes).map((/** @type {any} */ c) => {
        const d = c.after - c.before;
        return h('div', null, `${mine ? 'Your rating' : nameOf(c.seat)}: ${c.before} → ${c.after} (${d >= 0 ? '+' : ''}${d})`);
      });
      rating = h('div', { class: 'rating-change', testid: 'rating-change' }, rows);
    } else if (this.o.tournament) {
      rating = h('div', { class: 'rating-change' }, 'Tournament match: unrated; the bracket moves on.');
    } else if (e.rated) {
      rating = h('div', { class: 'rating-change pending', testid: 'rating-pending' }, 'Updating ratings…');
    } else {
      rating = h('div', { class: 'rating-change' }, 'Unrated match: ratings do not change.');
    }
    this.overlay.classList.remove('hidden');
    this.overlay.classList.add('result');
    mount(this.overlay, h('div', { class: 'result-card', testid: 'result' },
      h('h2', { testid: 'result-headline' }, headline),
      h('p', { class: 'final-score', testid: 'final-score' }, `${nameOf(0)} ${scores[0]} – ${scores[1]} ${nameOf(1)}`),
      h('p', null, `Ended ${endReasonText(outcome.reason)}.`),
      rating,
      h('div', { class: 'actions' },
        h('button', { type: 'button', testid: 'back-to-lobby', onclick: () => this.o.onLeave() }, 'Back to lobby'),
        this.o.tournament
          ? h('a', { href: `#/tournaments/${encodeURIComponent(this.o.tournament.id)}`, class: 'button primary', testid: 'back-to-tournament' }, `Back to ${this.o.tournament.name}`)
          : this.role === 'player' ? h('button', { type: 'button', class: 'primary', testid: 'play-again', onclick: () => this.o.onPlayAgain() }, 'Play again') : null,
        h('a', { href: `#/replay/${encodeURIComponent(this.matchId)}`, testid: 'result-replay', class: 'button' }, 'Replay'))));
    this.resignBtn.disabled = true;
  }

  /** @param {number} _t */
  loop(_t) {
    if (this.dead) return;
    this.raf = requestAnimationFrame(this.loop);
    this.frames++;
    const now = performance.now();
    if (this.touch.active) this.updateIntent();
    this.draw(now);
    this.updateOverlay(now);
  }

  /** @param {number} now */
  draw(now) {
    const { ctx, canvas } = this;
    const rect = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(160, Math.round(rect.width * dpr));
    const hgt = Math.round((w * this.field.height) / this.field.width);
    if (canvas.width !== w || canvas.height !== hgt) { canvas.width = w; canvas.height = hgt; }
    const sx = canvas.width / this.field.width;
    const sy = canvas.height / this.field.height;
    ctx.fillStyle = '#0b1020';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = '#2a3350';
    ctx.setLineDash([sy * 200, sy * 200]);
    ctx.lineWidth = Math.max(1, sx * 60);
    ctx.beginPath();
    ctx.moveTo(canvas.width / 2, 0);
    ctx.lineTo(canvas.width / 2, canvas.height);
    ctx.stroke();
    ctx.setLineDash([]);

    const playing = this.roomState === 'playing' && this.ticks.ready && this.o.conn.status === 'online';
    let sample;
    if (playing) {
      sample = this.buffer.sample(renderTick(this.ticks.seen(now), this.delayMs, this.hz));
    } else {
      const l = this.buffer.latest;
      sample = l ? { ball: [l.ball[0], l.ball[1]], paddles: [l.paddles[0], l.paddles[1]], serving_in: l.serving_in } : null;
    }
    const paddles = sample ? [sample.paddles[0], sample.paddles[1]] : [this.field.height / 2, this.field.height / 2];
    if (this.role === 'player' && this.seat !== null && !this.firstSnapshot) {
      let y;
      if (playing && !this.end) {
        const present = this.present(now);
        y = this.predictor.displayY(present, now);
        hooks.predictedY = this.predictor.yAt(present);
      } else {
        y = this.buffer.latest ? this.buffer.latest.paddles[this.seat] : paddles[this.seat];
      }
      paddles[this.seat] = y;
      if (this.probe && this.probe.dyFirstFrame === null && this.frames > this.probe.frame) {
        this.probe.dyFirstFrame = y - this.probe.yBefore;
        // The prediction alone (without the fading blend of an earlier correction).
        this.probe.predictionDy = this.predictor.yAt(this.present(now)) - this.probe.predictedAtPress;
        hooks.keyProbes.push({ ...this.probe, framesToMove: this.frames - this.probe.frame });
        if (hooks.keyProbes.length > 50) hooks.keyProbes.shift();
        this.probe = null;
      }
      this.lastShownY = y;
      hooks.ownY = y;
      hooks.serverY = this.buffer.latest ? this.buffer.latest.paddles[this.seat] : null;
    }
    hooks.paddles = paddles;
    for (const seat of [0, 1]) {
      const x = this.paddle.x[seat];
      ctx.fillStyle = seat === this.seat ? '#7dd3fc' : '#e5e7eb';
      ctx.fillRect((x - this.paddle.width / 2) * sx, (paddles[seat] - this.paddle.height / 2) * sy,
        this.paddle.width * sx, this.paddle.height * sy);
    }
    if (sample) {
      hooks.ball = sample.ball;
      ctx.fillStyle = '#fbbf24';
      const b = this.ballSize;
      ctx.fillRect((sample.ball[0] - b / 2) * sx, (sample.ball[1] - b / 2) * sy, b * sx, b * sy);
    }
  }

  /** @param {number} now */
  updateOverlay(now) {
    if (this.end) return;
    const left = Math.max(0, this.deadline - now);
    let text = '';
    let testid = 'overlay';
    if (this.o.conn.status !== 'online') {
      text = 'Connection lost: reconnecting… The match waits for you during the grace period.';
      testid = 'connection-lost';
    } else if (this.roomState === 'waiting') {
      testid = 'waiting';
      const inv = this.o.invite;
      if (inv && this.overlay.firstElementChild?.getAttribute('data-testid') !== 'waiting') {
        const link = `${location.origin}/#/join/${encodeURIComponent(inv.code)}`;
        this.overlay.classList.remove('hidden');
        mount(this.overlay, h('div', { class: 'banner waiting invite', testid: 'waiting' },
          h('p', null, 'Waiting for your opponent. Share this code or link:'),
          h('p', { class: 'code', testid: 'room-code' }, inv.code),
          h('p', null, h('a', { href: link, testid: 'room-link' }, link)),
          h('button', { type: 'button', testid: 'copy-link', onclick: () => navigator.clipboard?.writeText(link).catch(() => {}) }, 'Copy link')));
        return;
      }
      if (inv) return;
      text = this.role === 'player' ? 'Waiting for your opponent…' : 'Waiting for players…';
    } else if (this.roomState === 'countdown') {
      text = `${Math.ceil(left / 1000) || 'Go!'}`;
      testid = 'countdown';
    } else if (this.roomState === 'paused') {
      const away = this.players.filter((p) => !p.connected).map((p) => p.seat === this.seat ? 'You are' : `${p.name} is`);
      text = `Paused: ${away.join(', ') || 'a player is'} away. Forfeit in ${(left / 1000).toFixed(1)} s unless they return.`;
      testid = 'paused';
    }
    if (!text) {
      if (!this.overlay.classList.contains('hidden')) this.overlay.classList.add('hidden');
      return;
    }
    this.overlay.classList.remove('hidden');
    const existing = this.overlay.firstElementChild;
    if (existing instanceof HTMLElement && existing.dataset.testid === testid) existing.textContent = text;
    else mount(this.overlay, h('div', { class: `banner ${testid}`, testid }, text));
  }
}
