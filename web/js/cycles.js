// The light cycles view (docs/protocol.md §10a): a canvas grid with every seat's trail and head
// in its colour, the round and its score, the round delay, crashes and players out, and the
// finishing order at the end. The state model is cycles-state.js (full and delta snapshots),
// the own cycle is predicted (cycles-predict.js), the others are drawn a move behind the newest
// snapshot, their heads interpolated between moves (cycles-draw.js). Keyboard: ← / A turn left,
// → / D turn right (relative to the heading); touch: the ⟲ ⟳ buttons.

import { h, mount, confirmClick } from './dom.js';
import { msg, endReasonText } from './protocol.js';
import { TickClock, JitterMeter, SmoothTimeline, inputLeadTicks } from './clock.js';
import { adaptiveDelayMs } from './interpolation.js';
import { CyclesState, readInfo, standings, ordinal, RIDING, CRASHED, OUT, DIRS } from './cycles-state.js';
import { TurnPredictor } from './cycles-predict.js';
import { seatColour, SEAT_COLOUR_NAMES, visibleCount, headAt, glide, glideStep, fitGrid, crashText } from './cycles-draw.js';
import { renderDelaySetting } from './game.js';
import { Sound } from './sound.js';

/** @typedef {import('./protocol.js').ServerMsg} ServerMsg */
/** @typedef {import('./protocol.js').SeatView} SeatView */
/** @typedef {import('./game.js').GameOptions} GameOptions */
/** @typedef {import('./cycles-state.js').Cell} Cell */

const DELAY_PERCENTILE = 0.95;
const INPUT_MARGIN_PERCENTILE = 0.9;
/** Lines kept in the event feed under the field. */
const FEED_LINES = 6;
/** How long a round's result stays on the field, ms. */
const ROUND_BANNER_MS = 1800;

const hooks = /** @type {Record<string, any>} */ (/** @type {any} */ (window).__rally || ((/** @type {any} */ (window)).__rally = {}));

export class CyclesView {
  /** @param {GameOptions} o */
  constructor(o) {
    this.o = o;
    const j = o.joined;
    this.room = /** @type {string} */ (j.room);
    this.matchId = /** @type {string} */ (j.match);
    this.role = /** @type {'player'|'spectator'} */ (j.role);
    this.seat = typeof j.seat === 'number' ? j.seat : null;
    this.info = readInfo(j.info, j.tick_hz);
    this.hz = this.info.hz;
    this.every = this.info.moveEvery;
    this.state = new CyclesState(this.info);
    this.predictor = new TurnPredictor({ moveEvery: this.every, hz: this.hz, seat: this.seat ?? 0, maxQueued: this.info.maxQueuedTurns });
    this.ticks = new TickClock({ hz: this.hz });
    this.jitter = new JitterMeter();
    this.ownClock = new SmoothTimeline({ hz: this.hz, maxFast: 0.1, maxSlow: 0.1 });
    this.renderClock = new SmoothTimeline({ hz: this.hz, maxFast: 0.1, maxSlow: 0.25, farTicks: 8, farRate: 0.5, snapTicks: 300 });
    this.fixedDelayMs = renderDelaySetting();
    this.delayMs = 0;
    this.sound = new Sound();
    /** @type {string} */ this.roomState = 'waiting';
    /** @type {SeatView[]} */ this.players = [];
    this.spectators = 0;
    this.deadline = 0;
    /** @type {ServerMsg|null} */ this.end = null;
    /** @type {ServerMsg|null} */ this.ratings = null;
    this.firstSnapshot = true;
    /** @type {{seat:number, x:number, y:number, tick:number}[]} crashes of this round */
    this.crashes = [];
    /** The tick of this round's first snapshot (−1: not known). */
    this.roundStart = -1;
    /** @type {{text:string, until:number}|null} */ this.roundBanner = null;
    /** @type {string[]} */ this.feed = [];
    /** Last drawn head of each seat (cells), for the glide. @type {({x:number, y:number}|null)[]} */
    this.drawnHeads = [];
    this.lastFrame = 0;
    this.frames = 0;
    this.stats = Object.assign(this.predictor.stats, { frames: 0, renderDelayMs: 0, jitterMs: 0, pingMs: 0, waitingForFull: 0, headGlides: 0 });
    this.raf = 0;
    this.dead = false;
    const unset = /** @type {any} */ (null);
    /** @type {HTMLCanvasElement} */ this.canvas = unset;
    /** @type {CanvasRenderingContext2D} */ this.ctx = unset;
    /** @type {HTMLElement} */ this.seatList = unset;
    /** @type {HTMLElement} */ this.roundEl = unset;
    /** @type {HTMLElement} */ this.stateEl = unset;
    /** @type {HTMLElement} */ this.specEl = unset;
    /** @type {HTMLElement} */ this.overlay = unset;
    /** @type {HTMLElement} */ this.feedEl = unset;
    /** @type {HTMLButtonElement} */ this.leaveBtn = unset;
    /** @type {HTMLElement} */ this.root = unset;
    this.buildDom();
    this.onKey = this.onKey.bind(this);
    window.addEventListener('keydown', this.onKey);
    Object.assign(hooks, {
      game: this, room: this.room, match: this.matchId, role: this.role, seat: this.seat, stateLog: [],
      stats: this.stats, cycles: null, turns: [], cyclesFeed: this.feed,
    });
    this.loop = this.loop.bind(this);
    this.raf = requestAnimationFrame(this.loop);
  }

