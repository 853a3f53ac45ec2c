//! Admission of connections: the global cap and the per-client cap, as
//! counters behind one mutex (held for a map update only), and the
//! service's counters for logs and tests.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Whom a per-client cap counts: an IPv4 address, or the /64 of an IPv6
/// address (one host usually owns a whole /64). IPv4-mapped IPv6
/// addresses count as their IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4([u8; 4]),
    V6Prefix64([u8; 8]),
}

impl ClientKey {
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let mut p = [0u8; 8];
                p.copy_from_slice(&v6.octets()[..8]);
                ClientKey::V6Prefix64(p)
            }
        }
    }
}

/// Why a connection was closed right after accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The service holds its global number of connections.
    Global,
    /// This client holds its number of connections.
    PerClient,
}

/// Counters since start.
#[derive(Debug, Default)]
pub struct Stats {
    pub accepted: AtomicU64,
    pub refused_global: AtomicU64,
    pub refused_per_client: AtomicU64,
    pub handshake_timeouts: AtomicU64,
    pub handshake_failures: AtomicU64,
    /// Connections hyper closed with an error (a head deadline among them).
    pub connection_errors: AtomicU64,
    pub head_timeouts: AtomicU64,
}

impl Stats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_client: HashMap<ClientKey, usize>,
}

/// Open connections, by client.
#[derive(Debug)]
pub struct Tracker {
    global: usize,
    per_client: usize,
    open: Mutex<Open>,
    pub stats: Stats,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Slot {
    tracker: Arc<Tracker>,
    key: ClientKey,
}

impl Tracker {
    pub fn new(global: usize, per_client: usize) -> Arc<Self> {
        Arc::new(Tracker {
            global,
            per_client,
            open: Mutex::new(Open::default()),
            stats: Stats::default(),
        })
    }

    fn open(&self) -> std::sync::MutexGuard<'_, Open> {
        // The critical sections cannot panic halfway; a poisoned lock still
        // holds consistent counters.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a connection from `ip`, or says which cap refuses it.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refused> {
        let key = ClientKey::of(ip);
        let mut open = self.open();
        if open.total >= self.global {
            Stats::bump(&self.stats.refused_global);
            return Err(Refused::Global);
        }
        let n = open.per_client.entry(key).or_insert(0);
        if *n >= self.per_client {
            Stats::bump(&self.stats.refused_per_client);
            return Err(Refused::PerClient);
        }
        *n += 1;
        open.total += 1;
        Stats::bump(&self.stats.accepted);
        Ok(Slot {
            tracker: self.clone(),
            key,
        })
    }

    /// Connections open now.
    pub fn open_total(&self) -> usize {
        self.open().total
    }

    /// Connections open now from `ip`'s client.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.open()
            .per_client
            .get(&ClientKey::of(ip))
            .copied()
            .unwrap_or(0)
    }
}

impl Slot {
    /// The tracker that admitted it.
    pub fn tracker(&self) -> Arc<Tracker> {
        self.tracker.clone()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.tracker.open();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_client.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.per_client.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_per_client_cap_refuses_the_extra_connection_only_for_that_client() {
        let t = Tracker::new(10, 2);
        let a1 = t.admit(ip("10.0.0.1")).unwrap();
        let _a2 = t.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(t.admit(ip("10.0.0.1")).unwrap_err(), Refused::PerClient);
        // The same client through an IPv4-mapped IPv6 address.
        assert_eq!(
            t.admit(ip("::ffff:10.0.0.1")).unwrap_err(),
            Refused::PerClient
        );
        let _b = t.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(t.open_total(), 3);
        drop(a1);
        assert_eq!(t.open_from(ip("10.0.0.1")), 1);
        let _a3 = t.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(Stats::get(&t.stats.refused_per_client), 2);
        assert_eq!(Stats::get(&t.stats.accepted), 4);
    }

    #[test]
    fn ipv6_clients_count_by_their_64_prefix() {
        let t = Tracker::new(10, 1);
        let _a = t.admit(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(
            t.admit(ip("2001:db8:1:2:ffff::9")).unwrap_err(),
            Refused::PerClient
        );
        let _b = t.admit(ip("2001:db8:1:3::1")).unwrap();
    }

    #[test]
    fn the_global_cap_refuses_everyone_until_a_slot_is_freed() {
        let t = Tracker::new(2, 5);
        let a = t.admit(ip("10.0.0.1")).unwrap();
        let _b = t.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(t.admit(ip("10.0.0.3")).unwrap_err(), Refused::Global);
        drop(a);
        let _c = t.admit(ip("10.0.0.3")).unwrap();
        assert_eq!(t.open_total(), 2);
        assert_eq!(t.open_from(ip("10.0.0.1")), 0);
        assert_eq!(Stats::get(&t.stats.refused_global), 1);
    }
}
