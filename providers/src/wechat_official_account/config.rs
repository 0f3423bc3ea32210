//! The `[[channel]]` table of an official-account (H5 OAuth) channel.

use serde::Deserialize;
use wxgate_core::secret::Secret;

use crate::common::{self, FieldError};

/// `kind = "wechat_official_account"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Channel id; appears in endpoint paths (`{auth_prefix}/{id}/authorize`, `/callback`).
    pub id: String,
    /// The official account's AppID.
    pub appid: String,
    /// The AppSecret. Write it as `"${ENV_VAR}"` so it stays out of the file.
    pub secret: Secret,
    /// OAuth scope: `snsapi_base` (silent, openid only) or `snsapi_userinfo` (asks the user,
    /// adds unionid and profile). Default `snsapi_base`.
    #[serde(default)]
    pub scope: Scope,
    /// Base URL of WeChat's server API (`/sns/oauth2/access_token`). Default
    /// `https://api.weixin.qq.com`.
    #[serde(default = "common::default_api_base")]
    pub api_base: String,
    /// Base URL of WeChat's OAuth page (`/connect/oauth2/authorize`) the browser is sent to.
    /// Default `https://open.weixin.qq.com`.
    #[serde(default = "common::default_open_base")]
    pub open_base: String,
}

/// The `scope` parameter of WeChat's H5 OAuth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Silent: yields the openid only.
    #[default]
    SnsapiBase,
    /// Shows a consent page: yields unionid and profile too.
    SnsapiUserinfo,
}

impl Scope {
    /// The value sent to WeChat.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::SnsapiBase => "snsapi_base",
            Scope::SnsapiUserinfo => "snsapi_userinfo",
        }
    }
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
        let c: Config = toml::from_str("id = \"oa\"\nappid = \"wx2\"\nsecret = \"s\"").unwrap();
        assert_eq!(c.scope, Scope::SnsapiBase);
        assert_eq!(c.open_base, "https://open.weixin.qq.com");
        assert!(c.validate().is_empty());
        let bad = Config {
            open_base: "open.weixin.qq.com".into(),
            ..c
        };
        assert_eq!(bad.validate()[0].key, "open_base");
    }

    #[test]
    fn bad_scope_lists_the_allowed_values() {
        let err = toml::from_str::<Config>(
            "id = \"oa\"\nappid = \"wx2\"\nsecret = \"s\"\nscope = \"snsapi_login\"",
        )
        .unwrap_err();
        let msg = err.message();
        assert!(
            msg.contains("snsapi_login")
                && msg.contains("snsapi_base")
                && msg.contains("snsapi_userinfo"),
            "{msg}"
        );
    }
}
