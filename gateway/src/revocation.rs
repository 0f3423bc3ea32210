//! Revoked sessions, held in memory so the proxied path never asks the database. A logout on
//! this replica lands here at once; other replicas' revocations arrive through a poll of the
//! shared database every `revocation_sync`.

use std::collections::HashMap;
use std::sync::RwLock;

#[derive(Debug, Default)]
pub struct RevocationList {
    /// Session id → when the entry can be forgotten (ms): once every access token issued
    /// before the revocation has expired.
    revoked: RwLock<HashMap<String, i64>>,
}

impl RevocationList {
    pub fn is_revoked(&self, sid: &str) -> bool {
        let guard = match self.revoked.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        !guard.is_empty() && guard.contains_key(sid)
    }

    pub fn insert(&self, sid: String, forget_at_ms: i64) {
        let mut guard = match self.revoked.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        guard.insert(sid, forget_at_ms);
    }

    /// Drops entries whose tokens can no longer be valid anyway.
    pub fn prune(&self, now_ms: i64) {
        let mut guard = match self.revoked.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        guard.retain(|_, forget_at| *forget_at > now_ms);
    }

    pub fn len(&self) -> usize {
        match self.revoked.read() {
            Ok(g) => g.len(),
            Err(p) => p.into_inner().len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_until_pruned_after_expiry() {
        let list = RevocationList::default();
        assert!(!list.is_revoked("s1"));
        list.insert("s1".into(), 1_000);
        assert!(list.is_revoked("s1"));
        list.prune(999);
        assert!(list.is_revoked("s1"));
        list.prune(1_000);
        assert!(!list.is_revoked("s1"));
    }
}
