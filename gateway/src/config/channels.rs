//! `[[channel]]`: each table read as its kind's typed config (the kinds own their keys and
//! rules, in the providers crate), and the rules across channels: ids and AppIDs.

use std::collections::HashMap;

use wxgate_providers::registry::ChannelConfig;

use super::error::ConfigError;
use super::index::{join_index, join_key};
use super::raw::{backticked, deserialize};
use super::validate::Validator;

/// Channel ids that would collide with the gateway's own endpoints under `auth_prefix`.
pub const RESERVED_CHANNEL_IDS: [&str; 10] = [
    "oidc",
    ".well-known",
    "token",
    "logout",
    "me",
    "login",
    "jwks.json",
    "healthz",
    "readyz",
    "metrics",
];

/// The two-step read of a `[[channel]]`: take `kind` out, then read the rest as that kind's
/// struct. Going through serde's tagged enum would lose the path of an error inside the table.
pub(super) fn channel(
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

// === rules ===

impl Validator<'_> {
    pub(super) fn channels(
        &mut self,
        channels: &[(usize, ChannelConfig)],
        unread: &[(usize, String)],
    ) {
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

    pub(super) fn channel_ids(&mut self, ids: &[(usize, &str)]) {
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
            } else if !wxgate_core::rules::is_id(id) {
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
}