  get element() {
    return this.root;
  }

  /** @param {number} seat */
  nameOf(seat) {
    return this.players.find((p) => p.seat === seat)?.name || `seat ${seat + 1}`;
  }

  buildDom() {
    this.canvas = h('canvas', { class: 'field grid', testid: 'game-canvas', width: 960, height: 720, 'aria-label': 'Light cycles grid' });
    this.ctx = /** @type {CanvasRenderingContext2D} */ (this.canvas.getContext('2d'));
    this.seatList = h('ol', { class: 'cycles-seats', testid: 'cycles-seats' });
    this.roundEl = h('span', { class: 'score', testid: 'cycles-round' }, 'Round –');
    this.stateEl = h('span', { class: 'room-state', testid: 'room-state', text: 'waiting' });
    this.specEl = h('span', { class: 'spectators', testid: 'spectator-count' });
    this.overlay = h('div', { class: 'overlay hidden', testid: 'overlay' });
    this.feedEl = h('ul', { class: 'cycles-feed', testid: 'cycles-feed', 'aria-live': 'polite' });
    const isPlayer = this.role === 'player';
    const left = h('button', { class: 'touch turn-left', testid: 'touch-left', type: 'button', 'aria-label': 'Turn left', text: '⟲' });
    const right = h('button', { class: 'touch turn-right', testid: 'touch-right', type: 'button', 'aria-label': 'Turn right', text: '⟳' });
    left.addEventListener('pointerdown', (e) => { e.preventDefault(); this.turn('left'); });
    right.addEventListener('pointerdown', (e) => { e.preventDefault(); this.turn('right'); });
    this.leaveBtn = h('button', { type: 'button', testid: 'leave-room', onclick: () => this.leave() }, isPlayer ? 'Leave match' : 'Stop watching');
    const mine = this.seat !== null ? h('span', { class: 'swatch', 'data-seat': this.seat }) : null;
    this.root = h('section', { class: 'game cycles', testid: 'game-view', 'data-game': 'cycles', 'data-role': this.role },
      h('div', { class: 'hud' }, this.roundEl,
        h('span', { class: 'small' }, `first to ${this.info.roundsToWin} round${this.info.roundsToWin === 1 ? '' : 's'} · ${this.info.width}×${this.info.height}`)),
      h('div', { class: 'hud small' },
        isPlayer && this.seat !== null
          ? h('span', { testid: 'cycles-you' }, mine, ` You ride ${SEAT_COLOUR_NAMES[this.seat % 8]}`)
          : h('span', null, 'Spectating'),
        this.stateEl, this.specEl),
      h('div', { class: 'cycles-board' },
        h('div', { class: 'stage' }, this.canvas, this.overlay),
        h('div', { class: 'cycles-side' }, this.seatList, this.feedEl)),
      isPlayer ? h('div', { class: 'touch-controls' }, left, right) : null,
      h('div', { class: 'game-actions' },
        isPlayer ? h('span', { class: 'hint' }, '← / A turn left, → / D turn right (relative to your heading); on a phone, ⟲ ⟳.') : null,
        this.leaveBtn));
  }

