//! The `[[channel]]` table of a phone (SMS code) channel.

use std::time::Duration;

use serde::Deserialize;

use crate::common::{self, FieldError};

/// A code living longer than this is guessable for too long and outlives any sensible SMS delay.
const MAX_CODE_TTL: Duration = Duration::from_secs(10 * 60);

/// `kind = "phone_sms"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Channel id; appears in endpoint paths (`{auth_prefix}/{id}/send_code`, `/login`).
    pub id: String,
    /// Country calling code assumed for numbers written without `+`. Default `"86"`.
    #[serde(default = "default_country_code")]
    pub default_country_code: String,
    /// Who delivers the SMS, e.g. `{ kind = "webhook", url = "http://127.0.0.1:9100/sms" }`.
    pub sender: Sender,
    /// How long a sent code stays valid. Default `"5m"`, at most `"10m"`.
    #[serde(
        default = "default_code_ttl",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub code_ttl: Duration,
    /// Minimum wait before another code is sent to the same phone. Default `"60s"`; a successful
    /// login does not reset it.
    #[serde(
        default = "default_resend_after",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub resend_after: Duration,
    /// Wrong codes accepted before the code is burnt. Default `5`, at least `1`.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

/// How codes reach the phone; tagged on `kind` like the channel itself.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sender {
    /// POSTs `{"phone", "code", "purpose", "channel"}` as JSON; any 2xx means sent.
    Webhook(WebhookSender),
}

/// `sender = { kind = "webhook", url = "..." }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSender {
    /// Where to POST. May carry a token in its query, so it is never printed.
    pub url: String,
}

fn default_country_code() -> String {
    "86".to_owned()
}

fn default_code_ttl() -> Duration {
    Duration::from_secs(5 * 60)
}

fn default_resend_after() -> Duration {
    Duration::from_secs(60)
}

fn default_max_attempts() -> u32 {
    5
}

impl Config {
    /// Pure checks of this kind's own fields; keys are relative to the channel table.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        let cc = &self.default_country_code;
        // E.164 country codes are 1 to 3 digits and never start with 0.
        if cc.is_empty()
            || cc.len() > 3
            || !cc.bytes().all(|b| b.is_ascii_digit())
            || cc.starts_with('0')
        {
            out.push(FieldError::new(
                "default_country_code",
                format!(
                    "{cc:?} is not a country calling code (1 to 3 digits without '+', e.g. \"86\")"
                ),
            ));
        }
        match &self.sender {
            Sender::Webhook(w) => common::check_http_url("sender.url", &w.url, &mut out),
        }
        if self.code_ttl.is_zero() || self.code_ttl > MAX_CODE_TTL {
            out.push(FieldError::new(
                "code_ttl",
                "must be more than 0s and at most 10m",
            ));
        }
        // Zero would let anyone flood a phone with SMS.
        if self.resend_after < Duration::from_secs(1) {
            out.push(FieldError::new("resend_after", "must be at least 1s"));
        }
        if self.max_attempts == 0 {
            out.push(FieldError::new("max_attempts", "must be at least 1"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "id = \"sms\"\nsender = { kind = \"webhook\", url = \"http://127.0.0.1:9100/sms\" }\n";

    fn parse(extra: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(&format!("{MINIMAL}{extra}"))
    }

    #[test]
    fn defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.default_country_code, "86");
        assert_eq!(c.code_ttl, Duration::from_secs(300));
        assert_eq!(c.resend_after, Duration::from_secs(60));
        assert_eq!(c.max_attempts, 5);
        assert_eq!(
            c.sender,
            Sender::Webhook(WebhookSender {
                url: "http://127.0.0.1:9100/sms".into()
            })
        );
        assert!(c.validate().is_empty());
    }

    #[test]
    fn each_rule_names_its_key() {
        let c = parse("default_country_code = \"+86\"\ncode_ttl = \"11m\"\nresend_after = \"0s\"\nmax_attempts = 0\n").unwrap();
        let keys: Vec<_> = c.validate().into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [
                "default_country_code",
                "code_ttl",
                "resend_after",
                "max_attempts"
            ]
        );
        let c = Config {
            sender: Sender::Webhook(WebhookSender {
                url: "not a url".into(),
            }),
            ..parse("").unwrap()
        };
        assert_eq!(c.validate()[0].key, "sender.url");
    }

    #[test]
    fn sender_rejects_unknown_kinds_and_keys() {
        let err = toml::from_str::<Config>("id = \"sms\"\nsender = { kind = \"carrier_pigeon\" }")
            .unwrap_err();
        assert!(
            err.message().contains("carrier_pigeon") && err.message().contains("webhook"),
            "{err}"
        );
        let err = toml::from_str::<Config>(
            "id = \"sms\"\nsender = { kind = \"webhook\", urll = \"http://x\" }",
        )
        .unwrap_err();
        assert!(err.message().contains("urll"), "{err}");
    }

    #[test]
    fn bad_duration_names_the_value() {
        let err = parse("code_ttl = \"15 minutes please\"\n").unwrap_err();
        assert!(err.message().contains("15 minutes please"), "{err}");
        assert!(err.to_string().contains("line 3"), "{err}");
    }
}
