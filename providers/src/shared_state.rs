//! Short-lived state that every replica sees (codes already used, later SMS codes and send
//! limits). The gateway implements this trait over the shared database; a channel sees only the
//! trait, never the store.

use crate::provider::ProviderError;
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::time::Duration;

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
    ) -> Result<bool, String>;
    /// Removes the live entry and returns its value; exactly one caller gets it.
    async fn take(&self, ns: &'static str, key: &str) -> Result<Option<String>, String>;
    /// Counts one event under `(ns, key)`; returns how many the current window holds.
    async fn hit(&self, ns: &'static str, key: &str, window: Duration) -> Result<u64, String>;
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
    let mut hasher = Sha256::new();
    hasher.update(appid.as_bytes());
    hasher.update(b"\0");
    hasher.update(code.as_bytes());
    let key = hex(&hasher.finalize());
    state
        .put_if_absent("wx_code_seen", &key, "1", SEEN_TTL)
        .await
        .map_err(ProviderError::Storage)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A [`SharedState`] in one process's memory, for unit tests of channels.
#[cfg(test)]
pub(crate) mod memory {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Default)]
    pub(crate) struct MemoryState(pub(crate) Mutex<HashMap<(String, String), (String, u64)>>);

    #[async_trait]
    impl SharedState for MemoryState {
        async fn put_if_absent(
            &self,
            ns: &'static str,
            key: &str,
            value: &str,
            _ttl: Duration,
        ) -> Result<bool, String> {
            let mut map = self.0.lock().unwrap();
            let k = (ns.to_string(), key.to_string());
            if map.contains_key(&k) {
                return Ok(false);
            }
            map.insert(k, (value.to_string(), 0));
            Ok(true)
        }

        async fn take(&self, ns: &'static str, key: &str) -> Result<Option<String>, String> {
            let mut map = self.0.lock().unwrap();
            Ok(map
                .remove(&(ns.to_string(), key.to_string()))
                .map(|(v, _)| v))
        }

        async fn hit(&self, ns: &'static str, key: &str, _w: Duration) -> Result<u64, String> {
            let mut map = self.0.lock().unwrap();
            let entry = map
                .entry((ns.to_string(), key.to_string()))
                .or_insert((String::new(), 0));
            entry.1 += 1;
            Ok(entry.1)
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
