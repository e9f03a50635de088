// Tournament views: reads the tournament view — the document of GET /api/v1/tournaments/{id},
// also pushed as the `state` event (docs/protocol.md §12; src/tournament/model.rs `render`) —
// into what the bracket, standings and organiser pages draw, and decides which player and
// organiser actions the server would accept in the current state (src/tournament/plan.rs).
// Pure; unit-tested in web/test/tournament.test.js against views recorded from a server.

/**
 * @typedef {object} Entrant
 * @property {string} id
 * @property {string} name
 * @property {number|null} seed  explicit seed before the start (else null), final seed after
 * @property {number|null} rating
 * @property {boolean} disqualified
 * @property {boolean} eliminated  single elimination: knocked out of the main bracket
 */

/** @typedef {{id:string, name:string, seed:number|null}} MatchPlayer */

/**
 * @typedef {object} BracketMatch
 * @property {string} key  slot: "r2m1", or "r3third" for the third-place match
 * @property {number} round
 * @property {number} index
 * @property {boolean} thirdPlace
 * @property {(MatchPlayer|null)[]} players  by seat; null while undecided (or a bye)
 * @property {string} state  pending | ready | in_progress | finished
 * @property {number|null} winner  winning seat
 * @property {number[]|null} scores  by seat
 * @property {boolean} forfeit
 * @property {string|null} reason  score, forfeit, resign, abandoned, settled
 * @property {string|null} room  the live room (join or spectate it)
 * @property {string|null} match  match id (result and replay)
 */

/**
 * @typedef {object} Standing
 * @property {{id:string, name:string, disqualified:boolean}} player
 * @property {number|null} seed
 * @property {number} rank
 * @property {number} wins
 * @property {number} losses
 * @property {number} pointsFor
 * @property {number} pointsAgainst
 */

/**
 * @typedef {object} TournamentView
 * @property {string} id
 * @property {string} name
 * @property {string} game
 * @property {string} status  draft | registration | running | finished | cancelled
 * @property {boolean} registrationOpen
 * @property {string} format  single_elimination | round_robin
 * @property {boolean} thirdPlace
 * @property {number|null} capacity
 * @property {{pointsToWin:number|null, tickHz:number|null, noShowMs:number|null}} settings
 * @property {number|null} registrationOpensAt  Unix ms
 * @property {number|null} registrationClosesAt  Unix ms
 * @property {number|null} startedAt
 * @property {number|null} finishedAt
 * @property {Entrant[]} entrants
 * @property {{round:number, matches:BracketMatch[]}[]} rounds  empty before the start
 * @property {number|null} roundsTotal
 * @property {number|null} currentRound
 * @property {Standing[]} standings
 * @property {{id:string, name:string}|null} champion
 * @property {Record<string, any>} raw
 */

/** @param {any} v @returns {string} */
function str(v) {
  return v === undefined || v === null ? '' : String(v);
}

