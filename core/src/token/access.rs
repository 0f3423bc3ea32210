//! Access tokens: short-lived HS256 JWTs that only the gateway verifies, so verification is a
//! couple of microseconds and needs no database.

use super::keys::KeySet;
use super::{TokenService, VerifiedToken};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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
    /// When the person logged in (the session's start, seconds): renewals keep it, so an
    /// operation that wants a fresh login (deleting the account) can ask for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ath: Option<i64>,
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
    /// Issues an access token for a session that started at `auth_time` (seconds). `iat` and
    /// `exp` come from the service's clock.
    #[allow(clippy::too_many_arguments)] // The claims, one argument each, named as in the token.
    pub fn issue_access(
        &self,
        sub: &str,
        sid: &str,
        chn: &str,
        oid: Option<&str>,
        uid: Option<&str>,
        phn: Option<&str>,
        auth_time: i64,
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
            ath: Some(auth_time),
        };
        let keys = self.keys();
        let signer = keys.access_signer_at(self.clock.now_ms(), self.activation_ms);
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TYP.to_string());
        header.kid = Some(signer.kid.clone());
        let token = encode(&header, &claims, &EncodingKey::from_secret(&signer.secret))
            .map_err(|_| TokenError::Signing)?;
        Ok((token, claims))
    }

    /// Verifies an access token: pinned algorithm and type, a known `kid`, signature, `iss`,
    /// `aud`, and the times against the service's clock. Revocation is the caller's check.
    /// A token verified before is found in the cache by its signature and compared whole; its
    /// times are checked again on every presentation.
    pub fn verify_access(&self, token: &str) -> Result<Arc<AccessClaims>, TokenError> {
        self.verify_access_entry(token).map(|v| v.claims.clone())
    }

    /// [`TokenService::verify_access`], returning the cache entry: callers memoise on it what
    /// they derive from the token.
    pub fn verify_access_entry(&self, token: &str) -> Result<Arc<VerifiedToken>, TokenError> {
        let entry = self.authentic_entry(token)?;
        let now = self.clock.now_secs();
        if entry.claims.exp + LEEWAY_SECS <= now {
            return Err(TokenError::Expired);
        }
        self.check_issue_times(&entry.claims, now)?;
        Ok(entry)
    }

    /// The claims of an authentic access token whatever its expiry: a browser's expired access
    /// cookie names the session that its refresh cookie may renew. Never a credential by itself.
    pub fn verify_access_ignoring_expiry(
        &self,
        token: &str,
    ) -> Result<Arc<AccessClaims>, TokenError> {
        let entry = self.authentic_entry(token)?;
        self.check_issue_times(&entry.claims, self.clock.now_secs())?;
        Ok(entry.claims.clone())
    }

    fn check_issue_times(&self, claims: &AccessClaims, now: i64) -> Result<(), TokenError> {
        let ttl = i64::try_from(self.access_ttl.as_secs()).unwrap_or(i64::MAX);
        if claims.iat > now + LEEWAY_SECS || claims.exp - claims.iat > ttl + LEEWAY_SECS {
            return Err(TokenError::BadTimes);
        }
        Ok(())
    }

    /// Signature, header and claims, from the cache of tokens already verified when possible.
    fn authentic_entry(&self, token: &str) -> Result<Arc<VerifiedToken>, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (_, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        // Read before the verifier is: a verification racing a reload is stored as old.
        let generation = self
            .key_generation
            .load(std::sync::atomic::Ordering::SeqCst);
        if let Some(hit) = self.verified.get(signature) {
            if hit.generation == generation && hit.is(token) {
                return Ok(hit);
            }
        }
        let claims = self.verify_signature(token)?;
        let entry = Arc::new(VerifiedToken::new(token, claims, generation));
        self.verified.insert(signature.into(), entry.clone());
        Ok(entry)
    }

    /// The cryptographic part: header policy, key by `kid`, signature, `iss`, `aud`, claim types.
    fn verify_signature(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let header = parse_header(token)?;
        // Only what we issue: HS256, our type, a kid, and no key-carrying header fields.
        if header.alg != "HS256"
            || header.typ.as_deref() != Some(ACCESS_TYP)
            || header.jku.is_some()
            || header.jwk.is_some()
            || header.x5u.is_some()
            || header.x5c.is_some()
        {
            return Err(TokenError::BadHeader);
        }
        let kid = header.kid.as_deref().ok_or(TokenError::BadHeader)?;
        // A kid only a sibling replica knows yet means a rotation this one has not read.
        match self.verify_with(token, kid) {
            Err(TokenError::UnknownKey) if self.reload_for_unknown_key() => {
                self.verify_with(token, kid)
            }
            other => other,
        }
    }

    fn verify_with(&self, token: &str, kid: &str) -> Result<AccessClaims, TokenError> {
        let verifier = match self.verifier.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        };
        let key = verifier
            .keys
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, key)| key)
            .ok_or(TokenError::UnknownKey)?;
        decode::<AccessClaims>(token, key, &verifier.validation)
            .map(|data| data.claims)
            .map_err(|_| TokenError::Invalid)
    }
}

/// The decoding keys and the pinned validation of one key set.
pub(crate) struct Verifier {
    keys: Vec<(String, DecodingKey)>,
    validation: Validation,
}

impl Verifier {
    pub(crate) fn new(keys: &KeySet, issuer: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[ACCESS_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Times are checked against the injected clock, on every presentation.
        validation.validate_exp = false;
        validation.leeway = 0;
        Self {
            keys: keys
                .access
                .iter()
                .map(|k| (k.kid.clone(), DecodingKey::from_secret(&k.secret)))
                .collect(),
            validation,
        }
    }
}

/// The JOSE header fields the policy looks at (any other field is ignored).
#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    jku: Option<serde_json::Value>,
    #[serde(default)]
    jwk: Option<serde_json::Value>,
    #[serde(default)]
    x5u: Option<serde_json::Value>,
    #[serde(default)]
    x5c: Option<serde_json::Value>,
}

fn parse_header(token: &str) -> Result<JoseHeader, TokenError> {
    let (encoded, _) = token.split_once('.').ok_or(TokenError::Malformed)?;
    if encoded.len() > 1024 {
        return Err(TokenError::Malformed);
    }
    let raw = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&raw).map_err(|_| TokenError::Malformed)
}
