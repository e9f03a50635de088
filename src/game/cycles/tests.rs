#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use proptest::prelude::*;
use serde_json::{json, Value};

/// A small, fast configuration: moves every tick, one tick of round delay.
fn config(seats: u32) -> CyclesConfig {
    CyclesConfig {
        seats,
        width: 16,
        height: 16,
        rounds_to_win: 3,
        move_every: 1,
        round_delay_ms: 0,
        tick_hz: 60,
    }
}

fn step(g: &mut Cycles) -> Vec<GameEvent> {
    let mut events = Vec::new();
    g.step(&mut events);
    events
}

fn custom<'a>(events: &'a [GameEvent], name: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter_map(|e| match e {
            GameEvent::Custom { name: n, data } if n == name => Some(data),
            _ => None,
        })
        .collect()
}

/// Puts `seat`'s cycle on `cells` (spawn first, head last) heading `dir`, riding, and rebuilds
/// the grid. Seats not placed keep their state.
fn place(g: &mut Cycles, seat: usize, cells: &[(u16, u16)], dir: u8) {
    let rider = &mut g.riders[seat];
    rider.trail = cells.iter().flat_map(|&(x, y)| [x, y]).collect();
    rider.dir = dir;
    rider.status = Status::Riding;
    rider.turns.clear();
    rebuild(g);
}

fn rebuild(g: &mut Cycles) {
    g.grid = vec![0; grid_len(&g.config)];
    let w = g.config.width as usize;
    for (seat, rider) in g.riders.iter().enumerate() {
        for cell in rider.trail.chunks_exact(2) {
            g.grid[usize::from(cell[1]) * w + usize::from(cell[0])] = seat as u8 + 1;
        }
    }
}

/// A game whose cycles move at the next step (the round delay is over).
fn moving(config: CyclesConfig) -> Cycles {
    let mut g = Cycles::new(config, 7);
    g.tick = g.first_move_tick() - 1;
    g
}

fn snapshot_json(g: &Cycles) -> Value {
    serde_json::from_str(g.snapshot().get()).unwrap()
}

/// The simplest survival policy: turn when the cell ahead is blocked, to a free side.
fn dodge(g: &Cycles, seat: usize) -> Option<&'static str> {
    let (x, y, dir) = g.heads()[seat]?;
    let free = |d: u8| {
        let (dx, dy) = step_of(d);
        g.is_free(i32::from(x) + dx, i32::from(y) + dy)
    };
    if free(dir) {
        None
    } else if free(Turn::Left.apply(dir)) {
        Some("left")
    } else {
        Some("right")
    }
}

// ---- config ----------------------------------------------------------------------------------

#[test]
fn config_defaults_and_refusals_name_the_field() {
    let d = CyclesConfig::from_json(&Value::Null).unwrap();
    assert_eq!(d, CyclesConfig::default());
    assert_eq!((d.seats, d.width, d.height), (4, 64, 48));
    assert_eq!(
        CyclesConfig::from_json(&json!({"seats": 6})).unwrap().seats,
        6
    );
    let cases = [
        (json!({"seats": 1}), "seats must be in 2..=8, got 1"),
        (json!({"seats": 9}), "seats must be in 2..=8"),
        (json!({"seats": 300}), "seats must be in 2..=8, got 300"),
        (json!({"width": 15}), "width must be in 16..=128"),
        (json!({"height": 129}), "height must be in 16..=128"),
        (
            json!({"rounds_to_win": 0}),
            "rounds_to_win must be in 1..=9",
        ),
        (json!({"rounds_to_win": 10}), "rounds_to_win"),
        (json!({"move_every": 0}), "move_every must be in 1..=30"),
        (json!({"move_every": 31}), "move_every"),
        (
            json!({"round_delay_ms": 10_001}),
            "round_delay_ms must be in 0..=10000",
        ),
        (json!({"tick_hz": 5}), "tick_hz must be in 10..=240"),
        (json!({"seats": "four"}), "field seats"),
        (json!({"seats": -2}), "field seats"),
        (json!({"colour": "red"}), "colour"),
        (json!([4]), "config must be a JSON object or null"),
    ];
    for (config, expected) in cases {
        let err = CyclesConfig::from_json(&config).unwrap_err().to_string();
        assert!(err.contains(expected), "{config}: {err}");
        assert!(err.starts_with("invalid cycles config"), "{err}");
    }
}

