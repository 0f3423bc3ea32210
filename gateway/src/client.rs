//! Who a client is, as far as limits go: its address (the TCP peer, or what trusted proxies
//! report) and the network it is counted by. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
//! what a dual-stack `[::]` listener sees) is its IPv4 address everywhere.

use ipnet::IpNet;
use std::net::IpAddr;

/// How many leading bits of an address make a client's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Networks {
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
}

impl Default for Networks {
    fn default() -> Self {
        Self {
            ipv4_prefix: 32,
            ipv6_prefix: 64,
        }
    }
}

impl Networks {
    /// The network `ip` is counted in (`203.0.113.7/32`, `2001:db8:1:2::/64`).
    pub fn of(&self, ip: IpAddr) -> IpNet {
        let ip = ip.to_canonical();
        let prefix = match ip {
            IpAddr::V4(_) => self.ipv4_prefix.min(32),
            IpAddr::V6(_) => self.ipv6_prefix.min(128),
        };
        // The prefix is within the family's length, so this cannot fail.
        IpNet::new(ip, prefix)
            .map(|net| net.trunc())
            .unwrap_or_else(|_| IpNet::from(ip))
    }
}

/// The client's address. The TCP peer, unless it is a trusted proxy: then `X-Forwarded-For` is
/// walked from the right, each trusted hop vouching for the entry to its left, up to the first
/// address that is not a trusted proxy. An entry that does not parse (`ip:port`, garbage) ends
/// the walk: the client is then the last trusted hop itself, never an entry left of it (which
/// the client may have written).
pub fn address<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a [u8]>,
    trusted: impl Fn(&IpAddr) -> bool,
) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted(&client) {
        return client;
    }
    // Every value, split on commas, read right to left (a second header is a later hop).
    let entries = forwarded_for
        .rev()
        .flat_map(|value| value.rsplit(|&b| b == b','));
    for entry in entries {
        let parsed = std::str::from_utf8(entry)
            .ok()
            .and_then(|e| e.trim().parse::<IpAddr>().ok());
        let Some(ip) = parsed else {
            return client;
        };
        client = ip.to_canonical();
        if !trusted(&client) {
            return client;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_group_an_ipv6_line_and_keep_ipv4_hosts_apart() {
        let n = Networks::default();
        assert_eq!(
            n.of(ip("2001:db8:1:2::1")),
            n.of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(n.of(ip("2001:db8:1:2::1")), n.of(ip("2001:db8:1:3::1")));
        assert_eq!(n.of(ip("2001:db8:1:2::1")).to_string(), "2001:db8:1:2::/64");
        assert_eq!(n.of(ip("203.0.113.7")).to_string(), "203.0.113.7/32");
        assert_ne!(n.of(ip("203.0.113.7")), n.of(ip("203.0.113.8")));
        let wide = Networks {
            ipv4_prefix: 24,
            ipv6_prefix: 48,
        };
        assert_eq!(wide.of(ip("203.0.113.7")).to_string(), "203.0.113.0/24");
        assert_eq!(
            wide.of(ip("2001:db8:1:2::1")).to_string(),
            "2001:db8:1::/48"
        );
    }

    #[test]
    fn a_mapped_ipv4_address_is_that_ipv4_address() {
        let n = Networks::default();
        assert_eq!(n.of(ip("::ffff:203.0.113.7")), n.of(ip("203.0.113.7")));
        // Not lumped into the ::ffff:0:0/64 of every mapped address.
        assert_ne!(
            n.of(ip("::ffff:203.0.113.7")),
            n.of(ip("::ffff:198.51.100.1"))
        );
        let trusted = |a: &IpAddr| *a == ip("10.0.0.1");
        assert_eq!(
            address(
                ip("::ffff:10.0.0.1"),
                [&b"198.51.100.1"[..]].into_iter(),
                trusted
            ),
            ip("198.51.100.1"),
            "a mapped peer matches trusted_proxies as IPv4"
        );
        assert_eq!(
            address(ip("::ffff:203.0.113.7"), std::iter::empty(), trusted),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_hops() {
        let proxies = |a: &IpAddr| a.to_string().starts_with("10.");
        let walk = |peer: &str, values: &[&str]| {
            address(ip(peer), values.iter().map(|v| v.as_bytes()), proxies)
        };
        // Not a proxy: whatever it says is ignored.
        assert_eq!(walk("203.0.113.7", &["1.2.3.4"]), ip("203.0.113.7"));
        // A proxy's client, past the client's own claims on the left.
        assert_eq!(
            walk("10.0.0.1", &["6.6.6.6, 198.51.100.1"]),
            ip("198.51.100.1")
        );
        // Two proxies, in one header or two.
        assert_eq!(
            walk("10.0.0.1", &["6.6.6.6, 198.51.100.1, 10.0.0.2"]),
            ip("198.51.100.1")
        );
        assert_eq!(
            walk("10.0.0.1", &["6.6.6.6, 198.51.100.1", "10.0.0.2"]),
            ip("198.51.100.1")
        );
        // No header: the proxy itself.
        assert_eq!(walk("10.0.0.1", &[]), ip("10.0.0.1"));
    }

    #[test]
    fn an_entry_that_does_not_parse_ends_the_walk_at_the_last_trusted_hop() {
        let proxies = |a: &IpAddr| a.to_string().starts_with("10.");
        let walk = |peer: &str, values: &[&str]| {
            address(ip(peer), values.iter().map(|v| v.as_bytes()), proxies)
        };
        for garbage in [
            "198.51.100.1:443",
            "unknown",
            "",
            "[2001:db8::1]:443",
            "1.2.3",
        ] {
            // The client's chosen entry left of the garbage is never taken.
            let header = format!("6.6.6.6, {garbage}");
            assert_eq!(walk("10.0.0.1", &[&header]), ip("10.0.0.1"), "{garbage:?}");
            let header = format!("6.6.6.6, {garbage}, 10.0.0.2");
            assert_eq!(walk("10.0.0.1", &[&header]), ip("10.0.0.2"), "{garbage:?}");
        }
        assert_eq!(walk("10.0.0.1", &["\u{ff}"]), ip("10.0.0.1"));
    }
}
