//! Every failure is mapped here, and only here: each typed cause (a channel's
//! [`ProviderError`], the core's [`CoreError`], a rejected token, a failed proxy attempt) maps
//! to one [`ErrorCode`], whose name is both the `error` of the contract's JSON body and the
//! metric label, so answers and metrics cannot drift apart. Internal details (SQL, WeChat
//! errcodes) go to the log, never to the client. Writing answers is `respond`'s job.

use bytes::Bytes;
use wxgate_core::error::CoreError;
use wxgate_providers::provider::ProviderError;

/// The contract's error codes, plus the few HTTP-level ones the gateway needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidRequest,
    NotFound,
    MethodNotAllowed,
    InvalidCode,
    Unauthorized,
    InvalidState,
    LoginBlocked,
    Forbidden,
    PhoneConflict,
    RateLimited,
    UpstreamUnavailable,
    BadGateway,
    UpstreamTimeout,
    StorageUnavailable,
    Internal,
}

impl ErrorCode {
    /// The `error` field of the body, and the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::InvalidCode => "invalid_code",
            Self::Unauthorized => "unauthorized",
            Self::InvalidState => "invalid_state",
            Self::LoginBlocked => "login_blocked",
            Self::Forbidden => "forbidden",
            Self::PhoneConflict => "phone_conflict",
            Self::RateLimited => "rate_limited",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::BadGateway => "bad_gateway",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::StorageUnavailable => "storage_unavailable",
            Self::Internal => "internal",
        }
    }

    /// The status the contract gives the code.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::InvalidState => 400,
            Self::InvalidCode | Self::Unauthorized => 401,
            Self::LoginBlocked | Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::PhoneConflict => 409,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::UpstreamUnavailable | Self::BadGateway => 502,
            Self::StorageUnavailable => 503,
            Self::UpstreamTimeout => 504,
        }
    }
}

/// One failure, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    /// The code's status, except where HTTP needs a more precise one (413 for a body too large).
    pub status: u16,
    pub message: String,
    pub retry_after: Option<u64>,
    /// Headers the answer must carry anyway (cookies to clear).
    pub headers: Vec<(&'static str, String)>,
    /// A finer metric label than the code, where operators need one (`budget_exhausted`).
    pub reason: Option<&'static str>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            status: code.status(),
            message: message.into(),
            retry_after: None,
            headers: Vec::new(),
            reason: None,
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidState, message)
    }

    /// 405 with the `Allow` header RFC 9110 requires, e.g. `"GET, DELETE"`.
    pub fn method_not_allowed(allow: &str) -> Self {
        Self::new(ErrorCode::MethodNotAllowed, format!("use {allow}"))
            .with_header("allow", allow.to_string())
    }

    pub fn body_too_large() -> Self {
        Self {
            status: 413,
            ..Self::invalid_request("request body too large")
        }
    }

    pub fn storage_unavailable() -> Self {
        let mut e = Self::new(
            ErrorCode::StorageUnavailable,
            "the database is unavailable, try again shortly",
        );
        e.retry_after = Some(5);
        e
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error")
    }

    /// A cookie-authenticated state-changing request from another origin.
    pub fn cross_origin() -> Self {
        Self::new(
            ErrorCode::Forbidden,
            "a cookie-authenticated request must come from the gateway's own origin",
        )
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The metric label: the code's name, or its finer reason.
    pub fn label(&self) -> &'static str {
        self.reason.unwrap_or(self.code.as_str())
    }

    pub fn body(&self) -> Bytes {
        self.body_with(None)
    }

    /// The JSON body, with the request's id when known (what a user quotes to support).
    pub fn body_with(&self, request_id: Option<&str>) -> Bytes {
        let mut body = serde_json::json!({ "error": self.code.as_str(), "message": self.message });
        if let Some(id) = request_id {
            body["request_id"] = serde_json::Value::String(id.to_string());
        }
        Bytes::from(body.to_string())
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::InvalidRequest(m) => ApiError::invalid_request(m),
            ProviderError::InvalidCode => ApiError::new(
                ErrorCode::InvalidCode,
                "the code is invalid, expired or already used",
            ),
            ProviderError::LoginBlocked => ApiError::new(
                ErrorCode::LoginBlocked,
                "WeChat's risk control blocked this login",
            ),
            ProviderError::RateLimited { retry_after } => {
                let mut a = ApiError::new(ErrorCode::RateLimited, "too many attempts, slow down");
                a.retry_after = Some(retry_after);
                a
            }
            ProviderError::BudgetExhausted { retry_after } => {
                let mut a =
                    ApiError::new(ErrorCode::RateLimited, "too many requests today, try later");
                a.retry_after = Some(retry_after);
                a.reason = Some("budget_exhausted");
                a
            }
            ProviderError::Unavailable(detail) => {
                tracing::warn!(detail = %detail, "login provider unavailable");
                ApiError::new(
                    ErrorCode::UpstreamUnavailable,
                    "the login provider (WeChat or SMS) is unavailable, try again",
                )
            }
            ProviderError::Storage(detail) => {
                tracing::warn!(detail = %detail, "a channel's shared store failed");
                ApiError::storage_unavailable()
            }
            ProviderError::Misconfigured(detail) => {
                tracing::error!(detail = %detail, "channel misconfigured");
                ApiError::internal()
            }
            ProviderError::Internal(detail) => {
                tracing::error!(detail = %detail, "channel failed");
                ApiError::internal()
            }
            ProviderError::Unauthorized => {
                ApiError::unauthorized("a session of this channel is required")
            }
            ProviderError::Forbidden(detail) => {
                tracing::info!(detail = %detail, "a channel call was refused");
                ApiError::new(
                    ErrorCode::Forbidden,
                    "this caller may not use this endpoint",
                )
            }
        }
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
                ErrorCode::PhoneConflict,
                "this phone number belongs to another account",
            ),
            CoreError::EmptyAttempt => ApiError::invalid_request("no identity to log in with"),
            CoreError::InvalidRefreshToken | CoreError::RefreshReused { .. } => {
                ApiError::unauthorized("refresh token is invalid, expired or revoked")
            }
            CoreError::UserNotFound => ApiError::unauthorized("user no longer exists"),
            CoreError::NotBound => ApiError::invalid_request("not bound to this user"),
            CoreError::Refused(why) => ApiError::invalid_request(why),
            CoreError::Contention => {
                let mut e = ApiError::new(ErrorCode::StorageUnavailable, "busy, try again");
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

/// Why a presented token was not accepted; also the `wxgate_auth_outcomes_total` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Malformed, tampered, unknown key, wrong audience, or ambiguous (two credentials).
    Invalid,
    Expired,
    /// Signed with a key no longer held (rotated out since): a browser session renews from
    /// its refresh cookie alone.
    RetiredKey,
    /// The session was logged out, or revoked (merge, reuse of a refresh token).
    Revoked,
}

