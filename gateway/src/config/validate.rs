//! Semantic rules: what types alone cannot say. Pure: no I/O, no env, no clock. Every rule pushes
//! an error naming its key and keeps going, so one run reports everything.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use humantime::format_duration;
use wxgate_core::policy::{Anchor, IdentityPolicy, OnPhoneConflict};
use wxgate_providers::common::{check_http_url, FieldError};
use wxgate_providers::registry::ChannelConfig;

use super::error::ConfigError;
use super::index::{join_index, join_key, KeyIndex};
use super::raw::{
    RawConfig, RawDatabase, RawHeaders, RawIdentity, RawLimits, RawRoute, RawServer, RawTokens,
    RawWebhook,
};
use super::{Config, Database, Limits, Route, RouteAuth, Server, Tokens, Webhook};

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

/// Channel ids that would collide with the gateway's own endpoints under `auth_prefix`.
pub const RESERVED_CHANNEL_IDS: [&str; 8] = [
    "token",
    "logout",
    "me",
    "login",
    "jwks.json",
    "healthz",
    "readyz",
    "metrics",
];

const DATABASE_SCHEMES: [&str; 5] = ["sqlite", "postgres", "postgresql", "mysql", "mariadb"];
const MAX_ACCESS_TTL: Duration = Duration::from_secs(3600);
const MIN_REVOCATION_SYNC: Duration = Duration::from_secs(1);
const MAX_REVOCATION_SYNC: Duration = Duration::from_secs(300);

/// Checks `raw` and builds the runtime config, with every rule it breaks. The config is built
/// whatever the errors (but for a `[server]` that cannot be read): the caller decides which
/// errors matter. `index` only turns key paths into line numbers for messages that point at a
/// second place (duplicates).
pub(crate) fn validate(raw: RawConfig, index: &KeyIndex) -> (Option<Config>, Vec<ConfigError>) {
    let mut v = Validator {
        errors: Vec::new(),
        index,
    };
    let server = v.server(raw.server);
    let database = v.database(raw.database);
    let tokens = v.tokens(raw.tokens);
    let identity = v.identity(raw.identity);
    let headers = v.headers(raw.headers);
    let limits = v.limits(raw.limits);
    v.channels(&raw.channels, &raw.unread_channel_ids);
    let auth_prefix = server.as_ref().map_or("/_auth", |s| s.auth_prefix.as_str());
    let routes = v.routes(
        raw.routes,
        auth_prefix,
        &raw.channels,
        &raw.unread_channel_ids,
    );
    let webhooks = v.webhooks(raw.webhooks);
    let config = server.map(|server| Config {
        server,
        database,
        tokens,
        identity,
        headers,
        limits,
        channels: raw.channels.into_iter().map(|(_, c)| c).collect(),
        routes,
        webhooks,
    });
    (config, v.errors)
}

struct Validator<'a> {
    errors: Vec<ConfigError>,
    index: &'a KeyIndex,
}

