//! Prometheus metrics, served in text format at `metrics_listen`/metrics.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The token-check outcome counters, resolved once (a label lookup per request is not free).
pub struct AuthCounters {
    valid: IntCounter,
    missing: IntCounter,
    invalid: IntCounter,
    expired: IntCounter,
    retired_key: IntCounter,
    revoked: IntCounter,
    cross_origin: IntCounter,
}

impl AuthCounters {
    pub fn inc(&self, outcome: &str) {
        match outcome {
            "valid" => &self.valid,
            "missing" => &self.missing,
            "expired" => &self.expired,
            "retired_key" => &self.retired_key,
            "revoked" => &self.revoked,
            "cross_origin" => &self.cross_origin,
            _ => &self.invalid,
        }
        .inc();
    }
}

/// One route's request counters for the common statuses and its latency histogram, resolved
/// at start-up.
pub struct RouteMetrics {
    label: String,
    by_status: Vec<(u16, IntCounter)>,
    pub upstream_latency: prometheus::Histogram,
    pub new_connections: IntCounter,
    pub reused_connections: IntCounter,
}

impl RouteMetrics {
    /// The route's label: its prefix, `_auth` or `none`.
    pub fn label(&self) -> &str {
        &self.label
    }
}

const COMMON_STATUSES: [u16; 10] = [200, 201, 204, 301, 302, 304, 400, 401, 404, 502];

pub struct Metrics {
    pub registry: Registry,
    /// `wxgate_auth_outcomes_total`, by outcome.
    pub auth: AuthCounters,
    /// Proxied and gateway requests by route (or `_auth`) and status.
    pub requests: IntCounterVec,
    /// Token checks on proxied requests: `valid`, `missing`, `invalid`, `expired`,
    /// `retired_key`, `revoked`, `cross_origin`.
    pub auth_outcomes: IntCounterVec,
    /// Upstream response time by route.
    pub upstream_latency: HistogramVec,
    /// Logins by channel and outcome (`ok`, or the error code).
    pub logins: IntCounterVec,
    /// OpenID Connect requests by client (`unknown` for an unregistered id), endpoint and
    /// outcome (`ok`, or the OAuth error code).
    pub oidc: IntCounterVec,
    pub events: EventMetrics,
    pub transport: TransportMetrics,
}

/// The listener and the connections to upstreams.
pub struct TransportMetrics {
    /// `wxgate_tls_certificate_expiry_timestamp_seconds{cert}`: the notAfter of each served
    /// certificate, as loaded now.
    pub cert_expiry: GaugeVec,
    /// `wxgate_tls_reloads_total{outcome}`: `reloaded` or `failed` (the old certificates kept).
    pub cert_reloads: IntCounterVec,
    /// `wxgate_connections_refused_total{reason}`: `header_timeout`, `slow_body`,
    /// `per_network_cap`.
    pub refused: IntCounterVec,
    /// `wxgate_upstream_tls_failures_total{route}`: handshakes with an upstream that failed
    /// (most often its certificate did not verify).
    pub upstream_tls_failures: IntCounterVec,
    /// Upstream pools: each backend's state, ejections, requests with none ready.
    pub pools: PoolMetrics,
    /// `wxgate_upstream_connections_total{route, reused}`: each request's upstream connection,
    /// taken from the pool or new. New ones per request is what Pingora's pool race costs.
    pub upstream_connections: IntCounterVec,
    /// `wxgate_access_log_dropped_total`: lines dropped because the writer fell behind.
    pub access_log_dropped: IntCounter,
}

/// Per-backend series, labelled by route and `ip:port`.
#[derive(Clone)]
pub struct PoolMetrics {
    /// `wxgate_upstream_backend_up{route, backend}`: 1 while selectable.
    pub up: IntGaugeVec,
    /// `wxgate_upstream_ejections_total{route, backend}`: connections refused, backend left out.
    pub ejections: IntCounterVec,
    /// `wxgate_upstream_unavailable_total{route}`: requests answered 502 with every backend down.
    pub unavailable: IntCounterVec,
}

impl PoolMetrics {
    pub fn new() -> prometheus::Result<Self> {
        use prometheus::Opts;
        Ok(Self {
            up: IntGaugeVec::new(
                Opts::new(
                    "wxgate_upstream_backend_up",
                    "1 while a pool's backend is selectable (listed, healthy, not ejected)",
                ),
                &["route", "backend"],
            )?,
            ejections: IntCounterVec::new(
                Opts::new(
                    "wxgate_upstream_ejections_total",
                    "Backends left out after refusing a connection",
                ),
                &["route", "backend"],
            )?,
            unavailable: IntCounterVec::new(
                Opts::new(
                    "wxgate_upstream_unavailable_total",
                    "Requests answered 502 because every backend of the route was down",
                ),
                &["route"],
            )?,
        })
    }

    pub fn register(&self, registry: &prometheus::Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.up.clone()))?;
        registry.register(Box::new(self.ejections.clone()))?;
        registry.register(Box::new(self.unavailable.clone()))
    }
}

