//! The gateway's config: the contract's TOML, read into typed structs and checked before start-up.
//!
//! Each section owns its file: its raw form (what the TOML says, with defaults), what the
//! runtime uses, and its rules (`server`, `database`, `tokens`, `identity`, `headers`, `limits`,
//! `login_page`, `channels`, `routes`, `webhooks`). Rules every section shares (durations, URLs, ids) live in
//! `wxgate_core::rules`. The pipeline:
//! 1. parse with `toml_edit` (keeps spans) and index every key path's line (`index`);
//! 2. replace `${NAME}` in string values from an [`EnvSource`] (`env`);
//! 3. read section by section into the raw forms, unknown keys denied (`raw`);
//! 4. check each section's rules, and those across sections, without I/O (`validate`).
//!
//! Every step collects its errors and the next still runs, so one `wxgate check` shows every
//! problem, each with its file, line and key path ([`ConfigError`]).

mod channels;
mod database;
mod env;
mod error;
mod headers;
mod identity;
mod index;
mod limits;
mod login_page;
mod oidc;
mod raw;
mod routes;
mod server;
mod tokens;
mod validate;
mod webhooks;

#[cfg(test)]
mod tests;

use std::path::Path;

use wxgate_core::policy::IdentityPolicy;
use wxgate_providers::registry::ChannelConfig;

pub use channels::RESERVED_CHANNEL_IDS;
pub use database::Database;
pub use env::{EnvSource, ProcessEnv};
pub use error::{ConfigError, ConfigErrors};
pub use limits::Limits;
pub use login_page::LoginPage;
pub use oidc::{Oidc, OidcClient, Subject, KNOWN_SCOPES};
pub use routes::{Balance, HealthCheck, HostHeader, Route, RouteAuth, UpstreamTls};
pub use server::{AccessLogFormat, Dns, Server, Tls, UnderscoreHeaders};
pub use tokens::Tokens;
pub use webhooks::Webhook;

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
    /// The login page's title and order (`[login_page]`).
    pub login_page: LoginPage,
    /// In file order.
    pub channels: Vec<ChannelConfig>,
    /// In file order.
    pub routes: Vec<Route>,
    /// `[[webhook]]`: receivers of identity events.
    pub webhooks: Vec<Webhook>,
    /// `[oidc]`: wxgate as an OpenID Connect provider, when configured.
    pub oidc: Option<Oidc>,
}

impl Config {
    /// The channel with this id.
    pub fn channel(&self, id: &str) -> Option<&ChannelConfig> {
        self.channels.iter().find(|c| c.id() == id)
    }
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
