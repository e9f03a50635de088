// Tournament pages (list, detail with a live bracket or standings, join/leave, "your match is
// ready") and organiser pages (create, open/close registration, seed, start, disqualify,
// cancel, settle a result; the audit log), on the API of README "HTTP API" and the live events
// of docs/protocol.md §12. When this server has no tournaments API the pages say so.

import { h, mount, formValues, when, confirmClick } from './dom.js';
import { api, ApiError } from './api.js';
import { msg } from './protocol.js';
import {
  readTournament, myLiveMatch, statusText, STATUS_WORDS, roundName, playerAction, organiserActions, settleable,
  resultText, allMatches,
} from './tournament.js';
import { app, toast, act, describe, send, go } from './app.js';
import { feature } from './pages.js';

/** @typedef {import('./tournament.js').TournamentView} TournamentView */
/** @typedef {import('./tournament.js').BracketMatch} BracketMatch */
/** @typedef {import('./protocol.js').ServerMsg} ServerMsg */

const LIST = '/api/v1/tournaments';
const ADMIN = '/api/v1/admin/tournaments';
/** Refresh period of a tournament page without live events (or when they are refused), ms. */
const POLL_MS = 2000;
/**
 * Refresh period with live events, ms: a safety net, and what shows the changes the server
 * announces no event for (a disqualification or a seeding before the start).
 */
const SLOW_POLL_MS = 10000;
/** sessionStorage: which tournament each match room belongs to (for the result screen). */
const ROOMS_KEY = 'rally.tournamentRooms';

/** Test hooks (tests/browser reads `tournamentEvents`, `tournamentView`). */
const hooks = /** @type {Record<string, any>} */ (/** @type {any} */ (window).__rally || ((/** @type {any} */ (window)).__rally = {}));
hooks.tournamentEvents = [];

/** @param {string} s */
const enc = (s) => encodeURIComponent(s);

/** @param {string} status */
const isOver = (status) => status === 'finished' || status === 'cancelled';

// ---------------------------------------------------------------- live events

/**
 * The tournament whose page is on screen: it is subscribed to over the game connection while
 * it runs; `state` events redraw it, other changes reload it over HTTP, and it polls slowly as
 * a safety net (quickly when events are unavailable).
 * @typedef {object} Watched
 * @property {string} id
 * @property {(doc:any) => void} show
 * @property {() => void} reload
 * @property {boolean} subscribed  a subscribe was sent on the current connection
 * @property {boolean} refused  the server refused it (finished meanwhile, too many)
 * @property {boolean} over  finished or cancelled: nothing to subscribe to
 * @property {boolean} gone  the server has no such tournament: polling stops
 * @property {number} pushedAt  performance.now() of the last pushed view
 * @property {number} loadedAt  performance.now() of the last HTTP load
 */

/** @type {Watched|null} */
let watched = null;

/**
 * @param {string} id
 * @param {(doc:any) => void} show
 * @param {() => void} reload
 * @returns {Watched}
 */
function watch(id, show, reload) {
  unwatch();
  watched = { id, show, reload, subscribed: false, refused: false, over: false, gone: false, pushedAt: 0, loadedAt: 0 };
  return watched;
}

function unwatch() {
  const w = watched;
  watched = null;
  if (w && w.subscribed && !followed.has(w.id) && app.features.subscribe !== false) app.conn?.send(msg.unsubscribe(w.id));
}

/** Subscribe the watched tournament when it runs and the connection is up. */
function subscribe() {
  const w = watched;
  if (!w || w.over || w.gone || w.subscribed || w.refused || app.features.subscribe === false) return;
  w.subscribed = followed.has(w.id) || !!app.conn?.send(msg.subscribe(w.id));
}

/**
 * Tournaments this session follows in the background because the player has a match prompt
 * from them: their `match_finished` events withdraw a prompt whose match was decided without
 * the player (settled, walkover). One subscription per session and tournament serves both this
 * and the page on screen.
 * @type {Set<string>}
 */
const followed = new Set();

/** @param {string} id */
function follow(id) {
  if (followed.has(id) || app.features.subscribe === false) return;
  const already = watched && watched.id === id && watched.subscribed;
  if (already || app.conn?.send(msg.subscribe(id))) followed.add(id);
}

/** Stop following tournaments with no prompt left (unless their page is on screen). */
function unfollowIdle() {
  for (const id of [...followed]) {
    if ([...prompts.values()].some((p) => p.tournament === id)) continue;
    followed.delete(id);
    if (!(watched && watched.id === id && watched.subscribed)) app.conn?.send(msg.unsubscribe(id));
  }
}

/** The page on screen changes: stop following its tournament. */
export function leavePage() {
  unwatch();
}

/** A new session (welcome): subscriptions ended with the old one. */
export function onWelcome() {
  const again = [...followed];
  followed.clear();
  for (const id of again) follow(id);
  if (watched) {
    watched.subscribed = false;
    watched.refused = false;
    subscribe();
  }
}

/**
 * The server refused a subscription (`not_found`: the tournament is over; `conflict`: too
 * many). The page keeps polling.
 */
export function onSubscribeRefused() {
  if (watched) {
    watched.subscribed = false;
    watched.refused = true;
    watched.reload();
  }
}

/** @type {ReturnType<typeof setTimeout>|0} */
let reloadTimer = 0;
function reloadSoon() {
  if (reloadTimer) return;
  reloadTimer = setTimeout(() => {
    reloadTimer = 0;
    watched?.reload();
  }, 100);
}

/**
 * A `tournament`, `subscribed` or `unsubscribed` message (docs/protocol.md §12).
 * @param {ServerMsg} m
 */