impl Validator<'_> {
    fn error(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::at(key, message));
    }

    /// `channel[0] (line 12)`, for messages that name a second place.
    fn place(&self, key: &str) -> String {
        match self.index.line(key) {
            Some(line) => format!("{key} (line {line})"),
            None => key.to_owned(),
        }
    }

    // === [server] ===

    fn server(&mut self, raw: RawServer) -> Option<Server> {
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

    fn socket_addr(&mut self, key: &str, value: &str) -> Option<SocketAddr> {
        let parsed = value.parse().ok();
        if parsed.is_none() {
            self.error(key, format!("{value:?} is not a socket address; expected IP:PORT such as \"127.0.0.1:8080\""));
        }
        parsed
    }

    fn public_url(&mut self, value: &str) -> Option<String> {
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

    fn auth_prefix(&mut self, value: &str) -> Option<String> {
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

    // === [database], [tokens], [identity] ===

    fn database(&mut self, raw: RawDatabase) -> Database {
        // The URL may hold a password, so it is never echoed.
        let scheme = raw.url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        match scheme {
            _ if raw.url.trim().is_empty() => self.error("database.url", "must not be empty"),
            Some(s) if DATABASE_SCHEMES.contains(&s.as_str()) => {}
            _ => self.error(
                "database.url",
                "unsupported database URL; expected one starting with sqlite:, postgres:, postgresql:, mysql: or mariadb:",
            ),
        }
        Database { url: raw.url }
    }

    fn tokens(&mut self, raw: RawTokens) -> Tokens {
        if raw.issuer.trim().is_empty() {
            self.error("tokens.issuer", "must not be empty");
        }
        if raw.access_ttl.is_zero() || raw.access_ttl > MAX_ACCESS_TTL {
            self.error(
                "tokens.access_ttl",
                format!(
                    "{} must be more than 0s and at most 1h",
                    format_duration(raw.access_ttl)
                ),
            );
        } else if raw.access_ttl >= raw.refresh_ttl {
            self.error(
                "tokens.access_ttl",
                format!(
                    "{} must be shorter than tokens.refresh_ttl ({})",
                    format_duration(raw.access_ttl),
                    format_duration(raw.refresh_ttl)
                ),
            );
        }
        if raw.keys_dir.as_os_str().is_empty() {
            self.error("tokens.keys_dir", "must not be empty");
        }
        if !(MIN_REVOCATION_SYNC..=MAX_REVOCATION_SYNC).contains(&raw.revocation_sync) {
            self.error(
                "tokens.revocation_sync",
                format!(
                    "{} must be between 1s and 5m",
                    format_duration(raw.revocation_sync)
                ),
            );
        }
        if raw.key_activation > Duration::from_secs(3600) {
            self.error(
                "tokens.key_activation",
                format!("{} must be at most 1h", format_duration(raw.key_activation)),
            );
        }
        Tokens {
            issuer: raw.issuer,
            access_ttl: raw.access_ttl,
            refresh_ttl: raw.refresh_ttl,
            keys_dir: raw.keys_dir,
            revocation_sync: raw.revocation_sync,
            key_activation: raw.key_activation,
        }
    }

    fn identity(&mut self, raw: RawIdentity) -> IdentityPolicy {
        if raw.anchor == Anchor::Phone
            && matches!(
                raw.on_phone_conflict,
                Some(OnPhoneConflict::Move | OnPhoneConflict::Merge)
            )
        {
            self.error(
                "identity.on_phone_conflict",
                "applies to anchor = \"wechat\" only; with anchor = \"phone\" remove it or set \"reject\"",
            );
        }
        IdentityPolicy {
            anchor: raw.anchor,
            on_phone_conflict: raw.on_phone_conflict.unwrap_or_default(),
        }
    }

    // === [limits] ===

    fn limits(&mut self, raw: RawLimits) -> Limits {
        // Wider than a /8 or a /32 lumps whole providers together; narrower than a host is none.
        if !(8..=32).contains(&raw.ipv4_prefix) {
            self.error(
                "limits.ipv4_prefix",
                format!("{} must be between 8 and 32", raw.ipv4_prefix),
            );
        }
        if !(32..=128).contains(&raw.ipv6_prefix) {
            self.error(
                "limits.ipv6_prefix",
                format!("{} must be between 32 and 128", raw.ipv6_prefix),
            );
        }
        for (key, value) in [
            (
                "limits.browser_logins_per_minute",
                raw.browser_logins_per_minute,
            ),
            (
                "limits.wechat_logins_per_minute",
                raw.wechat_logins_per_minute,
            ),
        ] {
            if value == 0 {
                self.error(key, "must be at least 1");
            }
        }
        Limits {
            ipv4_prefix: raw.ipv4_prefix,
            ipv6_prefix: raw.ipv6_prefix,
            browser_logins_per_minute: raw.browser_logins_per_minute,
            wechat_logins_per_minute: raw.wechat_logins_per_minute,
        }
    }

    // === [[channel]] ===

    fn channels(&mut self, channels: &[(usize, ChannelConfig)], unread: &[(usize, String)]) {
        // Ids are checked on every channel, even one whose other keys failed to read.
        let mut all_ids: Vec<(usize, &str)> = channels.iter().map(|(i, c)| (*i, c.id())).collect();
        all_ids.extend(unread.iter().map(|(i, id)| (*i, id.as_str())));
        all_ids.sort_unstable();
        self.channel_ids(&all_ids);

        let mut appids: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, channel) in channels {
            let key = join_index("channel", *i);
            if let Some(appid) = channel.appid().filter(|a| !a.is_empty()) {
                if let Some(first) = appids.insert((channel.kind(), appid), *i) {
                    let first = self.place(&join_key(&join_index("channel", first), "appid"));
                    self.error(
                        join_key(&key, "appid"),
                        format!(
                            "duplicate AppID {appid:?} for kind {}: also used by {first}",
                            channel.kind()
                        ),
                    );
                }
            }
            self.field_errors(&key, channel.validate());
        }
    }

    fn channel_ids(&mut self, ids: &[(usize, &str)]) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for &(i, id) in ids {
            let key = join_index("channel", i);
            if RESERVED_CHANNEL_IDS.contains(&id) {
                self.error(
                    join_key(&key, "id"),
                    format!(
                        "{id:?} is reserved: it collides with a gateway endpoint under server.auth_prefix; reserved ids: {}",
                        RESERVED_CHANNEL_IDS.join(", ")
                    ),
                );
            } else if !is_channel_id(id) {
                self.error(
                    join_key(&key, "id"),
                    format!("{id:?} is not a channel id: use 1 to 32 of a-z, 0-9, '_' and '-'"),
                );
            }
            if let Some(first) = seen.insert(id, i) {
                let first = self.place(&join_key(&join_index("channel", first), "id"));
                self.error(
                    join_key(&key, "id"),
                    format!("duplicate channel id {id:?}: also used by {first}"),
                );
            }
        }
    }

    /// Adds a provider's errors, whose keys are relative to `prefix`.
    fn field_errors(&mut self, prefix: &str, errors: Vec<FieldError>) {
        for e in errors {
            self.error(join_key(prefix, &e.key), e.message);
        }
    }

    // === [headers] ===

    fn headers(&mut self, raw: RawHeaders) -> crate::headers::IdentityHeaders {
        /// Names the gateway or HTTP itself owns: an identity header must not shadow them.
        const OWNED: [&str; 12] = [
            "authorization",
            "cookie",
            "host",
            "connection",
            "content-length",
            "transfer-encoding",
            "te",
            "trailer",
            "upgrade",
            "keep-alive",
            "proxy-connection",
            "x-forwarded-for",
        ];
        let fields = [
            ("user", &raw.user),
            ("channel", &raw.channel),
            ("openid", &raw.openid),
            ("unionid", &raw.unionid),
            ("phone", &raw.phone),
            ("assertion", &raw.assertion),
        ];
        let mut seen: HashMap<String, &str> = HashMap::new();
        for (field, name) in fields {
            let key = join_key("headers", field);
            let valid = !name.is_empty()
                && name.len() <= 64
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            let lower = name.to_ascii_lowercase();
            if !valid {
                self.error(
                    &key,
                    format!("{name:?} is not a header name: use 1 to 64 letters, digits and '-'"),
                );
            } else if OWNED.contains(&lower.as_str()) {
                self.error(
                    &key,
                    format!("{name:?} is a header HTTP or the gateway already owns"),
                );
            } else if let Some(other) = seen.insert(lower, field) {
                self.error(&key, format!("{name:?} is also used by headers.{other}"));
            }
        }
        crate::headers::IdentityHeaders {
            user: raw.user,
            channel: raw.channel,
            openid: raw.openid,
            unionid: raw.unionid,
            phone: raw.phone,
            assertion: raw.assertion,
        }
    }

    // === [[route]] ===

    fn routes(
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

    // === [[webhook]] ===

    fn webhooks(&mut self, webhooks: Vec<(usize, RawWebhook)>) -> Vec<Webhook> {
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::with_capacity(webhooks.len());
        for (i, raw) in webhooks {
            let key = join_index("webhook", i);
            let id_ok = !raw.id.is_empty()
                && raw.id.len() <= 64
                && raw.id.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !id_ok {
                self.error(
                    join_key(&key, "id"),
                    format!("{:?} must be 1 to 64 of a-z, 0-9, '_' and '-'", raw.id),
                );
            } else if let Some(first) = ids.insert(raw.id.clone(), i) {
                let first = self.place(&join_key(&join_index("webhook", first), "id"));
                self.error(
                    join_key(&key, "id"),
                    format!("duplicate webhook id {:?}: also used by {first}", raw.id),
                );
            }
            let mut problems = Vec::new();
            check_http_url("url", &raw.url, &mut problems);
            for p in problems {
                self.error(join_key(&key, &p.key), p.message);
            }
            if raw.secret.expose().chars().count() < 16 {
                self.error(
                    join_key(&key, "secret"),
                    "must be at least 16 characters (receivers verify signatures with it)",
                );
            }
            let mut events = None;
            if let Some(names) = &raw.events {
                let mut types = Vec::new();
                for (j, name) in names.iter().enumerate() {
                    match wxgate_core::events::EventType::parse(name) {
                        Some(t) => types.push(t),
                        None => {
                            let known: Vec<&str> = wxgate_core::events::EventType::ALL
                                .iter()
                                .map(|t| t.as_str())
                                .collect();
                            self.error(
                                join_index(&join_key(&key, "events"), j),
                                format!(
                                    "unknown event type {name:?}; expected one of {}",
                                    super::raw::backticked(&known)
                                ),
                            );
                        }
                    }
                }
                if names.is_empty() {
                    self.error(
                        join_key(&key, "events"),
                        "is empty: leave it out to receive every event type",
                    );
                }
                events = Some(types);
            }
            let bounds = [
                (
                    "timeout",
                    raw.timeout,
                    Duration::from_secs(1),
                    Duration::from_secs(60),
                ),
                (
                    "backoff",
                    raw.backoff,
                    Duration::from_millis(100),
                    raw.max_backoff.max(Duration::from_millis(100)),
                ),
                (
                    "max_backoff",
                    raw.max_backoff,
                    Duration::from_millis(100),
                    Duration::from_secs(3600),
                ),
                (
                    "retry_for",
                    raw.retry_for,
                    raw.backoff,
                    Duration::from_secs(30 * 86_400),
                ),
            ];
            for (name, value, min, max) in bounds {
                if value < min || value > max {
                    self.error(
                        join_key(&key, name),
                        format!(
                            "{} must be between {} and {}",
                            format_duration(value),
                            format_duration(min),
                            format_duration(max)
                        ),
                    );
                }
            }
            out.push(Webhook {
                id: raw.id,
                url: raw.url,
                secret: raw.secret,
                events,
                timeout: raw.timeout,
                backoff: raw.backoff,
                max_backoff: raw.max_backoff,
                retry_for: raw.retry_for,
            });
        }
        out
    }

    fn login_channel(
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
                let redirecting: Vec<&str> =
                    channels.iter().filter(|(_, c)| c.supports_redirect_login()).map(|(_, c)| c.id()).collect();
                let known = if redirecting.is_empty() { "none".to_owned() } else { redirecting.join(", ") };
                self.error(key, format!("no channel has id {login:?} (channels with an /authorize page: {known})"));
            }
            Some((_, c)) if !c.supports_redirect_login() => self.error(
                key,
                format!(
                    "channel {login:?} is a {} channel, which has no /authorize page; name a wechat_official_account or wechat_open_qr channel",
                    c.kind()
                ),
            ),
            Some(_) => {}
        }
    }
}

/// `[a-z0-9_-]{1,32}`: ids appear in URL paths and metric labels.
fn is_channel_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_ids() {
        assert!(is_channel_id("mp") && is_channel_id("web-2_x") && is_channel_id(&"a".repeat(32)));
        assert!(
            !is_channel_id("")
                && !is_channel_id("MP")
                && !is_channel_id("a.b")
                && !is_channel_id(&"a".repeat(33))
        );
    }

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
