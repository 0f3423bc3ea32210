//! The WeChat server API client. WeChat answers HTTP 200 with `errcode` in the body (often as
//! `text/plain`), so the body is always parsed as JSON and `errcode` decides. The AppSecret rides
//! in query strings, so no URL is ever logged: only the path and the errcode.

use crate::provider::ProviderError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::time::Duration;
use wxgate_core::secret::Secret;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WxError {
    #[error("errcode {errcode}")]
    Api { errcode: i64 },
    #[error("timed out")]
    Timeout,
    #[error("transport error")]
    Transport,
    #[error("unparseable response")]
    Parse,
}

impl WxError {
    /// The contract's mapping of WeChat failures for a code exchange.
    pub fn into_provider_error(self, path: &str) -> ProviderError {
        match self {
            WxError::Api {
                errcode: 40029 | 40163 | 42003,
            } => ProviderError::InvalidCode,
            WxError::Api { errcode: 40226 } => ProviderError::LoginBlocked,
            WxError::Api { errcode: 45011 } => ProviderError::RateLimited { retry_after: 60 },
            WxError::Api {
                errcode:
                    errcode @ (40013 | 40125 | 40164 | 40243 | 41002 | 41004 | 40002 | 50004 | 50007),
            } => ProviderError::Misconfigured(format!("{path}: errcode {errcode}")),
            WxError::Api { errcode } => {
                ProviderError::Unavailable(format!("{path}: errcode {errcode}"))
            }
            WxError::Timeout => ProviderError::Unavailable(format!("{path}: timed out")),
            WxError::Transport => ProviderError::Unavailable(format!("{path}: unreachable")),
            WxError::Parse => ProviderError::Unavailable(format!("{path}: unparseable answer")),
        }
    }
}

/// `errcode` absent or 0 means success (both shapes exist). `errmsg` carries WeChat's (and
/// WeCom's) `hint` and, for an IP refusal, the caller's address: logged, never matched on.
#[derive(Deserialize)]
struct ErrorFields {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// What of an `errmsg` is logged: bounded, one line.
fn loggable(errmsg: &str) -> String {
    errmsg
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect()
}

/// jscode2session's answer. `session_key` is a secret and is kept only as one.
#[derive(Debug, Deserialize)]
pub struct Code2Session {
    pub openid: String,
    pub session_key: Secret,
    #[serde(default)]
    pub unionid: Option<String>,
}

/// `/sns/oauth2/access_token`'s answer (official account and website login alike). The user
/// access token is a secret; wxgate only uses it once, for `/sns/userinfo`.
#[derive(Debug, Deserialize)]
pub struct SnsToken {
    pub access_token: Secret,
    pub openid: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub unionid: Option<String>,
    /// `1` for a snapshot-page (virtual) identity; absent otherwise.
    #[serde(default)]
    pub is_snapshotuser: Option<i64>,
}

/// `/sns/userinfo`'s answer: user-chosen display facts. Sex and region are blank since 2021.
#[derive(Debug, Deserialize)]
pub struct SnsUserInfo {
    #[serde(default)]
    pub nickname: String,
    #[serde(default)]
    pub headimgurl: String,
    #[serde(default)]
    pub unionid: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct StableToken {
    pub access_token: Secret,
    pub expires_in: i64,
}

#[derive(Debug, Deserialize)]
pub struct PhoneInfo {
    #[serde(rename = "purePhoneNumber")]
    pub pure_phone_number: String,
    #[serde(rename = "countryCode", deserialize_with = "string_or_number")]
    pub country_code: String,
    pub watermark: Watermark,
}

#[derive(Debug, Deserialize)]
pub struct Watermark {
    pub appid: String,
}

#[derive(Debug, Deserialize)]
struct PhoneAnswer {
    phone_info: PhoneInfo,
}

/// `countryCode` is documented as a string; the doc's example shows a number. Accept both.
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        S(String),
        N(i64),
    }
    Ok(match Either::deserialize(d)? {
        Either::S(s) => s,
        Either::N(n) => n.to_string(),
    })
}

/// An image WeChat made (a mini-program code), with its type as its bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub content_type: &'static str,
    pub body: bytes::Bytes,
}

/// The image type by the file's signature; `None` for anything else (a JSON error).
fn image_kind(body: &[u8]) -> Option<&'static str> {
    if body.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if body.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else {
        None
    }
}

/// One app's client: its appid, secret and API base URL.
#[derive(Clone)]
pub struct WechatClient {
    http: reqwest::Client,
    api_base: String,
    appid: String,
    secret: Secret,
    /// Attempts for errcode -1 (system busy), including the first.
    busy_attempts: u32,
    busy_backoff: Duration,
    timeout: Duration,
}

impl std::fmt::Debug for WechatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WechatClient({}, {})", self.appid, self.api_base)
    }
}

