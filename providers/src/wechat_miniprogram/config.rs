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
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub timeout: std::time::Duration,
    /// Scan-to-login for websites: the browser shows a mini-program code, the person confirms
    /// inside the mini-program. Off when absent.
    #[serde(default)]
    pub scan_login: Option<ScanLogin>,
}

/// `scan_login = { page = "pages/login/scan", env_version = "release", check_path = true,
/// ttl = "2m" }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanLogin {
    /// The mini-program page the code opens (no leading `/`, no query); it receives the
    /// ticket as `options.scene`.
    pub page: String,
    /// Which version of the mini-program opens: `release` (default), `trial` or `develop`.
    #[serde(default)]
    pub env_version: EnvVersion,
    /// WeChat checks that `page` exists in the released version. Default `true`; `false` lets
    /// a page not yet released be used while testing.
    #[serde(default = "yes")]
    pub check_path: bool,
    /// How long a browser waits for the confirmation before the ticket expires. Default `2m`,
    /// 30s to 10m.
    #[serde(
        default = "default_scan_ttl",
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub ttl: std::time::Duration,
}

/// `getwxacodeunlimit`'s `env_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvVersion {
    #[default]
    Release,
    Trial,
    Develop,
}

impl EnvVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Trial => "trial",
            Self::Develop => "develop",
        }
    }
}

fn yes() -> bool {
    true
}

fn default_scan_ttl() -> std::time::Duration {
    std::time::Duration::from_secs(120)
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
        if let Some(scan) = &self.scan_login {
            let page_ok = !scan.page.is_empty()
                && scan.page.len() <= 128
                && !scan.page.starts_with('/')
                && scan
                    .page
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_-.".contains(&b));
            if !page_ok {
                out.push(FieldError::new(
                    "scan_login.page",
                    format!(
                        "{:?} is not a mini-program page path (e.g. \"pages/login/scan\": no leading '/', no query)",
                        scan.page
                    ),
                ));
            }
            if scan.ttl < std::time::Duration::from_secs(30)
                || scan.ttl > std::time::Duration::from_secs(600)
            {
                out.push(FieldError::new(
                    "scan_login.ttl",
                    format!(
                        "{} must be between 30s and 10m",
                        humantime::format_duration(scan.ttl)
                    ),
                ));
            }
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
    fn scan_login_takes_its_defaults_and_names_its_rules() {
        let c: Config = toml::from_str(
            "id = \"mp\"\nappid = \"wx1\"\nsecret = \"s\"\nscan_login = { page = \"pages/login/scan\" }",
        )
        .unwrap();
        let scan = c.scan_login.clone().unwrap();
        assert_eq!(scan.env_version, EnvVersion::Release);
        assert!(scan.check_path);
        assert_eq!(scan.ttl, std::time::Duration::from_secs(120));
        assert!(c.validate().is_empty());
        let c: Config = toml::from_str(
            "id = \"mp\"\nappid = \"wx1\"\nsecret = \"s\"\nscan_login = { page = \"/pages/x?a=1\", ttl = \"20m\", env_version = \"trial\" }",
        )
        .unwrap();
        let keys: Vec<_> = c.validate().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["scan_login.page", "scan_login.ttl"]);
        let err = toml::from_str::<Config>(
            "id = \"mp\"\nappid = \"wx1\"\nsecret = \"s\"\nscan_login = { page = \"p\", env = \"x\" }",
        )
        .unwrap_err();
        assert!(err.message().contains("unknown field `env`"), "{err}");
    }

    #[test]
    fn misspelt_key_is_named() {
        let err =
            toml::from_str::<Config>("id = \"mp\"\nappid = \"wx1\"\nsecrt = \"s\"").unwrap_err();
        assert!(err.message().contains("unknown field `secrt`"), "{err}");
    }
}
