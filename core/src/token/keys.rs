//! Signing keys, kept as files in `keys_dir` so every replica that mounts the same directory
//! signs and verifies with the same keys and publishes the same JWKS.
//!
//! ```text
//! keys_dir/access/<created_ms>-<kid>.key      32 random bytes, base64: HS256 for access tokens
//! keys_dir/assertion/<created_ms>-<kid>.pem   P-256 PKCS#8: ES256 for X-Auth-Assertion
//! keys_dir/vault/<created_ms>-<kid>.key       32 random bytes, base64: AES-256-GCM for secrets
//!                                             kept at rest (WeChat session_keys)
//! keys_dir/oidc/<created_ms>-<kid>.pem        RSA-2048 PKCS#8: RS256 for OpenID Connect id_tokens
//!                                             (only when `[oidc]` is configured)
//! ```
//! A rotation adds a key of each kind that every replica publishes and verifies at once, but
//! that signs only after `key_activation` (longer than any replica takes to reload): by the
//! time one replica signs with it, all know it. The previous signer keeps verifying for the
//! tokens it signed. Vault keys are never deleted by a rotation: values sealed under an old
//! one must stay readable. Files are created `0600`, written to a temporary name and renamed,
//! and the first start of several replicas at once elects one creator through an exclusive
//! lock file, so they never end up with different key sets.

use crate::error::{CoreError, CoreResult};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ACCESS: &str = "access";
const ASSERTION: &str = "assertion";
const VAULT: &str = "vault";
const OIDC: &str = "oidc";

/// An HS256 key for access tokens.
#[derive(Clone)]
pub struct HmacKey {
    pub kid: String,
    pub secret: Vec<u8>,
    /// When the key was created (ms): it may sign from `created_ms + key_activation`.
    pub created_ms: i64,
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HmacKey({}, ***)", self.kid)
    }
}

/// An ES256 key for assertions: the private key as PKCS#8 and the public point for the JWKS.
#[derive(Clone)]
pub struct EcKey {
    pub kid: String,
    pub pkcs8_pem: String,
    /// base64url of the 32-byte X and Y coordinates.
    pub x: String,
    pub y: String,
    pub created_ms: i64,
}

impl std::fmt::Debug for EcKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EcKey({}, ***)", self.kid)
    }
}

/// An RS256 key for id_tokens: the private key as PKCS#8 and the public modulus and exponent
/// (base64url, big-endian) for the JWKS.
#[derive(Clone)]
pub struct RsaKey {
    pub kid: String,
    pub pkcs8_pem: String,
    pub n: String,
    pub e: String,
    pub created_ms: i64,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaKey({}, ***)", self.kid)
    }
}

/// Anything with a creation time, for [`signer_at`].
trait Created {
    fn created_ms(&self) -> i64;
}

impl Created for HmacKey {
    fn created_ms(&self) -> i64 {
        self.created_ms
    }
}

impl Created for EcKey {
    fn created_ms(&self) -> i64 {
        self.created_ms
    }
}

impl Created for RsaKey {
    fn created_ms(&self) -> i64 {
        self.created_ms
    }
}

/// The key that signs at `now_ms`: the newest one published for at least `activation_ms`, or
/// else the oldest (a first install's keys sign at once). Every replica reading the same files
/// picks the same one.
fn signer_at<T: Created>(keys: &[T], now_ms: i64, activation_ms: i64) -> &T {
    keys.iter()
        .find(|k| k.created_ms().saturating_add(activation_ms) <= now_ms)
        .unwrap_or_else(|| &keys[keys.len() - 1])
}

/// The keys in force, newest first.
#[derive(Debug, Clone)]
pub struct KeySet {
    pub access: Vec<HmacKey>,
    pub assertion: Vec<EcKey>,
    /// Symmetric keys sealing secrets at rest; same file format as the access keys.
    pub vault: Vec<HmacKey>,
    /// id_token keys; empty unless OpenID Connect was ever enabled on this `keys_dir`.
    pub oidc: Vec<RsaKey>,
}

