//! A per-network (or per-key) cap on cheap-to-ask, costly-to-serve requests, kept in this
//! process's memory.
//! It guards the database and WeChat against floods (a browser flow writes a row, a code
//! exchange costs a row and a WeChat call, before any proof of anything); it is not a security
//! limit, so it need not be shared by replicas: with N replicas a network gets N times the cap.

use ipnet::IpNet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Throttle<K = IpNet> {
    per_window: u32,
    hits: moka::sync::Cache<K, Arc<AtomicU32>>,
}

impl<K: std::hash::Hash + Eq + Send + Sync + 'static> Throttle<K> {
    /// At most `per_window` requests per network in each `window` (from its first request).
    pub fn new(per_window: u32, window: Duration) -> Self {
        Self {
            per_window,
            hits: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(window)
                .build(),
        }
    }

    /// Counts a request from `key` (a network); `false` when it is over the cap.
    pub fn allow(&self, key: K) -> bool {
        let count = self.hits.get_with(key, || Arc::new(AtomicU32::new(0)));
        count.fetch_add(1, Ordering::Relaxed) < self.per_window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_network_has_its_own_cap() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let (a, b): (IpNet, IpNet) = (
            "10.0.0.1/32".parse().unwrap(),
            "10.0.0.2/32".parse().unwrap(),
        );
        assert!((0..3).all(|_| t.allow(a)));
        assert!(!t.allow(a));
        assert!(t.allow(b));
    }
}
