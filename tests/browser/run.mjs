// End-to-end scenarios of the rally web client in Debian's Chromium, driven by playwright-core.
// Started by run.sh, which runs a rally server with test-sized settings and passes its URL.
// Prints one line per scenario and finally "N passed, N failed[, N skipped]".

import { chromium } from 'playwright-core';
import { startDelayProxy } from './proxy.mjs';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const BASE = process.env.RALLY_URL || 'http://127.0.0.1:18090';
const ART = process.env.ARTIFACTS || path.resolve('../../target/browser-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ONLY = process.env.ONLY || '';

/**
 * Netcode bound documented in docs/web-client.md: through 75 ms ± 10 ms each way, the client's
 * reconciliation corrections number at most twice the inputs sent, and none is larger than four
 * ticks of paddle travel (800 units at 60 Hz with the default paddle speed).
 */
const NETCODE = { delayMs: 75, jitterMs: 10, correctionsPerInput: 2, maxCorrection: 800 };

fs.mkdirSync(ART, { recursive: true });

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'],
});

/** @type {{name:string, fn:() => Promise<void|'skip'>}[]} */
const scenarios = [];
const scenario = (name, fn) => scenarios.push({ name, fn });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A fresh browser context (own storage, like another person) with a page on `base`. */
async function person(label, base = BASE) {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await ctx.newPage();
  page.label = label;
  page.errors = [];
  page.on('pageerror', (e) => { page.errors.push(e.message); console.log(`  [${label}] page error: ${e.message}`); });
  page.on('console', (m) => { if (m.type() === 'error') console.log(`  [${label}] console: ${m.text()}`); });
  await page.goto(`${base}/`);
  return page;
}

async function guest(page) {
  await page.click('[data-testid=guest-play]');
  await page.waitForSelector('[data-testid=lobby]');
  await page.waitForFunction(() => window.__rally.connStatus === 'online');
}

/** Read window.__rally fields. */
const hooks = (page, fn) => page.evaluate(fn);

