//! Metrics: the Prometheus recorder (installed once per process), its upkeep, the process
//! collector, the HTTP middleware, and the registration of every metric at start so counters
//! that may stay at zero are visible to dashboards and alerts.
//!
//! `docs/metrics.md` is the contract: every name, type, unit, label set and bucket list.
//! Labels are bounded: no room or player ids; the HTTP route label is the route pattern.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Buckets for HTTP latency, seconds: 1 ms … 5 s.
pub const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Buckets for tick work and lateness, seconds: 50 µs … 50 ms. A 60 Hz tick has a 16.7 ms
/// budget; the sub-millisecond end shows healthy ticks, the top end shows missed ones.
pub const TICK_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.0167, 0.025, 0.05,
];

/// Buckets for waits measured in seconds to minutes (matchmaking, no-shows, tournament match
/// start delay): 0.1 s … 5 min.
pub const WAIT_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// Buckets for registry and cross-instance operations, seconds: 100 µs … 1 s (a Redis round
/// trip on a LAN is ~0.2–2 ms).
pub const REGISTRY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// How often histogram upkeep runs: the exporter keeps every recorded sample until upkeep (or
/// a scrape) folds it into the buckets. Rooms record seven timings per tick, so at 5 s the
/// pending samples were the largest per-room heap item in a massif profile (~33 KiB a room at
/// 60 Hz, docs/benchmarks.md); at 1 s they are a fifth of that.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// Install the global recorder once (later calls return the same handle: tests start several
/// servers in one process) and start its upkeep thread.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("http_request_duration_seconds".into()),
                    HTTP_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Prefix("rally_tick_".into()), TICK_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("wait_seconds".into()), WAIT_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("rally_registry_op_duration_seconds".into()),
                        REGISTRY_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("rally_cross_instance_latency_seconds".into()),
                        REGISTRY_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("rally_tournament_match_start_delay_seconds".into()),
                        WAIT_BUCKETS,
                    )
                })
                .map_err(|e| e.to_string())?;
            let handle = builder.install_recorder().map_err(|e| e.to_string())?;
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                })
                .map_err(|e| e.to_string())?;
            let collector = metrics_process::Collector::new("rally_");
            collector.describe();
            let _ = PROCESS.set(collector);
            describe();
            describe_engine();
            describe_cluster();
            crate::tournament::describe_metrics();
            crate::durable::describe_metrics();
            crate::room::sweep::describe_metrics();
            Ok(handle)
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))
}

/// Render the exposition text (refreshing process metrics first).
pub fn render(handle: &PrometheusHandle) -> String {
    if let Some(c) = PROCESS.get() {
        c.collect();
    }
    handle.render()
}

