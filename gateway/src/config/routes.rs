//! `[[route]]`: path prefixes, their upstreams, how each treats tokens, and the login channel a
//! browser without a session is sent to.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::time::Duration;

use humantime::format_duration;
use serde::Deserialize;
use wxgate_providers::registry::ChannelConfig;

use super::index::{join_index, join_key};
use super::validate::Validator;

/// One `[[route]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Path prefix, starting with `/`, outside `auth_prefix`, unique.
    pub prefix: String,
    /// `host:port` of each upstream backend, as connected to: one, or a pool.
    pub upstream: Vec<String>,
    /// How a pool's backend is chosen for a request.
    pub balance: Balance,
    /// An active check of each backend, when set.
    pub health_check: Option<HealthCheck>,
    /// Time between active checks.
    pub health_interval: Duration,
    /// How long a backend that refused a connection is left out.
    pub eject_for: Duration,
    /// HTTPS to the upstream, when its address says `https://`.
    pub upstream_tls: Option<UpstreamTls>,
    /// The `Host` the upstream receives.
    pub host_header: HostHeader,
    /// Whether a valid token is required, optional or ignored.
    pub auth: RouteAuth,
    /// The identity headers it sends (all by default).
    pub identity_headers: crate::headers::IdentitySet,
    /// A channel with an `/authorize` page that unauthenticated browser requests on a required
    /// route are redirected to.
    pub login_channel: Option<String>,
    /// Longest wait to connect to the upstream.
    pub connect_timeout: Duration,
    /// Longest wait for the upstream between reads.
    pub read_timeout: Duration,
}

/// How the gateway talks TLS to an `https://` upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// The name sent as SNI and verified in the upstream's certificate: `sni`, else the
    /// upstream's host.
    pub sni: String,
    /// Roots that verify the upstream instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// A client certificate for upstreams that require one (mTLS).
    pub client_cert: Option<crate::tls::CertPaths>,
    /// Offer HTTP/2 (ALPN `h2`), falling back to HTTP/1.1.
    pub http2: bool,
}

/// A route's `balance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// Each request to the next healthy backend.
    #[default]
    RoundRobin,
    /// By user id (the client network when anonymous), consistently: a user stays on one
    /// backend while it is healthy, and only a departed backend's users move.
    User,
}

/// A route's `health_check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheck {
    /// A connection (and for https, a handshake) succeeds.
    Tcp,
    /// `GET path` answers 2xx.
    Http { path: String },
}

/// A route's `host_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostHeader {
    /// The `Host` the client sent (what most backends behind one gateway expect).
    #[default]
    Client,
    /// The upstream's own `host[:port]`, as virtual-hosted services (a cloud API, another
    /// team's ingress) need.
    Upstream,
}

/// A route's `auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteAuth {
    /// No valid token: 401, or a redirect to `login_channel` for browsers.
    Required,
    /// Identity headers when the token is valid, none otherwise.
    Optional,
    /// Never identity headers, even with a valid token.
    Public,
}

