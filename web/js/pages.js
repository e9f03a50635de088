// Pages outside the game: sign-in, lobby, live rooms, leaderboard, player history, replay
// viewer, account. Each returns an element; timers stop when the element leaves the document.

import { h, mount, formValues, when } from './dom.js';
import { api, exists, ApiError } from './api.js';
import { msg, endReasonText } from './protocol.js';
import { paddleTrack, tickTime, framesEvery, readFrames, sampleFrames, pointTicks, PONG_GEOMETRY } from './replay.js';
import { DELAY_KEY, renderDelaySetting, SOUND_KEY } from './game.js';
import { ordinal, readCyclesFrames, cyclesFrameAt, readInfo, standings, RIDING, OUT } from './cycles-state.js';
import { seatColour, visibleCount, headAt } from './cycles-draw.js';
import { app, toast, act, describe, signedIn, send, go, storedGuest, forgetGuest } from './app.js';

/** The short "how to play" of the landing page and the lobby. */
export function howToPlay() {
  return h('details', { class: 'card how-to', testid: 'how-to-play', open: !app.player },
    h('summary', null, 'How to play'),
    h('ul', null,
      h('li', null, 'Move your paddle with W / S or ↑ / ↓; on a phone, drag on the field or hold ▲ ▼.'),
      h('li', null, 'Return the ball past your opponent: a ball that crosses a goal line is a point for the other side. First to the match length wins.'),
      h('li', null, 'Where the ball hits your paddle sets its angle (steeper near the edges), and every hit makes it faster.'),
      h('li', null, 'Before each serve the ball rests in the middle; the ring shows when it leaves, the arrow where it goes.'),
      h('li', null, 'Sound is off by default: turn it on in the game. The ` key shows network figures (ping, jitter, delay).')),
    h('p', null, h('strong', null, 'Light cycles'), ' (2–8 players, free for all):'),
    h('ul', { testid: 'how-to-play-cycles' },
      h('li', null, 'Your cycle rides on by itself and leaves a trail. Turn with ← / A (left) and → / D (right), relative to where you are heading; on a phone, ⟲ ⟳.'),
      h('li', null, 'Hitting a wall or any trail (yours too) puts you out of the round; the last rider wins it. The first to the match length in rounds wins.'),
      h('li', null, 'Out of a round, you watch it end; leaving during the match gives it up (you place below everyone still in it), the others play on.')));
}

/** @typedef {import('./app.js').Player} Player */

/**
 * Run `fn` every `ms` while `el` is in the document.
 * @param {HTMLElement} el
 * @param {number} ms
 * @param {() => void|Promise<void>} fn
 */
function whileShown(el, ms, fn) {
  const timer = setInterval(() => {
    if (!el.isConnected) clearInterval(timer);
    else fn();
  }, ms);
}

/**
 * Feature-detect an API route once per page load.
 * @param {string} key
 * @param {string} path
 */
export async function feature(key, path) {
  if (app.features[key] === undefined) app.features[key] = await exists(path);
  return /** @type {boolean} */ (app.features[key]);
}

/**
 * @param {string} text
 * @param {string} [testid]
 */
function notice(text, testid = 'notice') {
  return h('p', { class: 'notice', testid }, text);
}

// ---------------------------------------------------------------- sign in

export function authPage() {
  const err = h('p', { class: 'form-error', testid: 'auth-error', role: 'alert' });
  /**
   * @param {string} path
   * @param {HTMLFormElement} form
   * @param {(v: Record<string,string>) => any} body
   */
  const submit = (path, form, body) => async (/** @type {Event} */ e) => {
    e.preventDefault();
    err.textContent = '';
    const btn = form.querySelector('button');
    if (btn) btn.disabled = true;
    try {
      const res = await api('POST', path, body(formValues(form)));
      signedIn(res.token, res.player);
    } catch (x) {
      err.textContent = describe(x);
    } finally {
      if (btn) btn.disabled = false;
    }
  };
  const guest = h('form', { class: 'card', testid: 'guest-form' },
    h('h2', null, 'Play now as a guest'),
    h('p', { class: 'muted' }, 'No password. Guests are rated but cannot join tournaments; you can register later and keep your history.'),
    h('label', null, 'Name (optional) ', h('input', { name: 'name', testid: 'guest-name', autocomplete: 'nickname', maxlength: 20, pattern: '[A-Za-z0-9_\\-]{3,20}', placeholder: '3–20 letters, digits, _ or -' })),
    h('button', { type: 'submit', class: 'primary', testid: 'guest-play' }, 'Play as guest'));
  guest.addEventListener('submit', submit('/api/v1/auth/guest', guest, (v) => (v.name ? { name: v.name } : {})));
  const login = h('form', { class: 'card', testid: 'login-form' },
    h('h2', null, 'Log in'),
    h('label', null, 'Name ', h('input', { name: 'name', testid: 'login-name', autocomplete: 'username', required: true })),
    h('label', null, 'Password ', h('input', { name: 'password', type: 'password', testid: 'login-password', autocomplete: 'current-password', required: true })),
    h('button', { type: 'submit', testid: 'login-submit' }, 'Log in'));
  login.addEventListener('submit', submit('/api/v1/auth/login', login, (v) => ({ name: v.name, password: v.password })));
  const register = h('form', { class: 'card', testid: 'register-form' },
    h('h2', null, 'Register'),
    h('label', null, 'Name ', h('input', { name: 'name', testid: 'register-name', autocomplete: 'username', required: true, minlength: 3, maxlength: 20 })),
    h('label', null, 'Password ', h('input', { name: 'password', type: 'password', testid: 'register-password', autocomplete: 'new-password', required: true, minlength: 8 })),
    h('button', { type: 'submit', testid: 'register-submit' }, 'Create account'));
  register.addEventListener('submit', submit('/api/v1/auth/register', register, (v) => ({ name: v.name, password: v.password })));
  // A guest who closed the tab comes back on the same browser.
  const back = storedGuest();
  /** @type {HTMLElement|null} */
  let resume = null;
  if (back) {
    const btn = h('button', { type: 'button', class: 'primary', testid: 'guest-resume' }, `Continue as ${back.player.name}`);
    btn.addEventListener('click', () => act(btn, async () => {
      try {
        const me = await api('GET', '/api/v1/me', undefined, back.token);
        signedIn(back.token, me);
      } catch (x) {
        forgetGuest();
        resume?.remove();
        err.textContent = x instanceof ApiError && x.status === 401 ? 'That guest session has expired; play as a new guest.' : describe(x);
      }
    }));
    resume = h('div', { class: 'card', testid: 'guest-welcome-back' },
      h('h2', null, 'Welcome back'),
      h('p', { class: 'muted' }, `You played here as the guest ${back.player.name}.`), btn);
  }
  return h('section', { class: 'page auth', testid: 'auth-page' },
    h('h1', null, 'rally: realtime Pong'),
    err,
    h('div', { class: 'cards' }, resume, guest, login, register),
    howToPlay());
}