impl KeySet {
    /// Reads `dir`, creating the first keys when it holds none.
    pub fn load_or_create(dir: &Path, now_ms: i64) -> CoreResult<Self> {
        for kind in [ACCESS, ASSERTION, VAULT] {
            fs::create_dir_all(dir.join(kind)).map_err(|e| io_error(dir, e))?;
        }
        if !missing_kinds(dir)?.is_empty() {
            initialise(dir, now_ms)?;
        }
        Self::load(dir)
    }

    /// Reads the keys in `dir` without creating any.
    pub fn load(dir: &Path) -> CoreResult<Self> {
        let access = symmetric_keys(&dir.join(ACCESS))?;
        let vault = symmetric_keys(&dir.join(VAULT))?;
        let assertion = key_files(&dir.join(ASSERTION), "pem")?
            .into_iter()
            .map(|(kid, path)| {
                let pem = fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
                ec_key_from_pem(kid, created_of(&path), pem)
                    .map_err(|m| CoreError::Keys(format!("{}: {m}", path.display())))
            })
            .collect::<CoreResult<Vec<_>>>()?;
        let oidc_dir = dir.join(OIDC);
        let oidc = if oidc_dir.is_dir() {
            key_files(&oidc_dir, "pem")?
                .into_iter()
                .map(|(kid, path)| {
                    let pem = fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
                    rsa_key_from_pem(kid, created_of(&path), pem)
                        .map_err(|m| CoreError::Keys(format!("{}: {m}", path.display())))
                })
                .collect::<CoreResult<Vec<_>>>()?
        } else {
            Vec::new()
        };
        if access.is_empty() || assertion.is_empty() || vault.is_empty() {
            return Err(CoreError::Keys(format!(
                "{} holds no keys; start the gateway once or run `wxgate keys rotate`",
                dir.display()
            )));
        }
        Ok(Self {
            access,
            assertion,
            vault,
            oidc,
        })
    }

    /// Creates the first id_token key when there is none (OpenID Connect just enabled); one
    /// of several replicas starting together creates it, as for the first keys.
    pub fn ensure_oidc(dir: &Path, now_ms: i64) -> CoreResult<()> {
        fs::create_dir_all(dir.join(OIDC)).map_err(|e| io_error(dir, e))?;
        if key_files(&dir.join(OIDC), "pem")?.is_empty() {
            initialise_kinds(dir, now_ms, &[OIDC], ".oidc.lock")?;
        }
        Ok(())
    }

    /// Adds a new key of each kind, which will sign from `now_ms + activation_ms`, and deletes
    /// the access and assertion keys no longer needed: kept are every key newer than the
    /// current signer, the signer, and the one before it (its tokens may still be live).
    pub fn rotate(dir: &Path, now_ms: i64, activation_ms: i64) -> CoreResult<Self> {
        for kind in [ACCESS, ASSERTION, VAULT] {
            fs::create_dir_all(dir.join(kind)).map_err(|e| io_error(dir, e))?;
        }
        // id_token keys rotate with the rest once OpenID Connect has made its first one.
        let oidc_in_use = !key_files(&dir.join(OIDC), "pem")
            .unwrap_or_default()
            .is_empty();
        let kinds: &[&str] = if oidc_in_use {
            &[ACCESS, ASSERTION, VAULT, OIDC]
        } else {
            &[ACCESS, ASSERTION, VAULT]
        };
        let valid = Self::load(dir).is_ok();
        for &kind in kinds {
            if kind != VAULT && valid {
                let all = key_files(&dir.join(kind), extension(kind))?;
                let signer_position = all
                    .iter()
                    .position(|(_, path)| created_of(path).saturating_add(activation_ms) <= now_ms)
                    .unwrap_or(all.len().saturating_sub(1));
                for (_, path) in all.iter().skip(signer_position + 2) {
                    fs::remove_file(path).map_err(|e| io_error(path, e))?;
                }
            }
            write_new_key(dir, kind, now_ms)?;
        }
        Self::load(dir)
    }

    /// The newest access key (signing or not yet).
    pub fn access_signer(&self) -> &HmacKey {
        &self.access[0]
    }

    /// The newest assertion key (signing or not yet).
    pub fn assertion_signer(&self) -> &EcKey {
        &self.assertion[0]
    }

    /// The access key that signs at `now_ms`.
    pub fn access_signer_at(&self, now_ms: i64, activation_ms: i64) -> &HmacKey {
        signer_at(&self.access, now_ms, activation_ms)
    }

