// The rally web client: session, game connection, play flow and the hash router. Pages live in
// pages.js (lobby, rooms, leaderboard, players, replays, account) and tournaments.js.

import { h, mount, $ } from './dom.js';
import { api, auth, ApiError } from './api.js';
import { Connection, wsUrl } from './net.js';
import { msg, errorText } from './protocol.js';
import { GameView } from './game.js';
import { CyclesView } from './cycles.js';
import * as pages from './pages.js';
import * as tournaments from './tournaments.js';

/** @typedef {import('./protocol.js').ServerMsg} ServerMsg */

/**
 * The signed-in player as /api/v1/me and the auth endpoints return it.
 * `ratings` (servers with more than one game): the rating in each game by kind.
 * @typedef {{id:string, name:string, role:string, guest:boolean, rating:number, rating_deviation?:number, games_played?:number,
 *   ratings?:Record<string, {rating:number, rating_deviation?:number, games_played?:number}>}} Player
 */

/** sessionStorage keys. The token is per tab: see docs/web-client.md for why and the risk. */
const TOKEN_KEY = 'rally.token';
const PLAYER_KEY = 'rally.player';
const SPECTATE_KEY = 'rally.spectating';
/**
 * localStorage: the last guest's token and player, so a guest who closed the tab can come back on
 * this browser ("Continue as …" on the sign-in page; never used silently, so tabs stay separate
 * sessions). Forgotten on logout, on registering, and when the token no longer works.
 */
const GUEST_KEY = 'rally.guest';

/** The guest who played last on this browser, if any. @returns {{token:string, player:Player}|null} */
export function storedGuest() {
  try {
    const v = JSON.parse(localStorage.getItem(GUEST_KEY) || 'null');
    return v && typeof v.token === 'string' && v.player && typeof v.player.name === 'string' ? v : null;
  } catch {
    return null;
  }
}

export function forgetGuest() {
  localStorage.removeItem(GUEST_KEY);
}

/** Test and debug hooks (tests/browser reads them). */
const hooks = /** @type {Record<string, any>} */ (/** @type {any} */ (window).__rally || ((/** @type {any} */ (window)).__rally = {}));

export const app = {
  /** @type {Player|null} */
  player: null,
  /** @type {Connection|null} */
  conn: null,
  /** @type {'idle'|'queued'|'found'} */
  queue: 'idle',
  /** @type {GameView|CyclesView|null} */
  game: null,
  /**
   * The game (and for games of more than two, the number of players) of the quick match this
   * tab queues for (the lobby's choice; re-sent after a reconnect and by "Play again").
   * @type {{game:string, size?:number}}
   */
  queueFor: { game: 'pong' },
  /** A private room this player created: shown while waiting. @type {{room:string, code:string}|null} */
  invite: null,
  /** Something to do once the connection is up (a join link). @type {import('./protocol.js').ClientMsg|null} */
  pending: null,
  /** Feature detection of APIs newer than the engine. @type {Record<string, boolean|undefined>} */
  features: {},
};

// ---------------------------------------------------------------- messages to the user

/**
 * Show a message for a few seconds (errors stay until closed).
 * @param {string} text
 * @param {'error'|'info'} [kind]
 */
export function toast(text, kind = 'error') {
  const box = $('#toasts');
  const close = h('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss', text: '×' });
  const el = h('div', { class: `toast ${kind}`, testid: kind === 'error' ? 'error' : 'info', role: kind === 'error' ? 'alert' : 'status' },
    h('span', null, text), close);
  close.addEventListener('click', () => el.remove());
  box.append(el);
  // Keep the last four messages; "your match is ready" prompts stay until used.
  const plain = [...box.children].filter((c) => !c.classList.contains('prompt'));
  for (const c of plain.slice(0, Math.max(0, plain.length - 4))) c.remove();
  setTimeout(() => el.remove(), kind === 'error' ? 12000 : 4000);
  hooks.lastError = kind === 'error' ? text : hooks.lastError;
}

/**
 * Words for any thrown value.
 * @param {unknown} e
 */
export function describe(e) {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

/**
 * Run an async action from a button: disables it meanwhile, shows failures in words.
 * @param {HTMLButtonElement|null} btn
 * @param {() => Promise<void>} fn
 */
export async function act(btn, fn) {
  if (btn) btn.disabled = true;
  try {
    await fn();
  } catch (e) {
    toast(describe(e));
  } finally {
    if (btn) btn.disabled = false;
  }
}

// ---------------------------------------------------------------- session

/**
 * Signed in: keep the token, open the game connection.
 * @param {string} token
 * @param {Player} player
 */
export function signedIn(token, player) {
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(PLAYER_KEY, JSON.stringify(player));
  if (player.guest) localStorage.setItem(GUEST_KEY, JSON.stringify({ token, player }));
  else if (storedGuest()?.player.id === player.id) forgetGuest();
  auth.token = token;
  app.player = player;
  renderChrome();
  connect();
  route();
}

/** Forget the session locally (the server side is revoked by logout). @param {string} [why] */
export function signedOut(why) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(PLAYER_KEY);
  sessionStorage.removeItem(SPECTATE_KEY);
  auth.token = null;
  app.player = null;
  app.queue = 'idle';
  app.invite = null;
  closeGame();
  if (app.conn) app.conn.stop();
  app.conn = null;
  renderChrome();
  if (why) toast(why, 'info');
  route();
}