/** @param {any} v */
function num(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** @param {any} v */
function obj(v) {
  return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
}

/** @param {any} v */
function list(v) {
  return Array.isArray(v) ? v : [];
}

/**
 * Read a tournament view.
 * @param {any} doc
 * @returns {TournamentView}
 */
export function readTournament(doc) {
  const t = obj(doc) || {};
  /** @type {Map<string, string>} */
  const names = new Map();
  const entrants = list(t.entrants).map(obj).filter((e) => e && str(e.id)).map((e) => {
    names.set(str(e.id), str(e.name));
    return /** @type {Entrant} */ ({
      id: str(e.id), name: str(e.name) || str(e.id), seed: num(e.seed), rating: num(e.rating),
      disqualified: !!e.disqualified, eliminated: !!e.eliminated,
    });
  });
  /** @param {any} p @returns {MatchPlayer|null} */
  const player = (p) => {
    const o = obj(p);
    if (!o || !str(o.id)) return null;
    return { id: str(o.id), name: str(o.name) || names.get(str(o.id)) || str(o.id), seed: num(o.seed) };
  };
  const rounds = list(t.bracket).map(obj).filter(Boolean).map((r, ri) => {
    const round = num(r.round) ?? ri + 1;
    const matches = list(r.matches).map(obj).filter(Boolean).map((m, mi) => {
      const players = [0, 1].map((i) => player(list(m.players)[i]));
      const result = obj(m.result);
      // The result names the winner by player id.
      const w = result ? str(result.winner) : '';
      const seat = w ? players.findIndex((p) => p !== null && p.id === w) : -1;
      const index = num(m.index) ?? mi;
      const thirdPlace = !!m.third_place;
      return /** @type {BracketMatch} */ ({
        key: str(m.key) || (thirdPlace ? `r${round}third` : `r${round}m${index}`),
        round, index, thirdPlace, players,
        state: str(m.state) || 'pending',
        winner: seat === -1 ? null : seat,
        scores: result && Array.isArray(result.scores) ? result.scores.map(Number) : null,
        forfeit: !!(result && result.forfeit),
        reason: result && result.reason ? str(result.reason) : null,
        room: m.room ? str(m.room) : null,
        match: m.match_id ? str(m.match_id) : null,
      });
    });
    return { round, matches };
  });
  const standings = list(t.standings).map(obj).filter(Boolean).map((s, i) => {
    const p = obj(s.player) || {};
    return /** @type {Standing} */ ({
      player: { id: str(p.id), name: str(p.name) || names.get(str(p.id)) || str(p.id), disqualified: !!s.disqualified },
      seed: num(s.seed),
      rank: num(s.rank) ?? i + 1,
      wins: num(s.wins) ?? 0,
      losses: num(s.losses) ?? 0,
      pointsFor: num(s.points_for) ?? 0,
      pointsAgainst: num(s.points_against) ?? 0,
    });
  });
  const settings = obj(t.settings) || {};
  const champion = obj(t.champion);
  const status = str(t.status) || 'draft';
  return {
    id: str(t.id),
    name: str(t.name) || str(t.id),
    game: str(t.game) || 'pong',
    status,
    registrationOpen: status === 'registration' && !!t.registration_open,
    format: str(t.format) || 'single_elimination',
    thirdPlace: !!t.third_place,
    capacity: num(t.capacity),
    settings: { pointsToWin: num(settings.points_to_win), tickHz: num(settings.tick_hz), noShowMs: num(settings.no_show_timeout_ms) },
    registrationOpensAt: num(t.registration_opens_at),
    registrationClosesAt: num(t.registration_closes_at),
    startedAt: num(t.started_at),
    finishedAt: num(t.finished_at),
    entrants,
    rounds,
    roundsTotal: num(t.rounds),
    currentRound: num(t.current_round),
    standings,
    champion: champion && str(champion.id) ? { id: str(champion.id), name: str(champion.name) || names.get(str(champion.id)) || str(champion.id) } : null,
    raw: t,
  };
}

/** Every match of the bracket, round by round. @param {TournamentView} view */
export function allMatches(view) {
  return view.rounds.flatMap((r) => r.matches);
}

/**
 * The match in `view` where player `me` is seated and which has a live room.
 * @param {TournamentView} view
 * @param {string} me
 */
export function myLiveMatch(view, me) {
  return allMatches(view).find((m) => m.room && m.state !== 'finished' && m.players.some((p) => p && p.id === me)) || null;
}

/** Words for a tournament status. */
export const STATUS_WORDS = Object.freeze(/** @type {Record<string,string>} */ ({
  draft: 'Draft', registration: 'Registration', running: 'Running', finished: 'Finished', cancelled: 'Cancelled',
}));

/**
 * The status in words, with registration open or closed and the round.
 * @param {TournamentView} t
 */
export function statusText(t) {
  if (t.status === 'registration') return t.registrationOpen ? 'Registration open' : 'Registration closed';
  if (t.status === 'running' && t.currentRound) {
    return `Running · round ${t.currentRound}${t.roundsTotal ? ` of ${t.roundsTotal}` : ''}`;
  }
  return STATUS_WORDS[t.status] || t.status;
}

/**
 * What a signed-in player may do on the page, as the server decides it (plan_join, plan_leave):
 * `join`, `leave`, or a reason why neither.
 * @param {TournamentView} t
 * @param {{id:string, guest:boolean}|null} me
 * @returns {'join'|'leave'|'guest'|'closed'|'full'|'disqualified'|null}
 */
export function playerAction(t, me) {
  if (!me || (t.status !== 'draft' && t.status !== 'registration')) return null;
  const entry = t.entrants.find((e) => e.id === me.id);
  if (entry) return entry.disqualified ? 'disqualified' : 'leave';
  if (me.guest) return 'guest';
  if (!t.registrationOpen) return 'closed';
  if (t.capacity !== null && t.entrants.length >= t.capacity) return 'full';
  return 'join';
}

/**
 * Which organiser actions the server accepts now (src/tournament/plan.rs `plan_admin`).
 * @param {TournamentView} t
 */
export function organiserActions(t) {
  const s = t.status;
  const before = s === 'draft' || s === 'registration';
  const over = s === 'finished' || s === 'cancelled';
  return {
    /** From draft, or reopen a closed registration. */
    open: s === 'draft' || (s === 'registration' && !t.registrationOpen),
    close: s === 'registration' && t.registrationOpen,
    /** From registration (open or closed) with at least two entrants still in. */
    start: s === 'registration' && t.entrants.filter((e) => !e.disqualified).length >= 2,
    cancel: !over,
    seeding: before && t.entrants.some((e) => !e.disqualified),
    disqualify: !over && t.entrants.some((e) => !e.disqualified),
    settle: s === 'running' && settleable(t).length > 0,
  };
}

/**
 * Matches an organiser can settle by hand: running ones that have a match row (a room).
 * @param {TournamentView} t
 */
export function settleable(t) {
  if (t.status !== 'running') return [];
  return allMatches(t).filter((m) => m.match && m.state !== 'finished' && m.players[0] && m.players[1]);
}

/**
 * Round names for single elimination: Final, Semi-finals, Quarter-finals, Round N.
 * @param {number} round
 * @param {number} total
 */
export function roundName(round, total) {
  const fromEnd = total - round;
  if (fromEnd === 0) return 'Final';
  if (fromEnd === 1) return 'Semi-finals';
  if (fromEnd === 2) return 'Quarter-finals';
  return `Round ${round}`;
}

/**
 * Words for the result of a finished match.
 * @param {BracketMatch} m
 */
export function resultText(m) {
  if (m.state !== 'finished') return m.state.replace('_', ' ');
  switch (m.reason) {
    case 'forfeit': return m.scores && (m.scores[0] || m.scores[1]) ? 'won by forfeit' : 'walkover';
    case 'resign': return 'won by resignation';
    case 'abandoned': return 'time limit';
    case 'settled': return 'settled by the organiser';
    default: return m.forfeit ? 'walkover' : 'finished';
  }
}
