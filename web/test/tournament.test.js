import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readTournament, myLiveMatch, roundName } from '../js/tournament.js';

test('reads the bracket module shapes (RoundView, MatchView, Standing)', () => {
  const v = readTournament({
    id: 't1', name: 'Friday cup', status: 'running', format: 'single_elimination', capacity: 8,
    entrants: [{ id: 'a', name: 'Ann', seed: 1 }, { id: 'b', name: 'Bob', seed: 2 }, { id: 'c', name: 'Cid', seed: 3 }],
    rounds: [
      { round: 1, matches: [{ slot: { round: 1, index: 1 }, players: ['b', 'c'], seeds: [2, 3], state: { state: 'finished', result: { winner: 0, scores: [1, 0], forfeit: false } } }] },
      { round: 2, matches: [{ slot: { round: 2, index: 0 }, players: ['a', 'b'], seeds: [1, 2], state: { state: 'in_progress' }, room: 'R1' }] },
    ],
    standings: [{ player: 'a', seed: 1, rank: 1, wins: 0, losses: 0, points_for: 0, points_against: 0, disqualified: false }],
  });
  assert.equal(v.name, 'Friday cup');
  assert.equal(v.entrants.length, 3);
  assert.equal(v.rounds[0].matches[0].players[0]?.name, 'Bob');
  assert.equal(v.rounds[0].matches[0].winner, 0);
  assert.deepEqual(v.rounds[0].matches[0].scores, [1, 0]);
  assert.equal(v.rounds[1].matches[0].key, 'r2-0');
  assert.equal(myLiveMatch(v, 'a')?.room, 'R1');
  assert.equal(myLiveMatch(v, 'c'), null);
  assert.equal(v.standings[0].player.name, 'Ann');
});

test('tolerates variants and empty documents', () => {
  const v = readTournament({ id: 't', bracket: { rounds: [{ matches: [{ players: [{ id: 'x', name: 'X' }, null], status: 'pending' }] }] }, format: { kind: 'round_robin' } });
  assert.equal(v.format, 'round_robin');
  assert.equal(v.rounds[0].round, 1);
  assert.equal(v.rounds[0].matches[0].players[1], null);
  assert.equal(v.rounds[0].matches[0].state, 'pending');
  const e = readTournament(null);
  assert.equal(e.status, 'draft');
  assert.deepEqual(e.rounds, []);
});

test('names rounds from the end', () => {
  assert.deepEqual([1, 2, 3, 4].map((r) => roundName(r, 4)), ['Round 1', 'Quarter-finals', 'Semi-finals', 'Final']);
});

test('reads the issue-4 API document: bracket array, rounds count, winner by player id', () => {
  const v = readTournament({
    id: 't9', name: 'Cup', format: 'single_elimination', status: 'finished', capacity: 4, rounds: 1, current_round: 1,
    entrants: [{ id: 'a', name: 'Ann', seed: 1, rating: 1600, disqualified: false, eliminated: false }, { id: 'b', name: 'Bob', seed: 2, disqualified: false }],
    bracket: [{ round: 1, matches: [{ key: 'r1m0', round: 1, index: 0, third_place: false,
      players: [{ id: 'a', name: 'Ann', seed: 1 }, { id: 'b', name: 'Bob', seed: 2 }], state: 'finished',
      result: { winner: 'b', scores: [0, 1], forfeit: false, reason: 'score' }, match_id: 'M1', room: null }] }],
    standings: [{ player: { id: 'b', name: 'Bob' }, seed: 2, rank: 1, wins: 1, losses: 0, points_for: 1, points_against: 0, disqualified: false }],
    champion: { id: 'b', name: 'Bob' },
  });
  const m = v.rounds[0].matches[0];
  assert.equal(m.key, 'r1m0');
  assert.equal(m.winner, 1);
  assert.equal(m.match, 'M1');
  assert.equal(v.champion?.name, 'Bob');
  assert.equal(v.currentRound, 1);
  assert.equal(v.standings[0].player.name, 'Bob');
});
