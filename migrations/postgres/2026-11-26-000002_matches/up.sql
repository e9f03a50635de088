-- One row per match, created with its room (before anyone plays), finished idempotently by
-- id and guarded by an ownership epoch (fencing): a write carrying a stale epoch is refused.
CREATE TABLE matches (
    id               TEXT PRIMARY KEY NOT NULL,
    room_id          TEXT NOT NULL,
    game             TEXT NOT NULL,
    -- 'quick' | 'private' | 'tournament'
    mode             TEXT NOT NULL,
    rated            BOOLEAN NOT NULL,
    -- 'created' | 'playing' | 'finished' | 'abandoned'
    status           TEXT NOT NULL,
    player0_id       TEXT REFERENCES players (id),
    player1_id       TEXT REFERENCES players (id),
    score0           BIGINT NOT NULL DEFAULT 0,
    score1           BIGINT NOT NULL DEFAULT 0,
    winner_seat      BIGINT,
    -- 'score' | 'forfeit' | 'resign' | 'abandoned'
    end_reason       TEXT,
    seed             BIGINT NOT NULL,
    -- game config JSON
    config           TEXT NOT NULL,
    -- replay input log JSON: [[tick, seat, input], ...] plus the end marker
    input_log        TEXT,
    final_hash       TEXT,
    ticks            BIGINT NOT NULL DEFAULT 0,
    -- ownership epoch (fencing token); bumped when an instance takes the match over
    epoch            BIGINT NOT NULL DEFAULT 1,
    rating0_before   DOUBLE PRECISION,
    rating0_after    DOUBLE PRECISION,
    rating1_before   DOUBLE PRECISION,
    rating1_after    DOUBLE PRECISION,
    tournament_id    TEXT,
    -- bracket slot key within the tournament, e.g. "r2m1"
    tournament_slot  TEXT,
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT,
    duration_ms      BIGINT
);
CREATE INDEX matches_finished_idx ON matches (status, finished_at);
CREATE INDEX matches_player0_idx ON matches (player0_id, created_at);
CREATE INDEX matches_player1_idx ON matches (player1_id, created_at);
CREATE INDEX matches_tournament_idx ON matches (tournament_id);