export async function logout() {
  if (storedGuest()?.player.id === app.player?.id) forgetGuest();
  try {
    await api('POST', '/api/v1/auth/logout');
  } catch (e) {
    // The token may already be invalid; the local session ends either way.
    if (!(e instanceof ApiError && e.status === 401)) toast(describe(e));
  }
  signedOut('You are logged out.');
}

/** Refresh the player (rating after a match). */
export async function refreshMe() {
  if (!auth.token) return;
  try {
    const me = await api('GET', '/api/v1/me');
    app.player = me;
    sessionStorage.setItem(PLAYER_KEY, JSON.stringify(me));
    renderChrome();
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) toast(describe(e));
  }
}

// ---------------------------------------------------------------- connection and play flow

function connect() {
  if (app.conn) app.conn.stop();
  const conn = new Connection({
    url: wsUrl(),
    token: () => auth.token,
    onMessage: onServerMessage,
    onStatus: (status, d) => {
      const el = $('#conn-status');
      el.textContent = status;
      el.dataset.state = status;
      const banner = $('#banner');
      hooks.connStatus = status;
      if (status === 'reconnecting') {
        const next = d.delayMs !== undefined ? ` Next try in ${(d.delayMs / 1000).toFixed(1)} s.` : '';
        banner.className = 'banner-top warn';
        banner.dataset.testid = 'reconnecting';
        banner.textContent = `Reconnecting… ${d.text || ''}${d.attempt ? ` (attempt ${d.attempt})` : ''}${next}`;
      } else if (status === 'closed' && d.text) {
        banner.className = 'banner-top error';
        banner.dataset.testid = 'disconnected';
        mount(banner, d.text, ' ', h('button', { type: 'button', class: 'link', testid: 'reconnect-now', onclick: () => connect() }, 'Reconnect'));
        if (d.logout) signedOut(d.text);
      } else {
        banner.className = 'banner-top hidden';
        banner.dataset.testid = '';
      }
    },
  });
  app.conn = conn;
  hooks.conn = conn;
  conn.start();
}

setInterval(() => {
  const c = app.conn;
  const el = document.getElementById('latency');
  if (!el) return;
  if (c && c.status === 'online' && c.clock.synced) {
    const rtt = Math.round(c.clock.rtt);
    el.textContent = `${rtt} ms`;
    el.className = `latency ${rtt < 80 ? 'good' : rtt < 160 ? 'ok' : 'bad'}`;
    hooks.rtt = c.clock.rtt;
  } else {
    el.textContent = '';
  }
}, 500);

/**
 * Send on the game connection, or say why it cannot.
 * @param {import('./protocol.js').ClientMsg} m
 */
export function send(m) {
  if (!app.conn || !app.conn.send(m)) {
    toast('Not connected to the game server yet; please wait a moment and try again.');
    return false;
  }
  return true;
}

/** @param {ServerMsg} m */
function onServerMessage(m) {
  hooks.lastMessageType = m.type;
  switch (m.type) {
    case 'welcome': {
      if (app.player) {
        app.player = { ...app.player, name: m.player.name, rating: m.player.rating, role: m.player.role };
        renderChrome();
      }
      const spectating = sessionStorage.getItem(SPECTATE_KEY);
      tournaments.onWelcome();
      if (m.room) {
        // A seat is waiting for us (reload, reconnect): take it back.
        app.conn?.send(msg.join({ room: m.room }));
      } else if (app.game && app.game.role === 'player' && !app.game.end) {
        toast('The match ended while you were away.', 'info');
        closeGame();
        go('#/');
      } else if (spectating) {
        app.conn?.send(msg.spectate({ room: spectating }));
      } else if (app.queue !== 'idle') {
        app.conn?.send(msg.queue(app.queueFor.game, app.queueFor.size));
      }
      if (app.pending) {
        app.conn?.send(app.pending);
        app.pending = null;
      }
      break;
    }
    case 'queued':
      app.queue = 'queued';
      pages.onQueueChange();
      break;
    case 'queue_left':
      app.queue = 'idle';
      pages.onQueueChange();
      break;
    case 'match_found':
      app.queue = 'found';
      pages.onQueueChange();
      app.conn?.send(msg.join({ room: m.room }));
      break;
    case 'joined':
      openGame(m);
      break;
    case 'room':
    case 'snapshot':
    case 'event':
      if (app.game && app.game.room === m.room) app.game.handle(m);
      else if (app.game && m.type !== 'room') app.game.handle(m);
      break;
    case 'match_end':
      if (app.game) app.game.handle(m);
      if (app.invite && app.invite.room === m.room) app.invite = null;
      if (app.game && app.game.role === 'spectator') sessionStorage.removeItem(SPECTATE_KEY);
      setTimeout(refreshMe, 1500);
      break;
    case 'ratings':
      if (app.game) app.game.handle(m);
      refreshMe();
      break;
    case 'left':
      break;
    case 'location':
      if (m.room) app.conn?.send(msg.join({ room: m.room }));
      break;
    case 'error':
      onServerError(m);
      break;
    case 'account':
      onAccount(m);
      break;
    case 'tournament':
    case 'subscribed':
    case 'unsubscribed':
      tournaments.onServerMessage(m);
      break;
    default:
  }
}

