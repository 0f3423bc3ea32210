//! An official account's server APIs (wechat-api.md §12, §13): temporary QR codes, the code's
//! image, a follower's profile (for the unionid), and the JS-SDK ticket. Each takes the
//! interface access_token; a 40001/42001 is the caller's to act on (refresh once, ask again).

use super::{Image, WechatClient, WxError};
use serde::Deserialize;
use wxgate_core::secret::Secret;

/// `/cgi-bin/qrcode/create`'s answer.
#[derive(Debug, Clone, Deserialize)]
pub struct QrCode {
    /// Opaque; `showqrcode` takes it (URL-encoded).
    pub ticket: String,
    #[serde(default)]
    pub expire_seconds: i64,
}

/// `/cgi-bin/user/info`'s answer: only what identity needs.
#[derive(Debug, Clone, Deserialize)]
pub struct UserInfo {
    #[serde(default)]
    pub subscribe: i64,
    pub openid: String,
    /// Present when the account is bound to an open platform.
    #[serde(default)]
    pub unionid: Option<String>,
}

#[derive(Deserialize)]
struct JsapiTicket {
    ticket: Secret,
    expires_in: i64,
}

impl WechatClient {
    /// A temporary QR code carrying `scene` (`QR_STR_SCENE`) for `expire_seconds`. Not
    /// retried after a transport error: a second code would be harmless, but the caller is on
    /// a browser's clock.
    pub async fn qrcode_create(
        &self,
        access_token: &str,
        scene: &str,
        expire_seconds: u64,
    ) -> Result<QrCode, WxError> {
        let path = "/cgi-bin/qrcode/create";
        self.with_busy_retry(path, false, || {
            self.http
                .post(format!("{}{path}", self.api_base))
                .query(&[("access_token", access_token)])
                .json(&serde_json::json!({
                    "expire_seconds": expire_seconds,
                    "action_name": "QR_STR_SCENE",
                    "action_info": { "scene": { "scene_str": scene } },
                }))
        })
        .await
    }

    /// The image of a QR code ticket, from `{mp_base}/cgi-bin/showqrcode` (no access_token).
    pub async fn showqrcode(&self, mp_base: &str, ticket: &str) -> Result<Image, WxError> {
        let path = "/cgi-bin/showqrcode";
        let url = format!("{}{path}", mp_base.trim_end_matches('/'));
        self.image_with_busy_retry(path, || self.http.get(&url).query(&[("ticket", ticket)]))
            .await
    }

    /// A user's facts as this account sees them (idempotent: retried on transport errors).
    pub async fn user_info(&self, access_token: &str, openid: &str) -> Result<UserInfo, WxError> {
        let path = "/cgi-bin/user/info";
        self.with_busy_retry(path, true, || {
            self.http.get(format!("{}{path}", self.api_base)).query(&[
                ("access_token", access_token),
                ("openid", openid),
                ("lang", "zh_CN"),
            ])
        })
        .await
    }

    /// A fresh `jsapi_ticket` and its lifetime in seconds.
    pub async fn jsapi_ticket(&self, access_token: &str) -> Result<(Secret, i64), WxError> {
        let path = "/cgi-bin/ticket/getticket";
        let answer: JsapiTicket = self
            .with_busy_retry(path, true, || {
                self.http
                    .get(format!("{}{path}", self.api_base))
                    .query(&[("access_token", access_token), ("type", "jsapi")])
            })
            .await?;
        Ok((answer.ticket, answer.expires_in))
    }
}
