//! id_tokens: RS256 JWTs that any client verifies with the JWKS, signed by the id_token key
//! that signs now (a rotated key is published before it signs, as for the other keys).

use crate::token::{TokenError, TokenService};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The claims of an id_token; the scope's claims (`name`, `phone_number`, …) ride in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub azp: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The client's session: what an RP-initiated logout with this token as its hint ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `at_hash`: the left half of the access token's SHA-256, base64url (OpenID Connect Core
/// §3.1.3.6, for RS256).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Longest id_token read back (a logout's `id_token_hint`).
const MAX_HINT_LEN: usize = 8192;

impl TokenService {
    /// Signs `claims` with the id_token key that signs now. `Signing` when OpenID Connect has
    /// no key (it was not configured when the keys were loaded).
    pub fn sign_id_token(&self, claims: &IdTokenClaims) -> Result<String, TokenError> {
        let keys = self.keys();
        let signer = keys
            .oidc_signer_at(self.clock().now_ms(), self.key_activation_ms())
            .ok_or(TokenError::Signing)?;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(signer.kid.clone());
        let key = EncodingKey::from_rsa_pem(signer.pkcs8_pem.as_bytes())
            .map_err(|_| TokenError::Signing)?;
        encode(&header, claims, &key).map_err(|_| TokenError::Signing)
    }

    /// Reads an id_token this gateway signed for `issuer`, expired or not (a logout hint is
    /// often old): signature by a key still held, `iss`. `None` for anything else.
    pub fn read_id_token_hint(&self, token: &str, issuer: &str) -> Option<IdTokenClaims> {
        if token.len() > MAX_HINT_LEN {
            return None;
        }
        let header = decode_header(token).ok()?;
        if header.alg != Algorithm::RS256 {
            return None;
        }
        let kid = header.kid?;
        let keys = self.keys();
        let key = keys.oidc.iter().find(|k| k.kid == kid)?;
        let decoding = DecodingKey::from_rsa_components(&key.n, &key.e).ok()?;
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[issuer]);
        decode::<IdTokenClaims>(token, &decoding, &validation)
            .ok()
            .map(|t| t.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_sha256() {
        // OpenID Connect Core's example (A.3): this access token and its at_hash.
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
