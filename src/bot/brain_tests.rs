#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::game::{self, GameEvent};
use std::collections::VecDeque;

fn state(ball: [i64; 4], paddles: [i64; 2]) -> PongState {
    PongState {
        tick: 100,
        ball,
        paddles,
        scores: [0, 0],
        serving_in: 0,
    }
}

fn brain(seat: u8) -> PongBrain {
    PongBrain::new(seat, PongInfo::default(), 0.0, 1)
}

#[test]
fn tracks_an_approaching_ball() {
    // Ball in mid-field moving left, towards seat 0.
    let mut b = brain(0);
    assert_eq!(
        b.decide(&state([8000, 1000, -8000, 0], [4500, 4500])),
        Intent::Up
    );
    let mut b = brain(0);
    assert_eq!(
        b.decide(&state([8000, 8000, -8000, 0], [4500, 4500])),
        Intent::Down
    );
    let mut b = brain(0);
    assert_eq!(
        b.decide(&state([8000, 4600, -8000, 0], [4500, 4500])),
        Intent::Stop
    );
    assert_eq!(b.plan(), Some(Plan::Track));
    assert_eq!(b.approaches(), 1);
}

#[test]
fn seat_one_is_mirrored() {
    let mut b = brain(1);
    // Moving right: towards seat 1.
    assert_eq!(
        b.decide(&state([8000, 1000, 8000, 0], [4500, 4500])),
        Intent::Up
    );
    // Moving left: away from seat 1, which returns to the centre.
    let mut b = brain(1);
    assert_eq!(
        b.decide(&state([8000, 1000, -8000, 0], [4500, 1000])),
        Intent::Down
    );
    assert_eq!(b.plan(), None);
}

#[test]
fn centres_when_the_ball_is_not_coming() {
    // Going away.
    let mut b = brain(0);
    assert_eq!(
        b.decide(&state([8000, 1000, 8000, 0], [1000, 4500])),
        Intent::Down
    );
    assert_eq!(
        b.decide(&state([8000, 1000, 8000, 0], [4500, 4500])),
        Intent::Stop
    );
    // Waiting for a serve: the ball rests in the centre.
    let mut b = brain(0);
    let mut s = state([8000, 4500, 0, 0], [8000, 4500]);
    s.serving_in = 30;
    assert_eq!(b.decide(&s), Intent::Up);
    // Already behind our paddle: nothing to save, go back to the centre.
    let mut b = brain(0);
    assert_eq!(
        b.decide(&state([500, 500, -8000, 0], [8000, 4500])),
        Intent::Up
    );
    assert_eq!(b.plan(), None);
    assert_eq!(b.approaches(), 0);
}

#[test]
fn hysteresis_avoids_oscillation() {
    // Step at 60 Hz and 12000 u/s: 200 units per tick; stop within 400, start beyond 450.
    let mut b = brain(0);
    let at = |ball_y: i64, paddle: i64| state([8000, ball_y, -8000, 0], [paddle, 4500]);
    assert_eq!(b.decide(&at(5000, 4500)), Intent::Down); // 500 below
    assert_eq!(b.decide(&at(5000, 4550)), Intent::Down); // 450: keep going
    assert_eq!(b.decide(&at(5000, 4650)), Intent::Stop); // 350: close enough
    assert_eq!(b.decide(&at(5000, 4580)), Intent::Stop); // 420: not far enough to restart
    assert_eq!(b.decide(&at(5000, 4500)), Intent::Down); // 500: restart
    assert_eq!(b.decide(&at(4000, 4500)), Intent::Up); // overshoot: reverse
}

#[test]
fn targets_stay_inside_the_field() {
    // Ball in the top corner: the paddle goes up and the intent holds at the wall.
    let mut b = brain(0);
    for paddle in [4500, 2000, 900] {
        let got = b.decide(&state([8000, 0, -8000, -4000], [paddle, 4500]));
        let want = if paddle == 900 {
            Intent::Stop
        } else {
            Intent::Up
        };
        assert_eq!(got, want, "paddle at {paddle}");
    }
}

#[test]
fn miss_rate_is_respected_and_seeded() {
    let approach = state([8000, 4500, -8000, 0], [4500, 4500]);
    let away = state([8000, 4500, 8000, 0], [4500, 4500]);
    let run = |miss_rate: f64, seed: u64| {
        let mut b = PongBrain::new(0, PongInfo::default(), miss_rate, seed);
        let mut plans = Vec::new();
        for _ in 0..1000 {
            b.decide(&approach);
            plans.push(b.plan().unwrap());
            // Later snapshots of the same approach keep the plan.
            b.decide(&approach);
            assert_eq!(b.plan(), plans.last().copied());
            b.decide(&away);
        }
        assert_eq!(b.approaches(), 1000);
        (plans, b.planned_misses())
    };
    let (plans, misses) = run(0.0, 7);
    assert_eq!(misses, 0);
    assert!(plans.iter().all(|p| *p == Plan::Track));
    let (plans, misses) = run(1.0, 7);
    assert_eq!(misses, 1000);
    assert!(plans.iter().all(|p| *p != Plan::Track));
    assert!(plans.contains(&Plan::Freeze));
    assert!(plans.iter().any(|p| matches!(p, Plan::AimWrong { .. })));
    let (a, misses) = run(0.3, 7);
    assert!((250..=350).contains(&misses), "{misses}");
    let (b, _) = run(0.3, 7);
    let (c, _) = run(0.3, 8);
    assert_eq!(a, b, "same seed, same plans");
    assert_ne!(a, c, "another seed, other plans");
    // Nonsense rates are clamped rather than panicking.
    assert_eq!(run(f64::NAN, 1).1, 0);
    assert_eq!(run(7.0, 1).1, 1000);
}

