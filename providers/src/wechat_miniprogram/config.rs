//! The `[[channel]]` table of a mini-program channel.

use serde::Deserialize;
use wxgate_core::secret::Secret;

use crate::common::{self, FieldError};

/// `kind = "wechat_miniprogram"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Channel id; appears in endpoint paths (`{auth_prefix}/{id}/login`).
    pub id: String,
    /// The mini-program's AppID (WeChat admin console → Development → Development settings).
    pub appid: String,
    /// The AppSecret. Write it as `"${ENV_VAR}"` so it stays out of the file.
    pub secret: Secret,
    /// Base URL of WeChat's server API (`/sns/jscode2session`, `/cgi-bin/stable_token`,
    /// `/wxa/business/getuserphonenumber`). Default `https://api.weixin.qq.com`; tests point it
    /// at the simulator.
    #[serde(default = "common::default_api_base")]
    pub api_base: String,
    /// Longest wait for one WeChat call before the login fails with 502 (a code exchange is
    /// never retried after a timeout: the code may already be spent). Default `5s`.
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub timeout: std::time::Duration,
}

fn default_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(5)
}

impl Config {
    /// Pure checks of this kind's own fields; keys are relative to the channel table.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        common::check_appid("appid", &self.appid, &mut out);
        common::check_secret("secret", &self.secret, &mut out);
        common::check_http_url("api_base", &self.api_base, &mut out);
        if self.timeout < std::time::Duration::from_millis(100)
            || self.timeout > std::time::Duration::from_secs(60)
        {
            out.push(FieldError {
                key: "timeout".into(),
                message: format!(
                    "{} must be between 100ms and 60s",
                    humantime::format_duration(self.timeout)
                ),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c: Config = toml::from_str("id = \"mp\"\nappid = \"wx1\"\nsecret = \"s\"").unwrap();
        assert_eq!(c.api_base, "https://api.weixin.qq.com");
        assert_eq!(c.timeout, std::time::Duration::from_secs(5));
        assert!(c.validate().is_empty());

        let bad = Config {
            appid: String::new(),
            secret: Secret::new(""),
            api_base: "nope".into(),
            timeout: std::time::Duration::from_millis(1),
            ..c
        };
        let keys: Vec<_> = bad.validate().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["appid", "secret", "api_base", "timeout"]);
    }

    #[test]
    fn misspelt_key_is_named() {
        let err =
            toml::from_str::<Config>("id = \"mp\"\nappid = \"wx1\"\nsecrt = \"s\"").unwrap_err();
        assert!(err.message().contains("unknown field `secrt`"), "{err}");
    }
}
