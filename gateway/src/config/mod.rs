//! The gateway's config: the contract's TOML, read into typed structs and checked before start-up.
//!
//! The pipeline, each step in its own module:
//! 1. parse with `toml_edit` (keeps spans) and index every key path's line (`index`);
//! 2. replace `${NAME}` in string values from an [`EnvSource`] (`env`);
//! 3. deserialize section by section into serde structs with unknown keys denied (`raw`);
//! 4. check the rules types cannot express, without I/O (`validate`).
//!
//! Every step collects its errors and the next still runs, so one `wxgate check` shows every
//! problem, each with its file, line and key path ([`ConfigError`]).

mod env;
mod error;
mod index;
mod raw;
mod validate;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use wxgate_core::policy::IdentityPolicy;
use wxgate_providers::registry::ChannelConfig;

pub use env::{EnvSource, ProcessEnv};
pub use error::{ConfigError, ConfigErrors};
pub use validate::RESERVED_CHANNEL_IDS;

use index::KeyIndex;

/// A validated config: what the runtime uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub server: Server,
    pub database: Database,
    pub tokens: Tokens,
    pub identity: IdentityPolicy,
    /// Names of the identity headers sent upstream (`[headers]`).
    pub headers: crate::headers::IdentityHeaders,
    /// How clients are told apart and what they may start (`[limits]`).
    pub limits: Limits,
    /// In file order.
    pub channels: Vec<ChannelConfig>,
    /// In file order.
    pub routes: Vec<Route>,
    /// `[[webhook]]`: receivers of identity events.
    pub webhooks: Vec<Webhook>,
}

impl Config {
    /// The channel with this id.
    pub fn channel(&self, id: &str) -> Option<&ChannelConfig> {
        self.channels.iter().find(|c| c.id() == id)
    }
}

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

/// `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A client's network: this many leading bits of its IPv4 address (8 to 32). Default 32.
    pub ipv4_prefix: u8,
    /// … of its IPv6 address (32 to 128). Default 64: a home line gets a whole /64, so per
    /// address no limit would hold.
    pub ipv6_prefix: u8,
    /// Browser logins a client network may start per minute (each writes a row), per replica.
    pub browser_logins_per_minute: u32,
    /// Mini-program code exchanges a client network may ask for per minute (each costs a row
    /// and a WeChat call), per replica.
    pub wechat_logins_per_minute: u32,
}

/// `[database]`.
#[derive(Clone, PartialEq)]
pub struct Database {
    /// sqlx URL starting with `sqlite:`, `postgres:`, `postgresql:`, `mysql:` or `mariadb:`.
    /// Default `sqlite://data/wxgate.db?mode=rwc`. May hold a password: never log it.
    pub url: String,
}

/// Masks the URL's password, so that `{config:?}` is safe to log.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = match url::Url::parse(&self.url) {
            Ok(mut u) if u.password().is_some() => {
                // Only fails for URLs that cannot have a password, which this one has.
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            Ok(_) => self.url.clone(),
            Err(_) => "(unparsable URL, not shown)".to_owned(),
        };
        f.debug_struct("Database").field("url", &url).finish()
    }
}

/// `[tokens]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tokens {
    /// `iss` of issued tokens. Default `wxgate`.
    pub issuer: String,
    /// Access-token life: more than 0, at most 1h, shorter than `refresh_ttl`. Default 15m.
    pub access_ttl: Duration,
    /// Refresh-token life. Default 30d.
    pub refresh_ttl: Duration,
    /// Signing-key directory, as written (relative paths resolve against the working directory).
    /// Default `data/keys`.
    pub keys_dir: PathBuf,
    /// How soon other replicas see a logout or revoked family: 1s to 5m. Default 5s.
    pub revocation_sync: Duration,
    /// How long `wxgate keys rotate`'s new keys are published before they sign: longer than
    /// the slowest replica takes to read them (each re-reads every 30 s). 0s to 1h. Default 60s.
    pub key_activation: Duration,
}

/// One `[[webhook]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Unique; `[a-z0-9_-]`, up to 64.
    pub id: String,
    /// An http(s) URL.
    pub url: String,
    /// At least 16 characters.
    pub secret: wxgate_core::secret::Secret,
    /// The event types it wants; every type when `None`.
    pub events: Option<Vec<wxgate_core::events::EventType>>,
    /// 1s to 60s.
    pub timeout: Duration,
    /// 100ms up to `max_backoff`.
    pub backoff: Duration,
    /// Up to 1h.
    pub max_backoff: Duration,
    /// At least `backoff`, up to 30 days.
    pub retry_for: Duration,
}

