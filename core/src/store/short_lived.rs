//! Short-lived state shared by every replica: a key with a value (or a counter) and an expiry,
//! in one table (`short_lived`). OAuth states, codes already seen and, later, SMS codes and send
//! limits all live here instead of in one process's memory, so a replica that never saw the
//! first request still gives the right answer.
//!
//! Three operations cover them: [`ShortLived::put_if_absent`] (first writer wins),
//! [`ShortLived::take`] (exactly one reader gets the value) and [`ShortLived::hit`] (count events
//! within a window). Each is a few single statements that are atomic on their own, so they need
//! no transaction and behave the same on SQLite, PostgreSQL and MySQL. Expired rows are invisible
//! to every read and are swept by the writers themselves, at most once a minute per process:
//! no cron.

use super::{Db, Dialect};
use crate::clock::SharedClock;
use crate::error::{CoreError, CoreResult};
use sqlx::Row;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest namespace and key the table holds (MySQL indexes at most 191 utf8mb4 characters);
/// callers hash anything longer or hostile.
pub const MAX_NS_LEN: usize = 32;
pub const MAX_KEY_LEN: usize = 191;

/// How often one process sweeps expired rows.
const SWEEP_EVERY_MS: i64 = 60_000;

/// The shared short-lived store; cheap to clone.
#[derive(Clone)]
pub struct ShortLived {
    db: Db,
    clock: SharedClock,
    /// When this process last swept, in ms.
    last_sweep: Arc<AtomicI64>,
}

impl std::fmt::Debug for ShortLived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShortLived").finish_non_exhaustive()
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn check_key(ns: &str, key: &str) -> CoreResult<()> {
    if ns.is_empty() || ns.len() > MAX_NS_LEN || key.is_empty() || key.len() > MAX_KEY_LEN {
        // A caller's bug, never client input: keys are built from hashes and fixed names.
        return Err(CoreError::Storage(sqlx::Error::Protocol(format!(
            "short-lived key out of bounds (namespace {} bytes, key {} bytes)",
            ns.len(),
            key.len()
        ))));
    }
    Ok(())
}

