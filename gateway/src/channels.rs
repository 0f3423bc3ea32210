//! The login channels: built from the config, served under `{auth_prefix}/{channel}/{action}`.
//! A channel verifies facts; this module hands them to the identity core and answers.

use crate::endpoints::{authenticate, login_response, note_revoked, read_body, user_json};
use crate::rescue::{write_json, ApiError};
use crate::state::Gateway;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::proxy::Session;
use std::collections::HashMap;
use std::sync::Arc;
use wxgate_core::identity::LoginAttempt;
use wxgate_core::secret::Secret;
use wxgate_core::store::{wechat_tokens, Db};
use wxgate_providers::provider::{Call, LoginProvider, ProviderError, Reply, SessionFacts};

pub type Channels = HashMap<String, Arc<dyn LoginProvider>>;

/// The shared database as the providers' access_token store.
pub struct DbTokenLease(pub Db);

#[async_trait]
impl wxgate_providers::wechat::TokenLease for DbTokenLease {
    async fn load(&self, appid: &str) -> Result<Option<(Secret, i64)>, String> {
        wechat_tokens::load(&self.0, appid)
            .await
            .map(|o| o.map(|(t, e)| (Secret::new(t), e)))
            .map_err(|e| e.to_string())
    }

    async fn try_lease(
        &self,
        appid: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, String> {
        wechat_tokens::try_lease(&self.0, appid, owner, now_ms, until_ms)
            .await
            .map_err(|e| e.to_string())
    }

    async fn store(&self, appid: &str, token: &Secret, expires_at_ms: i64) -> Result<(), String> {
        wechat_tokens::store(&self.0, appid, token.expose(), expires_at_ms)
            .await
            .map_err(|e| e.to_string())
    }

    async fn invalidate(&self, appid: &str, token: &Secret) -> Result<(), String> {
        wechat_tokens::invalidate(&self.0, appid, token.expose())
            .await
            .map_err(|e| e.to_string())
    }
}

/// The shared database as the mini-program session_key store, sealed with the vault key.
pub struct DbSessionKeys {
    pub db: Db,
    pub tokens: Arc<wxgate_core::token::TokenService>,
}

#[async_trait]
impl wxgate_providers::wechat::SessionKeyVault for DbSessionKeys {
    async fn put(&self, appid: &str, openid: &str, session_key: &Secret) -> Result<(), String> {
        let context = format!("{appid}/{openid}");
        let sealed = self
            .tokens
            .seal(session_key, &context)
            .ok_or("no vault key to seal with")?;
        let now = self.tokens.clock().now_ms();
        wechat_tokens::put_session_key(&self.db, appid, openid, &sealed, now)
            .await
            .map_err(|e| e.to_string())
    }

    async fn get(&self, appid: &str, openid: &str) -> Result<Option<Secret>, String> {
        let sealed = wechat_tokens::session_key(&self.db, appid, openid)
            .await
            .map_err(|e| e.to_string())?;
        Ok(sealed.and_then(|s| self.tokens.unseal(&s, &format!("{appid}/{openid}"))))
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::InvalidRequest(m) => ApiError::invalid_request(m),
            ProviderError::InvalidCode => ApiError::new(
                401,
                "invalid_code",
                "the code is invalid, expired or already used",
            ),
            ProviderError::LoginBlocked => ApiError::new(
                403,
                "login_blocked",
                "WeChat's risk control blocked this login",
            ),
            ProviderError::RateLimited { retry_after } => {
                let mut a = ApiError::new(429, "rate_limited", "too many attempts, slow down");
                a.retry_after = Some(retry_after);
                a
            }
            ProviderError::Unavailable(detail) => {
                tracing::warn!(detail = %detail, "wechat unavailable");
                ApiError::new(
                    502,
                    "upstream_unavailable",
                    "WeChat is unavailable, try again",
                )
            }
            ProviderError::Misconfigured(detail) => {
                tracing::error!(detail = %detail, "channel misconfigured");
                ApiError::internal()
            }
            ProviderError::Unauthorized => {
                ApiError::unauthorized("a session of this channel is required")
            }
        }
    }
}

/// Handles `{channel}/{action}`; `Ok(false)` when no channel has that id.
pub async fn handle(
    g: &Gateway,
    session: &mut Session,
    channel: &str,
    action: &str,
) -> Result<bool, ApiError> {
    let Some(provider) = g.channels.get(channel).cloned() else {
        return Ok(false);
    };
    let method = session.req_header().method.as_str().to_string();
    let Some(endpoint) = provider.endpoints().iter().find(|e| e.action == action) else {
        return Err(ApiError::invalid_request(format!(
            "channel {channel:?} ({}) has no {action:?} endpoint",
            provider.kind()
        )));
    };
    if endpoint.method != method {
        return Err(ApiError::new(
            405,
            "method_not_allowed",
            format!("use {}", endpoint.method),
        ));
    }
    let facts = if endpoint.needs_session {
        let claims = authenticate(g, session)?;
        Some(SessionFacts {
            user_id: claims.sub.clone(),
            channel: claims.chn.clone(),
            openid: claims.oid.clone(),
        })
    } else {
        None
    };
    let body = read_body(session).await?;
    let query = session.req_header().uri.query().map(str::to_string);
    let outcome = provider
        .handle(Call {
            action,
            body: &body,
            query: query.as_deref(),
            session: facts.as_ref(),
        })
        .await;
    let reply = match outcome {
        Ok(reply) => reply,
        Err(e) => {
            g.metrics
                .logins
                .with_label_values(&[channel, error_label(&e)])
                .inc();
            return Err(e.into());
        }
    };
    let body = match reply {
        Reply::Login(v) => {
            let attempt = LoginAttempt {
                channel: channel.to_string(),
                wechat: v.wechat,
                verified_phone: v.phone,
                profile: v.profile,
            };
            let grant = g.auth.login(&attempt).await.inspect_err(|e| {
                g.metrics
                    .logins
                    .with_label_values(&[channel, core_label(e)])
                    .inc();
            })?;
            note_revoked(g, &grant.revoked_sessions);
            g.metrics.logins.with_label_values(&[channel, "ok"]).inc();
            login_response(&grant)
        }
        Reply::Bind(v) => {
            let attempt = LoginAttempt {
                channel: channel.to_string(),
                wechat: v.wechat,
                verified_phone: v.phone,
                profile: v.profile,
            };
            let outcome = g.auth.resolver().resolve(&attempt).await?;
            note_revoked(g, &outcome.revoked_sessions);
            Bytes::from(
                serde_json::json!({ "user": user_json(&outcome.user, outcome.is_new) }).to_string(),
            )
        }
    };
    write_json(session, 200, body, &[])
        .await
        .map_err(|_| ApiError::internal())?;
    Ok(true)
}

fn error_label(e: &ProviderError) -> &'static str {
    match e {
        ProviderError::InvalidRequest(_) => "invalid_request",
        ProviderError::InvalidCode => "invalid_code",
        ProviderError::LoginBlocked => "login_blocked",
        ProviderError::RateLimited { .. } => "rate_limited",
        ProviderError::Unavailable(_) => "upstream_unavailable",
        ProviderError::Misconfigured(_) => "internal",
        ProviderError::Unauthorized => "unauthorized",
    }
}

fn core_label(e: &wxgate_core::error::CoreError) -> &'static str {
    use wxgate_core::error::CoreError;
    match e {
        CoreError::PhoneConflict { .. } => "phone_conflict",
        CoreError::StorageUnavailable(_) | CoreError::Contention => "storage_unavailable",
        _ => "internal",
    }
}