export function onServerMessage(m) {
  if (m.type !== 'tournament') return;
  const event = String(m.event || '');
  const tid = String(m.tournament || '');
  hooks.tournamentEvents.push({ tournament: tid, event, at: Date.now() });
  if (hooks.tournamentEvents.length > 200) hooks.tournamentEvents.shift();
  if (event === 'match_ready') {
    const players = /** @type {any[]} */ (Array.isArray(m.players) ? m.players : []);
    if (app.player && players.some((p) => p && p.id === app.player?.id)) {
      matchReady({
        room: String(m.room), tournament: tid, match: m.match_id ? String(m.match_id) : null, players,
        joinWithinMs: typeof m.join_within_ms === 'number' ? m.join_within_ms : null,
      });
    }
  } else if (event === 'match_finished' || event === 'match_started') {
    if (event === 'match_finished') dismissPrompt({ match: m.match_id ? String(m.match_id) : null });
  }
  const w = watched;
  if (!w || w.id !== tid) return;
  if (event === 'state' && m.view) {
    w.pushedAt = performance.now();
    w.show(m.view);
  } else if (event === 'status') {
    if (isOver(String(m.status))) {
      // The tournament's actor stops: so does the subscription.
      w.over = true;
      w.subscribed = false;
    }
    reloadSoon();
  } else if (event === 'champion') {
    reloadSoon();
  }
}

// ---------------------------------------------------------------- "your match is ready"

/**
 * @typedef {object} ReadyMatch
 * @property {string} room
 * @property {string} tournament
 * @property {string|null} match
 * @property {any[]} players  [{id,name,seed}] by seat
 * @property {number|null} joinWithinMs
 * @property {string} [name]  the tournament's name when known
 */

/** Prompts on screen, by room. @type {Map<string, {el:HTMLElement, tournament:string, match:string|null, timer:ReturnType<typeof setInterval>}>} */
const prompts = new Map();
/** Rooms whose prompt the player closed ("Later"): the tournament page still offers them. */
const dismissed = new Set();
/** Tournament names seen, by id. @type {Map<string,string>} */
const names = new Map();

/** @returns {Record<string, {id:string, name:string}>} */
function roomMap() {
  try {
    return JSON.parse(sessionStorage.getItem(ROOMS_KEY) || '{}') || {};
  } catch {
    return {};
  }
}

/** @param {string} room @param {string} id */
function rememberRoom(room, id) {
  const map = roomMap();
  map[room] = { id, name: names.get(id) || map[room]?.name || '' };
  const keys = Object.keys(map);
  for (const k of keys.slice(0, Math.max(0, keys.length - 20))) delete map[k];
  sessionStorage.setItem(ROOMS_KEY, JSON.stringify(map));
}

/**
 * The tournament a match room belongs to, when this tab was told (the result screen offers
 * the way back to it).
 * @param {string} room
 * @returns {{id:string, name:string}|null}
 */
export function tournamentOfRoom(room) {
  const t = roomMap()[room];
  return t ? { id: t.id, name: t.name || names.get(t.id) || 'the tournament' } : null;
}

/** The player is in a room now: its prompt has done its job. @param {string} room */
export function onJoined(room) {
  dismissPrompt({ room });
}

/** @param {{room?:string|null, match?:string|null}} which */
function dismissPrompt(which) {
  let any = false;
  for (const [room, p] of prompts) {
    if ((which.room && room === which.room) || (which.match && p.match === which.match)) {
      clearInterval(p.timer);
      p.el.remove();
      prompts.delete(room);
      any = true;
    }
  }
  if (any) unfollowIdle();
}

/**
 * Offer the player their ready match: a prompt (kept until used, dismissed, joined elsewhere,
 * or the match is decided) that joins the room.
 * @param {ReadyMatch} r
 */
function matchReady(r) {
  rememberRoom(r.room, r.tournament);
  if (prompts.has(r.room) || dismissed.has(r.room)) return;
  if (app.game && app.game.room === r.room && !app.game.end) return;
  const box = document.getElementById('toasts');
  if (!box) return;
  const me = app.player?.id;
  const opponent = r.players.find((p) => p && p.id !== me);
  const title = h('span', null, ` in ${r.name || names.get(r.tournament) || 'your tournament'}${opponent ? ` against ${opponent.name}` : ''}.`);
  const left = h('span', { class: 'muted', testid: 'match-ready-time' });
  const deadline = r.joinWithinMs !== null ? performance.now() + r.joinWithinMs : 0;
  const el = h('div', { class: 'toast prompt', testid: 'match-ready', role: 'alertdialog', 'data-room': r.room, 'data-tournament': r.tournament },
    h('strong', null, 'Your match is ready'), title, left,
    h('button', {
      type: 'button', class: 'primary', testid: 'match-ready-go',
      onclick: () => { rememberRoom(r.room, r.tournament); if (send(msg.join({ room: r.room }))) dismissPrompt({ room: r.room }); },
    }, 'Go to the match'),
    h('button', { type: 'button', class: 'link', testid: 'match-ready-later', onclick: () => { dismissed.add(r.room); dismissPrompt({ room: r.room }); } }, 'Later'));
  const tick = () => {
    if (!deadline) return;
    const s = Math.max(0, Math.ceil((deadline - performance.now()) / 1000));
    left.textContent = s > 0 ? ` Join within ${s} s or it is a walkover.` : ' The time to join has run out.';
  };
  tick();
  prompts.set(r.room, { el, tournament: r.tournament, match: r.match, timer: setInterval(tick, 500) });
  box.append(el);
  follow(r.tournament);
  if (!r.name && !names.has(r.tournament)) {
    // The event does not carry the tournament's name: fetch it.
    api('GET', `${LIST}/${enc(r.tournament)}`).then((doc) => {
      const t = readTournament(doc);
      names.set(t.id, t.name);
      title.textContent = ` in ${t.name}${opponent ? ` against ${opponent.name}` : ''}.`;
      rememberRoom(r.room, r.tournament);
    }, () => {});
  }
}

