//! wxgate as an OpenID Connect provider, the parts without HTTP: authorization codes (single
//! use, bound to client, `redirect_uri` and PKCE), id_tokens (RS256 under `keys_dir/oidc`,
//! published before they sign), the access token that serves `userinfo` only, and subjects
//! (public or pairwise per client). A client's login is a refresh family of its own
//! ([`crate::token::Sessions::create_for_client`]).

mod codes;
mod id_token;
mod pending;
mod subject;
mod userinfo_token;

pub use codes::{CodeGrant, Codes, Redemption};
pub use id_token::{at_hash, IdTokenClaims};
pub use pending::{Parked, Pending, MAX_REQUEST_LEN};
pub use subject::pairwise_subject;
pub use userinfo_token::{UserinfoClaims, USERINFO_AUDIENCE};

/// A random URL-safe value with 256 bits of entropy behind `prefix`.
pub(crate) fn random_token(prefix: &str) -> crate::secret::Secret {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    crate::secret::Secret::new(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}
