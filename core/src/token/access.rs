//! Access tokens: short-lived HS256 JWTs that only the gateway verifies, so verification is a
//! couple of microseconds and needs no database.

use super::TokenService;
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};

/// `aud` of every access token: an assertion (audience = a route) can never pass as one.
pub const ACCESS_AUDIENCE: &str = "wxgate:access";
/// Explicit token typing (RFC 9068), checked on verify.
const ACCESS_TYP: &str = "at+jwt";
/// Refuse absurd inputs before any parsing.
const MAX_TOKEN_LEN: usize = 4096;
/// Tolerated clock skew between replicas, in seconds.
const LEEWAY_SECS: i64 = 5;

/// What an access token says. Identity facts ride in the token so the proxied path needs no
/// database; they are at most `access_ttl` old.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    /// Session (refresh family) id: what logout and revocation name.
    pub sid: String,
    /// Channel id the session came from.
    pub chn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phn: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("token header not accepted")]
    BadHeader,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("invalid token")]
    Invalid,
    #[error("token expired")]
    Expired,
    #[error("token issued in the future or with an impossible lifetime")]
    BadTimes,
    #[error("signing failed")]
    Signing,
}

impl TokenService {
    /// Issues an access token for a session. `iat`/`exp` come from the service's clock.
    pub fn issue_access(
        &self,
        sub: &str,
        sid: &str,
        chn: &str,
        oid: Option<&str>,
        uid: Option<&str>,
        phn: Option<&str>,
    ) -> Result<(String, AccessClaims), TokenError> {
        let now = self.clock.now_secs();
        let ttl = i64::try_from(self.access_ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: ACCESS_AUDIENCE.to_string(),
            sub: sub.to_string(),
            iat: now,
            exp: now.saturating_add(ttl),
            sid: sid.to_string(),
            chn: chn.to_string(),
            oid: oid.map(str::to_string),
            uid: uid.map(str::to_string),
            phn: phn.map(str::to_string),
        };
        let keys = self.keys();
        let signer = keys.access_signer();
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TYP.to_string());
        header.kid = Some(signer.kid.clone());
        let token = encode(&header, &claims, &EncodingKey::from_secret(&signer.secret))
            .map_err(|_| TokenError::Signing)?;
        Ok((token, claims))
    }

    /// Verifies an access token: pinned algorithm and type, a known `kid`, signature, `iss`,
    /// `aud`, and the times against the service's clock. Revocation is the caller's check.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        // Only what we issue: HS256, our type, a kid, and no key-carrying header fields.
        if header.alg != Algorithm::HS256
            || header.typ.as_deref() != Some(ACCESS_TYP)
            || header.jku.is_some()
            || header.jwk.is_some()
            || header.x5u.is_some()
            || header.x5c.is_some()
        {
            return Err(TokenError::BadHeader);
        }
        let kid = header.kid.as_deref().ok_or(TokenError::BadHeader)?;
        let keys = self.keys();
        let key = keys
            .access
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::UnknownKey)?;

        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[ACCESS_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Times are checked below against the injected clock.
        validation.validate_exp = false;
        validation.leeway = 0;
        let data =
            decode::<AccessClaims>(token, &DecodingKey::from_secret(&key.secret), &validation)
                .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;

        let now = self.clock.now_secs();
        if claims.exp + LEEWAY_SECS <= now {
            return Err(TokenError::Expired);
        }
        let ttl = i64::try_from(self.access_ttl.as_secs()).unwrap_or(i64::MAX);
        if claims.iat > now + LEEWAY_SECS || claims.exp - claims.iat > ttl + LEEWAY_SECS {
            return Err(TokenError::BadTimes);
        }
        Ok(claims)
    }
}
