//! WeChat's wire format: HTTP 200 always, errors in the body, a fresh `rid` on every errmsg.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::ids;

/// A WeChat API error: only `errcode` is meaningful, the text is decoration (wechat-api.md §0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WxError(pub(crate) i64);

impl WxError {
    /// errmsg prefix as WeChat words it, before the `, rid: ...` suffix.
    fn text(self) -> &'static str {
        match self.0 {
            -1 => "system error",
            40001 => "invalid credential, access_token is invalid or not latest",
            40002 => "invalid grant_type",
            40003 => "invalid openid",
            40013 => "invalid appid",
            40014 => "invalid access_token",
            40029 => "invalid code",
            40030 => "invalid refresh_token",
            40066 => "invalid url",
            40097 => "invalid args",
            40125 => "invalid appsecret",
            40163 => "code been used",
            40164 => "invalid ip, not in whitelist",
            40226 => "code blocked",
            41001 => "access_token missing",
            41002 => "appid missing",
            41003 => "refresh_token missing",
            41004 => "appsecret missing",
            41008 => "missing code",
            41009 => "missing openid",
            42001 => "access_token expired",
            42002 => "refresh_token expired",
            42003 => "code expired",
            43002 => "require POST method",
            44002 => "empty post data",
            45009 => "reach max api daily quota limit",
            45011 => "api minute-quota reach limit  mustslower  retry next minute",
            47001 => "data format error",
            48001 => "api unauthorized",
            87007 => "session_key is not existd or expired",
            87008 => "invalid sig_method",
            87009 => "invalid signature",
            89503 => "risk control: this IP call requires administrator confirmation",
            _ => "simulated error",
        }
    }

    pub(crate) fn body(self) -> Value {
        json!({
            "errcode": self.0,
            "errmsg": format!("{}, rid: {}", self.text(), ids::rid()),
        })
    }
}

/// The `Content-Type` WeChat sends. `/sns/*` was observed answering `text/plain` (jscode2session
/// and the OAuth exchange), the rest `application/json`; serving both keeps the gateway honest
/// about parsing the body whatever the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    TextPlain,
    Json,
}

impl Flavor {
    pub(crate) fn for_path(path: &str) -> Self {
        if path.starts_with("/sns/") {
            Self::TextPlain
        } else {
            Self::Json
        }
    }

    fn header(self) -> HeaderValue {
        match self {
            Self::TextPlain => HeaderValue::from_static("text/plain"),
            Self::Json => HeaderValue::from_static("application/json; encoding=utf-8"),
        }
    }
}

/// Serialises `body` with status 200 and the flavour's content type.
pub(crate) fn respond(flavor: Flavor, body: &Value) -> Response {
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, flavor.header());
    response
}

/// Turns a handler's outcome into WeChat's wire shape.
pub(crate) fn reply(flavor: Flavor, outcome: Result<Value, WxError>) -> Response {
    match outcome {
        Ok(body) => respond(flavor, &body),
        Err(err) => respond(flavor, &err.body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errmsg_carries_a_fresh_rid() {
        let first = WxError(40029).body();
        let second = WxError(40029).body();
        assert_eq!(first["errcode"], 40029);
        let msg = first["errmsg"].as_str().unwrap_or_default();
        assert!(msg.starts_with("invalid code, rid: "), "{msg}");
        assert_ne!(first["errmsg"], second["errmsg"]);
    }
}