/** @param {HTMLElement} body */
async function available(body) {
  if (await feature('tournaments', LIST)) return true;
  mount(body, h('p', { class: 'notice', testid: 'feature-missing' }, 'Tournaments are not available on this server yet.'));
  return false;
}

/**
 * Load a tournament page now and then while it is on screen (more often without live events).
 * @param {HTMLElement} el
 * @param {Watched} w
 */
function keepFresh(el, w) {
  const timer = setInterval(() => {
    // Off screen, or a stale link (no such tournament: it will not appear by asking again).
    if (!el.isConnected || watched !== w || w.gone) { clearInterval(timer); hooks.tournamentPolling = false; return; }
    hooks.tournamentPolling = true;
    subscribe();
    const period = w.subscribed && !w.over ? SLOW_POLL_MS : POLL_MS;
    if (performance.now() - w.loadedAt >= period) w.reload();
  }, 500);
}

// ---------------------------------------------------------------- list

export function listPage() {
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const filter = h('select', { testid: 'tournament-filter' },
    ['', 'draft', 'registration', 'running', 'finished', 'cancelled'].map((s) => h('option', { value: s }, s ? STATUS_WORDS[s] : 'All')));
  const el = h('section', { class: 'page', testid: 'tournaments-page' }, h('h1', null, 'Tournaments'),
    h('label', null, 'Show ', filter), body);
  const load = async () => {
    if (!(await available(body))) return;
    try {
      const res = await api('GET', `${LIST}?limit=100${filter.value ? `&status=${filter.value}` : ''}`);
      const items = /** @type {any[]} */ (res.items || []);
      if (!items.length) { mount(body, h('p', { class: 'notice', testid: 'tournaments-empty' }, 'No tournaments.')); return; }
      mount(body, h('table', { class: 'list', testid: 'tournaments-list' },
        h('thead', null, h('tr', null, ['Name', 'Format', 'Status', 'Entrants', 'Created'].map((x) => h('th', null, x)))),
        h('tbody', null, items.map((t) => h('tr', { testid: 'tournament-row', 'data-id': t.id, 'data-status': t.status },
          h('td', null, h('a', { href: `#/tournaments/${enc(t.id)}` }, t.name || t.id)),
          h('td', null, String(t.format || '').replace('_', ' ')),
          h('td', null, t.status === 'registration' ? (t.registration_open ? 'Registration open' : 'Registration closed') : STATUS_WORDS[t.status] || t.status),
          h('td', null, `${t.entrants ?? '?'}${t.capacity ? ` / ${t.capacity}` : ''}`),
          h('td', null, when(t.created_at)))))));
    } catch (e) {
      mount(body, h('p', { class: 'notice', testid: 'error' }, describe(e)));
    }
  };
  filter.addEventListener('change', load);
  load();
  return el;
}

// ---------------------------------------------------------------- detail

/** @param {string} id */
export function detailPage(id) {
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const el = h('section', { class: 'page', testid: 'tournament-page', 'data-id': id }, body);
  let shown = '';
  /** @param {any} doc */
  const show = (doc) => {
    if (!el.isConnected) return;
    const json = JSON.stringify(doc);
    if (json === shown) return;
    shown = json;
    const t = readTournament(doc);
    names.set(t.id, t.name);
    w.over = isOver(t.status);
    el.dataset.status = t.status;
    mount(body, renderTournament(t, load));
    hooks.tournamentView = { id: t.id, status: t.status, champion: t.champion, matches: allMatches(t).map((m) => ({ key: m.key, state: m.state })) };
    const mine = app.player ? myLiveMatch(t, app.player.id) : null;
    if (mine && mine.room) {
      matchReady({ room: mine.room, tournament: t.id, match: mine.match, players: mine.players, joinWithinMs: null, name: t.name });
    }
  };
  let busy = false;
  const load = async () => {
    if (busy || !el.isConnected) return;
    busy = true;
    const started = performance.now();
    w.loadedAt = started;
    try {
      if (!(await available(body))) return;
      const doc = await api('GET', `${LIST}/${enc(id)}`);
      // A view pushed while this request was under way is newer.
      if (w.pushedAt <= started) show(doc);
      subscribe();
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        w.gone = true;
        mount(body, h('div', { class: 'notice', testid: 'tournament-gone' },
          h('p', null, 'No such tournament: the link may be old, or the tournament was deleted.'),
          h('a', { href: '#/tournaments', class: 'button' }, 'All tournaments')));
      } else {
        mount(body, h('p', { class: 'notice', testid: 'error' }, describe(e)));
      }
      shown = '';
    } finally {
      busy = false;
    }
  };
  const w = watch(id, show, load);
  load();
  keepFresh(el, w);
  return el;
}

/**
 * "3 / 8 entrants (1 disqualified)": a disqualified entrant keeps their place.
 * @param {TournamentView} t
 */
function entrantCount(t) {
  const dq = t.entrants.filter((e) => e.disqualified).length;
  return `${t.entrants.length}${t.capacity ? ` / ${t.capacity}` : ''} entrants${dq ? ` (${dq} disqualified)` : ''}`;
}

const ACTION_WORDS = /** @type {Record<string,string>} */ ({
  closed: 'Registration is closed.',
  full: 'The tournament is full.',
  disqualified: 'You were disqualified from this tournament.',
});

/**
 * @param {TournamentView} t
 * @param {() => void} reload
 */
