//! What the channel configs share: WeChat's default endpoints and the pure field checks behind
//! each kind's `validate`.

pub use wxgate_core::rules::{check_http_url, FieldError};
use wxgate_core::secret::Secret;

/// WeChat's server API (`/sns/jscode2session`, `/sns/oauth2/access_token`, `/cgi-bin/...`).
pub const WECHAT_API_BASE: &str = "https://api.weixin.qq.com";
/// WeChat's browser-facing OAuth pages (`/connect/oauth2/authorize`, `/connect/qrconnect`).
pub const WECHAT_OPEN_BASE: &str = "https://open.weixin.qq.com";

pub(crate) fn default_api_base() -> String {
    WECHAT_API_BASE.to_owned()
}

pub(crate) fn default_open_base() -> String {
    WECHAT_OPEN_BASE.to_owned()
}

/// An AppID goes into WeChat URLs and into identity keys: non-empty ASCII letters and digits.
pub(crate) fn check_appid(key: &'static str, appid: &str, out: &mut Vec<FieldError>) {
    if appid.is_empty() {
        out.push(FieldError::new(key, "must not be empty"));
    } else if !appid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        out.push(FieldError::new(
            key,
            format!(
                "{appid:?} is not an AppID (ASCII letters and digits, e.g. \"wx0000000000000001\")"
            ),
        ));
    }
}

/// Never echoes the value: the message must be safe to print.
pub(crate) fn check_secret(key: &'static str, secret: &Secret, out: &mut Vec<FieldError>) {
    if secret.expose().trim().is_empty() {
        out.push(FieldError::new(key, "must not be empty"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appid_and_secret_checks() {
        let mut out = Vec::new();
        check_appid("appid", "wx0000000000000001", &mut out);
        assert!(out.is_empty());
        check_appid("appid", "", &mut out);
        check_appid("appid", "wx 01", &mut out);
        check_secret("secret", &Secret::new("  "), &mut out);
        let keys: Vec<_> = out.iter().map(|e| e.key.clone()).collect();
        assert_eq!(keys, ["appid", "appid", "secret"]);
    }
}
