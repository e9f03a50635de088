//! Admission of new WebSocket connections: a bound on connections that have not authenticated
//! yet, per client address and in total (`RALLY_WS_MAX_PENDING_PER_IP`,
//! `RALLY_WS_MAX_PENDING`). A flood of idle upgrades is refused before the upgrade (HTTP 429
//! per address, 503 in total) instead of holding file descriptors, while players from other
//! addresses — and the flooder's own authenticated sessions — are unaffected. Each admitted
//! connection holds a [`Ticket`] until it authenticates or closes; the auth window
//! (`RALLY_WS_AUTH_TIMEOUT`) bounds how long a ticket is held without `auth`.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// This address has too many connections waiting to authenticate (HTTP 429).
    PerAddress,
    /// The server has too many connections waiting to authenticate (HTTP 503).
    Total,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// The counters, shared by every HTTP worker.
#[derive(Debug)]
pub struct Admission {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
}

impl Admission {
    /// Bounds: `max_total` connections waiting to authenticate, `max_per_ip` of them per
    /// client address.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Admission> {
        Arc::new(Admission {
            max_total,
            max_per_ip,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Admit a connection from `ip`, or say why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refusal> {
        let mut c = self.counts.lock();
        let mine = c.per_ip.get(&ip).copied().unwrap_or(0);
        if mine >= self.max_per_ip {
            return Err(Refusal::PerAddress);
        }
        if c.total >= self.max_total {
            return Err(Refusal::Total);
        }
        c.total += 1;
        c.per_ip.insert(ip, mine + 1);
        Ok(Ticket {
            admission: Some(self.clone()),
            ip,
        })
    }

    /// Connections waiting to authenticate now.
    pub fn pending(&self) -> usize {
        self.counts.lock().total
    }

    fn release(&self, ip: IpAddr) {
        let mut c = self.counts.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_ip.remove(&ip);
            }
        }
    }
}

/// One admitted connection's place; given back when it authenticates ([`Ticket::release`])
/// or when dropped.
#[derive(Debug)]
pub struct Ticket {
    admission: Option<Arc<Admission>>,
    ip: IpAddr,
}

impl Ticket {
    /// The connection authenticated: it no longer counts.
    pub fn release(&mut self) {
        if let Some(a) = self.admission.take() {
            a.release(self.ip);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_per_address_and_in_total() {
        let a = Admission::new(3, 2);
        let (x, y, z): (IpAddr, IpAddr, IpAddr) = (
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            "10.0.0.3".parse().unwrap(),
        );
        let t1 = a.admit(x).unwrap();
        let mut t2 = a.admit(x).unwrap();
        assert_eq!(a.admit(x).unwrap_err(), Refusal::PerAddress);
        let t3 = a.admit(y).unwrap();
        assert_eq!(a.admit(z).unwrap_err(), Refusal::Total);
        // Authenticating gives the place back (once).
        t2.release();
        t2.release();
        assert_eq!(a.pending(), 2);
        let _t4 = a.admit(z).unwrap();
        drop((t1, t3));
        assert_eq!(a.pending(), 1);
        drop(t2);
        assert_eq!(a.pending(), 1);
        assert!(
            !a.counts.lock().per_ip.contains_key(&x),
            "no entry left behind"
        );
    }
}