impl Rejection {
    pub fn label(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::Expired => "expired",
            Self::RetiredKey => "retired_key",
            Self::Revoked => "revoked",
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError::unauthorized(match r {
            Rejection::Invalid => "the access token is not valid",
            Rejection::Expired => "the access token has expired",
            Rejection::RetiredKey => "the access token was signed with a key no longer in use",
            Rejection::Revoked => "the session has ended",
        })
    }
}

/// A request without any credential on an endpoint or route that needs one.
pub fn missing_credential() -> ApiError {
    ApiError::unauthorized("a valid access token is required")
}

/// What a failed proxy attempt answers; `None` when the client itself went away (nobody is
/// left to answer).
pub fn from_proxy_error(e: &pingora::Error) -> Option<ApiError> {
    use pingora::{ErrorSource, ErrorType};
    let error = match e.etype() {
        // A client too slow to send its request is not an upstream failure.
        ErrorType::ReadTimedout | ErrorType::WriteTimedout
            if matches!(e.esource(), ErrorSource::Downstream) =>
        {
            ApiError {
                status: 408,
                ..ApiError::invalid_request("the request did not arrive in time")
            }
        }
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
            ApiError::new(
                ErrorCode::UpstreamTimeout,
                "the upstream service did not answer in time",
            )
        }
        ErrorType::HTTPStatus(code) if *code >= 500 => ApiError {
            status: *code,
            ..ApiError::internal()
        },
        ErrorType::HTTPStatus(code) => ApiError {
            status: *code,
            ..ApiError::invalid_request("request rejected")
        },
        _ => match e.esource() {
            ErrorSource::Upstream => {
                ApiError::new(ErrorCode::BadGateway, "the upstream service is unavailable")
            }
            ErrorSource::Downstream if client_went_away(e) => return None,
            ErrorSource::Downstream => ApiError::invalid_request("malformed request"),
            _ => ApiError::internal(),
        },
    };
    if error.status >= 502 {
        tracing::warn!(status = error.status, error = %e, "upstream request failed");
    }
    Some(error)
}

