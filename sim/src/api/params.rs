//! Request parsing that never fails with a framework error: WeChat reports bad input as errcodes.

use std::collections::HashMap;
use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::{Map, Value};

use crate::wire::WxError;

/// The decoded query string. Empty values count as missing, as they do for WeChat.
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub(crate) fn parse(query: &str) -> Self {
        Self(
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The parameter, or the errcode WeChat gives for its absence.
    pub(crate) fn require(&self, name: &str, missing: i64) -> Result<&str, WxError> {
        self.get(name).ok_or(WxError(missing))
    }

    /// `grant_type` must be exactly `expected` (40002 otherwise, absent included).
    pub(crate) fn grant_type(&self, expected: &str) -> Result<(), WxError> {
        if self.get("grant_type") == Some(expected) {
            Ok(())
        } else {
            Err(WxError(40002))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::parse(parts.uri.query().unwrap_or("")))
    }
}

/// A POST body that must be a JSON object: 44002 when empty, 47001 when not an object.
pub(crate) fn json_object(body: &[u8]) -> Result<Map<String, Value>, WxError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(WxError(44002));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(WxError(47001)),
    }
}

/// A non-empty string field of a JSON body.
pub(crate) fn str_field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_count_as_missing_and_plus_decodes_to_space() {
        let params = Params::parse("appid=&secret=a+b&grant_type=x");
        assert_eq!(params.require("appid", 41002), Err(WxError(41002)));
        assert_eq!(params.get("secret"), Some("a b"));
        assert_eq!(params.grant_type("authorization_code"), Err(WxError(40002)));
    }

    #[test]
    fn bodies_map_to_errcodes() {
        assert_eq!(json_object(b"  ").err(), Some(WxError(44002)));
        assert_eq!(json_object(b"[1]").err(), Some(WxError(47001)));
        assert_eq!(json_object(b"{nope").err(), Some(WxError(47001)));
        let body = json_object(br#"{"code":"abc","n":1}"#).unwrap_or_default();
        assert_eq!(str_field(&body, "code"), Some("abc"));
        assert_eq!(str_field(&body, "n"), None);
    }
}
