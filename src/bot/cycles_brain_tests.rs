#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::game::{self, cycles, EndReason, Game, GameEvent};
use serde_json::json;

fn info(seats: u8, width: u16, height: u16) -> CyclesInfo {
    CyclesInfo {
        seats,
        width,
        height,
    }
}

#[test]
fn info_comes_from_joined_info() {
    let g = game::create("cycles", &json!({"seats": 6, "width": 40}), 1).unwrap();
    assert_eq!(CyclesInfo::from_json(&g.info()).unwrap(), info(6, 40, 48));
    assert!(CyclesInfo::from_json(&json!({"kind": "cycles", "seats": 4})).is_err());
    assert!(CyclesInfo::from_json(&json!({"seats": 4, "width": -1, "height": 9})).is_err());
}

#[test]
fn model_waits_for_a_full_snapshot_and_detects_a_missed_delta() {
    let mut g = cycles::Cycles::new(
        cycles::CyclesConfig {
            seats: 2,
            round_delay_ms: 0,
            move_every: 1,
            ..cycles::CyclesConfig::default()
        },
        3,
    );
    let mut model = CyclesModel::new(CyclesInfo::from_json(&g.info()).unwrap());
    let mut events = Vec::new();
    g.step(&mut events);
    let delta = g.snapshot_since(0);
    assert!(delta.get().contains("\"full\":false"));
    assert_eq!(
        model.apply(delta.get()).unwrap(),
        Applied::Stale,
        "no base yet"
    );
    assert!(!model.holds());
    assert_eq!(model.apply(g.snapshot().get()).unwrap(), Applied::Full);
    assert!(model.holds());
    g.step(&mut events);
    g.step(&mut events);
    // The frame of tick 2 was lost: the delta since tick 2 does not apply to tick 1.
    let missed = g.tick() - 1;
    assert_eq!(
        model.apply(g.snapshot_since(missed).get()).unwrap(),
        Applied::Stale
    );
    assert!(!model.holds());
    // Still stale even for a delta on the old base: the model dropped it.
    assert_eq!(model.apply(delta.get()).unwrap(), Applied::Stale);
    assert_eq!(model.apply(g.snapshot().get()).unwrap(), Applied::Full);
    let since = g.tick();
    g.step(&mut events);
    assert_eq!(
        model.apply(g.snapshot_since(since).get()).unwrap(),
        Applied::Delta
    );
    assert_eq!(model.tick, g.tick());
    assert!(model.apply("{\"tick\":1}").is_err());
    assert!(!model.holds());
}

/// One cycle alone on an empty grid, moved by this test: the brain keeps it alive for most of
/// the grid (the pure policy), and for a good part of it with its default wandering.
#[test]
fn brain_survives_long_alone_on_an_empty_grid() {
    for (w, h) in [(32u16, 32u16), (64, 48), (16, 16)] {
        let cells = u64::from(w) * u64::from(h);
        let pure = alone(CyclesBrain::new(0, 1).with_wander(0), w, h);
        assert!(
            pure * 10 >= cells * 7,
            "{w}x{h}: survived {pure} moves of {cells} cells"
        );
        for seed in 0..4 {
            let wandering = alone(CyclesBrain::new(0, seed), w, h);
            assert!(
                wandering * 10 >= cells * 3,
                "{w}x{h}: survived {wandering} moves of {cells} cells (seed {seed})"
            );
        }
    }
}

/// Moves for which `brain` keeps a lone cycle alive on an empty `w` × `h` grid.
fn alone(mut brain: CyclesBrain, w: u16, h: u16) -> u64 {
    let mut model = CyclesModel::new(info(1, w, h));
    let (mut x, mut y, mut dir) = (w / 2, h / 2, 1u8);
    let full = json!({"tick": 0, "full": true, "round": 1, "starts_in": 0, "scores": [0],
        "status": [0], "heads": [[x, y, dir]], "trails": [[x, y]]});
    model.apply(&full.to_string()).unwrap();
    let mut moves = 0u64;
    loop {
        match brain.decide(&model) {
            Some("left") => dir = (dir + 3) % 4,
            Some("right") => dir = (dir + 1) % 4,
            _ => {}
        }
        assert_eq!(brain.decide(&model), None, "one decision per move");
        let (dx, dy) = step_of(dir);
        let (nx, ny) = (i32::from(x) + dx, i32::from(y) + dy);
        if !model.is_free(nx, ny) {
            return moves;
        }
        (x, y) = (nx as u16, ny as u16);
        moves += 1;
        let delta = json!({"tick": moves, "full": false, "since": moves - 1, "round": 1,
            "starts_in": 0, "scores": [0], "status": [0], "heads": [[x, y, dir]],
            "cells": [0, x, y]});
        assert_eq!(model.apply(&delta.to_string()).unwrap(), Applied::Delta);
    }
}

