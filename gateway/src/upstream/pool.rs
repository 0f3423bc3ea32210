//! A route's pool of backends on Pingora's load balancer: membership from `Discovery`, active
//! checks from Pingora's TCP and HTTP checks, and passive ejection of a backend that refused a
//! connection. Health is each replica's own observation of its network path, so it is kept in
//! memory; nothing here is shared state.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::lb::health_check::{
    HealthCheck as Probe, HealthObserve, HttpHealthCheck, TcpHealthCheck,
};
use pingora::lb::selection::{Consistent, RoundRobin};
use pingora::lb::{Backend, Backends, LoadBalancer};

use super::dns::{backend, Discovery};
use crate::config::{Balance, HealthCheck};
use crate::metrics::PoolMetrics;
use crate::tls::PeerTls;

/// Backends tried for one selection before the pool is called down.
const MAX_ITERATIONS: usize = 64;

/// Consecutive failed checks before a backend is left out, and passes before it is back.
const FAILS_TO_EJECT: usize = 2;
const PASSES_TO_RETURN: usize = 1;

enum Balancer {
    RoundRobin(LoadBalancer<RoundRobin>),
    User(LoadBalancer<Consistent>),
}

impl Balancer {
    fn backends(&self) -> &Backends {
        match self {
            Self::RoundRobin(lb) => lb.backends(),
            Self::User(lb) => lb.backends(),
        }
    }

    async fn update(&self) -> pingora::Result<()> {
        match self {
            Self::RoundRobin(lb) => lb.update().await,
            Self::User(lb) => lb.update().await,
        }
    }
}

pub struct Pool {
    route: String,
    balancer: Balancer,
    eject_for: Duration,
    health_interval: Option<Duration>,
    /// Backends left out after a refused connection, and until when.
    ejected: Mutex<Vec<(Backend, Instant)>>,
    /// Backends whose series were last published, to retire the departed ones.
    published: Mutex<BTreeSet<String>>,
    metrics: PoolMetrics,
}

/// What a pool is built from.
pub struct PoolSpec<'a> {
    pub route: &'a str,
    pub discovery: Discovery,
    pub balance: Balance,
    pub health_check: Option<&'a HealthCheck>,
    pub health_interval: Duration,
    pub eject_for: Duration,
    /// The `Host` an HTTP check sends: the upstream's name.
    pub host: &'a str,
    pub tls: Option<&'a PeerTls>,
    pub connect_timeout: Duration,
}

impl Pool {
    pub fn new(spec: PoolSpec<'_>, metrics: PoolMetrics) -> Self {
        let probe = spec.health_check.map(|check| probe(&spec, check));
        let mut backends = Backends::new(Box::new(spec.discovery));
        if let Some(probe) = probe {
            backends.set_health_check(probe);
        }
        let balancer = match spec.balance {
            Balance::RoundRobin => Balancer::RoundRobin(LoadBalancer::from_backends(backends)),
            Balance::User => Balancer::User(LoadBalancer::from_backends(backends)),
        };
        Self {
            route: spec.route.to_owned(),
            balancer,
            eject_for: spec.eject_for,
            health_interval: spec.health_check.map(|_| spec.health_interval),
            ejected: Mutex::new(Vec::new()),
            published: Mutex::new(BTreeSet::new()),
            metrics,
        }
    }

    /// A ready backend for this request, `key` spreading requests (round-robin ignores it);
    /// `None` when every backend is down.
    pub fn select(&self, key: &[u8]) -> Option<SocketAddr> {
        let chosen = match &self.balancer {
            Balancer::RoundRobin(lb) => lb.select(key, MAX_ITERATIONS),
            Balancer::User(lb) => lb.select(key, MAX_ITERATIONS),
        };
        match chosen {
            Some(b) => b.addr.as_inet().copied(),
            None => {
                self.metrics
                    .unavailable
                    .with_label_values(&[&self.route])
                    .inc();
                None
            }
        }
    }

    /// Leaves out a backend that refused a connection for `eject_for`; false when no other
    /// member is ready, for then it stays (as nginx never marks a lone server down): each
    /// request tries it, and it serves again the moment it is back. Only an active check calls
    /// the last one down.
    pub fn eject(&self, addr: SocketAddr) -> bool {
        let b = backend(addr);
        let backends = self.balancer.backends();
        let others_ready = self.members().iter().any(|m| *m != b && backends.ready(m));
        if !others_ready {
            return false;
        }
        let until = Instant::now() + self.eject_for;
        let mut ejected = self.ejected.lock().unwrap_or_else(|p| p.into_inner());
        match ejected.iter_mut().find(|(e, _)| *e == b) {
            Some(entry) => entry.1 = until,
            None => {
                tracing::warn!(route = %self.route, backend = %addr, for_secs = self.eject_for.as_secs(), "upstream backend refused a connection; left out");
                self.metrics
                    .ejections
                    .with_label_values(&[&self.route, &addr.to_string()])
                    .inc();
                ejected.push((b.clone(), until));
            }
        }
        self.balancer.backends().set_enable(&b, false);
        drop(ejected);
        self.publish();
        true
    }

