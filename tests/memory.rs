//! Memory of the real binary (a child process, SQLite in a temporary directory) under real
//! connections, read from /proc: what an idle authenticated connection costs, and that the
//! memory comes back when the connections and the rooms are gone. Bounds are generous (about
//! twice what the release build measures, docs/benchmarks.md "Memory"): they catch a
//! regression of the kind that doubles a figure (a buffer kept per connection, a task per
//! connection that should not exist, memory not returned), not a few hundred bytes. No timing
//! is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::binary::Binary;
use rally::bot::loadgen::{self, Mode, Options};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Idle connections opened by the test (enough that per-connection costs dominate noise).
const IDLE: usize = 1000;
/// Bound on RSS growth per idle authenticated connection, KiB (release build: see
/// docs/benchmarks.md; the test runs the debug build, whose own crate is unoptimised).
const MAX_KIB_PER_IDLE_CONNECTION: u64 = 8;
/// Rooms played in the return-to-baseline test.
const ROOMS: usize = 40;
/// What may stay resident after every room and connection is gone, beyond the baseline,
/// KiB: caches that are bounded whatever the load (SQLite's page cache holding the new
/// accounts and results, the metrics registry) — not a per-room or per-connection cost.
const MAX_KIB_LEFT_AFTER: u64 = 6 * 1024;

fn options(b: &Binary, rooms: usize) -> Options {
    let mut opts = Options::new(format!("http://{}", b.addr), rooms, 1);
    opts.progress_every = None;
    opts.seed = 3;
    opts.timeout = Duration::from_secs(120);
    opts
}

/// Samples the server's RSS every 100 ms until stopped; returns the highest value seen.
fn sample_peak(b: &Binary, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    let pid = b.pid();
    let peak = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            if let Some(r) = rss_kib(pid) {
                peak.fetch_max(r, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak.load(Ordering::Relaxed)
    })
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// A short run first, so that one-time costs (threads touching their stacks, the first
/// database pages, metric series) are in the baseline.
async fn warm_up(b: &Binary) {
    let mut opts = options(b, 2);
    opts.mode = Mode::Private;
    opts.points_to_win = Some(1);
    let r = loadgen::run(opts).await.expect("valid options");
    assert_eq!(r.errors, 0, "warm-up failed");
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// Rooms and sessions the server still counts (`rally_rooms`, `rally_sessions`, any state).
async fn live_rooms_and_sessions(b: &Binary) -> f64 {
    let text = b
        .http
        .get(b.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| l.starts_with("rally_rooms{") || l.starts_with("rally_sessions{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_authenticated_connection_costs_a_bounded_rss() {
    let b = Binary::start(&[]).await;
    warm_up(&b).await;
    let baseline = b.rss_kib();
    let mut opts = options(&b, 0);
    opts.idle = IDLE;
    opts.duration = Some(Duration::from_secs(3));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_peak(&b, stop.clone());
    let report = loadgen::run(opts).await.expect("valid options");
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.await.expect("sampler");
    let json = serde_json::to_string(&report).unwrap_or_default();
    assert_eq!(report.idle_connected, IDLE as u64, "{json}");
    assert_eq!(report.errors, 0, "{json}");
    let per_connection = peak.saturating_sub(baseline) as f64 / IDLE as f64;
    eprintln!(
        "rss baseline {baseline} KiB, peak {peak} KiB with {IDLE} idle connections: \
         {per_connection:.2} KiB each"
    );
    assert!(
        per_connection < MAX_KIB_PER_IDLE_CONNECTION as f64,
        "{per_connection:.2} KiB per idle connection (baseline {baseline} KiB, peak {peak} KiB)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rss_returns_to_its_baseline_after_the_rooms_end() {
    let b = Binary::start(&[("RALLY_POINTS_TO_WIN", "2")]).await;
    warm_up(&b).await;
    let baseline = b.rss_kib();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_peak(&b, stop.clone());
    let mut opts = options(&b, ROOMS);
    opts.mode = Mode::Private;
    opts.duration = Some(Duration::from_secs(6));
    opts.ramp = Duration::from_secs(1);
    let report = loadgen::run(opts).await.expect("valid options");
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.await.expect("sampler");
    let json = serde_json::to_string(&report).unwrap_or_default();
    assert_eq!(report.errors, 0, "{json}");
    assert!(report.snapshots_received > 0, "{json}");
    // Rooms linger briefly after their match, sessions close their handshake: wait until
    // the server says none is left, then give the allocator its decay time.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let live = live_rooms_and_sessions(&b).await;
        if live == 0.0 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = b.rss_kib();
    eprintln!("rss baseline {baseline} KiB, peak {peak} KiB with {ROOMS} rooms, {after} KiB after");
    assert!(
        peak > baseline,
        "the rooms cost nothing? (baseline {baseline} KiB, peak {peak} KiB)"
    );
    assert!(
        after.saturating_sub(baseline) < MAX_KIB_LEFT_AFTER,
        "RSS stayed {} KiB above its baseline after the rooms ended (baseline {baseline} \
         KiB, peak {peak} KiB, after {after} KiB)",
        after.saturating_sub(baseline)
    );
}
