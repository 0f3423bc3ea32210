//! Maps every failure to the contract's `{"error": CODE, "message": text}` and status, in one
//! place. Internal details (SQL, WeChat errmsg) go to the log, never to the client.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use wxgate_core::error::CoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    pub fn storage_unavailable() -> Self {
        let mut e = Self::new(
            503,
            "storage_unavailable",
            "the database is unavailable, try again shortly",
        );
        e.retry_after = Some(5);
        e
    }

    pub fn internal() -> Self {
        Self::new(500, "internal", "internal error")
    }

    pub fn body(&self) -> Bytes {
        Bytes::from(serde_json::json!({ "error": self.code, "message": self.message }).to_string())
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::StorageUnavailable(ref source) => {
                tracing::warn!(error = %source, "database unavailable");
                ApiError::storage_unavailable()
            }
            CoreError::Storage(ref source) => {
                tracing::error!(error = %source, "storage error");
                ApiError::internal()
            }
            CoreError::PhoneConflict { .. } => ApiError::new(
                409,
                "phone_conflict",
                "this phone number belongs to another account",
            ),
            CoreError::EmptyAttempt => ApiError::invalid_request("no identity to log in with"),
            CoreError::InvalidRefreshToken => {
                ApiError::unauthorized("refresh token is invalid, expired or revoked")
            }
            CoreError::UserNotFound => ApiError::unauthorized("user no longer exists"),
            CoreError::Contention => {
                let mut e = ApiError::new(503, "storage_unavailable", "busy, try again");
                e.retry_after = Some(1);
                e
            }
            CoreError::Keys(ref m) => {
                tracing::error!(error = %m, "key store error");
                ApiError::internal()
            }
        }
    }
}

/// Writes a complete JSON response.
pub async fn write_json(
    session: &mut Session,
    status: u16,
    body: Bytes,
    extra: &[(&'static str, String)],
) -> pingora::Result<()> {
    let mut resp = ResponseHeader::build(status, Some(4 + extra.len()))?;
    resp.insert_header("content-type", "application/json")?;
    resp.insert_header("content-length", body.len().to_string())?;
    resp.insert_header("cache-control", "no-store")?;
    for (k, v) in extra {
        resp.append_header(*k, v.as_str())?;
    }
    session.write_response_header(Box::new(resp), false).await?;
    session.write_response_body(Some(body), true).await
}

pub async fn write_error(session: &mut Session, e: &ApiError) -> pingora::Result<()> {
    let mut extra = Vec::new();
    if let Some(secs) = e.retry_after {
        extra.push(("retry-after", secs.to_string()));
    }
    if e.status == 401 {
        extra.push(("www-authenticate", "Bearer".to_string()));
    }
    write_json(session, e.status, e.body(), &extra).await
}

/// A response without body (204, 302).
pub async fn write_empty(
    session: &mut Session,
    status: u16,
    extra: &[(&'static str, String)],
) -> pingora::Result<()> {
    let mut resp = ResponseHeader::build(status, Some(2 + extra.len()))?;
    resp.insert_header("content-length", "0")?;
    resp.insert_header("cache-control", "no-store")?;
    for (k, v) in extra {
        resp.append_header(*k, v.as_str())?;
    }
    session.write_response_header(Box::new(resp), true).await
}
