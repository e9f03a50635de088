// @generated automatically by Diesel CLI.

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

diesel::allow_tables_to_appear_in_same_query!(players, revoked_tokens,);