impl ShortLived {
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self {
            db,
            clock,
            last_sweep: Arc::new(AtomicI64::new(0)),
        }
    }

    /// `INSERT` that does nothing when the key is taken, in each dialect.
    fn insert_ignoring_conflict(&self) -> &'static str {
        match self.db.dialect() {
            Dialect::Sqlite => {
                "INSERT OR IGNORE INTO short_lived (ns, k, v, n, expires_at) VALUES (?, ?, ?, ?, ?)"
            }
            Dialect::Postgres => {
                "INSERT INTO short_lived (ns, k, v, n, expires_at) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT DO NOTHING"
            }
            // `INSERT IGNORE` would also turn a value too long into a silent truncation: a
            // plain insert whose duplicate-key error means "taken" (see `insert`).
            Dialect::Mysql => {
                "INSERT INTO short_lived (ns, k, v, n, expires_at) VALUES (?, ?, ?, ?, ?)"
            }
        }
    }

    /// Drops the key's row if it has expired, so a fresh insert can take its place.
    async fn clear_expired(&self, ns: &str, key: &str, now: i64) -> CoreResult<()> {
        let q = self
            .db
            .sql("DELETE FROM short_lived WHERE ns = ? AND k = ? AND expires_at <= ?");
        sqlx::query(&q)
            .bind(ns)
            .bind(key)
            .bind(now)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    async fn insert(
        &self,
        ns: &str,
        key: &str,
        value: Option<&str>,
        n: i64,
        expires_at: i64,
    ) -> CoreResult<bool> {
        let q = self.db.sql(self.insert_ignoring_conflict());
        let result = sqlx::query(&q)
            .bind(ns)
            .bind(key)
            .bind(value)
            .bind(n)
            .bind(expires_at)
            .execute(self.db.pool())
            .await;
        match result {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores `value` under `(ns, key)` for `ttl` unless a live entry is there. `true`: this
    /// call stored it; `false`: someone (any replica) got there first.
    pub async fn put_if_absent(
        &self,
        ns: &str,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> CoreResult<bool> {
        check_key(ns, key)?;
        let now = self.clock.now_ms();
        let expires_at = now.saturating_add(ms(ttl));
        let stored = match self.db.dialect() {
            // One statement: insert, or take over an expired entry; a live one is left alone
            // (no row changed). Used for every code a login spends, so the round trip counts.
            Dialect::Sqlite | Dialect::Postgres => {
                let q = self.db.sql(
                    "INSERT INTO short_lived (ns, k, v, n, expires_at) VALUES (?, ?, ?, 0, ?) \
                     ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v, n = 0, expires_at = excluded.expires_at \
                     WHERE short_lived.expires_at <= ?",
                );
                sqlx::query(&q)
                    .bind(ns)
                    .bind(key)
                    .bind(value)
                    .bind(expires_at)
                    .bind(now)
                    .execute(self.db.pool())
                    .await?
                    .rows_affected()
                    == 1
            }
            // MySQL reports a changed duplicate as 2 rows and, with found-rows, an unchanged
            // one as 1: clear the expired entry first, then insert.
            Dialect::Mysql => {
                self.clear_expired(ns, key, now).await?;
                self.insert(ns, key, Some(value), 0, expires_at).await?
            }
        };
        self.maybe_sweep(now).await;
        Ok(stored)
    }

    /// The store's clock (ms): what its expiries are measured against.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Stores `value` under `(ns, key)` for `ttl`, replacing whatever was there (its counter
    /// too). One statement: concurrent puts leave one of their values, never a mix.
    pub async fn put(&self, ns: &str, key: &str, value: &str, ttl: Duration) -> CoreResult<()> {
        check_key(ns, key)?;
        let now = self.clock.now_ms();
        let upsert = match self.db.dialect() {
            Dialect::Sqlite | Dialect::Postgres => {
                "INSERT INTO short_lived (ns, k, v, n, expires_at) VALUES (?, ?, ?, 0, ?) \
                 ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v, n = 0, expires_at = excluded.expires_at"
            }
            Dialect::Mysql => {
                "INSERT INTO short_lived (ns, k, v, n, expires_at) VALUES (?, ?, ?, 0, ?) \
                 ON DUPLICATE KEY UPDATE v = VALUES(v), n = 0, expires_at = VALUES(expires_at)"
            }
        };
        sqlx::query(&self.db.sql(upsert))
            .bind(ns)
            .bind(key)
            .bind(value)
            .bind(now.saturating_add(ms(ttl)))
            .execute(self.db.pool())
            .await?;
        self.maybe_sweep(now).await;
        Ok(())
    }

    /// Removes the live entry under `(ns, key)` if it still holds `value`; `true` when this call
    /// removed it. Of concurrent callers, one wins; a value replaced meanwhile is left alone.
    pub async fn take_if(&self, ns: &str, key: &str, value: &str) -> CoreResult<bool> {
        check_key(ns, key)?;
        let q = self
            .db
            .sql("DELETE FROM short_lived WHERE ns = ? AND k = ? AND v = ? AND expires_at > ?");
        let removed = sqlx::query(&q)
            .bind(ns)
            .bind(key)
            .bind(value)
            .bind(self.clock.now_ms())
            .execute(self.db.pool())
            .await?
            .rows_affected()
            == 1;
        Ok(removed)
    }

    /// Replaces the live value under `(ns, key)` with `new` if it still holds `old`, keeping its
    /// expiry; `true` when this call replaced it. Of concurrent callers, on any replicas, one
    /// wins: a state machine moves by reading a value and swapping it for the next. `new` must
    /// differ from `old` (MySQL counts only rows it changed).
    pub async fn swap(&self, ns: &str, key: &str, old: &str, new: &str) -> CoreResult<bool> {
        check_key(ns, key)?;
        let q = self.db.sql(
            "UPDATE short_lived SET v = ? WHERE ns = ? AND k = ? AND v = ? AND expires_at > ?",
        );
        let swapped = sqlx::query(&q)
            .bind(new)
            .bind(ns)
            .bind(key)
            .bind(old)
            .bind(self.clock.now_ms())
            .execute(self.db.pool())
            .await?
            .rows_affected()
            == 1;
        Ok(swapped)
    }

    /// Takes back one event counted by [`Self::hit`] (an action that failed and must not use
    /// up a limit). Never below zero.
    pub async fn unhit(&self, ns: &str, key: &str) -> CoreResult<()> {
        check_key(ns, key)?;
        let q = self.db.sql(
            "UPDATE short_lived SET n = n - 1 WHERE ns = ? AND k = ? AND n > 0 AND expires_at > ?",
        );
        sqlx::query(&q)
            .bind(ns)
            .bind(key)
            .bind(self.clock.now_ms())
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// When the live entry under `(ns, key)` expires (ms), if there is one.
    pub async fn expires_at(&self, ns: &str, key: &str) -> CoreResult<Option<i64>> {
        Ok(match self.live(ns, key).await? {
            Some(row) => Some(row.try_get("expires_at")?),
            None => None,
        })
    }

    /// The live value under `(ns, key)` and when it expires (ms), in one read.
    pub async fn get_expiring(&self, ns: &str, key: &str) -> CoreResult<Option<(String, i64)>> {
        let Some(row) = self.live(ns, key).await? else {
            return Ok(None);
        };
        let value: Option<String> = row.try_get("v")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        Ok(value.map(|v| (v, expires_at)))
    }

    /// The live row of `(ns, key)`, if any.
    async fn live(&self, ns: &str, key: &str) -> CoreResult<Option<sqlx::any::AnyRow>> {
        check_key(ns, key)?;
        let q = self.db.sql(
            "SELECT v, n, expires_at FROM short_lived WHERE ns = ? AND k = ? AND expires_at > ?",
        );
        Ok(sqlx::query(&q)
            .bind(ns)
            .bind(key)
            .bind(self.clock.now_ms())
            .fetch_optional(self.db.pool())
            .await?)
    }

    /// The live value under `(ns, key)`, left in place.
    pub async fn get(&self, ns: &str, key: &str) -> CoreResult<Option<String>> {
        Ok(match self.live(ns, key).await? {
            Some(row) => row.try_get::<Option<String>, _>("v")?,
            None => None,
        })
    }

    /// Removes the live entry under `(ns, key)` and returns its value. Of any number of
    /// concurrent takers, on any replicas, exactly one gets it: the row is read, then deleted
    /// on condition that it still holds what was read, and only the delete that removed it
    /// counts. (No `DELETE … RETURNING`: MySQL has none.)
    pub async fn take(&self, ns: &str, key: &str) -> CoreResult<Option<String>> {
        let Some(row) = self.live(ns, key).await? else {
            return Ok(None);
        };
        let value: Option<String> = row.try_get("v")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let q = self
            .db
            .sql("DELETE FROM short_lived WHERE ns = ? AND k = ? AND expires_at = ?");
        let removed = sqlx::query(&q)
            .bind(ns)
            .bind(key)
            .bind(expires_at)
            .execute(self.db.pool())
            .await?
            .rows_affected()
            == 1;
        Ok(if removed { value } else { None })
    }

    /// Removes `(ns, key)` whatever it holds.
    pub async fn remove(&self, ns: &str, key: &str) -> CoreResult<()> {
        check_key(ns, key)?;
        let q = self
            .db
            .sql("DELETE FROM short_lived WHERE ns = ? AND k = ?");
        sqlx::query(&q)
            .bind(ns)
            .bind(key)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Counts one event under `(ns, key)` and returns how many the current window holds,
    /// this one included. A window opens with the first event after the previous one closed
    /// and lasts `window` (a fixed window per key). Concurrent hits on any replicas are all
    /// counted; the number returned may already include a racing hit, never miss one.
    pub async fn hit(&self, ns: &str, key: &str, window: Duration) -> CoreResult<u64> {
        check_key(ns, key)?;
        let now = self.clock.now_ms();
        // Twice at most: the window can close between the insert that lost and the update.
        for _ in 0..3 {
            self.clear_expired(ns, key, now).await?;
            if self
                .insert(ns, key, None, 1, now.saturating_add(ms(window)))
                .await?
            {
                self.maybe_sweep(now).await;
                return Ok(1);
            }
            let q = self
                .db
                .sql("UPDATE short_lived SET n = n + 1 WHERE ns = ? AND k = ? AND expires_at > ?");
            let counted = sqlx::query(&q)
                .bind(ns)
                .bind(key)
                .bind(now)
                .execute(self.db.pool())
                .await?
                .rows_affected()
                == 1;
            if counted {
                return Ok(self.count(ns, key).await?.max(1));
            }
        }
        Err(CoreError::Contention)
    }

    /// [`Self::hit`] for several keys at once, in one statement (two on MySQL, which cannot
    /// return what it wrote): the counts, in the order given. The keys must differ.
    pub async fn hit_many(&self, hits: &[(&str, &str, Duration)]) -> CoreResult<Vec<u64>> {
        for (ns, key, _) in hits {
            check_key(ns, key)?;
        }
        let distinct = hits
            .iter()
            .enumerate()
            .all(|(i, (ns, key, _))| !hits[..i].iter().any(|(n, k, _)| n == ns && k == key));
        if hits.is_empty() || !distinct {
            let mut out = Vec::with_capacity(hits.len());
            for (ns, key, window) in hits {
                out.push(self.hit(ns, key, *window).await?);
            }
            return Ok(out);
        }
        let now = self.clock.now_ms();
        let rows = vec!["(?, ?, NULL, 1, ?)"; hits.len()].join(", ");
        let counts: Vec<(String, String, i64)> = match self.db.dialect() {
            // Each row opens a window or counts in the live one; an expired, unswept row
            // starts over. Every SET expression reads the row as it was.
            Dialect::Sqlite | Dialect::Postgres => {
                let q = self.db.sql_owned(format!(
                    "INSERT INTO short_lived (ns, k, v, n, expires_at) VALUES {rows}                      ON CONFLICT (ns, k) DO UPDATE SET                      n = CASE WHEN short_lived.expires_at > ? THEN short_lived.n + 1 ELSE 1 END,                      expires_at = CASE WHEN short_lived.expires_at > ? THEN short_lived.expires_at                      ELSE excluded.expires_at END                      RETURNING ns, k, n"
                ));
                let mut query = sqlx::query(&q);
                for (ns, key, window) in hits {
                    query = query
                        .bind(*ns)
                        .bind(*key)
                        .bind(now.saturating_add(ms(*window)));
                }
                query
                    .bind(now)
                    .bind(now)
                    .fetch_all(self.db.pool())
                    .await?
                    .iter()
                    .map(|r| Ok((r.try_get("ns")?, r.try_get("k")?, r.try_get("n")?)))
                    .collect::<Result<_, sqlx::Error>>()?
            }
            // MySQL assigns left to right, each later assignment seeing the earlier ones: the
            // count first (from the expiry as it was), then the expiry (a count of 1 is a new
            // window).
            Dialect::Mysql => {
                let q = format!(
                    "INSERT INTO short_lived (ns, k, v, n, expires_at) VALUES {rows}                      ON DUPLICATE KEY UPDATE n = IF(expires_at > ?, n + 1, 1),                      expires_at = IF(n = 1, VALUES(expires_at), expires_at)"
                );
                let mut query = sqlx::query(&q);
                for (ns, key, window) in hits {
                    query = query
                        .bind(*ns)
                        .bind(*key)
                        .bind(now.saturating_add(ms(*window)));
                }
                query.bind(now).execute(self.db.pool()).await?;
                let wanted = vec!["(ns = ? AND k = ?)"; hits.len()].join(" OR ");
                let q = format!("SELECT ns, k, n FROM short_lived WHERE {wanted}");
                let mut query = sqlx::query(&q);
                for (ns, key, _) in hits {
                    query = query.bind(*ns).bind(*key);
                }
                query
                    .fetch_all(self.db.pool())
                    .await?
                    .iter()
                    .map(|r| Ok((r.try_get("ns")?, r.try_get("k")?, r.try_get("n")?)))
                    .collect::<Result<_, sqlx::Error>>()?
            }
        };
        self.maybe_sweep(now).await;
        Ok(hits
            .iter()
            .map(|(ns, key, _)| {
                counts
                    .iter()
                    .find(|(n, k, _)| n == ns && k == key)
                    .map_or(1, |(_, _, c)| u64::try_from(*c).unwrap_or(0).max(1))
            })
            .collect())
    }

    /// [`Self::unhit`] for several keys, in one statement.
    pub async fn unhit_many(&self, keys: &[(&str, &str)]) -> CoreResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        for (ns, key) in keys {
            check_key(ns, key)?;
        }
        let wanted = vec!["(ns = ? AND k = ?)"; keys.len()].join(" OR ");
        let q = self.db.sql_owned(format!(
            "UPDATE short_lived SET n = n - 1 WHERE n > 0 AND expires_at > ? AND ({wanted})"
        ));
        let mut query = sqlx::query(&q).bind(self.clock.now_ms());
        for (ns, key) in keys {
            query = query.bind(*ns).bind(*key);
        }
        query.execute(self.db.pool()).await?;
        Ok(())
    }

    /// How many events the current window of `(ns, key)` holds (0 when none is open).
    pub async fn count(&self, ns: &str, key: &str) -> CoreResult<u64> {
        Ok(match self.live(ns, key).await? {
            Some(row) => u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0),
            None => 0,
        })
    }

    /// Deletes expired rows, a batch at a time so that no statement holds locks for long;
    /// returns how many went. Writers start it at most once a minute per process, in the
    /// background: a failure only delays the sweep, and no caller waits for it.
    pub async fn sweep(&self) -> CoreResult<u64> {
        const BATCH: u64 = 1000;
        let q = self.db.sql(match self.db.dialect() {
            Dialect::Sqlite => {
                "DELETE FROM short_lived WHERE rowid IN \
                 (SELECT rowid FROM short_lived WHERE expires_at <= ? LIMIT 1000)"
            }
            Dialect::Postgres => {
                "DELETE FROM short_lived WHERE ctid IN \
                 (SELECT ctid FROM short_lived WHERE expires_at <= ? LIMIT 1000)"
            }
            Dialect::Mysql => "DELETE FROM short_lived WHERE expires_at <= ? LIMIT 1000",
        });
        let now = self.clock.now_ms();
        let mut removed = 0;
        loop {
            let n = sqlx::query(&q)
                .bind(now)
                .execute(self.db.pool())
                .await?
                .rows_affected();
            removed += n;
            if n < BATCH {
                return Ok(removed);
            }
        }
    }

    async fn maybe_sweep(&self, now: i64) {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) < SWEEP_EVERY_MS {
            return;
        }
        // One caller per period wins the sweep; the others go on at once.
        if self
            .last_sweep
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            match store.sweep().await {
                Ok(n) if n > 0 => tracing::debug!(removed = n, "swept expired short-lived rows"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not sweep expired short-lived rows"),
            }
        });
    }
}
