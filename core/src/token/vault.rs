//! Sealing small secrets at rest (WeChat session_keys) with AES-256-GCM under the vault keys of
//! `keys_dir`. A sealed value names its key (`v1.<kid>.<base64 nonce‖ciphertext>`), so a rotation
//! keeps older values readable while the previous key is kept.

use super::TokenService;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

use crate::secret::Secret;

impl TokenService {
    /// Seals `plain`; `context` (e.g. `appid/openid`) is bound in as associated data, so a sealed
    /// value copied to another row does not open.
    pub fn seal(&self, plain: &Secret, context: &str) -> Option<String> {
        let keys = self.keys();
        let key = keys.vault_sealer_at(self.clock.now_ms(), self.activation_ms);
        let sealing = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key.secret[..32]).ok()?);
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut data = plain.expose().as_bytes().to_vec();
        sealing
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut data,
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Some(format!("v1.{}.{}", key.kid, URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens a value sealed by [`Self::seal`] with the same `context`.
    pub fn unseal(&self, sealed: &str, context: &str) -> Option<Secret> {
        let (kid, body) = tagged("v1", sealed)?;
        let key = self.vault_key(kid)?;
        let opening = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key.secret[..32]).ok()?);
        let raw = URL_SAFE_NO_PAD.decode(body).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = ciphertext.to_vec();
        let plain = opening
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut data)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok().map(Secret::new)
    }
}

impl TokenService {
    /// The vault key `kid`, re-reading the keys once if a sibling replica sealed with one this
    /// replica has not loaded yet.
    fn vault_key(&self, kid: &str) -> Option<super::keys::HmacKey> {
        let find = || self.keys().vault.iter().find(|k| k.kid == kid).cloned();
        find().or_else(|| self.reload_for_unknown_key().then(find).flatten())
    }
}

/// `<version>.<kid>.<body>`: the key id and body of a value this module wrote.
fn tagged<'a>(version: &str, value: &'a str) -> Option<(&'a str, &'a str)> {
    let mut parts = value.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(v), Some(kid), Some(body)) if v == version => Some((kid, body)),
        _ => None,
    }
}

/// The MAC key of one vault key: derived, so that the AES key never doubles as an HMAC key.
fn mac_key(vault_secret: &[u8]) -> aws_lc_rs::hmac::Key {
    let root = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, vault_secret);
    let derived = aws_lc_rs::hmac::sign(&root, b"wxgate mac v1");
    aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, derived.as_ref())
}

impl TokenService {
    /// A MAC of `data` under the newest vault key: `m1.<kid>.<base64url>`. For short secrets
    /// that are checked later but must not rest in a form a database reader could reverse
    /// (a 6-digit SMS code has a million values: a plain hash would fall in a second).
    pub fn mac(&self, data: &[u8]) -> Option<String> {
        let keys = self.keys();
        let key = keys.vault_sealer_at(self.clock.now_ms(), self.activation_ms);
        let tag = aws_lc_rs::hmac::sign(&mac_key(&key.secret), data);
        Some(format!(
            "m1.{}.{}",
            key.kid,
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        ))
    }

    /// True when `tag` is [`Self::mac`] of `data` under a vault key still held (compared in
    /// constant time).
    pub fn verify_mac(&self, data: &[u8], tag: &str) -> bool {
        let Some((kid, body)) = tagged("m1", tag) else {
            return false;
        };
        let Some(key) = self.vault_key(kid) else {
            return false;
        };
        let Ok(expected) = URL_SAFE_NO_PAD.decode(body) else {
            return false;
        };
        aws_lc_rs::hmac::verify(&mac_key(&key.secret), data, &expected).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use crate::clock::ManualClock;
    use crate::secret::Secret;
    use crate::token::TokenService;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn sealed_values_open_only_with_their_context_and_survive_a_rotation() {
        let dir = std::env::temp_dir().join(format!("wxgate-vault-{}", uuid::Uuid::new_v4()));
        let clock = ManualClock::new(1_000);
        let s = TokenService::open(
            "i".into(),
            Duration::from_secs(60),
            dir.clone(),
            Arc::new(clock.clone()),
        )
        .unwrap();
        let sealed = s
            .seal(&Secret::new("HyVFkGl5F5OQWJZZaNzBBg=="), "wx1/oA")
            .unwrap();
        assert!(!sealed.contains("HyVFkGl5"));
        assert_eq!(
            s.unseal(&sealed, "wx1/oA").unwrap().expose(),
            "HyVFkGl5F5OQWJZZaNzBBg=="
        );
        assert!(s.unseal(&sealed, "wx1/oB").is_none(), "bound to its row");
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(s.unseal(&tampered, "wx1/oA").is_none());
        crate::token::keys::KeySet::rotate(&dir, 2_000, s.key_activation_ms()).unwrap();
        s.reload().unwrap();
        assert_eq!(
            s.unseal(&sealed, "wx1/oA").unwrap().expose(),
            "HyVFkGl5F5OQWJZZaNzBBg=="
        );
    }

    #[test]
    fn macs_verify_across_a_rotation_and_only_for_their_data() {
        let dir = std::env::temp_dir().join(format!("wxgate-mac-{}", uuid::Uuid::new_v4()));
        let clock = ManualClock::new(1_000);
        let s = TokenService::open(
            "i".into(),
            Duration::from_secs(60),
            dir.clone(),
            Arc::new(clock.clone()),
        )
        .unwrap();
        let tag = s.mac(b"sms/login/+8613800138000/123456").unwrap();
        assert!(tag.starts_with("m1.") && !tag.contains("123456"));
        assert!(s.verify_mac(b"sms/login/+8613800138000/123456", &tag));
        assert!(!s.verify_mac(b"sms/login/+8613800138000/123457", &tag));
        assert!(!s.verify_mac(b"sms/login/+8613800138000/123456", "m1.nokey.AAAA"));
        crate::token::keys::KeySet::rotate(&dir, 2_000, s.key_activation_ms()).unwrap();
        s.reload().unwrap();
        assert!(s.verify_mac(b"sms/login/+8613800138000/123456", &tag));
        // Once the new key is active it macs; the old one still verifies.
        clock.advance_ms(s.key_activation_ms() + 2_000);
        assert!(s.verify_mac(b"sms/login/+8613800138000/123456", &tag));
        assert_ne!(
            s.mac(b"x").unwrap().split('.').nth(1),
            tag.split('.').nth(1)
        );
    }
}
