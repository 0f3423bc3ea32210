//! `[headers]`: the names of the identity headers sent upstream.

use std::collections::HashMap;

use serde::Deserialize;

use super::index::join_key;
use super::validate::Validator;

/// `[headers]`: the names of the identity headers sent upstream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawHeaders {
    /// The user id. Default `X-Auth-User`.
    pub user: String,
    /// The channel id of the session. Default `X-Auth-Channel`.
    pub channel: String,
    /// The openid of that channel's appid. Default `X-Auth-Openid`.
    pub openid: String,
    /// The unionid. Default `X-Auth-Unionid`.
    pub unionid: String,
    /// The verified phone (E.164). Default `X-Auth-Phone`.
    pub phone: String,
    /// The signed assertion. Default `X-Auth-Assertion`.
    pub assertion: String,
}

impl Default for RawHeaders {
    fn default() -> Self {
        let d = crate::headers::IdentityHeaders::default();
        Self {
            user: d.user,
            channel: d.channel,
            openid: d.openid,
            unionid: d.unionid,
            phone: d.phone,
            assertion: d.assertion,
        }
    }
}

// === rules ===

impl Validator<'_> {
    pub(super) fn headers(&mut self, raw: RawHeaders) -> crate::headers::IdentityHeaders {
        /// Names the gateway or HTTP itself owns: an identity header must not shadow them.
        const OWNED: [&str; 12] = [
            "authorization",
            "cookie",
            "host",
            "connection",
            "content-length",
            "transfer-encoding",
            "te",
            "trailer",
            "upgrade",
            "keep-alive",
            "proxy-connection",
            "x-forwarded-for",
        ];
        let fields = [
            ("user", &raw.user),
            ("channel", &raw.channel),
            ("openid", &raw.openid),
            ("unionid", &raw.unionid),
            ("phone", &raw.phone),
            ("assertion", &raw.assertion),
        ];
        let mut seen: HashMap<String, &str> = HashMap::new();
        for (field, name) in fields {
            let key = join_key("headers", field);
            let valid = !name.is_empty()
                && name.len() <= 64
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            let lower = name.to_ascii_lowercase();
            if !valid {
                self.error(
                    &key,
                    format!("{name:?} is not a header name: use 1 to 64 letters, digits and '-'"),
                );
            } else if OWNED.contains(&lower.as_str()) {
                self.error(
                    &key,
                    format!("{name:?} is a header HTTP or the gateway already owns"),
                );
            } else if let Some(other) = seen.insert(lower, field) {
                self.error(&key, format!("{name:?} is also used by headers.{other}"));
            }
        }
        crate::headers::IdentityHeaders {
            user: raw.user,
            channel: raw.channel,
            openid: raw.openid,
            unionid: raw.unionid,
            phone: raw.phone,
            assertion: raw.assertion,
        }
    }
}