// ---------------------------------------------------------------- lobby

/** @type {HTMLElement|null} */
let queueBox = null;
/** @type {HTMLElement|null} */
let returnBox = null;
let showReturn = false;

/** @param {boolean} on */
export function setReturnToGame(on) {
  showReturn = on;
  if (returnBox) returnBox.classList.toggle('hidden', !on);
}

export function onQueueChange() {
  if (!queueBox || !queueBox.isConnected) return;
  mount(queueBox, queueControls());
}

/**
 * A game the server offers (GET /api/v1/games).
 * @typedef {{kind:string, name:string, seats:{min:number, max:number}, default_queue_size:number, default_config:Record<string, any>}} GameSpec
 */

/** Pong alone: what a server without GET /api/v1/games offers. @type {GameSpec[]} */
export const PONG_ONLY = [{ kind: 'pong', name: 'Pong', seats: { min: 2, max: 2 }, default_queue_size: 2, default_config: { points_to_win: 5 } }];

/** Where the lobby remembers the game picked. */
export const GAME_KEY = 'rally.game';

/** @type {Promise<GameSpec[]>|null} */
let gamesLoad = null;

/**
 * The games of the server, fetched once per page load (Pong alone when the server does not
 * list games, or the list cannot be read).
 * @returns {Promise<GameSpec[]>}
 */
export function loadGames() {
  if (!gamesLoad) {
    gamesLoad = api('GET', '/api/v1/games').then((res) => {
      const list = /** @type {any[]} */ (Array.isArray(res?.games) ? res.games : [])
        .filter((g) => g && typeof g.kind === 'string' && g.seats && Number.isInteger(g.seats.min) && Number.isInteger(g.seats.max))
        .map((g) => ({
          kind: g.kind, name: typeof g.name === 'string' ? g.name : g.kind, seats: { min: g.seats.min, max: g.seats.max },
          default_queue_size: Number.isInteger(g.default_queue_size) ? g.default_queue_size : g.seats.min,
          default_config: g.default_config && typeof g.default_config === 'object' ? g.default_config : {},
        }));
      return list.length ? list : PONG_ONLY;
    }, () => PONG_ONLY);
  }
  return gamesLoad;
}

function queueControls() {
  if (app.queue === 'queued' || app.queue === 'found') {
    const many = app.queueFor.size && app.queueFor.size > 2;
    return h('div', { class: 'queue-state' },
      h('p', { testid: 'queue-status', class: 'searching' }, app.queue === 'found'
        ? (many ? 'Players found, joining…' : 'Opponent found, joining…')
        : (many ? `Searching for ${(app.queueFor.size ?? 2) - 1} other players…` : 'Searching for an opponent…')),
      h('button', { type: 'button', testid: 'cancel-queue', onclick: () => { send(msg.cancelQueue()); } }, 'Cancel'));
  }
  return h('button', {
    type: 'button', class: 'primary big', testid: 'quick-match',
    onclick: () => { if (send(msg.queue(app.queueFor.game, app.queueFor.size))) { app.queue = 'queued'; onQueueChange(); } },
  }, 'Quick match');
}

/**
 * A select of the whole numbers lo..hi.
 * @param {string} testid @param {number} lo @param {number} hi @param {number} value @param {(n:number) => string} label
 */
function numberSelect(testid, lo, hi, value, label) {
  const opts = [];
  for (let n = lo; n <= hi; n++) opts.push(h('option', { value: n, selected: n === value }, label(n)));
  return h('select', { name: testid, testid }, opts);
}

/** Light cycles grids offered for private rooms: [width, height]. */
const CYCLES_GRIDS = [[32, 24], [48, 36], [64, 48]];
/** Light cycles speeds offered: ticks per cell (move_every) and their names. */
const CYCLES_SPEEDS = /** @type {[number, string][]} */ ([[6, 'relaxed'], [4, 'normal'], [3, 'fast'], [2, 'very fast']]);

