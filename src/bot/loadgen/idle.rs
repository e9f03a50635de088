//! `--idle N`: N authenticated connections that do nothing but stay connected (answering the
//! server's heartbeat pings), for the connections-per-instance figure.
//!
//! Each takes a guest account, connects and authenticates, then reads until the run ends. On a
//! loopback server the connections are spread over several source addresses (127.0.0.1,
//! 127.0.0.2, …; [`PER_SOURCE_ADDRESS`] each), because one source address has only about
//! 28,000 ephemeral ports towards one server port. The process's open-file limit is raised to
//! its hard limit first; it, and the server's, bound how many connections can exist.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::Shared;
use crate::bot::client::BotClient;
use crate::bot::error::BotError;

/// Connections per loopback source address (well below the default ephemeral range of 28,232
/// ports, so a run of 20,000 exercises two addresses).
pub const PER_SOURCE_ADDRESS: usize = 10_000;
/// Guest creations and connection handshakes in flight at once: half the server's default
/// bound on connections waiting to authenticate from one address (`RALLY_WS_MAX_PENDING_PER_IP`,
/// 32; docs/security.md), so a loaded server that authenticates slowly never answers the idle
/// connections' upgrades with 429.
pub const CONCURRENCY: usize = 16;

/// The held connections; dropping it (or [`Idle::close`]) ends them.
pub struct Idle {
    tasks: JoinSet<()>,
    /// Connections authenticated.
    pub connected: u64,
    /// Connections that could not be set up (counted as errors).
    pub failed: u64,
    /// Connections lost while held (counted as errors and disconnects).
    pub dropped: Arc<AtomicU64>,
}

impl Idle {
    /// Ends every held connection.
    pub async fn close(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Raises the soft open-file limit to the hard limit; returns the limit now in force.
pub fn raise_fd_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

/// The source address of connection `i` towards `ws_url`: spread over 127.0.0.x when the
/// server is on IPv4 loopback, the kernel's choice otherwise.
pub fn source_address(ws_url: &str, i: usize) -> Option<IpAddr> {
    let url = url::Url::parse(ws_url).ok()?;
    let host: Ipv4Addr = match url.host()? {
        url::Host::Ipv4(a) => a,
        url::Host::Domain("localhost") => Ipv4Addr::LOCALHOST,
        _ => return None,
    };
    if !host.is_loopback() {
        return None;
    }
    let n = u8::try_from(1 + i / PER_SOURCE_ADDRESS).ok()?;
    Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
}

/// Opens `n` idle connections, spread over the instances; returns once all are up or failed.
pub(super) async fn open(shared: &Arc<Shared>, n: usize) -> Idle {
    let gate = Arc::new(Semaphore::new(CONCURRENCY));
    let dropped = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut tasks = JoinSet::new();
    let last_progress = Instant::now();
    for i in 0..n {
        let (shared, gate, dropped, connected, failed, ready) = (
            shared.clone(),
            gate.clone(),
            dropped.clone(),
            connected.clone(),
            failed.clone(),
            ready_tx.clone(),
        );
        tasks.spawn(async move {
            let who = format!("idle{i}");
            let setup = async {
                let _permit = gate.acquire().await.map_err(|_| BotError::RunOver)?;
                let instance = i % shared.apis.len();
                let api = &shared.apis[instance];
                let (account, _) = api
                    .guest_retrying(shared.started + shared.opts.timeout)
                    .await?;
                let ws = api.ws_url();
                BotClient::connect_from(
                    ws,
                    &account.token,
                    &shared.opts.client,
                    source_address(ws, i),
                )
                .await
            };
            let mut client = match setup.await {
                Ok(c) => c,
                Err(e) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    shared.record_error(&who, &e);
                    let _ = ready.send(());
                    return;
                }
            };
            connected.fetch_add(1, Ordering::Relaxed);
            shared.connected.fetch_add(1, Ordering::Relaxed);
            {
                let mut t = shared.totals.lock();
                t.connect.record(client.connect_time());
                if let Some(a) = client.auth_time() {
                    t.auth.record(a);
                }
            }
            let _ = ready.send(());
            drop(ready);
            // Read forever: reading answers the server's pings. Any message is fine; an
            // error or close is a lost connection.
            loop {
                match client.recv(Duration::from_secs(24 * 3600)).await {
                    Ok(_) | Err(BotError::Timeout { .. }) => {}
                    Err(e) => {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        shared.connected.fetch_sub(1, Ordering::Relaxed);
                        shared.record_error(&who, &e);
                        return;
                    }
                }
            }
        });
    }
    drop(ready_tx);
    let mut done = 0usize;
    let mut next_line = last_progress + Duration::from_secs(5);
    while done < n && ready_rx.recv().await.is_some() {
        done += 1;
        if shared.opts.progress_every.is_some() && Instant::now() >= next_line {
            next_line = Instant::now() + Duration::from_secs(5);
            eprintln!(
                "loadgen {:>6.1}s: idle connections {}/{} ({} failed)",
                shared.started.elapsed().as_secs_f64(),
                connected.load(Ordering::Relaxed),
                n,
                failed.load(Ordering::Relaxed)
            );
        }
    }
    Idle {
        tasks,
        connected: connected.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_connections_spread_over_source_addresses() {
        let ws = "ws://127.0.0.1:8080/ws";
        assert_eq!(
            source_address(ws, 0),
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)))
        );
        assert_eq!(
            source_address(ws, PER_SOURCE_ADDRESS - 1),
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)))
        );
        assert_eq!(
            source_address(ws, PER_SOURCE_ADDRESS),
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        );
        assert_eq!(
            source_address("ws://localhost:1/ws", 3 * PER_SOURCE_ADDRESS),
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4)))
        );
        assert_eq!(source_address("ws://10.0.0.5:8080/ws", 0), None);
        assert_eq!(source_address("ws://example.org/ws", 0), None);
    }
}
