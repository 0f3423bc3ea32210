//! Prometheus metrics, served in text format at `metrics_listen`/metrics.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    pub registry: Registry,
    /// Proxied and gateway requests by route (or `_auth`) and status.
    pub requests: IntCounterVec,
    /// Token checks on proxied requests: `valid`, `missing`, `invalid`, `expired`, `revoked`.
    pub auth_outcomes: IntCounterVec,
    /// Upstream response time by route.
    pub upstream_latency: HistogramVec,
    /// Logins by channel and outcome (`ok`, or the error code).
    pub logins: IntCounterVec,
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
        Ok(Self {
            registry,
            requests,
            auth_outcomes,
            upstream_latency,
            logins,
        })
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding our own registry into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
