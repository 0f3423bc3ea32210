//! The gateway's own tokens: access JWTs (HS256, verified only by the gateway), assertions
//! (ES256, verified by upstreams with the JWKS), and opaque rotating refresh tokens.

mod access;
mod assertion;
pub mod keys;
mod refresh;
#[cfg(test)]
mod tests;
mod vault;
mod verified;

pub use access::{AccessClaims, TokenError, ACCESS_AUDIENCE};
pub use assertion::AssertionClaims;
pub use refresh::{RefreshGrant, Rotation, SessionRecord, Sessions, REFRESH_GRACE};
pub use verified::VerifiedToken;

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
    /// Tokens already verified, keyed by their signature segment and compared whole on a hit:
    /// a token is typically presented many times in its life. Times and revocation are still
    /// checked on every hit. Each entry remembers the key-set generation it was verified under:
    /// an entry from before a reload (even one inserted while the reload ran) is verified again.
    verified: moka::sync::Cache<Box<str>, Arc<VerifiedToken>>,
    /// Bumped by every reload that changes the keys, after the new verifier is in place.
    key_generation: std::sync::atomic::AtomicU64,
    /// How long a rotated key is published before it signs (ms).
    activation_ms: i64,
    /// When a token or sealed value naming an unknown key last made this replica re-read the
    /// keys (ms): at most once a second, so junk `kid`s cannot turn into disk reads per request.
    last_unknown_reload: std::sync::atomic::AtomicI64,
    clock: SharedClock,
}

/// The default `key_activation`: twice the replicas' reload period.
pub const DEFAULT_KEY_ACTIVATION: Duration = Duration::from_secs(60);

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
            // Bounded by bytes (tokens and what callers memoise on them), not by count.
            verified: moka::sync::Cache::builder()
                .weigher(|_signature, entry: &Arc<VerifiedToken>| entry.weight())
                .max_capacity(96 * 1024 * 1024)
                .time_to_live(Duration::from_secs(300))
                .build(),
            key_generation: std::sync::atomic::AtomicU64::new(0),
            activation_ms: i64::try_from(DEFAULT_KEY_ACTIVATION.as_millis()).unwrap_or(60_000),
            last_unknown_reload: std::sync::atomic::AtomicI64::new(i64::MIN / 2),
            clock,
        })
    }

    /// How long a rotated key is published before it signs (`[tokens] key_activation`).
    pub fn with_key_activation(mut self, activation: Duration) -> Self {
        self.activation_ms = i64::try_from(activation.as_millis()).unwrap_or(i64::MAX / 4);
        self
    }

    pub fn key_activation_ms(&self) -> i64 {
        self.activation_ms
    }

    /// A key id this replica does not know may be a rotation it has not picked up yet: re-read
    /// the keys, at most once a second. `true` when the keys changed.
    pub(crate) fn reload_for_unknown_key(&self) -> bool {
        use std::sync::atomic::Ordering;
        let now = self.clock.now_ms();
        let last = self.last_unknown_reload.load(Ordering::Relaxed);
        if now.saturating_sub(last) < 1_000
            || self
                .last_unknown_reload
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        match self.reload() {
            Ok(changed) => {
                if changed {
                    tracing::info!("signing keys reloaded: a token named a key not known yet");
                }
                changed
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not reload signing keys");
                false
            }
        }
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
                k.oidc.iter().map(|x| x.kid.clone()).collect::<Vec<_>>(),
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
