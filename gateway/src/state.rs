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
use wxgate_providers::kind::{LoginOption, Start};
use wxgate_providers::provider::LoginProvider;

/// Login channels by id.
pub type Channels = HashMap<String, Arc<dyn LoginProvider>>;

/// One way in on the login page: a channel and the option its kind declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageOption {
    pub channel: String,
    pub option: LoginOption,
}

/// wxgate as an OpenID Connect provider: `[oidc]` and its codes in the shared store.
pub struct OidcState {
    pub config: crate::config::Oidc,
    pub codes: wxgate_core::oidc::Codes,
    /// Authorization requests waiting for a sign-in.
    pub pending: wxgate_core::oidc::Pending,
}

pub struct Gateway {
    /// `/_auth` (no trailing slash).
    pub auth_prefix: String,
    /// `public_url` without a trailing slash: OAuth `redirect_uri`s are built from it alone.
    pub public_url: String,
    /// `scheme://host[:port]` of `public_url`: what a same-origin browser sends as `Origin`.
    pub public_origin: String,
    pub routes: RouteTable,
    /// `Strict-Transport-Security` max-age for every answer, on an HTTPS listener with `hsts`.
    pub hsts: Option<std::time::Duration>,
    /// `[server] idle_timeout` in whole seconds, for Pingora's keep-alive.
    pub idle_timeout_secs: u64,
    pub channels: Channels,
    /// The AppID of each WeChat channel, by channel id.
    pub channel_appids: HashMap<String, String>,
    /// The ways a browser can sign in, in the login page's order.
    pub login_options: Vec<PageOption>,
    /// The login page's title.
    pub login_title: String,
    /// Logins that finish elsewhere (scan-to-login), in the shared store.
    pub tickets: crate::tickets::Tickets,
    /// Ticket status polls per minute: of a browser's own waiting ticket, per ticket (a page
    /// polls every 2 s); of none, per client network. Strangers behind the same address never
    /// spend a waiting page's polls.
    pub ticket_polls: crate::throttle::Throttle<String>,
    pub ticket_poll_misses: crate::throttle::Throttle,
    /// The images of open tickets, by scene: a waiting page that reloads costs no WeChat call.
    /// Bounded by bytes.
    pub ticket_images: moka::sync::Cache<String, (&'static str, bytes::Bytes)>,
    pub auth: AuthService,
    pub tokens: Arc<TokenService>,
    /// Browser login flows (their `state`, kept in the shared store).
    pub flows: crate::flow::Flows,
    /// Browser flows one client network may start per minute (each writes a row).
    pub flow_starts: crate::throttle::Throttle,
    /// Calls that exchange a WeChat code, per client network and minute (each costs a row and
    /// a WeChat call before anything is proved).
    pub wechat_logins: crate::throttle::Throttle,
    /// Renewals of a cookie whose key is unknown here, per network: anyone can write such a
    /// cookie, and each renewal is a database transaction on the proxied path.
    pub keyless_renewals: crate::throttle::Throttle,
    /// How clients are grouped into networks for every per-client limit.
    pub networks: crate::client::Networks,
    pub revocations: Arc<RevocationList>,
    /// The names of the identity headers. (What is prepared from them for a token is memoised
    /// on that token's cache entry, per route: see `proxy.rs`.)
    pub headers: IdentityHeaders,
    /// Forward request headers whose name has a `_` (`[server] underscore_headers = "keep"`).
    pub keep_underscored_headers: bool,
    /// `[server] preserve_header_case`: see `proxy::additions`.
    pub preserve_header_case: bool,
    pub cookies: CookieNames,
    /// How long a browser session's cookies live (the refresh token's life).
    pub refresh_ttl: Duration,
    /// Sessions whose renewal just failed here: they may not reach the database again for a
    /// minute (an expired cookie with a forged refresh cookie is otherwise a query per request).
    pub renewals_refused: moka::sync::Cache<String, ()>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub metrics: Arc<Metrics>,
    /// `[oidc]`, when configured.
    pub oidc: Option<OidcState>,
    /// One line per request, unless `[server] access_log = "off"`.
    pub access_log: Option<crate::access_log::AccessLog>,
    /// Per-route metric handles, indexed by route index; then `_auth`, then unmatched.
    pub route_metrics: Vec<crate::metrics::RouteMetrics>,
}

impl Gateway {
    /// The client's address: the TCP peer, or what `trusted_proxies` report of it
    /// ([`crate::client::address`]). A client cannot move it by sending `X-Forwarded-For` itself.
    pub fn client_ip(&self, session: &pingora::proxy::Session) -> Option<std::net::IpAddr> {
        let peer = session.client_addr()?.as_inet()?.ip();
        let forwarded = session.req_header().headers.get_all("x-forwarded-for");
        Some(crate::client::address(
            peer,
            forwarded.iter().map(|v| v.as_bytes()),
            |ip| self.is_trusted_proxy(ip),
        ))
    }

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

    /// Where a browser starts signing in with `channel` and comes back to `return_to` (a local
    /// path): the one place such a URL is built. `None` when the channel has no page to start
    /// at (the phone form lives on the login page).
    pub fn login_start(&self, channel: &str, return_to: &str) -> Option<String> {
        let action = self
            .login_options
            .iter()
            .filter(|o| o.channel == channel)
            .find_map(|o| match o.option.start {
                Start::Page(action) => Some(action),
                Start::PhoneForm => None,
            })?;
        Some(self.start_url(channel, action, return_to))
    }

    /// `{auth_prefix}/{channel}/{action}?return_to=…`.
    pub fn start_url(&self, channel: &str, action: &str, return_to: &str) -> String {
        let to: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
        format!("{}/{channel}/{action}?return_to={to}", self.auth_prefix)
    }

    /// The login page, coming back to `return_to`.
    pub fn login_page_for(&self, return_to: &str) -> String {
        let to: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
        format!("{}?return_to={to}", self.login_page_path())
    }

    /// The cookies' life in seconds.
    pub fn session_max_age(&self) -> u64 {
        self.refresh_ttl.as_secs()
    }
}