function renderTournament(t, reload) {
  const me = app.player;
  const what = playerAction(t, me ? { id: me.id, guest: !!me.guest } : null);
  /** @type {HTMLElement|null} */
  let action = null;
  if (what === 'join') {
    const b = h('button', { type: 'button', class: 'primary', testid: 'tournament-join' }, 'Join');
    b.addEventListener('click', () => act(b, async () => {
      await api('POST', `${LIST}/${enc(t.id)}/join`);
      toast(`You are in ${t.name}.`, 'info');
      reload();
    }));
    action = b;
  } else if (what === 'leave') {
    const b = h('button', { type: 'button', testid: 'tournament-leave' }, 'Withdraw');
    b.addEventListener('click', () => act(b, async () => {
      await api('POST', `${LIST}/${enc(t.id)}/leave`);
      toast(`You withdrew from ${t.name}.`, 'info');
      reload();
    }));
    action = h('p', { class: 'inline' }, h('span', { testid: 'entered' }, 'You are entered.'), b);
  } else if (what === 'guest') {
    action = h('p', { class: 'muted', testid: 'guest-cannot-join' }, 'Guests cannot enter tournaments: ', h('a', { href: '#/account' }, 'register'), ' first.');
  } else if (what) {
    action = h('p', { class: 'muted', testid: `cannot-join-${what}` }, ACTION_WORDS[what]);
  }
  const mine = me ? myLiveMatch(t, me.id) : null;
  const inIt = mine && app.game && app.game.room === mine.room && !app.game.end;
  const myMatch = mine && mine.room
    ? h('p', { class: 'notice', testid: 'my-match' },
      h('strong', null, inIt ? 'You are playing your match. ' : 'Your match is ready. '),
      inIt
        ? h('a', { href: '#/game' }, 'Back to the match')
        : h('button', { type: 'button', class: 'primary', testid: 'my-match-go', onclick: () => { if (mine.room) { rememberRoom(mine.room, t.id); send(msg.join({ room: mine.room })); } } }, 'Go to the match'))
    : null;
  const isRR = t.format === 'round_robin';
  const s = t.settings;
  return h('div', null,
    h('h1', { testid: 'tournament-name' }, t.name),
    h('p', { class: 'muted' },
      h('span', { testid: 'tournament-status', 'data-status': t.status }, statusText(t)),
      ` · ${isRR ? 'round robin' : `single elimination${t.thirdPlace ? ' with a third-place match' : ''}`}`,
      ` · ${entrantCount(t)}`,
      s.pointsToWin ? ` · first to ${s.pointsToWin}` : '',
      s.noShowMs ? ` · players have ${Math.round(s.noShowMs / 1000)} s to join a match` : ''),
    t.status === 'registration' && t.registrationClosesAt ? h('p', { class: 'muted' }, `Registration closes ${when(t.registrationClosesAt)}.`) : null,
    t.status === 'draft' && t.registrationOpensAt ? h('p', { class: 'muted' }, `Registration opens ${when(t.registrationOpensAt)}.`) : null,
    t.champion ? h('p', { class: 'champion', testid: 'champion', 'data-id': t.champion.id }, `Champion: ${t.champion.name}`) : null,
    t.status === 'cancelled' ? h('p', { class: 'notice', testid: 'cancelled' }, 'This tournament was cancelled by its organiser.') : null,
    myMatch,
    action,
    me && me.role === 'organiser' ? h('p', null, h('a', { href: `#/organiser?t=${enc(t.id)}`, testid: 'manage-tournament' }, 'Manage as organiser')) : null,
    t.rounds.length && !isRR ? bracketView(t) : null,
    isRR && t.rounds.length ? standingsView(t) : null,
    isRR && t.rounds.length ? roundsList(t) : null,
    h('h2', null, 'Entrants'),
    t.entrants.length
      ? h('ol', { class: 'entrants', testid: 'entrants' }, t.entrants.map((e) => h('li', { class: [e.disqualified && 'dq', e.eliminated && 'out'], testid: 'entrant', 'data-id': e.id },
        h('a', { href: `#/players/${enc(e.id)}` }, e.name),
        e.seed ? ` · seed ${e.seed}` : '', e.rating !== null ? ` · ${e.rating}` : '',
        e.disqualified ? ' · disqualified' : e.eliminated ? ' · out' : '')))
      : h('p', { class: 'muted', testid: 'entrants' }, 'Nobody has entered yet.'));
}

/**
 * @param {string} tid
 * @returns {(m: BracketMatch) => HTMLElement}
 */
const matchCell = (tid) => (m) => {
  const seat = (/** @type {number} */ s) => {
    const p = m.players[s];
    const won = m.winner === s;
    return h('div', { class: ['slot', won && 'won', m.winner !== null && !won && 'lost'] },
      h('span', { class: 'seed' }, p && p.seed ? String(p.seed) : ''),
      h('span', { class: 'who' }, p ? p.name : m.state === 'finished' ? 'bye' : 'TBD'),
      h('span', { class: 'pts' }, m.scores && !(m.forfeit && !m.scores[0] && !m.scores[1]) ? String(m.scores[s]) : ''));
  };
  const live = m.room && m.state !== 'finished'
    ? h('button', {
      type: 'button', class: 'link', testid: 'watch-match',
      onclick: () => { const room = /** @type {string} */ (m.room); rememberRoom(room, tid); send(msg.spectate({ room })); },
    }, 'watch') : null;
  const played = m.state === 'finished' && m.match && (m.reason === 'score' || m.reason === 'resign' || m.reason === 'abandoned');
  const winner = m.winner !== null ? m.players[m.winner] : null;
  return h('div', { class: ['match', m.state], testid: 'bracket-match', 'data-key': m.key, 'data-state': m.state, 'data-winner': winner ? winner.id : '' },
    m.thirdPlace ? h('div', { class: 'label' }, 'Third place') : null,
    seat(0), seat(1),
    h('div', { class: 'meta' }, resultText(m), live ? ' · ' : '', live,
      played ? h('a', { href: `#/replay/${enc(/** @type {string} */ (m.match))}`, testid: 'match-replay' }, ' · replay') : null));
};

