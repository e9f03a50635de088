DROP TABLE audit_log;
DROP INDEX matches_tournament_result_idx;
DROP TABLE tournament_entrants;
DROP TABLE tournaments;
