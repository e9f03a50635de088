//! Bytes per light-cycles snapshot state: the full state every tick against what rooms send (a
//! delta since the previous frame, with a full one at each round start and every 300 ticks),
//! in JSON and in the compact `rally.v1.bin` form, over whole 4-player matches played by
//! `CyclesBrain` bots on the default grid (64 × 48, a cell every 4 ticks at 60 Hz). The figures
//! of docs/benchmarks.md, "Light cycles: bytes per snapshot". Deterministic: the same output on
//! every machine.
//!
//!     cargo run --example cycles_snapshot_sizes
//!
//! Only the game's `state` is measured; the snapshot message adds the same envelope (type, tick,
//! acks, ack_ticks: about 60 bytes of JSON, 12 compact for 4 seats) to both.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use rally::bot::{CyclesBrain, CyclesInfo, CyclesModel};
use rally::game::{self, GameEvent};
use serde_json::json;

#[derive(Default)]
struct Sizes {
    n: u64,
    sum: u64,
    max: u64,
    all: Vec<u64>,
}

impl Sizes {
    fn add(&mut self, bytes: usize) {
        let b = bytes as u64;
        self.n += 1;
        self.sum += b;
        self.max = self.max.max(b);
        self.all.push(b);
    }

    fn row(&mut self, name: &str, baseline: f64) -> f64 {
        self.all.sort_unstable();
        let mean = self.sum as f64 / self.n as f64;
        let p50 = self.all[self.all.len() / 2];
        let p99 = self.all[self.all.len() * 99 / 100];
        let ratio = if baseline > 0.0 { mean / baseline } else { 1.0 };
        println!(
            "| {name} | {mean:.1} | {p50} | {p99} | {} | {ratio:.3} |",
            self.max
        );
        mean
    }
}

fn main() {
    let (mut full_json, mut full_bin) = (Sizes::default(), Sizes::default());
    let (mut sent_json, mut sent_bin) = (Sizes::default(), Sizes::default());
    let (mut fulls_sent, mut ticks, mut rounds) = (0u64, 0u64, 0u64);
    let seeds = [1u64, 2, 3];
    for seed in seeds {
        let mut g = game::create("cycles", &json!({"seats": 4}), seed).unwrap();
        let info = CyclesInfo::from_json(&g.info()).unwrap();
        let mut models: Vec<CyclesModel> = (0..4).map(|_| CyclesModel::new(info)).collect();
        let mut brains: Vec<CyclesBrain> = (0..4u8)
            .map(|s| CyclesBrain::new(s, seed * 16 + u64::from(s)))
            .collect();
        let first = g.snapshot();
        for m in &mut models {
            m.apply(first.get()).unwrap();
        }
        let mut sent = g.tick();
        let mut events: Vec<GameEvent> = Vec::new();
        let mut out = Vec::new();
        while g.outcome().is_none() {
            for (seat, (model, brain)) in models.iter().zip(&mut brains).enumerate() {
                if let Some(turn) = brain.decide(model) {
                    g.apply_input(seat as u8, &json!(turn)).unwrap();
                }
            }
            events.clear();
            g.step(&mut events);
            rounds += events
                .iter()
                .filter(|e| matches!(e, GameEvent::Custom { name, .. } if name == "round_over"))
                .count() as u64;
            ticks += 1;
            full_json.add(g.snapshot().get().len());
            out.clear();
            g.snapshot_bin(&mut out);
            full_bin.add(out.len());
            let frame = g.snapshot_since(sent);
            if frame.get().contains("\"full\":true") {
                fulls_sent += 1;
            }
            sent_json.add(frame.get().len());
            out.clear();
            g.snapshot_since_bin(sent, &mut out);
            sent_bin.add(out.len());
            sent = g.tick();
            for m in &mut models {
                m.apply(frame.get()).unwrap();
            }
        }
    }
    println!(
        "{} matches (seeds {seeds:?}), {ticks} ticks, {rounds} rounds, {fulls_sent} full frames sent",
        seeds.len()
    );
    println!();
    println!("| state per tick | mean bytes | p50 | p99 | max | vs full JSON |");
    println!("|---|---:|---:|---:|---:|---:|");
    let base = full_json.row("full state, JSON", 0.0);
    full_bin.row("full state, compact (`rally.v1.bin`)", base);
    sent_json.row("**sent: delta + periodic full, JSON**", base);
    sent_bin.row("**sent: delta + periodic full, compact**", base);
}