/** @param {TournamentView} t */
function bracketView(t) {
  const total = t.roundsTotal || t.rounds.length;
  return h('div', { class: 'bracket', testid: 'bracket' },
    t.rounds.map((r) => h('div', { class: 'round', 'data-round': r.round },
      h('h3', null, roundName(r.round, total)),
      r.matches.map(matchCell(t.id)))));
}

/** @param {TournamentView} t */
function standingsView(t) {
  if (!t.standings.length) return null;
  return h('div', null, h('h2', null, 'Standings'),
    h('table', { class: 'list', testid: 'standings' },
      h('thead', null, h('tr', null, ['#', 'Player', 'W', 'L', 'Points', '±'].map((x) => h('th', null, x)))),
      h('tbody', null, t.standings.map((s) => h('tr', { testid: 'standing-row', 'data-id': s.player.id },
        h('td', null, String(s.rank)), h('td', null, s.player.name + (s.player.disqualified ? ' (DQ)' : '')),
        h('td', null, String(s.wins)), h('td', null, String(s.losses)),
        h('td', null, `${s.pointsFor}:${s.pointsAgainst}`), h('td', null, String(s.pointsFor - s.pointsAgainst)))))));
}

/** @param {TournamentView} t */
function roundsList(t) {
  return h('div', { class: 'rr-rounds', testid: 'bracket' }, t.rounds.map((r) => h('div', { class: 'round', 'data-round': r.round },
    h('h3', null, `Round ${r.round}`), r.matches.map(matchCell(t.id)))));
}

// ---------------------------------------------------------------- organiser

/**
 * `#/organiser[?t=ID]` (create, manage, list) and `#/organiser/audit[?t=ID&offset=N]`.
 * @param {string} [sub]
 */
export function organiserPage(sub = '') {
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const selected = q.get('t');
  const audit = sub === 'audit';
  const el = h('section', { class: 'page organiser', testid: audit ? 'audit-page' : 'organiser-page' },
    h('h1', null, audit ? 'Audit log' : 'Organiser'),
    h('p', { class: 'inline' },
      audit ? h('a', { href: `#/organiser${selected ? `?t=${enc(selected)}` : ''}`, testid: 'organiser-link' }, '← Organiser')
        : h('a', { href: `#/organiser/audit${selected ? `?t=${enc(selected)}` : ''}`, testid: 'audit-link' }, selected ? 'Audit log of this tournament' : 'Audit log')),
    body);
  const p = app.player;
  if (!p || p.role !== 'organiser') {
    mount(body, h('p', { class: 'notice', testid: 'not-organiser' }, 'Only organisers can run tournaments. An administrator grants the role with `rally admin grant-organiser NAME`; this page then updates by itself within a few seconds.'));
    return el;
  }
  (async () => {
    if (!(await available(body))) return;
    if (audit) mount(body, auditView(selected, Math.max(0, Number(q.get('offset')) || 0)));
    else mount(body, h('div', { testid: 'manage' }, selected ? manageBox(selected) : null), createForm(), organiserList(selected));
  })();
  return el;
}

/** @param {string} v  a datetime-local value @returns {number|null} Unix ms */
function localMs(v) {
  if (!v) return null;
  const ms = new Date(v).getTime();
  return Number.isFinite(ms) ? ms : null;
}

function createForm() {
  const format = h('select', { name: 'format', testid: 't-format' },
    h('option', { value: 'single_elimination' }, 'Single elimination'), h('option', { value: 'round_robin' }, 'Round robin'));
  const third = h('input', { name: 'third_place', type: 'checkbox', value: '1', testid: 't-third' });
  const capacity = h('input', { name: 'capacity', type: 'number', min: 2, max: 1024, value: 8, required: true, testid: 't-capacity' });
  const syncFormat = () => {
    const rr = format.value === 'round_robin';
    third.disabled = rr;
    if (rr) third.checked = false;
    capacity.max = rr ? '128' : '1024';
  };
  format.addEventListener('change', syncFormat);
  const form = h('form', { class: 'card', testid: 'create-tournament' },
    h('h2', null, 'Create a tournament'),
    h('label', null, 'Name ', h('input', { name: 'name', required: true, maxlength: 80, testid: 't-name' })),
    h('label', null, 'Format ', format),
    h('label', null, 'Capacity (2–1024; round robin 2–128) ', capacity),
    h('label', null, 'Points to win (1–21) ', h('input', { name: 'points_to_win', type: 'number', min: 1, max: 21, placeholder: 'server default', testid: 't-points' })),
    h('label', null, 'Time to join a match, s ', h('input', { name: 'no_show_s', type: 'number', min: 0.1, max: 3600, step: 0.1, placeholder: '60', testid: 't-noshow' })),
    h('label', { class: 'check' }, third, ' third-place match'),
    h('label', null, 'Registration opens by itself at (optional) ', h('input', { name: 'opens', type: 'datetime-local', testid: 't-opens' })),
    h('label', null, 'Registration closes by itself at (optional) ', h('input', { name: 'closes', type: 'datetime-local', testid: 't-closes' })),
    h('button', { type: 'submit', class: 'primary', testid: 't-create' }, 'Create'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const btn = /** @type {HTMLButtonElement} */ (form.querySelector('button[type=submit]'));
    act(btn, async () => {
      const v = formValues(form);
      /** @type {Record<string, any>} */
      const body = { name: v.name, game: 'pong', format: v.format, capacity: Number(v.capacity) };
      if (v.points_to_win) body.points_to_win = Number(v.points_to_win);
      if (v.no_show_s) body.no_show_timeout_ms = Math.round(Number(v.no_show_s) * 1000);
      if (v.third_place && v.format === 'single_elimination') body.third_place = true;
      const opens = localMs(v.opens);
      const closes = localMs(v.closes);
      if (opens !== null) body.registration_opens_at = opens;
      if (closes !== null) body.registration_closes_at = closes;
      const res = await api('POST', `${ADMIN}`, body);
      toast(`Tournament ${res.name} created (draft): open its registration when ready.`, 'info');
      go(`#/organiser?t=${enc(res.id)}`);
    });
  });
  return form;
}

