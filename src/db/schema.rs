// @generated automatically by Diesel CLI.

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
    revoked_tokens (revocation_id) {
        revocation_id -> Text,
        player_id -> Text,
        expires_at -> BigInt,
        revoked_at -> BigInt,
    }
}

diesel::joinable!(revoked_tokens -> players (player_id));

diesel::allow_tables_to_appear_in_same_query!(matches, players, revoked_tokens,);
