//! The server's side of a load run, read from its own `/metrics` (the Prometheus text format):
//! CPU time, resident memory, sessions and rooms, and the tick-lateness histogram. The load
//! generator scrapes each instance before the run, when the measuring window opens (all bots
//! started) and when it closes, and reports the differences — so a benchmark needs no second
//! tool to see how hard the server worked.

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::round3;

/// One scrape of the metrics `load` reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scrape {
    /// When it was taken.
    pub at: Option<Instant>,
    /// `rally_process_cpu_seconds_total`.
    pub cpu_seconds: f64,
    /// `rally_process_resident_memory_bytes`.
    pub rss_bytes: f64,
    /// `rally_sessions` not in state `authenticating`.
    pub sessions: f64,
    /// `rally_rooms`, all label sets summed.
    pub rooms: f64,
    /// `rally_ticks_total`, all label sets summed.
    pub ticks: f64,
    /// `rally_ticks_skipped_total`, summed.
    pub ticks_skipped: f64,
    /// `rally_tick_lateness_seconds_bucket`: cumulative count per upper bound (seconds), all
    /// label sets summed; `+Inf` is `f64::INFINITY`.
    pub lateness: BTreeMap<Bound, f64>,
}

/// A histogram bucket bound with a total order (bounds are never NaN).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bound(pub f64);

impl Eq for Bound {}

impl PartialOrd for Bound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Bound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl Scrape {
    /// Parses the exposition text; unknown lines are ignored, so newer servers still parse.
    pub fn parse(text: &str) -> Self {
        let mut s = Scrape::default();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.trim().parse::<f64>() else {
                continue;
            };
            let (name, labels) = match series.split_once('{') {
                Some((n, l)) => (n, l.trim_end_matches('}')),
                None => (series, ""),
            };
            match name {
                "rally_process_cpu_seconds_total" => s.cpu_seconds += value,
                "rally_process_resident_memory_bytes" => s.rss_bytes += value,
                "rally_sessions" if label(labels, "state") != Some("authenticating") => {
                    s.sessions += value
                }
                "rally_rooms" => s.rooms += value,
                "rally_ticks_total" => s.ticks += value,
                "rally_ticks_skipped_total" => s.ticks_skipped += value,
                "rally_tick_lateness_seconds_bucket" => {
                    if let Some(le) = label(labels, "le") {
                        let bound = if le == "+Inf" {
                            f64::INFINITY
                        } else {
                            match le.parse::<f64>() {
                                Ok(b) => b,
                                Err(_) => continue,
                            }
                        };
                        *s.lateness.entry(Bound(bound)).or_default() += value;
                    }
                }
                _ => {}
            }
        }
        s
    }
}

/// The value of label `key` in `a="x",b="y"`.
fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

/// Fetches and parses `url`; `None` when the server does not answer with metrics (a separate
/// metrics listener, or metrics behind a proxy): the report then says so instead of failing.
pub async fn scrape(http: &reqwest::Client, url: &str) -> Option<Scrape> {
    let response = http.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let text = response.text().await.ok()?;
    let mut s = Scrape::parse(&text);
    s.at = Some(Instant::now());
    (s.rss_bytes > 0.0 || !s.lateness.is_empty()).then_some(s)
}

/// Tick lateness over the window, from the histogram's bucket counts: the upper bound of the
/// bucket holding each quantile (a bound, not an interpolation: "p99 ≤ 2 ms" is what it says).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatenessMs {
    /// Ticks in the window.
    pub ticks: u64,
    /// Upper bound of the median's bucket, ms.
    pub p50_le: f64,
    /// Upper bound of the 99th percentile's bucket, ms (`null`: above the largest bound).
    pub p99_le: Option<f64>,
    /// Upper bound of the 99.9th percentile's bucket, ms.
    pub p999_le: Option<f64>,
}

/// What one instance did during the measuring window.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ServerReport {
    /// The metrics URL.
    pub url: String,
    /// Whether the three scrapes succeeded; when false the other fields are zero.
    pub scraped: bool,
    /// Length of the window, seconds.
    pub window_s: f64,
    /// Server CPU over the window, percent of one core.
    pub cpu_percent: f64,
    /// Resident memory before the run, MiB.
    pub rss_before_mib: f64,
    /// Resident memory when the window closed (everything still connected), MiB.
    pub rss_mib: f64,
    /// Sessions when the window closed.
    pub sessions: u64,
    /// Rooms when the window closed.
    pub rooms: u64,
    /// Ticks skipped during the window (the room fell more than a tick behind).
    pub ticks_skipped: u64,
    /// Tick lateness during the window.
    pub tick_lateness_ms: LatenessMs,
}