/**
 * Manage one tournament: every organiser action the server accepts in its current state.
 * Follows the tournament live; choices being made (seeding order, selections) survive updates.
 * @param {string} id
 */
function manageBox(id) {
  const box = h('div', { class: 'card wide', testid: 'manage-box', 'data-id': id }, h('p', { class: 'muted' }, 'Loading…'));
  const admin = (/** @type {string} */ path) => `${ADMIN}/${enc(id)}${path}`;
  /** Choices kept across redraws. */
  /** @type {{dq:string, settle:string, winner:string, scores:string, forfeit:boolean, order:string[]|null}} */
  const kept = { dq: '', settle: '', winner: '', scores: '', forfeit: false, order: null };
  let shown = '';
  /** @param {any} doc */
  const show = (doc) => {
    if (!box.isConnected) return;
    const json = JSON.stringify(doc);
    if (json === shown) return;
    shown = json;
    draw(readTournament(doc));
  };
  /**
   * Run an admin call; its answer is the new view.
   * @param {HTMLButtonElement} b
   * @param {string} done
   * @param {() => Promise<any>} fn
   */
  const run = (b, done, fn) => act(b, async () => {
    const started = performance.now();
    const view = await fn();
    toast(done, 'info');
    // The answer is the view right after the action; events pushed meanwhile are newer (the
    // rooms of a start, say).
    if (view && w.pushedAt <= started) show(view);
  });
  /** @param {TournamentView} t */
  const draw = (t) => {
    names.set(t.id, t.name);
    w.over = isOver(t.status);
    box.dataset.status = t.status;
    updateOrganiserList(t);
    box.dataset.registrationOpen = String(t.registrationOpen);
    const can = organiserActions(t);
    /**
     * @param {string} label @param {string} testid @param {boolean} enabled
     * @param {(b: HTMLButtonElement) => void} onclick
     * @param {string} [cls]
     */
    const button = (label, testid, enabled, onclick, cls) => {
      const b = h('button', { type: 'button', testid, disabled: !enabled, class: cls });
      b.textContent = label;
      b.addEventListener('click', () => onclick(b));
      return b;
    };
    const post = (/** @type {string} */ path) => () => api('POST', admin(path));
    // Seeding: entrants still in, in the order being edited (else seeds, then join order).
    const inIds = t.entrants.filter((e) => !e.disqualified).map((e) => e.id);
    const bySeed = [...t.entrants.filter((e) => !e.disqualified)].sort((a, b) => (a.seed ?? 1e9) - (b.seed ?? 1e9)).map((e) => e.id);
    const prev = kept.order;
    const order = prev && prev.length === inIds.length && prev.every((x) => inIds.includes(x)) ? prev : bySeed;
    kept.order = order;
    const nameOf = (/** @type {string} */ pid) => t.entrants.find((e) => e.id === pid)?.name || pid;
    const seedList = h('ol', { class: 'seeding', testid: 'seeding' });
    const drawSeeds = () => mount(seedList, order.map((pid, i) => h('li', { 'data-id': pid }, nameOf(pid), ' ',
      h('button', { type: 'button', class: 'link', disabled: i === 0 || !can.seeding, 'aria-label': `Move ${nameOf(pid)} up`, onclick: () => { [order[i - 1], order[i]] = [order[i], order[i - 1]]; drawSeeds(); } }, '↑'),
      h('button', { type: 'button', class: 'link', disabled: i === order.length - 1 || !can.seeding, 'aria-label': `Move ${nameOf(pid)} down`, onclick: () => { [order[i + 1], order[i]] = [order[i], order[i + 1]]; drawSeeds(); } }, '↓'))));
    drawSeeds();
    // Disqualify: anyone still in.
    const dqSelect = h('select', { testid: 'dq-player' }, t.entrants.filter((e) => !e.disqualified).map((e) => h('option', { value: e.id, selected: e.id === kept.dq }, e.name)));
    dqSelect.addEventListener('change', () => { kept.dq = dqSelect.value; });
    // Settle: matches with a room that have no result yet.
    const open = settleable(t);
    const settleMatch = h('select', { testid: 'settle-match' }, open.map((m) => h('option', { value: /** @type {string} */ (m.match), selected: m.match === kept.settle },
      `${m.thirdPlace ? 'Third place' : t.format === 'round_robin' ? `Round ${m.round}` : roundName(m.round, t.roundsTotal || t.rounds.length)} (${m.key}): ${m.players.map((p) => (p ? p.name : 'TBD')).join(' vs ')}`)));
    const settleWinner = h('select', { testid: 'settle-winner' });
    const winnerOptions = () => {
      kept.settle = settleMatch.value;
      const m = open.find((x) => x.match === settleMatch.value);
      mount(settleWinner, (m ? m.players : []).map((x) => (x ? h('option', { value: x.id, selected: x.id === kept.winner }, `${x.name} wins`) : null)));
      kept.winner = settleWinner.value;
    };
    settleMatch.addEventListener('change', winnerOptions);
    settleWinner.addEventListener('change', () => { kept.winner = settleWinner.value; });
    winnerOptions();
    const settleScores = h('input', { testid: 'settle-scores', placeholder: 'score, e.g. 5-3', size: 10, value: kept.scores, 'aria-label': 'Score by seat' });
    settleScores.addEventListener('input', () => { kept.scores = settleScores.value; });
    const settleForfeit = h('input', { type: 'checkbox', testid: 'settle-forfeit', checked: kept.forfeit });
    settleForfeit.addEventListener('change', () => { kept.forfeit = settleForfeit.checked; });
    const s = t.status;
    mount(box,
      h('h2', null, 'Manage ', h('a', { href: `#/tournaments/${enc(id)}`, testid: 'manage-view-page' }, t.name)),
      h('p', { class: 'muted' },
        h('span', { testid: 'manage-status', 'data-status': s }, statusText(t)),
        ` · ${t.format === 'round_robin' ? 'round robin' : 'single elimination'} · ${entrantCount(t)}`,
        t.champion ? ` · champion ${t.champion.name}` : ''),
      h('div', { class: 'actions' },
        button('Open registration', 'admin-open', can.open, (b) => run(b, 'Registration is open.', post('/open'))),
        button('Close registration', 'admin-close', can.close, (b) => run(b, 'Registration is closed.', post('/close'))),
        button('Start', 'admin-start', can.start, (b) => run(b, 'The tournament has started.', post('/start')), 'primary'),
        button('Cancel tournament', 'admin-cancel', can.cancel, (b) => { if (confirmClick(b, 'Cancel for good? Click again')) run(b, 'The tournament is cancelled.', post('/cancel')); }, 'danger')),
      s === 'draft' || s === 'registration'
        ? h('div', null,
          h('h3', null, 'Seeding'),
          h('p', { class: 'muted' }, 'Seeds 1, 2, … in this order; entrants who join later follow by rating.'),
          order.length ? seedList : h('p', { class: 'muted' }, 'No entrants yet.'),
          button('Save seeding', 'admin-seed', can.seeding, (b) => run(b, 'Seeding saved.', () => api('PUT', admin('/seeding'), { players: order }))))
        : null,
      h('h3', null, 'Disqualify'),
      can.disqualify
        ? h('div', { class: 'inline' }, dqSelect,
          button('Disqualify', 'admin-dq', true, (b) => {
            const pid = dqSelect.value;
            if (confirmClick(b, `Disqualify ${nameOf(pid)}? Click again`)) run(b, `${nameOf(pid)} is disqualified.`, post(`/players/${enc(pid)}/disqualify`));
          }, 'danger'))
        : h('p', { class: 'muted' }, isOver(s) ? 'The tournament is over.' : 'Nobody to disqualify.'),
      h('h3', null, 'Settle a result'),
      can.settle
        ? h('div', { class: 'inline' }, settleMatch, settleWinner, settleScores,
          h('label', { class: 'check' }, settleForfeit, ' forfeit'),
          button('Settle', 'admin-settle', true, (b) => {
            const scores = settleScores.value.split(/[^0-9]+/).filter(Boolean).map(Number);
            if (settleScores.value.trim() && scores.length !== 2) { toast('Write the score as two numbers by seat, e.g. 5-3.'); return; }
            /** @type {Record<string, any>} */
            const body = { winner: settleWinner.value };
            if (scores.length === 2) body.scores = scores;
            if (settleForfeit.checked) body.forfeit = true;
            kept.scores = '';
            run(b, 'Result settled.', () => api('POST', admin(`/matches/${enc(settleMatch.value)}/result`), body));
          }))
        : h('p', { class: 'muted', testid: 'nothing-to-settle' }, s === 'running' ? 'No match is waiting for a result.' : 'Results are settled while the tournament runs.'));
  };
  let busy = false;
  const load = async () => {
    if (busy || !box.isConnected) return;
    busy = true;
    const started = performance.now();
    w.loadedAt = started;
    try {
      const doc = await api('GET', `${LIST}/${enc(id)}`);
      if (w.pushedAt <= started) show(doc);
      subscribe();
    } catch (e) {
      mount(box, h('p', { class: 'notice', testid: 'error' }, describe(e)));
      shown = '';
    } finally {
      busy = false;
    }
  };
  const w = watch(id, show, load);
  load();
  keepFresh(box, w);
  return box;
}

