//! The `[[channel]]` table of a WeCom (企业微信) self-built app.

use serde::Deserialize;
use wxgate_core::secret::Secret;

use crate::common::{self, FieldError};

/// `kind = "wecom"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Channel id; appears in endpoint paths (`{auth_prefix}/{id}/authorize`, `/callback`).
    pub id: String,
    /// The corp's id (`ww…`): a member is (corp_id, userid), never a userid alone.
    pub corp_id: String,
    /// The self-built app's AgentId.
    pub agent_id: i64,
    /// The app's Secret. Write it as `"${ENV_VAR}"` so it stays out of the file.
    pub secret: Secret,
    /// WeCom's server API (`/cgi-bin/gettoken`, `/cgi-bin/auth/...`). Default
    /// `https://qyapi.weixin.qq.com`.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// WeCom's web SSO page (`/wwlogin/sso/login`). Default `https://login.work.weixin.qq.com`.
    #[serde(default = "default_login_base")]
    pub login_base: String,
    /// The in-app OAuth page (`/connect/oauth2/authorize`). Default
    /// `https://open.weixin.qq.com`.
    #[serde(default = "common::default_open_base")]
    pub open_base: String,
    /// In-app scope: `snsapi_base` (silent) or `snsapi_privateinfo` (asks consent; the mobile
    /// and avatar are read with the `user_ticket`). Default `snsapi_base`.
    #[serde(default)]
    pub scope: Scope,
    /// The member's mobile is a verified phone for the usual join rules (the corp admin
    /// vouches for it). Default false: the mobile links nothing.
    #[serde(default)]
    pub trust_mobile: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    #[default]
    SnsapiBase,
    SnsapiPrivateinfo,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::SnsapiBase => "snsapi_base",
            Scope::SnsapiPrivateinfo => "snsapi_privateinfo",
        }
    }
}

fn default_api_base() -> String {
    "https://qyapi.weixin.qq.com".to_owned()
}

fn default_login_base() -> String {
    "https://login.work.weixin.qq.com".to_owned()
}

impl Config {
    /// Pure checks of this kind's own fields; keys are relative to the channel table.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        common::check_appid("corp_id", &self.corp_id, &mut out);
        common::check_secret("secret", &self.secret, &mut out);
        if self.agent_id <= 0 {
            out.push(FieldError::new(
                "agent_id",
                "must be the app's AgentId (a positive number)",
            ));
        }
        common::check_http_url("api_base", &self.api_base, &mut out);
        common::check_http_url("login_base", &self.login_base, &mut out);
        common::check_http_url("open_base", &self.open_base, &mut out);
        if self.trust_mobile && self.scope != Scope::SnsapiPrivateinfo {
            out.push(FieldError::new(
                "trust_mobile",
                "needs scope = \"snsapi_privateinfo\": the mobile is read with its user_ticket",
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        toml::from_str(&format!(
            "id = \"wecom\"\ncorp_id = \"ww0000000000000001\"\nagent_id = 1000002\nsecret = \"s\"\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn defaults_and_validation() {
        let c = config("");
        assert_eq!(c.scope, Scope::SnsapiBase);
        assert_eq!(c.api_base, "https://qyapi.weixin.qq.com");
        assert_eq!(c.login_base, "https://login.work.weixin.qq.com");
        assert!(!c.trust_mobile);
        assert!(c.validate().is_empty());
    }

    #[test]
    fn each_bad_field_is_named() {
        let keys = |extra: &str| -> Vec<String> {
            config(extra)
                .validate()
                .into_iter()
                .map(|e| e.key.to_string())
                .collect()
        };
        assert_eq!(keys("trust_mobile = true"), ["trust_mobile"]);
        assert!(keys("trust_mobile = true\nscope = \"snsapi_privateinfo\"").is_empty());
        assert_eq!(keys("login_base = \"nope\""), ["login_base"]);
        let mut c = config("");
        c.agent_id = 0;
        c.corp_id = "ww 1".into();
        let mut got: Vec<_> = c
            .validate()
            .into_iter()
            .map(|e| e.key.to_string())
            .collect();
        got.sort();
        assert_eq!(got, ["agent_id", "corp_id"]);
    }
}