  destroy() {
    this.dead = true;
    cancelAnimationFrame(this.raf);
    window.removeEventListener('keydown', this.onKey);
    if (hooks.game === this) hooks.game = null;
  }

  /** @param {KeyboardEvent} e */
  onKey(e) {
    const t = /** @type {HTMLElement|null} */ (e.target);
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT')) return;
    /** @type {'left'|'right'|null} */
    const which = e.code === 'ArrowLeft' || e.code === 'KeyA' ? 'left' : e.code === 'ArrowRight' || e.code === 'KeyD' ? 'right' : null;
    if (!which) return;
    e.preventDefault();
    if (!e.repeat) this.turn(which);
  }

  /**
   * Send a turn (an event: applied once) stamped for the player's timeline, and predict it.
   * @param {'left'|'right'} which
   */
  turn(which) {
    if (this.role !== 'player' || this.end || this.firstSnapshot || this.o.conn.status !== 'online') return;
    const now = performance.now();
    const playing = this.roomState === 'playing' && this.ticks.ready;
    const present = playing ? this.present(now) : this.state.tick;
    const input = this.predictor.press(which, present, this.state);
    if (!input) return;
    this.o.conn.send(msg.input(input.seq, input.input, input.tick));
    hooks.turns.push({ turn: which, seq: input.seq, tick: input.tick, at: now });
    if (hooks.turns.length > 200) hooks.turns.shift();
  }

  /**
   * The player's timeline (as Pong's: the tick an input sent now reaches the server by), never
   * more than the lead plus one move ahead of the newest snapshot: a server whose ticks fall
   * behind real time (a loaded machine) would otherwise pull the prediction and the stamps of
   * the turns far ahead of the game.
   * @param {number} now
   */
  present(now) {
    const c = this.o.conn.clock;
    const lead = inputLeadTicks(c.minRtt, this.jitter.percentile(INPUT_MARGIN_PERCENTILE), this.hz);
    const target = Math.min(this.ticks.seen(now) + lead, this.state.tick + lead + Math.max(2, this.every));
    return this.ownClock.at(now, target);
  }

  /**
   * The server refused one of our turns (`invalid_input`).
   * @param {string} why
   */
  inputRefused(why) {
    this.predictor.refused();
    hooks.refusedInputs = (hooks.refusedInputs || 0) + 1;
    hooks.lastRefusal = why;
  }

  /** Render delay of the others, ms: the snapshot jitter plus one move (so the next cell is known). */
  currentDelayMs() {
    const base = this.fixedDelayMs ?? adaptiveDelayMs(this.jitter.percentile(DELAY_PERCENTILE), { hz: this.hz });
    return base + (this.every * 1000) / this.hz;
  }

  leave() {
    const inMatch = !this.end && this.role === 'player' && this.seat !== null
      && ['countdown', 'playing', 'paused'].includes(this.roomState) && this.state.status[this.seat] !== OUT;
    if (inMatch && !confirmClick(this.leaveBtn, 'Leaving gives up the match: click again')) return;
    this.o.conn.send(msg.leave());
    this.o.onLeave();
  }

  /** @param {string} line */
  say(line) {
    this.feed.push(line);
    while (this.feed.length > FEED_LINES) this.feed.shift();
    mount(this.feedEl, this.feed.map((l) => h('li', null, l)));
  }

