//! Memory of the real binary (a child process, SQLite in a temporary directory) under real
//! connections, read from /proc: what an idle authenticated connection costs, and that the
//! memory left once the rooms are gone stays bounded. The per-connection bound is issue 14's
//! goal (8 KiB; the debug build measures 5-6.3, the release build 5.3, docs/benchmarks.md
//! "Memory"): it fails if a per-connection task or buffer like the ~3 KiB actix-http
//! connection task comes back. No timing is asserted.
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
/// Rooms played per round in the after-the-rooms test.
const ROOMS: usize = 60;
/// Bound on RSS growth per active room (two players, live match, replay log), KiB. Issue 14's
/// goal, 48, is for the release build, which measures 35.6–42.3 at 200 rooms
/// (docs/benchmarks.md "Memory"); the debug build this test runs measured 40.7 here (60 rooms)
/// and 52.6 at 200 rooms on a loaded machine (frames wait longer in the outlets), hence the
/// margin. It fails if a per-room buffer of a few KiB comes back.
const MAX_KIB_PER_ROOM: u64 = 56;
/// What may stay resident after every room and connection is gone, beyond the baseline, KiB
/// (~100 KiB per room): what glibc's arenas keep for reuse (they return little to the
/// system; docs/benchmarks.md "Memory") and the database's page cache (bounded by
/// `db::SQLITE_CACHE_KIB` per connection). Measured with the debug build: 2.7–3.0 MiB. This
/// catches rooms or sessions kept after they end at twice their size, not small leaks
/// (allocator retention hides those at this scale).
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

/// One round of ROOMS private rooms for a few seconds; returns the RSS peak while they
/// played and the RSS once every room and session is gone (after a pause for the allocator).
async fn round(b: &Binary, seed: u64) -> (u64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_peak(b, stop.clone());
    let mut opts = options(b, ROOMS);
    opts.mode = Mode::Private;
    opts.seed = seed;
    opts.duration = Some(Duration::from_secs(6));
    opts.ramp = Duration::from_secs(2);
    let report = loadgen::run(opts).await.expect("valid options");
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.await.expect("sampler");
    let json = serde_json::to_string(&report).unwrap_or_default();
    assert_eq!(report.errors, 0, "{json}");
    assert!(report.snapshots_received > 0, "{json}");
    // Rooms linger briefly after their match, sessions finish their close handshake: wait
    // until the server counts none, then give the allocator a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while live_rooms_and_sessions(b).await > 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "rooms or sessions still live 30 s after the load generator left"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    (peak, b.rss_kib())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rss_after_the_rooms_end_stays_within_a_bound_of_its_baseline() {
    // All bots connect from 127.0.0.1 within the ramp: more may wait to authenticate at once
    // than the default per-address bound on a busy machine.
    let b = Binary::start(&[
        ("RALLY_POINTS_TO_WIN", "2"),
        ("RALLY_WS_MAX_PENDING_PER_IP", "1000"),
    ])
    .await;
    warm_up(&b).await;
    let baseline = b.rss_kib();
    let (peak, after) = round(&b, 1).await;
    let per_room = peak.saturating_sub(baseline) as f64 / ROOMS as f64;
    eprintln!(
        "rss baseline {baseline} KiB; {ROOMS} rooms: peak {peak} KiB ({per_room:.1} KiB per \
         room), {after} KiB after"
    );
    assert!(
        peak > baseline,
        "the rooms cost nothing? ({baseline} -> {peak} KiB)"
    );
    assert!(
        per_room < MAX_KIB_PER_ROOM as f64,
        "{per_room:.1} KiB per active room (baseline {baseline} KiB, peak {peak} KiB)"
    );
    assert!(
        after.saturating_sub(baseline) < MAX_KIB_LEFT_AFTER,
        "RSS stayed {} KiB above its baseline after the rooms ended (baseline {baseline} \
         KiB, peak {peak} KiB, after {after} KiB)",
        after.saturating_sub(baseline)
    );
}