/**
 * One line of the organiser's list: status and entrants.
 * @param {{status:string, registrationOpen:boolean, entrants:number}} t
 */
export function organiserListLine(t) {
  const status = t.status === 'registration' ? (t.registrationOpen ? 'registration open' : 'registration closed') : (STATUS_WORDS[t.status] || t.status).toLowerCase();
  return ` · ${status} · ${t.entrants} entrants`;
}

/**
 * The tournament being managed changed (started, opened, entrants): its line in the list on the
 * same page follows, without reloading the list.
 * @param {TournamentView} t
 */
function updateOrganiserList(t) {
  const li = document.querySelector(`[data-testid=organiser-list] li[data-id="${CSS.escape(t.id)}"]`);
  const line = li?.querySelector('[data-testid=organiser-list-status]');
  if (line) line.textContent = organiserListLine({ status: t.status, registrationOpen: t.registrationOpen, entrants: t.entrants.length });
}

/** @param {string|null} selected */
function organiserList(selected) {
  const box = h('div', { class: 'card wide' }, h('h2', null, 'Tournaments'), h('p', { class: 'muted' }, 'Loading…'));
  (async () => {
    try {
      const res = await api('GET', `${LIST}?limit=100`);
      const items = /** @type {any[]} */ (res.items || []);
      mount(box, h('h2', null, 'Tournaments'), items.length
        ? h('ul', { testid: 'organiser-list' }, items.map((t) => h('li', { 'data-id': t.id, class: t.id === selected ? 'current' : '' },
          h('a', { href: `#/organiser?t=${enc(t.id)}` }, t.name || t.id),
          h('span', { testid: 'organiser-list-status' }, organiserListLine({ status: t.status, registrationOpen: !!t.registration_open, entrants: t.entrants })))))
        : h('p', { class: 'muted' }, 'None yet.'));
    } catch (e) {
      mount(box, h('p', { class: 'notice', testid: 'error' }, describe(e)));
    }
  })();
  return box;
}

