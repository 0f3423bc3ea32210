//! Which database errors mean "another transaction won; run yours again".

/// Unique violations (a concurrent login created the row first), serialization failures and
/// deadlocks (PostgreSQL SERIALIZABLE, InnoDB), and SQLite's busy errors. The caller re-runs the
/// whole transaction, which then reads the winner's rows.
pub fn is_retryable(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    if db.is_unique_violation() {
        return true;
    }
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        // 1213 deadlock, 1205 lock wait timeout.
        return matches!(my.number(), 1213 | 1205);
    }
    match db.code().as_deref() {
        // PostgreSQL: serialization_failure, deadlock_detected.
        Some("40001") | Some("40P01") => true,
        // SQLite: BUSY, LOCKED, BUSY_SNAPSHOT, BUSY_RECOVERY.
        Some("5") | Some("6") | Some("517") | Some("261") => true,
        _ => false,
    }
}

/// Back-off before attempt `n` (1-based): 2, 4, 8 … ms up to 64 ms, with full jitter so racing
/// replicas spread out.
pub(crate) fn backoff(n: u32) -> std::time::Duration {
    use rand::Rng;
    let cap = 2u64.saturating_pow(n.min(6)).max(2);
    std::time::Duration::from_millis(rand::thread_rng().gen_range(1..=cap))
}

/// How many times a transaction is re-run before giving up with `Contention`.
pub(crate) const MAX_ATTEMPTS: u32 = 60;

/// What a transaction body decided, besides succeeding.
#[derive(Debug)]
pub enum Stop<E> {
    /// A database error: re-run if it is retryable, fail otherwise.
    Db(sqlx::Error),
    /// A decision (a conflict the policy refuses, …): roll back and report `E`.
    Abort(E),
    /// A decision whose writes must stand (a reused refresh token revokes its family): commit,
    /// then report `E`. A commit that conflicts re-runs the body like any other.
    CommitThen(E),
}

impl<E> From<sqlx::Error> for Stop<E> {
    fn from(e: sqlx::Error) -> Self {
        Stop::Db(e)
    }
}

/// How a transaction ended, when it did not succeed.
#[derive(Debug)]
pub enum Failed<E> {
    Db(sqlx::Error),
    Decided(E),
    /// Still conflicting after [`MAX_ATTEMPTS`] runs.
    Contention,
}

impl From<Failed<crate::error::CoreError>> for crate::error::CoreError {
    fn from(f: Failed<crate::error::CoreError>) -> Self {
        match f {
            Failed::Db(e) => e.into(),
            Failed::Decided(e) => e,
            Failed::Contention => crate::error::CoreError::Contention,
        }
    }
}

/// A body run inside a write transaction: it borrows the connection for the future it returns.
pub type Body<'c, T, E> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, Stop<E>>> + Send + 'c>>;

/// The one retry loop: runs `body` in a write transaction ([`Db::begin`]) and commits, re-running
/// the whole body on a unique violation, a serialization failure, a deadlock or a busy
/// database, whether it surfaces in the body or at commit. The body owns (clones) what it
/// needs, so each run starts from the same inputs and reads the winner's rows.
pub async fn transaction<T, E, F>(db: &super::Db, mut body: F) -> Result<T, Failed<E>>
where
    F: for<'c> FnMut(&'c mut sqlx::AnyConnection) -> Body<'c, T, E>,
{
    for n in 1..=MAX_ATTEMPTS {
        let mut tx = db.begin().await.map_err(Failed::Db)?;
        let result = body(&mut tx).await;
        let conflict = match result {
            Ok(value) => match tx.commit().await {
                Ok(()) => return Ok(value),
                Err(e) if is_retryable(&e) => e,
                Err(e) => return Err(Failed::Db(e)),
            },
            Err(Stop::CommitThen(decided)) => match tx.commit().await {
                Ok(()) => return Err(Failed::Decided(decided)),
                Err(e) if is_retryable(&e) => e,
                Err(e) => return Err(Failed::Db(e)),
            },
            Err(Stop::Abort(decided)) => {
                tx.rollback().await;
                return Err(Failed::Decided(decided));
            }
            Err(Stop::Db(e)) if is_retryable(&e) => {
                tx.rollback().await; // Before the back-off, releasing locks.
                e
            }
            Err(Stop::Db(e)) => {
                tx.rollback().await;
                return Err(Failed::Db(e));
            }
        };
        tracing::debug!(attempt = n, error = %conflict, "transaction conflicted; re-running");
        tokio::time::sleep(backoff(n)).await;
    }
    Err(Failed::Contention)
}