/// One `[[route]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    /// Path prefix matched against the request path.
    pub prefix: String,
    /// `host:port`, `http://host:port` or `https://host[:port]` of the upstream service, or a
    /// list of them (a pool).
    pub upstream: OneOrMany,
    /// `round_robin` (default) or `user`.
    #[serde(default)]
    pub balance: Balance,
    /// `"tcp"` or an HTTP path such as `"/healthz"`; none when absent.
    pub health_check: Option<String>,
    /// Time between active checks. Default `5s`.
    pub health_interval: Option<String>,
    /// How long a backend that refused a connection is left out. Default `10s`.
    pub eject_for: Option<String>,
    /// PEM roots that verify an https upstream instead of the system's.
    pub ca_file: Option<String>,
    /// SNI and verified name for an https upstream, when not its host.
    pub sni: Option<String>,
    /// PEM client certificate for an https upstream that asks for one.
    pub client_cert: Option<String>,
    /// Its key.
    pub client_key: Option<String>,
    /// Offer HTTP/2 to an https upstream.
    #[serde(default)]
    pub http2: bool,
    /// `client` (default) or `upstream`.
    #[serde(default)]
    pub host_header: HostHeader,
    /// `required`, `optional` or `public`. No default: a route's exposure is written down.
    pub auth: RouteAuth,
    /// Which identity headers it sends: of `user`, `channel`, `openid`, `unionid`, `phone`,
    /// `assertion`. Default all.
    pub identity_headers: Option<Vec<String>>,
    /// Channel that unauthenticated browser requests are redirected to.
    pub login_channel: Option<String>,
    /// Longest wait for a connection to the upstream. Default `2s`.
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub connect_timeout: Duration,
    /// Longest wait for the upstream's response (between reads). Default `30s`.
    #[serde(
        default = "default_read_timeout",
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub read_timeout: Duration,
}

/// One address or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(one) => vec![one],
            Self::Many(many) => many,
        }
    }
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_read_timeout() -> Duration {
    Duration::from_secs(30)
}

/// Why `prefix` could never match a request, if it could not: routes are matched on the
/// normalised path (escapes of plain characters decoded, the rest upper-cased, `//` collapsed,
/// dot-segments resolved), so a prefix must be in that form itself.
fn unmatchable(prefix: &str) -> Option<String> {
    match crate::path::normalise(prefix) {
        Ok(normal) if normal == prefix => None,
        Ok(normal) => Some(format!(
            "{prefix:?} can never match: requests are matched on their normalised path, where \
             this prefix reads {normal:?}; write that instead"
        )),
        Err(e) => Some(format!(
            "{prefix:?} can never match: the gateway refuses such paths ({e})"
        )),
    }
}

/// An upstream address as written: `host:port`, `http://host:port` or `https://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UpstreamAddress {
    https: bool,
    /// `host:port`, the port filled in for a URL without one.
    address: String,
    /// The host alone, brackets removed from an IPv6 address.
    host: String,
}

fn parse_upstream(value: &str) -> Result<UpstreamAddress, &'static str> {
    let lower = value.to_ascii_lowercase();
    let (https, rest, default_port) = if lower.starts_with("https://") {
        (true, &value[8..], Some(443))
    } else if lower.starts_with("http://") {
        (false, &value[7..], Some(80))
    } else if value.contains("://") {
        return Err("has a scheme other than http:// or https://");
    } else {
        (false, value, None)
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err(
            "must be an address without a path, query or user, e.g. \"https://api.internal:8443\"",
        );
    }
    // `[v6]:port`, `[v6]`, `host:port` or `host`.
    let (host, port_text) = match rest.find(']') {
        Some(close) if rest.starts_with('[') => match &rest[close + 1..] {
            "" => (&rest[..=close], None),
            after => match after.strip_prefix(':') {
                Some(port) => (&rest[..=close], Some(port)),
                None => return Err("has no valid host (a name, an IPv4 address or [IPv6])"),
            },
        },
        _ => match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        },
    };
    let port = match (port_text, default_port) {
        (Some(text), _) => text.parse::<u16>().ok().filter(|p| *p != 0),
        (None, Some(default)) => Some(default),
        (None, None) => return Err("must be host:port, e.g. \"127.0.0.1:9000\""),
    };
    let Some(port) = port else {
        return Err("has no valid port (1 to 65535)");
    };
    let bare = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) if v6.parse::<Ipv6Addr>().is_ok() => v6,
        Some(_) => return Err("has no valid host (a name, an IPv4 address or [IPv6])"),
        None if !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') =>
        {
            host
        }
        None => return Err("has no valid host (a name, an IPv4 address or [IPv6])"),
    };
    Ok(UpstreamAddress {
        https,
        address: format!("{host}:{port}"),
        host: bare.to_ascii_lowercase(),
    })
}