/** Words for audit actions. */
const AUDIT_WORDS = /** @type {Record<string,string>} */ ({
  'tournament.create': 'created the tournament',
  'tournament.open': 'opened registration',
  'tournament.close': 'closed registration',
  'tournament.start': 'started the tournament',
  'tournament.cancel': 'cancelled the tournament',
  'tournament.seeding': 'set the seeding',
  'tournament.disqualify': 'disqualified a player',
  'tournament.settle_match': 'settled a match',
  'player.grant_organiser': 'made a player an organiser',
  'player.revoke_organiser': 'took the organiser role away',
});

/**
 * The details of an audit entry in words: known fields by name, ids as names when known.
 * @param {any} detail
 * @param {(id:string) => string} nameOf
 */
function auditDetail(detail, nameOf) {
  if (!detail || typeof detail !== 'object') return detail ? String(detail) : '';
  /** @type {string[]} */
  const parts = [];
  for (const [k, v] of Object.entries(detail)) {
    if (k === 'action' || v === null || v === undefined) continue;
    if (k === 'settings' && v && typeof v === 'object') {
      parts.push(`first to ${v.points_to_win}, ${v.tick_hz} Hz, ${Math.round(v.no_show_timeout_ms / 1000)} s to join`);
    } else if (k === 'player') {
      // the target column names the player
    } else if (k === 'winner' && typeof v === 'string') {
      parts.push(`winner ${nameOf(v)}`);
    } else if (k === 'order' && Array.isArray(v)) {
      parts.push(`order ${v.map((x) => nameOf(String(x))).join(', ')}`);
    } else if (k === 'scores' && Array.isArray(v)) {
      parts.push(`score ${v.join('–')}`);
    } else if (k === 'forfeit' || k === 'third_place') {
      if (v === true) parts.push(k === 'forfeit' ? 'as a forfeit' : 'with a third-place match');
    } else if (k === 'match_id') {
      // the target column shows the match
    } else {
      parts.push(`${k.replace(/_/g, ' ')} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
    }
  }
  return parts.join('; ');
}

/**
 * The audit log, newest first, 50 a page; of one tournament when `tournament` is set.
 * @param {string|null} tournament
 * @param {number} offset
 */
function auditView(tournament, offset) {
  const LIMIT = 50;
  const box = h('div', { class: 'card wide', testid: 'audit' }, h('p', { class: 'muted' }, 'Loading…'));
  const load = async () => {
    try {
      const res = await api('GET', `/api/v1/admin/audit?limit=${LIMIT}&offset=${offset}${tournament ? `&tournament=${enc(tournament)}` : ''}`);
      const items = /** @type {any[]} */ (res.items || []);
      const total = Number(res.total) || 0;
      // The tournaments on this page, to name their players and matches.
      const tids = [...new Set(items.map((a) => a.tournament_id).filter(Boolean).concat(tournament ? [tournament] : []))].slice(0, 20);
      const views = (await Promise.all(tids.map((x) => api('GET', `${LIST}/${enc(x)}`).catch(() => null))))
        .filter(Boolean).map(readTournament);
      /** @type {Map<string,string>} */
      const tnames = new Map(views.map((v) => [v.id, v.name]));
      const t = tournament ? views.find((v) => v.id === tournament) || null : null;
      /** @type {Map<string,string>} */
      const ids = new Map();
      for (const v of views) {
        for (const e of v.entrants) ids.set(e.id, e.name);
        for (const m of allMatches(v)) if (m.match) ids.set(m.match, `match ${m.key} (${m.players.map((p) => (p ? p.name : 'TBD')).join(' vs ')})`);
      }
      const nameOf = (/** @type {string} */ x) => ids.get(x) || x;
      const page = (/** @type {number} */ off) => `#/organiser/audit?${tournament ? `t=${enc(tournament)}&` : ''}offset=${off}`;
      mount(box,
        h('p', { class: 'inline' },
          tournament ? h('span', null, `Actions on ${t ? t.name : tournaments(tnames, tournament)} · `, h('a', { href: '#/organiser/audit', testid: 'audit-all' }, 'all tournaments')) : h('span', null, 'Every organiser action, newest first.'),
          h('button', { type: 'button', testid: 'audit-refresh', onclick: () => load() }, 'Refresh')),
        items.length
          ? h('table', { class: 'list', testid: 'audit-log' },
            h('thead', null, h('tr', null, ['When', 'Who', 'What', 'Tournament', 'Target', 'Details'].map((x) => h('th', null, x)))),
            h('tbody', null, items.map((a) => h('tr', { testid: 'audit-row', 'data-action': a.action, 'data-target': a.target || '' },
              h('td', null, new Date(a.at).toLocaleString()),
              h('td', null, String(a.actor_name || a.actor_id || '')),
              h('td', { title: a.action }, AUDIT_WORDS[a.action] || a.action),
              h('td', null, a.tournament_id ? h('a', { href: `#/tournaments/${enc(a.tournament_id)}` }, tournaments(tnames, a.tournament_id)) : '–'),
              h('td', null, a.target ? nameOf(String(a.target)) : ''),
              h('td', null, auditDetail(a.detail, nameOf))))))
          : h('p', { class: 'muted', testid: 'audit-empty' }, 'Nothing recorded yet.'),
        total > LIMIT
          ? h('p', { class: 'inline' },
            offset > 0 ? h('a', { href: page(Math.max(0, offset - LIMIT)), testid: 'audit-newer' }, '← Newer') : null,
            h('span', { class: 'muted' }, `${offset + 1}–${Math.min(total, offset + LIMIT)} of ${total}`),
            offset + LIMIT < total ? h('a', { href: page(offset + LIMIT), testid: 'audit-older' }, 'Older →') : null)
          : null);
    } catch (e) {
      mount(box, h('p', { class: 'notice', testid: 'error' }, describe(e)));
    }
  };
  load();
  return box;
}

/** @param {Map<string,string>} tnames @param {string} id */
function tournaments(tnames, id) {
  return tnames.get(id) || id;
}