/**
 * An administrator changed this player's role: the server pushed the new role and, unless the
 * session used a narrowed token, a fresh token (the old ones no longer work).
 * @param {ServerMsg} m
 */
function onAccount(m) {
  if (!app.player || m.player.id !== app.player.id) return;
  const was = app.player.role;
  app.player = { ...app.player, role: m.player.role, name: m.player.name };
  sessionStorage.setItem(PLAYER_KEY, JSON.stringify(app.player));
  if (m.token) {
    auth.token = m.token;
    sessionStorage.setItem(TOKEN_KEY, m.token);
  }
  renderChrome();
  // The organiser page shows what the role allows: draw it again for the new role.
  if (hooks.route === 'organiser') route();
  if (!m.token) {
    signedOut('Your role changed; please sign in again to use it.');
  } else if (m.player.role === 'organiser' && was !== 'organiser') {
    toast('You are now an organiser: the Organiser page is in the menu.', 'info');
  } else if (was === 'organiser' && m.player.role !== 'organiser') {
    toast('You are no longer an organiser.', 'info');
  }
}

/** @param {ServerMsg} m */
function onServerError(m) {
  if (m.code === 'unknown_type' && /subscribe/.test(m.message || '')) {
    // A server without tournament events: the tournament pages poll instead.
    app.features.subscribe = false;
    return;
  }
  if ((m.code === 'not_found' || m.code === 'conflict') && /tournament/.test(m.message || '')) {
    // A subscription refused (the tournament just ended, or too many): the page polls instead.
    hooks.lastServerError = m;
    tournaments.onSubscribeRefused();
    return;
  }
  if (m.code === 'invalid_input' && app.game instanceof CyclesView) {
    // A turn in flight when the cycle crashed (or a round ended) is refused: expected, no toast.
    hooks.lastServerError = m;
    app.game.inputRefused(m.message || '');
    return;
  }
  const text = errorText(m.code, m.message);
  hooks.lastServerError = m;
  if (['not_found', 'room_full', 'forbidden'].includes(m.code)) {
    // A join or spectate failed: do not try it again on the next reconnect.
    sessionStorage.removeItem(SPECTATE_KEY);
    if (app.queue === 'found') app.queue = 'idle';
    pages.onQueueChange();
  }
  if (m.code === 'conflict' && app.queue === 'idle') pages.onQueueChange();
  toast(text);
}

/** @param {ServerMsg} joined */
function openGame(joined) {
  closeGame();
  app.queue = 'idle';
  if (joined.role === 'spectator') sessionStorage.setItem(SPECTATE_KEY, joined.room);
  else sessionStorage.removeItem(SPECTATE_KEY);
  const conn = /** @type {Connection} */ (app.conn);
  tournaments.onJoined(joined.room);
  const View = joined.info?.kind === 'cycles' ? CyclesView : GameView;
  app.game = new View({
    conn,
    joined,
    me: app.player ? app.player.id : '',
    invite: app.invite && app.invite.room === joined.room ? app.invite : null,
    tournament: tournaments.tournamentOfRoom(joined.room),
    onLeave: () => {
      sessionStorage.removeItem(SPECTATE_KEY);
      closeGame();
      go('#/');
    },
    onPlayAgain: () => {
      const kind = joined.info?.kind;
      closeGame();
      app.queue = 'queued';
      // Another match of the same game (and, for more than two players, the same size).
      if (kind === 'cycles') app.queueFor = { game: 'cycles', size: Number(joined.info?.seats) || undefined };
      else if (typeof kind === 'string') app.queueFor = { game: kind };
      send(msg.queue(app.queueFor.game, app.queueFor.size));
      go('#/');
    },
  });
  hooks.view = 'game';
  if (location.hash !== '#/game') go('#/game');
  else route();
}

