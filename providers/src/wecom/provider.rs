//! A WeCom self-built app's sign-in: from a desktop the web SSO page (a code scanned with the
//! WeCom app), inside WeCom its in-app OAuth page; both come back to `callback` with a code,
//! which `auth/getuserinfo` turns into a member of the corp. The member is (corp_id, userid):
//! two corps' `zhangsan` are two people. Someone outside the corp is refused, and nothing is
//! created.

use super::config::{Config, Scope};
use super::errors::mapped;
use super::token::CorpTokenCache;
use crate::provider::{
    Call, ClientApp, Endpoint, Interruption, LoginProvider, ProviderError, Reply, Step, Verified,
};
use crate::registry::ProviderDeps;
use crate::shared_state::SharedState;
use crate::wechat::web_oauth::{callback_code, display_profile};
use crate::wechat::{WechatClient, WxError};
use async_trait::async_trait;
use std::sync::Arc;
use wxgate_core::model::{Phone, WechatIdentity};
use wxgate_core::phone::Region;

const ENDPOINTS: &[Endpoint] = &[
    Endpoint::new("GET", "authorize", Step::BrowserStart),
    Endpoint::new("GET", "callback", Step::BrowserCallback),
];

/// WeCom's bound on a userid.
const MAX_USERID: usize = 64;

pub struct Wecom {
    id: String,
    agent_id: i64,
    scope: Scope,
    trust_mobile: bool,
    login_base: String,
    open_base: String,
    client: WechatClient,
    tokens: CorpTokenCache,
    /// Codes already submitted, on every replica.
    seen: Arc<dyn SharedState>,
}

impl Wecom {
    pub fn new(config: &Config, deps: &ProviderDeps) -> Self {
        let client = WechatClient::new(
            deps.http.clone(),
            &config.api_base,
            &config.corp_id,
            config.secret.clone(),
        );
        Self {
            id: config.id.clone(),
            agent_id: config.agent_id,
            scope: config.scope,
            trust_mobile: config.trust_mobile,
            login_base: config.login_base.trim_end_matches('/').to_string(),
            open_base: config.open_base.trim_end_matches('/').to_string(),
            tokens: CorpTokenCache::new(
                client.clone(),
                config.agent_id,
                deps.token_lease.clone(),
                deps.clock.clone(),
            ),
            client,
            seen: deps.shared_state.clone(),
        }
    }

    /// The page the browser is sent to: inside WeCom its in-app OAuth, elsewhere the SSO page.
    /// `redirect_uri` is the gateway's configured callback, never a request header.
    fn page_url(&self, client_app: ClientApp, callback_url: &str, state: &str) -> String {
        let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let corp = enc(self.client.appid());
        match client_app {
            ClientApp::Wecom => format!(
                "{}/connect/oauth2/authorize?appid={corp}&redirect_uri={}&response_type=code&scope={}&state={}&agentid={}#wechat_redirect",
                self.open_base,
                enc(callback_url),
                self.scope.as_str(),
                enc(state),
                self.agent_id,
            ),
            ClientApp::Browser | ClientApp::Wechat => format!(
                "{}/wwlogin/sso/login?login_type=CorpApp&appid={corp}&agentid={}&redirect_uri={}&state={}",
                self.login_base,
                self.agent_id,
                enc(callback_url),
                enc(state),
            ),
        }
    }

    async fn callback(&self, call: &Call<'_>) -> Result<Reply, ProviderError> {
        let Some(code) = callback_code(call, self.seen.as_ref(), self.client.appid()).await? else {
            return Ok(Reply::Interrupted(Interruption::Declined));
        };
        let path = "/cgi-bin/auth/getuserinfo";
        let login = match self
            .tokens
            .with_token(|token| async move { self.client.corp_login(token.expose(), code).await })
            .await?
        {
            Ok(login) => login,
            Err(WxError::Api { errcode: 60011 }) => {
                tracing::info!(channel = %self.id, "member outside the app's visibility");
                return Ok(Reply::Interrupted(Interruption::NotPermitted));
            }
            Err(e) => return Err(mapped(e, path)),
        };
        let Some(userid) = login.userid.as_deref().filter(|u| !u.is_empty()) else {
            if login.openid.is_some() || login.external_userid.is_some() {
                tracing::info!(channel = %self.id, "someone outside the corp refused");
                return Ok(Reply::Interrupted(Interruption::NotAMember));
            }
            return Err(ProviderError::Unavailable(format!("{path}: no userid")));
        };
        if userid.len() > MAX_USERID || userid.chars().any(char::is_control) {
            return Err(ProviderError::Unavailable(format!(
                "{path}: malformed userid"
            )));
        }
        let (phone, profile) = match &login.user_ticket {
            Some(ticket) if self.scope == Scope::SnsapiPrivateinfo => self.private(ticket).await,
            _ => (None, None),
        };
        Ok(Reply::BrowserLogin(Verified {
            wechat: Some(WechatIdentity {
                appid: self.client.appid().to_string(),
                // WeCom userids are case-insensitive within their corp.
                openid: userid.to_ascii_lowercase(),
                unionid: None,
            }),
            phone,
            profile,
        }))
    }

    /// The member's private fields: the mobile (a verified phone only with `trust_mobile`) and
    /// the avatar. For display and joining only: the login does not depend on them.
    async fn private(
        &self,
        ticket: &wxgate_core::secret::Secret,
    ) -> (Option<Phone>, Option<wxgate_core::model::Profile>) {
        let detail = match self
            .tokens
            .with_token(|token| async move {
                self.client.corp_member_detail(token.expose(), ticket).await
            })
            .await
        {
            Ok(Ok(detail)) => detail,
            Ok(Err(e)) => {
                tracing::warn!(channel = %self.id, error = %e, "getuserdetail failed; no private fields");
                return (None, None);
            }
            Err(e) => {
                tracing::warn!(channel = %self.id, error = %e, "no corp token for getuserdetail");
                return (None, None);
            }
        };
        let phone = match (self.trust_mobile, detail.mobile.trim()) {
            (true, mobile) if !mobile.is_empty() => match Phone::parse(mobile, Region::CN) {
                Ok(parsed) => Some(parsed.phone),
                Err(e) => {
                    tracing::info!(channel = %self.id, error = %e, "the member's mobile does not parse; not used");
                    None
                }
            },
            _ => None,
        };
        (phone, display_profile("", &detail.avatar))
    }
}

#[async_trait]
impl LoginProvider for Wecom {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> &'static str {
        <Config as crate::kind::Kind>::NAME
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
                    location: self.page_url(call.cx.client_app, call.cx.callback_url, state),
                })
            }
            "callback" => self.callback(&call).await,
            other => Err(ProviderError::InvalidRequest(format!(
                "no action {other:?}"
            ))),
        }
    }
}
