// Tournament pages (list, detail with a live bracket or standings, join/leave, "your match is
// ready") and organiser pages (create, open/close registration, seed, start, disqualify, cancel,
// settle a result, audit log). Built against the API of issue 4; when this server has no
// tournaments API the pages say so instead of failing.

import { h, mount, formValues, when } from './dom.js';
import { api } from './api.js';
import { msg } from './protocol.js';
import { readTournament, myLiveMatch, STATUS_WORDS, roundName } from './tournament.js';
import { app, toast, act, describe, send, go } from './app.js';
import { feature } from './pages.js';

/** @typedef {import('./tournament.js').TournamentView} TournamentView */
/** @typedef {import('./tournament.js').BracketMatch} BracketMatch */

const LIST = '/api/v1/tournaments';
/** How often an open tournament page refreshes when no live event arrives, ms. */
const POLL_MS = 2000;

/** @type {{id:string, reload:() => void, show:(doc:any) => void}|null} the detail page on screen */
let current = null;
/** Rooms already offered in a "your match is ready" prompt. */
const prompted = new Set();

export function leavePage() {
  if (current && app.features.subscribe !== false) app.conn?.send(msg.unsubscribe(current.id));
  current = null;
}

/** @param {HTMLElement} body */
async function available(body) {
  if (await feature('tournaments', LIST)) return true;
  mount(body, h('p', { class: 'notice', testid: 'feature-missing' }, 'Tournaments are not available on this server yet.'));
  return false;
}

/**
 * A pushed tournament event (docs/protocol.md): refresh the page showing it and prompt the
 * player when their match is ready.
 * @param {import('./protocol.js').ServerMsg} m
 */
export function onServerMessage(m) {
  const kind = String(m.event || m.type);
  if (kind === 'subscribed' || kind === 'unsubscribed') return;
  const tid = m.tournament || m.tournament_id;
  if (current && (!tid || tid === current.id)) {
    if (kind === 'state' && m.view) current.show(m.view);
    else current.reload();
  }
  const room = m.room || m.room_id;
  const players = /** @type {any[]} */ (m.players || []);
  const forMe = !players.length || players.some((p) => (p && (p.id || p)) === app.player?.id);
  if (room && /ready/.test(kind) && forMe) matchReady(room, m.name || 'your tournament');
}

/**
 * @param {string} room
 * @param {string} tournamentName
 */
function matchReady(room, tournamentName) {
  if (prompted.has(room) || (app.game && app.game.room === room)) return;
  prompted.add(room);
  const box = document.getElementById('toasts');
  if (!box) return;
  const el = h('div', { class: 'toast prompt', testid: 'match-ready', role: 'alertdialog' },
    h('strong', null, 'Your match is ready'), h('span', null, ` in ${tournamentName}.`),
    h('button', { type: 'button', class: 'primary', testid: 'match-ready-go', onclick: () => { send(msg.join({ room })); el.remove(); } }, 'Go to the match'),
    h('button', { type: 'button', class: 'link', onclick: () => el.remove() }, 'Later'));
  box.append(el);
}

// ---------------------------------------------------------------- list

