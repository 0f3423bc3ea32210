//! The access token a client gets from the token endpoint. It serves `userinfo` and nothing
//! else: its audience, issuer and type differ from a gateway access token's, so a gateway
//! route refuses it, and `userinfo` refuses a gateway token for the same reasons. HS256 under
//! the access keys: only the gateway ever verifies it.

use crate::token::{TokenError, TokenService};
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// `aud` of every userinfo token.
pub const USERINFO_AUDIENCE: &str = "wxgate:oidc-userinfo";
const USERINFO_TYP: &str = "oidc-at+jwt";
const MAX_TOKEN_LEN: usize = 4096;
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserinfoClaims {
    pub iss: String,
    pub aud: String,
    /// The user id (the gateway's own; the client's `sub` is derived from it).
    pub uid: String,
    /// The client it was issued to.
    pub cid: String,
    /// The client's session (refresh family): revoking it ends this token at once.
    pub sid: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
}

impl TokenService {
    /// Issues a userinfo token living `ttl`.
    pub fn issue_userinfo_token(
        &self,
        issuer: &str,
        user_id: &str,
        client_id: &str,
        sid: &str,
        scope: &str,
        ttl: std::time::Duration,
    ) -> Result<(String, UserinfoClaims), TokenError> {
        let now = self.clock().now_secs();
        let claims = UserinfoClaims {
            iss: issuer.to_string(),
            aud: USERINFO_AUDIENCE.to_string(),
            uid: user_id.to_string(),
            cid: client_id.to_string(),
            sid: sid.to_string(),
            scope: scope.to_string(),
            iat: now,
            exp: now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2)),
        };
        let keys = self.keys();
        let signer = keys.access_signer_at(self.clock().now_ms(), self.key_activation_ms());
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(USERINFO_TYP.to_string());
        header.kid = Some(signer.kid.clone());
        let token = encode(&header, &claims, &EncodingKey::from_secret(&signer.secret))
            .map_err(|_| TokenError::Signing)?;
        Ok((token, claims))
    }

    /// Verifies a userinfo token: pinned algorithm and type, a known key, `iss`, `aud` and
    /// times. Whether its session still lives is the caller's check.
    pub fn verify_userinfo_token(
        &self,
        token: &str,
        issuer: &str,
    ) -> Result<UserinfoClaims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::HS256 || header.typ.as_deref() != Some(USERINFO_TYP) {
            return Err(TokenError::BadHeader);
        }
        let kid = header.kid.ok_or(TokenError::BadHeader)?;
        let keys = self.keys();
        let key = keys
            .access
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::UnknownKey)?;
        let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
        validation.set_audience(&[USERINFO_AUDIENCE]);
        validation.set_issuer(&[issuer]);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data =
            decode::<UserinfoClaims>(token, &DecodingKey::from_secret(&key.secret), &validation)
                .map_err(|e| match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                    _ => TokenError::Invalid,
                })?;
        if data.claims.iat > self.clock().now_secs() + LEEWAY_SECS as i64 {
            return Err(TokenError::BadTimes);
        }
        Ok(data.claims)
    }
}
