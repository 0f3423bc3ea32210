//! What the channel configs share: WeChat's default endpoints and the pure field checks behind
//! each kind's `validate`.

use wxgate_core::secret::Secret;

/// WeChat's server API (`/sns/jscode2session`, `/sns/oauth2/access_token`, `/cgi-bin/...`).
pub const WECHAT_API_BASE: &str = "https://api.weixin.qq.com";
/// WeChat's browser-facing OAuth pages (`/connect/oauth2/authorize`, `/connect/qrconnect`).
pub const WECHAT_OPEN_BASE: &str = "https://open.weixin.qq.com";

/// One problem in a channel's config. `key` is relative to the `[[channel]]` table, e.g. `appid`
/// or `sender.url`; the gateway prefixes it with `channel[N].` and adds the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub key: std::borrow::Cow<'static, str>,
    pub message: String,
}

impl FieldError {
    pub fn new(key: impl Into<std::borrow::Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

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

/// An absolute http(s) URL with a host. The value is not echoed: webhook URLs may carry a token.
pub fn check_http_url(key: &'static str, value: &str, out: &mut Vec<FieldError>) {
    let problem = match url::Url::parse(value) {
        Err(e) => Some(format!(
            "not a URL ({e}); expected e.g. \"https://api.weixin.qq.com\""
        )),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            Some(format!("scheme {:?} is not http or https", u.scheme()))
        }
        Ok(u) if u.host_str().is_none_or(str::is_empty) => Some("URL has no host".to_owned()),
        Ok(_) => None,
    };
    if let Some(message) = problem {
        out.push(FieldError::new(key, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_errors(value: &str) -> Vec<FieldError> {
        let mut out = Vec::new();
        check_http_url("api_base", value, &mut out);
        out
    }

    #[test]
    fn http_urls_pass_others_fail_without_echoing_the_value() {
        assert!(url_errors("https://api.weixin.qq.com").is_empty());
        assert!(url_errors("http://127.0.0.1:9200").is_empty());
        let errs = url_errors("ftp://files.example.com/?token=abc");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("\"ftp\""), "{:?}", errs[0]);
        assert!(!errs[0].message.contains("token=abc"));
        assert_eq!(url_errors("api.weixin.qq.com")[0].key, "api_base");
    }

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