#[test]
fn planned_misses_keep_the_paddle_off_the_ball() {
    let info = PongInfo::default();
    let b = PongBrain::new(0, info, 1.0, 1);
    let clear = info.paddle_height / 2 + info.ball_size / 2;
    for ball_y in (0..=info.field_height).step_by(250) {
        for dir in [-1, 1] {
            let t = b.miss_target(ball_y, dir);
            assert!(
                (t - ball_y).abs() > clear,
                "ball {ball_y} dir {dir}: target {t}"
            );
            assert_eq!(t, b.clamp_centre(t));
        }
    }
    // A frozen paddle stays still whatever the ball does.
    let mut b = PongBrain::new(0, info, 1.0, 1);
    let mut frozen = None;
    for seed_y in [500, 8500, 4500, 100] {
        let intent = b.decide(&state([8000, seed_y, -8000, 0], [4500, 4500]));
        if b.plan() == Some(Plan::Freeze) {
            frozen = Some(intent);
        }
        b.decide(&state([8000, seed_y, 8000, 0], [4500, 4500]));
    }
    assert_eq!(frozen, Some(Intent::Stop));
}

#[test]
fn reads_the_info_the_server_sends() {
    let config = pong::PongConfig {
        paddle_height: 1200,
        tick_hz: 30,
        ..Default::default()
    };
    let info = PongInfo::from_json(&pong::describe(&config)).unwrap();
    assert_eq!(info, PongInfo::from_config(&config));
    assert_eq!(info.paddle_height, 1200);
    assert_eq!(info.tick_hz, 30);
    assert_eq!(info.points_to_win, Some(5));
    let mut s = state([0, 0, 0, 0], [0, 0]);
    assert!(!info.is_over(&s));
    s.scores = [2, 5];
    assert!(info.is_over(&s));
    // Missing fields keep the defaults.
    assert_eq!(
        PongInfo::from_json(&serde_json::json!({})).unwrap(),
        PongInfo::default()
    );
    for bad in [
        serde_json::json!({"paddle": {"height": "tall"}}),
        serde_json::json!({"paddle": {"height": -1}}),
        serde_json::json!({"paddle": {"x": [1]}}),
        serde_json::json!({"field": {"height": 100}}),
    ] {
        assert!(PongInfo::from_json(&bad).is_err(), "{bad}");
    }
    let s = PongState::parse(
        r#"{"tick":3,"ball":[1,2,3,4],"paddles":[5,6],"scores":[0,1],"serving_in":0}"#,
    )
    .unwrap();
    assert_eq!(s.ball, [1, 2, 3, 4]);
    assert!(PongState::parse(r#"{"tick":3}"#).is_err());
    assert_eq!(intent_value(Intent::Up), serde_json::json!("up"));
    assert_eq!(intent_value(Intent::Stop), serde_json::json!("stop"));
}

/// Two brains play a real Pong game, their inputs arriving `delay` ticks late (network
/// latency). Returns (ticks, hits, outcome scores).
fn play(miss_rate: f64, seed: u64, delay: usize, points: u32) -> (u64, u64, Vec<u32>) {
    let config = serde_json::json!({ "points_to_win": points });
    let mut g = game::create("pong", &config, seed).unwrap();
    let info = PongInfo::default();
    let mut brains = [
        PongBrain::new(0, info, miss_rate, seed ^ 0xA),
        PongBrain::new(1, info, miss_rate, seed ^ 0xB),
    ];
    let mut held = [Intent::Stop; 2];
    let mut in_flight: VecDeque<(u8, Intent)> = VecDeque::new();
    let mut due: VecDeque<usize> = VecDeque::new();
    let mut events = Vec::new();
    let mut hits = 0;
    let mut tick = 0u64;
    while g.outcome().is_none() {
        tick += 1;
        assert!(tick < 60 * 60 * 30, "the game did not end in 30 minutes");
        // Deliver inputs whose delay has elapsed.
        while due.front().is_some_and(|&t| t as u64 <= tick) {
            due.pop_front();
            if let Some((seat, intent)) = in_flight.pop_front() {
                g.apply_input(seat, &intent_value(intent)).unwrap();
            }
        }
        events.clear();
        g.step(&mut events);
        hits += events
            .iter()
            .filter(|e| matches!(e, GameEvent::Custom { name, .. } if name == "hit"))
            .count() as u64;
        let s = PongState::parse(g.snapshot().get()).unwrap();
        for (seat, brain) in brains.iter_mut().enumerate() {
            let intent = brain.decide(&s);
            if intent != held[seat] {
                held[seat] = intent;
                in_flight.push_back((seat as u8, intent));
                due.push_back(tick as usize + delay);
            }
        }
    }
    (tick, hits, g.outcome().unwrap().scores)
}

#[test]
fn brains_finish_real_games() {
    for seed in 1..=4 {
        // Perfect followers still lose rallies (physics), just later.
        let (ticks, hits, scores) = play(0.0, seed, 2, 3);
        assert!(scores.contains(&3), "{scores:?}");
        assert!(
            hits >= 6,
            "a tracking paddle returns balls: {hits} hits in {ticks} ticks"
        );
        // With misses the games are short.
        let (ticks_missing, _, scores) = play(0.3, seed, 2, 3);
        assert!(scores.contains(&3), "{scores:?}");
        assert!(ticks_missing < 60 * 120, "{ticks_missing} ticks");
    }
}