impl ServerReport {
    /// From the scrapes before the run and at both ends of the window.
    pub fn from_scrapes(
        url: &str,
        before: Option<&Scrape>,
        start: Option<&Scrape>,
        end: Option<&Scrape>,
    ) -> Self {
        let (Some(before), Some(start), Some(end)) = (before, start, end) else {
            return Self {
                url: url.to_owned(),
                ..Self::default()
            };
        };
        let window = match (start.at, end.at) {
            (Some(a), Some(b)) => b.saturating_duration_since(a),
            _ => Duration::ZERO,
        };
        let window_s = window.as_secs_f64();
        let mib = |b: f64| round1(b / (1024.0 * 1024.0));
        Self {
            url: url.to_owned(),
            scraped: true,
            window_s: round1(window_s),
            cpu_percent: if window_s > 0.0 {
                round1(100.0 * (end.cpu_seconds - start.cpu_seconds) / window_s)
            } else {
                0.0
            },
            rss_before_mib: mib(before.rss_bytes),
            rss_mib: mib(end.rss_bytes),
            sessions: end.sessions.max(0.0) as u64,
            rooms: end.rooms.max(0.0) as u64,
            ticks_skipped: (end.ticks_skipped - start.ticks_skipped).max(0.0) as u64,
            tick_lateness_ms: lateness_between(start, end),
        }
    }
}

/// Quantiles of the lateness histogram's growth from `start` to `end`.
pub fn lateness_between(start: &Scrape, end: &Scrape) -> LatenessMs {
    let delta: Vec<(f64, f64)> = end
        .lateness
        .iter()
        .map(|(b, c)| (b.0, c - start.lateness.get(b).copied().unwrap_or(0.0)))
        .collect();
    let total = delta.last().map(|&(_, c)| c).unwrap_or(0.0);
    let quantile = |q: f64| -> Option<f64> {
        if total <= 0.0 {
            return Some(0.0);
        }
        let want = q * total;
        delta
            .iter()
            .find(|&&(_, c)| c >= want)
            .and_then(|&(b, _)| b.is_finite().then_some(round3(b * 1000.0)))
    };
    LatenessMs {
        ticks: total.max(0.0) as u64,
        p50_le: quantile(0.5).unwrap_or(f64::INFINITY),
        p99_le: quantile(0.99),
        p999_le: quantile(0.999),
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP rally_tick_lateness_seconds x
# TYPE rally_tick_lateness_seconds histogram
rally_tick_lateness_seconds_bucket{game="pong",le="0.001"} 90
rally_tick_lateness_seconds_bucket{game="pong",le="0.002"} 99
rally_tick_lateness_seconds_bucket{game="pong",le="0.004"} 100
rally_tick_lateness_seconds_bucket{game="pong",le="+Inf"} 100
rally_tick_lateness_seconds_sum{game="pong"} 0.05
rally_process_cpu_seconds_total 12.5
rally_process_resident_memory_bytes 10485760
rally_sessions{state="active"} 4
rally_sessions{state="authenticating"} 2
rally_rooms{game="pong",state="playing"} 2
rally_rooms{game="pong",state="waiting"} 1
"#;

    #[test]
    fn parses_the_series_it_needs_and_sums_label_sets() {
        let s = Scrape::parse(TEXT);
        assert_eq!(s.cpu_seconds, 12.5);
        assert_eq!(s.rss_bytes, 10_485_760.0);
        assert_eq!(s.sessions, 4.0);
        assert_eq!(s.rooms, 3.0);
        assert_eq!(s.lateness.get(&Bound(0.002)), Some(&99.0));
        assert_eq!(s.lateness.get(&Bound(f64::INFINITY)), Some(&100.0));
    }

    #[test]
    fn lateness_quantiles_are_bucket_bounds_of_the_window() {
        let start = Scrape::parse(TEXT);
        // 1,000 more ticks: 985 within 1 ms, 10 within 2 ms, 5 within 4 ms.
        let end = Scrape::parse(
            &TEXT
                .replace("le=\"0.001\"} 90", "le=\"0.001\"} 1075")
                .replace("le=\"0.002\"} 99", "le=\"0.002\"} 1094")
                .replace("le=\"0.004\"} 100", "le=\"0.004\"} 1100")
                .replace("le=\"+Inf\"} 100", "le=\"+Inf\"} 1100"),
        );
        let l = lateness_between(&start, &end);
        assert_eq!(l.ticks, 1000);
        assert_eq!(l.p50_le, 1.0);
        assert_eq!(l.p99_le, Some(2.0));
        assert_eq!(l.p999_le, Some(4.0));
    }

    #[test]
    fn a_quantile_beyond_the_largest_bound_is_null() {
        let start = Scrape::parse(TEXT);
        let end = Scrape::parse(&TEXT.replace("le=\"+Inf\"} 100", "le=\"+Inf\"} 200"));
        let l = lateness_between(&start, &end);
        assert_eq!(l.ticks, 100);
        assert_eq!(l.p99_le, None);
    }
}
