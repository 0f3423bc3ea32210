//! `X-Auth-Assertion`: a short-lived ES256 JWT that upstreams verify with the JWKS, so they can
//! check the identity headers came from the gateway.

use super::access::TokenError;
use super::TokenService;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    /// The route (its prefix) the request is forwarded to.
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub chn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl TokenService {
    /// Signs an assertion for one user and route; lives `assertion_ttl` (60 s).
    pub fn sign_assertion(
        &self,
        aud: &str,
        sub: &str,
        chn: &str,
        openid: Option<&str>,
        unionid: Option<&str>,
        phone: Option<&str>,
    ) -> Result<(String, AssertionClaims), TokenError> {
        let now = self.clock.now_secs();
        let ttl = i64::try_from(self.assertion_ttl.as_secs()).unwrap_or(60);
        let claims = AssertionClaims {
            iss: self.issuer.clone(),
            aud: aud.to_string(),
            sub: sub.to_string(),
            iat: now,
            exp: now + ttl,
            chn: chn.to_string(),
            openid: openid.map(str::to_string),
            unionid: unionid.map(str::to_string),
            phone: phone.map(str::to_string),
        };
        let keys = self.keys();
        let signer = keys.assertion_signer_at(now * 1000, self.activation_ms);
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(signer.kid.clone());
        let key = EncodingKey::from_ec_pem(signer.pkcs8_pem.as_bytes())
            .map_err(|_| TokenError::Signing)?;
        let token = encode(&header, &claims, &key).map_err(|_| TokenError::Signing)?;
        Ok((token, claims))
    }
}