// === rules ===

impl Validator<'_> {
    pub(super) fn routes(
        &mut self,
        routes: Vec<(usize, RawRoute)>,
        auth_prefix: &str,
        channels: &[(usize, ChannelConfig)],
        unread_channel_ids: &[(usize, String)],
    ) -> Vec<Route> {
        let mut prefixes: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::with_capacity(routes.len());
        for (i, mut raw) in routes {
            let key = join_index("route", i);
            let prefix_key = join_key(&key, "prefix");
            if !raw.prefix.starts_with('/') {
                self.error(&prefix_key, format!("{:?} must start with '/'", raw.prefix));
            } else if let Some(problem) = unmatchable(&raw.prefix) {
                self.error(&prefix_key, problem);
            } else if raw.prefix == auth_prefix
                || raw.prefix.starts_with(&format!("{auth_prefix}/"))
            {
                self.error(
                    &prefix_key,
                    format!("{:?} is under server.auth_prefix ({auth_prefix:?}), which the gateway serves itself", raw.prefix),
                );
            }
            if let Some(first) = prefixes.insert(raw.prefix.clone(), i) {
                let first = self.place(&join_key(&join_index("route", first), "prefix"));
                self.error(
                    &prefix_key,
                    format!(
                        "duplicate route prefix {:?}: also used by {first}",
                        raw.prefix
                    ),
                );
            }
            let written = std::mem::replace(&mut raw.upstream, OneOrMany::Many(Vec::new()));
            let upstream = self.upstream_list(&key, written.into_vec(), raw.host_header);
            let upstream_tls = upstream
                .as_ref()
                .and_then(|u| self.upstream_tls(&key, u, &raw));
            let pool = self.pool(&key, &raw);
            if let Some(login) = &raw.login_channel {
                self.login_channel(
                    &join_key(&key, "login_channel"),
                    login,
                    raw.auth,
                    channels,
                    unread_channel_ids,
                );
            }
            let identity_headers =
                self.identity_headers(&key, raw.identity_headers.as_deref(), raw.auth);
            let bounds = [
                (
                    "connect_timeout",
                    raw.connect_timeout,
                    Duration::from_secs(30),
                ),
                ("read_timeout", raw.read_timeout, Duration::from_secs(600)),
            ];
            for (name, value, max) in bounds {
                if value < Duration::from_millis(100) || value > max {
                    self.error(
                        join_key(&key, name),
                        format!(
                            "{} must be between 100ms and {}",
                            format_duration(value),
                            format_duration(max)
                        ),
                    );
                }
            }
            let Some((balance, health_check, health_interval, eject_for)) = pool else {
                continue;
            };
            out.push(Route {
                prefix: raw.prefix,
                upstream: upstream
                    .map_or_else(Vec::new, |u| u.into_iter().map(|a| a.address).collect()),
                balance,
                health_check,
                health_interval,
                eject_for,
                upstream_tls,
                host_header: raw.host_header,
                auth: raw.auth,
                identity_headers,
                login_channel: raw.login_channel,
                connect_timeout: raw.connect_timeout,
                read_timeout: raw.read_timeout,
            });
        }
        out
    }

    /// Every address of `upstream` parsed; a pool's share one scheme, and a `Host` sent as the
    /// upstream's own must be one name.
    fn upstream_list(
        &mut self,
        key: &str,
        written: Vec<String>,
        host_header: HostHeader,
    ) -> Option<Vec<UpstreamAddress>> {
        let upstream_key = join_key(key, "upstream");
        if written.is_empty() {
            self.error(&upstream_key, "names no address; write one, or a list");
            return None;
        }
        let mut parsed = Vec::with_capacity(written.len());
        let mut failed = false;
        for (i, text) in written.iter().enumerate() {
            let at = if written.len() == 1 {
                upstream_key.clone()
            } else {
                join_index(&upstream_key, i)
            };
            match parse_upstream(text) {
                Ok(u)
                    if parsed
                        .iter()
                        .any(|p: &UpstreamAddress| p.address == u.address) =>
                {
                    self.error(at, format!("{text:?} is listed twice"));
                    failed = true;
                }
                Ok(u) => parsed.push(u),
                Err(problem) => {
                    self.error(at, format!("{text:?} {problem}"));
                    failed = true;
                }
            }
        }
        if failed {
            return None;
        }
        if parsed.iter().any(|u| u.https != parsed[0].https) {
            self.error(
                &upstream_key,
                "mixes http and https backends; a pool's backends share one scheme",
            );
            return None;
        }
        if host_header == HostHeader::Upstream && parsed.iter().any(|u| u.host != parsed[0].host) {
            self.error(
                join_key(key, "host_header"),
                "\"upstream\" sends the upstream's own name, but this pool's backends have \
                 several; list one name, or use host_header = \"client\"",
            );
            return None;
        }
        Some(parsed)
    }

    /// A pool's `balance`, active check, check interval and ejection time.
    fn pool(
        &mut self,
        key: &str,
        raw: &RawRoute,
    ) -> Option<(Balance, Option<HealthCheck>, Duration, Duration)> {
        let health_check = match raw.health_check.as_deref() {
            None => None,
            Some("tcp") => Some(HealthCheck::Tcp),
            Some(path)
                if path.starts_with('/')
                    && path.bytes().all(|b| b.is_ascii_graphic())
                    && path.parse::<http::uri::PathAndQuery>().is_ok() =>
            {
                Some(HealthCheck::Http {
                    path: path.to_owned(),
                })
            }
            Some(other) => {
                self.error(
                    join_key(key, "health_check"),
                    format!("{other:?} is neither \"tcp\" nor a path such as \"/healthz\""),
                );
                return None;
            }
        };
        let health_interval = self.bounded_duration(
            &join_key(key, "health_interval"),
            raw.health_interval.as_deref(),
            Duration::from_secs(5),
            (Duration::from_secs(1), Duration::from_secs(300)),
        );
        let eject_for = self.bounded_duration(
            &join_key(key, "eject_for"),
            raw.eject_for.as_deref(),
            Duration::from_secs(10),
            (Duration::from_secs(1), Duration::from_secs(600)),
        );
        if raw.health_interval.is_some() && health_check.is_none() {
            self.error(
                join_key(key, "health_interval"),
                "applies only with a health_check (\"tcp\" or a path)",
            );
            return None;
        }
        if raw.balance == Balance::User && raw.auth == RouteAuth::Public {
            self.error(
                join_key(key, "balance"),
                "\"user\" needs the user: a public route never reads a token; use \"required\" \
                 or \"optional\" auth, or round_robin",
            );
            return None;
        }
        if health_check == Some(HealthCheck::Tcp) && raw.client_cert.is_some() {
            self.error(
                join_key(key, "health_check"),
                "a \"tcp\" check cannot present the client certificate this upstream asks \
                 for; check an HTTP path instead (\"/healthz\")",
            );
            return None;
        }
        Some((raw.balance, health_check, health_interval?, eject_for?))
    }

    /// The TLS settings of an `https://` upstream; on a plain one they are mistakes.
    fn upstream_tls(
        &mut self,
        key: &str,
        upstreams: &[UpstreamAddress],
        raw: &RawRoute,
    ) -> Option<UpstreamTls> {
        let upstream = &upstreams[0];
        if !upstream.https {
            for (name, set) in [
                ("ca_file", raw.ca_file.is_some()),
                ("sni", raw.sni.is_some()),
                ("client_cert", raw.client_cert.is_some()),
                ("client_key", raw.client_key.is_some()),
                ("http2", raw.http2),
            ] {
                if set {
                    self.error(
                        join_key(key, name),
                        "applies to an https upstream only; write upstream = \"https://host:port\"",
                    );
                }
            }
            return None;
        }
        let client_cert = match (&raw.client_cert, &raw.client_key) {
            (Some(cert), Some(k)) => Some(crate::tls::CertPaths {
                cert: PathBuf::from(cert),
                key: PathBuf::from(k),
            }),
            (None, None) => None,
            (Some(_), None) => {
                self.error(
                    join_key(key, "client_key"),
                    "client_cert needs its client_key",
                );
                None
            }
            (None, Some(_)) => {
                self.error(
                    join_key(key, "client_cert"),
                    "client_key needs its client_cert",
                );
                None
            }
        };
        let sni = match &raw.sni {
            Some(name) if name.is_empty() || name.contains(['/', ':', ' ']) => {
                self.error(
                    join_key(key, "sni"),
                    format!(
                        "{name:?} is not a host name (an empty SNI would turn verification off)"
                    ),
                );
                return None;
            }
            Some(name) => name.to_ascii_lowercase(),
            None if upstreams.iter().any(|u| u.host != upstream.host) => {
                self.error(
                    join_key(key, "sni"),
                    "this pool's backends have several names; name the one their certificates \
                     carry with sni",
                );
                return None;
            }
            None => upstream.host.clone(),
        };
        Some(UpstreamTls {
            sni,
            ca_file: raw.ca_file.as_ref().map(PathBuf::from),
            client_cert,
            http2: raw.http2,
        })
    }

    /// `identity_headers`: known names, at least one, and none on a public route (which never
    /// carries identity).
    fn identity_headers(
        &mut self,
        key: &str,
        names: Option<&[String]>,
        auth: RouteAuth,
    ) -> crate::headers::IdentitySet {
        use crate::headers::IdentitySet;
        let Some(names) = names else {
            return IdentitySet::ALL;
        };
        let key = join_key(key, "identity_headers");
        if auth == RouteAuth::Public {
            self.error(
                &key,
                "a public route never carries identity headers; remove identity_headers",
            );
        }
        match IdentitySet::parse(names.iter().map(String::as_str)) {
            Ok(set) if set.is_empty() => {
                self.error(&key, "is empty: make the route public to send no identity");
                set
            }
            Ok(set) => set,
            Err(unknown) => {
                self.error(
                    &key,
                    format!(
                        "unknown identity header {unknown:?}; expected one of {}",
                        super::raw::backticked(&IdentitySet::NAMES)
                    ),
                );
                IdentitySet::ALL
            }
        }
    }

    pub(super) fn login_channel(
        &mut self,
        key: &str,
        login: &str,
        auth: RouteAuth,
        channels: &[(usize, ChannelConfig)],
        unread_channel_ids: &[(usize, String)],
    ) {
        if auth == RouteAuth::Public {
            self.error(key, "a public route never redirects to login; remove login_channel or make the route required");
            return;
        }
        if unread_channel_ids.iter().any(|(_, id)| id == login) {
            // That channel's own error is already reported.
            return;
        }
        match channels.iter().find(|(_, c)| c.id() == login) {
            None => {
                let redirecting: Vec<&str> = channels
                    .iter()
                    .filter(|(_, c)| c.login_page().is_some())
                    .map(|(_, c)| c.id())
                    .collect();
                let known = if redirecting.is_empty() {
                    "none".to_owned()
                } else {
                    redirecting.join(", ")
                };
                self.error(
                    key,
                    format!("no channel has id {login:?} (channels with a sign-in page: {known})"),
                );
            }
            Some((_, c)) if c.login_page().is_none() => self.error(
                key,
                format!(
                    "channel {login:?} is a {} channel without a sign-in page to send a browser to; \
                     name a wechat_official_account, wechat_open_qr or wecom channel, or a \
                     wechat_miniprogram channel with scan_login",
                    c.kind()
                ),
            ),
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests;