export function lobbyPage() {
  const p = /** @type {Player} */ (app.player);
  queueBox = h('div', { class: 'queue', testid: 'queue-box' }, queueControls());
  returnBox = h('p', { class: ['notice', !showReturn && 'hidden'], testid: 'return-to-game' },
    'You have a match in progress. ', h('a', { href: '#/game' }, 'Back to the match'));
  const gameSelect = h('select', { name: 'game', testid: 'game-select', 'aria-label': 'Game' });
  const sizeBox = h('div', { class: 'queue-size' });
  const roomOptions = h('div', { class: 'room-options' });
  const rated = h('input', { type: 'checkbox', name: 'rated', testid: 'room-rated' });
  /** @type {GameSpec[]} */
  let games = PONG_ONLY;
  /** @type {() => Record<string, any>} the config of the private room, from the options shown */
  let roomConfig = () => ({});
  const spec = () => games.find((g) => g.kind === gameSelect.value) || games[0];
  /** The spec whose options are shown (they are rebuilt only when it changes, keeping choices made). @type {GameSpec|null} */
  let shown = null;
  const showGame = () => {
    const g = spec();
    if (shown === g) return;
    shown = g;
    localStorage.setItem(GAME_KEY, g.kind);
    if (app.queue === 'idle') {
      app.queueFor = g.seats.max > 2 ? { game: g.kind, size: app.queueFor.game === g.kind && app.queueFor.size ? app.queueFor.size : g.default_queue_size } : { game: g.kind };
      onQueueChange();
    }
    if (g.seats.max > 2) {
      const size = numberSelect('queue-size', g.seats.min, g.seats.max, app.queueFor.size ?? g.default_queue_size, (n) => `${n} players`);
      size.addEventListener('change', () => { if (app.queue === 'idle') app.queueFor = { game: g.kind, size: Number(size.value) }; });
      mount(sizeBox, h('label', null, 'Players ', size));
    } else {
      mount(sizeBox);
    }
    if (g.kind === 'pong') {
      const points = h('select', { name: 'points', testid: 'room-points' },
        [1, 3, 5, 7, 11, 21].map((n) => h('option', { value: n, selected: n === 5 }, `first to ${n}`)));
      mount(roomOptions, h('label', null, 'Length ', points));
      roomConfig = () => ({ points_to_win: Number(points.value) });
    } else if (g.kind === 'cycles') {
      const d = g.default_config;
      const seats = numberSelect('room-seats', g.seats.min, g.seats.max, Number(d.seats) || g.default_queue_size, (n) => `${n} players`);
      const rounds = numberSelect('room-rounds', 1, 9, Number(d.rounds_to_win) || 3, (n) => `first to ${n} round${n === 1 ? '' : 's'}`);
      const grid = h('select', { name: 'room-grid', testid: 'room-grid' },
        CYCLES_GRIDS.map(([w, hh]) => h('option', { value: `${w}x${hh}`, selected: w === (Number(d.width) || 64) }, `${w} × ${hh}`)));
      const speed = h('select', { name: 'room-speed', testid: 'room-speed' },
        CYCLES_SPEEDS.map(([e, name]) => h('option', { value: e, selected: e === (Number(d.move_every) || 4) }, name)));
      mount(roomOptions, h('label', null, 'Players ', seats), h('label', null, 'Length ', rounds),
        h('label', null, 'Grid ', grid), h('label', null, 'Speed ', speed));
      roomConfig = () => {
        const [w, hh] = grid.value.split('x').map(Number);
        return { seats: Number(seats.value), rounds_to_win: Number(rounds.value), width: w, height: hh, move_every: Number(speed.value) };
      };
    } else {
      mount(roomOptions);
      roomConfig = () => ({});
    }
  };
  gameSelect.addEventListener('change', showGame);
  loadGames().then((list) => {
    games = list;
    const want = app.queue !== 'idle' ? app.queueFor.game : localStorage.getItem(GAME_KEY) || app.queueFor.game;
    mount(gameSelect, list.map((g) => h('option', { value: g.kind, selected: g.kind === want },
      `${g.name}${g.seats.max > 2 ? ` (${g.seats.min}–${g.seats.max} players)` : ''}`)));
    gameSelect.disabled = list.length < 2;
    // Pong's options were shown before the list came: keep them (and what was picked in them).
    if (!(shown?.kind === 'pong' && spec().kind === 'pong')) showGame();
    else shown = spec();
  });
  showGame();
  const createBtn = h('button', { type: 'button', testid: 'create-room' }, 'Create private room');
  createBtn.addEventListener('click', () => act(createBtn, async () => {
    const res = await api('POST', '/api/v1/rooms', { game: spec().kind, rated: rated.checked, config: roomConfig() });
    app.invite = { room: res.room, code: res.code };
    send(msg.join({ room: res.room }));
  }));
  const codeInput = h('input', { name: 'code', testid: 'join-code', placeholder: 'ABC123', maxlength: 12, autocomplete: 'off', required: true });
  const joinForm = h('form', { class: 'inline' }, codeInput, h('button', { type: 'submit', testid: 'join-code-submit' }, 'Join'),
    h('button', { type: 'button', testid: 'spectate-code', onclick: () => { if (codeInput.value.trim()) send(msg.spectate({ code: codeInput.value.trim() })); } }, 'Watch'));
  joinForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const code = codeInput.value.trim();
    if (!code) { toast('Type the code your friend gave you.'); return; }
    send(msg.join({ code }));
  });
  const fixed = renderDelaySetting();
  const delay = h('input', { type: 'range', min: 0, max: 250, step: 10, value: fixed ?? 80, testid: 'render-delay', disabled: fixed === null });
  const delayAuto = h('input', { type: 'checkbox', testid: 'render-delay-auto', checked: fixed === null });
  const delayLabel = h('span', null, fixed === null ? 'adaptive' : `${fixed} ms`);
  const saveDelay = () => {
    delay.disabled = delayAuto.checked;
    localStorage.setItem(DELAY_KEY, delayAuto.checked ? 'auto' : delay.value);
    delayLabel.textContent = delayAuto.checked ? 'adaptive' : `${delay.value} ms`;
  };
  delay.addEventListener('input', saveDelay);
  delayAuto.addEventListener('change', saveDelay);
  const sound = h('input', { type: 'checkbox', testid: 'sound-setting', checked: localStorage.getItem(SOUND_KEY) === '1' });
  sound.addEventListener('change', () => localStorage.setItem(SOUND_KEY, sound.checked ? '1' : '0'));
  return h('section', { class: 'page lobby', testid: 'lobby' },
    returnBox,
    h('h1', null, `Hello, ${p.name}`),
    h('p', { class: 'muted', testid: 'my-rating' }, `Rating ${p.rating}${p.games_played !== undefined ? ` · ${p.games_played} rated games` : ''}`,
      // Ratings are per game: the other games' after Pong's.
      Object.entries(p.ratings || {}).filter(([k]) => k !== 'pong').map(([k, r]) => ` · ${gameName(k)} ${r.rating}${r.games_played !== undefined ? ` (${r.games_played} rated)` : ''}`).join(''),
      p.guest ? ' · guest (' : '',
      p.guest ? h('a', { href: '#/account', testid: 'upgrade-link' }, 'keep this name — register') : null, p.guest ? ')' : ''),
    h('label', { class: 'game-pick' }, 'Game ', gameSelect),
    h('div', { class: 'cards' },
      h('div', { class: 'card' }, h('h2', null, 'Quick match'), h('p', { class: 'muted' }, 'Play the next players of about your rating.'), sizeBox, queueBox),
      h('div', { class: 'card' }, h('h2', null, 'Private room'), h('p', { class: 'muted' }, 'Play friends: you get a code and a link to share.'),
        roomOptions, h('label', { class: 'check' }, rated, ' rated'), createBtn),
      h('div', { class: 'card' }, h('h2', null, 'Join by code'), joinForm)),
    h('details', { class: 'settings' }, h('summary', null, 'Settings'),
      h('label', { class: 'check' }, delayAuto, ' adapt the render delay to the connection (recommended)'),
      h('label', null, 'Fixed render delay for the ball and opponent ', delay, ' ', delayLabel),
      h('p', { class: 'muted' }, 'Higher is smoother on a jittery connection, lower shows the ball sooner. Applies to the next match.'),
      h('label', { class: 'check' }, sound, ' sound effects')),
    howToPlay());
}

