//! The `[[channel]]` table of a website QR-login channel.

use serde::Deserialize;
use wxgate_core::secret::Secret;

use crate::common::{self, FieldError};

/// `kind = "wechat_open_qr"`. The scope is always `snsapi_login`, so there is no `scope` key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Channel id; appears in endpoint paths (`{auth_prefix}/{id}/authorize`, `/callback`).
    pub id: String,
    /// The website application's AppID (WeChat Open Platform).
    pub appid: String,
    /// The AppSecret. Write it as `"${ENV_VAR}"` so it stays out of the file.
    pub secret: Secret,
    /// Base URL of WeChat's server API (`/sns/oauth2/access_token`). Default
    /// `https://api.weixin.qq.com`.
    #[serde(default = "common::default_api_base")]
    pub api_base: String,
    /// Base URL of WeChat's QR page (`/connect/qrconnect`) the browser is sent to. Default
    /// `https://open.weixin.qq.com`.
    #[serde(default = "common::default_open_base")]
    pub open_base: String,
}

impl Config {
    /// Pure checks of this kind's own fields; keys are relative to the channel table.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        common::check_appid("appid", &self.appid, &mut out);
        common::check_secret("secret", &self.secret, &mut out);
        common::check_http_url("api_base", &self.api_base, &mut out);
        common::check_http_url("open_base", &self.open_base, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c: Config = toml::from_str("id = \"web\"\nappid = \"wx3\"\nsecret = \"s\"").unwrap();
        assert_eq!(c.api_base, "https://api.weixin.qq.com");
        assert!(c.validate().is_empty());
    }

    #[test]
    fn scope_is_not_a_key_here() {
        let err = toml::from_str::<Config>(
            "id = \"web\"\nappid = \"wx3\"\nsecret = \"s\"\nscope = \"snsapi_login\"",
        )
        .unwrap_err();
        assert!(err.message().contains("unknown field `scope`"), "{err}");
    }
}