/// Identity events: attempts counted by the replica that made them, backlog read from the
/// shared database (the same on every replica).
pub struct EventMetrics {
    /// `wxgate_event_deliveries_total{webhook, outcome}`: `delivered`, `retried`, `failed`.
    pub deliveries: IntCounterVec,
    /// `wxgate_events_pending{webhook}`.
    pub pending: IntGaugeVec,
    /// `wxgate_events_failed{webhook}`: parked after `retry_for`, waiting for a replay.
    pub failed: IntGaugeVec,
    /// `wxgate_events_oldest_pending_seconds{webhook}`.
    pub oldest_pending: GaugeVec,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("wxgate_requests_total", "Requests by route and status"),
            &["route", "status"],
        )?;
        let auth_outcomes = IntCounterVec::new(
            Opts::new("wxgate_auth_outcomes_total", "Token checks by outcome"),
            &["outcome"],
        )?;
        let upstream_latency = HistogramVec::new(
            HistogramOpts::new("wxgate_upstream_latency_seconds", "Upstream response time")
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
            &["route"],
        )?;
        let logins = IntCounterVec::new(
            Opts::new("wxgate_logins_total", "Logins by channel and outcome"),
            &["channel", "outcome"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(auth_outcomes.clone()))?;
        registry.register(Box::new(upstream_latency.clone()))?;
        registry.register(Box::new(logins.clone()))?;
        let oidc = IntCounterVec::new(
            Opts::new(
                "wxgate_oidc_requests_total",
                "OpenID Connect requests by client, endpoint and outcome",
            ),
            &["client", "endpoint", "outcome"],
        )?;
        registry.register(Box::new(oidc.clone()))?;
        let events = EventMetrics {
            deliveries: IntCounterVec::new(
                Opts::new(
                    "wxgate_event_deliveries_total",
                    "Identity event delivery attempts by webhook and outcome",
                ),
                &["webhook", "outcome"],
            )?,
            pending: IntGaugeVec::new(
                Opts::new(
                    "wxgate_events_pending",
                    "Identity events waiting for delivery",
                ),
                &["webhook"],
            )?,
            failed: IntGaugeVec::new(
                Opts::new(
                    "wxgate_events_failed",
                    "Identity events parked as failed after retry_for",
                ),
                &["webhook"],
            )?,
            oldest_pending: GaugeVec::new(
                Opts::new(
                    "wxgate_events_oldest_pending_seconds",
                    "Age of the oldest identity event waiting for delivery",
                ),
                &["webhook"],
            )?,
        };
        registry.register(Box::new(events.deliveries.clone()))?;
        registry.register(Box::new(events.pending.clone()))?;
        registry.register(Box::new(events.failed.clone()))?;
        registry.register(Box::new(events.oldest_pending.clone()))?;
        let transport = TransportMetrics {
            cert_expiry: GaugeVec::new(
                Opts::new(
                    "wxgate_tls_certificate_expiry_timestamp_seconds",
                    "When each served certificate expires (notAfter, Unix time)",
                ),
                &["cert"],
            )?,
            cert_reloads: IntCounterVec::new(
                Opts::new(
                    "wxgate_tls_reloads_total",
                    "Certificate reloads after their files changed, by outcome",
                ),
                &["outcome"],
            )?,
            refused: IntCounterVec::new(
                Opts::new(
                    "wxgate_connections_refused_total",
                    "Client connections closed by a transport limit, by reason",
                ),
                &["reason"],
            )?,
            upstream_tls_failures: IntCounterVec::new(
                Opts::new(
                    "wxgate_upstream_tls_failures_total",
                    "Failed TLS handshakes with upstreams, by route",
                ),
                &["route"],
            )?,
            pools: PoolMetrics::new()?,
            upstream_connections: IntCounterVec::new(
                Opts::new(
                    "wxgate_upstream_connections_total",
                    "Upstream connections used by requests, by route and whether reused",
                ),
                &["route", "reused"],
            )?,
            access_log_dropped: IntCounter::new(
                "wxgate_access_log_dropped_total",
                "Access log lines dropped because the writer fell behind",
            )?,
        };
        registry.register(Box::new(transport.upstream_connections.clone()))?;
        registry.register(Box::new(transport.access_log_dropped.clone()))?;
        transport.pools.register(&registry)?;
        registry.register(Box::new(transport.cert_expiry.clone()))?;
        registry.register(Box::new(transport.cert_reloads.clone()))?;
        registry.register(Box::new(transport.refused.clone()))?;
        registry.register(Box::new(transport.upstream_tls_failures.clone()))?;
        let outcome = |o: &str| auth_outcomes.with_label_values(&[o]);
        let auth = AuthCounters {
            valid: outcome("valid"),
            missing: outcome("missing"),
            invalid: outcome("invalid"),
            expired: outcome("expired"),
            retired_key: outcome("retired_key"),
            revoked: outcome("revoked"),
            cross_origin: outcome("cross_origin"),
        };
        Ok(Self {
            registry,
            auth,
            requests,
            auth_outcomes,
            upstream_latency,
            logins,
            oidc,
            events,
            transport,
        })
    }

    /// Handles for one route (by its label, the prefix).
    pub fn route(&self, label: &str) -> RouteMetrics {
        RouteMetrics {
            label: label.to_string(),
            by_status: COMMON_STATUSES
                .iter()
                .map(|s| {
                    (
                        *s,
                        self.requests.with_label_values(&[label, &s.to_string()]),
                    )
                })
                .collect(),
            upstream_latency: self.upstream_latency.with_label_values(&[label]),
            new_connections: self
                .transport
                .upstream_connections
                .with_label_values(&[label, "false"]),
            reused_connections: self
                .transport
                .upstream_connections
                .with_label_values(&[label, "true"]),
        }
    }

    /// Counts a finished request of a route.
    pub fn count(&self, route: &RouteMetrics, status: u16) {
        match route.by_status.iter().find(|(s, _)| *s == status) {
            Some((_, counter)) => counter.inc(),
            None => self
                .requests
                .with_label_values(&[&route.label, &status.to_string()])
                .inc(),
        }
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding our own registry into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
