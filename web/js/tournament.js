// Tournament views: turns GET /api/v1/tournaments/{id} into what the bracket and standings
// pages draw. The tournaments API (issue 4) was written in parallel with this client, so the
// reader accepts the shapes of src/tournament/bracket.rs (RoundView, MatchView, Standing) and a
// few plausible variants (ids or objects for players, `bracket` or `rounds`). Pure.

/**
 * @typedef {object} Entrant
 * @property {string} id
 * @property {string} name
 * @property {number|null} seed
 * @property {boolean} disqualified
 */

/**
 * @typedef {object} BracketMatch
 * @property {string} key  "r{round}-{index}" or "r{round}-3rd"
 * @property {number} round
 * @property {number} index
 * @property {boolean} thirdPlace
 * @property {(Entrant|null)[]} players  by seat; null while undecided
 * @property {string} state  pending | ready | in_progress | finished
 * @property {number|null} winner  seat
 * @property {number[]|null} scores
 * @property {boolean} forfeit
 * @property {string|null} room  live room (spectatable)
 * @property {string|null} match  match id (for the result and replay)
 */

/**
 * @typedef {object} Standing
 * @property {Entrant} player
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
 * @property {string} status  draft | registration | running | finished | cancelled
 * @property {string} format  single_elimination | round_robin
 * @property {number|null} capacity
 * @property {Entrant[]} entrants
 * @property {{round:number, matches:BracketMatch[]}[]} rounds
 * @property {Standing[]} standings
 * @property {number|null} currentRound
 * @property {Entrant|null} champion
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

/**
 * Read a tournament document.
 * @param {any} t
 * @returns {TournamentView}
 */
export function readTournament(t) {
  t = t && typeof t === 'object' ? t : {};
  /** @type {Map<string, Entrant>} */
  const byId = new Map();
  /** @param {any} e @param {number|null} seed */
  const entrant = (e, seed = null) => {
    if (e === null || e === undefined) return null;
    const id = typeof e === 'object' ? str(e.id ?? e.player ?? e.player_id) : str(e);
    if (!id) return null;
    const known = byId.get(id);
    const name = typeof e === 'object' ? str(e.name ?? e.player_name) : '';
    const s = typeof e === 'object' ? num(e.seed) ?? seed : seed;
    if (known) {
      if (name && !known.name) known.name = name;
      if (s !== null && known.seed === null) known.seed = s;
      return known;
    }
    /** @type {Entrant} */
    const made = { id, name: name || id, seed: s, disqualified: !!(typeof e === 'object' && e.disqualified) };
    byId.set(id, made);
    return made;
  };
  const entrants = /** @type {Entrant[]} */ ((Array.isArray(t.entrants) ? t.entrants : [])
    .map((/** @type {any} */ e, /** @type {number} */ i) => entrant(e, typeof e === 'object' && e && num(e.seed) !== null ? num(e.seed) : i + 1))
    .filter(Boolean));
  // Names may come in a side table.
  if (t.players && typeof t.players === 'object' && !Array.isArray(t.players)) {
    for (const [id, p] of Object.entries(t.players)) {
      const e = entrant({ id, ...(typeof p === 'object' ? p : { name: p }) });
      if (e && typeof p === 'string') e.name = p;
    }
  }
  const bracket = t.bracket && typeof t.bracket === 'object' && !Array.isArray(t.bracket) ? t.bracket : {};
  const roundsIn = Array.isArray(t.rounds) ? t.rounds
    : Array.isArray(bracket.rounds) ? bracket.rounds
      : Array.isArray(t.bracket) ? t.bracket : [];
  const rounds = roundsIn.map((/** @type {any} */ r, /** @type {number} */ ri) => {
    const round = num(r.round) ?? ri + 1;
    const matches = (Array.isArray(r.matches) ? r.matches : []).map((/** @type {any} */ m, /** @type {number} */ mi) => {
      const slot = m.slot && typeof m.slot === 'object' ? m.slot : m;
      const index = num(slot.index) ?? mi;
      const thirdPlace = !!slot.third_place;
      const stateObj = m.state && typeof m.state === 'object' ? m.state : { state: m.state ?? m.status };
      const result = stateObj.result || m.result || null;
      const seeds = Array.isArray(m.seeds) ? m.seeds : [];
      const players = [0, 1].map((i) => {
        const p = Array.isArray(m.players) ? m.players[i] : null;
        return entrant(p, num(seeds[i]));
      });
      // The winner may be a seat or a player id.
      const w = result ? result.winner : m.winner_seat ?? m.winner;
      const winner = typeof w === 'string' ? players.findIndex((p) => p !== null && p.id === w) : num(w);
      return /** @type {BracketMatch} */ ({
        key: m.key ? str(m.key) : thirdPlace ? `r${round}-3rd` : `r${round}-${index}`,
        round, index, thirdPlace, players,
        state: str(stateObj.state || 'pending'),
        winner: winner === -1 ? null : winner,
        scores: result && Array.isArray(result.scores) ? result.scores : Array.isArray(m.scores) ? m.scores : null,
        forfeit: !!(result && result.forfeit),
        room: m.room ? str(m.room) : m.room_id ? str(m.room_id) : null,
        match: m.match ? str(m.match) : m.match_id ? str(m.match_id) : null,
      });
    });
    return { round, matches };
  });
  const standingsIn = Array.isArray(t.standings) ? t.standings : Array.isArray(bracket.standings) ? bracket.standings : [];
  const standings = standingsIn.map((/** @type {any} */ s, /** @type {number} */ i) => ({
    player: /** @type {Entrant} */ (entrant(s.player ?? s, num(s.seed))) || { id: '?', name: '?', seed: null, disqualified: false },
    rank: num(s.rank) ?? i + 1,
    wins: num(s.wins) ?? 0,
    losses: num(s.losses) ?? 0,
    pointsFor: num(s.points_for) ?? 0,
    pointsAgainst: num(s.points_against) ?? 0,
  }));
  for (const s of standingsIn) {
    if (s && s.disqualified) {
      const e = byId.get(str(s.player ?? s.id));
      if (e) e.disqualified = true;
    }
  }
  const formatRaw = t.format && typeof t.format === 'object' ? t.format.kind : t.format;
  return {
    id: str(t.id),
    name: str(t.name) || str(t.id),
    status: str(t.status) || 'draft',
    format: str(formatRaw) || (standings.length && !rounds.length ? 'round_robin' : 'single_elimination'),
    capacity: num(t.capacity),
    entrants: entrants.length ? entrants : [...byId.values()],
    rounds,
    standings,
    currentRound: num(t.current_round ?? t.round),
    champion: t.champion ? entrant(t.champion) : null,
    raw: t,
  };
}

/**
 * The match in `view` where player `me` is seated and which is ready or running, with a room.
 * @param {TournamentView} view
 * @param {string} me
 */
export function myLiveMatch(view, me) {
  for (const r of view.rounds) {
    for (const m of r.matches) {
      if (m.room && (m.state === 'ready' || m.state === 'in_progress') && m.players.some((p) => p && p.id === me)) {
        return m;
      }
    }
  }
  return null;
}

/** Words for a tournament status. */
export const STATUS_WORDS = Object.freeze(/** @type {Record<string,string>} */ ({
  draft: 'Draft', registration: 'Registration open', running: 'Running', finished: 'Finished', cancelled: 'Cancelled',
}));

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
