//! WeChat web OAuth, shared by the official-account (in-WeChat H5) and website QR channels:
//! `GET authorize` sends the browser to WeChat's page with the gateway's `state`, and
//! `GET callback` exchanges the code WeChat sent back, reads the profile when the grant allows,
//! and reports the identity. The two kinds differ only in the page, the scope and the `kind`.

use crate::provider::{
    check_code, Call, Endpoint, Interruption, LoginProvider, ProviderError, Reply, Step, Verified,
};
use crate::shared_state::{first_sight, SharedState};
use crate::wechat::WechatClient;
use async_trait::async_trait;
use std::sync::Arc;
use wxgate_core::model::{Profile, WechatIdentity};

const ENDPOINTS: &[Endpoint] = &[
    Endpoint::new("GET", "authorize", Step::BrowserStart),
    Endpoint::new("GET", "callback", Step::BrowserCallback),
];

/// Longest nickname kept (characters) and avatar URL kept (bytes): display facts, bounded.
const MAX_NICKNAME_CHARS: usize = 64;
const MAX_AVATAR_LEN: usize = 512;

/// Which WeChat page a channel sends browsers to.
#[derive(Debug, Clone)]
pub struct Page {
    /// `kind` as in the config.
    pub kind: &'static str,
    /// `{open_base}/connect/oauth2/authorize` or `{open_base}/connect/qrconnect`.
    pub url: String,
    /// `snsapi_base`, `snsapi_userinfo` or `snsapi_login`.
    pub scope: &'static str,
}

/// One web OAuth channel.
pub struct WebOAuth {
    id: String,
    page: Page,
    client: WechatClient,
    /// Codes already exchanged, on every replica.
    seen: Arc<dyn SharedState>,
}

impl WebOAuth {
    /// The channel a web OAuth kind's config describes: its page, and a WeChat client for the
    /// app behind it.
    pub fn build(
        deps: &crate::registry::ProviderDeps,
        id: &str,
        page: Page,
        app: (&str, &str, &wxgate_core::secret::Secret),
    ) -> Arc<dyn LoginProvider> {
        let (api_base, appid, secret) = app;
        let client = WechatClient::new(deps.http.clone(), api_base, appid, secret.clone());
        Arc::new(Self::new(id, page, client, deps.shared_state.clone()))
    }

    pub fn new(id: &str, page: Page, client: WechatClient, seen: Arc<dyn SharedState>) -> Self {
        Self {
            id: id.to_string(),
            page,
            client,
            seen,
        }
    }

    /// WeChat's page for this flow. Parameter order as WeChat documents it (its page is known to
    /// be picky); `redirect_uri` is the gateway's configured callback, never a request header.
    fn page_url(&self, callback_url: &str, state: &str) -> String {
        let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        format!(
            "{}?appid={}&redirect_uri={}&response_type=code&scope={}&state={}#wechat_redirect",
            self.page.url,
            enc(self.client.appid()),
            enc(callback_url),
            self.page.scope,
            enc(state),
        )
    }

    async fn callback(&self, call: &Call<'_>) -> Result<Reply, ProviderError> {
        let Some(code) = callback_code(call, self.seen.as_ref(), self.client.appid()).await? else {
            return Ok(Reply::Interrupted(Interruption::Declined));
        };
        let path = "/sns/oauth2/access_token";
        let token = self
            .client
            .oauth_exchange(code)
            .await
            .map_err(|e| e.into_provider_error(path))?;
        if token.is_snapshotuser == Some(1) {
            // A virtual openid and unionid: never create, link or bind anything with them.
            tracing::info!(channel = %self.id, "snapshot-page identity refused");
            return Ok(Reply::Interrupted(Interruption::SnapshotPage));
        }
        if token.openid.is_empty() {
            return Err(ProviderError::Unavailable(format!("{path}: no openid")));
        }
        let mut unionid = token.unionid.clone().filter(|u| !u.is_empty());
        let mut profile = None;
        let grants_profile = token
            .scope
            .split(',')
            .any(|s| matches!(s.trim(), "snsapi_userinfo" | "snsapi_login"));
        if grants_profile {
            // The profile is for display only; the login does not depend on it.
            match self
                .client
                .userinfo(&token.access_token, &token.openid)
                .await
            {
                Ok(info) => {
                    unionid = unionid.or(info.unionid.filter(|u| !u.is_empty()));
                    profile = display_profile(&info.nickname, &info.headimgurl);
                }
                Err(e) => {
                    tracing::warn!(channel = %self.id, error = %e, "userinfo failed; no profile")
                }
            }
        }
        Ok(Reply::BrowserLogin(Verified {
            wechat: Some(WechatIdentity {
                appid: self.client.appid().to_string(),
                openid: token.openid,
                unionid,
            }),
            phone: None,
            profile,
        }))
    }
}