/// Describe every metric and register zero-valued series for counters that may stay at zero.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "rally_http_requests_total",
        "HTTP requests by method, route pattern and status"
    );
    describe_histogram!(
        "rally_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by method and route pattern"
    );
    describe_counter!(
        "rally_auth_rate_limited_total",
        "Authentication attempts refused by the per-address rate limit"
    );
    describe_counter!(
        "rally_auth_failures_total",
        "Refused logins and tokens, by reason"
    );
    describe_counter!(
        "rally_accounts_created_total",
        "Accounts created, by kind (player, guest)"
    );
    describe_gauge!(
        "rally_build_info",
        "Always 1; the version label says which build runs"
    );
    metrics::counter!("rally_auth_rate_limited_total").absolute(0);
    for reason in ["bad_credentials", "invalid_token", "forbidden"] {
        metrics::counter!("rally_auth_failures_total", "reason" => reason).absolute(0);
    }
    for kind in ["player", "guest"] {
        metrics::counter!("rally_accounts_created_total", "kind" => kind).absolute(0);
    }
    metrics::gauge!("rally_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// actix middleware: count and time every request by route pattern (never the raw path).
pub async fn http_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let status = res.status().as_u16().to_string();
    metrics::counter!("rally_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("rally_http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    Ok(res)
}

/// Pre-registered handles for the engine's hot paths (tick, fan-out, sessions): looking a
/// metric up by name and labels on every frame would cost a hash per call.
pub struct EngineMetrics {
    /// `rally_inputs_total{result="applied"}`.
    pub inputs_applied: metrics::Counter,
    /// `rally_inputs_total{result="repeated"}`.
    pub inputs_repeated: metrics::Counter,
    /// `rally_inputs_total{result="dropped"}`.
    pub inputs_dropped: metrics::Counter,
    /// `rally_inputs_total{result="rejected"}`.
    pub inputs_rejected: metrics::Counter,
    /// `rally_ws_frames_total{direction="in"}`.
    pub frames_in: metrics::Counter,
    /// `rally_ws_frames_total{direction="out"}`.
    pub frames_out: metrics::Counter,
    /// `rally_ws_bytes_total{direction="in"}`.
    pub bytes_in: metrics::Counter,
    /// `rally_ws_bytes_total{direction="out"}`.
    pub bytes_out: metrics::Counter,
    /// `rally_slow_client_disconnects_total`.
    pub slow_clients: metrics::Counter,
    /// `rally_reconnections_total`.
    pub reconnections: metrics::Counter,
    /// `rally_session_takeovers_total`.
    pub takeovers: metrics::Counter,
}

/// Tick phases, in order; the `phase` label values of `rally_tick_duration_seconds`.
pub const TICK_PHASES: [&str; 6] = [
    "drain_inputs",
    "simulate",
    "outcome",
    "encode",
    "fanout",
    "total",
];

/// Room states; the `state` label values of `rally_rooms`.
pub const ROOM_STATES: [&str; 5] = ["waiting", "countdown", "playing", "paused", "finished"];

/// Match outcomes; the `outcome` label values of `rally_matches_finished_total`.
pub const OUTCOMES: [&str; 4] = ["score", "forfeit", "resign", "abandoned"];

/// Reasons for `rally_ws_disconnects_total{reason}`.
pub const DISCONNECT_REASONS: [&str; 9] = [
    "client_closed",
    "auth_failed",
    "auth_timeout",
    "heartbeat_timeout",
    "rate_limited",
    "protocol_error",
    "too_big",
    "replaced",
    "slow_client",
];

static ENGINE: OnceLock<EngineMetrics> = OnceLock::new();

/// A room's tick metrics, labelled with its game (`game` is one of [`crate::game::GAMES`]: a
/// bounded label).
pub struct TickMetrics {
    /// `rally_tick_duration_seconds{game,phase}` by phase index (see [`TICK_PHASES`]).
    pub tick_phase: Vec<metrics::Histogram>,
    /// `rally_tick_lateness_seconds{game}`.
    pub tick_lateness: metrics::Histogram,
    /// `rally_ticks_total{game}`.
    pub ticks: metrics::Counter,
    /// `rally_ticks_skipped_total{game}`.
    pub ticks_skipped: metrics::Counter,
}

static TICKS: OnceLock<Vec<(&'static str, TickMetrics)>> = OnceLock::new();

/// The tick metric handles of `game` (registered on first use, for every known game at once;
/// a kind the factory does not know shares the first game's series, which cannot happen for a
/// running room).
pub fn ticks(game: &str) -> &'static TickMetrics {
    let all = TICKS.get_or_init(|| {
        use metrics::{counter, histogram};
        crate::game::GAMES
            .iter()
            .map(|&g| {
                (
                    g,
                    TickMetrics {
                        tick_phase: TICK_PHASES
                            .iter()
                            .map(|p| {
                                histogram!("rally_tick_duration_seconds", "game" => g, "phase" => *p)
                            })
                            .collect(),
                        tick_lateness: histogram!("rally_tick_lateness_seconds", "game" => g),
                        ticks: counter!("rally_ticks_total", "game" => g),
                        ticks_skipped: counter!("rally_ticks_skipped_total", "game" => g),
                    },
                )
            })
            .collect()
    });
    let found = all.iter().find(|(g, _)| *g == game).or(all.first());
    match found {
        Some((_, m)) => m,
        // GAMES is never empty; this keeps the function total.
        None => unreachable_ticks(),
    }
}

/// Handles that record nowhere (only if no game were registered at all).
fn unreachable_ticks() -> &'static TickMetrics {
    static NONE: OnceLock<TickMetrics> = OnceLock::new();
    NONE.get_or_init(|| TickMetrics {
        tick_phase: TICK_PHASES
            .iter()
            .map(|_| metrics::Histogram::noop())
            .collect(),
        tick_lateness: metrics::Histogram::noop(),
        ticks: metrics::Counter::noop(),
        ticks_skipped: metrics::Counter::noop(),
    })
}

/// The engine's metric handles (registered on first use; call [`install`] first).
pub fn engine() -> &'static EngineMetrics {
    ENGINE.get_or_init(|| {
        use metrics::counter;
        EngineMetrics {
            inputs_applied: counter!("rally_inputs_total", "result" => "applied"),
            inputs_repeated: counter!("rally_inputs_total", "result" => "repeated"),
            inputs_dropped: counter!("rally_inputs_total", "result" => "dropped"),
            inputs_rejected: counter!("rally_inputs_total", "result" => "rejected"),
            frames_in: counter!("rally_ws_frames_total", "direction" => "in"),
            frames_out: counter!("rally_ws_frames_total", "direction" => "out"),
            bytes_in: counter!("rally_ws_bytes_total", "direction" => "in"),
            bytes_out: counter!("rally_ws_bytes_total", "direction" => "out"),
            slow_clients: counter!("rally_slow_client_disconnects_total"),
            reconnections: counter!("rally_reconnections_total"),
            takeovers: counter!("rally_session_takeovers_total"),
        }
    })
}

