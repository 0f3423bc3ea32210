//! `[server]`: where the proxy listens, the public URL OAuth redirects are built from, the
//! gateway's own path prefix, the metrics listener, trusted proxies and underscored headers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use humantime::format_duration;
use serde::Deserialize;
use wxgate_core::rules::{check_http_url, FieldError};

use super::index::join_index;
use super::validate::Validator;

/// `[server]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// Address the proxy listens on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Public base URL without a trailing slash; OAuth `redirect_uri`s are built from it.
    /// Default `http://{listen}`.
    pub public_url: String,
    /// Path of the gateway's own endpoints: starts with `/`, no trailing `/`. Default `/_auth`.
    pub auth_prefix: String,
    /// Address of the Prometheus `/metrics` listener, if any.
    pub metrics_listen: Option<SocketAddr>,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// What happens to request headers whose name has a `_`.
    pub underscore_headers: UnderscoreHeaders,
    /// One line per request on stdout, or none.
    pub access_log: AccessLogFormat,
    /// Send request header names upstream in the case the client wrote them. Default `false`:
    /// lower case, as HTTP/2 clients send them and as Envoy and HAProxy forward them.
    pub preserve_header_case: bool,
    /// HTTPS on `listen`, when set.
    pub tls: Option<Tls>,
    /// Longest time from a request's first byte to the end of its header. Default `30s`.
    pub header_timeout: Duration,
    /// How long a kept-alive connection may sit idle between requests. Default `60s`.
    pub idle_timeout: Duration,
    /// A request body arriving slower than this (bytes per second, averaged from the end of
    /// the header, after `header_timeout` of grace) is cut. `0` turns it off. Default `1024`.
    pub min_body_rate: u32,
    /// Open connections allowed from one client network (`[limits]` prefixes); none when
    /// absent. Off by default: carriers put many people behind one address.
    pub max_connections_per_network: Option<u32>,
    /// How upstream names are resolved and how long an answer is kept.
    pub dns: Dns,
    /// An upgraded socket (a WebSocket) is closed this long after its handshake, so that its
    /// client reconnects and is judged again; none when absent.
    pub max_connection_age: Option<Duration>,
}

/// `[server] dns`: upstream names are re-resolved as their records expire, so a backend that
/// moves (a redeploy, a cloud load balancer) is followed without a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct Dns {
    /// Name servers asked instead of the system's (`/etc/resolv.conf`), when set.
    pub nameservers: Vec<SocketAddr>,
    /// An answer is kept at least this long, whatever its TTL (a floor against TTL 0).
    /// Default `5s`.
    pub min_ttl: Duration,
    /// An answer is kept at most this long, whatever its TTL. Default `300s`.
    pub max_ttl: Duration,
}

impl Default for Dns {
    fn default() -> Self {
        Self {
            nameservers: Vec::new(),
            min_ttl: Duration::from_secs(5),
            max_ttl: Duration::from_secs(300),
        }
    }
}

/// `[server] dns`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDns {
    /// `IP` or `IP:PORT` of each name server; the system's when empty.
    #[serde(default)]
    pub nameservers: Vec<String>,
    /// TTL floor. Default `5s`.
    pub min_ttl: Option<String>,
    /// TTL ceiling. Default `300s`.
    pub max_ttl: Option<String>,
}

/// `[server] tls`: the certificates served, chosen by SNI, and what goes with HTTPS.
#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    /// `cert`/`key` first (the default for clients that ask for no name or an unknown one),
    /// then `more`.
    pub certs: Vec<crate::tls::CertPaths>,
    /// `Strict-Transport-Security: max-age` sent on every answer, when set.
    pub hsts: Option<Duration>,
    /// A plain-HTTP listener that only redirects to `public_url`.
    pub redirect_listen: Option<SocketAddr>,
}

