//! `[tokens]`: issuer, lifetimes, the keys directory, how soon replicas see revocations and how
//! long a rotated key is published before it signs.

use std::path::PathBuf;
use std::time::Duration;

use humantime::format_duration;
use serde::Deserialize;

use super::validate::Validator;

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
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub access_ttl: Duration,
    /// Life of a refresh token. Default `30d`.
    #[serde(
        default = "default_refresh_ttl",
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub refresh_ttl: Duration,
    /// Directory of signing keys, created on first start. Default `data/keys`.
    #[serde(default = "default_keys_dir")]
    pub keys_dir: PathBuf,
    /// How soon other replicas see a logout or a revoked family. Default `5s`.
    #[serde(
        default = "default_revocation_sync",
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub revocation_sync: Duration,
    /// How long a rotated key is published before it signs. Default `60s`.
    #[serde(
        default = "default_key_activation",
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub key_activation: Duration,
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

const MAX_ACCESS_TTL: Duration = Duration::from_secs(3600);

const MIN_REVOCATION_SYNC: Duration = Duration::from_secs(1);

const MAX_REVOCATION_SYNC: Duration = Duration::from_secs(300);

// === rules ===

impl Validator<'_> {
    pub(super) fn tokens(&mut self, raw: RawTokens) -> Tokens {
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
}
