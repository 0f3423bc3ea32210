//! The config as written: serde structs that mirror the TOML (defaults applied, nothing checked
//! beyond types), and the section-by-section read that keeps going after an error so that every
//! section's problems are reported together.

use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_path_to_error::{Deserializer as Tracked, Segment, Track};
use wxgate_core::policy::{Anchor, OnPhoneConflict};
use wxgate_providers::registry::ChannelConfig;

use super::error::ConfigError;
use super::index::{join_index, join_key};
use super::RouteAuth;

/// The top-level keys; anything else is an unknown key.
const SECTIONS: [&str; 9] = [
    "server", "database", "tokens", "identity", "headers", "limits", "channel", "route", "webhook",
];

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

/// `[database]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDatabase {
    /// sqlx URL: `sqlite:`, `postgres:`/`postgresql:` or `mysql:`/`mariadb:`.
    #[serde(default = "default_database_url")]
    pub url: String,
}

/// `[tokens]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTokens {
    /// `iss` of issued tokens. Default `wxgate`.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// Life of an access token. Default `15m`.
    #[serde(
        default = "default_access_ttl",
        deserialize_with = "wxgate_providers::duration::deserialize"
    )]
    pub access_ttl: Duration,
    /// Life of a refresh token. Default `30d`.
    #[serde(
        default = "default_refresh_ttl",
        deserialize_with = "wxgate_providers::duration::deserialize"
    )]
    pub refresh_ttl: Duration,
    /// Directory of signing keys, created on first start. Default `data/keys`.
    #[serde(default = "default_keys_dir")]
    pub keys_dir: PathBuf,
    /// How soon other replicas see a logout or a revoked family. Default `5s`.
    #[serde(
        default = "default_revocation_sync",
        deserialize_with = "wxgate_providers::duration::deserialize"
    )]
    pub revocation_sync: Duration,
    /// How long a rotated key is published before it signs. Default `60s`.
    #[serde(
        default = "default_key_activation",
        deserialize_with = "wxgate_providers::duration::deserialize"
    )]
    pub key_activation: Duration,
}

/// `[identity]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIdentity {
    /// What a user is: `wechat` (default) or `phone`.
    #[serde(default)]
    pub anchor: Anchor,
    /// `reject` (default), `move` or `merge`; meaningful with `anchor = "wechat"` only, so kept
    /// optional to tell "left out" from "set".
    pub on_phone_conflict: Option<OnPhoneConflict>,
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
        deserialize_with = "wxgate_providers::duration::deserialize"
    )]
    pub connect_timeout: Duration,
    /// Longest wait for the upstream's response (between reads). Default `30s`.
    #[serde(
        default = "default_read_timeout",
        deserialize_with = "wxgate_providers::duration::deserialize"
    )]
    pub read_timeout: Duration,
}

/// `[headers]`: the names of the identity headers sent upstream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawHeaders {
    /// The user id. Default `X-Auth-User`.
    pub user: String,
    /// The channel id of the session. Default `X-Auth-Channel`.
    pub channel: String,
    /// The openid of that channel's appid. Default `X-Auth-Openid`.
    pub openid: String,
    /// The unionid. Default `X-Auth-Unionid`.
    pub unionid: String,
    /// The verified phone (E.164). Default `X-Auth-Phone`.
    pub phone: String,
    /// The signed assertion. Default `X-Auth-Assertion`.
    pub assertion: String,
}

impl Default for RawHeaders {
    fn default() -> Self {
        let d = crate::headers::IdentityHeaders::default();
        Self {
            user: d.user,
            channel: d.channel,
            openid: d.openid,
            unionid: d.unionid,
            phone: d.phone,
            assertion: d.assertion,
        }
    }
}

/// `[limits]`: how clients are told apart, and caps on what costs before anything is proved.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawLimits {
    /// Leading bits of an IPv4 address that make a client's network. Default `32`.
    pub ipv4_prefix: u8,
    /// Leading bits of an IPv6 address that make a client's network. Default `64` (a home
    /// line gets a whole /64).
    pub ipv6_prefix: u8,
    /// Browser logins one client network may start per minute, per replica. Default `30`.
    pub browser_logins_per_minute: u32,
    /// Calls that exchange a WeChat code (mini-program logins) one client network may make per
    /// minute, per replica. Default `60`.
    pub wechat_logins_per_minute: u32,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            ipv4_prefix: 32,
            ipv6_prefix: 64,
            browser_logins_per_minute: 30,
            wechat_logins_per_minute: 60,
        }
    }
}

