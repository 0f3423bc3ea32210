//! Where a route's requests go: one fixed address, or a pool (several backends, or names
//! re-resolved) balanced by Pingora's load balancer with active and passive health.

pub mod dns;
mod pool;

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_resolver::TokioResolver;

use crate::metrics::PoolMetrics;
pub use pool::Pool;

use crate::config::Route;
use crate::tls::PeerTls;
use dns::{Discovery, Target};

/// A route's backends.
pub enum Upstream {
    /// One IP address without a health check: nothing to balance, resolve or watch.
    Fixed(SocketAddr),
    Pool(Arc<Pool>),
}

/// What pools need from the rest of the gateway.
pub struct PoolContext {
    /// Built on first use: a config of IP addresses never reads the system's DNS settings.
    pub resolver: Option<Arc<TokioResolver>>,
    pub dns: crate::config::Dns,
    pub metrics: PoolMetrics,
}

impl PoolContext {
    pub fn new(dns: crate::config::Dns, metrics: PoolMetrics) -> Self {
        Self {
            resolver: None,
            dns,
            metrics,
        }
    }

    #[cfg(test)]
    pub fn for_tests() -> Self {
        Self::new(Default::default(), PoolMetrics::new().expect("metrics"))
    }

    fn resolver(&mut self) -> anyhow::Result<Arc<TokioResolver>> {
        if let Some(r) = &self.resolver {
            return Ok(r.clone());
        }
        let r = dns::resolver(&self.dns)?;
        self.resolver = Some(r.clone());
        Ok(r)
    }
}

impl Upstream {
    /// The route's backends as configured; a pool is empty until its first `refresh`.
    pub fn build(
        route: &Route,
        tls: Option<&PeerTls>,
        pools: &mut PoolContext,
    ) -> anyhow::Result<Self> {
        let targets = route
            .upstream
            .iter()
            .map(|a| Target::parse(a))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if let ([Target::Fixed(addr)], None) = (targets.as_slice(), &route.health_check) {
            return Ok(Self::Fixed(*addr));
        }
        let resolver = if targets.iter().any(|t| matches!(t, Target::Named { .. })) {
            Some(pools.resolver()?)
        } else {
            None
        };
        // The `Host` an HTTP check sends: `host:port` as written (IPv6 in brackets).
        let host = route.upstream[0].as_str();
        let pool = Pool::new(
            pool::PoolSpec {
                route: &route.prefix,
                discovery: Discovery::new(&route.prefix, targets, resolver),
                balance: route.balance,
                health_check: route.health_check.as_ref(),
                health_interval: route.health_interval,
                eject_for: route.eject_for,
                host,
                tls,
                connect_timeout: route.connect_timeout,
            },
            pools.metrics.clone(),
        );
        Ok(Self::Pool(Arc::new(pool)))
    }
}
