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
    /// A used refresh token came back (theft, or a stale copy): its whole session was revoked
    /// just now. Answered like [`CoreError::InvalidRefreshToken`]; the gateway also drops the
    /// session from its own fast path at once.
    #[error("refresh token reused; session revoked")]
    RefreshReused { session: String },
    #[error("user not found")]
    UserNotFound,
    /// The identity or phone named is not bound to the user named.
    #[error("not bound to this user")]
    NotBound,
    /// An operator's change that the identity rules refuse; the text says why.
    #[error("refused: {0}")]
    Refused(&'static str),
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
            sqlx::Error::Database(db) if db.code().is_some_and(|c| unavailable_sqlstate(&c)) => {
                CoreError::StorageUnavailable(e)
            }
            _ => CoreError::Storage(e),
        }
    }
}

/// SQLSTATEs that mean "the server is going away or cannot take us now", not "this query is
/// wrong": a restart or failover answers them, so the caller gets 503 and may retry.
fn unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") // connection exception (PostgreSQL and MySQL)
        || matches!(
            code,
            "57P01" // admin_shutdown: the server is stopping
                | "57P02" // crash_shutdown
                | "57P03" // cannot_connect_now: the server is starting
                | "53300" // too_many_connections
                | "70100" // MySQL/MariaDB: the connection or query was killed
        )
}

pub type CoreResult<T> = Result<T, CoreError>;

#[cfg(test)]
mod tests {
    use super::unavailable_sqlstate;

    #[test]
    fn outages_and_restarts_are_unavailable_and_query_errors_are_not() {
        for code in [
            "08006", "08001", "08S01", "08004", "57P01", "57P03", "53300", "70100",
        ] {
            assert!(unavailable_sqlstate(code), "{code}");
        }
        // unique_violation, serialization_failure, syntax_error, undefined_table
        for code in ["23505", "40001", "42601", "42P01", "57014"] {
            assert!(!unavailable_sqlstate(code), "{code}");
        }
    }
}