/// One `[[webhook]]`: where identity events go.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    /// A name for metrics, listings and the delivery rows.
    pub id: String,
    /// Where events are POSTed.
    pub url: String,
    /// The HMAC key receivers verify `Wxgate-Signature` with (write `${ENV}`).
    pub secret: wxgate_core::secret::Secret,
    /// The event types it wants; every type when absent.
    pub events: Option<Vec<String>>,
    /// Longest wait for the receiver's answer. Default `10s`.
    #[serde(
        default = "default_webhook_timeout",
        deserialize_with = "wxgate_providers::duration::deserialize"
    )]
    pub timeout: Duration,
    /// The first retry's delay; each next one doubles, up to `max_backoff`. Default `2s`.
    #[serde(
        default = "default_webhook_backoff",
        deserialize_with = "wxgate_providers::duration::deserialize"
    )]
    pub backoff: Duration,
    /// Default `10m`.
    #[serde(
        default = "default_webhook_max_backoff",
        deserialize_with = "wxgate_providers::duration::deserialize"
    )]
    pub max_backoff: Duration,
    /// How long an event is retried before it is parked as failed. Default `24h`.
    #[serde(
        default = "default_webhook_retry_for",
        deserialize_with = "wxgate_providers::duration::deserialize"
    )]
    pub retry_for: Duration,
}

fn default_webhook_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_webhook_backoff() -> Duration {
    Duration::from_secs(2)
}
fn default_webhook_max_backoff() -> Duration {
    Duration::from_secs(600)
}
fn default_webhook_retry_for() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_read_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}
fn default_auth_prefix() -> String {
    "/_auth".to_owned()
}
fn default_database_url() -> String {
    "sqlite://data/wxgate.db?mode=rwc".to_owned()
}
fn default_issuer() -> String {
    "wxgate".to_owned()
}
fn default_access_ttl() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_refresh_ttl() -> Duration {
    Duration::from_secs(30 * 86_400)
}
fn default_keys_dir() -> PathBuf {
    PathBuf::from("data/keys")
}
fn default_key_activation() -> Duration {
    wxgate_core::token::DEFAULT_KEY_ACTIVATION
}
fn default_revocation_sync() -> Duration {
    Duration::from_secs(5)
}

/// Everything that deserialized. A section that failed falls back to its defaults (its error is
/// already recorded, so the load fails anyway) so that later rules still run.
#[derive(Debug)]
pub(crate) struct RawConfig {
    pub server: RawServer,
    pub database: RawDatabase,
    pub tokens: RawTokens,
    pub identity: RawIdentity,
    pub headers: RawHeaders,
    pub limits: RawLimits,
    /// With their index in the file, for key paths.
    pub channels: Vec<(usize, ChannelConfig)>,
    /// Index and id of channels that failed to read: their ids are still checked, and routes
    /// naming them are not reported twice.
    pub unread_channel_ids: Vec<(usize, String)>,
    pub routes: Vec<(usize, RawRoute)>,
    pub webhooks: Vec<(usize, RawWebhook)>,
}

/// Reads the interpolated document section by section.
pub(crate) fn read(mut root: toml::Table, errors: &mut Vec<ConfigError>) -> RawConfig {
    for name in root.keys().filter(|k| !SECTIONS.contains(&k.as_str())) {
        let hint = match name.as_str() {
            "channels" => " (did you mean [[channel]]?)",
            "routes" => " (did you mean [[route]]?)",
            _ => "",
        };
        errors.push(ConfigError::at(
            name.as_str(),
            format!(
                "unknown key `{name}`{hint}; expected one of {}",
                backticked(&SECTIONS)
            ),
        ));
    }
    let server = section(&mut root, "server", errors);
    let database = section(&mut root, "database", errors);
    let tokens = section(&mut root, "tokens", errors);
    let identity = section(&mut root, "identity", errors);
    let headers = section(&mut root, "headers", errors);
    let limits = section(&mut root, "limits", errors);

    let mut channels = Vec::new();
    let mut unread_channel_ids = Vec::new();
    for (i, table) in array_of_tables(&mut root, "channel", errors) {
        let id = table
            .get("id")
            .and_then(toml::Value::as_str)
            .map(str::to_owned);
        match channel(i, table, errors) {
            Some(c) => channels.push((i, c)),
            None => unread_channel_ids.extend(id.map(|id| (i, id))),
        }
    }
    let routes = array_of_tables(&mut root, "route", errors)
        .into_iter()
        .filter_map(|(i, table)| {
            deserialize(
                &join_index("route", i),
                toml::Value::Table(table),
                |d| RawRoute::deserialize(d),
                errors,
            )
            .map(|r| (i, r))
        })
        .collect();
    let webhooks = array_of_tables(&mut root, "webhook", errors)
        .into_iter()
        .filter_map(|(i, table)| {
            deserialize(
                &join_index("webhook", i),
                toml::Value::Table(table),
                |d| RawWebhook::deserialize(d),
                errors,
            )
            .map(|w| (i, w))
        })
        .collect();

    RawConfig {
        server: server.unwrap_or_else(defaults),
        database: database.unwrap_or_else(defaults),
        tokens: tokens.unwrap_or_else(defaults),
        identity: identity.unwrap_or_else(defaults),
        headers: headers.unwrap_or_else(defaults),
        limits: limits.unwrap_or_else(defaults),
        channels,
        unread_channel_ids,
        routes,
        webhooks,
    }
}