  /** @param {ServerMsg} m */
  handle(m) {
    const now = performance.now();
    switch (m.type) {
      case 'room': {
        if (m.room !== this.room) return;
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
        }
        this.renderHud();
        break;
      }
      case 'snapshot': {
        const st = this.state;
        const wasRound = st.round;
        const r = st.apply(m.state);
        if (r === 'waiting') this.stats.waitingForFull++;
        if (r === 'full' || r === 'delta') {
          if (this.roomState === 'playing') this.jitter.add(this.ticks.observe(m.tick, now));
          if (st.round !== wasRound) this.newRound(m.tick);
          if (this.role === 'player' && this.seat !== null) {
            const seat = this.seat;
            const ack = m.acks?.[seat] ?? 0;
            const ackTick = m.ack_ticks?.[seat] ?? 0;
            if (this.firstSnapshot) {
              this.firstSnapshot = false;
              this.predictor.seqFloor(ack);
            }
            const head = st.heads[seat];
            if (head) {
              const at = this.roomState === 'playing' && Number.isFinite(this.ownClock.t) ? this.ownClock.t : undefined;
              this.predictor.reconcile(m.tick, head, st.status[seat] ?? RIDING, st.round, ack, ackTick, st, at);
            }
            if (this.roomState !== 'playing') this.predictor.hold(m.tick);
          }
          this.renderHud();
        }
        break;
      }
      case 'event': {
        const e = m.event || {};
        const tick = typeof m.tick === 'number' ? m.tick : this.state.tick;
        const d = e.data || {};
        if (e.type === 'scored' && typeof e.seat === 'number') {
          this.sound.play('score');
        } else if (e.type === 'custom' && e.name === 'crashed') {
          // The crashes that ended the last round come with the new round's first snapshot (a
          // new grid): they are told in the feed, not drawn on it.
          if (tick > this.roundStart) this.crashes.push({ seat: Number(d.seat), x: Number(d.x), y: Number(d.y), tick });
          this.say(crashText(d, (s) => this.nameOf(s)));
          this.sound.play('hit');
        } else if (e.type === 'custom' && e.name === 'round_over') {
          const w = d.winner;
          const text = w === null || w === undefined ? `Round ${d.round}: nobody survived` : `Round ${d.round}: ${this.nameOf(w)} wins`;
          this.roundBanner = { text, until: now + ROUND_BANNER_MS };
          this.say(text);
        } else if (e.type === 'custom' && e.name === 'round_start') {
          this.say(`Round ${d.round} starts`);
        } else if (e.type === 'custom' && e.name === 'out') {
          this.say(`${this.nameOf(Number(d.seat))} is out (${endReasonText(String(d.reason))})`);
        }
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

  /** @param {number} tick  the tick of the round's first snapshot */
  newRound(tick) {
    this.roundStart = tick;
    this.crashes = [];
    this.drawnHeads = [];
  }

  renderHud() {
    const st = this.state;
    this.roundEl.textContent = st.round ? `Round ${st.round}` : 'Round –';
    const words = /** @type {Record<string,string>} */ ({
      waiting: 'waiting for players', countdown: 'get ready', playing: 'playing', paused: 'paused', finished: 'finished',
    });
    this.stateEl.textContent = words[this.roomState] || this.roomState;
    this.specEl.textContent = this.spectators ? `${this.spectators} watching` : '';
    const rows = [];
    for (let seat = 0; seat < this.info.seats; seat++) {
      const p = this.players.find((x) => x.seat === seat);
      const status = st.status[seat] ?? RIDING;
      const what = !p ? 'waiting…' : status === OUT ? 'out' : status === CRASHED ? 'crashed' : !p.connected ? 'away' : st.round ? 'riding' : 'ready';
      rows.push(h('li', {
        class: ['cycles-seat', seat === this.seat && 'me', status === CRASHED && 'crashed', status === OUT && 'out', p && !p.connected && 'away'],
        testid: 'cycles-seat', 'data-seat': seat, 'data-status': what,
      },
      h('span', { class: 'swatch', 'data-seat': seat, title: SEAT_COLOUR_NAMES[seat % 8] }),
      h('span', { class: 'name' }, p ? `${p.name}${p.rating ? ` (${p.rating})` : ''}` : `seat ${seat + 1}`),
      h('span', { class: 'what' }, what),
      h('span', { class: 'rounds', testid: 'cycles-score' }, String(st.scores[seat] ?? 0))));
    }
    mount(this.seatList, rows);
  }

  showResult() {
    const e = this.end;
    if (!e) return;
    const outcome = e.outcome || {};
    const rows = standings(outcome, this.players, this.info.seats);
    const winner = outcome.winner;
    let headline;
    if (winner === null || winner === undefined) headline = outcome.reason === 'abandoned' ? 'Match abandoned' : 'No single winner';
    else if (this.role === 'player' && winner === this.seat) headline = 'You won!';
    else if (this.role === 'player' && this.seat !== null) {
      const mine = rows.find((r) => r.seat === this.seat);
      headline = `${this.nameOf(winner)} won · you finished ${ordinal(mine ? mine.place : this.info.seats)}`;
    } else headline = `${this.nameOf(winner)} won`;
    /** @type {HTMLElement|null} */
    let rating = null;
    if (this.ratings && Array.isArray(this.ratings.changes)) {
      const mine = this.ratings.changes.find((/** @type {any} */ c) => this.role === 'player' && c.seat === this.seat);
      const list = mine ? [mine] : this.ratings.changes;
      rating = h('div', { class: 'rating-change', testid: 'rating-change' }, list.map((/** @type {any} */ c) => {
        const d = c.after - c.before;
        return h('div', null, `${mine ? 'Your rating' : this.nameOf(c.seat)}: ${c.before} → ${c.after} (${d >= 0 ? '+' : ''}${d})`);
      }));
    } else if (e.rated) {
      rating = h('div', { class: 'rating-change pending', testid: 'rating-pending' }, 'Updating ratings…');
    } else {
      rating = h('div', { class: 'rating-change' }, 'Unrated match: ratings do not change.');
    }
    this.overlay.classList.remove('hidden');
    this.overlay.classList.add('result');
    mount(this.overlay, h('div', { class: 'result-card', testid: 'result' },
      h('h2', { testid: 'result-headline' }, headline),
      h('table', { class: 'list standings', testid: 'standings' },
        h('thead', null, h('tr', null, h('th', null, 'Place'), h('th', null, 'Player'), h('th', null, 'Rounds'))),
        h('tbody', null, rows.map((r) => h('tr', { testid: 'standing-row', 'data-place': r.place, 'data-seat': r.seat, class: r.seat === this.seat ? 'me' : null },
          h('td', null, ordinal(r.place)),
          h('td', null, h('span', { class: 'swatch', 'data-seat': r.seat }), ` ${r.name}`),
          h('td', null, String(r.score)))))),
      h('p', null, `Ended ${endReasonText(outcome.reason)}.`),
      rating,
      h('div', { class: 'actions' },
        h('button', { type: 'button', testid: 'back-to-lobby', onclick: () => this.o.onLeave() }, 'Back to lobby'),
        this.role === 'player' ? h('button', { type: 'button', class: 'primary', testid: 'play-again', onclick: () => this.o.onPlayAgain() }, 'Play again') : null,
        h('a', { href: `#/replay/${encodeURIComponent(this.matchId)}`, testid: 'result-replay', class: 'button' }, 'Replay'))));
    this.leaveBtn.textContent = this.role === 'player' ? 'Leave' : 'Stop watching';
  }

  /** @param {number} _t */
  loop(_t) {
    if (this.dead) return;
    this.raf = requestAnimationFrame(this.loop);
    this.frames++;
    const now = performance.now();
    this.draw(now);
    this.updateOverlay(now);
  }

  /** @param {number} now */
  draw(now) {
    const { ctx, canvas, state: st, info } = this;
    const rect = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const fit = fitGrid(info.width, info.height, Math.max(160, Math.round(rect.width * dpr)));
    if (canvas.width !== fit.w || canvas.height !== fit.h) { canvas.width = fit.w; canvas.height = fit.h; }
    const c = fit.cell;
    ctx.fillStyle = '#0b1020';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (c >= 6) {
      ctx.strokeStyle = '#151c33';
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let x = 1; x < info.width; x++) { ctx.moveTo(x * c + 0.5, 0); ctx.lineTo(x * c + 0.5, canvas.height); }
      for (let y = 1; y < info.height; y++) { ctx.moveTo(0, y * c + 0.5); ctx.lineTo(canvas.width, y * c + 0.5); }
      ctx.stroke();
    }
    const dt = this.lastFrame ? now - this.lastFrame : 1000 / 60;
    this.lastFrame = now;
    if (!st.synced && st.tick < 0) { hooks.cycles = { synced: false }; return; }
    const playing = this.roomState === 'playing' && this.ticks.ready && this.o.conn.status === 'online' && !this.end;
    let rt = st.tick;
    let pt = st.tick;
    if (playing) {
      this.delayMs = this.currentDelayMs();
      let target = this.ticks.seen(now) - (this.delayMs * this.hz) / 1000;
      if (target > st.tick) target = st.tick;
      rt = this.renderClock.at(now, target);
      if (this.role === 'player') pt = Math.max(this.present(now), rt);
    }
    const step = glideStep(dt, this.every, this.hz);
    /** @type {any[]} */
    const drawnHeads = [];
    for (let seat = 0; seat < info.seats; seat++) {
      const trail = st.trails[seat] || [];
      const status = st.status[seat] ?? RIDING;
      const own = this.role === 'player' && seat === this.seat;
      let cells = trail;
      let t = rt;
      /** @type {{x:number, y:number, tick:number}|null} */
      let next = null;
      let dir = st.heads[seat]?.[2] ?? 0;
      if (own && playing && status === RIDING) {
        const path = this.predictor.path(pt, st);
        cells = path.cells.length ? trail.concat(path.cells) : trail;
        t = pt;
        if (path.next && path.nextTick !== null) next = { ...path.next, tick: path.nextTick };
        dir = path.nextDir;
        hooks.predicted = { x: path.x, y: path.y, dir: path.dir, nextDir: path.nextDir, tick: pt, cells: path.cells.length };
      } else if (own) {
        t = st.tick;
      }
      const n = visibleCount(cells, t);
      const colour = seatColour(seat);
      ctx.globalAlpha = status === OUT ? 0.25 : status === CRASHED ? 0.55 : 0.85;
      ctx.fillStyle = colour;
      for (let i = 0; i < n; i++) ctx.fillRect(cells[i].x * c + 1, cells[i].y * c + 1, c - 2, c - 2);
      ctx.globalAlpha = 1;
      const target = headAt(cells, n, t, this.every, next);
      if (!target) { drawnHeads[seat] = null; continue; }
      const prev = this.drawnHeads[seat] || null;
      const head = status === RIDING && playing ? glide(prev, target, step) : target;
      if (prev && (head.x !== target.x || head.y !== target.y)) this.stats.headGlides++;
      this.drawnHeads[seat] = head;
      drawnHeads[seat] = { x: head.x, y: head.y, dir, status };
      // The trail reaches the drawn head; the head is a brighter square with a nose showing the
      // heading of the next move (a turn shows there at once).
      const last = n > 0 ? cells[n - 1] : null;
      ctx.fillStyle = colour;
      if (last) {
        const x0 = Math.min(last.x, head.x);
        const y0 = Math.min(last.y, head.y);
        ctx.fillRect(x0 * c + 1, y0 * c + 1, (Math.abs(head.x - last.x) + 1) * c - 2, (Math.abs(head.y - last.y) + 1) * c - 2);
      }
      ctx.fillStyle = status === RIDING ? '#ffffff' : colour;
      ctx.fillRect(head.x * c + c * 0.15, head.y * c + c * 0.15, c * 0.7, c * 0.7);
      if (status === RIDING) {
        const [dx, dy] = DIRS[dir] || DIRS[0];
        const cx = (head.x + 0.5) * c;
        const cy = (head.y + 0.5) * c;
        ctx.fillStyle = colour;
        ctx.beginPath();
        ctx.moveTo(cx + dx * c * 0.6, cy + dy * c * 0.6);
        ctx.lineTo(cx - dy * c * 0.3, cy + dx * c * 0.3);
        ctx.lineTo(cx + dy * c * 0.3, cy - dx * c * 0.3);
        ctx.closePath();
        ctx.fill();
      }
      if (own) {
        ctx.strokeStyle = '#ffffff';
        ctx.lineWidth = Math.max(1, c * 0.12);
        ctx.strokeRect(head.x * c - c * 0.2, head.y * c - c * 0.2, c * 1.4, c * 1.4);
      }
    }
    // Crashes of this round, shown once the render time reaches them.
    ctx.strokeStyle = '#f87171';
    ctx.lineWidth = Math.max(2, c * 0.2);
    for (const k of this.crashes) {
      if (playing && k.tick > (this.role === 'player' && k.seat === this.seat ? pt : rt)) continue;
      ctx.beginPath();
      ctx.moveTo(k.x * c, k.y * c); ctx.lineTo((k.x + 1) * c, (k.y + 1) * c);
      ctx.moveTo((k.x + 1) * c, k.y * c); ctx.lineTo(k.x * c, (k.y + 1) * c);
      ctx.stroke();
    }
    if (playing) this.stats.frames++;
    const cl = this.o.conn.clock;
    this.stats.pingMs = cl.rtt;
    this.stats.jitterMs = this.jitter.percentile(DELAY_PERCENTILE);
    this.stats.renderDelayMs = this.delayMs;
    hooks.cycles = {
      synced: st.synced, tick: st.tick, round: st.round, startsIn: st.startsIn, scores: st.scores.slice(), status: st.status.slice(),
      heads: st.heads.map((x) => (x ? x.slice() : null)), trailLengths: st.trails.map((t) => (t ? t.length : 0)), counts: { ...st.counts },
      renderTick: rt, ownTick: pt, drawnHeads, width: info.width, height: info.height,
    };
  }

  /** @param {number} now */
  updateOverlay(now) {
    if (this.end) return;
    const left = Math.max(0, this.deadline - now);
    const st = this.state;
    let text = '';
    let testid = 'overlay';
    if (this.o.conn.status !== 'online') {
      text = 'Connection lost: reconnecting… The match goes on; come back before the grace time ends.';
      testid = 'connection-lost';
    } else if (this.roomState === 'waiting') {
      testid = 'waiting';
      const inv = this.o.invite;
      const seated = this.players.length;
      if (inv) {
        const link = `${location.origin}/#/join/${encodeURIComponent(inv.code)}`;
        const cur = this.overlay.firstElementChild;
        if (cur?.getAttribute('data-testid') !== 'waiting' || cur.getAttribute('data-seated') !== String(seated)) {
          this.overlay.classList.remove('hidden');
          mount(this.overlay, h('div', { class: 'banner waiting invite', testid: 'waiting', 'data-seated': seated },
            h('p', null, `Waiting for players (${seated} of ${this.info.seats}). Share this code or link:`),
            h('p', { class: 'code', testid: 'room-code' }, inv.code),
            h('p', null, h('a', { href: link, testid: 'room-link' }, link)),
            h('button', { type: 'button', testid: 'copy-link', onclick: () => navigator.clipboard?.writeText(link).catch(() => {}) }, 'Copy link')));
        }
        return;
      }
      text = `Waiting for players (${seated} of ${this.info.seats})…`;
    } else if (this.roomState === 'countdown') {
      text = `${Math.ceil(left / 1000) || 'Go!'}`;
      testid = 'countdown';
    } else if (this.roomState === 'paused') {
      text = `Paused: everyone is away. The match resumes when a player returns (${(left / 1000).toFixed(1)} s).`;
      testid = 'paused';
    } else if (this.roundBanner && now < this.roundBanner.until) {
      text = this.roundBanner.text;
      testid = 'round-over';
    } else if (this.roomState === 'playing' && st.startsIn > 0) {
      text = `Round ${st.round} · ${(st.startsIn / this.hz).toFixed(1)} s`;
      testid = 'round-start';
    } else if (this.role === 'player' && this.seat !== null && st.status[this.seat] === CRASHED) {
      text = 'You crashed: watch the others finish the round.';
      testid = 'crashed';
    } else if (this.role === 'player' && this.seat !== null && st.status[this.seat] === OUT) {
      text = 'You are out of this match.';
      testid = 'out';
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
