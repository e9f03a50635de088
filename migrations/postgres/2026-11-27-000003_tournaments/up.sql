-- Tournaments, their entrants, and the organiser audit log. Brackets are not stored: they are
-- rebuilt from the entrants (seeds, disqualifications) and the tournament's match rows
-- (matches.tournament_id / tournament_slot), which are the source of truth for results.
CREATE TABLE tournaments (
    id                     TEXT PRIMARY KEY NOT NULL,
    name                   TEXT NOT NULL,
    game                   TEXT NOT NULL,
    -- 'single_elimination' | 'round_robin'
    format                 TEXT NOT NULL,
    third_place            BOOLEAN NOT NULL DEFAULT FALSE,
    capacity               BIGINT NOT NULL,
    -- 'draft' | 'registration' | 'running' | 'finished' | 'cancelled'
    status                 TEXT NOT NULL,
    -- while status = 'registration': whether players may join now
    registration_open      BOOLEAN NOT NULL DEFAULT FALSE,
    -- Unix ms; NULL = opened / closed by hand
    registration_opens_at  BIGINT,
    registration_closes_at BIGINT,
    points_to_win          BIGINT NOT NULL,
    tick_hz                BIGINT NOT NULL,
    no_show_timeout_ms     BIGINT NOT NULL,
    champion_id            TEXT REFERENCES players (id),
    created_by             TEXT NOT NULL REFERENCES players (id),
    -- ownership epoch (fencing token): bumped when a process restores the tournament; every
    -- write of the owning actor carries it
    epoch                  BIGINT NOT NULL DEFAULT 1,
    created_at             BIGINT NOT NULL,
    started_at             BIGINT,
    finished_at            BIGINT
);
CREATE INDEX tournaments_status_idx ON tournaments (status, created_at);

CREATE TABLE tournament_entrants (
    tournament_id TEXT NOT NULL REFERENCES tournaments (id) ON DELETE CASCADE,
    player_id     TEXT NOT NULL REFERENCES players (id),
    -- before the start: the organiser's explicit seed (NULL = by rating); from the start: the
    -- final seed, 1 = best
    seed          BIGINT,
    disqualified  BOOLEAN NOT NULL DEFAULT FALSE,
    joined_at     BIGINT NOT NULL,
    PRIMARY KEY (tournament_id, player_id)
);

-- At most one recorded result per bracket slot: a replayed or settled match can never count
-- twice.
CREATE UNIQUE INDEX matches_tournament_result_idx ON matches (tournament_id, tournament_slot)
    WHERE status = 'finished';

-- Who did what, when (organiser actions).
CREATE TABLE audit_log (
    id            TEXT PRIMARY KEY NOT NULL,
    at            BIGINT NOT NULL,
    actor_id      TEXT NOT NULL,
    actor_name    TEXT NOT NULL,
    -- e.g. 'tournament.create', 'tournament.start', 'tournament.disqualify'
    action        TEXT NOT NULL,
    tournament_id TEXT,
    -- the player or match acted upon, if any
    target        TEXT,
    -- JSON with the action's parameters
    detail        TEXT NOT NULL
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_tournament_idx ON audit_log (tournament_id, at);