/// `[name]`, or its defaults when the section is left out.
fn section<T: DeserializeOwned>(
    root: &mut toml::Table,
    name: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    match root.remove(name) {
        None => Some(defaults()),
        Some(value @ toml::Value::Table(_)) => {
            deserialize(name, value, |d| T::deserialize(d), errors)
        }
        Some(_) => {
            errors.push(ConfigError::at(name, format!("must be a table ([{name}])")));
            None
        }
    }
}

/// The struct that an empty table deserializes into: every field at its default.
fn defaults<T: DeserializeOwned>() -> T {
    match T::deserialize(toml::Value::Table(toml::Table::new())) {
        Ok(v) => v,
        // Only reachable if a section gains a required field; a test reads every section empty.
        Err(e) => unreachable!("config section without defaults: {e}"),
    }
}

/// `[[name]]` tables with their index; anything else at that key is an error.
fn array_of_tables(
    root: &mut toml::Table,
    name: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<(usize, toml::Table)> {
    let Some(value) = root.remove(name) else {
        return Vec::new();
    };
    let toml::Value::Array(items) = value else {
        errors.push(ConfigError::at(
            name,
            format!("must be an array of tables ([[{name}]])"),
        ));
        return Vec::new();
    };
    let mut tables = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match item {
            toml::Value::Table(t) => tables.push((i, t)),
            _ => errors.push(ConfigError::at(
                join_index(name, i),
                format!("must be a table ([[{name}]])"),
            )),
        }
    }
    tables
}

/// The two-step read of a `[[channel]]`: take `kind` out, then read the rest as that kind's
/// struct. Going through serde's tagged enum would lose the path of an error inside the table.
fn channel(
    i: usize,
    mut table: toml::Table,
    errors: &mut Vec<ConfigError>,
) -> Option<ChannelConfig> {
    let key = join_index("channel", i);
    let kinds = backticked(ChannelConfig::KINDS);
    let kind = match table.remove("kind") {
        Some(toml::Value::String(kind)) if ChannelConfig::KINDS.contains(&kind.as_str()) => kind,
        Some(toml::Value::String(kind)) => {
            errors.push(ConfigError::at(
                join_key(&key, "kind"),
                format!("unknown kind `{kind}`; expected one of {kinds}"),
            ));
            return None;
        }
        Some(_) => {
            errors.push(ConfigError::at(
                join_key(&key, "kind"),
                format!("must be a string, one of {kinds}"),
            ));
            return None;
        }
        None => {
            errors.push(ConfigError::at(
                join_key(&key, "kind"),
                format!("missing field `kind`; expected one of {kinds}"),
            ));
            return None;
        }
    };
    deserialize(
        &key,
        toml::Value::Table(table),
        |d| ChannelConfig::deserialize_kind(&kind, d),
        errors,
    )
}

/// Runs `read` on `value` while tracking the path, so that a serde error names its key.
fn deserialize<T>(
    prefix: &str,
    value: toml::Value,
    read: impl FnOnce(Tracked<'_, '_, toml::Value>) -> Result<T, toml::de::Error>,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    let mut track = Track::new();
    let result = read(Tracked::new(value, &mut track));
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            let mut key = prefix.to_owned();
            for segment in track.path().iter() {
                match segment {
                    Segment::Seq { index } => key = join_index(&key, *index),
                    Segment::Map { key: name } => key = join_key(&key, name),
                    Segment::Enum { .. } | Segment::Unknown => {}
                }
            }
            let message = e.message().to_owned();
            errors.push(ConfigError::at(refine_key(key, &message), message));
            None
        }
    }
}

/// serde reports a missing field at its table, and an unknown field inside a buffered (tagged)
/// enum at the enum: both messages quote the field (`missing field `x``), so point the key at it.
fn refine_key(key: String, message: &str) -> String {
    let field = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next());
    match field {
        Some(field) if !key.ends_with(&format!(".{field}")) && key != field => {
            join_key(&key, field)
        }
        _ => key,
    }
}

/// `` `a`, `b`, `c` ``.
pub(crate) fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_reads_from_an_empty_table() {
        let server: RawServer = defaults();
        assert_eq!(server.listen, "127.0.0.1:8080");
        let tokens: RawTokens = defaults();
        assert_eq!(tokens.access_ttl, Duration::from_secs(900));
        let _: RawDatabase = defaults();
        let identity: RawIdentity = defaults();
        assert_eq!(identity.on_phone_conflict, None);
    }

    #[test]
    fn refine_key_points_at_the_quoted_field() {
        assert_eq!(
            refine_key("route[0]".into(), "missing field `upstream`"),
            "route[0].upstream"
        );
        assert_eq!(
            refine_key(
                "channel[3].sender".into(),
                "unknown field `urll`, expected `url`"
            ),
            "channel[3].sender.urll"
        );
        assert_eq!(
            refine_key("server.listn".into(), "unknown field `listn`, expected ..."),
            "server.listn"
        );
        assert_eq!(
            refine_key("tokens.access_ttl".into(), "invalid duration"),
            "tokens.access_ttl"
        );
    }
}
