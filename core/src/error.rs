//! Errors of the identity core, split by how the caller reacts to them.

use crate::model::UserId;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The database is unreachable or failing: the caller answers 503 and keeps no state.
    #[error("storage unavailable")]
    StorageUnavailable(#[source] sqlx::Error),
    /// A bug or schema drift; details go to the log, never to the client.
    #[error("storage error")]
    Storage(#[source] sqlx::Error),
    /// The verified phone belongs to another user and the policy says reject.
    #[error("phone belongs to another user")]
    PhoneConflict { holder: UserId },
    /// The login attempt carries neither a WeChat identity nor a verified phone.
    #[error("login attempt has no identity")]
    EmptyAttempt,
    /// A refresh token that is unknown, expired, revoked, or was already used (in which case its
    /// whole family has just been revoked).
    #[error("refresh token rejected")]
    InvalidRefreshToken,
    #[error("user not found")]
    UserNotFound,
    /// Contention did not settle within the retry budget.
    #[error("too much contention, try again")]
    Contention,
    #[error("key store: {0}")]
    Keys(String),
}

impl From<sqlx::Error> for CoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => CoreError::StorageUnavailable(e),
            _ => CoreError::Storage(e),
        }
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