#[test]
fn delay_is_whole_ticks_and_at_least_one() {
    let mut c = CyclesConfig::default();
    assert_eq!(c.delay_ticks(), 120);
    c.round_delay_ms = 0;
    assert_eq!(c.delay_ticks(), 1);
    c.round_delay_ms = 10;
    assert_eq!(c.delay_ticks(), 1);
}

// ---- spawns ----------------------------------------------------------------------------------

#[test]
fn spawns_are_distinct_inside_and_head_away_from_walls() {
    for (w, h) in [
        (16, 16),
        (64, 48),
        (128, 128),
        (16, 128),
        (128, 16),
        (17, 23),
    ] {
        for seats in SEATS_MIN..=SEATS_MAX {
            let c = CyclesConfig {
                seats,
                width: w,
                height: h,
                ..CyclesConfig::default()
            };
            let spots = spawns(&c);
            assert_eq!(spots.len(), seats as usize);
            for (i, &(x, y, dir)) in spots.iter().enumerate() {
                assert!(u32::from(x) < w && u32::from(y) < h);
                // At least two free cells straight ahead (the inset is an eighth of a side).
                let (dx, dy) = step_of(dir);
                for k in 1..=2 {
                    let (nx, ny) = (i32::from(x) + k * dx, i32::from(y) + k * dy);
                    assert!(nx >= 0 && ny >= 0 && nx < w as i32 && ny < h as i32);
                }
                for &(ox, oy, _) in &spots[i + 1..] {
                    let gap = x.abs_diff(ox) + y.abs_diff(oy);
                    assert!(gap >= 3, "{w}x{h} {seats} seats: spawns too close");
                }
            }
        }
    }
    let two = spawns(&CyclesConfig {
        seats: 2,
        ..CyclesConfig::default()
    });
    assert_eq!(two, [(8, 24, 1), (55, 23, 3)]);
    let four = spawns(&CyclesConfig::default());
    assert_eq!(four, [(8, 24, 1), (31, 6, 2), (55, 23, 3), (32, 41, 0)]);
}

#[test]
fn spawn_assignment_is_shuffled_per_round_by_the_seed() {
    let c = config(4);
    let spots = spawns(&c);
    let assignment = |g: &Cycles| -> Vec<usize> {
        g.heads()
            .iter()
            .map(|h| {
                let (x, y, d) = h.unwrap();
                spots.iter().position(|&s| s == (x, y, d)).unwrap()
            })
            .collect()
    };
    let firsts: std::collections::BTreeSet<Vec<usize>> = (0..40)
        .map(|seed| assignment(&Cycles::new(c.clone(), seed)))
        .collect();
    assert!(firsts.len() > 5, "the shuffle should vary with the seed");
    assert_eq!(
        assignment(&Cycles::new(c.clone(), 3)),
        assignment(&Cycles::new(c, 3))
    );
}

// ---- moves and crashes -----------------------------------------------------------------------

#[test]
fn wall_crash_stops_the_cycle_and_names_the_wall() {
    let mut g = moving(config(3));
    place(&mut g, 0, &[(1, 5), (0, 5)], 3);
    place(&mut g, 1, &[(5, 10)], 1);
    place(&mut g, 2, &[(5, 12)], 1);
    let events = step(&mut g);
    let crashed = custom(&events, "crashed");
    assert_eq!(
        crashed,
        [&json!({"seat": 0, "x": 0, "y": 5, "into": "wall", "by": null})]
    );
    assert_eq!(
        g.statuses(),
        [Status::Crashed, Status::Riding, Status::Riding]
    );
    assert_eq!(g.riders[0].trail, [1, 5, 0, 5], "a crashed cycle stops");
    assert_eq!(g.riders[1].trail, [5, 10, 6, 10]);
    // It stays put and its trail stays while the others ride on.
    step(&mut g);
    assert_eq!(g.riders[0].trail, [1, 5, 0, 5]);
    assert!(!g.is_free(0, 5));
}

