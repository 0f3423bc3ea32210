//! The channels' storage traits, implemented over the shared database: WeChat access_tokens
//! and their fetch lease, sealed session_keys, and short-lived state. Channels see only their
//! traits; this module is where they meet the core's store.

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use wxgate_core::secret::Secret;
use wxgate_core::store::short_lived::ShortLived;
use wxgate_core::store::{wechat_tokens, Db};
use wxgate_core::token::TokenService;
use wxgate_providers::shared_state::StoreError;

/// The shared database as the channels' access_token store.
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
}

/// The shared database as the mini-program session_key store, sealed with the vault key.
pub struct DbSessionKeys {
    pub db: Db,
    pub tokens: Arc<TokenService>,
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

/// The shared short-lived store, as the channels see it.
pub struct DbSharedState(pub ShortLived);

fn text(e: wxgate_core::error::CoreError) -> StoreError {
    use wxgate_core::error::CoreError;
    match e {
        CoreError::StorageUnavailable(_) | CoreError::Contention => {
            StoreError::Unavailable(e.to_string())
        }
        other => StoreError::Broken(other.to_string()),
    }
}

#[async_trait]
impl wxgate_providers::shared_state::SharedState for DbSharedState {
    async fn hit_all(
        &self,
        hits: &[(&'static str, &str, Duration)],
    ) -> Result<Vec<u64>, StoreError> {
        let hits: Vec<(&str, &str, Duration)> = hits.iter().map(|(n, k, w)| (*n, *k, *w)).collect();
        self.0.hit_many(&hits).await.map_err(text)
    }

    async fn unhit_all(&self, keys: &[(&'static str, &str)]) -> Result<(), StoreError> {
        let keys: Vec<(&str, &str)> = keys.iter().map(|(n, k)| (*n, *k)).collect();
        self.0.unhit_many(&keys).await.map_err(text)
    }

    async fn put_if_absent(
        &self,
        ns: &'static str,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.0
            .put_if_absent(ns, key, value, ttl)
            .await
            .map_err(text)
    }

    async fn put(
        &self,
        ns: &'static str,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.0.put(ns, key, value, ttl).await.map_err(text)
    }

    async fn get(&self, ns: &'static str, key: &str) -> Result<Option<String>, StoreError> {
        self.0.get(ns, key).await.map_err(text)
    }

    async fn expires_at(&self, ns: &'static str, key: &str) -> Result<Option<i64>, StoreError> {
        self.0.expires_at(ns, key).await.map_err(text)
    }

    async fn take(&self, ns: &'static str, key: &str) -> Result<Option<String>, StoreError> {
        self.0.take(ns, key).await.map_err(text)
    }

    async fn take_if(&self, ns: &'static str, key: &str, value: &str) -> Result<bool, StoreError> {
        self.0.take_if(ns, key, value).await.map_err(text)
    }

    async fn remove(&self, ns: &'static str, key: &str) -> Result<(), StoreError> {
        self.0.remove(ns, key).await.map_err(text)
    }

    async fn hit(&self, ns: &'static str, key: &str, window: Duration) -> Result<u64, StoreError> {
        self.0.hit(ns, key, window).await.map_err(text)
    }

    async fn unhit(&self, ns: &'static str, key: &str) -> Result<(), StoreError> {
        self.0.unhit(ns, key).await.map_err(text)
    }
}

/// The vault keys of `keys_dir` as the channels' MAC.
pub struct VaultMac(pub Arc<TokenService>);

impl wxgate_providers::shared_state::Mac for VaultMac {
    fn mac(&self, data: &[u8]) -> Option<String> {
        self.0.mac(data)
    }

    fn verify(&self, data: &[u8], tag: &str) -> bool {
        self.0.verify_mac(data, tag)
    }
}