    /// Backends listed now (whatever their health).
    pub fn members(&self) -> Arc<BTreeSet<Backend>> {
        self.balancer.backends().get_backend()
    }

    /// Reads membership (the first time at start-up, where an empty pool is an error).
    pub async fn refresh(&self) -> pingora::Result<()> {
        let result = self.balancer.update().await;
        self.publish();
        result
    }

    /// Returns ejected backends whose time is up, and publishes each backend's state.
    fn tick(&self) {
        let now = Instant::now();
        let mut ejected = self.ejected.lock().unwrap_or_else(|p| p.into_inner());
        ejected.retain(|(b, until)| {
            let over = *until <= now;
            if over {
                self.balancer.backends().set_enable(b, true);
            }
            !over
        });
        drop(ejected);
        self.publish();
    }

    fn publish(&self) {
        let members = self.members();
        let backends = self.balancer.backends();
        let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
        let mut now = BTreeSet::new();
        for b in members.iter() {
            let name = b.addr.to_string();
            self.metrics
                .up
                .with_label_values(&[&self.route, &name])
                .set(i64::from(backends.ready(b)));
            now.insert(name);
        }
        for gone in published.difference(&now) {
            let _ = self.metrics.up.remove_label_values(&[&self.route, gone]);
        }
        *published = now;
    }

    /// Membership every second (a cache lookup until a record expires), ejections returned,
    /// and active checks every `health_interval`, on the control runtime.
    pub fn spawn(self: &Arc<Self>, rt: &tokio::runtime::Handle) {
        let pool = self.clone();
        rt.spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if let Err(e) = pool.balancer.update().await {
                    tracing::debug!(route = %pool.route, error = %e, "upstream membership unchanged");
                }
            }
        });
        // Ejections end on time even while a lookup waits on an unreachable name server.
        let pool = self.clone();
        rt.spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(500));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                pool.tick();
            }
        });
        if let Some(interval) = self.health_interval {
            let pool = self.clone();
            rt.spawn(async move {
                let mut every = tokio::time::interval(interval);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    pool.balancer.backends().run_health_check(true).await;
                    pool.publish();
                }
            });
        }
    }
}

/// Pingora's check for the route's `health_check`, over TLS for an https route (verified as
/// its requests are).
fn probe(spec: &PoolSpec<'_>, check: &HealthCheck) -> Box<dyn Probe + Send + Sync> {
    let observer = Box::new(Observer {
        route: spec.route.to_owned(),
    });
    match check {
        HealthCheck::Tcp => {
            let mut tcp = match spec.tls {
                Some(tls) => TcpHealthCheck::new_tls(&tls.sni),
                None => TcpHealthCheck::new(),
            };
            tcp.consecutive_failure = FAILS_TO_EJECT;
            tcp.consecutive_success = PASSES_TO_RETURN;
            tcp.peer_template.options.connection_timeout = Some(spec.connect_timeout);
            if let Some(tls) = spec.tls {
                tcp.peer_template.options.ca = tls.ca.clone();
            }
            tcp.health_changed_callback = Some(observer);
            tcp
        }
        HealthCheck::Http { path } => {
            let mut http = HttpHealthCheck::new(spec.host, spec.tls.is_some());
            http.consecutive_failure = FAILS_TO_EJECT;
            http.consecutive_success = PASSES_TO_RETURN;
            http.peer_template.options.connection_timeout = Some(spec.connect_timeout);
            http.peer_template.options.read_timeout =
                Some(spec.connect_timeout.max(Duration::from_secs(1)));
            if let Some(tls) = spec.tls {
                http.peer_template.sni = tls.sni.clone();
                http.peer_template.options.ca = tls.ca.clone();
                http.peer_template.client_cert_key = tls.client_cert.clone();
            }
            // The path was checked by the config; a GET of it with the upstream's name.
            if let Ok(req) = pingora::http::RequestHeader::build("GET", path.as_bytes(), None) {
                let mut req = req;
                let _ = req.insert_header(http::header::HOST, spec.host);
                http.req = req;
            }
            http.validator = Some(Box::new(|answer| {
                if answer.status.is_success() {
                    Ok(())
                } else {
                    Err(pingora::Error::explain(
                        pingora::ErrorType::HTTPStatus(answer.status.as_u16()),
                        "health check answered other than 2xx",
                    ))
                }
            }));
            http.health_changed_callback = Some(observer);
            Box::new(http)
        }
    }
}

/// Says when an active check turns a backend down or up.
struct Observer {
    route: String,
}

#[async_trait]
impl HealthObserve for Observer {
    async fn observe(&self, target: &Backend, healthy: bool) {
        if healthy {
            tracing::info!(route = %self.route, backend = %target.addr, "upstream backend passes its health check again");
        } else {
            tracing::warn!(route = %self.route, backend = %target.addr, "upstream backend failed its health check; left out");
        }
    }
}
