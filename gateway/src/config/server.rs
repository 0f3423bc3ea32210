//! `[server]`: where the proxy listens, the public URL OAuth redirects are built from, the
//! gateway's own path prefix, the metrics listener, trusted proxies and underscored headers.

use std::net::SocketAddr;

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

        let public_url = raw
            .public_url
            .clone()
            .or_else(|| listen.map(|a| format!("http://{a}")));
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
        Some(Server {
            listen: listen?,
            public_url: public_url?,
            auth_prefix: auth_prefix?,
            metrics_listen,
            trusted_proxies,
            underscore_headers: raw.underscore_headers,
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
