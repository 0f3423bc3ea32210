//! Everything a request needs, built once at start-up and shared by every Pingora thread. This
//! module only holds data: it imports the types it stores and nothing that serves requests.

use crate::cookies::CookieNames;
use crate::headers::IdentityHeaders;
use crate::metrics::Metrics;
use crate::revocation::RevocationList;
use crate::routes::RouteTable;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use wxgate_core::auth::AuthService;
use wxgate_core::token::TokenService;
use wxgate_providers::provider::LoginProvider;

/// Login channels by id.
pub type Channels = HashMap<String, Arc<dyn LoginProvider>>;

/// What a browser can sign in with, as the login page offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserChannel {
    pub id: String,
    pub kind: BrowserKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserKind {
    /// Official-account OAuth: works inside WeChat only.
    OfficialAccount,
    /// Website QR login: a desktop browser, scanned with WeChat.
    OpenQr,
}

pub struct Gateway {
    /// `/_auth` (no trailing slash).
    pub auth_prefix: String,
    /// `public_url` without a trailing slash: OAuth `redirect_uri`s are built from it alone.
    pub public_url: String,
    /// `scheme://host[:port]` of `public_url`: what a same-origin browser sends as `Origin`.
    pub public_origin: String,
    pub routes: RouteTable,
    pub channels: Channels,
    /// The AppID of each WeChat channel, by channel id.
    pub channel_appids: HashMap<String, String>,
    /// Channels a browser can sign in with, in config order.
    pub browser_channels: Vec<BrowserChannel>,
    pub auth: AuthService,
    pub tokens: Arc<TokenService>,
    /// Browser login flows (their `state`, kept in the shared store).
    pub flows: crate::flow::Flows,
    /// Browser flows one client network may start per minute (each writes a row).
    pub flow_starts: crate::throttle::Throttle,
    /// Calls that exchange a WeChat code, per client network and minute (each costs a row and
    /// a WeChat call before anything is proved).
    pub wechat_logins: crate::throttle::Throttle,
    /// How clients are grouped into networks for every per-client limit.
    pub networks: crate::client::Networks,
    pub revocations: Arc<RevocationList>,
    /// The names of the identity headers. (What is prepared from them for a token is memoised
    /// on that token's cache entry, per route: see `proxy.rs`.)
    pub headers: IdentityHeaders,
    /// Forward request headers whose name has a `_` (`[server] underscore_headers = "keep"`).
    pub keep_underscored_headers: bool,
    pub cookies: CookieNames,
    /// How long a browser session's cookies live (the refresh token's life).
    pub refresh_ttl: Duration,
    /// Sessions whose renewal just failed here: they may not reach the database again for a
    /// minute (an expired cookie with a forged refresh cookie is otherwise a query per request).
    pub renewals_refused: moka::sync::Cache<String, ()>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub metrics: Arc<Metrics>,
    /// Per-route metric handles, indexed by route index; then `_auth`, then unmatched.
    pub route_metrics: Vec<crate::metrics::RouteMetrics>,
}

impl Gateway {
    /// Whether `ip` is one of `trusted_proxies`, whose `X-Forwarded-*` headers are believed.
    pub fn is_trusted_proxy(&self, ip: &std::net::IpAddr) -> bool {
        // A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`: matched as IPv4.
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// Milliseconds after which a revoked session's access tokens have all expired.
    pub fn revocation_horizon_ms(&self, revoked_at_ms: i64) -> i64 {
        let ttl = i64::try_from(self.tokens.access_ttl().as_millis()).unwrap_or(i64::MAX / 2);
        revoked_at_ms.saturating_add(ttl).saturating_add(60_000)
    }

    /// Sessions revoked here (a logout, a merge) leave this replica's fast path at once.
    pub fn note_revoked(&self, sessions: &[String]) {
        let now = self.tokens.clock().now_ms();
        for sid in sessions {
            self.revocations
                .insert(sid.clone(), self.revocation_horizon_ms(now));
        }
    }

    /// `{auth_prefix}/login`.
    pub fn login_page_path(&self) -> String {
        format!("{}/login", self.auth_prefix)
    }

    /// The cookies' life in seconds.
    pub fn session_max_age(&self) -> u64 {
        self.refresh_ttl.as_secs()
    }
}
