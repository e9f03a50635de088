-- Matches of any size (issue 16): one row per seat with its player, final score, place and
-- rating change; ratings per game. `matches.player0_id`/`player1_id`, `score0`/`score1` and
-- `rating{0,1}_*` stay for the first two seats (tournaments are 1v1 and read them);
-- `match_seats` is the record for every seat of every match.
CREATE TABLE match_seats (
    match_id      TEXT NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    seat          BIGINT NOT NULL,
    -- NULL: nobody sat there (a quick-match no-show the match started without)
    player_id     TEXT REFERENCES players (id),
    score         BIGINT NOT NULL DEFAULT 0,
    -- 1-based finishing place (equal places are ties); NULL until finished
    place         BIGINT,
    rating_before DOUBLE,
    rating_after  DOUBLE,
    PRIMARY KEY (match_id, seat)
);
CREATE INDEX match_seats_player_idx ON match_seats (player_id);

-- Glicko-2 rating per player and game. A missing row is the default rating (1500, 350, 0.06).
CREATE TABLE ratings (
    player_id         TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    game              TEXT NOT NULL,
    rating            DOUBLE NOT NULL DEFAULT 1500,
    rating_deviation  DOUBLE NOT NULL DEFAULT 350,
    rating_volatility DOUBLE NOT NULL DEFAULT 0.06,
    games_played      BIGINT NOT NULL DEFAULT 0,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (player_id, game)
);
CREATE INDEX ratings_board_idx ON ratings (game, rating);

-- Every existing rating was a Pong rating: it becomes the player's "pong" rating.
INSERT INTO ratings (player_id, game, rating, rating_deviation, rating_volatility, games_played, updated_at)
SELECT id, 'pong', rating, rating_deviation, rating_volatility, games_played, updated_at
FROM players;

-- Every existing match was a two-seat match.
INSERT INTO match_seats (match_id, seat, player_id, score, place, rating_before, rating_after)
SELECT id, 0, player0_id, score0,
       CASE WHEN status <> 'finished' THEN NULL WHEN winner_seat = 1 THEN 2 ELSE 1 END,
       rating0_before, rating0_after
FROM matches;
INSERT INTO match_seats (match_id, seat, player_id, score, place, rating_before, rating_after)
SELECT id, 1, player1_id, score1,
       CASE WHEN status <> 'finished' THEN NULL WHEN winner_seat = 0 THEN 2 ELSE 1 END,
       rating1_before, rating1_after
FROM matches;
