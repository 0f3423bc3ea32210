//! OAuth 2.0 errors (RFC 6749 §5.2, RFC 6750 §3): the one place they become answers. The token
//! and userinfo endpoints answer JSON `{"error", "error_description"}`; the authorization
//! endpoint sends them to the client's redirect URI (`authorize.rs`) once that URI is proved.

use crate::rescue::ApiError;
use crate::respond::write_json;
use bytes::Bytes;
use pingora::proxy::Session;
use wxgate_core::error::CoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
    pub status: u16,
}

impl OAuthError {
    fn new(error: &'static str, status: u16, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
            status,
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", 400, d)
    }

    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", 401, d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", 400, d)
    }

    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", 400, d)
    }

    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", 400, d)
    }

    pub fn unsupported_response_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_response_type", 400, d)
    }

    pub fn login_required() -> Self {
        Self::new("login_required", 400, "the person is not signed in")
    }

    pub fn request_not_supported(which: &'static str) -> Self {
        Self::new(which, 400, "request objects are not supported")
    }

    pub fn invalid_token(d: impl Into<String>) -> Self {
        Self::new("invalid_token", 401, d)
    }

    pub fn temporarily_unavailable_for(d: impl Into<String>) -> Self {
        Self::new("temporarily_unavailable", 503, d)
    }

    pub fn temporarily_unavailable() -> Self {
        Self::new(
            "temporarily_unavailable",
            503,
            "the database is unavailable; try again",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new("invalid_request", 405, "method not allowed")
    }

    /// A userinfo call without any token: the challenge names no error (RFC 6750 §3.1).
    pub fn no_token() -> Self {
        Self::new("invalid_token", 401, "no access token")
    }

    /// The metric label: the error code.
    pub fn label(&self) -> &'static str {
        self.error
    }

    fn body(&self) -> Bytes {
        Bytes::from(
            serde_json::json!({
                "error": self.error,
                "error_description": self.description,
                // The gateway's own error shape too, for clients that read only that.
                "message": self.description,
            })
            .to_string(),
        )
    }
}

impl From<CoreError> for OAuthError {
    fn from(e: CoreError) -> Self {
        // The core's errors are mapped once, in `rescue`; this only renames what it decided.
        let api = ApiError::from(e);
        if api.status == 503 {
            Self::new("temporarily_unavailable", 503, api.message)
        } else {
            Self::new("server_error", 500, "the request could not be completed")
        }
    }
}

/// The headers every OAuth JSON answer carries (RFC 6749 §5.1), and CORS: browser-based
/// clients call these endpoints from their own origin, with no cookie.
pub fn json_headers() -> Vec<(&'static str, String)> {
    vec![
        ("pragma", "no-cache".to_string()),
        ("access-control-allow-origin", "*".to_string()),
    ]
}

/// Writes a token endpoint error as JSON: `invalid_client` with its Basic challenge.
pub async fn write(session: &mut Session, e: &OAuthError) -> pingora::Result<()> {
    let mut extra = json_headers();
    match (e.status, e.error) {
        (401, "invalid_client") => {
            extra.push(("www-authenticate", "Basic realm=\"wxgate\"".to_string()));
        }
        (405, _) => extra.push(("allow", "POST".to_string())),
        _ => {}
    }
    write_json(session, e.status, e.body(), &extra).await
}

/// Writes a protected resource's (userinfo's) error with its Bearer challenge (RFC 6750 §3):
/// no error code when no token came at all.
pub async fn write_bearer(session: &mut Session, e: &OAuthError) -> pingora::Result<()> {
    let mut extra = json_headers();
    if e.status == 405 {
        extra.push(("allow", "GET, POST".to_string()));
    }
    let challenge = if *e == OAuthError::no_token() {
        "Bearer realm=\"wxgate\"".to_string()
    } else {
        format!("Bearer realm=\"wxgate\", error=\"{}\"", e.error)
    };
    extra.push(("www-authenticate", challenge));
    write_json(session, e.status, e.body(), &extra).await
}