/// `[server] tls`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    /// PEM certificate chain, leaf first.
    pub cert: String,
    /// PEM private key of the leaf.
    pub key: String,
    /// More certificates, each served to clients asking (SNI) for a name it covers.
    #[serde(default)]
    pub more: Vec<RawCertPair>,
    /// HSTS max-age, e.g. `"365d"`; absent, no HSTS header.
    pub hsts: Option<String>,
    /// Address of a plain listener that redirects every request to `public_url`.
    pub redirect_listen: Option<String>,
}

/// One `{ cert, key }` in `[server] tls.more`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCertPair {
    pub cert: String,
    pub key: String,
}

/// `[server] underscore_headers`: CGI, FastCGI and WSGI upstreams read `_` in a header name as
/// `-`, so `X_Forwarded_For` could pass for a header the gateway vouches for. Framing and
/// routing headers so spelled (`Transfer_Encoding`, `Content_Length`, `Host`, `Connection`,
/// `Upgrade`, `TE`, `Trailer`, `Keep-Alive`) are refused (400) whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnderscoreHeaders {
    /// Removed before the request goes upstream (nginx's default).
    #[default]
    Drop,
    /// Forwarded, for upstreams that need them.
    Keep,
}

/// `[server] access_log`: one line per request on stdout (who reached what, when), written
/// by a thread of its own, never by a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLogFormat {
    /// One JSON object per line (default).
    #[default]
    Json,
    /// `key=value` pairs, for people reading a terminal.
    Logfmt,
    Off,
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    /// Address the proxy listens on. Default `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Public base URL, used to build OAuth `redirect_uri`. Default `http://{listen}`.
    pub public_url: Option<String>,
    /// Path under which the gateway serves its own endpoints. Default `/_auth`.
    #[serde(default = "default_auth_prefix")]
    pub auth_prefix: String,
    /// Address of the Prometheus `/metrics` listener; none when absent.
    pub metrics_listen: Option<String>,
    /// CIDRs whose `X-Forwarded-*` headers are believed. Default none.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Headers whose name has a `_`: `drop` (default) or `keep`.
    #[serde(default)]
    pub underscore_headers: super::UnderscoreHeaders,
    /// `json` (default), `logfmt` or `off`.
    #[serde(default)]
    pub access_log: AccessLogFormat,
    /// Header names upstream as the client wrote them. Default `false`.
    #[serde(default)]
    pub preserve_header_case: bool,
    /// HTTPS: certificates and options.
    pub tls: Option<RawTls>,
    /// Whole-header deadline. Default `30s`.
    pub header_timeout: Option<String>,
    /// Idle keep-alive limit. Default `60s`.
    pub idle_timeout: Option<String>,
    /// Slowest request body tolerated, bytes per second; `0` off. Default `1024`.
    #[serde(default = "default_min_body_rate")]
    pub min_body_rate: u32,
    /// Connections allowed per client network; none when absent.
    pub max_connections_per_network: Option<u32>,
    /// Resolution of upstream names.
    pub dns: Option<RawDns>,
    /// Life of an upgraded socket; unbounded when absent.
    pub max_connection_age: Option<String>,
}

fn default_min_body_rate() -> u32 {
    1024
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}

fn default_auth_prefix() -> String {
    "/_auth".to_owned()
}

// === rules ===

