// @generated automatically by Diesel CLI.

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> BigInt,
        actor_id -> Text,
        actor_name -> Text,
        action -> Text,
        tournament_id -> Nullable<Text>,
        target -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    match_seats (match_id, seat) {
        match_id -> Text,
        seat -> BigInt,
        player_id -> Nullable<Text>,
        score -> BigInt,
        place -> Nullable<BigInt>,
        rating_before -> Nullable<Double>,
        rating_after -> Nullable<Double>,
    }
}

diesel::table! {
    matches (id) {
        id -> Text,
        room_id -> Text,
        game -> Text,
        mode -> Text,
        rated -> Bool,
        status -> Text,
        player0_id -> Nullable<Text>,
        player1_id -> Nullable<Text>,
        score0 -> BigInt,
        score1 -> BigInt,
        winner_seat -> Nullable<BigInt>,
        end_reason -> Nullable<Text>,
        seed -> BigInt,
        config -> Text,
        input_log -> Nullable<Text>,
        final_hash -> Nullable<Text>,
        ticks -> BigInt,
        epoch -> BigInt,
        rating0_before -> Nullable<Double>,
        rating0_after -> Nullable<Double>,
        rating1_before -> Nullable<Double>,
        rating1_after -> Nullable<Double>,
        tournament_id -> Nullable<Text>,
        tournament_slot -> Nullable<Text>,
        created_at -> BigInt,
        started_at -> Nullable<BigInt>,
        finished_at -> Nullable<BigInt>,
        duration_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    players (id) {
        id -> Text,
        name -> Text,
        name_key -> Text,
        password_hash -> Nullable<Text>,
        role -> Text,
        token_epoch -> BigInt,
        rating -> Double,
        rating_deviation -> Double,
        rating_volatility -> Double,
        games_played -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    ratings (player_id, game) {
        player_id -> Text,
        game -> Text,
        rating -> Double,
        rating_deviation -> Double,
        rating_volatility -> Double,
        games_played -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    revoked_tokens (revocation_id) {
        revocation_id -> Text,
        player_id -> Text,
        expires_at -> BigInt,
        revoked_at -> BigInt,
    }
}

diesel::table! {
    tournament_entrants (tournament_id, player_id) {
        tournament_id -> Text,
        player_id -> Text,
        seed -> Nullable<BigInt>,
        disqualified -> Bool,
        joined_at -> BigInt,
    }
}

diesel::table! {
    tournaments (id) {
        id -> Text,
        name -> Text,
        game -> Text,
        format -> Text,
        third_place -> Bool,
        capacity -> BigInt,
        status -> Text,
        registration_open -> Bool,
        registration_opens_at -> Nullable<BigInt>,
        registration_closes_at -> Nullable<BigInt>,
        points_to_win -> BigInt,
        tick_hz -> BigInt,
        no_show_timeout_ms -> BigInt,
        champion_id -> Nullable<Text>,
        created_by -> Text,
        epoch -> BigInt,
        created_at -> BigInt,
        started_at -> Nullable<BigInt>,
        finished_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(match_seats -> matches (match_id));
diesel::joinable!(match_seats -> players (player_id));
diesel::joinable!(ratings -> players (player_id));
diesel::joinable!(revoked_tokens -> players (player_id));
diesel::joinable!(tournament_entrants -> players (player_id));
diesel::joinable!(tournament_entrants -> tournaments (tournament_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_log,
    match_seats,
    matches,
    players,
    ratings,
    revoked_tokens,
    tournament_entrants,
    tournaments,
);
