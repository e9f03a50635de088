//! Per-client-address rate limits for login, register and guest creation (governor, keyed by
//! IP), and the client address itself (believing `X-Forwarded-For` only from trusted proxies).

use crate::error::AppError;
use actix_web::HttpRequest;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

/// Keyed limiter for authentication attempts.
#[derive(Clone)]
pub struct AuthLimiter {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
}

impl AuthLimiter {
    /// `per_minute` attempts per address, with the same burst (a user who mistypes a password
    /// a few times is never blocked; a password-guessing loop is).
    pub fn new(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(n))),
        }
    }

    /// Count one attempt from `ip`; 429 with `Retry-After` when over the limit.
    pub fn check(&self, ip: IpAddr) -> Result<(), AppError> {
        match self.limiter.check_key(&ip) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                metrics::counter!("rally_auth_rate_limited_total").increment(1);
                Err(AppError::rate_limited(wait.as_secs() + 1))
            }
        }
    }

    /// Drop state for addresses that are back to full quota (called periodically).
    pub fn purge(&self) {
        self.limiter.retain_recent();
    }
}

/// Keyed limiter for private room creation, per player: a player creates at most `per_minute`
/// private rooms a minute (at once too). An empty private room closes after
/// `RALLY_ROOM_IDLE_TIMEOUT`, so one player holds at most about `per_minute` × that many
/// minutes (+ `per_minute`) empty rooms open on an instance, whatever they send.
#[derive(Clone)]
pub struct RoomLimiter {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    per_minute: u32,
}

impl RoomLimiter {
    /// `per_minute` rooms per player, with the same burst.
    pub fn new(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(n))),
            per_minute: n.get(),
        }
    }

    /// Count one room created by `player`; 429 `rate_limited` with `Retry-After` past the
    /// limit.
    pub fn check(&self, player: &str) -> Result<(), AppError> {
        match self.limiter.check_key(&player.to_owned()) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let secs = not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_secs()
                    + 1;
                let mut e = AppError::rate_limited(secs);
                e.message = format!(
                    "too many private rooms: at most {} a minute (RALLY_PRIVATE_ROOMS_PER_MINUTE)",
                    self.per_minute
                );
                Err(e)
            }
        }
    }

    /// Drop state for players who are back to full quota (called periodically).
    pub fn purge(&self) {
        self.limiter.retain_recent();
    }
}

/// The client's address: the peer, or — when the peer is a trusted proxy — the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    client_ip_from(req.peer_addr(), req.headers(), trusted)
}

/// [`client_ip`] from the peer address and the request headers (the WebSocket upgrade has no
/// `HttpRequest`).
pub fn client_ip_from(
    peer: Option<std::net::SocketAddr>,
    headers: &actix_web::http::header::HeaderMap,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?.ip();
    if !trusted.iter().any(|n| n.contains(&peer)) {
        return Some(peer);
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter_map(|s| s.parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    for ip in forwarded.iter().rev() {
        if !trusted.iter().any(|n| n.contains(ip)) {
            return Some(*ip);
        }
    }
    Some(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn limiter_blocks_after_quota_per_address() {
        let l = AuthLimiter::new(3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(a).is_ok());
        }
        let e = l.check(a).unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::RateLimited);
        assert!(e.retry_after.unwrap() >= 1);
        assert!(l.check(b).is_ok());
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let req = TestRequest::default()
            .peer_addr("127.0.0.1:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "203.0.113.9, 127.0.0.1"))
            .to_http_request();
        assert_eq!(
            client_ip(&req, &trusted),
            Some("203.0.113.9".parse().unwrap())
        );
        let req = TestRequest::default()
            .peer_addr("198.51.100.1:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "203.0.113.9"))
            .to_http_request();
        assert_eq!(
            client_ip(&req, &trusted),
            Some("198.51.100.1".parse().unwrap())
        );
    }
}
