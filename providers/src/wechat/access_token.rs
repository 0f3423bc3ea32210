//! The interface `access_token` (for the phone API), fetched from `/cgi-bin/stable_token` and
//! cached until shortly before expiry. One fetch at a time per appid: in this process a mutex
//! makes concurrent callers wait for the one fetch; across replicas a lease row in the shared
//! database (behind [`TokenLease`], implemented by the gateway) elects the fetcher, and the others
//! read the token it stored.

use super::client::WechatClient;
use crate::provider::ProviderError;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use wxgate_core::clock::SharedClock;
use wxgate_core::secret::Secret;

/// Shared storage of access tokens and fetch leases. Errors are strings for the log: a failing
/// store degrades to fetching without coordination, never to a failed login.
#[async_trait]
pub trait TokenLease: Send + Sync + 'static {
    /// The stored token and its expiry (ms), if any.
    async fn load(&self, appid: &str) -> Result<Option<(Secret, i64)>, String>;
    /// Takes the fetch lease until `until_ms` unless another owner holds a live one.
    async fn try_lease(
        &self,
        appid: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, String>;
    /// Stores a fresh token and releases the lease.
    async fn store(&self, appid: &str, token: &Secret, expires_at_ms: i64) -> Result<(), String>;
}

/// Refresh this long before WeChat's expiry (the platform itself renews 5 minutes early).
const MARGIN_MS: i64 = 300_000;
/// How long a fetch lease lasts: longer than one bounded fetch with retries.
const LEASE_MS: i64 = 10_000;
/// How long a caller waits for another's fetch: past the lease's own end, so a waiter never
/// gives up (and fetches again) while a slow fetch may still store its token.
const WAIT_MS: i64 = LEASE_MS + 2_000;

pub struct AccessTokenCache {
    client: WechatClient,
    lease: Arc<dyn TokenLease>,
    clock: SharedClock,
    owner: String,
    local: tokio::sync::Mutex<Option<(Secret, i64)>>,
}

impl AccessTokenCache {
    pub fn new(client: WechatClient, lease: Arc<dyn TokenLease>, clock: SharedClock) -> Self {
        Self {
            client,
            lease,
            clock,
            owner: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
            local: tokio::sync::Mutex::new(None),
        }
    }

    /// A token of `cached` that is not about to expire and is not `rejected`.
    fn usable(&self, cached: &Option<(Secret, i64)>, rejected: Option<&Secret>) -> Option<Secret> {
        let now = self.clock.now_ms();
        cached
            .as_ref()
            .filter(|(t, exp)| exp - MARGIN_MS > now && Some(t) != rejected)
            .map(|(t, _)| t.clone())
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

    async fn acquire(&self, rejected: Option<&Secret>) -> Result<Secret, ProviderError> {
        let mut local = self.local.lock().await;
        if let Some(t) = self.usable(&local, rejected) {
            return Ok(t);
        }
        let appid = self.client.appid().to_string();
        let deadline = self.clock.now_ms() + WAIT_MS;
        // Another replica may hold a good one, or be fetching it right now.
        loop {
            match self.lease.load(&appid).await {
                Ok(stored) => {
                    if let Some(t) = self.usable(&stored, rejected) {
                        *local = stored;
                        return Ok(t);
                    }
                }
                Err(e) => {
                    tracing::warn!(appid, error = %e, "token store unavailable; fetching directly");
                    break;
                }
            }
            let now = self.clock.now_ms();
            match self
                .lease
                .try_lease(&appid, &self.owner, now, now + LEASE_MS)
                .await
            {
                Ok(true) => {
                    // The previous holder may have stored a good token (and released the lease)
                    // between our read and our lease: use it rather than fetch again.
                    if let Ok(stored) = self.lease.load(&appid).await {
                        if let Some((t, expires_at)) = stored.clone() {
                            if self.usable(&stored, rejected).is_some() {
                                // Releases the lease, changing nothing else.
                                let _ = self.lease.store(&appid, &t, expires_at).await;
                                *local = stored;
                                return Ok(t);
                            }
                        }
                    }
                    break;
                }
                Ok(false) if now < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
                Ok(false) => {
                    tracing::warn!(
                        appid,
                        "the access_token lease outlived its holder; fetching"
                    );
                    break;
                }
                Err(e) => {
                    tracing::warn!(appid, error = %e, "token lease unavailable; fetching directly");
                    break;
                }
            }
        }
        let force = rejected.is_some();
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
        let expires_at = self.clock.now_ms() + fetched.expires_in.max(0) * 1000;
        if let Err(e) = self
            .lease
            .store(&appid, &fetched.access_token, expires_at)
            .await
        {
            tracing::warn!(appid, error = %e, "could not share the access_token");
        }
        *local = Some((fetched.access_token.clone(), expires_at));
        Ok(fetched.access_token)
    }
}
