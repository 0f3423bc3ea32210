//! The gateway's own tokens: access JWTs (HS256, verified only by the gateway), assertions
//! (ES256, verified by upstreams with the JWKS), and opaque rotating refresh tokens.

mod access;
mod assertion;
pub mod keys;
mod refresh;
#[cfg(test)]
mod tests;
mod vault;

pub use access::{AccessClaims, TokenError, ACCESS_AUDIENCE};
pub use assertion::AssertionClaims;
pub use refresh::{RefreshGrant, Rotation, SessionRecord, Sessions, REFRESH_GRACE};

use crate::clock::SharedClock;
use crate::error::CoreResult;
use keys::KeySet;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Signs and verifies access tokens and assertions with the keys of `keys_dir`.
pub struct TokenService {
    issuer: String,
    access_ttl: Duration,
    assertion_ttl: Duration,
    keys_dir: PathBuf,
    keys: RwLock<Arc<KeySet>>,
    /// Verification state derived from the keys (decoding keys, the pinned `Validation`),
    /// built once per key set rather than per request.
    verifier: RwLock<Arc<access::Verifier>>,
    /// Tokens already verified, keyed by the SHA-256 of the whole token: a token is typically
    /// presented many times in its life. Times and revocation are still checked on every hit.
    /// Each entry remembers the key-set generation it was verified under: an entry from before
    /// a reload (even one inserted while the reload ran) is verified again.
    verified: moka::sync::Cache<[u8; 32], (Arc<AccessClaims>, u64)>,
    /// Bumped by every reload that changes the keys, after the new verifier is in place.
    key_generation: std::sync::atomic::AtomicU64,
    clock: SharedClock,
}

impl TokenService {
    /// Loads (or, on first start, creates) the keys in `keys_dir`.
    pub fn open(
        issuer: String,
        access_ttl: Duration,
        keys_dir: PathBuf,
        clock: SharedClock,
    ) -> CoreResult<Self> {
        let keys = KeySet::load_or_create(&keys_dir, clock.now_ms())?;
        let verifier = access::Verifier::new(&keys, &issuer);
        Ok(Self {
            issuer,
            access_ttl,
            assertion_ttl: Duration::from_secs(60),
            keys_dir,
            keys: RwLock::new(Arc::new(keys)),
            verifier: RwLock::new(Arc::new(verifier)),
            verified: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
            key_generation: std::sync::atomic::AtomicU64::new(0),
            clock,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    pub fn assertion_ttl(&self) -> Duration {
        self.assertion_ttl
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The keys in force. Cheap: an uncontended read lock and an `Arc` clone.
    pub fn keys(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads `keys_dir`, picking up a rotation made by another process.
    pub fn reload(&self) -> CoreResult<bool> {
        let fresh = KeySet::load(&self.keys_dir)?;
        let current = self.keys();
        // Every key id, not just the signing ones: an operator deleting a compromised previous
        // key must see it stop verifying without a restart.
        let ids = |k: &KeySet| {
            (
                k.access.iter().map(|x| x.kid.clone()).collect::<Vec<_>>(),
                k.assertion
                    .iter()
                    .map(|x| x.kid.clone())
                    .collect::<Vec<_>>(),
                k.vault.iter().map(|x| x.kid.clone()).collect::<Vec<_>>(),
            )
        };
        let changed = ids(&fresh) != ids(&current);
        if changed {
            let verifier = access::Verifier::new(&fresh, &self.issuer);
            {
                let mut guard = match self.verifier.write() {
                    Ok(guard) => guard,
                    Err(poisoned) => poisoned.into_inner(),
                };
                *guard = Arc::new(verifier);
            }
            let mut guard = match self.keys.write() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            *guard = Arc::new(fresh);
            drop(guard);
            // A key may have left the set: nothing verified under the old set is trusted.
            self.key_generation
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.verified.invalidate_all();
        }
        Ok(changed)
    }

    pub fn jwks(&self) -> serde_json::Value {
        self.keys().jwks()
    }
}