async function shot(page, name) {
  await page.screenshot({ path: path.join(ART, `${name}.png`) });
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

/** Wait until the page's game view has a room in `state` (or any of them). */
async function roomState(page, states, timeout = 15000) {
  const list = Array.isArray(states) ? states : [states];
  await page.waitForFunction((l) => window.__rally.game && l.includes(window.__rally.roomState), list, { timeout });
}

/**
 * Drive a player with the keyboard: follow the ball with W/S, or hold one key. Returns when the
 * page shows a result.
 */
async function drive(page, mode) {
  let held = null;
  const set = async (key) => {
    if (held === key) return;
    if (held) await page.keyboard.up(held);
    if (key) await page.keyboard.down(key);
    held = key;
  };
  for (let i = 0; i < 1500; i++) {
    const s = await hooks(page, () => ({
      done: !!document.querySelector('[data-testid=result]'),
      ball: window.__rally.ball, own: window.__rally.ownY,
    }));
    if (s.done) break;
    if (mode === 'track' && s.ball && typeof s.own === 'number') {
      const d = s.ball[1] - s.own;
      await set(d < -250 ? 'KeyW' : d > 250 ? 'KeyS' : null);
    } else if (mode !== 'track') {
      await set(mode);
    }
    await sleep(25);
  }
  await set(null);
}

// ------------------------------------------------------------------------------------ scenarios

scenario('guests quick-match, a third watches, a reload resumes, both see the result', async () => {
  const a = await person('A');
  await shot(a, '01-sign-in');
  const b = await person('B');
  const c = await person('C');
  await guest(a);
  await guest(b);
  await guest(c);
  await shot(a, '02-lobby');
  await a.click('[data-testid=quick-match]');
  await a.waitForSelector('[data-testid=cancel-queue]');
  // Cancel works, then queue for real.
  await a.click('[data-testid=cancel-queue]');
  await a.waitForSelector('[data-testid=quick-match]');
  await a.click('[data-testid=quick-match]');
  await a.waitForSelector('[data-testid=queue-status]');
  await shot(a, '03-searching');
  await b.click('[data-testid=quick-match]');
  await a.waitForSelector('[data-testid=game-view][data-role=player]');
  await b.waitForSelector('[data-testid=game-view][data-role=player]');
  const room = await hooks(a, () => window.__rally.room);
  check(room === (await hooks(b, () => window.__rally.room)), 'A and B are in different rooms');
  const seats = [await hooks(a, () => window.__rally.seat), await hooks(b, () => window.__rally.seat)];
  check(seats[0] !== seats[1], `both in seat ${seats[0]}`);

  // The spectator finds the room in the live list.
  await c.click('[data-testid=nav-rooms]');
  await c.waitForSelector(`[data-testid=room-row][data-room="${room}"]`);
  await shot(c, '04-live-rooms');
  await c.click(`[data-testid=room-row][data-room="${room}"] [data-testid=spectate]`);
  await c.waitForSelector('[data-testid=game-view][data-role=spectator]');

  // Reload B as soon as play starts: the room pauses, B comes back into the same seat.
  await roomState(b, 'playing');
  await shot(a, '05-game');
  await b.reload();
  await b.waitForSelector('[data-testid=game-view][data-role=player]', { timeout: 10000 });
  check((await hooks(b, () => window.__rally.room)) === room, 'B came back to another room');
  check((await hooks(b, () => window.__rally.seat)) === seats[1], 'B came back to another seat');
  await a.waitForFunction(() => window.__rally.stateLog.includes('paused'), null, { timeout: 5000 });
  await roomState(b, ['countdown', 'playing']);
  await roomState(a, 'playing');

  // Latency is shown.
  const latency = await a.textContent('[data-testid=latency]');
  check(/\d+ ms/.test(latency || ''), `latency shows ${JSON.stringify(latency)}`);

  // Play it out with the keyboard: A follows the ball, B hides in the top corner.
  await Promise.all([drive(a, 'track'), drive(b, 'ArrowUp')]);
  for (const p of [a, b, c]) await p.waitForSelector('[data-testid=result]', { timeout: 20000 });
  const ha = await a.textContent('[data-testid=result-headline]');
  const hb = await b.textContent('[data-testid=result-headline]');
  check(['You won!', 'You lost'].includes(ha || '') && ['You won!', 'You lost'].includes(hb || '') && ha !== hb,
    `headlines ${ha} / ${hb}`);
  check(/won/.test((await c.textContent('[data-testid=result-headline]')) || ''), 'spectator sees who won');
  // Quick matches are rated: both players see their rating change.
  await a.waitForSelector('[data-testid=rating-change]', { timeout: 10000 });
  await b.waitForSelector('[data-testid=rating-change]', { timeout: 10000 });
  const rc = (await a.textContent('[data-testid=rating-change]')) || '';
  check(/1500 → \d+ \([+-]\d+\)/.test(rc), `rating change reads ${rc}`);
  await shot(a, '06-result');
  await shot(c, '07-spectator-result');
  for (const p of [a, b, c]) check(p.errors.length === 0, `${p.label} had page errors: ${p.errors.join('; ')}`);
  // Back to the lobby; the player page lists the match when the server has history.
  await a.click('[data-testid=back-to-lobby]');
  await a.waitForSelector('[data-testid=lobby]');
  await a.click('[data-testid=nav-me]');
  await a.waitForSelector('[data-testid=player-page]');
  await a.waitForSelector('[data-testid=match-history], [data-testid=feature-missing]');
  if (await a.$('[data-testid=match-history]')) {
    await shot(a, '08-history');
    await a.click('[data-testid=replay-link]');
    await a.waitForSelector('[data-testid=replay-canvas]');
    await a.click('[data-testid=replay-play]');
    await sleep(500);
    await shot(a, '09-replay');
  }
  await a.context().close();
  await b.context().close();
  await c.context().close();
});

scenario('netcode under 75 ms ± 10 ms: prediction on the key frame, bounded corrections, reconnect', async () => {
  const u = new URL(BASE);
  const proxy = await startDelayProxy({ target: { host: u.hostname, port: Number(u.port) }, delayMs: NETCODE.delayMs, jitterMs: NETCODE.jitterMs });
  try {
    const d = await person('D', `http://127.0.0.1:${proxy.port}`);
    const e = await person('E');
    await guest(d);
    await guest(e);
    // A private room to 21 points so the match outlasts the key presses.
    await d.selectOption('[data-testid=room-points]', '21');
    await d.click('[data-testid=create-room]');
    await d.waitForSelector('[data-testid=room-code]');
    const code = ((await d.textContent('[data-testid=room-code]')) || '').trim();
    check(/^[A-Z0-9]{4,}$/.test(code), `room code ${code}`);
    const link = await d.getAttribute('[data-testid=room-link]', 'href');
    check(link && link.endsWith(`#/join/${code}`), `room link ${link}`);
    await shot(d, '10-private-room');
    await e.fill('[data-testid=join-code]', code.toLowerCase());
    await e.click('[data-testid=join-code-submit]');
    await e.waitForSelector('[data-testid=game-view][data-role=player]');
    await roomState(d, 'playing');
    await d.waitForFunction(() => window.__rally.rtt > 100 && window.__rally.game.ticks.ready, null, { timeout: 5000 });
    const rtt = await hooks(d, () => window.__rally.rtt);
    // Key presses: alternate directions, hold each ~250 ms, with pauses.
    const keys = ['KeyS', 'KeyW', 'ArrowDown', 'ArrowUp', 'KeyS', 'KeyW', 'ArrowDown', 'ArrowUp', 'KeyS', 'KeyW'];
    for (const k of keys) {
      await d.keyboard.down(k);
      await sleep(220 + Math.random() * 80);
      await d.keyboard.up(k);
      await sleep(120 + Math.random() * 80);
    }
    await sleep(600); // let the last inputs be acked
    const r = await hooks(d, () => ({ probes: window.__rally.keyProbes, stats: { ...window.__rally.stats } }));
    await shot(d, '11-game-under-latency');
    const moves = r.probes.filter((p) => p.intent !== 'stop');
    check(moves.length >= keys.length - 1, `only ${moves.length} key presses were probed`);
    const g = await hooks(d, () => ({ min: window.__rally.game.predictor.min, max: window.__rally.game.predictor.max }));
    for (const p of moves) {
      check(p.framesToMove === 1, `a press took ${p.framesToMove} frames to show`);
      const sign = p.intent === 'up' ? -1 : 1;
      const atWall = sign < 0 ? p.yBefore <= g.min + 1 : p.yBefore >= g.max - 1;
      check(atWall || p.dyFirstFrame * sign > 0, `a ${p.intent} press did not move the paddle on its frame: ${JSON.stringify(p)}`);
    }
    const s = r.stats;
    console.log(`  rtt ${rtt.toFixed(0)} ms; inputs ${s.inputs}, reconciliations ${s.reconciliations}, corrections ${s.corrections} (max ${s.maxCorrection.toFixed(0)}, total ${s.totalCorrection.toFixed(0)} units), lost ${s.lost}`);
    check(s.reconciliations > 100, `only ${s.reconciliations} snapshots reconciled`);
    check(s.corrections <= s.inputs * NETCODE.correctionsPerInput, `${s.corrections} corrections for ${s.inputs} inputs`);
    check(s.maxCorrection <= NETCODE.maxCorrection, `a correction of ${s.maxCorrection} units`);

    // Cut the link: D shows that it is reconnecting, comes back and the match goes on.
    proxy.dropAll();
    await d.waitForSelector('[data-testid=reconnecting]', { timeout: 3000 });
    await d.waitForSelector('[data-testid=connection-lost]', { timeout: 3000 });
    await shot(d, '12-reconnecting');
    await d.waitForFunction(() => window.__rally.connStatus === 'online', null, { timeout: 8000 });
    await d.waitForSelector('[data-testid=game-view][data-role=player]');
    await roomState(d, ['countdown', 'playing'], 8000);
    await e.waitForFunction(() => window.__rally.stateLog.includes('paused'), null, { timeout: 5000 });
    await roomState(e, 'playing', 8000);

    // D resigns (two clicks); both see the result.
    await d.click('[data-testid=resign]');
    await d.click('[data-testid=resign]');
    await d.waitForSelector('[data-testid=result]', { timeout: 5000 });
    await e.waitForSelector('[data-testid=result]', { timeout: 5000 });
    check((await d.textContent('[data-testid=result-headline]')) === 'You lost', 'the resigner did not lose');
    check((await e.textContent('[data-testid=result-headline]')) === 'You won!', 'the opponent did not win');
    check(/resignation/.test((await e.textContent('[data-testid=result]')) || ''), 'the reason is not shown');
    await shot(e, '13-result-resign');
    for (const p of [d, e]) check(p.errors.length === 0, `${p.label} had page errors: ${p.errors.join('; ')}`);
    await d.context().close();
    await e.context().close();
  } finally {
    await proxy.close();
  }
});

scenario('server errors are shown in words; missing APIs are detected', async () => {
  const p = await person('F');
  // A wrong password is explained.
  await p.fill('[data-testid=login-name]', 'nobody_here');
  await p.fill('[data-testid=login-password]', 'wrong-password');
  await p.click('[data-testid=login-submit]');
  await p.waitForFunction(() => (document.querySelector('[data-testid=auth-error]')?.textContent || '').length > 5);
  await guest(p);
  // A bad join code is explained.
  await p.fill('[data-testid=join-code]', 'ZZZZZZ');
  await p.click('[data-testid=join-code-submit]');
  await p.waitForSelector('[data-testid=error]');
  const text = (await p.textContent('[data-testid=error]')) || '';
  check(/no such room/i.test(text), `error reads ${JSON.stringify(text)}`);
  await shot(p, '14-error');
  // Tournaments and leaderboard: either served, or a clear notice.
  for (const [nav, page] of [['nav-tournaments', 'tournaments-page'], ['nav-leaderboard', 'leaderboard-page']]) {
    await p.click(`[data-testid=${nav}]`);
    await p.waitForSelector(`[data-testid=${page}]`);
    await p.waitForFunction((id) => {
      const el = document.querySelector(`[data-testid=${id}]`);
      return el && !/Loading/.test(el.textContent || '');
    }, page);
  }
  await shot(p, '15-leaderboard');
  check(p.errors.length === 0, `page errors: ${p.errors.join('; ')}`);
  await p.context().close();
});

scenario('a phone gets touch controls and a readable layout', async () => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const p = await ctx.newPage();
  p.label = 'phone';
  p.errors = [];
  p.on('pageerror', (e) => p.errors.push(e.message));
  await p.goto(`${BASE}/`);
  await guest(p);
  await p.click('[data-testid=create-room]');
  await p.waitForSelector('[data-testid=room-code]');
  await p.waitForSelector('[data-testid=touch-up]', { state: 'visible' });
  const box = await p.locator('[data-testid=game-canvas]').boundingBox();
  check(box && box.width <= 390 && box.width > 300, `canvas is ${box && box.width} px wide on a 390 px screen`);
  await shot(p, '16-phone-waiting');
  // Holding the touch button asks for "down" (sent once the match starts), releasing stops.
  await p.dispatchEvent('[data-testid=touch-down]', 'pointerdown');
  check(await p.evaluate(() => window.__rally.game.wantedIntent()) === 'down', 'touch-down does not steer');
  await p.dispatchEvent('[data-testid=touch-down]', 'pointerup');
  check(await p.evaluate(() => window.__rally.game.wantedIntent()) === 'stop', 'releasing touch-down does not stop');
  check(p.errors.length === 0, `page errors: ${p.errors.join('; ')}`);
  await ctx.close();
});

