//! Pairwise subjects: a client configured `subject = "pairwise"` sees each person under a `sub`
//! of its own, so two clients cannot join their users by `sub`. Derived, not stored: an HMAC of
//! the client and the user under the oldest vault key, which no rotation deletes.

use crate::token::keys::KeySet;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The `sub` that `client_id` sees for `user_id`.
pub fn pairwise_subject(keys: &KeySet, client_id: &str, user_id: &str) -> String {
    // Vault keys are newest first and never deleted: the last one is the first ever made.
    let root = &keys.vault[keys.vault.len() - 1].secret;
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, root);
    let derived = aws_lc_rs::hmac::sign(&key, b"wxgate oidc pairwise v1");
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, derived.as_ref());
    // Lengths first: ("ab", "c") and ("a", "bc") must not meet.
    let mut data = Vec::with_capacity(client_id.len() + user_id.len() + 16);
    data.extend_from_slice(&(client_id.len() as u64).to_be_bytes());
    data.extend_from_slice(client_id.as_bytes());
    data.extend_from_slice(user_id.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, &data);
    URL_SAFE_NO_PAD.encode(tag.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_subjects_are_stable_per_client_and_differ_between_clients() {
        let dir = std::env::temp_dir().join(format!("wxgate-pairwise-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let keys = KeySet::load_or_create(&dir, 1_000).unwrap();
        let a = pairwise_subject(&keys, "grafana", "u_1");
        assert_eq!(a, pairwise_subject(&keys, "grafana", "u_1"));
        assert_ne!(a, pairwise_subject(&keys, "gitea", "u_1"));
        assert_ne!(a, pairwise_subject(&keys, "grafana", "u_2"));
        assert_ne!(a, "u_1");
        // A rotation adds vault keys and changes nobody's subject.
        let rotated = KeySet::rotate(&dir, 2_000, 60_000).unwrap();
        assert_eq!(a, pairwise_subject(&rotated, "grafana", "u_1"));
    }
}
