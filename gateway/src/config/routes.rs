//! `[[route]]`: path prefixes, their upstreams, how each treats tokens, and the login channel a
//! browser without a session is sent to.

use std::collections::HashMap;
use std::net::Ipv6Addr;
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
    /// `host:port` of the upstream.
    pub upstream: String,
    /// Whether a valid token is required, optional or ignored.
    pub auth: RouteAuth,
    /// A channel with an `/authorize` page that unauthenticated browser requests on a required
    /// route are redirected to.
    pub login_channel: Option<String>,
    /// Longest wait to connect to the upstream.
    pub connect_timeout: Duration,
    /// Longest wait for the upstream between reads.
    pub read_timeout: Duration,
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
    /// `host:port` of the upstream service.
    pub upstream: String,
    /// `required`, `optional` or `public`. No default: a route's exposure is written down.
    pub auth: RouteAuth,
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

/// `host:port`, host a name, an IPv4 address or a bracketed IPv6 address.
fn check_upstream(value: &str) -> Result<(), &'static str> {
    if value.contains("://") {
        return Err("must be host:port without a scheme, e.g. \"127.0.0.1:9000\"");
    }
    let Some((host, port)) = value.rsplit_once(':') else {
        return Err("must be host:port, e.g. \"127.0.0.1:9000\"");
    };
    if !port.parse::<u16>().is_ok_and(|p| p != 0) {
        return Err("has no valid port (1 to 65535)");
    }
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        }
    };
    if host_ok {
        Ok(())
    } else {
        Err("has no valid host (a name, an IPv4 address or [IPv6])")
    }
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
        for (i, raw) in routes {
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
            if let Err(problem) = check_upstream(&raw.upstream) {
                self.error(
                    join_key(&key, "upstream"),
                    format!("{:?} {problem}", raw.upstream),
                );
            }
            if let Some(login) = &raw.login_channel {
                self.login_channel(
                    &join_key(&key, "login_channel"),
                    login,
                    raw.auth,
                    channels,
                    unread_channel_ids,
                );
            }
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
            out.push(Route {
                prefix: raw.prefix,
                upstream: raw.upstream,
                auth: raw.auth,
                login_channel: raw.login_channel,
                connect_timeout: raw.connect_timeout,
                read_timeout: raw.read_timeout,
            });
        }
        out
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
                     name a wechat_official_account or wechat_open_qr channel, or a \
                     wechat_miniprogram channel with scan_login",
                    c.kind()
                ),
            ),
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams() {
        for ok in [
            "127.0.0.1:9000",
            "echo:80",
            "svc.default.svc.cluster.local:8080",
            "[::1]:9000",
        ] {
            assert_eq!(check_upstream(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://127.0.0.1:9000",
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:70000",
            ":9000",
            "::1:9000",
            "a b:80",
        ] {
            assert!(check_upstream(bad).is_err(), "{bad}");
        }
    }
}
