//! The interface `access_token` (from `/cgi-bin/stable_token`) and an official account's
//! `jsapi_ticket` (from `/cgi-bin/ticket/getticket`, which itself takes the access_token), each
//! a [`Leased`] credential: one fetcher across replicas.

use super::client::{WechatClient, WxError};
use super::leased::{Leased, TokenLease};
use crate::provider::ProviderError;
use std::sync::Arc;
use wxgate_core::clock::SharedClock;
use wxgate_core::secret::Secret;

/// The interface access_token of one app.
pub struct AccessTokenCache {
    client: WechatClient,
    leased: Leased,
}

impl AccessTokenCache {
    pub fn new(client: WechatClient, lease: Arc<dyn TokenLease>, clock: SharedClock) -> Self {
        let key = client.appid().to_string();
        Self {
            client,
            leased: Leased::new(key, lease, clock),
        }
    }

    /// A valid token: this process's, else the shared one, else one fetched by exactly one
    /// caller across replicas.
    pub async fn get(&self) -> Result<Secret, ProviderError> {
        self.acquire(None).await
    }

    /// WeChat called `rejected` invalid (40001/40014/42001). A forced refresh revokes the
    /// previous token everywhere, so it is only asked for when `rejected` is still the newest
    /// shared token; when another replica has already replaced it, that replacement is used.
    pub async fn replace_rejected(&self, rejected: &Secret) -> Result<Secret, ProviderError> {
        self.acquire(Some(rejected)).await
    }

    /// Runs `call` with a valid token; when WeChat calls that token invalid (40001, 40014,
    /// 42001), replaces it once and runs `call` again. The outer error is getting a token; the
    /// inner result is WeChat's answer.
    pub async fn with_token<T, F, Fut>(&self, call: F) -> Result<Result<T, WxError>, ProviderError>
    where
        F: Fn(Secret) -> Fut,
        Fut: std::future::Future<Output = Result<T, WxError>>,
    {
        let token = self.get().await?;
        match call(token.clone()).await {
            Err(WxError::Api {
                errcode: 40001 | 40014 | 42001,
            }) => {
                tracing::info!(
                    appid = self.client.appid(),
                    "access_token rejected; replacing it once"
                );
                let token = self.replace_rejected(&token).await?;
                Ok(call(token).await)
            }
            other => Ok(other),
        }
    }

    async fn acquire(&self, rejected: Option<&Secret>) -> Result<Secret, ProviderError> {
        let appid = self.client.appid();
        self.leased
            .acquire(rejected, |force| async move {
                if force {
                    tracing::info!(
                        appid,
                        "access_token rejected and still the newest: forcing a new one"
                    );
                }
                let fetched = self
                    .client
                    .stable_token(force)
                    .await
                    .map_err(|e| e.into_provider_error("/cgi-bin/stable_token"))?;
                Ok((fetched.access_token, fetched.expires_in))
            })
            .await
    }
}

/// An official account's `jsapi_ticket` (JS-SDK signatures), under the lease key
/// `{appid}#jsapi_ticket`.
pub struct JsapiTicketCache {
    client: WechatClient,
    tokens: Arc<AccessTokenCache>,
    leased: Leased,
}

impl JsapiTicketCache {
    pub fn new(
        client: WechatClient,
        tokens: Arc<AccessTokenCache>,
        lease: Arc<dyn TokenLease>,
        clock: SharedClock,
    ) -> Self {
        let key = format!("{}#jsapi_ticket", client.appid());
        Self {
            client,
            tokens,
            leased: Leased::new(key, lease, clock),
        }
    }

    /// A valid ticket, fetched by one caller across replicas when none is.
    pub async fn get(&self) -> Result<Secret, ProviderError> {
        self.leased
            .acquire(None, |_| async move {
                self.tokens
                    .with_token(
                        |token| async move { self.client.jsapi_ticket(token.expose()).await },
                    )
                    .await?
                    .map_err(|e| e.into_provider_error("/cgi-bin/ticket/getticket"))
            })
            .await
    }
}
