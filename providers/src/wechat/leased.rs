//! One credential WeChat rate-limits per day (an access_token, a jsapi_ticket, a WeCom corp
//! token), shared by every replica: cached until shortly before expiry, and fetched by one
//! caller at a time per key: in this process a mutex makes concurrent callers wait for the one
//! fetch; across replicas a lease row in the shared database (behind [`TokenLease`],
//! implemented by the gateway) elects the fetcher, and the others read what it stored.

use crate::provider::ProviderError;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use wxgate_core::clock::SharedClock;
use wxgate_core::secret::Secret;

/// Shared storage of credentials and fetch leases, by key (an appid for its access_token,
/// `{appid}#jsapi_ticket`; at most 64 bytes). Errors are strings for the log: a failing store
/// degrades to fetching without coordination, never to a failed login.
#[async_trait]
pub trait TokenLease: Send + Sync + 'static {
    /// The stored credential and its expiry (ms), if any.
    async fn load(&self, key: &str) -> Result<Option<(Secret, i64)>, String>;
    /// Takes the fetch lease until `until_ms` unless another owner holds a live one.
    async fn try_lease(
        &self,
        key: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, String>;
    /// Stores a fresh credential and releases the lease.
    async fn store(&self, key: &str, token: &Secret, expires_at_ms: i64) -> Result<(), String>;
}

/// Refresh this long before WeChat's expiry (the platform itself renews 5 minutes early).
const MARGIN_MS: i64 = 300_000;
/// How long a fetch lease lasts: longer than one bounded fetch with retries.
const LEASE_MS: i64 = 10_000;
/// How long a caller waits for another's fetch: past the lease's own end, so a waiter never
/// gives up (and fetches again) while a slow fetch may still store its token.
const WAIT_MS: i64 = LEASE_MS + 2_000;

/// One credential under one lease key: this process's copy, the shared copy, and the lease.
pub(crate) struct Leased {
    key: String,
    lease: Arc<dyn TokenLease>,
    clock: SharedClock,
    owner: String,
    local: tokio::sync::Mutex<Option<(Secret, i64)>>,
}

impl Leased {
    pub(crate) fn new(key: String, lease: Arc<dyn TokenLease>, clock: SharedClock) -> Self {
        Self {
            key,
            lease,
            clock,
            owner: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
            local: tokio::sync::Mutex::new(None),
        }
    }

    /// A credential of `cached` that is not about to expire and is not `rejected`.
    fn usable(&self, cached: &Option<(Secret, i64)>, rejected: Option<&Secret>) -> Option<Secret> {
        let now = self.clock.now_ms();
        cached
            .as_ref()
            .filter(|(t, exp)| exp - MARGIN_MS > now && Some(t) != rejected)
            .map(|(t, _)| t.clone())
    }

    /// A valid credential: this process's, else the shared one, else one `fetch`ed (given
    /// whether it replaces a rejected one; answering the credential and its lifetime in
    /// seconds) by exactly one caller across replicas.
    pub(crate) async fn acquire<F, Fut>(
        &self,
        rejected: Option<&Secret>,
        fetch: F,
    ) -> Result<Secret, ProviderError>
    where
        F: FnOnce(bool) -> Fut,
        Fut: std::future::Future<Output = Result<(Secret, i64), ProviderError>>,
    {
        let mut local = self.local.lock().await;
        if let Some(t) = self.usable(&local, rejected) {
            return Ok(t);
        }
        let key = self.key.as_str();
        let deadline = self.clock.now_ms() + WAIT_MS;
        // Another replica may hold a good one, or be fetching it right now.
        loop {
            match self.lease.load(key).await {
                Ok(stored) => {
                    if let Some(t) = self.usable(&stored, rejected) {
                        *local = stored;
                        return Ok(t);
                    }
                }
                Err(e) => {
                    tracing::warn!(key, error = %e, "credential store unavailable; fetching directly");
                    break;
                }
            }
            let now = self.clock.now_ms();
            match self
                .lease
                .try_lease(key, &self.owner, now, now + LEASE_MS)
                .await
            {
                Ok(true) => {
                    // The previous holder may have stored a good one (and released the lease)
                    // between our read and our lease: use it rather than fetch again.
                    if let Ok(stored) = self.lease.load(key).await {
                        if let Some((t, expires_at)) = stored.clone() {
                            if self.usable(&stored, rejected).is_some() {
                                // Releases the lease, changing nothing else.
                                let _ = self.lease.store(key, &t, expires_at).await;
                                *local = stored;
                                return Ok(t);
                            }
                        }
                    }
                    break;
                }
                Ok(false) if now < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
                Ok(false) => {
                    tracing::warn!(key, "the fetch lease outlived its holder; fetching");
                    break;
                }
                Err(e) => {
                    tracing::warn!(key, error = %e, "fetch lease unavailable; fetching directly");
                    break;
                }
            }
        }
        let (fetched, expires_in) = fetch(rejected.is_some()).await?;
        let expires_at = self.clock.now_ms() + expires_in.max(0) * 1000;
        if let Err(e) = self.lease.store(key, &fetched, expires_at).await {
            tracing::warn!(key, error = %e, "could not share the credential");
        }
        *local = Some((fetched.clone(), expires_at));
        Ok(fetched)
    }
}
