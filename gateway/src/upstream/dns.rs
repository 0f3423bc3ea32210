//! Upstream names resolved as their records expire: the resolver keeps each answer between
//! `[server] dns` `min_ttl` and `max_ttl`, so asking it every second costs a cache lookup and
//! follows a moved backend within one clamped TTL.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use pingora::lb::discovery::ServiceDiscovery;
use pingora::lb::Backend;

use crate::config::Dns;

/// The resolver upstream names go through: `[server] dns` `nameservers`, else the system's.
pub fn resolver(dns: &Dns) -> anyhow::Result<Arc<TokioResolver>> {
    let mut builder = if dns.nameservers.is_empty() {
        TokioResolver::builder_tokio().map_err(|e| {
            anyhow::anyhow!(
                "reading the system's DNS settings (/etc/resolv.conf) for upstream names: {e}; \
                 name servers can be set in [server] dns.nameservers"
            )
        })?
    } else {
        let servers = dns
            .nameservers
            .iter()
            .map(|addr| {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
            })
            .collect();
        TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
    };
    let options: &mut ResolverOpts = builder.options_mut();
    options.positive_min_ttl = Some(dns.min_ttl);
    options.positive_max_ttl = Some(dns.max_ttl);
    // A name that does not resolve is asked again at the floor, not after a long negative TTL.
    options.negative_min_ttl = Some(dns.min_ttl);
    options.negative_max_ttl = Some(dns.min_ttl);
    Ok(Arc::new(builder.build()?))
}

/// One entry of a route's `upstream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An IP address: never resolved.
    Fixed(SocketAddr),
    /// A name, resolved through the shared resolver.
    Named { host: String, port: u16 },
}

impl Target {
    /// `host:port` or `[v6]:port` as the config normalised it.
    pub fn parse(address: &str) -> anyhow::Result<Self> {
        if let Ok(addr) = address.parse::<SocketAddr>() {
            return Ok(Self::Fixed(addr));
        }
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| anyhow::anyhow!("{address:?} has no port"))?;
        Ok(Self::Named {
            host: host.to_ascii_lowercase(),
            port: port.parse()?,
        })
    }
}

/// A pool's membership: its fixed addresses and what its names resolve to now. A name that
/// stops resolving keeps its last answer (logged) rather than emptying the pool.
pub struct Discovery {
    route: String,
    targets: Vec<Target>,
    resolver: Option<Arc<TokioResolver>>,
    last: Mutex<HashMap<String, Vec<IpAddr>>>,
}

impl Discovery {
    pub fn new(route: &str, targets: Vec<Target>, resolver: Option<Arc<TokioResolver>>) -> Self {
        Self {
            route: route.to_owned(),
            targets,
            resolver,
            last: Mutex::new(HashMap::new()),
        }
    }

    async fn resolve(&self, host: &str) -> Vec<IpAddr> {
        let answer = match &self.resolver {
            Some(r) => r.lookup_ip(host).await.map_err(|e| e.to_string()),
            None => Err("no resolver configured".to_owned()),
        };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match answer {
            Ok(lookup) => {
                // Sorted: round-robin DNS rotates its answers, which is no change.
                let mut ips: Vec<IpAddr> = lookup.iter().collect();
                ips.sort();
                if !ips.is_empty() {
                    if last.get(host) != Some(&ips) {
                        tracing::info!(route = %self.route, host, addresses = ?ips, "upstream name resolved");
                    }
                    last.insert(host.to_owned(), ips.clone());
                    return ips;
                }
                tracing::warn!(route = %self.route, host, "upstream name has no address; keeping the last answer");
            }
            Err(error) => {
                tracing::warn!(route = %self.route, host, %error, "upstream name did not resolve; keeping the last answer");
            }
        }
        last.get(host).cloned().unwrap_or_default()
    }
}

#[async_trait]
impl ServiceDiscovery for Discovery {
    async fn discover(&self) -> pingora::Result<(BTreeSet<Backend>, HashMap<u64, bool>)> {
        let mut found = BTreeSet::new();
        for target in &self.targets {
            match target {
                Target::Fixed(addr) => {
                    found.insert(backend(*addr));
                }
                Target::Named { host, port } => {
                    for ip in self.resolve(host).await {
                        found.insert(backend(SocketAddr::new(ip, *port)));
                    }
                }
            }
        }
        if found.is_empty() {
            // Pingora keeps the previous membership when discovery fails.
            return Err(pingora::Error::explain(
                pingora::ErrorType::ConnectNoRoute,
                "no backend address",
            ));
        }
        Ok((found, HashMap::new()))
    }
}

pub fn backend(addr: SocketAddr) -> Backend {
    Backend {
        addr: pingora::protocols::l4::socket::SocketAddr::Inet(addr),
        weight: 1,
        ext: http::Extensions::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_tell_addresses_from_names() {
        assert_eq!(
            Target::parse("127.0.0.1:9000").unwrap(),
            Target::Fixed("127.0.0.1:9000".parse().unwrap())
        );
        assert_eq!(
            Target::parse("[::1]:443").unwrap(),
            Target::Fixed("[::1]:443".parse().unwrap())
        );
        assert_eq!(
            Target::parse("API.internal:8080").unwrap(),
            Target::Named {
                host: "api.internal".into(),
                port: 8080
            }
        );
        assert!(Target::parse("api.internal").is_err());
    }
}
