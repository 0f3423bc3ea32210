//! The checking pass: every section's rules (each in its section's file, as `impl Validator`)
//! run in turn, and the config is built. Pure: no I/O, no env, no clock. Every rule pushes an
//! error naming its key and keeps going, so one run reports everything.

use wxgate_core::rules::FieldError;

use super::error::ConfigError;
use super::index::{join_key, KeyIndex};
use super::raw::RawConfig;
use super::Config;

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
    let login_page = v.login_page(raw.login_page, &raw.channels, &raw.unread_channel_ids);
    let auth_prefix = server.as_ref().map_or("/_auth", |s| s.auth_prefix.as_str());
    let routes = v.routes(
        raw.routes,
        auth_prefix,
        &raw.channels,
        &raw.unread_channel_ids,
    );
    let webhooks = v.webhooks(raw.webhooks);
    let public_url = server
        .as_ref()
        .map_or("http://127.0.0.1:8080", |s| s.public_url.as_str());
    let oidc = v.oidc(raw.oidc, public_url, auth_prefix);
    let config = server.map(|server| Config {
        server,
        database,
        tokens,
        identity,
        headers,
        limits,
        login_page,
        channels: raw.channels.into_iter().map(|(_, c)| c).collect(),
        routes,
        webhooks,
        oidc,
    });
    (config, v.errors)
}

pub(super) struct Validator<'a> {
    pub(super) errors: Vec<ConfigError>,
    pub(super) index: &'a KeyIndex,
}

impl Validator<'_> {
    pub(super) fn error(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::at(key, message));
    }

    /// `channel[0] (line 12)`, for messages that name a second place.
    pub(super) fn place(&self, key: &str) -> String {
        match self.index.line(key) {
            Some(line) => format!("{key} (line {line})"),
            None => key.to_owned(),
        }
    }

    // === [server] ===

    // === [database], [tokens], [identity] ===

    // === [limits] ===

    // === [[channel]] ===

    /// Adds a provider's errors, whose keys are relative to `prefix`.
    pub(super) fn field_errors(&mut self, prefix: &str, errors: Vec<FieldError>) {
        for e in errors {
            self.error(join_key(prefix, &e.key), e.message);
        }
    }

    // === [headers] ===

    // === [[route]] ===

    // === [[webhook]] ===
}
