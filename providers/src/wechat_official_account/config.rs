//! The `[[channel]]` table of an official-account channel: H5 OAuth, and optionally its server
//! URL (`message`), follow-to-login and JS-SDK signatures.

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
    /// Base URL of `/cgi-bin/showqrcode` (follow-to-login's code image). Default
    /// `https://mp.weixin.qq.com`.
    #[serde(default = "default_mp_base")]
    pub mp_base: String,
    /// The account's server URL is `{auth_prefix}/{id}/message`: its token and keys. Off
    /// when absent.
    #[serde(default)]
    pub message: Option<Message>,
    /// Follow-to-login (service accounts): the login page shows the account's temporary QR
    /// code; a follow or scan completes the login. Needs `message`.
    #[serde(default)]
    pub follow_login: Option<FollowLogin>,
    /// `GET {auth_prefix}/{id}/jssdk?url=` signs pages for `wx.config`.
    #[serde(default)]
    pub jssdk: bool,
    /// Origins (`https://shop.example.com`) besides `public_url`'s whose pages may be signed.
    #[serde(default)]
    pub jssdk_origins: Vec<String>,
}

/// `message = { token = "…", encoding_aes_key = "…", previous_encoding_aes_key = "…",
/// forward_to = "http://…" }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// The Token of the account's server configuration (3 to 32 letters and digits).
    pub token: Secret,
    /// The EncodingAESKey (43 letters and digits), for compatible and safe modes.
    #[serde(default)]
    pub encoding_aes_key: Option<Secret>,
    /// The key before the last change: pushes sealed with it still open while WeChat switches.
    #[serde(default)]
    pub previous_encoding_aes_key: Option<Secret>,
    /// Where every push that is not a follow-to-login event goes (same query and body), its
    /// answer relayed to WeChat. Without it those pushes are answered `success`.
    #[serde(default)]
    pub forward_to: Option<String>,
}

/// `follow_login = { ttl = "5m", reply = "…", expired_reply = "…" }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowLogin {
    /// How long the browser's wait lasts: 30s to 30m. Default `5m`. (WeChat's code itself
    /// lives at least a minute; a scan after the ticket expired is told so.)
    #[serde(
        default = "default_follow_ttl",
        deserialize_with = "wxgate_core::rules::duration::deserialize"
    )]
    pub ttl: std::time::Duration,
    /// What the person reads in WeChat once signed in; empty for no reply.
    #[serde(default = "default_reply")]
    pub reply: String,
    /// What a scan of an expired or unknown login code is told.
    #[serde(default = "default_expired_reply")]
    pub expired_reply: String,
}

fn default_mp_base() -> String {
    "https://mp.weixin.qq.com".to_owned()
}

fn default_follow_ttl() -> std::time::Duration {
    std::time::Duration::from_secs(300)
}

fn default_reply() -> String {
    "登录成功，请回到网页继续。Signed in: go back to the web page.".to_owned()
}

fn default_expired_reply() -> String {
    "登录二维码已过期，请在网页上刷新后重新扫码。This sign-in code has expired: refresh the web page and scan again.".to_owned()
}

/// A WeChat text reply holds 2048 bytes; leave room for the envelope.
const MAX_REPLY_BYTES: usize = 1800;

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
        common::check_http_url("mp_base", &self.mp_base, &mut out);
        if let Some(m) = &self.message {
            m.validate(&mut out);
        }
        if let Some(f) = &self.follow_login {
            if self.message.is_none() {
                out.push(FieldError::new(
                    "follow_login",
                    "needs message: WeChat tells the account's server URL about the scan",
                ));
            }
            f.validate(&mut out);
        }
        for (i, origin) in self.jssdk_origins.iter().enumerate() {
            if !is_origin(origin) {
                out.push(FieldError::new(
                    format!("jssdk_origins[{i}]"),
                    format!("{origin:?} is not an origin (scheme://host[:port], no path)"),
                ));
            }
        }
        if !self.jssdk && !self.jssdk_origins.is_empty() {
            out.push(FieldError::new("jssdk_origins", "needs jssdk = true"));
        }
        out
    }
}

