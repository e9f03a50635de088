// The Pong view: canvas rendering of a room driven by snapshots, with prediction of the player's
// own paddle (prediction.js), interpolation of everything else (interpolation.js), and the
// countdown, pause, result and latency displays. Keyboard (W/S, arrows) and touch controls.

import { h, mount, confirmClick } from './dom.js';
import { msg, endReasonText } from './protocol.js';
import { TickClock, JitterMeter, SmoothTimeline, inputLeadTicks } from './clock.js';
import { PaddlePredictor, OffsetSmoother } from './prediction.js';
import { SnapshotBuffer, BallSmoother, adaptiveDelayMs } from './interpolation.js';
import { explainedJump, limitDrawnMove } from './feel.js';
import { Sound, SOUND_KEY } from './sound.js';

export { SOUND_KEY };

/** @typedef {import('./protocol.js').ServerMsg} ServerMsg */
/** @typedef {import('./protocol.js').Intent} Intent */
/** @typedef {import('./protocol.js').SeatView} SeatView */
/** @typedef {import('./net.js').Connection} Connection */

/** Where the render delay setting lives (ms). */
export const DELAY_KEY = 'rally.renderDelayMs';

/** Where the network overlay's visibility is remembered. */
export const NET_OVERLAY_KEY = 'rally.netOverlay';

/**
 * A fixed render delay (ms) set with `?delay=` or in localStorage, or null: adaptive (the
 * default), following the measured snapshot jitter.
 * @returns {number|null}
 */
export function renderDelaySetting() {
  const q = new URLSearchParams(location.search).get('delay') ?? localStorage.getItem(DELAY_KEY);
  if (q === null || q === '' || q === 'auto') return null;
  const v = Number(q);
  return Number.isFinite(v) && v >= 0 && v <= 500 ? v : null;
}