#[test]
fn trail_crash_names_the_trail_owner_and_heads_count_as_trail() {
    let mut g = moving(config(3));
    // Seat 1's trail runs down column 6; seat 0 rides right into it.
    place(&mut g, 1, &[(6, 3), (6, 4), (6, 5), (6, 6)], 2);
    place(&mut g, 0, &[(4, 4), (5, 4)], 1);
    place(&mut g, 2, &[(10, 12)], 1);
    let events = step(&mut g);
    assert_eq!(
        custom(&events, "crashed"),
        [&json!({"seat": 0, "x": 5, "y": 4, "into": "trail", "by": 1})]
    );
    // Two cycles trying to swap cells both hit the other's head.
    let mut g = moving(config(3));
    place(&mut g, 0, &[(4, 4), (5, 4)], 1);
    place(&mut g, 1, &[(7, 4), (6, 4)], 3);
    place(&mut g, 2, &[(10, 12)], 1);
    let events = step(&mut g);
    let crashed = custom(&events, "crashed");
    assert_eq!(crashed.len(), 2);
    assert_eq!(crashed[0]["into"], "trail");
    assert_eq!(crashed[0]["by"], 1);
    assert_eq!(crashed[1]["by"], 0);
    // Riding into your own trail crashes too.
    let mut g = moving(config(3));
    place(&mut g, 0, &[(4, 4), (5, 4), (5, 5), (4, 5)], 0);
    place(&mut g, 1, &[(10, 10)], 1);
    place(&mut g, 2, &[(10, 12)], 1);
    let events = step(&mut g);
    assert_eq!(custom(&events, "crashed")[0]["by"], 0);
}

#[test]
fn head_on_into_the_same_cell_crashes_both_and_draws_the_round() {
    let mut g = moving(config(2));
    place(&mut g, 0, &[(3, 8), (4, 8)], 1);
    place(&mut g, 1, &[(7, 8), (6, 8)], 3);
    let round = g.round;
    let events = step(&mut g);
    let crashed = custom(&events, "crashed");
    assert_eq!(
        crashed,
        [
            &json!({"seat": 0, "x": 4, "y": 8, "into": "head", "by": null}),
            &json!({"seat": 1, "x": 6, "y": 8, "into": "head", "by": null}),
        ]
    );
    assert!(
        !events.iter().any(|e| matches!(e, GameEvent::Scored { .. })),
        "a drawn round scores nobody"
    );
    assert_eq!(
        custom(&events, "round_over"),
        [&json!({"round": round, "winner": null})]
    );
    assert_eq!(
        custom(&events, "round_start"),
        [&json!({"round": round + 1})]
    );
    assert_eq!(g.scores(), [0, 0]);
    assert_eq!(g.round, round + 1);
    assert_eq!(g.statuses(), [Status::Riding, Status::Riding]);
    assert!(g.riders.iter().all(|r| r.cells() == 1), "fresh spawns");
}

#[test]
fn turn_is_applied_once_at_the_next_move() {
    let mut c = config(2);
    c.move_every = 4;
    let mut g = moving(c);
    place(&mut g, 0, &[(4, 8)], 1);
    place(&mut g, 1, &[(4, 2)], 1);
    // Move 1 happens on the next step; queue a turn before it.
    g.apply_input(0, &json!("right")).unwrap();
    step(&mut g);
    assert_eq!(
        g.heads()[0],
        Some((4, 9, 2)),
        "turned right (down) and moved"
    );
    assert!(g.riders[0].turns.is_empty(), "consumed");
    // A turn between moves waits for the next move, then applies exactly once.
    g.apply_input(0, &json!("left")).unwrap();
    for _ in 0..3 {
        step(&mut g);
        assert_eq!(g.heads()[0], Some((4, 9, 2)), "no move between moves");
    }
    step(&mut g);
    assert_eq!(g.heads()[0], Some((5, 9, 1)));
    for _ in 0..4 {
        step(&mut g);
    }
    assert_eq!(g.heads()[0], Some((6, 9, 1)), "straight on afterwards");
    // The same input again is a new event: it turns again.
    g.apply_input(0, &json!("left")).unwrap();
    g.apply_input(0, &json!("left")).unwrap();
    for _ in 0..8 {
        step(&mut g);
    }
    assert_eq!(g.heads()[0], Some((5, 8, 3)), "up one, then left one");
}

#[test]
fn at_most_three_turns_wait_and_round_start_clears_them() {
    let mut g = Cycles::new(config(2), 1);
    for _ in 0..MAX_QUEUED_TURNS {
        g.apply_input(1, &json!("left")).unwrap();
    }
    let err = g.apply_input(1, &json!("right")).unwrap_err();
    assert_eq!(
        err,
        InputError::Invalid("at most 3 turns may wait for the next move".into())
    );
    assert_eq!(g.riders[1].turns.len(), 3);
    g.place_spawns();
    assert!(g.riders[1].turns.is_empty());
}

