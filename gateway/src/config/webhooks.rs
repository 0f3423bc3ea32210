//! `[[webhook]]`: where identity events go, which types each wants, and its retry schedule.

use std::collections::HashMap;
use std::time::Duration;

use humantime::format_duration;
use serde::Deserialize;
use wxgate_core::rules::check_http_url;

use super::index::{join_index, join_key};
use super::validate::Validator;

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
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub timeout: Duration,
    /// The first retry's delay; each next one doubles, up to `max_backoff`. Default `2s`.
    #[serde(
        default = "default_webhook_backoff",
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub backoff: Duration,
    /// Default `10m`.
    #[serde(
        default = "default_webhook_max_backoff",
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub max_backoff: Duration,
    /// How long an event is retried before it is parked as failed. Default `24h`.
    #[serde(
        default = "default_webhook_retry_for",
        deserialize_with = "wxgate_core::rules::duration::deserialize"
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

// === rules ===

impl Validator<'_> {
    pub(super) fn webhooks(&mut self, webhooks: Vec<(usize, RawWebhook)>) -> Vec<Webhook> {
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
}