    /// The assertion key that signs at `now_ms`.
    pub fn assertion_signer_at(&self, now_ms: i64, activation_ms: i64) -> &EcKey {
        signer_at(&self.assertion, now_ms, activation_ms)
    }

    /// The vault key that seals at `now_ms`.
    pub fn vault_sealer_at(&self, now_ms: i64, activation_ms: i64) -> &HmacKey {
        signer_at(&self.vault, now_ms, activation_ms)
    }

    /// The id_token key that signs at `now_ms`, when OpenID Connect has keys.
    pub fn oidc_signer_at(&self, now_ms: i64, activation_ms: i64) -> Option<&RsaKey> {
        (!self.oidc.is_empty()).then(|| signer_at(&self.oidc, now_ms, activation_ms))
    }

    /// The public JWKS of the id_token keys (newest first).
    pub fn oidc_jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .oidc
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "RSA", "alg": "RS256", "use": "sig",
                    "kid": k.kid, "n": k.n, "e": k.e,
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// The public JWKS of the assertion keys (signer first).
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .assertion
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
                    "kid": k.kid, "x": k.x, "y": k.y,
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

fn extension(kind: &str) -> &'static str {
    if kind == ASSERTION || kind == OIDC {
        "pem"
    } else {
        "key"
    }
}

fn symmetric_keys(dir: &Path) -> CoreResult<Vec<HmacKey>> {
    key_files(dir, "key")?
        .into_iter()
        .map(|(kid, path)| {
            let text = fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
            let secret = STANDARD
                .decode(text.trim())
                .map_err(|_| CoreError::Keys(format!("{}: not base64", path.display())))?;
            if secret.len() < 32 {
                return Err(CoreError::Keys(format!(
                    "{}: a symmetric key needs at least 32 bytes",
                    path.display()
                )));
            }
            Ok(HmacKey {
                kid,
                secret,
                created_ms: created_of(&path),
            })
        })
        .collect()
}

/// The kinds with no key yet (a new install, or a `keys_dir` from an older version).
fn missing_kinds(dir: &Path) -> CoreResult<Vec<&'static str>> {
    missing_of(dir, &[ACCESS, ASSERTION, VAULT])
}

/// First start: one process creates the keys; any other waits for them.
fn initialise(dir: &Path, now_ms: i64) -> CoreResult<()> {
    initialise_kinds(dir, now_ms, &[ACCESS, ASSERTION, VAULT], ".init.lock")
}