scenario('tournament pages render the issue-4 documents and follow updates (API mocked in the browser)', async () => {
  const p = await person('T');
  await guest(p);
  const doc = {
    id: 'T1', name: 'Mock cup', game: 'pong', format: 'single_elimination', status: 'running', capacity: 4,
    rounds: 2, current_round: 1,
    entrants: ['a', 'b', 'c'].map((id, i) => ({ id, name: `player_${id}`, seed: i + 1, rating: 1500, disqualified: false, eliminated: false })),
    bracket: [
      { round: 1, matches: [
        { key: 'r1m1', round: 1, index: 1, third_place: false, players: [{ id: 'b', name: 'player_b', seed: 2 }, { id: 'c', name: 'player_c', seed: 3 }],
          state: 'finished', result: { winner: 'b', scores: [1, 0], forfeit: false, reason: 'score' }, match_id: 'M1', room: null }] },
      { round: 2, matches: [
        { key: 'r2m0', round: 2, index: 0, third_place: false, players: [{ id: 'a', name: 'player_a', seed: 1 }, { id: 'b', name: 'player_b', seed: 2 }],
          state: 'in_progress', result: null, match_id: 'M2', room: 'R2' }] },
    ],
    standings: [], champion: null,
  };
  await p.route('**/api/v1/tournaments**', (route) => {
    const url = new URL(route.request().url());
    if (url.pathname === '/api/v1/tournaments') {
      return route.fulfill({ json: { items: [{ id: 'T1', name: 'Mock cup', format: 'single_elimination', status: 'running', capacity: 4, entrants: 3 }], limit: 20, offset: 0, total: 1 } });
    }
    return route.fulfill({ json: doc });
  });
  await p.click('[data-testid=nav-tournaments]');
  await p.waitForSelector('[data-testid=tournament-row][data-id=T1]');
  await p.click('[data-testid=tournament-row] a');
  await p.waitForSelector('[data-testid=bracket]');
  check((await p.$$('[data-testid=bracket-match]')).length === 2, 'the bracket does not show two matches');
  check(await p.$('[data-testid=bracket-match][data-key=r2m0] [data-testid=watch-match]'), 'the live final has no watch button');
  const won = await p.textContent('[data-testid=bracket-match][data-key=r1m1] .won');
  check(/player_b/.test(won || ''), `the winner of r1m1 reads ${won}`);
  await shot(p, '17-bracket-mocked');
  // A live update (the final finishes) shows up without a reload.
  doc.bracket[1].matches[0].state = 'finished';
  doc.bracket[1].matches[0].result = { winner: 'a', scores: [1, 0], forfeit: false, reason: 'score' };
  doc.status = 'finished';
  doc.champion = { id: 'a', name: 'player_a' };
  await p.waitForSelector('[data-testid=champion]', { timeout: 5000 });
  check(p.errors.length === 0, `page errors: ${p.errors.join('; ')}`);
  await p.context().close();
});

