//! Bytes per Pong snapshot in each candidate encoding, over a whole scripted match (the figures
//! of docs/benchmarks.md, "rally.v1.bin: bytes per snapshot"). Deterministic: the same output on
//! every machine.
//!
//!     cargo run --example snapshot_sizes
//!
//! Candidates: JSON (`rally.v1.json`, what the server sends), the MessagePack map form of that
//! JSON (every key kept), the compact form `rally.v1.bin` sends (positional arrays), and the
//! postcard layout of the same fields (LEB128 varints, zigzag for signed, no keys), computed by
//! postcard's rules here rather than with the crate (it would be a dependency for one figure).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use rally::game;
use rally::protocol::{self, bin, msgpack};
use serde_json::{json, Value};

fn varint(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn zigzag(n: i64) -> usize {
    varint(((n << 1) ^ (n >> 63)) as u64)
}

/// Postcard bytes of `Snapshot { tick, acks: Vec<u64>, ack_ticks: Vec<u64>, state: Pong }` as a
/// variant of a message enum (one tag byte).
fn postcard(tick: u64, acks: &[u64], ack_ticks: &[u64], state: &Value) -> usize {
    let ints = |v: &Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect()
    };
    let mut n = 1 + varint(tick);
    n += varint(acks.len() as u64) + acks.iter().map(|&a| varint(a)).sum::<usize>();
    n += varint(ack_ticks.len() as u64) + ack_ticks.iter().map(|&a| varint(a)).sum::<usize>();
    n += varint(state["tick"].as_u64().unwrap());
    n += ints(&state["ball"]).into_iter().map(zigzag).sum::<usize>();
    n += ints(&state["paddles"])
        .into_iter()
        .map(zigzag)
        .sum::<usize>();
    n += ints(&state["scores"])
        .into_iter()
        .map(|s| varint(s as u64))
        .sum::<usize>();
    n += varint(state["serving_in"].as_u64().unwrap());
    n
}

#[derive(Default)]
struct Sizes {
    total: usize,
    min: usize,
    max: usize,
}

impl Sizes {
    fn add(&mut self, n: usize) {
        self.total += n;
        self.min = if self.min == 0 { n } else { self.min.min(n) };
        self.max = self.max.max(n);
    }
}

fn main() {
    let mut g = game::create("pong", &json!({}), 7).unwrap();
    let mut events = Vec::new();
    let (mut seq, mut ack_ticks, mut intent) = ([0u64; 2], [0u64; 2], ["stop"; 2]);
    let names = [
        "JSON (rally.v1.json)",
        "MessagePack map form",
        "compact (rally.v1.bin)",
        "postcard layout",
    ];
    let mut sizes: [Sizes; 4] = Default::default();
    let mut snapshots = 0;
    // A bound in case the scripted players never miss.
    while g.outcome().is_none() && g.tick() < 30_000 {
        let state: Value = serde_json::from_str(g.snapshot().get()).unwrap();
        let ball_y = state["ball"][1].as_i64().unwrap();
        for seat in 0..2 {
            let pad_y = state["paddles"][seat].as_i64().unwrap();
            // Seat 1 reacts late and only every third tick: points are scored, rallies happen.
            if seat == 1 && g.tick() % 3 != 0 {
                continue;
            }
            let lag = if seat == 1 { 700 } else { 150 };
            let want = if ball_y < pad_y - lag {
                "up"
            } else if ball_y > pad_y + lag {
                "down"
            } else {
                "stop"
            };
            if want != intent[seat] {
                intent[seat] = want;
                seq[seat] += 1;
                ack_ticks[seat] = g.tick() + 1;
                g.apply_input(seat as u8, &json!(want)).unwrap();
            }
        }
        events.clear();
        g.step(&mut events);
        let tick = g.tick();
        let raw = g.snapshot();
        let state: Value = serde_json::from_str(raw.get()).unwrap();
        let text = protocol::snapshot_frame(tick, &seq, &ack_ticks, &raw);
        let mut map = Vec::new();
        msgpack::from_json(&text, &mut map).unwrap();
        let mut compact = Vec::new();
        bin::snapshot_head(&mut compact, tick, &seq, &ack_ticks);
        g.snapshot_bin(&mut compact);
        assert_eq!(compact, bin::from_server_json(&text), "both paths agree");
        sizes[0].add(text.len());
        sizes[1].add(map.len());
        sizes[2].add(compact.len());
        sizes[3].add(postcard(tick, &seq, &ack_ticks, &state));
        snapshots += 1;
    }
    println!(
        "one scripted Pong match (seed 7, points to win 5): {snapshots} snapshots, final score {:?}",
        g.scores()
    );
    println!("| encoding | bytes per snapshot (mean) | min | max | vs JSON |");
    println!("|---|---:|---:|---:|---:|");
    let json_mean = sizes[0].total as f64 / snapshots as f64;
    for (name, s) in names.iter().zip(&sizes) {
        let mean = s.total as f64 / snapshots as f64;
        println!(
            "| {name} | {mean:.1} | {} | {} | {:.2} |",
            s.min,
            s.max,
            mean / json_mean
        );
    }
    // The WebSocket header the server adds to each frame: 2 bytes below 126.
    let input_json = r#"{"type":"input","seq":57,"input":"up"}"#.len();
    let input_bin = bin::encode_client(&protocol::ClientMsg::Input {
        seq: 57,
        input: json!("up"),
        tick: None,
    })
    .len();
    println!("input {{seq 57, \"up\"}}: JSON {input_json} bytes, compact {input_bin} bytes");
}