#[test]
fn inputs_are_checked() {
    let mut g = moving(config(3));
    assert!(matches!(
        g.apply_input(3, &json!("left")),
        Err(InputError::NoSuchSeat { seat: 3, seats: 3 })
    ));
    let err = g.apply_input(0, &json!("up")).unwrap_err().to_string();
    assert!(err.contains("\"left\" or \"right\""), "{err}");
    let err = g.apply_input(0, &json!({"turn": "left"})).unwrap_err();
    assert!(err.to_string().contains("an object"), "{err}");
    // A crashed cycle takes no turns until the next round; an out seat never again.
    place(&mut g, 0, &[(1, 5), (0, 5)], 3);
    place(&mut g, 1, &[(5, 10)], 1);
    place(&mut g, 2, &[(5, 12)], 1);
    step(&mut g);
    let err = g.apply_input(0, &json!("left")).unwrap_err();
    assert!(err.to_string().contains("out of this round"), "{err}");
    let before = g.state_hash();
    assert_eq!(g.remove_seat(2, EndReason::Resign, &mut Vec::new()), None);
    let err = g.apply_input(2, &json!("left")).unwrap_err();
    assert!(err.to_string().contains("out of this match"), "{err}");
    assert_ne!(before, g.state_hash());
    let after = g.state_hash();
    let _ = g.apply_input(2, &json!("left"));
    assert_eq!(after, g.state_hash(), "a refused input changes nothing");
    assert!(!g.inputs_are_intents());
}

// ---- rounds, the match, places ---------------------------------------------------------------

