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
