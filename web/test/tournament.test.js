import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  readTournament, myLiveMatch, roundName, statusText, playerAction, organiserActions, settleable, allMatches, resultText,
} from '../js/tournament.js';

/** Views recorded from a rally server (see the fixture's "about"). */
const views = JSON.parse(fs.readFileSync(new URL('./fixtures/tournament-views.json', import.meta.url), 'utf8'));
const se = views.single_elimination;
const rr = views.round_robin;

test('reads a single-elimination view in registration: entrants, settings, no bracket yet', () => {
  const t = readTournament(se.registration);
  assert.equal(t.name, 'Bot cup');
  assert.equal(t.status, 'registration');
  assert.equal(t.registrationOpen, true);
  assert.equal(t.thirdPlace, true);
  assert.equal(t.capacity, 8);
  assert.deepEqual(t.settings, { pointsToWin: 1, tickHz: 60, noShowMs: 5000 });
  assert.equal(t.entrants.length, 4);
  assert.equal(t.entrants[0].seed, null, 'seeds are set at the start');
  assert.equal(t.entrants[0].rating, 1500);
  assert.deepEqual(t.rounds, []);
  assert.deepEqual(t.standings, []);
  assert.equal(t.roundsTotal, null);
  assert.equal(statusText(t), 'Registration open');
});

test('reads the bracket at the start: seeded first round, third-place slot, undecided players', () => {
  const t = readTournament(se.started);
  assert.equal(t.status, 'running');
  assert.equal(t.roundsTotal, 2);
  assert.equal(t.currentRound, 1);
  assert.deepEqual(t.rounds.map((r) => r.matches.map((m) => m.key)), [['r1m0', 'r1m1'], ['r2m0', 'r2third']]);
  const [m0] = t.rounds[0].matches;
  assert.deepEqual(m0.players.map((p) => p && p.seed), [1, 4]);
  assert.equal(m0.state, 'in_progress');
  assert.equal(m0.winner, null);
  assert.equal(t.rounds[1].matches[1].thirdPlace, true);
  assert.deepEqual(t.rounds[1].matches[0].players, [null, null]);
  assert.deepEqual(t.entrants.map((e) => e.seed).sort(), [1, 2, 3, 4]);
  assert.equal(statusText(t), 'Running · round 1 of 2');
});

test('reads a finished bracket: winners by seat, scores, match ids, champion, eliminated', () => {
  const t = readTournament(se.finished);
  assert.equal(t.status, 'finished');
  assert.equal(t.currentRound, null);
  const final = t.rounds[1].matches[0];
  assert.equal(final.state, 'finished');
  assert.ok(final.winner === 0 || final.winner === 1);
  const winner = /** @type {import('../js/tournament.js').MatchPlayer} */ (final.players[/** @type {number} */ (final.winner)]);
  assert.equal(t.champion?.id, winner.id);
  assert.equal(t.champion?.name, winner.name);
  assert.ok(final.match && final.scores && final.reason === 'score');
  assert.equal(final.room, null, 'no live room once finished');
  // The two first-round losers are eliminated; the third-place match does not count.
  const losers = t.rounds[0].matches.map((m) => m.players[1 - /** @type {number} */ (m.winner)]?.id);
  assert.deepEqual(t.entrants.filter((e) => e.eliminated).map((e) => e.id).sort(), [...losers, final.players[1 - /** @type {number} */ (final.winner)]?.id].sort());
  assert.equal(t.standings[0].rank, 1);
  assert.equal(t.standings[0].player.id, t.champion?.id);
  assert.equal(myLiveMatch(t, t.entrants[0].id), null);
  assert.equal(statusText(t), 'Finished');
});

test('reads a round robin: rounds of matches, live room of the current match, standings', () => {
  const t = readTournament(rr.running);
  assert.equal(t.format, 'round_robin');
  assert.equal(t.roundsTotal, 3);
  const live = t.rounds[0].matches[0];
  assert.equal(live.state, 'in_progress');
  assert.ok(live.room && live.match);
  const seated = /** @type {import('../js/tournament.js').MatchPlayer} */ (live.players[0]);
  assert.equal(myLiveMatch(t, seated.id)?.room, live.room);
  const idle = t.entrants.find((e) => !live.players.some((p) => p && p.id === e.id));
  assert.equal(myLiveMatch(t, /** @type {any} */ (idle).id), null);
  assert.equal(t.standings.length, 3);
  const done = readTournament(rr.finished);
  assert.deepEqual(done.standings.map((s) => s.wins), [2, 1, 0]);
  assert.equal(done.standings[0].player.id, done.champion?.id);
});