#[test]
fn last_rider_wins_the_round_and_rounds_to_win_ends_the_match() {
    let mut c = config(3);
    c.rounds_to_win = 2;
    let mut g = moving(c);
    for round in 1..=2 {
        g.tick = g.first_move_tick() - 1;
        place(&mut g, 0, &[(1, 5), (0, 5)], 3);
        place(&mut g, 1, &[(1, 7), (0, 7)], 3);
        place(&mut g, 2, &[(8, 8)], 1);
        let events = step(&mut g);
        assert_eq!(custom(&events, "crashed").len(), 2);
        let scored: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                GameEvent::Scored { seat, scores } => Some((*seat, scores.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(scored, [(2, vec![0, 0, round])]);
        assert_eq!(
            custom(&events, "round_over"),
            [&json!({"round": round, "winner": 2})]
        );
        if round == 1 {
            assert_eq!(custom(&events, "round_start"), [&json!({"round": 2})]);
            assert!(g.outcome().is_none());
            assert_eq!(g.round_tick, g.tick);
            assert_eq!(g.starts_in(), 1);
        } else {
            assert!(custom(&events, "round_start").is_empty());
            let outcome = g.outcome().unwrap();
            assert_eq!(
                events.last(),
                Some(&GameEvent::Ended {
                    outcome: outcome.clone()
                })
            );
            assert_eq!(outcome.winner, Some(2));
            assert_eq!(outcome.reason, EndReason::Score);
            assert_eq!(outcome.scores, [0, 0, 2]);
            assert_eq!(outcome.places, [2, 2, 1]);
            let tick = g.tick;
            assert!(step(&mut g).is_empty());
            assert_eq!(g.tick, tick, "nothing moves after the end");
            assert_eq!(g.apply_input(0, &json!("left")), Err(InputError::GameOver));
        }
    }
}

#[test]
fn removal_takes_a_seat_out_for_good_and_the_last_seat_wins() {
    let mut g = moving(config(3));
    place(&mut g, 0, &[(3, 3), (4, 3)], 1);
    place(&mut g, 1, &[(3, 9), (4, 9)], 1);
    place(&mut g, 2, &[(3, 12), (4, 12)], 1);
    let mut events = Vec::new();
    assert_eq!(g.remove_seat(1, EndReason::Resign, &mut events), None);
    assert_eq!(
        custom(&events, "out"),
        [&json!({"seat": 1, "reason": "resign"})]
    );
    assert_eq!(g.statuses()[1], Status::Out);
    // Its trail stays this round; it moves no more.
    step(&mut g);
    assert_eq!(g.riders[1].trail, [3, 9, 4, 9]);
    assert_eq!(g.heads()[0], Some((5, 3, 1)));
    // A second removal of the same seat changes nothing.
    let hash = g.state_hash();
    assert_eq!(g.remove_seat(1, EndReason::Forfeit, &mut events), None);
    assert_eq!(g.remove_seat(9, EndReason::Forfeit, &mut events), None);
    assert_eq!(hash, g.state_hash());
    // Next round: no cycle for seat 1.
    place(&mut g, 0, &[(1, 5), (0, 5)], 3);
    let events = step(&mut g);
    assert_eq!(custom(&events, "round_over")[0]["winner"], 2);
    assert!(g.riders[1].trail.is_empty());
    assert_eq!(g.heads()[1], None);
    assert_eq!(snapshot_json(&g)["heads"][1], Value::Null);
    assert_eq!(snapshot_json(&g)["status"], json!([0, 2, 0]));
    // Only one seat left in the match: it wins at once, with the removal's reason.
    let mut events = Vec::new();
    let outcome = g.remove_seat(2, EndReason::Forfeit, &mut events).unwrap();
    assert_eq!(outcome.winner, Some(0));
    assert_eq!(outcome.reason, EndReason::Forfeit);
    assert_eq!(outcome.places, [1, 3, 2], "the first to leave is last");
    assert_eq!(outcome.scores, [0, 0, 1]);
    assert!(
        !events.iter().any(|e| matches!(e, GameEvent::Ended { .. })),
        "the room reports the returned outcome"
    );
    assert_eq!(g.outcome(), Some(outcome.clone()));
    assert_eq!(
        g.remove_seat(0, EndReason::Resign, &mut Vec::new()),
        Some(outcome)
    );
}

#[test]
fn removing_the_second_last_rider_ends_the_round_at_the_next_step() {
    let mut g = moving(config(4));
    place(&mut g, 0, &[(1, 5), (0, 5)], 3);
    place(&mut g, 1, &[(3, 9)], 1);
    place(&mut g, 2, &[(3, 12)], 1);
    place(&mut g, 3, &[(3, 14)], 1);
    step(&mut g); // seat 0 crashes; 1, 2, 3 ride
    g.remove_seat(3, EndReason::Forfeit, &mut Vec::new());
    g.remove_seat(2, EndReason::Resign, &mut Vec::new());
    assert!(
        g.outcome().is_none(),
        "seats 0 and 1 are still in the match"
    );
    let events = step(&mut g);
    assert_eq!(custom(&events, "round_over")[0]["winner"], 1);
    assert_eq!(g.scores(), [0, 1, 0, 0]);
    assert_eq!(g.round, 2);
    assert_eq!(g.statuses()[..2], [Status::Riding, Status::Riding]);
}

#[test]
fn places_rank_by_rounds_with_ties_then_removed_in_reverse_order() {
    let mut c = config(6);
    c.rounds_to_win = 5;
    let mut g = Cycles::new(c, 1);
    g.scores = vec![2, 1, 2, 0, 1, 3];
    g.remove_seat(5, EndReason::Resign, &mut Vec::new());
    g.remove_seat(3, EndReason::Forfeit, &mut Vec::new());
    // Staying: 0 and 2 (2 rounds) share 1st, 1 and 4 share 3rd; then 3 (left last), then 5.
    assert_eq!(g.places(), [1, 3, 1, 5, 3, 6]);
    // A forfeit: the loser goes right below the staying seats; a tie on top has no winner.
    let outcome = g.clone().end_by_forfeit(4, EndReason::Forfeit);
    assert_eq!(outcome.places, [1, 3, 1, 5, 4, 6], "{outcome:?}");
    assert_eq!(outcome.winner, None);
    // The room's "no loser" (255) takes nobody out: ranked by rounds, a tie on top is a draw.
    let outcome = g.clone().end_by_forfeit(255, EndReason::Abandoned);
    assert_eq!(outcome.places, [1, 3, 1, 5, 3, 6]);
    assert_eq!(outcome.winner, None);
    assert_eq!(outcome.reason, EndReason::Abandoned);
    // A single leader wins.
    g.scores[2] = 3;
    let outcome = g.end_by_forfeit(1, EndReason::Resign);
    assert_eq!(outcome.winner, Some(2));
    assert_eq!(outcome.places, [2, 4, 1, 5, 3, 6]);
}

// ---- snapshots -------------------------------------------------------------------------------

/// What a client holds: the state rebuilt from full snapshots and deltas only.
#[derive(Default)]
struct ClientModel {
    tick: u64,
    fields: serde_json::Map<String, Value>,
    trails: Vec<Vec<Value>>,
}

impl ClientModel {
    fn apply(&mut self, snap: &Value) {
        let obj = snap.as_object().unwrap();
        if obj["full"] == json!(true) {
            self.trails = obj["trails"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_array().unwrap().clone())
                .collect();
        } else {
            assert_eq!(obj["since"], json!(self.tick), "a delta on the wrong base");
            let cells = obj["cells"].as_array().unwrap();
            assert_eq!(cells.len() % 3, 0);
            for c in cells.chunks_exact(3) {
                let seat = c[0].as_u64().unwrap() as usize;
                self.trails[seat].extend([c[1].clone(), c[2].clone()]);
            }
        }
        self.tick = obj["tick"].as_u64().unwrap();
        for key in ["round", "starts_in", "scores", "status", "heads"] {
            self.fields.insert(key.into(), obj[key].clone());
        }
    }

    /// The full snapshot this model stands for.
    fn as_full(&self) -> Value {
        let mut obj = self.fields.clone();
        obj.insert("tick".into(), json!(self.tick));
        obj.insert("full".into(), json!(true));
        obj.insert("trails".into(), json!(self.trails));
        Value::Object(obj)
    }
}

/// Plays `ticks` ticks with dodging riders plus some random turns from `seed`, calling `each`
/// after every step.
fn play(g: &mut Cycles, ticks: u64, seed: u64, mut each: impl FnMut(&Cycles, &[GameEvent])) {
    let mut rng = GameRng::seeded(seed);
    for _ in 0..ticks {
        if g.outcome().is_some() {
            break;
        }
        for seat in 0..g.riders.len() {
            let input = if rng.below(12) == 0 {
                Some(if rng.below(2) == 0 { "left" } else { "right" })
            } else {
                dodge(g, seat)
            };
            if let Some(turn) = input {
                let _ = g.apply_input(seat as u8, &json!(turn));
            }
        }
        let events = step(g);
        each(g, &events);
    }
}

#[test]
fn deltas_rebuild_the_full_state_every_tick_across_rounds() {
    let mut c = config(4);
    c.rounds_to_win = 9;
    c.move_every = 2;
    c.round_delay_ms = 50; // 3 ticks
    let mut g = Cycles::new(c, 11);
    let mut client = ClientModel::default();
    client.apply(&snapshot_json(&g));
    let (mut fulls, mut deltas, mut rounds) = (0, 0, 0);
    let mut sent = g.tick;
    play(&mut g, 3_000, 5, |g, events| {
        let raw = g.snapshot_since(sent);
        let snap: Value = serde_json::from_str(raw.get()).unwrap();
        if snap["full"] == json!(true) {
            fulls += 1;
        } else {
            deltas += 1;
        }
        if !custom(events, "round_start").is_empty() {
            rounds += 1;
            assert_eq!(
                snap["full"],
                json!(true),
                "first snapshot of a round is full"
            );
        }
        if g.tick % FULL_EVERY_TICKS == 0 {
            assert_eq!(snap["full"], json!(true), "periodic full");
        }
        client.apply(&snap);
        assert_eq!(client.as_full(), snapshot_json(g), "tick {}", g.tick);
        // The compact forms carry the same values as the JSON forms.
        let mut bin = Vec::new();
        g.snapshot_since_bin(sent, &mut bin);
        let mut transcoded = Vec::new();
        crate::protocol::msgpack::values_from_json(raw.get(), &mut transcoded).unwrap();
        assert_eq!(bin, transcoded, "tick {}", g.tick);
        sent = g.tick;
    });
    assert!(rounds >= 3, "rounds {rounds}");
    assert!(
        fulls >= 10 && deltas > 10 * fulls,
        "{fulls} fulls, {deltas} deltas"
    );
    let mut bin = Vec::new();
    g.snapshot_bin(&mut bin);
    let mut transcoded = Vec::new();
    crate::protocol::msgpack::values_from_json(g.snapshot().get(), &mut transcoded).unwrap();
    assert_eq!(bin, transcoded);
}

#[test]
fn deltas_over_several_ticks_and_when_a_full_is_needed() {
    let mut c = config(3);
    c.move_every = 3;
    let mut g = Cycles::new(c, 2);
    let base = snapshot_json(&g);
    let base_tick = g.tick;
    let mut client = ClientModel::default();
    client.apply(&base);
    play(&mut g, 20, 1, |_, _| {});
    if g.round == 1 {
        // A delta may span several moves: the client catches up in one frame.
        let snap: Value = serde_json::from_str(g.snapshot_since(base_tick).get()).unwrap();
        assert_eq!(snap["full"], json!(false));
        client.apply(&snap);
        assert_eq!(client.as_full(), snapshot_json(&g));
    }
    let now = g.tick;
    let full = |g: &Cycles, since: u64| -> bool {
        let v: Value = serde_json::from_str(g.snapshot_since(since).get()).unwrap();
        v["full"] == json!(true)
    };
    assert!(full(&g, now + 1), "a base from the future");
    assert!(!full(&g, now), "an empty delta");
    assert_eq!(
        serde_json::from_str::<Value>(g.snapshot_since(now).get()).unwrap()["cells"],
        json!([])
    );
    g.round_tick = 5;
    assert!(full(&g, 4), "a base from the previous round");
    g.tick = FULL_EVERY_TICKS;
    assert!(
        full(&g, FULL_EVERY_TICKS - 1),
        "crossing a multiple of FULL_EVERY_TICKS"
    );
    g.tick = FULL_EVERY_TICKS + 1;
    assert!(!full(&g, FULL_EVERY_TICKS));
}

#[test]
fn snapshot_and_info_shapes() {
    let g = Cycles::new(CyclesConfig::default(), 3);
    let s = snapshot_json(&g);
    assert_eq!(s["tick"], 0);
    assert_eq!(s["full"], true);
    assert_eq!(s["round"], 1);
    assert_eq!(s["starts_in"], 120);
    assert_eq!(s["scores"], json!([0, 0, 0, 0]));
    assert_eq!(s["status"], json!([0, 0, 0, 0]));
    assert_eq!(s["heads"].as_array().unwrap().len(), 4);
    for (head, trail) in s["heads"]
        .as_array()
        .unwrap()
        .iter()
        .zip(s["trails"].as_array().unwrap())
    {
        assert_eq!(head.as_array().unwrap().len(), 3);
        assert_eq!(trail.as_array().unwrap()[..], head.as_array().unwrap()[..2]);
    }
    // The documented key order (the compact form is the values in this order).
    let raw = g.snapshot();
    assert!(
        raw.get().starts_with(
            r#"{"tick":0,"full":true,"round":1,"starts_in":120,"scores":[0,0,0,0],"status":[0,0,0,0],"heads":[["#
        ),
        "{}",
        raw.get()
    );
    assert!(raw.get().contains(r#"]],"trails":[["#), "{}", raw.get());
    assert_eq!(
        g.info(),
        json!({"kind":"cycles","seats":4,"tick_hz":60,"width":64,"height":48,"move_every":4,
               "rounds_to_win":3,"round_delay_ms":2000,"max_queued_turns":3,"full_every":300,
               "inputs":["left","right"]})
    );
    assert_eq!(g.spectator_snapshot().get(), g.snapshot().get());
    assert!(g.sends_deltas() && !g.pauses_when_away());
}

// ---- save / restore / hash -------------------------------------------------------------------

#[test]
fn save_restore_mid_round_continues_bit_identically() {
    let mut c = config(4);
    c.rounds_to_win = 9;
    let mut a = Cycles::new(c, 21);
    play(&mut a, 37, 3, |_, _| {});
    a.apply_input(0, &json!("left")).ok();
    a.remove_seat(3, EndReason::Forfeit, &mut Vec::new());
    let saved = a.save();
    let mut b = Cycles::restore(&saved).unwrap();
    assert_eq!(a.state_hash(), b.state_hash());
    assert_eq!(a.snapshot().get(), b.snapshot().get());
    assert_eq!(b.save(), saved);
    let mut hashes = Vec::new();
    play(&mut a, 2_000, 9, |g, _| hashes.push(g.state_hash()));
    let mut i = 0;
    play(&mut b, 2_000, 9, |g, _| {
        assert_eq!(g.state_hash(), hashes[i], "tick {}", g.tick);
        i += 1;
    });
    assert_eq!(i, hashes.len());
    // Through the factory too.
    let c = crate::game::restore(KIND, &saved).unwrap();
    assert_eq!(
        c.state_hash(),
        Cycles::restore(&saved).unwrap().state_hash()
    );
}

#[test]
fn restore_refuses_corrupt_states() {
    let mut g = Cycles::new(config(3), 4);
    play(&mut g, 10, 1, |_, _| {});
    let saved = g.save();
    let corrupt = |f: &dyn Fn(&mut Value)| {
        let mut s = saved.clone();
        f(&mut s);
        Cycles::restore(&s).unwrap_err().to_string()
    };
    let crossing = corrupt(&|s| {
        let other = s["riders"][1]["trail"].clone();
        s["riders"][0]["trail"] = other;
    });
    assert!(
        crossing.contains("seat 0") || crossing.contains("seat 1"),
        "{crossing}"
    );
    let gap = corrupt(&|s| {
        let t = s["riders"][0]["trail"].as_array_mut().unwrap();
        let last = t.len() - 2;
        t[last] = json!(t[last].as_u64().unwrap() + 5);
    });
    assert!(gap.contains("seat 0"), "{gap}");
    let outside = corrupt(&|s| s["riders"][2]["trail"] = json!([99, 99]));
    assert!(outside.contains("seat 2"), "{outside}");
    let turns = corrupt(&|s| s["riders"][0]["turns"] = json!(["left", "left", "left", "left"]));
    assert!(turns.contains("turns"), "{turns}");
    let config = corrupt(&|s| s["config"]["width"] = json!(8));
    assert!(config.contains("width"), "{config}");
    let unknown = corrupt(&|s| s["extra"] = json!(1));
    assert!(unknown.contains("extra"), "{unknown}");
    let scores = corrupt(&|s| s["scores"] = json!([3, 0, 0]));
    assert!(scores.contains("rounds_to_win"), "{scores}");
    let out = corrupt(&|s| s["riders"][1]["status"] = json!("out"));
    assert!(out.contains("removed"), "{out}");
}

#[test]
fn same_seed_and_inputs_give_the_same_hash() {
    let run = |seed: u64| {
        let mut g = Cycles::new(config(5), seed);
        play(&mut g, 500, 2, |_, _| {});
        g.state_hash()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
    assert_eq!(run(1).len(), 64);
}

/// One entry of a random log: between ticks, either an input or a removal.
#[derive(Clone, Debug)]
enum Entry {
    /// Steps to run before the next entry.
    Wait(u8),
    /// A turn for a seat (refusals are part of the test: they must change nothing).
    Turn(u8, bool),
    /// A removal of a seat.
    Remove(u8, u8),
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        4 => (0u8..12).prop_map(Entry::Wait),
        4 => (0u8..9, any::<bool>()).prop_map(|(s, l)| Entry::Turn(s, l)),
        1 => (0u8..9, 0u8..3).prop_map(|(s, r)| Entry::Remove(s, r)),
    ]
}

/// Runs `log` on `g`; returns the hash after every entry.
fn run_log(g: &mut Cycles, log: &[Entry]) -> Vec<String> {
    let reasons = [EndReason::Forfeit, EndReason::Resign, EndReason::Abandoned];
    let mut hashes = Vec::new();
    for e in log {
        match *e {
            Entry::Wait(n) => {
                for _ in 0..n {
                    step(g);
                }
            }
            Entry::Turn(seat, left) => {
                let before = g.state_hash();
                let turn = if left { "left" } else { "right" };
                if g.apply_input(seat, &json!(turn)).is_err() {
                    assert_eq!(before, g.state_hash(), "a refused input changed the state");
                }
            }
            Entry::Remove(seat, r) => {
                let outcome = g.remove_seat(seat, reasons[usize::from(r)], &mut Vec::new());
                assert_eq!(outcome, g.outcome());
            }
        }
        hashes.push(g.state_hash());
    }
    hashes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random input logs with removals: a second run gives the same hashes, and a copy restored
    /// from a checkpoint at any point continues with the same hashes.
    #[test]
    fn random_logs_replay_and_restore_identically(
        seats in 2u32..=8,
        seed in any::<u64>(),
        move_every in 1u32..=3,
        log in proptest::collection::vec(entry(), 1..200),
        cut in any::<prop::sample::Index>(),
    ) {
        let c = CyclesConfig { seats, move_every, rounds_to_win: 2, ..config(seats) };
        let mut a = Cycles::new(c.clone(), seed);
        let hashes = run_log(&mut a, &log);
        let mut b = Cycles::new(c, seed);
        let cut = cut.index(log.len());
        let first = run_log(&mut b, &log[..cut]);
        prop_assert_eq!(&first[..], &hashes[..cut]);
        let mut restored = Cycles::restore(&b.save()).unwrap();
        prop_assert_eq!(restored.state_hash(), b.state_hash());
        let rest = run_log(&mut restored, &log[cut..]);
        prop_assert_eq!(&rest[..], &hashes[cut..]);
        // Places are always a ranking of every seat from 1.
        let places = restored.places();
        prop_assert!(places.iter().all(|&p| p >= 1 && usize::from(p) <= places.len()));
        prop_assert!(places.contains(&1));
        if let Some(o) = restored.outcome() {
            prop_assert_eq!(o.places.len(), seats as usize);
            prop_assert_eq!(o.winner.is_some(), o.places.iter().filter(|&&p| p == 1).count() == 1);
        }
    }
}