// ---------------------------------------------------------------- live rooms

export function roomsPage() {
  const body = h('div', { testid: 'rooms-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const el = h('section', { class: 'page', testid: 'rooms-page' }, h('h1', null, 'Live rooms'),
    h('p', { class: 'muted' }, 'Public matches being played now. Private rooms are not listed.'), body);
  const load = async () => {
    try {
      const res = await api('GET', '/api/v1/rooms?limit=50');
      const items = /** @type {any[]} */ (res.items || []);
      if (!items.length) { mount(body, notice('No match is being played right now.', 'rooms-empty')); return; }
      mount(body, h('table', { class: 'list' },
        h('thead', null, h('tr', null, h('th', null, 'Game'), h('th', null, 'Players'), h('th', null, 'Score'), h('th', null, 'State'), h('th', null, 'Watching'), h('th', null, ''))),
        h('tbody', null, items.map((r) => h('tr', { testid: 'room-row', 'data-room': r.id },
          h('td', null, gameName(r.game || 'pong')),
          h('td', null, (r.players || []).map((/** @type {any} */ n) => n || '–').join((r.players || []).length > 2 ? ', ' : ' vs ')),
          h('td', null, Array.isArray(r.score) ? r.score.join(' – ') : ''),
          h('td', null, `${r.state}${r.rated ? ' · rated' : ''}`),
          h('td', null, String(r.spectators ?? 0)),
          h('td', null, h('button', { type: 'button', testid: 'spectate', onclick: () => send(msg.spectate({ room: r.id })) }, 'Watch')))))));
    } catch (e) {
      mount(body, notice(describe(e), 'error'));
    }
  };
  load();
  whileShown(el, 2000, load);
  return el;
}

// ---------------------------------------------------------------- leaderboard

export function leaderboardPage() {
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const pick = h('select', { testid: 'leaderboard-game', 'aria-label': 'Game' });
  const pickBox = h('label', { class: 'game-pick hidden' }, 'Game ', pick);
  const el = h('section', { class: 'page', testid: 'leaderboard-page' }, h('h1', null, 'Leaderboard'), pickBox, body);
  /** @param {string} game */
  const load = async (game) => {
    try {
      // Ratings are per game (GET /api/v1/leaderboard?game=…; Pong when absent).
      const res = await api('GET', `/api/v1/leaderboard?limit=100${game === 'pong' ? '' : `&game=${encodeURIComponent(game)}`}`);
      const items = /** @type {any[]} */ (res.items || []);
      if (!items.length) { mount(body, notice('Nobody is ranked yet: registered players appear after their first rated match.')); return; }
      mount(body, h('table', { class: 'list', testid: 'leaderboard', 'data-game': game },
        h('thead', null, h('tr', null, h('th', null, '#'), h('th', null, 'Player'), h('th', null, 'Rating'), h('th', null, 'Games'))),
        h('tbody', null, items.map((r) => h('tr', { testid: 'leaderboard-row' },
          h('td', null, String(r.rank)), h('td', null, h('a', { href: `#/players/${encodeURIComponent(r.id)}` }, r.name)),
          h('td', { title: `± ${r.rating_deviation}` }, String(r.rating)), h('td', null, String(r.games_played)))))));
    } catch (e) {
      mount(body, notice(describe(e), 'error'));
    }
  };
  (async () => {
    if (!(await feature('matches', '/api/v1/leaderboard'))) {
      mount(body, notice('This server does not serve a leaderboard yet.', 'feature-missing'));
      return;
    }
    const list = await loadGames();
    if (list.length > 1) {
      mount(pick, list.map((g) => h('option', { value: g.kind }, g.name)));
      pickBox.classList.remove('hidden');
      pick.addEventListener('change', () => load(pick.value));
    }
    await load('pong');
  })();
  return el;
}

// ---------------------------------------------------------------- player and match history

/** @param {string} id */
export function playerPage(id) {
  const me = app.player && app.player.id === id ? app.player : null;
  const title = h('h1', null, me ? `${me.name}` : 'Player');
  const stats = h('p', { class: 'muted', testid: 'player-stats' }, me ? `Rating ${me.rating} · ${me.games_played ?? 0} rated games` : '');
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const el = h('section', { class: 'page', testid: 'player-page' }, title, stats,
    me && me.guest ? h('p', null, h('a', { href: '#/account' }, 'Register'), ' to keep this history under a name and password.') : null,
    h('h2', null, 'Match history'), body);
  (async () => {
    if (!(await feature('matches', '/api/v1/leaderboard'))) {
      mount(body, notice('This server does not serve match history yet.', 'feature-missing'));
      return;
    }
    try {
      const res = await api('GET', `/api/v1/players/${encodeURIComponent(id)}/matches?limit=50`);
      const items = /** @type {any[]} */ (res.items || []);
      if (!me) {
        const p = items.flatMap((m) => m.players || []).find((/** @type {any} */ x) => x.id === id);
        if (p) title.textContent = p.name;
      }
      if (!items.length) { mount(body, notice('No matches yet.', 'history-empty')); return; }
      mount(body, h('table', { class: 'list', testid: 'match-history' },
        h('thead', null, h('tr', null, h('th', null, 'When'), h('th', null, 'Match'), h('th', null, 'Result'), h('th', null, 'Rating'), h('th', null, ''))),
        h('tbody', null, items.map((m) => historyRow(m, id)))));
    } catch (e) {
      mount(body, notice(describe(e), 'error'));
    }
  })();
  return el;
}

/** @param {any} m @param {string} id */
function historyRow(m, id) {
  const players = /** @type {any[]} */ (m.players || []);
  const mine = players.find((p) => p.id === id);
  const others = players.filter((p) => p.id !== id);
  const many = players.length > 2;
  let result = m.status;
  if (m.status === 'finished') {
    const why = m.end_reason && m.end_reason !== 'score' ? ` (${endReasonText(m.end_reason)})` : '';
    if (many || (mine && typeof mine.place === 'number')) {
      // Free for all: the place (Outcome.places) and the rounds won by seat.
      const place = mine && typeof mine.place === 'number' ? mine.place : null;
      const won = mine && m.winner_seat === mine.seat;
      result = `${place ? `${ordinal(place)} of ${players.length}` : won ? 'won' : 'lost'} ${[...players].sort((a, b) => a.seat - b.seat).map((p) => p.score).join('–')}${why}`;
    } else {
      result = m.winner_seat === null || m.winner_seat === undefined ? 'draw' : mine && m.winner_seat === mine.seat ? 'won' : 'lost';
      result += ` ${players.map((p) => p.score).join('–')} ${why}`;
    }
  }
  const rating = mine && mine.rating_before !== null && mine.rating_after !== null && mine.rating_before !== undefined
    ? `${mine.rating_before} → ${mine.rating_after}` : m.rated ? '' : 'unrated';
  const vs = others.length
    ? ['vs ', ...others.flatMap((o, i) => [i ? ', ' : '', h('a', { href: `#/players/${encodeURIComponent(o.id)}` }, o.name)])]
    : ['–'];
  return h('tr', { testid: 'history-row', 'data-game': m.game || 'pong' },
    h('td', null, when(m.finished_at || m.created_at)),
    h('td', null, ...vs, ` · ${m.game && m.game !== 'pong' ? `${gameName(m.game)} · ` : ''}${m.mode}`),
    h('td', null, result),
    h('td', null, rating),
    h('td', null, m.status === 'finished' ? h('a', { href: `#/replay/${encodeURIComponent(m.id)}`, testid: 'replay-link' }, 'Replay') : ''));
}

/** @param {string} kind */
function gameName(kind) {
  return kind === 'cycles' ? 'Light cycles' : kind === 'pong' ? 'Pong' : kind;
}

// ---------------------------------------------------------------- replay viewer

/** Test hooks (tests/browser reads `window.__rally.replay`). */
const hooks = /** @type {Record<string, any>} */ (/** @type {any} */ (window).__rally || ((/** @type {any} */ (window)).__rally = {}));

/**
 * `#/replay/MATCH[?every=N]`: the match, its input log and the server's re-simulated frames.
 * @param {string} id
 */
export function replayPage(id) {
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const el = h('section', { class: 'page', testid: 'replay-page' }, h('h1', null, 'Replay'), body);
  const asked = Number(new URLSearchParams(location.hash.split('?')[1] || '').get('every')) || null;
  (async () => {
    if (!(await feature('matches', '/api/v1/leaderboard'))) {
      mount(body, notice('This server does not serve replays yet.', 'feature-missing'));
      return;
    }
    let match;
    let replay;
    try {
      [match, replay] = await Promise.all([
        api('GET', `/api/v1/matches/${encodeURIComponent(id)}`),
        api('GET', `/api/v1/matches/${encodeURIComponent(id)}/replay`),
      ]);
    } catch (e) {
      const text = e instanceof ApiError && e.status === 404 ? 'This match has no replay (it is unknown or not finished yet).' : describe(e);
      mount(body, notice(text, 'error'));
      return;
    }
    if (replay.game === 'cycles' || match.game === 'cycles') {
      if (el.isConnected) mount(body, await cyclesReplay(id, match, replay, asked));
      return;
    }
    /** @type {import('./replay.js').FrameSet|null} */
    let frames = null;
    let why = '';
    try {
      const every = framesEvery(Number(replay.ticks) || 0, asked);
      frames = readFrames(await api('GET', `/api/v1/matches/${encodeURIComponent(id)}/replay/frames?every=${every}`));
    } catch (e) {
      // Without frames the viewer still replays the paddles from the inputs, and says why.
      why = e instanceof ApiError && e.status === 404 && /no such API route/i.test(e.message)
        ? 'This server does not re-simulate replays, so the ball is not shown.'
        : `The ball cannot be shown: ${describe(e)}`;
    }
    if (el.isConnected) mount(body, replayViewer(match, replay, frames, why));
  })();
  return el;
}

/**
 * Plays back a finished match: the server's frames (ball, paddles, score; interpolated when
 * taken every N > 1 ticks), or the paddles alone rebuilt from the input log when the server has
 * no frames. Play/pause, speed, a scrubber, and the input timeline.
 * @param {any} match
 * @param {any} replay
 * @param {import('./replay.js').FrameSet|null} set
 * @param {string} why  why there are no frames
 */
function replayViewer(match, replay, set, why) {
  const track = paddleTrack(replay);
  const hz = set ? set.hz : track.hz;
  const lastTick = set ? Math.max(track.ticks, set.frames[set.frames.length - 1].tick) : track.ticks;
  const points = set ? pointTicks(set.frames) : [];
  const names = [0, 1].map((s) => (match.players || []).find((/** @type {any} */ p) => p.seat === s)?.name || `seat ${s}`);
  const canvas = h('canvas', { class: 'field', width: 960, height: 540, testid: 'replay-canvas' });
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  const scrub = h('input', { type: 'range', min: 0, max: lastTick, step: 1, value: 0, testid: 'replay-scrub', 'aria-label': 'Position' });
  const clock = h('span', { testid: 'replay-time' }, tickTime(0, hz));
  const playBtn = h('button', { type: 'button', testid: 'replay-play' }, 'Play');
  const speed = h('select', { testid: 'replay-speed', 'aria-label': 'Speed' }, [0.25, 0.5, 1, 2, 4, 8].map((s) => h('option', { value: s, selected: s === 1 }, `${s}×`)));
  const liveScore = h('span', { class: 'score', testid: 'replay-live-score' });
  let tick = 0;
  let playing = false;
  let last = 0;
  const G = PONG_GEOMETRY;
  const state = hooks.replay = { match: match.id, every: set ? set.every : null, frames: set ? set.frames.length : 0, lastTick, hz, tick: 0, ball: /** @type {number[]|null} */ (null), scores: [0, 0], playing: false, ended: false };
  const draw = () => {
    const w = canvas.width;
    const hh = canvas.height;
    const sx = w / G.width;
    const sy = hh / G.height;
    ctx.fillStyle = '#0b1020';
    ctx.fillRect(0, 0, w, hh);
    ctx.strokeStyle = '#2a3350';
    ctx.setLineDash([sy * 200, sy * 200]);
    ctx.lineWidth = Math.max(1, sx * 60);
    ctx.beginPath();
    ctx.moveTo(w / 2, 0);
    ctx.lineTo(w / 2, hh);
    ctx.stroke();
    ctx.setLineDash([]);
    const t = Math.min(lastTick, Math.max(0, tick));
    const ph = track.config.paddle_height;
    const sample = set ? sampleFrames(set.frames, t, hz) : null;
    const whole = Math.min(track.ticks, Math.floor(t));
    const paddles = sample ? sample.paddles : [track.paddles[0][whole], track.paddles[1][whole]];
    for (const s of [0, 1]) {
      ctx.fillStyle = '#e5e7eb';
      ctx.fillRect((G.paddleX[s] - G.paddleWidth / 2) * sx, (paddles[s] - ph / 2) * sy, G.paddleWidth * sx, ph * sy);
    }
    if (sample) {
      ctx.fillStyle = '#fbbf24';
      ctx.fillRect((sample.ball[0] - G.ballSize / 2) * sx, (sample.ball[1] - G.ballSize / 2) * sy, G.ballSize * sx, G.ballSize * sy);
    }
    // The timeline along the bottom: inputs (blue, one row per seat), points (red), playhead.
    const span = Math.max(1, lastTick);
    ctx.fillStyle = '#7dd3fc';
    for (const i of track.inputs) ctx.fillRect((i.tick / span) * w, hh - 6 - i.seat * 6, 2, 5);
    ctx.fillStyle = '#f87171';
    for (const p of points) ctx.fillRect((p / span) * w - 1, hh - 20, 3, 8);
    ctx.fillStyle = '#fbbf24';
    ctx.fillRect((t / span) * w - 1, hh - 14, 2, 14);
    clock.textContent = `${tickTime(t, hz)} / ${tickTime(lastTick, hz)}`;
    scrub.value = String(Math.round(t));
    const scores = sample ? sample.scores : t >= lastTick ? [replay.scores?.[0] ?? 0, replay.scores?.[1] ?? 0] : null;
    liveScore.textContent = scores ? `${scores[0]} – ${scores[1]}` : '–';
    liveScore.dataset.scores = scores ? scores.join('-') : '';
    Object.assign(state, { tick: t, ball: sample ? sample.ball : null, paddles, scores, playing, ended: t >= lastTick });
  };
  const frame = (/** @type {number} */ now) => {
    if (!canvas.isConnected) return;
    if (playing) {
      tick += ((now - last) / 1000) * hz * Number(speed.value);
      if (tick >= lastTick) { tick = lastTick; playing = false; playBtn.textContent = 'Play'; }
    }
    last = now;
    draw();
    requestAnimationFrame(frame);
  };
  playBtn.addEventListener('click', () => {
    if (tick >= lastTick) tick = 0;
    playing = !playing;
    playBtn.textContent = playing ? 'Pause' : 'Play';
  });
  scrub.addEventListener('input', () => { tick = Number(scrub.value); });
  requestAnimationFrame(frame);
  const winner = match.winner_seat;
  const inputsList = h('ol', { class: 'timeline', testid: 'replay-inputs' },
    track.inputs.slice(0, 500).map((i) => h('li', null, `${tickTime(i.tick, track.hz)} ${names[i.seat]}: ${i.input}`)));
  const about = set
    ? `Re-simulated by the server: ${set.frames.length} frames, one every ${set.every === 1 ? 'tick' : `${set.every} ticks (interpolated between them)`}; ${lastTick} ticks at ${hz} Hz, ${track.inputs.length} recorded inputs.`
    : `${why} Paddles are replayed exactly from the ${track.inputs.length} recorded inputs. ${track.ticks} ticks at ${track.hz} Hz.`;
  return h('div', { class: 'replay', 'data-frames': set ? 'yes' : 'no' },
    h('p', { class: 'final-score', testid: 'replay-score' },
      `Final: ${names[0]} ${replay.scores?.[0] ?? ''} – ${replay.scores?.[1] ?? ''} ${names[1]}`,
      winner === null || winner === undefined ? '' : ` · ${names[winner]} won ${endReasonText(match.end_reason || 'score')}`),
    h('div', { class: 'hud' }, h('span', { class: 'seat seat0' }, names[0]), liveScore, h('span', { class: 'seat seat1' }, names[1])),
    canvas,
    h('div', { class: 'controls' }, playBtn, scrub, clock, speed),
    h('p', { class: set ? 'muted' : 'notice', testid: 'replay-about' }, about),
    h('details', null, h('summary', null, 'Input timeline'), inputsList));
}

/** Most frames the cycles viewer asks for by default (each frame may hold the whole grid). */
const CYCLES_FRAME_BUDGET = 2500;

/**
 * The replay viewer of a light cycles match: the server's frames (full states, or deltas from
 * the frame before) rebuilt into trails per round; play/pause, speed, a scrubber, the seats with
 * their rounds won, the turns on a timeline, and the finishing order.
 * @param {string} id
 * @param {any} match
 * @param {any} replay
 * @param {number|null} asked  `?every=` of the route
 */
async function cyclesReplay(id, match, replay, asked) {
  const info = readInfo({ ...(replay.config || {}), seats: replay.config?.seats ?? (match.players || []).length });
  const ticks = Number(replay.ticks) || 0;
  // A frame per move at most (nothing changes between moves), at most CYCLES_FRAME_BUDGET.
  const every = asked ? framesEvery(ticks, asked) : Math.max(framesEvery(ticks, null, CYCLES_FRAME_BUDGET), info.moveEvery);
  /** @type {import('./cycles-state.js').CyclesFrameSet} */
  let set;
  try {
    set = readCyclesFrames(await api('GET', `/api/v1/matches/${encodeURIComponent(id)}/replay/frames?every=${every}`), info);
  } catch (e) {
    const text = e instanceof ApiError && e.status === 404 && /no such API route/i.test(e.message)
      ? 'This server does not re-simulate replays, so the match cannot be shown.'
      : `The match cannot be shown: ${describe(e)}`;
    return notice(text, 'error');
  }
  const seats = set.seats;
  const names = Array.from({ length: seats }, (_, s) => (match.players || []).find((/** @type {any} */ p) => p.seat === s)?.name || `seat ${s + 1}`);
  const hz = set.hz;
  const lastTick = Math.max(set.lastTick, ticks);
  const inputs = /** @type {{tick:number, seat:number, input:string}[]} */ ((replay.log?.inputs || [])
    .map((/** @type {any[]} */ [tick, seat, input]) => ({ tick: Number(tick), seat: Number(seat), input: String(input) })));
  const cellPx = Math.max(4, Math.floor(960 / info.width));
  const canvas = h('canvas', { class: 'field grid', width: cellPx * info.width, height: cellPx * info.height + 24, testid: 'replay-canvas' });
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  const scrub = h('input', { type: 'range', min: 0, max: lastTick, step: 1, value: 0, testid: 'replay-scrub', 'aria-label': 'Position' });
  const clock = h('span', { testid: 'replay-time' }, tickTime(0, hz));
  const playBtn = h('button', { type: 'button', testid: 'replay-play' }, 'Play');
  const speed = h('select', { testid: 'replay-speed', 'aria-label': 'Speed' }, [0.25, 0.5, 1, 2, 4, 8].map((v) => h('option', { value: v, selected: v === 1 }, `${v}×`)));
  const roundEl = h('span', { class: 'score', testid: 'replay-round' });
  const seatList = h('ol', { class: 'cycles-seats', testid: 'replay-seats' });
  let tick = 0;
  let playing = false;
  let last = 0;
  const state = hooks.replay = { match: match.id, game: 'cycles', every: set.every, frames: set.count, rounds: set.rounds.length, lastTick, hz, tick: 0, round: 0, scores: /** @type {number[]} */ ([]), playing: false, ended: false };
  let shownScores = '';
  const draw = () => {
    const t = Math.min(lastTick, Math.max(0, tick));
    const { round, frame } = cyclesFrameAt(set, t);
    const c = cellPx;
    ctx.fillStyle = '#0b1020';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    for (let seat = 0; seat < seats; seat++) {
      const trail = round.trails[seat] || [];
      const n = visibleCount(trail, t);
      const status = frame.status[seat] ?? RIDING;
      ctx.globalAlpha = status === OUT ? 0.25 : status === RIDING ? 0.85 : 0.55;
      ctx.fillStyle = seatColour(seat);
      for (let i = 0; i < n; i++) ctx.fillRect(trail[i].x * c + 1, trail[i].y * c + 1, c - 2, c - 2);
      ctx.globalAlpha = 1;
      const head = headAt(trail, n, t, info.moveEvery);
      if (head) {
        ctx.fillStyle = status === RIDING ? '#ffffff' : '#f87171';
        ctx.fillRect(head.x * c + c * 0.15, head.y * c + c * 0.15, c * 0.7, c * 0.7);
      }
    }
    // The timeline along the bottom: turns (one colour per seat), rounds (white), playhead.
    const y0 = info.height * c;
    const span = Math.max(1, lastTick);
    for (const i of inputs) {
      ctx.fillStyle = seatColour(i.seat);
      ctx.fillRect((i.tick / span) * canvas.width, y0 + 4 + (i.seat % 4) * 4, 2, 3);
    }
    ctx.fillStyle = '#e5e7eb';
    for (const r of set.rounds) ctx.fillRect((r.start / span) * canvas.width - 1, y0 + 2, 2, 20);
    ctx.fillStyle = '#fbbf24';
    ctx.fillRect((t / span) * canvas.width - 1, y0, 3, 24);
    clock.textContent = `${tickTime(t, hz)} / ${tickTime(lastTick, hz)}`;
    scrub.value = String(Math.round(t));
    roundEl.textContent = `Round ${round.round}`;
    const key = `${round.round}|${frame.scores.join(',')}|${frame.status.join(',')}`;
    if (key !== shownScores) {
      shownScores = key;
      mount(seatList, names.map((n, s) => h('li', { class: ['cycles-seat', frame.status[s] === OUT && 'out'], testid: 'replay-seat', 'data-seat': s },
        h('span', { class: 'swatch', 'data-seat': s }), h('span', { class: 'name' }, n),
        h('span', { class: 'what' }, frame.status[s] === OUT ? 'out' : frame.status[s] === RIDING ? '' : 'crashed'),
        h('span', { class: 'rounds' }, String(frame.scores[s] ?? 0)))));
    }
    Object.assign(state, { tick: t, round: round.round, scores: frame.scores.slice(), playing, ended: t >= lastTick });
  };
  const loop = (/** @type {number} */ now) => {
    if (!canvas.isConnected && last) return;
    if (playing) {
      tick += ((now - last) / 1000) * hz * Number(speed.value);
      if (tick >= lastTick) { tick = lastTick; playing = false; playBtn.textContent = 'Play'; }
    }
    last = now;
    draw();
    requestAnimationFrame(loop);
  };
  playBtn.addEventListener('click', () => {
    if (tick >= lastTick) tick = 0;
    playing = !playing;
    playBtn.textContent = playing ? 'Pause' : 'Play';
  });
  scrub.addEventListener('input', () => { tick = Number(scrub.value); });
  requestAnimationFrame(loop);
  // The finishing order: each seat's place (match view `players[].place`), else by the scores.
  const places = Array.from({ length: seats }, (_, s) => (match.players || []).find((/** @type {any} */ p) => p.seat === s)?.place);
  const order = standings({ places: places.every((x) => typeof x === 'number') ? places : undefined, scores: replay.scores ?? Array.from({ length: seats }, (_, s) => (match.players || []).find((/** @type {any} */ p) => p.seat === s)?.score ?? 0) },
    (match.players || []).map((/** @type {any} */ p) => ({ seat: p.seat, name: p.name })), seats);
  return h('div', { class: 'replay cycles', 'data-frames': 'yes' },
    h('p', { class: 'final-score', testid: 'replay-score' }, `Final: ${order.map((r) => `${ordinal(r.place)} ${r.name} (${r.score})`).join(' · ')}`,
      match.end_reason && match.end_reason !== 'score' ? ` · ended ${endReasonText(match.end_reason)}` : ''),
    h('div', { class: 'hud' }, roundEl),
    h('div', { class: 'cycles-board' }, canvas, h('div', { class: 'cycles-side' }, seatList)),
    h('div', { class: 'controls' }, playBtn, scrub, clock, speed),
    h('p', { class: 'muted', testid: 'replay-about' },
      `Re-simulated by the server: ${set.count} frames, one every ${set.every === 1 ? 'tick' : `${set.every} ticks`}; ${set.rounds.length} round${set.rounds.length === 1 ? '' : 's'}, ${lastTick} ticks at ${hz} Hz, ${inputs.length} turns.`),
    h('details', null, h('summary', null, 'Turns'), h('ol', { class: 'timeline', testid: 'replay-inputs' },
      inputs.slice(0, 500).map((i) => h('li', null, `${tickTime(i.tick, hz)} ${names[i.seat] ?? `seat ${i.seat + 1}`}: ${i.input}`)))));
}

// ---------------------------------------------------------------- account

export function accountPage() {
  const p = /** @type {Player} */ (app.player);
  if (!p.guest) {
    return h('section', { class: 'page', testid: 'account-page' }, h('h1', null, 'Account'),
      h('p', null, `Signed in as ${p.name} (${p.role}).`));
  }
  const err = h('p', { class: 'form-error', testid: 'upgrade-error', role: 'alert' });
  const form = h('form', { class: 'card', testid: 'upgrade-form' },
    h('h2', null, 'Keep this name — register'),
    h('p', { class: 'muted' }, 'Keep your rating and history under a name and password (this one, or another).'),
    h('label', null, 'Name ', h('input', { name: 'name', testid: 'upgrade-name', required: true, minlength: 3, maxlength: 20, value: p.name })),
    h('label', null, 'Password ', h('input', { name: 'password', type: 'password', testid: 'upgrade-password', required: true, minlength: 8, autocomplete: 'new-password' })),
    h('button', { type: 'submit', class: 'primary', testid: 'upgrade-submit' }, 'Register'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    try {
      const v = formValues(form);
      const res = await api('POST', '/api/v1/auth/upgrade', { name: v.name, password: v.password });
      toast('Registered: welcome!', 'info');
      signedIn(res.token || /** @type {string} */ (sessionStorage.getItem('rally.token')), res.player || { ...p, name: v.name, guest: false, role: 'player' });
      go('#/');
    } catch (x) {
      err.textContent = describe(x);
    }
  });
  return h('section', { class: 'page', testid: 'account-page' }, h('h1', null, 'Account'), err, form);
}