impl Webhook {
    pub fn subscription(&self) -> wxgate_core::events::Subscription {
        wxgate_core::events::Subscription {
            webhook: self.id.clone(),
            types: self.events.clone(),
        }
    }
}

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

/// What a command needs of the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Serving, or `wxgate check`: everything must resolve.
    Everything,
    /// The operator's commands (`wxgate user`, `events`, `keys`): they use the database, the
    /// keys and which webhooks want which events. A `${NAME}` anywhere else (a channel's or a
    /// webhook's secret) need not be set for them, and rules about such values are not theirs
    /// to enforce.
    Operator,
}

impl Scope {
    /// Sections whose `${NAME}` values must resolve in this scope.
    fn resolves(self, key: &str) -> bool {
        match self {
            Scope::Everything => true,
            Scope::Operator => ["database", "tokens"].iter().any(|s| is_within(key, s)),
        }
    }
}

/// Reads, interpolates and validates the config file at `path`.
pub fn load_file(path: &Path, env: &dyn EnvSource) -> Result<Config, ConfigErrors> {
    load_file_for(path, env, Scope::Everything)
}

/// [`load_file`] for what `scope` needs.
pub fn load_file_for(
    path: &Path,
    env: &dyn EnvSource,
    scope: Scope,
) -> Result<Config, ConfigErrors> {
    let origin = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => load_str_for(&text, &origin, env, scope),
        Err(e) => Err(ConfigErrors(vec![ConfigError {
            origin,
            line: None,
            key: "(file)".to_owned(),
            message: format!("cannot read the config file: {e}"),
        }])),
    }
}

/// Reads, interpolates and validates config `text`; `origin` names it in messages (a file name).
pub fn load_str(text: &str, origin: &str, env: &dyn EnvSource) -> Result<Config, ConfigErrors> {
    load_str_for(text, origin, env, Scope::Everything)
}

/// [`load_str`] for what `scope` needs.
pub fn load_str_for(
    text: &str,
    origin: &str,
    env: &dyn EnvSource,
    scope: Scope,
) -> Result<Config, ConfigErrors> {
    let doc = match toml_edit::ImDocument::parse(text.to_owned()) {
        Ok(doc) => doc,
        Err(e) => return Err(ConfigErrors(vec![syntax_error(text, origin, &e)])),
    };
    let index = KeyIndex::build(&doc);
    let mut root: toml::Table = match toml_edit::de::from_document(doc) {
        Ok(root) => root,
        // Unreachable in practice: any parsed document is a table.
        Err(e) => {
            return Err(ConfigErrors(vec![ConfigError {
                origin: origin.to_owned(),
                line: None,
                key: "(document)".to_owned(),
                message: e.message().to_owned(),
            }]))
        }
    };

    let mut errors = Vec::new();
    env::interpolate_table(&mut root, "", env, &mut errors);
    // A key whose variable is missing still holds `${NAME}`: errors about its value would be
    // noise, but an unknown key is still worth reporting.
    let unresolved: Vec<String> = errors.iter().map(|e| e.key.clone()).collect();
    let is_noise = |e: &ConfigError| {
        !e.message.starts_with("unknown field") && unresolved.iter().any(|k| is_within(&e.key, k))
    };

    let raw = raw::read(root, &mut errors);
    let (config, semantic) = validate::validate(raw, &index);
    errors.extend(semantic);
    let mut errors: Vec<ConfigError> = errors
        .into_iter()
        .enumerate()
        .filter(|(n, e)| {
            if *n < unresolved.len() {
                scope.resolves(&e.key)
            } else {
                !is_noise(e)
            }
        })
        .map(|(_, mut e)| {
            e.origin = origin.to_owned();
            e.line = index.line(&e.key);
            e
        })
        .collect();
    match config {
        Some(config) if errors.is_empty() => Ok(config),
        _ => {
            // File order reads best; the sort is stable, so same-line errors keep rule order.
            errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
            Err(ConfigErrors(errors))
        }
    }
}

/// `key` is `outer` or lies inside it.
fn is_within(key: &str, outer: &str) -> bool {
    key.strip_prefix(outer)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

fn syntax_error(text: &str, origin: &str, e: &toml_edit::TomlError) -> ConfigError {
    let line = e.span().map(|s| index::line_of(text, s.start));
    let message = e
        .message()
        .trim()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ");
    ConfigError {
        origin: origin.to_owned(),
        line,
        key: line.map_or_else(|| "(document)".to_owned(), |l| index::key_at_line(text, l)),
        message: format!("TOML syntax error: {message}"),
    }
}
