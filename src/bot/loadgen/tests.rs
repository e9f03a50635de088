#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::game::{EndReason, Outcome};

fn shared(rooms: usize, matches: usize) -> Shared {
    let opts = Options::new("http://127.0.0.1:9", rooms, matches);
    Shared {
        remaining: AtomicI64::new((2 * rooms * matches) as i64),
        apis: vec![Api::new(&opts.urls[0], opts.http_timeout).unwrap()],
        ws_urls: Arc::new(vec!["ws://127.0.0.1:9/ws".into()]),
        opts,
        started: Instant::now(),
        rooms_started: OnceLock::new(),
        deadline: OnceLock::new(),
        live: Arc::new(LiveCounters::default()),
        totals: Mutex::new(Totals::default()),
        connected: AtomicUsize::new(0),
        in_match: AtomicUsize::new(0),
        matches_completed: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        rate_limited_waits: AtomicU64::new(0),
        rate_limit_hint: AtomicBool::new(false),
    }
}

fn summary(match_id: &str, seat: u8, latencies_ms: &[u64], gaps: u64) -> MatchSummary {
    let mut latency = Hist::default();
    for &ms in latencies_ms {
        latency.record(Duration::from_millis(ms));
    }
    MatchSummary {
        room: format!("room-{match_id}"),
        match_id: match_id.into(),
        seat,
        outcome: Outcome {
            winner: Some(0),
            scores: vec![1, 0],
            reason: EndReason::Score,
            places: vec![1, 2],
        },
        rated: true,
        duration: Duration::from_secs(3),
        snapshots: 100,
        ticks: Some((1, 100)),
        tick_gaps: gaps,
        max_tick_gap: gaps + 1,
        stale_snapshots: 0,
        inputs_sent: latencies_ms.len() as u64,
        inputs_unacked: 0,
        events: 2,
        points: 1,
        latency,
        snapshot_interval: Hist::default(),
        approaches: 3,
        planned_misses: 1,
        reconnects: Default::default(),
        left_at_stop: false,
        instance: Some(0),
    }
}

#[test]
fn matches_count_once_and_histograms_merge() {
    let s = shared(2, 1);
    s.record_match(&summary("m1", 0, &[10, 20], 0));
    s.record_match(&summary("m1", 1, &[30], 2));
    s.record_match(&summary("m2", 0, &[40], 1));
    let t = s.totals.lock();
    assert_eq!(t.matches.len(), 2);
    assert_eq!(s.matches_completed.load(Ordering::Relaxed), 2);
    assert_eq!(t.outcomes.get("score"), Some(&2));
    assert_eq!(t.latency.len(), 4);
    assert!((t.latency.max_ms() - 40.0).abs() < 0.4);
    assert_eq!(t.tick_gaps, 3);
    assert_eq!(t.max_tick_gap, 3);
}

#[test]
fn errors_are_counted_by_kind() {
    let s = shared(1, 1);
    s.record_error(
        "bot0",
        &BotError::Closed {
            code: Some(4011),
            reason: "slow".into(),
        },
    );
    s.record_error(
        "bot1",
        &BotError::Server {
            code: "room_full".into(),
            message: "full".into(),
        },
    );
    s.record_error("bot2", &BotError::Stranded);
    let t = s.totals.lock();
    assert_eq!(t.errors, 2);
    assert_eq!(t.disconnects, 1);
    assert_eq!(t.stranded, 1);
    assert_eq!(t.errors_by_kind.get("closed:4011"), Some(&1));
    assert_eq!(t.errors_by_kind.get("server:room_full"), Some(&1));
    assert!(t.first_error.as_deref().unwrap().starts_with("bot0: "));
}

#[test]
fn seeds_differ_per_bot_and_match() {
    let s = shared(2, 2);
    let seeds: HashSet<u64> = (0..4)
        .flat_map(|b| (0..2).map(move |m| (b, m)))
        .map(|(b, m)| s.play_options(b, 0, "t", m).seed)
        .collect();
    assert_eq!(seeds.len(), 8);
    assert_eq!(
        s.play_options(1, 0, "t", 1).seed,
        shared(2, 2).play_options(1, 0, "t", 1).seed
    );
}

#[tokio::test]
async fn report_shape_and_verdict() {
    // Nothing listens on port 9: every bot fails to create its guest account, quickly.
    let mut opts = Options::new("http://127.0.0.1:9", 1, 1);
    opts.progress_every = None;
    opts.http_timeout = Duration::from_secs(2);
    let report = run(opts).await.unwrap();
    assert_eq!(report.players, 2);
    assert_eq!(report.errors, 2);
    assert_eq!(report.errors_by_kind.get("http"), Some(&2));
    assert!(!report.ok());
    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "rooms",
        "players",
        "duration_s",
        "matches_completed",
        "inputs_sent",
        "snapshots_received",
        "latency_ms",
        "snapshot_interval_ms",
        "tick_gaps",
        "errors",
        "disconnects",
        "reconnects_ok",
        "reconnects_failed",
        "loadgen_cpu_s",
    ] {
        assert!(json.get(key).is_some(), "missing {key}: {json}");
    }
    for key in ["p50", "p90", "p99", "p999", "max"] {
        assert!(json["latency_ms"].get(key).is_some());
    }
    for key in ["p50", "p99", "max"] {
        assert!(json["snapshot_interval_ms"].get(key).is_some());
    }
    assert!(report.human("x").contains("0/1 matches"));
    assert!(
        report.failure().contains("2 errors"),
        "{}",
        report.failure()
    );
}

