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

/// Buckets for waits measured in seconds to minutes (matchmaking, no-shows): 0.1 s … 5 min.
pub const WAIT_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// How often histogram upkeep runs (drains the per-thread buckets).
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

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