scenario('an organiser creates a tournament and the bracket page updates live', async () => {
  const res = await fetch(`${BASE}/api/v1/tournaments`);
  const body = await res.json().catch(() => ({}));
  if (res.status === 404 && /no such API route/i.test(body?.error?.message || '')) return 'skip';
  const o = await person('Org');
  const name = `org_${Date.now().toString(36).slice(-6)}`;
  await o.fill('[data-testid=register-name]', name);
  await o.fill('[data-testid=register-password]', 'correct-horse-1');
  await o.click('[data-testid=register-submit]');
  await o.waitForSelector('[data-testid=lobby]');
  execFileSync(process.env.RALLY_BIN, ['admin', 'grant-organiser', name], { env: { ...process.env }, stdio: 'pipe' });
  // The role is in the token: log in again.
  await o.click('[data-testid=logout]');
  await o.fill('[data-testid=login-name]', name);
  await o.fill('[data-testid=login-password]', 'correct-horse-1');
  await o.click('[data-testid=login-submit]');
  await o.waitForSelector('[data-testid=nav-organiser]');
  await o.click('[data-testid=nav-organiser]');
  await o.fill('[data-testid=t-name]', 'Browser cup');
  await o.fill('[data-testid=t-capacity]', '4');
  await o.fill('[data-testid=t-points]', '1');
  await o.click('[data-testid=t-create]');
  await o.waitForSelector('[data-testid=manage-box] [data-testid=admin-open]:not([disabled])');
  await o.click('[data-testid=admin-open]');
  const tid = await o.getAttribute('[data-testid=manage-box]', 'data-id');
  // Two registered players join from their own browsers; the bracket page follows live.
  const players = [];
  for (const n of ['p1', 'p2']) {
    const p = await person(n);
    await p.fill('[data-testid=register-name]', `${n}_${name}`);
    await p.fill('[data-testid=register-password]', 'correct-horse-1');
    await p.click('[data-testid=register-submit]');
    await p.waitForSelector('[data-testid=lobby]');
    await p.goto(`${BASE}/#/tournaments/${tid}`);
    await p.click('[data-testid=tournament-join]');
    await p.waitForSelector('[data-testid=tournament-leave]');
    players.push(p);
  }
  const viewer = await person('V');
  await guest(viewer);
  await viewer.goto(`${BASE}/#/tournaments/${tid}`);
  await viewer.waitForFunction(() => document.querySelectorAll('[data-testid=entrants] li').length === 2);
  await o.goto(`${BASE}/#/organiser?t=${tid}`);
  await o.click('[data-testid=admin-start]');
  await viewer.waitForSelector('[data-testid=bracket-match]', { timeout: 10000 });
  await shot(viewer, '17-bracket');
  // Both players are prompted and play; the viewer's bracket shows a champion.
  for (const p of players) {
    await p.waitForSelector('[data-testid=match-ready-go]', { timeout: 15000 });
    await p.click('[data-testid=match-ready-go]');
  }
  await Promise.all([drive(players[0], 'track'), drive(players[1], 'ArrowUp')]);
  await viewer.waitForSelector('[data-testid=champion]', { timeout: 20000 });
  await shot(viewer, '18-champion');
  for (const p of [o, viewer, ...players]) await p.context().close();
});

// ------------------------------------------------------------------------------------ runner

let passed = 0;
let failed = 0;
let skipped = 0;
for (const s of scenarios) {
  if (ONLY && !s.name.includes(ONLY)) continue;
  const t0 = Date.now();
  try {
    const r = await s.fn();
    if (r === 'skip') {
      skipped++;
      console.log(`- skipped: ${s.name} (the server has no such API yet)`);
    } else {
      passed++;
      console.log(`✓ ${s.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
  } catch (e) {
    failed++;
    console.log(`✗ ${s.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n  ${e && e.stack ? e.stack.split('\n').slice(0, 4).join('\n  ') : e}`);
    for (const ctx of browser.contexts()) {
      for (const [i, pg] of ctx.pages().entries()) {
        await pg.screenshot({ path: path.join(ART, `failed-${scenarios.indexOf(s)}-${pg.label || i}.png`) }).catch(() => {});
      }
      await ctx.close().catch(() => {});
    }
  }
}
await browser.close();
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);