/// The client for WeChat: short timeouts so a hung WeChat call becomes a fast 502, not a pile
/// of waiting logins; no redirects; answers bounded ([`crate::http`]).
pub fn http_client(timeout: Duration) -> reqwest::Client {
    crate::http::client(timeout)
}

mod official_account;
mod wecom;

pub use official_account::{QrCode, UserInfo};
pub use wecom::{CorpLogin, CorpMemberDetail, CorpToken};

impl WechatClient {
    pub fn new(http: reqwest::Client, api_base: &str, appid: &str, secret: Secret) -> Self {
        Self {
            http,
            api_base: api_base.trim_end_matches('/').to_string(),
            appid: appid.to_string(),
            secret,
            busy_attempts: 3,
            busy_backoff: Duration::from_millis(100),
            timeout: Duration::from_secs(5),
        }
    }

    /// Bounds every call of this client (connect, send, read).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// `wx.login` code → openid, session_key, unionid. Retried only on -1 (WeChat did not
    /// process it); never after a timeout, since the code may already be spent.
    pub async fn jscode2session(&self, code: &str) -> Result<Code2Session, WxError> {
        let path = "/sns/jscode2session";
        self.with_busy_retry(path, false, || {
            self.http.get(format!("{}{path}", self.api_base)).query(&[
                ("appid", self.appid.as_str()),
                ("secret", self.secret.expose()),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ])
        })
        .await
    }

    /// An OAuth code (official account or website login) → the user's identity. Like
    /// jscode2session, retried only on -1 and never after a timeout: the code is single-use.
    pub async fn oauth_exchange(&self, code: &str) -> Result<SnsToken, WxError> {
        let path = "/sns/oauth2/access_token";
        self.with_busy_retry(path, false, || {
            self.http.get(format!("{}{path}", self.api_base)).query(&[
                ("appid", self.appid.as_str()),
                ("secret", self.secret.expose()),
                ("code", code),
                ("grant_type", "authorization_code"),
            ])
        })
        .await
    }

    /// The profile behind a user access token (`snsapi_userinfo` or `snsapi_login` grants).
    pub async fn userinfo(
        &self,
        access_token: &Secret,
        openid: &str,
    ) -> Result<SnsUserInfo, WxError> {
        let path = "/sns/userinfo";
        self.with_busy_retry(path, true, || {
            self.http.get(format!("{}{path}", self.api_base)).query(&[
                ("access_token", access_token.expose()),
                ("openid", openid),
                ("lang", "zh_CN"),
            ])
        })
        .await
    }

    /// The interface access_token from `/cgi-bin/stable_token` (idempotent: retried on -1 and on
    /// transport errors).
    pub async fn stable_token(&self, force_refresh: bool) -> Result<StableToken, WxError> {
        let path = "/cgi-bin/stable_token";
        self.with_busy_retry(path, true, || {
            self.http
                .post(format!("{}{path}", self.api_base))
                .json(&serde_json::json!({
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self.secret.expose(),
                    "force_refresh": force_refresh,
                }))
        })
        .await
    }

    /// A `getPhoneNumber` code → the verified phone. With `openid`, WeChat also checks the code
    /// was issued to that user, so a phone code cannot be replayed onto another account.
    pub async fn phone_number(
        &self,
        access_token: &str,
        code: &str,
        openid: Option<&str>,
    ) -> Result<PhoneInfo, WxError> {
        let path = "/wxa/business/getuserphonenumber";
        let answer: PhoneAnswer = self
            .with_busy_retry(path, false, || {
                self.http
                    .post(format!("{}{path}", self.api_base))
                    .query(&[("access_token", access_token)])
                    .json(&match openid {
                        Some(openid) => serde_json::json!({ "code": code, "openid": openid }),
                        None => serde_json::json!({ "code": code }),
                    })
            })
            .await?;
        Ok(answer.phone_info)
    }

    /// A mini-program code image (`/wxa/getwxacodeunlimit`) carrying `request`'s `scene`. WeChat
    /// answers the image's bytes, or a JSON error that some SDKs saved as an image: the answer
    /// is judged by its body as well as its Content-Type. Retried on -1 (nothing is spent).
    pub async fn wxacode_unlimited(
        &self,
        access_token: &str,
        request: &serde_json::Value,
    ) -> Result<Image, WxError> {
        let path = "/wxa/getwxacodeunlimit";
        self.image_with_busy_retry(path, || {
            self.http
                .post(format!("{}{path}", self.api_base))
                .query(&[("access_token", access_token)])
                .json(request)
        })
        .await
    }

