//! At most so many open connections per client network. Networks are counted as the throttles
//! count them (`[limits]` prefixes); a trusted proxy is many clients and is never capped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;

use crate::client::Networks;

pub struct NetworkCaps {
    max: u32,
    networks: Networks,
    trusted: Vec<IpNet>,
    open: Mutex<HashMap<IpNet, u32>>,
}

/// A connection refused because its network has `max` open already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkFull;

/// One admitted connection; dropping it frees its place.
pub struct Slot {
    caps: Arc<NetworkCaps>,
    network: IpNet,
}

impl NetworkCaps {
    pub fn new(max: u32, networks: Networks, trusted: Vec<IpNet>) -> Self {
        Self {
            max,
            networks,
            trusted,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A place for a connection from `ip`, or `Err` when its network is full. A trusted
    /// proxy gets `Ok(None)`: admitted, not counted.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Option<Slot>, NetworkFull> {
        if self
            .trusted
            .iter()
            .any(|net| net.contains(&ip.to_canonical()))
        {
            return Ok(None);
        }
        let network = self.networks.of(ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(network).or_insert(0);
        if *count >= self.max {
            return Err(NetworkFull);
        }
        *count += 1;
        Ok(Some(Slot {
            caps: self.clone(),
            network,
        }))
    }

    /// Connections open from `ip`'s network now.
    pub fn open_from(&self, ip: IpAddr) -> u32 {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&self.networks.of(ip)).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.caps.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.network) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.network);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_network_waits_for_a_place_and_proxies_are_never_counted() {
        let caps = Arc::new(NetworkCaps::new(
            2,
            Networks {
                ipv4_prefix: 24,
                ipv6_prefix: 64,
            },
            vec!["10.0.0.0/8".parse().unwrap()],
        ));
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let b: IpAddr = "203.0.113.8".parse().unwrap();
        let first = caps.admit(a).unwrap();
        let second = caps.admit(b).unwrap();
        assert!(caps.admit(a).is_err(), "the /24 is full");
        assert!(caps.admit("198.51.100.1".parse().unwrap()).is_ok());
        drop(first);
        assert!(caps.admit(b).is_ok(), "a place freed");
        drop(second);
        for _ in 0..10 {
            assert!(caps.admit("10.1.2.3".parse().unwrap()).unwrap().is_none());
        }
        assert_eq!(caps.open_from("10.1.2.3".parse().unwrap()), 0);
    }
}