#[test]
fn timed_runs_multiple_urls_and_limits_from_the_command_line() {
    use clap::Parser;
    let cli = crate::cli::Cli::try_parse_from([
        "rally",
        "loadgen",
        "--url",
        "http://127.0.0.1:8081",
        "--url",
        "http://127.0.0.1:8082",
        "--rooms",
        "0",
        "--idle",
        "100",
        "--duration",
        "30s",
        "--ramp",
        "5s",
        "--input-hz",
        "30",
        "--reconnect-rate",
        "0.25",
        "--max-p99-ms",
        "25",
    ])
    .unwrap();
    let Some(crate::cli::Command::Loadgen(args)) = cli.command else {
        panic!("not loadgen");
    };
    let o = Options::try_from(&*args).unwrap();
    assert_eq!(o.urls.len(), 2);
    assert_eq!(o.duration, Some(Duration::from_secs(30)));
    assert_eq!(o.ramp, Duration::from_secs(5));
    assert_eq!((o.idle, o.input_hz, o.reconnect_rate), (100, 30.0, 0.25));
    assert_eq!(o.max_p99_ms, Some(25.0));
    assert_eq!(
        o.timeout,
        Duration::from_secs(600),
        "--timeout means what its help says: the default, not raised behind the user's back"
    );
    // A --timeout that would cut a timed run before its end is refused, not raised.
    let cli = crate::cli::Cli::try_parse_from([
        "rally",
        "loadgen",
        "--duration",
        "30s",
        "--timeout",
        "30s",
    ])
    .unwrap();
    let Some(crate::cli::Command::Loadgen(args)) = cli.command else {
        panic!("not loadgen");
    };
    let e = Options::try_from(&*args).unwrap_err().to_string();
    assert!(e.contains("--timeout") && e.contains("--duration"), "{e}");
    // --idle with no rooms needs a duration to hold them for.
    let cli = crate::cli::Cli::try_parse_from(["rally", "loadgen", "--rooms", "0", "--idle", "5"])
        .unwrap();
    let Some(crate::cli::Command::Loadgen(args)) = cli.command else {
        panic!("not loadgen");
    };
    assert!(Options::try_from(&*args).is_err());
}

#[test]
fn open_loop_schedules_and_drills_follow_the_options() {
    let mut s = shared(1, 1);
    s.opts.input_hz = 50.0;
    s.opts.reconnect_rate = 1.0;
    let o = s.play_options(0, 0, "t", 0);
    let sched = o.input_schedule.expect("open loop");
    assert_eq!(sched.period, Duration::from_millis(20));
    assert!(sched.phase < sched.period);
    let drill = o.reconnect.expect("reconnects").drop_after_snapshots;
    assert!(drill.is_some_and(|n| (30..240).contains(&n)), "{drill:?}");
    s.opts.input_hz = 0.0;
    s.opts.reconnect_rate = 0.0;
    let o = s.play_options(0, 0, "t", 0);
    assert!(o.input_schedule.is_none());
    assert_eq!(o.reconnect.and_then(|r| r.drop_after_snapshots), None);
}

#[test]
fn options_from_the_command_line() {
    use clap::Parser;
    let cli = crate::cli::Cli::try_parse_from([
        "rally",
        "loadgen",
        "--rooms",
        "3",
        "--matches",
        "2",
        "--mode",
        "private",
        "--miss-rate",
        "0.5",
        "--seed",
        "9",
        "--timeout",
        "30s",
        "--points-to-win",
        "2",
    ])
    .unwrap();
    let Some(crate::cli::Command::Loadgen(args)) = cli.command else {
        panic!("not loadgen");
    };
    let o = Options::try_from(&*args).unwrap();
    assert_eq!((o.rooms, o.matches, o.mode), (3, 2, Mode::Private));
    assert_eq!((o.seed, o.points_to_win), (9, Some(2)));
    assert_eq!(o.timeout, Duration::from_secs(30));
    assert_eq!(o.urls, ["http://127.0.0.1:8080"]);
    assert_eq!(o.input_hz, 60.0, "open loop at the tick rate by default");
    assert_eq!(o.duration, None);
    for bad in [
        ["--rooms", "0"],
        ["--miss-rate", "2"],
        ["--timeout", "soon"],
        ["--reconnect-rate", "1.5"],
        ["--input-hz", "500"],
        ["--duration", "forever"],
    ] {
        let cli = crate::cli::Cli::try_parse_from(["rally", "loadgen", bad[0], bad[1]]).unwrap();
        let Some(crate::cli::Command::Loadgen(args)) = cli.command else {
            panic!("not loadgen");
        };
        assert!(Options::try_from(&*args).is_err(), "{bad:?}");
    }
}