    /// An image, or the errcode of the JSON WeChat sent instead (judged by the body's
    /// signature as well as the Content-Type). Retried on -1.
    async fn image_with_busy_retry(
        &self,
        path: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Image, WxError> {
        let mut attempt = 1;
        loop {
            let response = request().timeout(self.timeout).send().await.map_err(|e| {
                if e.is_timeout() {
                    WxError::Timeout
                } else {
                    WxError::Transport
                }
            })?;
            let status = response.status();
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            let body = crate::http::body(response).await.map_err(|e| match e {
                crate::http::ReadError::Timeout => WxError::Timeout,
                crate::http::ReadError::Transport => WxError::Transport,
                crate::http::ReadError::TooLarge => WxError::Parse,
            })?;
            let kind = image_kind(&body);
            if kind.is_none() || content_type.contains("json") {
                let errcode = serde_json::from_slice::<ErrorFields>(&body)
                    .map(|f| f.errcode)
                    .map_err(|_| {
                        tracing::info!(path, status = status.as_u16(), "wechat sent no image");
                        WxError::Parse
                    })?;
                if errcode == -1 && attempt < self.busy_attempts {
                    tokio::time::sleep(self.busy_backoff * 2u32.pow(attempt - 1)).await;
                    attempt += 1;
                    continue;
                }
                tracing::info!(
                    path,
                    errcode,
                    "wechat returned an error instead of an image"
                );
                // An answer that is neither an image nor an error names nothing to act on.
                return Err(if errcode == 0 {
                    WxError::Parse
                } else {
                    WxError::Api { errcode }
                });
            }
            return Ok(Image {
                content_type: kind.unwrap_or("image/png"),
                body,
            });
        }
    }

    async fn with_busy_retry<T: DeserializeOwned>(
        &self,
        path: &str,
        idempotent: bool,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T, WxError> {
        let mut attempt = 1;
        loop {
            let result = self.call(path, request().timeout(self.timeout)).await;
            let retry = match &result {
                Err(WxError::Api { errcode: -1 }) => true,
                Err(WxError::Transport) => idempotent,
                _ => false,
            };
            if !retry || attempt >= self.busy_attempts {
                return result;
            }
            tracing::debug!(path, attempt, "wechat busy; retrying");
            tokio::time::sleep(self.busy_backoff * 2u32.pow(attempt - 1)).await;
            attempt += 1;
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, WxError> {
        let response = request.send().await.map_err(|e| {
            // Only the path: the URL carries the secret.
            let kind = if e.is_timeout() {
                WxError::Timeout
            } else {
                WxError::Transport
            };
            tracing::warn!(path, error = ?kind, "wechat call failed");
            kind
        })?;
        let body = crate::http::body(response).await.map_err(|e| match e {
            crate::http::ReadError::Timeout => WxError::Timeout,
            crate::http::ReadError::Transport => WxError::Transport,
            crate::http::ReadError::TooLarge => {
                tracing::warn!(path, "wechat answer too large");
                WxError::Parse
            }
        })?;
        let fields: ErrorFields = serde_json::from_slice(&body).map_err(|_| WxError::Parse)?;
        if fields.errcode != 0 {
            tracing::info!(
                path,
                errcode = fields.errcode,
                errmsg = %loggable(&fields.errmsg),
                "wechat returned an error"
            );
            return Err(WxError::Api {
                errcode: fields.errcode,
            });
        }
        serde_json::from_slice(&body).map_err(|_| {
            tracing::warn!(path, "wechat answer has an unexpected shape");
            WxError::Parse
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcodes_map_to_the_contract() {
        let map = |c| WxError::Api { errcode: c }.into_provider_error("/p");
        assert_eq!(map(40029), ProviderError::InvalidCode);
        assert_eq!(map(40163), ProviderError::InvalidCode);
        assert_eq!(map(40226), ProviderError::LoginBlocked);
        assert_eq!(map(45011), ProviderError::RateLimited { retry_after: 60 });
        assert!(matches!(map(-1), ProviderError::Unavailable(_)));
        assert!(matches!(map(40125), ProviderError::Misconfigured(_)));
        assert!(matches!(
            WxError::Timeout.into_provider_error("/p"),
            ProviderError::Unavailable(_)
        ));
    }

    #[test]
    fn session_key_never_prints() {
        let c: Code2Session =
            serde_json::from_str(r#"{"openid":"oA","session_key":"c2VjcmV0c2VjcmV0MTIzNA=="}"#)
                .unwrap();
        assert!(!format!("{c:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn country_code_as_string_or_number() {
        let a: PhoneInfo = serde_json::from_str(
            r#"{"purePhoneNumber":"1","countryCode":"86","watermark":{"appid":"wx"}}"#,
        )
        .unwrap();
        let b: PhoneInfo = serde_json::from_str(
            r#"{"purePhoneNumber":"1","countryCode":86,"watermark":{"appid":"wx"}}"#,
        )
        .unwrap();
        assert_eq!(a.country_code, b.country_code);
    }
}
