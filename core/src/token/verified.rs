//! Tokens already verified, as the cache holds them. A token is found by its signature (the
//! last segment: an HMAC, so no two tokens share one) and then compared whole, so nothing is
//! hashed per request beyond the cache's own map hash. Callers may memoise what they derive
//! from a token (the gateway's prepared identity headers) on its entry, for as long as the
//! token stays cached.

use super::AccessClaims;
use std::any::Any;
use std::sync::{Arc, Mutex};

/// How many memos one token keeps (a route each, for the gateway): a client uses a few routes.
pub(super) const MEMO_SLOTS: usize = 4;

/// One verified access token.
pub struct VerifiedToken {
    token: Box<str>,
    pub claims: Arc<AccessClaims>,
    /// The key-set generation it was verified under.
    pub(super) generation: u64,
    memo: Mutex<Vec<Memo>>,
}

struct Memo {
    slot: u64,
    made_at_ms: i64,
    value: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself: it is a credential.
        f.debug_struct("VerifiedToken")
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

impl VerifiedToken {
    pub(super) fn new(token: &str, claims: AccessClaims, generation: u64) -> Self {
        Self {
            token: token.into(),
            claims: Arc::new(claims),
            generation,
            memo: Mutex::new(Vec::new()),
        }
    }

    /// Whether `token` is this very token. The lookup was by its signature; a presented token
    /// that reuses a genuine signature over other bytes is not this one. Compared in constant
    /// time (lengths are public): no early exit tells a prober how much of its forgery matched.
    /// An OR-fold rather than `subtle`, whose per-byte barrier costs ~10 instructions a byte.
    pub(super) fn is(&self, token: &str) -> bool {
        let (ours, theirs) = (self.token.as_bytes(), token.as_bytes());
        ours.len() == theirs.len()
            && ours
                .iter()
                .zip(theirs)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }

    /// Bytes this entry holds, for the cache's weigher: the token (and its signature, the key)
    /// and room for its memos (at most [`MEMO_SLOTS`], a prepared header set is under 1 KiB).
    pub(super) fn weight(&self) -> u32 {
        u32::try_from(self.token.len() * 2 + MEMO_SLOTS * 1024).unwrap_or(u32::MAX)
    }

    /// What was remembered under `slot`, unless it was made before `fresh_since_ms` (or is of
    /// another type).
    pub fn recall<T: Any + Send + Sync>(&self, slot: u64, fresh_since_ms: i64) -> Option<Arc<T>> {
        let memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        memo.iter()
            .find(|m| m.slot == slot && m.made_at_ms >= fresh_since_ms)
            .and_then(|m| m.value.clone().downcast::<T>().ok())
    }

    /// Remembers `value` under `slot` (replacing an older one). At most [`MEMO_SLOTS`] are
    /// kept, the oldest made dropped first: the weight the cache charged for this entry was
    /// fixed when it was inserted, so a token used on many routes must not grow past it.
    pub fn remember<T: Any + Send + Sync>(&self, slot: u64, made_at_ms: i64, value: Arc<T>) {
        let mut memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        memo.retain(|m| m.slot != slot);
        if memo.len() >= MEMO_SLOTS {
            if let Some(oldest) = (0..memo.len()).min_by_key(|&i| memo[i].made_at_ms) {
                memo.swap_remove(oldest);
            }
        }
        memo.push(Memo {
            slot,
            made_at_ms,
            value,
        });
    }
}