/// Describe the engine metrics and create every series that may stay at zero.
pub fn describe_engine() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!("rally_rooms", "Rooms on this instance by state");
    describe_gauge!(
        "rally_sessions",
        "WebSocket sessions by state (authenticating, active)"
    );
    describe_histogram!(
        "rally_tick_duration_seconds",
        Unit::Seconds,
        "Time spent in each tick phase"
    );
    describe_histogram!(
        "rally_tick_lateness_seconds",
        Unit::Seconds,
        "How late each tick started against its absolute deadline"
    );
    describe_counter!("rally_ticks_total", "Ticks simulated");
    describe_counter!(
        "rally_ticks_skipped_total",
        "Ticks skipped because a room fell too far behind"
    );
    describe_counter!(
        "rally_inputs_total",
        "Inputs by result (applied, dropped, rejected)"
    );
    describe_counter!("rally_ws_frames_total", "WebSocket frames by direction");
    describe_counter!(
        "rally_ws_bytes_total",
        Unit::Bytes,
        "WebSocket payload bytes by direction"
    );
    describe_counter!(
        "rally_ws_disconnects_total",
        "WebSocket sessions closed, by reason"
    );
    describe_gauge!(
        "rally_matchmaking_queue_players",
        "Players waiting in the quick-match queue"
    );
    describe_histogram!(
        "rally_matchmaking_wait_seconds",
        Unit::Seconds,
        "Time from queueing to being matched"
    );
    describe_counter!(
        "rally_reconnections_total",
        "Players who took their seat back after a drop"
    );
    describe_counter!(
        "rally_session_takeovers_total",
        "Sessions closed because a newer one of the same player arrived"
    );
    describe_counter!(
        "rally_slow_client_disconnects_total",
        "Sessions dropped because their outbound queue overflowed"
    );
    describe_counter!(
        "rally_matches_finished_total",
        "Matches finished, by outcome"
    );
    for g in crate::game::GAMES {
        let t = ticks(g);
        t.ticks.increment(0);
        t.ticks_skipped.increment(0);
    }
    let m = engine();
    for c in [
        &m.inputs_applied,
        &m.inputs_repeated,
        &m.inputs_dropped,
        &m.inputs_rejected,
        &m.frames_in,
        &m.frames_out,
        &m.bytes_in,
        &m.bytes_out,
        &m.slow_clients,
        &m.reconnections,
        &m.takeovers,
    ] {
        c.increment(0);
    }
    for s in ROOM_STATES {
        metrics::gauge!("rally_rooms", "state" => s).increment(0.0);
    }
    for s in ["authenticating", "active"] {
        metrics::gauge!("rally_sessions", "state" => s).increment(0.0);
    }
    for o in OUTCOMES {
        metrics::counter!("rally_matches_finished_total", "outcome" => o).increment(0);
    }
    for r in DISCONNECT_REASONS {
        metrics::counter!("rally_ws_disconnects_total", "reason" => r).increment(0);
    }
    describe_counter!(
        "rally_ws_refused_total",
        "WebSocket upgrades refused: too many connections waiting to authenticate"
    );
    for r in ["per_address", "total"] {
        metrics::counter!("rally_ws_refused_total", "reason" => r).increment(0);
    }
    metrics::gauge!("rally_matchmaking_queue_players").set(0.0);
}

/// Describe the multi-instance metrics and create their zero series (they exist on a single
/// instance too, at zero, so dashboards and alerts never miss a series).
pub fn describe_cluster() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "rally_registry_ops_total",
        "Redis registry operations by op and result (ok, error)"
    );
    describe_histogram!(
        "rally_registry_op_duration_seconds",
        Unit::Seconds,
        "Time of one Redis registry operation, by op"
    );
    describe_counter!(
        "rally_lease_renewals_total",
        "Leases renewed (or re-created after a Redis flush) by this instance"
    );
    describe_counter!(
        "rally_lease_losses_total",
        "Leases found owned by another instance at renewal (the resource stepped down)"
    );
    describe_gauge!("rally_instance_rooms", "Rooms owned by this instance");
    describe_counter!(
        "rally_cross_instance_messages_total",
        "Messages to (out) and from (in) other instances over pub/sub"
    );
    describe_histogram!(
        "rally_cross_instance_latency_seconds",
        Unit::Seconds,
        "One-way latency of a cross-instance message, publish to dispatch"
    );
    describe_counter!(
        "rally_failovers_total",
        "Orphaned resources adopted by this instance, by kind (room, tournament)"
    );
    describe_counter!(
        "rally_routes_lost_total",
        "Local sessions told to reconnect (1012) because their route to a room on another instance was lost, by why"
    );
    for op in crate::registry::cluster::REGISTRY_OPS {
        for result in ["ok", "error"] {
            metrics::counter!("rally_registry_ops_total", "op" => op, "result" => result)
                .increment(0);
        }
    }
    metrics::counter!("rally_lease_renewals_total").increment(0);
    metrics::counter!("rally_lease_losses_total").increment(0);
    metrics::gauge!("rally_instance_rooms").set(0.0);
    for d in ["in", "out"] {
        metrics::counter!("rally_cross_instance_messages_total", "direction" => d).increment(0);
    }
    for k in ["room", "tournament"] {
        metrics::counter!("rally_failovers_total", "kind" => k).increment(0);
    }
    for why in crate::registry::remote::ROUTE_LOSSES {
        metrics::counter!("rally_routes_lost_total", "why" => why).increment(0);
    }
}
