//! Everything a request needs, built once at start-up and shared by every Pingora thread.

use crate::headers::IdentityHeaders;
use crate::metrics::Metrics;
use crate::revocation::RevocationList;
use crate::routes::RouteTable;
use std::sync::Arc;
use wxgate_core::auth::AuthService;
use wxgate_core::token::TokenService;

pub struct Gateway {
    /// `/_auth` (no trailing slash).
    pub auth_prefix: String,
    pub routes: RouteTable,
    /// Login channels by id.
    pub channels: crate::channels::Channels,
    pub auth: AuthService,
    pub tokens: Arc<TokenService>,
    pub revocations: Arc<RevocationList>,
    /// Identity headers (with the signed assertion) per (session, token issue time, route):
    /// signing ES256 and validating header values on every request would cost more than the
    /// rest of the request.
    /// Prepared identity headers by (SHA-256 of the access token, route index).
    pub injected: moka::sync::Cache<([u8; 32], usize), Arc<crate::headers::Prepared>>,
    pub headers: IdentityHeaders,
    /// The browser session cookie (`__Host-wxgate` behind https, `wxgate` on plain http).
    pub cookie_name: String,
    /// `scheme://host[:port]` of `public_url`: what a same-origin browser sends as `Origin`.
    pub public_origin: String,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub metrics: Arc<Metrics>,
    /// Per-route metric handles, indexed by route index; then `_auth`, then unmatched.
    pub route_metrics: Vec<crate::metrics::RouteMetrics>,
}

impl Gateway {
    /// Milliseconds after which a revoked session's access tokens have all expired.
    pub fn revocation_horizon_ms(&self, revoked_at_ms: i64) -> i64 {
        let ttl = i64::try_from(self.tokens.access_ttl().as_millis()).unwrap_or(i64::MAX / 2);
        revoked_at_ms.saturating_add(ttl).saturating_add(60_000)
    }
}