/// The code a browser came back with, well formed and seen here for the first time (on every
/// replica: a replay is refused before anyone is asked about it); `None` when there is none,
/// which is how a person who declined comes back. The gateway has already checked and
/// consumed the flow's `state`.
pub async fn callback_code<'a>(
    call: &'a Call<'_>,
    seen: &dyn SharedState,
    appid: &str,
) -> Result<Option<&'a str>, ProviderError> {
    let Some(code) = call.param("code")? else {
        return Ok(None);
    };
    check_code("code", code)?;
    if !first_sight(seen, appid, code).await? {
        return Err(ProviderError::InvalidCode);
    }
    Ok(Some(code))
}

/// Keeps user-chosen display facts only in a safe, bounded shape: a nickname without control
/// characters, an http(s) avatar URL of visible ASCII.
pub fn display_profile(nickname: &str, avatar: &str) -> Option<Profile> {
    let nickname: String = nickname
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NICKNAME_CHARS)
        .collect::<String>()
        .trim()
        .to_string();
    let avatar_ok = avatar.len() <= MAX_AVATAR_LEN
        && (avatar.starts_with("https://") || avatar.starts_with("http://"))
        && avatar.bytes().all(|b| b.is_ascii_graphic());
    let profile = Profile {
        nickname: (!nickname.is_empty()).then_some(nickname),
        avatar_url: avatar_ok.then(|| avatar.to_string()),
    };
    (profile.nickname.is_some() || profile.avatar_url.is_some()).then_some(profile)
}

#[async_trait]
impl LoginProvider for WebOAuth {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> &'static str {
        self.page.kind
    }

    fn endpoints(&self) -> &[Endpoint] {
        ENDPOINTS
    }

    async fn handle(&self, call: Call<'_>) -> Result<Reply, ProviderError> {
        match call.action {
            "authorize" => {
                let state = call.cx.state.ok_or_else(|| {
                    ProviderError::Misconfigured("authorize called without a state".into())
                })?;
                Ok(Reply::Redirect {
                    location: self.page_url(call.cx.callback_url, state),
                })
            }
            "callback" => self.callback(&call).await,
            other => Err(ProviderError::InvalidRequest(format!(
                "no action {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Context;
    use crate::shared_state::memory::MemoryState;
    use crate::wechat::client::http_client;
    use std::time::Duration;
    use wxgate_core::secret::Secret;

    fn channel(url: &str, scope: &'static str) -> WebOAuth {
        let client = WechatClient::new(
            http_client(Duration::from_secs(1)),
            "http://127.0.0.1:1",
            "wx0000000000000002",
            Secret::new("s"),
        );
        WebOAuth::new(
            "oa",
            Page {
                kind: "wechat_official_account",
                url: url.into(),
                scope,
            },
            client,
            Arc::new(MemoryState::default()),
        )
    }

    #[tokio::test]
    async fn authorize_builds_wechats_url_from_the_configured_callback() {
        let oa = channel(
            "https://open.weixin.qq.com/connect/oauth2/authorize",
            "snsapi_userinfo",
        );
        let reply = oa
            .handle(Call {
                action: "authorize",
                body: b"",
                query: &[],
                raw_query: "",
                session: None,
                cx: Context {
                    callback_url: "https://gw.example.com/_auth/oa/callback",
                    state: Some("Abc123"),
                    client_ip: None,
                    client_network: None,
                    ticket: None,
                    public_origin: "",
                    client_app: Default::default(),
                },
            })
            .await
            .unwrap();
        assert_eq!(
            reply,
            Reply::Redirect {
                location:
                    "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx0000000000000002\
                    &redirect_uri=https%3A%2F%2Fgw.example.com%2F_auth%2Foa%2Fcallback\
                    &response_type=code&scope=snsapi_userinfo&state=Abc123#wechat_redirect"
                        .into()
            }
        );
    }

    #[tokio::test]
    async fn a_callback_without_a_code_is_a_refusal_and_a_bad_code_never_leaves() {
        let oa = channel(
            "https://open.weixin.qq.com/connect/qrconnect",
            "snsapi_login",
        );
        let call = |query: &'static [(String, String)]| Call {
            action: "callback",
            body: b"",
            query,
            raw_query: "",
            session: None,
            cx: Context::default(),
        };
        assert_eq!(
            oa.handle(call(&[])).await.unwrap(),
            Reply::Interrupted(Interruption::Declined)
        );
        let bad: &'static [(String, String)] =
            Box::leak(Box::new([("code".to_string(), "a b".to_string())]));
        assert!(matches!(
            oa.handle(call(bad)).await,
            Err(ProviderError::InvalidRequest(_))
        ));
    }

    #[test]
    fn display_facts_are_bounded_and_cleaned() {
        let p = display_profile("  Band\u{7}\n ", "https://thirdwx.qlogo.cn/x/132").unwrap();
        assert_eq!(p.nickname.as_deref(), Some("Band"));
        assert_eq!(
            p.avatar_url.as_deref(),
            Some("https://thirdwx.qlogo.cn/x/132")
        );
        let p = display_profile(&"长".repeat(100), "javascript:alert(1)").unwrap();
        assert_eq!(p.nickname.unwrap().chars().count(), MAX_NICKNAME_CHARS);
        assert_eq!(p.avatar_url, None);
        assert_eq!(display_profile("", "http://x/ y"), None);
    }
}