export function closeGame() {
  if (app.game) {
    app.game.destroy();
    app.game = null;
  }
}

// ---------------------------------------------------------------- chrome and router

function renderChrome() {
  const p = app.player;
  const links = [
    ['#/', 'Play', 'nav-play'],
    ['#/rooms', 'Live rooms', 'nav-rooms'],
    ['#/leaderboard', 'Leaderboard', 'nav-leaderboard'],
    ['#/tournaments', 'Tournaments', 'nav-tournaments'],
  ];
  if (p) links.push([`#/players/${encodeURIComponent(p.id)}`, 'My matches', 'nav-me']);
  if (p && p.role === 'organiser') links.push(['#/organiser', 'Organiser', 'nav-organiser']);
  mount($('#nav'), p ? links.map(([href, label, id]) => h('a', { href, testid: id }, label)) : null);
  const me = $('#me');
  me.textContent = p ? `${p.name}${p.guest ? ' (guest)' : ''} · ${p.rating}` : '';
  if (p) me.title = `rating ${p.rating}${p.role === 'organiser' ? ' · organiser' : ''}`;
  $('#logout').classList.toggle('hidden', !p);
}

/** @param {string} hash */
export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function route() {
  const view = $('#view');
  const path = location.hash.replace(/^#\/?/, '').split('?')[0] || '';
  const parts = path.split('/').map(decodeURIComponent);
  const [name, ...args] = parts;
  hooks.route = name || 'lobby';
  document.body.dataset.route = name || 'lobby';
  if (!app.player) {
    if (name === 'join' && args[0]) app.pending = msg.join({ code: args[0] });
    mount(view, pages.authPage());
    hooks.view = 'auth';
    return;
  }
  if (name !== 'game' && app.game && !app.game.end && app.game.role === 'player') {
    // Navigating away from a running match keeps the seat; show a way back.
    pages.setReturnToGame(true);
  } else {
    pages.setReturnToGame(false);
  }
  // Every page that follows a tournament starts following it afresh.
  tournaments.leavePage();
  switch (name || '') {
    case '':
      mount(view, pages.lobbyPage());
      hooks.view = 'lobby';
      break;
    case 'game':
      if (app.game) {
        mount(view, app.game.element);
        hooks.view = 'game';
      } else {
        go('#/');
      }
      break;
    case 'join':
      if (args[0]) {
        // Following an invite link right after signing in: the game connection is still being
        // opened, which is no error — the join goes out once it is up (`welcome`).
        const join = msg.join({ code: args[0] });
        if (app.conn?.status !== 'online' || !app.conn.send(join)) app.pending = join;
      }
      mount(view, pages.lobbyPage());
      break;
    case 'rooms':
      mount(view, pages.roomsPage());
      hooks.view = 'rooms';
      break;
    case 'leaderboard':
      mount(view, pages.leaderboardPage());
      hooks.view = 'leaderboard';
      break;
    case 'players':
      mount(view, pages.playerPage(args[0] || ''));
      hooks.view = 'player';
      break;
    case 'replay':
      mount(view, pages.replayPage(args[0] || ''));
      hooks.view = 'replay';
      break;
    case 'account':
      mount(view, pages.accountPage());
      hooks.view = 'account';
      break;
    case 'tournaments':
      mount(view, args[0] ? tournaments.detailPage(args[0]) : tournaments.listPage());
      hooks.view = args[0] ? 'tournament' : 'tournaments';
      break;
    case 'organiser':
      mount(view, tournaments.organiserPage(args[0] || ''));
      hooks.view = args[0] === 'audit' ? 'audit' : 'organiser';
      break;
    default:
      mount(view, h('section', { class: 'page' }, h('h1', null, 'Not found'), h('p', null, 'There is no such page. '), h('a', { href: '#/' }, 'Back to the lobby')));
      hooks.view = 'not-found';
  }
}

function boot() {
  auth.onUnauthorized = () => {
    if (storedGuest()?.token === auth.token) forgetGuest();
    signedOut('Your session has expired; please sign in again.');
  };
  $('#logout').addEventListener('click', () => logout());
  const token = sessionStorage.getItem(TOKEN_KEY);
  const player = sessionStorage.getItem(PLAYER_KEY);
  if (token && player) {
    auth.token = token;
    try {
      app.player = JSON.parse(player);
    } catch {
      app.player = null;
    }
  }
  renderChrome();
  window.addEventListener('hashchange', route);
  if (app.player) {
    connect();
    refreshMe();
  }
  route();
  hooks.ready = true;
}

boot();