impl Message {
    fn validate(&self, out: &mut Vec<FieldError>) {
        let token = self.token.expose();
        if !(3..=32).contains(&token.len()) || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
            out.push(FieldError::new(
                "message.token",
                "must be 3 to 32 letters and digits, as WeChat's settings page requires",
            ));
        }
        for (key, value) in [
            ("message.encoding_aes_key", &self.encoding_aes_key),
            (
                "message.previous_encoding_aes_key",
                &self.previous_encoding_aes_key,
            ),
        ] {
            let readable = value.as_ref().is_none_or(|k| {
                crate::wechat::message::MessageKey::from_encoding_aes_key(k.expose()).is_some()
            });
            if !readable {
                out.push(FieldError::new(
                    key,
                    "must be the 43 letters and digits of an EncodingAESKey",
                ));
            }
        }
        if self.previous_encoding_aes_key.is_some() && self.encoding_aes_key.is_none() {
            out.push(FieldError::new(
                "message.previous_encoding_aes_key",
                "needs encoding_aes_key (the current one)",
            ));
        }
        if let Some(url) = &self.forward_to {
            common::check_http_url("message.forward_to", url, out);
        }
    }
}

impl FollowLogin {
    fn validate(&self, out: &mut Vec<FieldError>) {
        if self.ttl < std::time::Duration::from_secs(30)
            || self.ttl > std::time::Duration::from_secs(1800)
        {
            out.push(FieldError::new(
                "follow_login.ttl",
                format!(
                    "{} must be between 30s and 30m",
                    humantime::format_duration(self.ttl)
                ),
            ));
        }
        for (key, text) in [
            ("follow_login.reply", &self.reply),
            ("follow_login.expired_reply", &self.expired_reply),
        ] {
            if text.len() > MAX_REPLY_BYTES {
                out.push(FieldError::new(
                    key,
                    format!("must be at most {MAX_REPLY_BYTES} bytes (WeChat's text reply limit)"),
                ));
            }
        }
    }
}

/// `scheme://host[:port]` of http(s), nothing after.
fn is_origin(text: &str) -> bool {
    let Ok(url) = url::Url::parse(text) else {
        return false;
    };
    matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.origin().ascii_serialization() == text.trim_end_matches('/')
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

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    fn base() -> String {
        "id = \"oa\"\nappid = \"wx2\"\nsecret = \"s\"\n".to_string()
    }

    fn errors(extra: &str) -> Vec<String> {
        let c: Config = toml::from_str(&format!("{}{extra}", base())).unwrap();
        c.validate()
            .into_iter()
            .map(|e| e.key.to_string())
            .collect()
    }

    #[test]
    fn message_follow_and_jssdk_read_with_their_defaults() {
        let c: Config = toml::from_str(&format!(
            "{}message = {{ token = \"tok123\", encoding_aes_key = \"{KEY}\" }}\nfollow_login = {{}}\njssdk = true\njssdk_origins = [\"https://shop.example.com\"]",
            base()
        ))
        .unwrap();
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        let f = c.follow_login.unwrap();
        assert_eq!(f.ttl, std::time::Duration::from_secs(300));
        assert!(f.reply.starts_with("登录成功"));
        assert_eq!(c.mp_base, "https://mp.weixin.qq.com");
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(errors("message = { token = \"t\" }"), ["message.token"]);
        assert_eq!(
            errors("message = { token = \"tok123\", encoding_aes_key = \"short\" }"),
            ["message.encoding_aes_key"]
        );
        assert_eq!(
            errors(&format!(
                "message = {{ token = \"tok123\", previous_encoding_aes_key = \"{KEY}\" }}"
            )),
            ["message.previous_encoding_aes_key"]
        );
        assert_eq!(
            errors("message = { token = \"tok123\", forward_to = \"ftp://x\" }"),
            ["message.forward_to"]
        );
        assert_eq!(errors("follow_login = {}"), ["follow_login"]);
        assert_eq!(
            errors("message = { token = \"tok123\" }\nfollow_login = { ttl = \"10s\" }"),
            ["follow_login.ttl"]
        );
        assert_eq!(
            errors("jssdk = true\njssdk_origins = [\"https://a.example/path\", \"a.example\"]"),
            ["jssdk_origins[0]", "jssdk_origins[1]"]
        );
        assert_eq!(
            errors("jssdk_origins = [\"https://a.example\"]"),
            ["jssdk_origins"]
        );
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
