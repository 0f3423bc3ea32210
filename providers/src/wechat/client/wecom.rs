//! WeCom's server APIs for a self-built app (wechat-api.md §14): the corp token, a login code
//! to a member (or an outsider), and a member's private fields. The client's `appid` is the
//! corp id and its secret the app's; WeCom shares WeChat's answer shape (`errcode`, `errmsg`).

use super::{WechatClient, WxError};
use serde::Deserialize;
use wxgate_core::secret::Secret;

#[derive(Debug, Deserialize)]
pub struct CorpToken {
    pub access_token: Secret,
    pub expires_in: i64,
}

/// `auth/getuserinfo`'s answer: a member (`userid`), or someone outside the corp (`openid`,
/// `external_userid`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CorpLogin {
    #[serde(default)]
    pub userid: Option<String>,
    /// Only under `snsapi_privateinfo`: reads the member's private fields once.
    #[serde(default)]
    pub user_ticket: Option<Secret>,
    #[serde(default)]
    pub openid: Option<String>,
    #[serde(default)]
    pub external_userid: Option<String>,
}

/// `auth/getuserdetail`'s answer: only what the admin enabled and the member consented to.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CorpMemberDetail {
    #[serde(default)]
    pub userid: String,
    #[serde(default)]
    pub mobile: String,
    #[serde(default)]
    pub avatar: String,
}

impl WechatClient {
    /// The app's corp token (`gettoken`; idempotent: retried on transport errors).
    pub async fn corp_token(&self) -> Result<CorpToken, WxError> {
        let path = "/cgi-bin/gettoken";
        self.with_busy_retry(path, true, || {
            self.http.get(format!("{}{path}", self.api_base)).query(&[
                ("corpid", self.appid.as_str()),
                ("corpsecret", self.secret.expose()),
            ])
        })
        .await
    }

    /// A login code → who it names. Never retried after a timeout: the code is single use.
    pub async fn corp_login(&self, access_token: &str, code: &str) -> Result<CorpLogin, WxError> {
        let path = "/cgi-bin/auth/getuserinfo";
        self.with_busy_retry(path, false, || {
            self.http
                .get(format!("{}{path}", self.api_base))
                .query(&[("access_token", access_token), ("code", code)])
        })
        .await
    }

    /// A member's private fields behind a `user_ticket`.
    pub async fn corp_member_detail(
        &self,
        access_token: &str,
        user_ticket: &Secret,
    ) -> Result<CorpMemberDetail, WxError> {
        let path = "/cgi-bin/auth/getuserdetail";
        self.with_busy_retry(path, true, || {
            self.http
                .post(format!("{}{path}", self.api_base))
                .query(&[("access_token", access_token)])
                .json(&serde_json::json!({ "user_ticket": user_ticket.expose() }))
        })
        .await
    }
}
