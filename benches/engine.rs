//! Micro-benchmarks of the engine's hot paths (criterion). Run: `cargo bench --bench engine`.
//! Figures and the machine are recorded in docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use actix::prelude::*;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rally::game::{self, GameEvent};
use rally::protocol;
use rally::room::messages::Outbound;
use rally::tournament::bracket::{Bracket, Format};
use serde_json::json;

fn pong() -> Box<dyn game::Game> {
    let mut g = game::create("pong", &json!({}), 42).unwrap();
    let mut ev = Vec::new();
    // Past the first serve delay, ball in play.
    for _ in 0..120 {
        g.step(&mut ev);
    }
    g
}

fn bench_tick(c: &mut Criterion) {
    let mut g = pong();
    let mut events: Vec<GameEvent> = Vec::new();
    c.bench_function("pong_tick", |b| {
        b.iter(|| {
            events.clear();
            g.step(&mut events);
            if g.outcome().is_some() {
                g = pong();
            }
        })
    });
}

fn bench_snapshot_encode(c: &mut Criterion) {
    let g = pong();
    c.bench_function("snapshot_encode", |b| {
        b.iter(|| {
            let state = g.snapshot();
            black_box(protocol::snapshot_frame(
                g.tick(),
                &[12, 7],
                &[g.tick(), 0],
                &state,
            ))
        })
    });
}

/// The same snapshot in `rally.v1.bin` (compact form, the state written by the game), and as
/// the generic MessagePack map form of the JSON one (the alternative the compact form was
/// measured against, docs/benchmarks.md).
fn bench_snapshot_encode_bin(c: &mut Criterion) {
    let g = pong();
    c.bench_function("snapshot_encode_bin", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(64);
            protocol::bin::snapshot_head(&mut out, g.tick(), &[12, 7], &[g.tick(), 0]);
            g.snapshot_bin(&mut out);
            black_box(out)
        })
    });
    c.bench_function("snapshot_encode_msgpack_map", |b| {
        b.iter(|| {
            let state = g.snapshot();
            let json = protocol::snapshot_frame(g.tick(), &[12, 7], &[g.tick(), 0], &state);
            let mut out = Vec::with_capacity(128);
            protocol::msgpack::from_json(&json, &mut out).unwrap();
            black_box(out)
        })
    });
}

fn bench_input_decode(c: &mut Criterion) {
    let text = r#"{"type":"input","seq":12345,"input":"up"}"#;
    c.bench_function("input_decode", |b| {
        b.iter(|| black_box(protocol::parse_client(black_box(text)).unwrap()))
    });
    // [2, 12345, "up"]: the compact input.
    let bin = [0x93, 0x02, 0xcd, 0x30, 0x39, 0xa2, b'u', b'p'];
    c.bench_function("input_decode_bin", |b| {
        b.iter(|| black_box(protocol::bin::parse_client(black_box(&bin)).unwrap()))
    });
}

/// A session stand-in that drops every frame.
struct Sink;
impl Actor for Sink {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1 << 16);
    }
}
impl Handler<Outbound> for Sink {
    type Result = ();
    fn handle(&mut self, msg: Outbound, _: &mut Context<Self>) {
        black_box(msg);
    }
}

/// One playing tick as the room runs it: apply an input, step, encode the snapshot once,
/// fan it out to 2 players and 2 spectators through bounded actix mailboxes.
fn bench_room_tick(c: &mut Criterion) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let sys = System::new();
        sys.block_on(async {
            let sinks: Vec<Recipient<Outbound>> =
                (0..4).map(|_| Sink.start().recipient()).collect();
            tx.send(sinks).unwrap();
        });
        sys.run().unwrap();
    });
    let sinks = rx.recv().unwrap();
    let mut g = pong();
    let mut events = Vec::new();
    let mut seq = 0u64;
    c.bench_function("room_tick_fanout_2p_2s", |b| {
        b.iter(|| {
            seq += 1;
            let intent = if seq % 2 == 0 { "up" } else { "down" };
            g.apply_input(0, &json!(intent)).unwrap();
            events.clear();
            g.step(&mut events);
            let state = g.snapshot();
            let frame: bytestring::ByteString =
                protocol::snapshot_frame(g.tick(), &[seq, 0], &[g.tick(), 0], &state).into();
            for s in &sinks {
                let _ = s.try_send(Outbound {
                    frame: frame.clone(),
                });
            }
            if g.outcome().is_some() {
                g = pong();
            }
        })
    });
}

fn bench_bracket(c: &mut Criterion) {
    let seeds: Vec<String> = (0..64).map(|i| format!("player-{i:02}")).collect();
    c.bench_function("bracket_single_elimination_64", |b| {
        b.iter(|| {
            black_box(
                Bracket::new(
                    Format::SingleElimination { third_place: true },
                    black_box(seeds.clone()),
                )
                .unwrap(),
            )
        })
    });
    c.bench_function("bracket_round_robin_64", |b| {
        b.iter(|| black_box(Bracket::new(Format::RoundRobin, black_box(seeds.clone())).unwrap()))
    });
}

criterion_group!(
    benches,
    bench_tick,
    bench_snapshot_encode,
    bench_snapshot_encode_bin,
    bench_input_decode,
    bench_room_tick,
    bench_bracket
);
criterion_main!(benches);
