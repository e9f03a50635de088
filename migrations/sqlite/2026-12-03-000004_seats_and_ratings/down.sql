DROP TABLE ratings;
DROP TABLE match_seats;
