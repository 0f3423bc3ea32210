//! A per-address cap on cheap-to-ask, costly-to-serve requests, kept in this process's memory.
//! It guards the database against floods (each browser flow writes a row before any proof of
//! anything); it is not a security limit, so it need not be shared by replicas.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Throttle {
    per_window: u32,
    hits: moka::sync::Cache<IpAddr, Arc<AtomicU32>>,
}

impl Throttle {
    /// At most `per_window` requests per address in each `window` (from its first request).
    pub fn new(per_window: u32, window: Duration) -> Self {
        Self {
            per_window,
            hits: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(window)
                .build(),
        }
    }

    /// Counts a request from `ip`; `false` when it is over the cap.
    pub fn allow(&self, ip: IpAddr) -> bool {
        let count = self.hits.get_with(ip, || Arc::new(AtomicU32::new(0)));
        count.fetch_add(1, Ordering::Relaxed) < self.per_window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_cap() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!((0..3).all(|_| t.allow(a)));
        assert!(!t.allow(a));
        assert!(t.allow(b));
    }
}
