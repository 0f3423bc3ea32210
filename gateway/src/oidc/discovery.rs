//! The discovery document and the id_token JWKS: what a client reads before anything else.
//! Every list says exactly what is supported.

use super::errors::json_headers;
use crate::respond::write_json;
use crate::state::{Gateway, OidcState};
use bytes::Bytes;
use pingora::proxy::Session;

/// `{public_url}{auth_prefix}/oidc/{name}`.
pub fn endpoint(g: &Gateway, name: &str) -> String {
    format!("{}{}/oidc/{name}", g.public_url, g.auth_prefix)
}

pub fn document(g: &Gateway, o: &OidcState) -> serde_json::Value {
    serde_json::json!({
        "issuer": o.config.issuer,
        "authorization_endpoint": endpoint(g, "authorize"),
        "token_endpoint": endpoint(g, "token"),
        "userinfo_endpoint": endpoint(g, "userinfo"),
        "jwks_uri": endpoint(g, "jwks.json"),
        "end_session_endpoint": endpoint(g, "logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": crate::config::KNOWN_SCOPES,
        "claims_supported": [
            "sub", "iss", "aud", "azp", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
            "name", "picture", "phone_number", "phone_number_verified", "wechat_unionid"
        ],
        "prompt_values_supported": ["none", "login"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    })
}

pub async fn serve_document(
    g: &Gateway,
    o: &OidcState,
    session: &mut Session,
) -> pingora::Result<()> {
    let body = Bytes::from(document(g, o).to_string());
    write_json(session, 200, body, &json_headers()).await
}

pub async fn serve_jwks(g: &Gateway, session: &mut Session) -> pingora::Result<()> {
    let body = Bytes::from(g.tokens.keys().oidc_jwks().to_string());
    write_json(session, 200, body, &json_headers()).await
}
