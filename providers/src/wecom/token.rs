//! The app's corp token (`gettoken`), a [`Leased`] credential under `wecom:{corp}:{agent}`:
//! one fetch across replicas, never one per login.

use crate::provider::ProviderError;
use crate::wechat::leased::{Leased, TokenLease};
use crate::wechat::{WechatClient, WxError};
use std::sync::Arc;
use wxgate_core::clock::SharedClock;
use wxgate_core::secret::Secret;

pub struct CorpTokenCache {
    client: WechatClient,
    leased: Leased,
}

impl CorpTokenCache {
    pub fn new(
        client: WechatClient,
        agent_id: i64,
        lease: Arc<dyn TokenLease>,
        clock: SharedClock,
    ) -> Self {
        let key = format!("wecom:{}:{agent_id}", client.appid());
        Self {
            client,
            leased: Leased::new(key, lease, clock),
        }
    }

    async fn acquire(&self, rejected: Option<&Secret>) -> Result<Secret, ProviderError> {
        self.leased
            .acquire(rejected, |_| async move {
                let fetched = self
                    .client
                    .corp_token()
                    .await
                    .map_err(|e| super::errors::mapped(e, "/cgi-bin/gettoken"))?;
                Ok((fetched.access_token, fetched.expires_in))
            })
            .await
    }

    /// Runs `call` with a valid token; when WeCom calls it invalid or expired (40014, 42001),
    /// replaces it once and runs `call` again, whose own answer then stands (40001 is a wrong
    /// secret in WeCom, not a stale token: it is never retried).
    pub async fn with_token<T, F, Fut>(&self, call: F) -> Result<Result<T, WxError>, ProviderError>
    where
        F: Fn(Secret) -> Fut,
        Fut: std::future::Future<Output = Result<T, WxError>>,
    {
        let token = self.acquire(None).await?;
        match call(token.clone()).await {
            Err(WxError::Api {
                errcode: 40014 | 42001,
            }) => {
                tracing::info!(
                    corp = self.client.appid(),
                    "corp token rejected; replacing it once"
                );
                let token = self.acquire(Some(&token)).await?;
                Ok(call(token).await)
            }
            other => Ok(other),
        }
    }
}