export function listPage() {
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const filter = h('select', { testid: 'tournament-filter' },
    ['', 'registration', 'running', 'finished', 'cancelled'].map((s) => h('option', { value: s }, s ? STATUS_WORDS[s] : 'All')));
  const el = h('section', { class: 'page', testid: 'tournaments-page' }, h('h1', null, 'Tournaments'),
    h('label', null, 'Show ', filter), body);
  const load = async () => {
    if (!(await available(body))) return;
    try {
      const res = await api('GET', `${LIST}${filter.value ? `?status=${filter.value}` : ''}`);
      const items = /** @type {any[]} */ (Array.isArray(res) ? res : res.items || []);
      if (!items.length) { mount(body, h('p', { class: 'notice', testid: 'tournaments-empty' }, 'No tournaments.')); return; }
      mount(body, h('table', { class: 'list', testid: 'tournaments-list' },
        h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Format'), h('th', null, 'Status'), h('th', null, 'Entrants'))),
        h('tbody', null, items.map((t) => h('tr', { testid: 'tournament-row', 'data-id': t.id },
          h('td', null, h('a', { href: `#/tournaments/${encodeURIComponent(t.id)}` }, t.name || t.id)),
          h('td', null, String(typeof t.format === 'object' && t.format ? t.format.kind : t.format || '').replace('_', ' ')),
          h('td', null, STATUS_WORDS[t.status] || t.status),
          h('td', null, `${Array.isArray(t.entrants) ? t.entrants.length : t.entrants ?? t.entrant_count ?? '?'}${t.capacity ? ` / ${t.capacity}` : ''}`))))));
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
  leavePage();
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const el = h('section', { class: 'page', testid: 'tournament-page', 'data-id': id }, body);
  let busy = false;
  let subscribed = false;
  /** @param {any} doc */
  const show = (doc) => {
    if (!el.isConnected) return;
    const t = readTournament(doc);
    mount(body, renderTournament(t, load));
    const mine = app.player ? myLiveMatch(t, app.player.id) : null;
    if (mine && mine.room) matchReady(mine.room, t.name);
  };
  const load = async () => {
    if (busy || !el.isConnected) return;
    busy = true;
    try {
      if (!(await available(body))) return;
      show(await api('GET', `${LIST}/${encodeURIComponent(id)}`));
      if (!subscribed && app.features.subscribe !== false) {
        // Live events over the game connection; the page also polls, so a server without
        // them (or a dropped connection) still updates.
        subscribed = !!app.conn?.send(msg.subscribe(id));
      }
    } catch (e) {
      mount(body, h('p', { class: 'notice', testid: 'error' }, describe(e)));
    } finally {
      busy = false;
    }
  };
  current = { id, reload: load, show };
  load();
  const timer = setInterval(() => {
    if (!el.isConnected) { clearInterval(timer); return; }
    load();
  }, POLL_MS);
  return el;
}

/**
 * @param {TournamentView} t
 * @param {() => void} reload
 */
function renderTournament(t, reload) {
  const me = app.player;
  const entered = !!me && t.entrants.some((e) => e.id === me.id);
  const joinBtn = h('button', { type: 'button', class: 'primary', testid: 'tournament-join' }, 'Join');
  joinBtn.addEventListener('click', () => act(joinBtn, async () => {
    await api('POST', `${LIST}/${encodeURIComponent(t.id)}/join`);
    toast('You are in.', 'info');
    reload();
  }));
  const leaveBtn = h('button', { type: 'button', testid: 'tournament-leave' }, 'Leave');
  leaveBtn.addEventListener('click', () => act(leaveBtn, async () => {
    await api('POST', `${LIST}/${encodeURIComponent(t.id)}/leave`);
    reload();
  }));
  let action = null;
  if (t.status === 'registration') {
    if (me && me.guest) action = h('p', { class: 'muted' }, 'Guests cannot enter tournaments: ', h('a', { href: '#/account' }, 'register'), ' first.');
    else action = entered ? leaveBtn : joinBtn;
  }
  const champion = t.champion
    ? h('p', { class: 'champion', testid: 'champion' }, `Champion: ${t.champion.name}`) : null;
  const isRR = t.format === 'round_robin';
  return h('div', null,
    h('h1', { testid: 'tournament-name' }, t.name),
    h('p', { class: 'muted' },
      h('span', { testid: 'tournament-status', 'data-status': t.status }, STATUS_WORDS[t.status] || t.status),
      ` · ${isRR ? 'round robin' : 'single elimination'}`,
      t.capacity ? ` · ${t.entrants.length} / ${t.capacity} entrants` : ` · ${t.entrants.length} entrants`,
      t.currentRound ? ` · round ${t.currentRound}` : ''),
    champion,
    action,
    me && me.role === 'organiser' ? h('p', null, h('a', { href: `#/organiser?t=${encodeURIComponent(t.id)}`, testid: 'manage-tournament' }, 'Manage as organiser')) : null,
    t.rounds.length && !isRR ? bracketView(t) : null,
    isRR || t.standings.length ? standingsView(t) : null,
    isRR && t.rounds.length ? roundsList(t) : null,
    h('h2', null, 'Entrants'),
    h('ol', { class: 'entrants', testid: 'entrants' }, t.entrants.map((e) => h('li', { class: e.disqualified ? 'dq' : '' },
      h('a', { href: `#/players/${encodeURIComponent(e.id)}` }, e.name), e.disqualified ? ' (disqualified)' : ''))));
}

/** @param {BracketMatch} m */
function matchCell(m) {
  const seat = (/** @type {number} */ s) => {
    const p = m.players[s];
    const won = m.winner === s;
    return h('div', { class: ['slot', won && 'won', m.winner !== null && !won && 'lost'] },
      h('span', { class: 'seed' }, p && p.seed ? String(p.seed) : ''),
      h('span', { class: 'who' }, p ? p.name : m.round === 1 && m.state !== 'pending' ? 'bye' : 'TBD'),
      h('span', { class: 'pts' }, m.scores ? String(m.scores[s]) : ''));
  };
  const live = m.room && m.state === 'in_progress'
    ? h('button', { type: 'button', class: 'link', testid: 'watch-match', onclick: () => send(msg.spectate({ room: /** @type {string} */ (m.room) })) }, 'watch') : null;
  return h('div', { class: ['match', m.state], testid: 'bracket-match', 'data-key': m.key, 'data-state': m.state },
    m.thirdPlace ? h('div', { class: 'label' }, 'Third place') : null,
    seat(0), seat(1),
    h('div', { class: 'meta' }, m.forfeit ? 'walkover' : m.state.replace('_', ' '), live ? ' · ' : '', live,
      m.match && m.state === 'finished' ? h('a', { href: `#/replay/${encodeURIComponent(m.match)}` }, ' · replay') : null));
}

/** @param {TournamentView} t */
function bracketView(t) {
  return h('div', { class: 'bracket', testid: 'bracket' },
    t.rounds.map((r) => h('div', { class: 'round' },
      h('h3', null, roundName(r.round, t.rounds.length)),
      r.matches.map(matchCell))));
}

/** @param {TournamentView} t */
function standingsView(t) {
  if (!t.standings.length) return null;
  return h('div', null, h('h2', null, 'Standings'),
    h('table', { class: 'list', testid: 'standings' },
      h('thead', null, h('tr', null, ['#', 'Player', 'W', 'L', 'Points', '±'].map((x) => h('th', null, x)))),
      h('tbody', null, t.standings.map((s) => h('tr', { testid: 'standing-row' },
        h('td', null, String(s.rank)), h('td', null, s.player.name + (s.player.disqualified ? ' (DQ)' : '')),
        h('td', null, String(s.wins)), h('td', null, String(s.losses)),
        h('td', null, `${s.pointsFor}:${s.pointsAgainst}`), h('td', null, String(s.pointsFor - s.pointsAgainst)))))));
}

/** @param {TournamentView} t */
function roundsList(t) {
  return h('div', { class: 'rr-rounds', testid: 'bracket' }, t.rounds.map((r) => h('div', { class: 'round' },
    h('h3', null, `Round ${r.round}`), r.matches.map(matchCell))));
}

// ---------------------------------------------------------------- organiser

export function organiserPage() {
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const el = h('section', { class: 'page organiser', testid: 'organiser-page' }, h('h1', null, 'Organiser'), body);
  const p = app.player;
  if (!p || p.role !== 'organiser') {
    mount(body, h('p', { class: 'notice', testid: 'not-organiser' }, 'Only organisers can run tournaments. An administrator grants the role with `rally admin grant-organiser NAME`.'));
    return el;
  }
  (async () => {
    if (!(await available(body))) return;
    const selected = new URLSearchParams(location.hash.split('?')[1] || '').get('t');
    mount(body, createForm(), h('div', { testid: 'manage' }, selected ? manageBox(selected) : null), auditBox(), organiserList());
  })();
  return el;
}

function createForm() {
  const form = h('form', { class: 'card', testid: 'create-tournament' },
    h('h2', null, 'Create a tournament'),
    h('label', null, 'Name ', h('input', { name: 'name', required: true, maxlength: 60, testid: 't-name' })),
    h('label', null, 'Format ', h('select', { name: 'format', testid: 't-format' },
      h('option', { value: 'single_elimination' }, 'Single elimination'), h('option', { value: 'round_robin' }, 'Round robin'))),
    h('label', null, 'Capacity ', h('input', { name: 'capacity', type: 'number', min: 2, max: 128, value: 8, required: true, testid: 't-capacity' })),
    h('label', null, 'Points to win ', h('input', { name: 'points_to_win', type: 'number', min: 1, max: 21, placeholder: 'server default', testid: 't-points' })),
    h('label', { class: 'check' }, h('input', { name: 'third_place', type: 'checkbox', value: '1', testid: 't-third' }), ' third-place match'),
    h('button', { type: 'submit', class: 'primary', testid: 't-create' }, 'Create'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const btn = /** @type {HTMLButtonElement} */ (form.querySelector('button[type=submit]'));
    act(btn, async () => {
      const v = formValues(form);
      /** @type {Record<string, any>} */
      const body = { name: v.name, game: 'pong', format: v.format, capacity: Number(v.capacity) };
      if (v.points_to_win) body.points_to_win = Number(v.points_to_win);
      if (v.third_place) body.third_place = true;
      const res = await api('POST', '/api/v1/admin/tournaments', body);
      const id = res.id || res.tournament?.id;
      toast(`Tournament created.`, 'info');
      go(`#/organiser?t=${encodeURIComponent(id)}`);
    });
  });
  return form;
}

/** @param {string} id */
function manageBox(id) {
  const box = h('div', { class: 'card wide', testid: 'manage-box', 'data-id': id }, h('p', { class: 'muted' }, 'Loading…'));
  const admin = (/** @type {string} */ path) => `/api/v1/admin/tournaments/${encodeURIComponent(id)}${path}`;
  const load = async () => {
    try {
      const t = readTournament(await api('GET', `${LIST}/${encodeURIComponent(id)}`));
      /**
       * @param {string} label
       * @param {string} testid
       * @param {() => Promise<any>} fn
       * @param {boolean} enabled
       */
      const btn = (label, testid, fn, enabled) => {
        const b = h('button', { type: 'button', testid, disabled: !enabled }, label);
        b.addEventListener('click', () => act(b, async () => { await fn(); toast(`${label}: done.`, 'info'); load(); }));
        return b;
      };
      const order = t.entrants.map((e) => e.id);
      const seedList = h('ol', { class: 'seeding', testid: 'seeding' });
      const drawSeeds = () => mount(seedList, order.map((pid, i) => {
        const e = t.entrants.find((x) => x.id === pid);
        return h('li', null, e ? e.name : pid, ' ',
          h('button', { type: 'button', class: 'link', disabled: i === 0, onclick: () => { [order[i - 1], order[i]] = [order[i], order[i - 1]]; drawSeeds(); } }, '↑'),
          h('button', { type: 'button', class: 'link', disabled: i === order.length - 1, onclick: () => { [order[i + 1], order[i]] = [order[i], order[i + 1]]; drawSeeds(); } }, '↓'));
      }));
      drawSeeds();
      const dqSelect = h('select', { testid: 'dq-player' }, t.entrants.map((e) => h('option', { value: e.id }, e.name)));
      const matches = t.rounds.flatMap((r) => r.matches).filter((m) => m.match && m.state !== 'finished');
      const settleMatch = h('select', { testid: 'settle-match' }, matches.map((m) => h('option', { value: /** @type {string} */ (m.match) },
        `${m.key}: ${m.players.map((p) => (p ? p.name : 'TBD')).join(' vs ')}`)));
      const settleWinner = h('select', { testid: 'settle-winner' });
      const winnerOptions = () => {
        const m = matches.find((x) => x.match === settleMatch.value);
        mount(settleWinner, (m ? m.players : []).filter((x) => x !== null)
          .map((x) => h('option', { value: /** @type {any} */ (x).id }, `${/** @type {any} */ (x).name} wins`)));
      };
      settleMatch.addEventListener('change', winnerOptions);
      winnerOptions();
      const settleScores = h('input', { testid: 'settle-scores', placeholder: 'e.g. 5-3', size: 6 });
      const s = t.status;
      mount(box,
        h('h2', null, 'Manage ', h('a', { href: `#/tournaments/${encodeURIComponent(id)}` }, t.name)),
        h('p', { class: 'muted' }, `${STATUS_WORDS[s] || s} · ${t.entrants.length} entrants`),
        h('div', { class: 'actions' },
          btn('Open registration', 'admin-open', () => api('POST', admin('/open')), s === 'draft'),
          btn('Close registration', 'admin-close', () => api('POST', admin('/close')), s === 'registration'),
          btn('Start', 'admin-start', () => api('POST', admin('/start')), s === 'draft' || s === 'registration'),
          btn('Cancel tournament', 'admin-cancel', () => api('POST', admin('/cancel')), s !== 'finished' && s !== 'cancelled')),
        h('h3', null, 'Seeding'),
        order.length ? seedList : h('p', { class: 'muted' }, 'No entrants yet.'),
        btn('Save seeding', 'admin-seed', () => api('PUT', admin('/seeding'), { players: order }), order.length > 0 && s !== 'running' && s !== 'finished'),
        h('h3', null, 'Disqualify'),
        h('div', { class: 'inline' }, dqSelect,
          btn('Disqualify', 'admin-dq', () => api('POST', admin(`/players/${encodeURIComponent(dqSelect.value)}/disqualify`)), t.entrants.length > 0)),
        h('h3', null, 'Settle a result'),
        matches.length
          ? h('div', { class: 'inline' }, settleMatch, settleWinner, settleScores,
            btn('Settle', 'admin-settle', () => {
              const scores = settleScores.value.split(/[^0-9]+/).filter(Boolean).map(Number);
              /** @type {Record<string, any>} */
              const body = { winner: settleWinner.value };
              if (scores.length === 2) body.scores = scores;
              return api('POST', admin(`/matches/${encodeURIComponent(settleMatch.value)}/result`), body);
            }, true))
          : h('p', { class: 'muted' }, 'No match waiting for a result.'));
    } catch (e) {
      mount(box, h('p', { class: 'notice', testid: 'error' }, describe(e)));
    }
  };
  load();
  return box;
}

function organiserList() {
  const box = h('div', { class: 'card wide' }, h('h2', null, 'Tournaments'), h('p', { class: 'muted' }, 'Loading…'));
  (async () => {
    try {
      const res = await api('GET', LIST);
      const items = /** @type {any[]} */ (Array.isArray(res) ? res : res.items || []);
      mount(box, h('h2', null, 'Tournaments'), items.length
        ? h('ul', { testid: 'organiser-list' }, items.map((t) => h('li', null,
          h('a', { href: `#/organiser?t=${encodeURIComponent(t.id)}` }, t.name || t.id), ` · ${STATUS_WORDS[t.status] || t.status}`)))
        : h('p', { class: 'muted' }, 'None yet.'));
    } catch (e) {
      mount(box, h('p', { class: 'notice', testid: 'error' }, describe(e)));
    }
  })();
  return box;
}

function auditBox() {
  const box = h('details', { class: 'card wide', testid: 'audit' }, h('summary', null, 'Audit log'));
  box.addEventListener('toggle', async () => {
    if (!box.open) return;
    try {
      const res = await api('GET', '/api/v1/admin/audit?limit=100');
      const items = /** @type {any[]} */ (Array.isArray(res) ? res : res.items || []);
      mount(box, h('summary', null, 'Audit log'), items.length
        ? h('table', { class: 'list', testid: 'audit-log' },
          h('thead', null, h('tr', null, ['When', 'Who', 'What', 'Details'].map((x) => h('th', null, x)))),
          h('tbody', null, items.map((a) => h('tr', null,
            h('td', null, when(a.at ?? a.created_at ?? a.time)),
            h('td', null, String(a.actor_name ?? a.actor ?? a.who ?? '')),
            h('td', null, `${a.action ?? a.what ?? ''}${a.target ? ` ${a.target}` : ''}`),
            h('td', null, JSON.stringify(a.detail ?? a.details ?? a.data ?? ''))))))
        : h('p', { class: 'muted' }, 'Nothing recorded yet.'));
    } catch (e) {
      mount(box, h('summary', null, 'Audit log'), h('p', { class: 'notice', testid: 'error' }, describe(e)));
    }
  });
  return box;
}
