//! Replay files as `rally replay verify FILE` reads them (untrusted: anyone can hand one
//! over): arbitrary bytes parsed as a `rally::replay::Replay` and verified by re-simulation.
//! Invariants:
//! - parsing and verifying never panic (overflow checks on: `cargo fuzz build -a`);
//! - a parsed replay re-encodes to JSON that parses to the same replay;
//! - verification is deterministic, and a replay that verifies still verifies after the JSON
//!   round trip;
//! - `frames` (the replay viewer's re-simulation) returns at most one snapshot per `every`
//!   ticks plus the first and the last, and agrees with `verify` on whether the log is
//!   consistent.
//!
//! Cost: a verification simulates `ticks` ticks, a number the file chooses; replays of more
//! than `MAX_FUZZ_TICKS` ticks are parsed and round-tripped but not simulated here (each
//! simulated tick is bounded work, so this bounds the time per input, not what is checked).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rally::replay::{frames, simulate, verify, Replay, ReplayError};

#[path = "../common/json.rs"]
mod json;

/// Longest replay simulated per input: 30 s of play at 60 Hz.
const MAX_FUZZ_TICKS: u64 = 1_800;

fuzz_target!(|data: &[u8]| {
    // `replay verify` reads the file with `read_to_string`, then `serde_json::from_str`.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(replay) = serde_json::from_str::<Replay>(text) else {
        return;
    };
    let encoded = serde_json::to_string(&replay).expect("a parsed replay encodes");
    let back: Replay = serde_json::from_str(&encoded).expect("an encoded replay parses");
    let (a, b) = (
        serde_json::to_value(&replay).expect("to value"),
        serde_json::to_value(&back).expect("to value"),
    );
    assert!(json::same(&a, &b), "round trip changed {a} into {b}");
    if replay.ticks > MAX_FUZZ_TICKS {
        return;
    }
    let first = verify(&replay);
    assert_eq!(first, verify(&replay), "verification is not deterministic");
    if first.is_ok() {
        assert_eq!(
            verify(&back),
            Ok(()),
            "the round-tripped replay no longer verifies"
        );
    }
    let simulated = simulate(
        &replay.game,
        &replay.config,
        replay.seed,
        &replay.log,
        replay.ticks,
    );
    let every = 1 + replay.seed % 97;
    match frames(&replay, every) {
        Ok(snapshots) => {
            let g = simulated.expect("frames succeeded where simulate failed");
            assert!(
                snapshots.len() as u64 <= g.tick() / every + 2,
                "{} snapshots for {} ticks every {every}",
                snapshots.len(),
                g.tick()
            );
            for s in &snapshots {
                serde_json::from_str::<serde_json::Value>(s.get()).expect("snapshot is JSON");
            }
        }
        Err(e) => {
            assert_eq!(Err(e.clone()), simulated.map(|_| ()));
            assert!(!matches!(
                e,
                ReplayError::ScoreMismatch { .. } | ReplayError::HashMismatch { .. }
            ));
        }
    }
});