/** Snapshot jitter percentile the render delay covers. */
const DELAY_PERCENTILE = 0.95;
/** Jitter percentile added to the tick an input is stamped for (an early input only waits). */
const INPUT_MARGIN_PERCENTILE = 0.9;

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
    /** Ticks the ball rests before a serve (the serve indicator's full ring). */
    this.serveTicks = Math.max(1, Math.round(((info.serve_delay_ms ?? 1000) * this.hz) / 1000));
    this.sound = new Sound();
    /** @type {{tick:number, kind:'hit'|'score'|'serve', seat:number}[]} game events waiting for the render time to reach them */
    this.effects = [];
    /** Local time until which each paddle flashes (a hit). */
    this.hitFlash = [0, 0];
    /** Local time until which the field flashes on the side that conceded, and which side. */
    this.pointFlash = { until: 0, seat: 0 };
    /** The seat the next serve goes to: the one that conceded the last point (null: not known yet). */
    this.serveTowards = /** @type {number|null} */ (null);
    /** A fixed render delay, or null (adaptive). */
    this.fixedDelayMs = renderDelaySetting();
    this.delayMs = this.fixedDelayMs ?? adaptiveDelayMs(0, { hz: this.hz });
    this.ticks = new TickClock({ hz: this.hz });
    this.jitter = new JitterMeter();
    /** Ticks between consecutive playing snapshots (RALLY_SNAPSHOT_EVERY), as observed. */
    this.snapshotEvery = 1;
    this.buffer = new SnapshotBuffer({
      hz: this.hz,
      geometry: {
        width: this.field.width, height: this.field.height, ball: info.ball?.size ?? 240,
        paddleX: this.paddle.x, paddleWidth: this.paddle.width, paddleHeight: this.paddle.height,
      },
    });
    this.predictor = new PaddlePredictor({
      hz: this.hz, speed: this.paddle.speed, height: this.paddle.height, fieldHeight: this.field.height,
    });
    /** The player's timeline (ticks): where inputs sent now land. */
    this.ownClock = new SmoothTimeline({ hz: this.hz, maxFast: 0.1, maxSlow: 0.1 });
    /** Render time of remote objects (ticks); slows down when snapshots stall. */
    this.renderClock = new SmoothTimeline({ hz: this.hz, maxFast: 0.1, maxSlow: 0.25, farTicks: 8, farRate: 0.5, snapTicks: 300 });
    this.ownOffset = new OffsetSmoother({ height: this.paddle.height, speed: this.paddle.speed });
    this.ballSmooth = new BallSmoother();
    /** @type {{t:number, ball:[number,number], scores:[number,number], serving:number}|null} last frame's raw ball sample */
    this.prevSample = null;
    /** serving_in of the last frame's sample (the first frame after a serve is not a jump) */
    this.prevServing = 0;
    /** @type {{now:number, y:number|null, ball:[number,number]|null, live:boolean, intent:Intent}|null} last drawn frame */
    this.prevFrame = null;
    /** What the player sees, counted per frame (the figures of docs/web-client.md). */
    this.stats = Object.assign(this.predictor.stats, {
      /** Frames drawn while playing. */
      frames: 0,
      /** Drawn own-paddle moves larger than 10 % of the paddle height that the local input does not explain. */
      ownJumps: 0,
      /** Largest single-frame move of the drawn own paddle, units. */
      maxOwnJump: 0,
      /** Largest part of a single-frame own-paddle move that the local input does not explain, units. */
      maxOwnUnexplained: 0,
      /** Ball moves larger than 3× its own per-frame travel, outside serves and points. */
      ballJumps: 0,
      /** Largest ball move as a multiple of its per-frame travel, outside serves and points. */
      maxBallJumpRatio: 0,
      /** Frames where the ball was extrapolated past the newest snapshot. */
      ballExtrapolatedFrames: 0,
      /** Frames where the ball in play did not move. */
      ballFrozenFrames: 0,
      /** Current render delay of remote objects, ms. */
      renderDelayMs: this.delayMs,
      /** Snapshot arrival jitter (95th percentile of the last 3 s), ms. */
      jitterMs: 0,
      /** Round trip (median of recent pings), ms. */
      pingMs: 0,
      /** Margin added to input ticks, ticks. */
      inputMarginTicks: 0,
      /** Times a view clock had to jump (more than 30 ticks off: a new room, a long stall). */
      clockSnaps: 0,
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
    /** @type {HTMLElement} */ this.netEl = unset;
    /** @type {HTMLButtonElement} */ this.touchUp = unset;
    /** @type {HTMLButtonElement} */ this.touchDown = unset;
    /** @type {HTMLButtonElement} */ this.resignBtn = unset;
    /** @type {HTMLButtonElement} */ this.leaveBtn = unset;
    /** @type {HTMLButtonElement} */ this.soundBtn = unset;
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
      keyProbes: [], stats: this.stats, delayMs: this.delayMs, frameLog: [],
      effects: { hits: 0, points: 0, serves: 0 }, sounds: this.sound, serveIndicator: null,
    });
    this.netOverlayShown = localStorage.getItem(NET_OVERLAY_KEY) === '1';
    this.netEl.classList.toggle('hidden', !this.netOverlayShown);
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
    this.netEl = h('div', { class: 'net-stats hidden', testid: 'net-stats', 'aria-live': 'off' });
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
    this.soundBtn = h('button', { type: 'button', class: 'link', testid: 'sound-toggle', 'aria-pressed': String(this.sound.on) }, this.sound.on ? '🔊 sound on' : '🔈 sound off');
    this.soundBtn.addEventListener('click', () => {
      this.sound.set(!this.sound.on);
      this.soundBtn.setAttribute('aria-pressed', String(this.sound.on));
      this.soundBtn.textContent = this.sound.on ? '🔊 sound on' : '🔈 sound off';
      this.soundBtn.blur();
    });
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
      h('div', { class: 'stage' }, this.canvas, this.overlay, this.netEl),
      isPlayer ? h('div', { class: 'touch-controls' }, this.touchUp, this.touchDown) : null,
      h('div', { class: 'game-actions' },
        isPlayer ? h('span', { class: 'hint' }, 'W / S or ↑ / ↓ to move; on a phone, drag on the field or hold ▲ ▼. ` shows network figures.') : null,
        this.soundBtn, isPlayer ? this.resignBtn : null, this.leaveBtn));
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
    if (e.code === 'Backquote') {
      if (down && !e.repeat) this.toggleNetOverlay();
      return;
    }
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
    const predictedBefore = this.predictor.yAt(present);
    const input = this.predictor.press(intent, present, force);
    if (!input) return;
    if (!playing) this.predictor.hold(this.predictor.base.tick, this.predictor.base.y);
    // The press takes effect at the start of the next tick of the player's timeline, up to a
    // tick before `present`: what is drawn does not jump, the offset is worked off at once.
    else this.ownOffset.add(predictedBefore - this.predictor.yAt(present));
    this.o.conn.send(msg.input(input.seq, input.intent, input.tick));
    if (playing && intent !== 'stop') {
      const predictedAtPress = this.predictor.yAt(this.present(performance.now()));
      this.probe = { intent, frame: this.frames, yBefore, dyFirstFrame: null, predictedDy: predictedAtPress - yBefore, predictedAtPress, predictionDy: null };
    }
  }

  /**
   * The player's timeline: the tick an input sent now is expected to reach the server by — the
   * tick seen on the fastest path, plus the fastest round trip, plus a margin for jitter (a high
   * percentile of the measured snapshot jitter, bounded) — followed without jumps.
   * @param {number} now
   */
  present(now) {
    const c = this.o.conn.clock;
    const lead = inputLeadTicks(c.minRtt, this.jitter.percentile(INPUT_MARGIN_PERCENTILE), this.hz);
    this.stats.inputMarginTicks = lead - (c.minRtt * this.hz) / 1000;
    const before = this.ownClock.t;
    const snaps = this.ownClock.snaps;
    const t = this.ownClock.at(now, this.ticks.seen(now) + lead);
    // Far off (a server stall moved the tick clock): the timeline jumps, what is drawn does not.
    if (this.ownClock.snaps !== snaps && Number.isFinite(before)) this.ownOffset.add(this.predictor.yAt(before) - this.predictor.yAt(t));
    return t;
  }

  /** The render delay to use now, ms: fixed when set, else from the measured jitter. */
  currentDelayMs() {
    if (this.fixedDelayMs !== null) return this.fixedDelayMs;
    return adaptiveDelayMs(this.jitter.percentile(DELAY_PERCENTILE), { hz: this.hz, snapshotEvery: this.snapshotEvery });
  }

  /** Start the per-frame statistics afresh (a test measures a window of play). */
  resetFeelStats() {
    const s = this.stats;
    for (const k of /** @type {const} */ (['frames', 'ownJumps', 'maxOwnJump', 'maxOwnUnexplained', 'ballJumps', 'maxBallJumpRatio',
      'ballExtrapolatedFrames', 'ballFrozenFrames', 'corrections', 'maxCorrection', 'totalCorrection', 'lateInputs', 'maxLateTicks', 'inputs'])) {
      s[k] = 0;
    }
    s.correctionsBySize = [0, 0, 0, 0];
    hooks.frameLog = [];
  }

  toggleNetOverlay() {
    this.netOverlayShown = !this.netOverlayShown;
    localStorage.setItem(NET_OVERLAY_KEY, this.netOverlayShown ? '1' : '0');
    this.netEl.classList.toggle('hidden', !this.netOverlayShown);
    hooks.netOverlay = this.netOverlayShown;
  }

  renderNetOverlay() {
    if (!this.netOverlayShown || this.frames % 15 !== 0) return;
    const s = this.stats;
    const b = s.correctionsBySize;
    this.netEl.textContent = [
      `ping ${Math.round(s.pingMs)} ms`,
      `jitter ${Math.round(s.jitterMs)} ms`,
      `render delay ${Math.round(s.renderDelayMs)} ms`,
      `corrections ${s.corrections} (<50: ${b[0]}, <200: ${b[1]}, <600: ${b[2]}, ≥600: ${b[3]})`,
      `late inputs ${s.lateInputs}`,
    ].join('\n');
  }

  resign() {
    if (this.end) return;
    if (!confirmClick(this.resignBtn, 'Click again to resign')) return;
    this.o.conn.send(msg.resign());
  }

  leave() {
    if (!this.end && this.role === 'player' && ['countdown', 'playing', 'paused'].includes(this.roomState)) {
      if (!confirmClick(this.leaveBtn, 'Leaving resigns: click again')) return;
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
        if (m.state !== 'playing') {
          this.ticks.reset();
          this.ownClock.reset();
          this.renderClock.reset();
          this.ownOffset.reset();
          this.ballSmooth.reset();
          this.prevSample = null;
          this.prevFrame = null;
        }
        if (prev !== m.state && m.state === 'playing') this.buffer.clear();
        this.renderHud();
        break;
      }
      case 'snapshot': {
        const tick = m.tick;
        const prevTick = this.buffer.latest?.tick;
        this.buffer.push({ ...m.state, tick });
        if (this.roomState === 'playing') {
          if (prevTick !== undefined && tick > prevTick && tick - prevTick <= 10) this.snapshotEvery = tick - prevTick;
          this.jitter.add(this.ticks.observe(tick, now));
        }
        if (this.role === 'player' && this.seat !== null) {
          const y = m.state.paddles[this.seat];
          const ack = m.acks[this.seat] ?? 0;
          const ackTick = m.ack_ticks?.[this.seat] ?? 0;
          if (this.firstSnapshot) {
            this.firstSnapshot = false;
            this.predictor.reconcile(tick, y, ack, ackTick);
            if (this.roomState !== 'playing') this.predictor.hold(tick, y);
            // State the held intent once: after a reload the server may still hold an old one.
            this.deferred = null;
            this.updateIntent(true);
          } else if (this.roomState === 'playing') {
            // What is drawn does not move when the authoritative position arrives: the difference
            // goes into the offset, worked off at a bounded speed.
            const at = Number.isFinite(this.ownClock.t) ? this.ownClock.t : undefined;
            this.ownOffset.add(-this.predictor.reconcile(tick, y, ack, ackTick, at));
          } else {
            this.predictor.reconcile(tick, y, ack, ackTick);
            this.predictor.hold(tick, y);
          }
        }
        const s = m.state.scores;
        this.scoreEl.textContent = `${s[0]} – ${s[1]}`;
        break;
      }
      case 'event': {
        const e = m.event || {};
        const tick = typeof m.tick === 'number' ? m.tick : 0;
        if (e.type === 'scored' && typeof e.seat === 'number') this.effects.push({ tick, kind: 'score', seat: e.seat });
        else if (e.type === 'custom' && e.name === 'hit') this.effects.push({ tick, kind: 'hit', seat: Number(e.data?.seat ?? 0) });
        else if (e.type === 'custom' && e.name === 'serve') this.effects.push({ tick, kind: 'serve', seat: Number(e.data?.towards ?? 0) });
        if (this.effects.length > 64) this.effects.shift();
        break;
      }
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
    this.renderNetOverlay();
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
    const dt = this.prevFrame ? now - this.prevFrame.now : 1000 / 60;
    /** @type {{ball:number[], paddles:number[], serving_in:number, scores?:number[], speed?:number, mode?:string}|null} */
    let sample;
    /** @type {[number, number]|null} */
    let ball = null;
    if (playing) {
      this.delayMs = this.currentDelayMs();
      const latest = this.buffer.latest;
      let target = this.ticks.seen(now) - (this.delayMs * this.hz) / 1000;
      // Snapshots stalled beyond the render delay: let the view slow down rather than run out.
      if (latest && target > latest.tick + 0.5) target = latest.tick + 0.5;
      const snapsBefore = this.renderClock.snaps;
      const rt = this.renderClock.at(now, target);
      if (this.renderClock.snaps !== snapsBefore) this.ballSmooth.reset();
      // New snapshots moved where the ball was last frame (it had been extrapolated): absorb it.
      const p = this.prevSample;
      if (p && p.serving === 0) {
        const again = this.buffer.sample(p.t);
        if (again.mode !== 'empty' && again.serving_in === 0 && again.scores[0] === p.scores[0] && again.scores[1] === p.scores[1]) {
          this.ballSmooth.add(p.ball[0] - again.ball[0], p.ball[1] - again.ball[1]);
        }
      }
      const sm = this.buffer.sample(rt);
      if (p && (sm.serving_in > 0 || sm.scores[0] !== p.scores[0] || sm.scores[1] !== p.scores[1])) this.ballSmooth.reset();
      this.ballSmooth.frame(dt, sm.speed);
      ball = [sm.ball[0] + this.ballSmooth.offset[0], sm.ball[1] + this.ballSmooth.offset[1]];
      this.prevSample = { t: rt, ball: [sm.ball[0], sm.ball[1]], scores: [sm.scores[0], sm.scores[1]], serving: sm.serving_in };
      sample = sm;
    } else {
      const l = this.buffer.latest;
      sample = l ? { ball: [l.ball[0], l.ball[1]], paddles: [l.paddles[0], l.paddles[1]], serving_in: l.serving_in } : null;
      if (sample) ball = [sample.ball[0], sample.ball[1]];
    }
    this.fireEffects(now, playing ? this.renderClock.t : Infinity);
    const paddles = sample ? [sample.paddles[0], sample.paddles[1]] : [this.field.height / 2, this.field.height / 2];
    /** @type {number|null} */
    let ownY = null;
    if (this.role === 'player' && this.seat !== null && !this.firstSnapshot) {
      let y;
      if (playing && !this.end) {
        const was = this.ownClock.t;
        const present = this.present(now);
        const predicted = this.predictor.yAt(present);
        this.ownOffset.frame(dt, Number.isFinite(was) ? predicted - this.predictor.yAt(was) : 0);
        y = this.predictor.clamp(predicted + this.ownOffset.offset);
        // Whatever moved the prediction itself (a correction, a jump of the timeline), what is
        // drawn moves at most as far as the local input explains plus one frame's correction.
        const last = this.prevFrame;
        if (last && last.live && last.y !== null) {
          y = limitDrawnMove(y, last.y, dt, [last.intent, this.wantedIntent()], {
            speed: this.paddle.speed, min: this.predictor.min, max: this.predictor.max, maxStep: this.ownOffset.maxStep,
          });
        }
        // What the wall hides of the offset is dropped (the offset is only ever what is seen, so
        // a press at the wall moves the paddle at once); what the bound held back stays in it.
        this.ownOffset.offset = y - predicted;
        hooks.predictedY = predicted;
      } else {
        this.ownOffset.reset();
        y = this.buffer.latest ? this.buffer.latest.paddles[this.seat] : paddles[this.seat];
      }
      paddles[this.seat] = y;
      ownY = y;
      if (this.probe && this.probe.dyFirstFrame === null && this.frames > this.probe.frame) {
        this.probe.dyFirstFrame = y - this.probe.yBefore;
        // The prediction alone (without the offset being worked off).
        this.probe.predictionDy = (hooks.predictedY ?? y) - this.probe.predictedAtPress;
        hooks.keyProbes.push({ ...this.probe, framesToMove: this.frames - this.probe.frame });
        if (hooks.keyProbes.length > 50) hooks.keyProbes.shift();
        this.probe = null;
      }
      this.lastShownY = y;
      hooks.ownY = y;
      hooks.serverY = this.buffer.latest ? this.buffer.latest.paddles[this.seat] : null;
    }
    this.count(now, dt, playing && !this.end, ownY, ball, sample);
    hooks.paddles = paddles;
    for (const seat of [0, 1]) {
      const x = this.paddle.x[seat];
      ctx.fillStyle = now < this.hitFlash[seat] ? '#ffffff' : seat === this.seat ? '#7dd3fc' : '#e5e7eb';
      ctx.fillRect((x - this.paddle.width / 2) * sx, (paddles[seat] - this.paddle.height / 2) * sy,
        this.paddle.width * sx, this.paddle.height * sy);
    }
    if (now < this.pointFlash.until) {
      // The side that conceded lights up briefly.
      ctx.fillStyle = 'rgba(248, 113, 113, 0.18)';
      ctx.fillRect(this.pointFlash.seat === 0 ? 0 : canvas.width / 2, 0, canvas.width / 2, canvas.height);
    }
    this.drawServeIndicator(sample, sx, sy);
    if (ball) {
      hooks.ball = ball;
      ctx.fillStyle = '#fbbf24';
      const b = this.ballSize;
      ctx.fillRect((ball[0] - b / 2) * sx, (ball[1] - b / 2) * sy, b * sx, b * sy);
    }
  }

  /**
   * Play the game events whose tick the render time has reached (they are shown with the ball
   * they belong to, not a render delay early): hit flash, point flash and score bump, sounds.
   * @param {number} now
   * @param {number} renderTick
   */
  fireEffects(now, renderTick) {
    const fx = hooks.effects;
    while (this.effects.length && this.effects[0].tick <= renderTick) {
      const e = /** @type {{tick:number, kind:'hit'|'score'|'serve', seat:number}} */ (this.effects.shift());
      if (e.kind === 'hit') {
        this.hitFlash[e.seat] = now + 150;
        fx.hits++;
      } else if (e.kind === 'score') {
        const conceded = 1 - e.seat;
        this.pointFlash = { until: now + 400, seat: conceded };
        this.serveTowards = conceded;
        this.scoreEl.classList.remove('bump');
        void this.scoreEl.offsetWidth; // restart the animation
        this.scoreEl.classList.add('bump');
        fx.points++;
      } else {
        this.serveTowards = e.seat;
        fx.serves++;
      }
      this.sound.play(e.kind);
    }
  }

  /**
   * Before a serve: a ring around the resting ball that closes as the serve nears, and an arrow
   * towards the side the ball will go (the seat that conceded the last point; unknown before the
   * first serve, which goes to a random side).
   * @param {{serving_in:number, ball:number[]}|null} sample
   * @param {number} sx
   * @param {number} sy
   */
  drawServeIndicator(sample, sx, sy) {
    if (!sample || !(sample.serving_in > 0) || this.end) {
      hooks.serveIndicator = null;
      return;
    }
    const { ctx } = this;
    const left = Math.min(1, sample.serving_in / this.serveTicks);
    const cx = sample.ball[0] * sx;
    const cy = sample.ball[1] * sy;
    const r = 600 * sx;
    ctx.strokeStyle = '#fbbf24';
    ctx.lineWidth = Math.max(2, 60 * sx);
    ctx.beginPath();
    ctx.arc(cx, cy, r, -Math.PI / 2, -Math.PI / 2 + 2 * Math.PI * left);
    ctx.stroke();
    const towards = this.serveTowards;
    if (towards !== null) {
      const d = towards === 0 ? -1 : 1;
      ctx.fillStyle = '#fbbf24';
      ctx.beginPath();
      ctx.moveTo(cx + d * (r + 500 * sx), cy);
      ctx.lineTo(cx + d * (r + 150 * sx), cy - 220 * sy);
      ctx.lineTo(cx + d * (r + 150 * sx), cy + 220 * sy);
      ctx.closePath();
      ctx.fill();
    }
    hooks.serveIndicator = { servingIn: sample.serving_in, towards };
    hooks.effects.indicatorFrames = (hooks.effects.indicatorFrames || 0) + 1;
  }

  /**
   * The per-frame statistics of what is drawn (`__rally.stats`, the overlay, docs/web-client.md),
   * and the frame log a test may ask for (`__rally.recordFrames = true`).
   * @param {number} now
   * @param {number} dt  ms since the previous frame
   * @param {boolean} live  playing, and drawn from the running view
   * @param {number|null} ownY  the drawn own paddle
   * @param {[number, number]|null} ball  the drawn ball
   * @param {{serving_in:number, scores?:number[], speed?:number, mode?:string}|null} sample
   */
  count(now, dt, live, ownY, ball, sample) {
    const s = this.stats;
    const intent = this.wantedIntent();
    const prev = this.prevFrame;
    this.prevFrame = { now, y: ownY, ball, live, intent };
    const c = this.o.conn.clock;
    s.pingMs = c.rtt;
    s.jitterMs = this.jitter.percentile(DELAY_PERCENTILE);
    s.renderDelayMs = this.delayMs;
    s.clockSnaps = this.ownClock.snaps + this.renderClock.snaps;
    hooks.delayMs = this.delayMs;
    if (!live || !prev || !prev.live) return;
    s.frames++;
    // In play, and not the serve itself (the frame after the ball rested).
    const inPlay = !!sample && sample.serving_in === 0 && !!sample.speed && this.prevServing === 0;
    this.prevServing = sample ? sample.serving_in : 0;
    if (ownY !== null && prev.y !== null) {
      const dy = ownY - prev.y;
      const unexplained = explainedJump(dy, prev.y, dt, [prev.intent, intent], {
        speed: this.paddle.speed, min: this.predictor.min, max: this.predictor.max,
      });
      s.maxOwnJump = Math.max(s.maxOwnJump, Math.abs(dy));
      s.maxOwnUnexplained = Math.max(s.maxOwnUnexplained, unexplained);
      if (unexplained > 0.1 * this.paddle.height) s.ownJumps++;
    }
    const scoresSame = !!this.prevSample && !!sample?.scores
      && sample.scores[0] === this.prevSample.scores[0] && sample.scores[1] === this.prevSample.scores[1];
    if (ball && prev.ball && inPlay && scoresSame) {
      const moved = Math.hypot(ball[0] - prev.ball[0], ball[1] - prev.ball[1]);
      const travel = ((sample?.speed ?? 0) * Math.max(dt, 1)) / 1000;
      const ratio = moved / travel;
      s.maxBallJumpRatio = Math.max(s.maxBallJumpRatio, ratio);
      if (ratio > 3) s.ballJumps++;
      if (moved < 0.01) s.ballFrozenFrames++;
      if (sample?.mode === 'extrapolated') s.ballExtrapolatedFrames++;
    }
    if (hooks.recordFrames) {
      hooks.frameLog.push({
        t: now, y: ownY, ball, speed: sample?.speed ?? 0, serving: sample?.serving_in ?? 0,
        scores: sample?.scores ? [sample.scores[0], sample.scores[1]] : null, intent, mode: sample?.mode ?? '',
        at: this.ownClock.t, offset: this.ownOffset.offset, rt: this.renderClock.t, latest: this.buffer.latest?.tick, boff: this.ballSmooth.offset,
      });
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