/// The downstream connection broke: nobody is left to answer, and nothing is wrong upstream.
pub fn client_went_away(e: &pingora::Error) -> bool {
    use pingora::{ErrorSource, ErrorType};
    matches!(e.esource(), ErrorSource::Downstream)
        && matches!(
            e.etype(),
            ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_error_has_its_contract_answer_and_label() {
        let cases = [
            (
                ProviderError::InvalidRequest("x".into()),
                400,
                "invalid_request",
            ),
            (ProviderError::InvalidCode, 401, "invalid_code"),
            (ProviderError::LoginBlocked, 403, "login_blocked"),
            (
                ProviderError::RateLimited { retry_after: 60 },
                429,
                "rate_limited",
            ),
            (
                ProviderError::Unavailable("x".into()),
                502,
                "upstream_unavailable",
            ),
            // A channel's store failing is the database, not WeChat.
            (
                ProviderError::Storage("x".into()),
                503,
                "storage_unavailable",
            ),
            (ProviderError::Misconfigured("x".into()), 500, "internal"),
            (ProviderError::Internal("x".into()), 500, "internal"),
            (ProviderError::Unauthorized, 401, "unauthorized"),
            (
                ProviderError::Forbidden("bad signature".into()),
                403,
                "forbidden",
            ),
        ];
        for (cause, status, code) in cases {
            let e = ApiError::from(cause.clone());
            assert_eq!((e.status, e.label()), (status, code), "{cause:?}");
            let body: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
            assert_eq!(body["error"], code);
        }
        assert_eq!(
            ApiError::from(ProviderError::RateLimited { retry_after: 60 }).retry_after,
            Some(60)
        );
        // A spent SMS budget answers as any rate limit, but is counted under its own label.
        let e = ApiError::from(ProviderError::BudgetExhausted { retry_after: 3600 });
        assert_eq!(
            (e.status, e.label(), e.retry_after),
            (429, "budget_exhausted", Some(3600))
        );
        let body: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(body["error"], "rate_limited");
    }

    #[test]
    fn core_errors_answer_without_internals() {
        let e = ApiError::from(CoreError::Storage(sqlx::Error::Protocol(
            "SELECT secret FROM users".into(),
        )));
        assert_eq!((e.status, e.label()), (500, "internal"));
        assert!(!String::from_utf8_lossy(&e.body()).contains("SELECT"));
        let e = ApiError::from(CoreError::StorageUnavailable(sqlx::Error::PoolTimedOut));
        assert_eq!(
            (e.status, e.label(), e.retry_after),
            (503, "storage_unavailable", Some(5))
        );
        let e = ApiError::from(CoreError::PhoneConflict {
            holder: wxgate_core::model::UserId("u_1".into()),
        });
        assert_eq!((e.status, e.label()), (409, "phone_conflict"));
        assert!(!e.message.contains("u_1"), "the holder is not disclosed");
    }

    #[test]
    fn status_and_label_come_from_the_code() {
        for code in [
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidState,
            ErrorCode::Unauthorized,
            ErrorCode::StorageUnavailable,
            ErrorCode::UpstreamTimeout,
        ] {
            let e = ApiError::new(code, "m");
            assert_eq!(e.status, code.status());
            assert_eq!(e.label(), code.as_str());
        }
        assert_eq!(ApiError::body_too_large().status, 413);
        assert_eq!(ApiError::body_too_large().label(), "invalid_request");
    }

    #[test]
    fn only_a_broken_client_connection_counts_as_the_client_going_away() {
        use pingora::{Error, ErrorType};
        let mut gone = Error::new(ErrorType::ConnectionClosed);
        gone.as_down();
        assert!(client_went_away(&gone));
        assert!(from_proxy_error(&gone).is_none());

        let mut upstream_closed = Error::new(ErrorType::ConnectionClosed);
        upstream_closed.as_up();
        assert!(!client_went_away(&upstream_closed));
        assert_eq!(
            from_proxy_error(&upstream_closed).unwrap().label(),
            "bad_gateway"
        );

        let mut malformed = Error::new(ErrorType::InvalidHTTPHeader);
        malformed.as_down();
        assert!(!client_went_away(&malformed));

        let mut timeout = Error::new(ErrorType::ReadTimedout);
        timeout.as_down();
        assert!(
            !client_went_away(&timeout),
            "a slow client is worth a log line"
        );
        assert_eq!(
            from_proxy_error(&timeout).unwrap().status,
            408,
            "not the upstream's fault"
        );
        let mut upstream_slow = Error::new(ErrorType::ReadTimedout);
        upstream_slow.as_up();
        assert_eq!(
            from_proxy_error(&upstream_slow).unwrap().label(),
            "upstream_timeout"
        );
    }
}