impl Validator<'_> {
    pub(super) fn server(&mut self, raw: RawServer) -> Option<Server> {
        let listen = self.socket_addr("server.listen", &raw.listen);
        let metrics_listen = raw
            .metrics_listen
            .as_deref()
            .and_then(|m| self.socket_addr("server.metrics_listen", m));
        if let (Some(a), Some(m)) = (listen, metrics_listen) {
            // An unspecified address (0.0.0.0) binds every interface, so it clashes on the port alone.
            let same_ip = a.ip() == m.ip() || a.ip().is_unspecified() || m.ip().is_unspecified();
            if a.port() == m.port() && same_ip {
                self.error(
                    "server.metrics_listen",
                    format!("{m} clashes with server.listen ({a}); use another port"),
                );
            }
        }

        let scheme = if raw.tls.is_some() { "https" } else { "http" };
        let tls = raw.tls.and_then(|t| self.tls(t));
        let public_url = raw
            .public_url
            .clone()
            .or_else(|| listen.map(|a| format!("{scheme}://{a}")));
        let public_url = public_url.and_then(|u| self.public_url(&u));
        let auth_prefix = self.auth_prefix(&raw.auth_prefix);

        let mut trusted_proxies = Vec::new();
        for (i, cidr) in raw.trusted_proxies.iter().enumerate() {
            match cidr.parse::<ipnet::IpNet>() {
                Ok(net) => trusted_proxies.push(net),
                Err(_) => {
                    let hint = match cidr.parse::<std::net::IpAddr>() {
                        Ok(ip) if ip.is_ipv4() => format!(" (write \"{ip}/32\" for one address)"),
                        Ok(ip) => format!(" (write \"{ip}/128\" for one address)"),
                        Err(_) => String::new(),
                    };
                    self.error(
                        join_index("server.trusted_proxies", i),
                        format!("{cidr:?} is not a CIDR such as \"10.0.0.0/8\"{hint}"),
                    );
                }
            }
        }
        let header_timeout = self.bounded_duration(
            "server.header_timeout",
            raw.header_timeout.as_deref(),
            Duration::from_secs(30),
            (Duration::from_secs(1), Duration::from_secs(300)),
        );
        let idle_timeout = self.bounded_duration(
            "server.idle_timeout",
            raw.idle_timeout.as_deref(),
            Duration::from_secs(60),
            (Duration::from_secs(1), Duration::from_secs(3600)),
        );
        if raw.max_connections_per_network == Some(0) {
            self.error(
                "server.max_connections_per_network",
                "0 would refuse every connection; leave it out for no cap",
            );
        }
        let dns = match raw.dns {
            Some(d) => self.dns(d),
            None => Some(Dns::default()),
        };
        let max_connection_age = match raw.max_connection_age.as_deref() {
            None => Some(None),
            age => self
                .bounded_duration(
                    "server.max_connection_age",
                    age,
                    Duration::ZERO,
                    (Duration::from_secs(1), Duration::from_secs(7 * 86400)),
                )
                .map(Some),
        };
        Some(Server {
            max_connection_age: max_connection_age?,
            dns: dns?,
            listen: listen?,
            public_url: public_url?,
            auth_prefix: auth_prefix?,
            metrics_listen,
            trusted_proxies,
            underscore_headers: raw.underscore_headers,
            access_log: raw.access_log,
            preserve_header_case: raw.preserve_header_case,
            tls,
            header_timeout: header_timeout?,
            idle_timeout: idle_timeout?,
            min_body_rate: raw.min_body_rate,
            max_connections_per_network: raw.max_connections_per_network,
        })
    }

    /// A duration `value` (or `default`) within `bounds`.
    pub(super) fn bounded_duration(
        &mut self,
        key: &str,
        value: Option<&str>,
        default: Duration,
        (min, max): (Duration, Duration),
    ) -> Option<Duration> {
        let Some(text) = value else {
            return Some(default);
        };
        match wxgate_core::rules::duration::parse(text) {
            Ok(d) if (min..=max).contains(&d) => Some(d),
            Ok(_) => {
                self.error(
                    key,
                    format!(
                        "{text:?} must be between {} and {}",
                        format_duration(min),
                        format_duration(max)
                    ),
                );
                None
            }
            Err(e) => {
                self.error(key, e);
                None
            }
        }
    }

    fn dns(&mut self, raw: RawDns) -> Option<Dns> {
        let defaults = Dns::default();
        let mut nameservers = Vec::new();
        for (i, text) in raw.nameservers.iter().enumerate() {
            let parsed = text.parse::<SocketAddr>().ok().or_else(|| {
                text.parse::<std::net::IpAddr>()
                    .ok()
                    .map(|ip| (ip, 53).into())
            });
            match parsed {
                Some(addr) => nameservers.push(addr),
                None => self.error(
                    join_index("server.dns.nameservers", i),
                    format!("{text:?} is not an IP address or IP:PORT such as \"10.0.0.2:53\""),
                ),
            }
        }
        let min_ttl = self.bounded_duration(
            "server.dns.min_ttl",
            raw.min_ttl.as_deref(),
            defaults.min_ttl,
            (Duration::from_secs(1), Duration::from_secs(3600)),
        );
        let max_ttl = self.bounded_duration(
            "server.dns.max_ttl",
            raw.max_ttl.as_deref(),
            defaults.max_ttl,
            (Duration::from_secs(1), Duration::from_secs(86400)),
        );
        let (min_ttl, max_ttl) = (min_ttl?, max_ttl?);
        if min_ttl > max_ttl {
            self.error(
                "server.dns.min_ttl",
                format!(
                    "{} is above max_ttl ({})",
                    format_duration(min_ttl),
                    format_duration(max_ttl)
                ),
            );
            return None;
        }
        Some(Dns {
            nameservers,
            min_ttl,
            max_ttl,
        })
    }

    /// `[server] tls`: the files are read at start-up and by `wxgate check`, not here.
    fn tls(&mut self, raw: RawTls) -> Option<Tls> {
        let mut certs = vec![crate::tls::CertPaths {
            cert: PathBuf::from(&raw.cert),
            key: PathBuf::from(&raw.key),
        }];
        certs.extend(raw.more.iter().map(|p| crate::tls::CertPaths {
            cert: PathBuf::from(&p.cert),
            key: PathBuf::from(&p.key),
        }));
        for (i, pair) in certs.iter().enumerate() {
            let key = if i == 0 {
                "server.tls".to_owned()
            } else {
                join_index("server.tls.more", i - 1)
            };
            for (field, path) in [("cert", &pair.cert), ("key", &pair.key)] {
                if path.as_os_str().is_empty() {
                    self.error(format!("{key}.{field}"), "must name a PEM file");
                }
            }
        }
        let hsts = match raw.hsts.as_deref() {
            None => None,
            Some(text) => match wxgate_core::rules::duration::parse(text) {
                Ok(d) if d >= Duration::from_secs(1) => Some(d),
                Ok(_) => {
                    self.error(
                        "server.tls.hsts",
                        "must be at least 1s (leave it out for no HSTS)",
                    );
                    None
                }
                Err(e) => {
                    self.error("server.tls.hsts", e);
                    None
                }
            },
        };
        let redirect_listen = raw
            .redirect_listen
            .as_deref()
            .and_then(|a| self.socket_addr("server.tls.redirect_listen", a));
        Some(Tls {
            certs,
            hsts,
            redirect_listen,
        })
    }

    pub(super) fn socket_addr(&mut self, key: &str, value: &str) -> Option<SocketAddr> {
        let parsed = value.parse().ok();
        if parsed.is_none() {
            self.error(key, format!("{value:?} is not a socket address; expected IP:PORT such as \"127.0.0.1:8080\""));
        }
        parsed
    }

    pub(super) fn public_url(&mut self, value: &str) -> Option<String> {
        let mut problems = Vec::new();
        check_http_url("server.public_url", value, &mut problems);
        if problems.is_empty() {
            if let Ok(u) = url::Url::parse(value) {
                if u.query().is_some() || u.fragment().is_some() {
                    problems.push(FieldError::new(
                        "server.public_url",
                        "must not have a query or fragment",
                    ));
                }
            }
        }
        let ok = problems.is_empty();
        self.field_errors("", problems);
        ok.then(|| value.trim_end_matches('/').to_owned())
    }

    pub(super) fn auth_prefix(&mut self, value: &str) -> Option<String> {
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        };
        let problem = if !value.starts_with('/') {
            Some("must start with '/'")
        } else if value.len() > 1 && value.ends_with('/') {
            Some("must not end with '/'")
        } else if !value[1..].split('/').all(segment_ok) {
            Some("must be a path such as \"/_auth\" (letters, digits, '-', '.', '_', '~' between slashes)")
        } else {
            None
        };
        match problem {
            Some(p) => {
                self.error("server.auth_prefix", format!("{value:?} {p}"));
                None
            }
            None => Some(value.to_owned()),
        }
    }
}
