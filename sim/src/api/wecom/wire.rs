//! WeCom's wire format: HTTP 200 always, `errcode` and `errmsg` in every body (`0` and `"ok"` on
//! success), and an errmsg that ends with a hint, the caller's IP and the error's help page:
//! `invalid code, hint: [1670371158347280850760093], from ip: 127.0.0.1, more info at
//! https://open.work.weixin.qq.com/devtool/query?e=40029`.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, Extensions, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::ids;

/// A WeCom API error: only `errcode` is meaningful, the text is decoration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WeComError(pub(crate) i64);

impl WeComError {
    /// errmsg prefix as WeCom words it, before the hint.
    fn text(self) -> &'static str {
        match self.0 {
            -1 => "system busy",
            40001 => "invalid credential",
            40013 => "invalid corpid",
            40014 => "invalid access_token",
            40029 => "invalid code",
            40056 => "invalid agentid",
            41001 => "access_token missing",
            41002 => "corpid missing",
            41004 => "corpsecret missing",
            41008 => "missing code",
            42001 => "access_token expired",
            43002 => "require POST method",
            44002 => "empty post data",
            45009 => "api freq out of limit",
            47001 => "data format error",
            60011 => "no privilege to access/modify contact/party/agent",
            60020 => "not allow to access from your ip",
            _ => "simulated error",
        }
    }

    /// The error body at `now`, for a caller at `caller`.
    pub(crate) fn body(self, now: i64, caller: IpAddr) -> Value {
        let code = self.0;
        json!({
            "errcode": code,
            "errmsg": format!(
                "{}, hint: [{}], from ip: {caller}, more info at \
                 https://open.work.weixin.qq.com/devtool/query?e={code}",
                self.text(),
                ids::wecom_hint(now),
            ),
        })
    }
}

/// A success body: `fields` with `"errcode": 0, "errmsg": "ok"` added, as WeCom always sends.
pub(crate) fn success(mut fields: Value) -> Value {
    if let Some(object) = fields.as_object_mut() {
        object.insert("errcode".to_owned(), json!(0));
        object.insert("errmsg".to_owned(), json!("ok"));
    }
    fields
}

/// Serialises `body` with status 200 and WeCom's content type.
pub(crate) fn respond(body: &Value) -> Response {
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}

/// Turns a handler's outcome into WeCom's wire shape.
pub(crate) fn reply(outcome: Result<Value, WeComError>, now: i64, caller: IpAddr) -> Response {
    match outcome {
        Ok(body) => respond(&success(body)),
        Err(err) => respond(&err.body(now, caller)),
    }
}

/// The peer's IP for the errmsg's `from ip`; loopback when the router runs without connection
/// info (in-process use of [`crate::Simulator::router`]).
pub(crate) fn caller_ip(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |info| info.0.ip())
}

/// Extracts [`caller_ip`]; never rejects.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallerIp(pub(crate) IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for CallerIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(caller_ip(&parts.extensions)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errmsg_carries_hint_ip_and_help_link() {
        let caller = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
        let body = WeComError(40029).body(1_700_000_000, caller);
        assert_eq!(body["errcode"], 40029);
        let msg = body["errmsg"].as_str().unwrap_or_default();
        assert!(msg.starts_with("invalid code, hint: [1700000000"), "{msg}");
        assert!(msg.contains("], from ip: 10.1.2.3, more info at "), "{msg}");
        assert!(
            msg.ends_with("https://open.work.weixin.qq.com/devtool/query?e=40029"),
            "{msg}"
        );
        assert_ne!(body, WeComError(40029).body(1_700_000_000, caller));
    }

    #[test]
    fn success_bodies_say_ok() {
        let body = success(json!({"userid": "zhangsan"}));
        assert_eq!(
            body,
            json!({"errcode": 0, "errmsg": "ok", "userid": "zhangsan"})
        );
    }
}
