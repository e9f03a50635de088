//! Configuration bodies from arbitrary JSON: the private room body of `POST /api/v1/rooms`
//! (`rally::api::rooms::room_config`, then the game's own validation, `rally::game::create`)
//! and the tournament body of `POST /api/v1/admin/tournaments`
//! (`rally::api::admin::validate_create`). The first byte picks which; the rest is the body,
//! parsed as the API's JSON extractor does (`serde_json` into the body type).
//!
//! Invariants:
//! - nothing panics (overflow checks on);
//! - every refusal is a 400 `validation`;
//! - an accepted room config gives a game whose settings are all within their documented
//!   ranges, that runs (a few ticks, a snapshot that is JSON), and whose saved state restores
//!   to the same state hash; the config re-validates after a JSON round trip;
//! - an accepted tournament has a trimmed name of 1..=80 characters, a capacity, a no-show
//!   window and registration times within their documented bounds, and match settings the game
//!   accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rally::api::admin::{validate_create, CreateTournament};
use rally::api::rooms::{room_config, CreateRoom};
use rally::error::ErrorKind;
use rally::game::cycles::CyclesConfig;
use rally::game::pong::PongConfig;
use rally::tournament::bracket::{MAX_ELIMINATION_ENTRANTS, MAX_ROUND_ROBIN_ENTRANTS};
use rally::tournament::model::{MAX_NAME_CHARS, MAX_NO_SHOW_MS, MIN_NO_SHOW_MS};

/// The server's defaults (`RALLY_TICK_HZ`, `RALLY_POINTS_TO_WIN`).
const TICK_HZ: u32 = 60;
const POINTS_TO_WIN: u32 = 5;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    if which & 1 == 0 {
        room(body);
    } else {
        tournament(body);
    }
});

fn room(body: &[u8]) {
    let Ok(body) = serde_json::from_slice::<CreateRoom>(body) else {
        return;
    };
    let (game, config) = match room_config(body, TICK_HZ) {
        Ok(c) => c,
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::Validation, "{}", e.message);
            return;
        }
    };
    assert!(config.is_object());
    let seed = config.to_string().len() as u64;
    let mut g = match rally::game::create(&game, &config, seed) {
        Ok(g) => g,
        Err(_) => return, // the handler maps this to 400 `validation`
    };
    match game.as_str() {
        rally::game::pong::KIND => {
            let parsed = PongConfig::from_json(&config).expect("the game accepted this config");
            in_ranges(&parsed);
            let again = serde_json::to_value(&parsed).expect("config encodes");
            assert_eq!(
                PongConfig::from_json(&again),
                Ok(parsed),
                "config round trip"
            );
        }
        rally::game::cycles::KIND => {
            let parsed = CyclesConfig::from_json(&config).expect("the game accepted this config");
            cycles_in_ranges(&parsed);
            assert_eq!(g.seats() as u32, parsed.seats);
            let again = serde_json::to_value(&parsed).expect("config encodes");
            assert_eq!(
                CyclesConfig::from_json(&again),
                Ok(parsed),
                "config round trip"
            );
        }
        other => panic!("room_config accepted an unknown game {other:?}"),
    }
    let mut events = Vec::new();
    for _ in 0..3 {
        g.step(&mut events);
    }
    serde_json::from_str::<serde_json::Value>(g.snapshot().get()).expect("snapshot is JSON");
    let restored = rally::game::restore(&game, &g.save()).expect("a saved game restores");
    assert_eq!(
        restored.state_hash(),
        g.state_hash(),
        "save/restore changed the state"
    );
}

fn in_ranges(c: &PongConfig) {
    use rally::game::pong::*;
    assert!((1..=POINTS_TO_WIN_MAX).contains(&c.points_to_win));
    assert!((TICK_HZ_MIN..=TICK_HZ_MAX).contains(&c.tick_hz));
    assert!(c.serve_delay_ms <= SERVE_DELAY_MS_MAX);
    assert!(c.paddle_height <= PADDLE_HEIGHT_MAX);
    assert!((MAX_BALL_SPEED_MIN..=BALL_SPEED_MAX).contains(&c.max_ball_speed));
    assert!((BALL_SPEED_MIN..=c.max_ball_speed).contains(&c.ball_speed));
    assert!((SPEEDUP_PERMILLE_MIN..=SPEEDUP_PERMILLE_MAX).contains(&c.ball_speedup_permille));
    assert!(c.paddle_speed >= PADDLE_SPEED_MIN);
    assert!(
        u64::from(c.paddle_speed) * 1000
            <= u64::from(c.max_ball_speed) * PADDLE_SPEED_MAX_PERMILLE_OF_BALL,
        "paddle faster than 37.5 % of the top ball speed: rallies may not end"
    );
}

fn cycles_in_ranges(c: &CyclesConfig) {
    use rally::game::cycles::*;
    assert!((SEATS_MIN..=SEATS_MAX).contains(&c.seats));
    assert!((SIDE_MIN..=SIDE_MAX).contains(&c.width));
    assert!((SIDE_MIN..=SIDE_MAX).contains(&c.height));
    assert!((1..=ROUNDS_TO_WIN_MAX).contains(&c.rounds_to_win));
    assert!((1..=MOVE_EVERY_MAX).contains(&c.move_every));
    assert!(c.round_delay_ms <= ROUND_DELAY_MS_MAX);
    assert!((TICK_HZ_MIN..=TICK_HZ_MAX).contains(&c.tick_hz));
}

fn tournament(body: &[u8]) {
    let Ok(body) = serde_json::from_slice::<CreateTournament>(body) else {
        return;
    };
    let valid = match validate_create(&body, POINTS_TO_WIN, TICK_HZ) {
        Ok(v) => v,
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::Validation, "{}", e.message);
            return;
        }
    };
    let chars = valid.name.chars().count();
    assert!(
        (1..=MAX_NAME_CHARS).contains(&chars),
        "name of {chars} characters"
    );
    assert_eq!(valid.name, valid.name.trim(), "name not trimmed");
    let max = if body.format == "round_robin" {
        assert!(!body.third_place);
        MAX_ROUND_ROBIN_ENTRANTS
    } else {
        assert_eq!(body.format, "single_elimination");
        MAX_ELIMINATION_ENTRANTS
    };
    assert!((2..=max).contains(&(body.capacity as usize)));
    let no_show = valid.settings.no_show_timeout_ms;
    assert!((MIN_NO_SHOW_MS..=MAX_NO_SHOW_MS).contains(&no_show));
    if let (Some(o), Some(c)) = (body.registration_opens_at, body.registration_closes_at) {
        assert!(c > o);
    }
    let config = valid.settings.game_config();
    let parsed = PongConfig::from_json(&config).expect("the game accepted these settings");
    in_ranges(&parsed);
    assert_eq!(
        parsed.points_to_win,
        body.points_to_win.unwrap_or(POINTS_TO_WIN)
    );
    assert_eq!(parsed.tick_hz, body.tick_hz.unwrap_or(TICK_HZ));
}