test('player actions follow the server rules', () => {
  const t = readTournament(se.registration);
  const inside = { id: t.entrants[0].id, guest: false };
  const other = { id: 'someone-else', guest: false };
  assert.equal(playerAction(t, inside), 'leave');
  assert.equal(playerAction(t, other), 'join');
  assert.equal(playerAction(t, { id: 'g', guest: true }), 'guest');
  assert.equal(playerAction(t, null), null);
  assert.equal(playerAction(readTournament({ ...se.registration, registration_open: false }), other), 'closed');
  assert.equal(playerAction(readTournament({ ...se.registration, capacity: 4 }), other), 'full');
  const dq = readTournament({ ...se.registration, entrants: se.registration.entrants.map((/** @type {any} */ e, /** @type {number} */ i) => ({ ...e, disqualified: i === 0 })) });
  assert.equal(playerAction(dq, inside), 'disqualified');
  assert.equal(playerAction(readTournament(se.started), inside), null, 'no withdrawing once started');
});

test('organiser actions follow the server rules', () => {
  const draft = readTournament({ ...se.registration, status: 'draft', registration_open: false, entrants: [] });
  assert.deepEqual(organiserActions(draft), { open: true, close: false, start: false, cancel: true, seeding: false, disqualify: false, settle: false });
  const open = organiserActions(readTournament(se.registration));
  assert.deepEqual([open.open, open.close, open.start, open.seeding, open.disqualify, open.settle], [false, true, true, true, true, false]);
  const closed = organiserActions(readTournament({ ...se.registration, registration_open: false }));
  assert.deepEqual([closed.open, closed.close, closed.start], [true, false, true], 'a closed registration reopens, and can start');
  const alone = organiserActions(readTournament({ ...se.registration, entrants: se.registration.entrants.slice(0, 1) }));
  assert.equal(alone.start, false, 'two entrants at least');
  const running = readTournament(rr.running);
  const acts = organiserActions(running);
  assert.deepEqual([acts.open, acts.start, acts.seeding, acts.cancel, acts.disqualify, acts.settle], [false, false, false, true, true, true]);
  assert.deepEqual(settleable(running).map((m) => m.key), ['r1m0'], 'only the match with a room');
  const over = organiserActions(readTournament(se.finished));
  assert.deepEqual(Object.values(over), [false, false, false, false, false, false, false]);
});

test('tolerates empty and malformed documents', () => {
  const e = readTournament(null);
  assert.equal(e.status, 'draft');
  assert.deepEqual([e.rounds, e.entrants, e.standings], [[], [], []]);
  const odd = readTournament({ id: 't', bracket: [{ matches: [{ players: [{ id: 'x', name: 'X' }, 'junk'], result: { winner: 'nobody' } }, null] }], entrants: [null, { id: '' }] });
  assert.equal(odd.rounds[0].round, 1);
  assert.equal(odd.rounds[0].matches.length, 1);
  assert.equal(odd.rounds[0].matches[0].players[1], null);
  assert.equal(odd.rounds[0].matches[0].winner, null);
  assert.equal(odd.rounds[0].matches[0].key, 'r1m0');
  assert.equal(odd.entrants.length, 0);
  assert.equal(allMatches(odd).length, 1);
});

test('names rounds from the end and results in words', () => {
  assert.deepEqual([1, 2, 3, 4].map((r) => roundName(r, 4)), ['Round 1', 'Quarter-finals', 'Semi-finals', 'Final']);
  const m = readTournament(se.finished).rounds[0].matches[0];
  assert.equal(resultText(m), 'finished');
  assert.equal(resultText({ ...m, reason: 'settled' }), 'settled by the organiser');
  assert.equal(resultText({ ...m, reason: 'forfeit', forfeit: true, scores: [0, 0] }), 'walkover');
  assert.equal(resultText({ ...m, state: 'in_progress' }), 'in progress');
});
