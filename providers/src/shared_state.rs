//! Short-lived state that every replica sees (codes already used, later SMS codes and send
//! limits). The gateway implements this trait over the shared database; a channel sees only the
//! trait, never the store.

use crate::provider::ProviderError;
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Why the shared store failed a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database is down or overloaded: the client may retry (503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else is a bug (500).
    #[error("store failed: {0}")]
    Broken(String),
}

impl From<StoreError> for ProviderError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => ProviderError::Storage(m),
            StoreError::Broken(m) => ProviderError::Internal(m),
        }
    }
}

#[async_trait]
pub trait SharedState: Send + Sync + 'static {
    /// Stores `value` under `(ns, key)` for `ttl` unless a live entry is there; `true` when
    /// this call stored it.
    async fn put_if_absent(
        &self,
        ns: &'static str,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    /// Stores `value` under `(ns, key)` for `ttl`, replacing what was there.
    async fn put(
        &self,
        ns: &'static str,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// The live value, left in place.
    async fn get(&self, ns: &'static str, key: &str) -> Result<Option<String>, StoreError>;
    /// When the live entry expires (ms), if there is one.
    async fn expires_at(&self, ns: &'static str, key: &str) -> Result<Option<i64>, StoreError>;
    /// Removes the live entry and returns its value; exactly one caller gets it.
    async fn take(&self, ns: &'static str, key: &str) -> Result<Option<String>, StoreError>;
    /// Removes the live entry if it still holds `value`; `true` when this call removed it.
    async fn take_if(&self, ns: &'static str, key: &str, value: &str) -> Result<bool, StoreError>;
    /// Removes the entry, whatever it holds.
    async fn remove(&self, ns: &'static str, key: &str) -> Result<(), StoreError>;
    /// Counts one event under `(ns, key)`; returns how many the current window holds.
    async fn hit(&self, ns: &'static str, key: &str, window: Duration) -> Result<u64, StoreError>;
    /// Takes back one event counted by `hit`.
    async fn unhit(&self, ns: &'static str, key: &str) -> Result<(), StoreError>;
    /// `hit` for several distinct keys at once (one round trip where the store can): the
    /// counts in the order given.
    async fn hit_all(
        &self,
        hits: &[(&'static str, &str, Duration)],
    ) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::with_capacity(hits.len());
        for (ns, key, window) in hits {
            out.push(self.hit(ns, key, *window).await?);
        }
        Ok(out)
    }
    /// `unhit` for several keys at once.
    async fn unhit_all(&self, keys: &[(&'static str, &str)]) -> Result<(), StoreError> {
        for (ns, key) in keys {
            self.unhit(ns, key).await?;
        }
        Ok(())
    }
}

/// A keyed MAC under the gateway's secret keys, for short secrets that are checked later but
/// must not rest in a reversible form (SMS codes).
pub trait Mac: Send + Sync + 'static {
    fn mac(&self, data: &[u8]) -> Option<String>;
    /// Constant-time.
    fn verify(&self, data: &[u8], tag: &str) -> bool;
}

/// SHA-256 of `parts` joined by NUL, in hex: a key for the store that holds no client input
/// in clear and cannot be confused across parts.
pub fn key_of(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update(b"\0");
        }
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// How long a WeChat code is remembered as used: longer than any code lives (5 or 10 minutes).
const SEEN_TTL: Duration = Duration::from_secs(15 * 60);

/// Marks a code of `appid` as used, on every replica at once. `Ok(false)`: it was used before
/// (a replay, a double tap, a retried callback) and must not reach WeChat again. Only a hash of
/// the code is stored.
pub async fn first_sight(
    state: &dyn SharedState,
    appid: &str,
    code: &str,
) -> Result<bool, ProviderError> {
    let key = key_of(&[appid, code]);
    state
        .put_if_absent("wx_code_seen", &key, "1", SEEN_TTL)
        .await
        .map_err(ProviderError::from)
}

/// Forgets that a code of `appid` was seen: the call that would have spent it never reached
/// WeChat. A failure only means a retry is refused here, so it is logged, not returned.
pub async fn release(state: &dyn SharedState, appid: &str, code: &str) {
    if let Err(e) = state.remove("wx_code_seen", &key_of(&[appid, code])).await {
        tracing::warn!(error = %e, "could not release a code after a failed exchange");
    }
}

/// A [`SharedState`] in one process's memory, for unit tests of channels.
#[cfg(test)]
pub(crate) mod memory {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Values and counters by (namespace, key); no expiry (tests move no clock here).
    #[derive(Default)]
    pub(crate) struct MemoryState(pub(crate) Mutex<HashMap<(String, String), (String, u64)>>);

    fn k(ns: &str, key: &str) -> (String, String) {
        (ns.to_string(), key.to_string())
    }

    #[async_trait]
    impl SharedState for MemoryState {
        async fn put_if_absent(
            &self,
            ns: &'static str,
            key: &str,
            value: &str,
            _ttl: Duration,
        ) -> Result<bool, StoreError> {
            let mut map = self.0.lock().unwrap();
            if map.contains_key(&k(ns, key)) {
                return Ok(false);
            }
            map.insert(k(ns, key), (value.to_string(), 0));
            Ok(true)
        }

        async fn put(
            &self,
            ns: &'static str,
            key: &str,
            value: &str,
            _: Duration,
        ) -> Result<(), StoreError> {
            self.0
                .lock()
                .unwrap()
                .insert(k(ns, key), (value.to_string(), 0));
            Ok(())
        }

        async fn get(&self, ns: &'static str, key: &str) -> Result<Option<String>, StoreError> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .get(&k(ns, key))
                .map(|(v, _)| v.clone()))
        }

        async fn expires_at(&self, ns: &'static str, key: &str) -> Result<Option<i64>, StoreError> {
            Ok(self.0.lock().unwrap().get(&k(ns, key)).map(|_| i64::MAX))
        }

        async fn take(&self, ns: &'static str, key: &str) -> Result<Option<String>, StoreError> {
            Ok(self.0.lock().unwrap().remove(&k(ns, key)).map(|(v, _)| v))
        }

        async fn take_if(
            &self,
            ns: &'static str,
            key: &str,
            value: &str,
        ) -> Result<bool, StoreError> {
            let mut map = self.0.lock().unwrap();
            if map.get(&k(ns, key)).is_some_and(|(v, _)| v == value) {
                map.remove(&k(ns, key));
                return Ok(true);
            }
            Ok(false)
        }

        async fn remove(&self, ns: &'static str, key: &str) -> Result<(), StoreError> {
            self.0.lock().unwrap().remove(&k(ns, key));
            Ok(())
        }

        async fn hit(&self, ns: &'static str, key: &str, _w: Duration) -> Result<u64, StoreError> {
            let mut map = self.0.lock().unwrap();
            let entry = map.entry(k(ns, key)).or_insert((String::new(), 0));
            entry.1 += 1;
            Ok(entry.1)
        }

        async fn unhit(&self, ns: &'static str, key: &str) -> Result<(), StoreError> {
            if let Some(entry) = self.0.lock().unwrap().get_mut(&k(ns, key)) {
                entry.1 = entry.1.saturating_sub(1);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory::MemoryState;
    use super::*;

    #[tokio::test]
    async fn a_code_is_seen_once_per_app() {
        let state = MemoryState::default();
        assert!(first_sight(&state, "wx1", "abc").await.unwrap());
        assert!(!first_sight(&state, "wx1", "abc").await.unwrap());
        assert!(first_sight(&state, "wx2", "abc").await.unwrap());
        // Nothing of the code itself is kept.
        let stored = state.0.lock().unwrap();
        assert!(stored
            .keys()
            .all(|(_, k)| !k.contains("abc") && k.len() == 64));
    }
}