/// The kinds of `kinds` with no key yet.
fn missing_of(dir: &Path, kinds: &[&'static str]) -> CoreResult<Vec<&'static str>> {
    let mut missing = Vec::new();
    for &kind in kinds {
        if key_files(&dir.join(kind), extension(kind))?.is_empty() {
            missing.push(kind);
        }
    }
    Ok(missing)
}

/// One process (holding `lock_name`) creates the missing keys of `kinds`; others wait.
fn initialise_kinds(
    dir: &Path,
    now_ms: i64,
    kinds: &[&'static str],
    lock_name: &str,
) -> CoreResult<()> {
    let lock = dir.join(lock_name);
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock)
    {
        Ok(_) => {
            let result = missing_of(dir, kinds).and_then(|kinds| {
                kinds
                    .into_iter()
                    .try_for_each(|kind| write_new_key(dir, kind, now_ms))
            });
            let _ = fs::remove_file(&lock);
            result
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            for _ in 0..100 {
                if missing_of(dir, kinds)?.is_empty() {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(CoreError::Keys(format!(
                "another process is creating keys in {} (remove {} if none is)",
                dir.display(),
                lock.display()
            )))
        }
        Err(e) => Err(io_error(&lock, e)),
    }
}

fn write_new_key(dir: &Path, kind: &str, now_ms: i64) -> CoreResult<()> {
    if kind == ASSERTION {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .map_err(|_| CoreError::Keys("could not generate a P-256 key".into()))?;
        return write_key_file(&dir.join(ASSERTION), now_ms, "pem", &to_pem(pkcs8.as_ref()));
    }
    if kind == OIDC {
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|_| CoreError::Keys("could not generate an RSA key".into()))?;
        let pkcs8 = pair
            .as_der()
            .map_err(|_| CoreError::Keys("could not encode an RSA key".into()))?;
        return write_key_file(&dir.join(OIDC), now_ms, "pem", &to_pem(pkcs8.as_ref()));
    }
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    write_key_file(&dir.join(kind), now_ms, "key", &STANDARD.encode(secret))
}

fn write_key_file(dir: &Path, now_ms: i64, ext: &str, content: &str) -> CoreResult<()> {
    let mut kid_bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut kid_bytes);
    let kid = hex::encode(kid_bytes);
    let name = format!("{now_ms:013}-{kid}.{ext}");
    let tmp = dir.join(format!(".tmp-{kid}"));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(|e| io_error(&tmp, e))?;
    file.write_all(content.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(&tmp, e))?;
    fs::rename(&tmp, dir.join(name)).map_err(|e| io_error(&tmp, e))
}

/// Key files of one kind, newest first, as `(kid, path)`.
fn key_files(dir: &Path, ext: &str) -> CoreResult<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let path = entry.map_err(|e| io_error(dir, e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(&format!(".{ext}")) else {
            continue;
        };
        let Some((created, kid)) = stem.split_once('-') else {
            continue;
        };
        let kid_ok = !kid.is_empty()
            && kid.len() <= 64
            && kid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if created.bytes().all(|b| b.is_ascii_digit()) && kid_ok {
            out.push((created.to_string(), kid.to_string(), path));
        }
    }
    // Name order is creation order (zero-padded milliseconds), then kid.
    out.sort_by(|a, b| (&b.0, &b.1).cmp(&(&a.0, &a.1)));
    Ok(out.into_iter().map(|(_, kid, path)| (kid, path)).collect())
}

/// The creation time a key file's name carries (`<created_ms>-<kid>.<ext>`).
fn created_of(path: &Path) -> i64 {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('-').next())
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn ec_key_from_pem(kid: String, created_ms: i64, pem: String) -> Result<EcKey, String> {
    let der = from_pem(&pem).ok_or("not a PKCS#8 PEM private key")?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
        .map_err(|_| "not a P-256 private key")?;
    let point = pair.public_key().as_ref();
    // Uncompressed SEC1 point: 0x04 || X (32) || Y (32).
    if point.len() != 65 || point[0] != 4 {
        return Err("unexpected public key encoding".into());
    }
    Ok(EcKey {
        kid,
        pkcs8_pem: pem,
        x: URL_SAFE_NO_PAD.encode(&point[1..33]),
        y: URL_SAFE_NO_PAD.encode(&point[33..65]),
        created_ms,
    })
}

fn rsa_key_from_pem(kid: String, created_ms: i64, pem: String) -> Result<RsaKey, String> {
    let der = from_pem(&pem).ok_or("not a PKCS#8 PEM private key")?;
    let pair = RsaKeyPair::from_pkcs8(&der).map_err(|_| "not an RSA private key")?;
    if pair.public_modulus_len() < 256 {
        return Err("an id_token key needs at least 2048 bits".into());
    }
    let public = pair.public_key();
    Ok(RsaKey {
        kid,
        pkcs8_pem: pem,
        n: URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
        e: URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        created_ms,
    })
}

fn to_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

fn from_pem(pem: &str) -> Option<Vec<u8>> {
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PRIVATE KEY-----")?
        .strip_suffix("-----END PRIVATE KEY-----")?;
    let b64: String = body.split_whitespace().collect();
    STANDARD.decode(b64).ok()
}

fn io_error(path: &Path, e: std::io::Error) -> CoreError {
    CoreError::Keys(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wxgate-keys-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn first_start_creates_keys_and_a_second_load_sees_the_same() {
        let dir = temp_dir();
        let a = KeySet::load_or_create(&dir, 1_000).unwrap();
        let b = KeySet::load_or_create(&dir, 2_000).unwrap();
        assert_eq!(a.access_signer().kid, b.access_signer().kid);
        assert_eq!(a.jwks(), b.jwks());
        assert_eq!(a.access_signer().secret.len(), 32);
        assert_eq!(a.access_signer().created_ms, 1_000);
    }

    #[test]
    fn a_rotated_key_is_published_at_once_and_signs_after_its_activation() {
        let dir = temp_dir();
        let first = KeySet::load_or_create(&dir, 1_000).unwrap();
        assert_eq!(
            first.access_signer_at(1_000, 60_000).kid,
            first.access[0].kid,
            "a first install signs at once"
        );
        let second = KeySet::rotate(&dir, 2_000, 60_000).unwrap();
        let new = second.assertion_signer().kid.clone();
        assert_eq!(
            second.jwks()["keys"].as_array().unwrap().len(),
            2,
            "published before it signs"
        );
        assert_eq!(
            second.assertion_signer_at(61_999, 60_000).kid,
            first.assertion[0].kid
        );
        assert_eq!(second.assertion_signer_at(62_000, 60_000).kid, new);
        assert_eq!(
            second.vault_sealer_at(2_000, 60_000).kid,
            first.vault[0].kid
        );
    }

    #[test]
    fn rotation_never_drops_the_signer_its_predecessor_or_any_vault_key() {
        let dir = temp_dir();
        let k1 = KeySet::load_or_create(&dir, 1_000).unwrap();
        // Two rotations in quick succession: K1 still signs, nothing may be deleted.
        KeySet::rotate(&dir, 2_000, 60_000).unwrap();
        let k3 = KeySet::rotate(&dir, 3_000, 60_000).unwrap();
        assert_eq!(k3.access.len(), 3);
        assert_eq!(k3.access_signer_at(3_000, 60_000).kid, k1.access[0].kid);
        // Long after: K3 signs; kept are K3, K2 (its predecessor) and the new K4.
        let k4 = KeySet::rotate(&dir, 100_000, 60_000).unwrap();
        let kids: Vec<_> = k4.access.iter().map(|k| k.kid.clone()).collect();
        assert_eq!(kids.len(), 3);
        assert!(!kids.contains(&k1.access[0].kid));
        assert_eq!(k4.access_signer_at(100_000, 60_000).kid, k3.access[0].kid);
        assert_eq!(fs::read_dir(dir.join(ASSERTION)).unwrap().count(), 3);
        // Every vault key ever made is still there.
        assert_eq!(k4.vault.len(), 4);
    }

    #[test]
    fn id_token_keys_exist_only_once_asked_for_and_then_rotate_with_the_rest() {
        let dir = temp_dir();
        let plain = KeySet::load_or_create(&dir, 1_000).unwrap();
        assert!(plain.oidc.is_empty());
        assert!(KeySet::rotate(&dir, 2_000, 60_000).unwrap().oidc.is_empty());
        KeySet::ensure_oidc(&dir, 3_000).unwrap();
        KeySet::ensure_oidc(&dir, 4_000).unwrap();
        let first = KeySet::load(&dir).unwrap();
        assert_eq!(first.oidc.len(), 1, "a second ensure adds nothing");
        let jwk = &first.oidc_jwks()["keys"][0];
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(jwk["n"].as_str().unwrap())
                .unwrap()
                .len(),
            256
        );
        let rotated = KeySet::rotate(&dir, 5_000, 60_000).unwrap();
        assert_eq!(rotated.oidc.len(), 2, "published before it signs");
        assert_eq!(
            rotated.oidc_signer_at(64_999, 60_000).unwrap().kid,
            first.oidc[0].kid
        );
        assert_ne!(
            rotated.oidc_signer_at(65_000, 60_000).unwrap().kid,
            first.oidc[0].kid
        );
    }

    #[test]
    fn short_hmac_keys_are_refused() {
        let dir = temp_dir();
        KeySet::load_or_create(&dir, 1_000).unwrap();
        write_key_file(&dir.join(ACCESS), 5_000, "key", &STANDARD.encode([7u8; 16])).unwrap();
        let err = KeySet::load(&dir).unwrap_err().to_string();
        assert!(err.contains("at least 32 bytes"), "{err}");
        assert_eq!(
            KeySet::load_or_create(&dir, 6_000).unwrap_err().to_string(),
            err
        );
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir();
        KeySet::load_or_create(&dir, 1_000).unwrap();
        for (_, path) in key_files(&dir.join(ACCESS), "key").unwrap() {
            let mode = fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0);
        }
    }
}
