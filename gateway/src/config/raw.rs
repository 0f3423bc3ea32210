//! Reading the interpolated document section by section into each section's raw form (defaults
//! applied, nothing checked beyond types), going on after an error so that every section's
//! problems are reported together.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_path_to_error::{Deserializer as Tracked, Segment, Track};
use wxgate_providers::registry::ChannelConfig;

use super::channels::channel;
use super::database::RawDatabase;
use super::error::ConfigError;
use super::headers::RawHeaders;
use super::identity::RawIdentity;
use super::index::{join_index, join_key};
use super::limits::RawLimits;
use super::login_page::RawLoginPage;
use super::oidc::RawOidc;
use super::routes::RawRoute;
use super::server::RawServer;
use super::tokens::RawTokens;
use super::webhooks::RawWebhook;

/// The top-level keys; anything else is an unknown key.
const SECTIONS: [&str; 11] = [
    "server",
    "database",
    "tokens",
    "identity",
    "headers",
    "limits",
    "login_page",
    "channel",
    "route",
    "webhook",
    "oidc",
];

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
    pub login_page: RawLoginPage,
    /// With their index in the file, for key paths.
    pub channels: Vec<(usize, ChannelConfig)>,
    /// Index and id of channels that failed to read: their ids are still checked, and routes
    /// naming them are not reported twice.
    pub unread_channel_ids: Vec<(usize, String)>,
    pub routes: Vec<(usize, RawRoute)>,
    pub webhooks: Vec<(usize, RawWebhook)>,
    /// `[oidc]`, when present.
    pub oidc: Option<RawOidc>,
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
    let login_page = section(&mut root, "login_page", errors);
    let oidc = if root.contains_key("oidc") {
        section(&mut root, "oidc", errors)
    } else {
        None
    };

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
        login_page: login_page.unwrap_or_else(defaults),
        channels,
        unread_channel_ids,
        routes,
        webhooks,
        oidc,
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

/// Runs `read` on `value` while tracking the path, so that a serde error names its key.
pub(super) fn deserialize<T>(
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
    use std::time::Duration;

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