/// Four brains play the real game from the snapshots the room would send (a delta since the
/// previous tick every tick, each bot with its own model), until the match ends.
#[test]
fn four_brains_play_a_match_to_the_end() {
    // The default grid; cells every tick and a short round delay keep the test quick.
    let config = json!({"seats": 4, "move_every": 1, "round_delay_ms": 100});
    let mut g = game::create("cycles", &config, 42).unwrap();
    let info = CyclesInfo::from_json(&g.info()).unwrap();
    let mut models: Vec<CyclesModel> = (0..4).map(|_| CyclesModel::new(info)).collect();
    let mut brains: Vec<CyclesBrain> = (0..4u8)
        .map(|seat| CyclesBrain::new(seat, 7 + u64::from(seat)))
        .collect();
    let first = g.snapshot();
    for m in &mut models {
        assert_eq!(m.apply(first.get()).unwrap(), Applied::Full);
    }
    let mut sent = g.tick();
    let (mut rounds, mut wall_crashes) = (0u64, 0u64);
    let mut events: Vec<GameEvent> = Vec::new();
    while g.outcome().is_none() {
        assert!(g.tick() < 100_000, "the match should end");
        for (seat, (model, brain)) in models.iter().zip(&mut brains).enumerate() {
            if let Some(turn) = brain.decide(model) {
                g.apply_input(seat as u8, &json!(turn)).unwrap();
            }
        }
        events.clear();
        g.step(&mut events);
        let frame = g.snapshot_since(sent);
        sent = g.tick();
        for m in &mut models {
            assert_ne!(m.apply(frame.get()).unwrap(), Applied::Stale);
        }
        for e in &events {
            if let GameEvent::Custom { name, data } = e {
                match name.as_str() {
                    "round_over" => rounds += 1,
                    "crashed" if data["into"] == "wall" => wall_crashes += 1,
                    _ => {}
                }
            }
        }
        if g.tick() % 97 == 0 {
            let full: serde_json::Value = serde_json::from_str(g.snapshot().get()).unwrap();
            let trails: Vec<Vec<(u16, u16)>> = full["trails"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    let v: Vec<u16> = serde_json::from_value(t.clone()).unwrap();
                    v.chunks_exact(2).map(|c| (c[0], c[1])).collect()
                })
                .collect();
            assert_eq!(models[0].trails, trails, "tick {}", g.tick());
        }
    }
    let outcome = g.outcome().unwrap();
    assert_eq!(outcome.reason, EndReason::Score);
    assert!(outcome.winner.is_some());
    assert_eq!(outcome.places.iter().filter(|&&p| p == 1).count(), 1);
    assert!(rounds >= 3, "{rounds} rounds");
    // Bots that avoid walls: rounds last (64 × 48 grid, 4 riders), few crash into walls.
    let ticks_per_round = g.tick() / rounds;
    assert!(ticks_per_round > 200, "{ticks_per_round} ticks per round");
    assert!(
        wall_crashes * 4 <= rounds * 3,
        "{wall_crashes} wall crashes in {rounds} rounds"
    );
}

#[test]
fn brain_keeps_quiet_when_not_riding_and_turns_away_from_a_wall() {
    let mut model = CyclesModel::new(info(2, 16, 16));
    let mut brain = CyclesBrain::new(0, 1);
    assert_eq!(brain.decide(&model), None, "no state yet");
    // Seat 0 at the right wall heading right: it must turn, and not up into the two-cell
    // pocket that seat 1's trail closes, but down.
    let full = json!({"tick": 5, "full": true, "round": 1, "starts_in": 0, "scores": [0, 0],
        "status": [0, 0], "heads": [[15, 2, 1], [14, 1, 2]],
        "trails": [[14, 2, 15, 2], [14, 0, 14, 1]]});
    model.apply(&full.to_string()).unwrap();
    assert_eq!(model.area(15, 1, AREA_CAP), 2);
    assert_eq!(brain.decide(&model), Some("right"));
    assert_eq!(brain.decide(&model), None, "decided for this cell already");
    // Crashed: nothing to decide.
    let crashed = json!({"tick": 6, "full": false, "since": 5, "round": 1, "starts_in": 0,
        "scores": [0, 0], "status": [1, 0], "heads": [[15, 2, 1], [13, 1, 3]],
        "cells": [1, 13, 1]});
    assert_eq!(model.apply(&crashed.to_string()).unwrap(), Applied::Delta);
    let mut fresh = CyclesBrain::new(0, 1);
    assert_eq!(fresh.decide(&model), None);
}
