//! Delivering events, shared by every replica through the database: a delivery is claimed with a
//! conditional update (one replica wins it for a lease), an event waits while an earlier event
//! of the same user is still pending for that webhook, and every attempt is recorded.

use super::{Event, Subscription};
use crate::store::Db;
use sqlx::Row;

/// A delivery this replica holds for its lease.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub webhook: String,
    pub event: Event,
    /// Attempts made before this one.
    pub attempts: i64,
    claim: String,
}

/// Where a webhook's deliveries stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookStats {
    pub webhook: String,
    pub pending: i64,
    pub failed: i64,
    /// `created_at` of the oldest pending event (ms).
    pub oldest_pending: Option<i64>,
}

/// One webhook's delivery of an event, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryState {
    pub webhook: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

/// Which events `replay` sends again.
#[derive(Debug, Clone)]
pub enum Replay {
    Id(String),
    /// Every event created at or after this time (ms).
    Since(i64),
}

const EVENT_COLUMNS: &str =
    "e.seq, e.id, e.kind, e.user_id, e.other_user_id, e.actor, e.payload, e.created_at";

fn event_from_row(row: &sqlx::any::AnyRow) -> Result<Event, sqlx::Error> {
    let payload: String = row.try_get("payload")?;
    Ok(Event {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        user_id: row.try_get("user_id")?,
        other_user_id: row.try_get("other_user_id")?,
        actor: row.try_get("actor")?,
        data: serde_json::from_str(&payload).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        created_at: row.try_get("created_at")?,
    })
}

#[derive(Clone)]
pub struct Deliveries {
    db: Db,
}

impl Deliveries {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Claims up to `limit` deliveries of `webhook` that are due, for `lease_ms`: at most one per
    /// user, and none while an earlier event of that user is still pending for this webhook.
    pub async fn claim(
        &self,
        webhook: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Claimed>, sqlx::Error> {
        let q = self.db.sql_owned(format!(
            "SELECT {EVENT_COLUMNS}, d.attempts FROM event_deliveries d \
             JOIN identity_events e ON e.seq = d.event_seq \
             WHERE d.webhook = ? AND d.status = 'pending' AND d.next_attempt_at <= ? \
             AND d.claimed_until <= ? \
             AND NOT EXISTS (SELECT 1 FROM event_deliveries d2 \
                 JOIN identity_events e2 ON e2.seq = d2.event_seq \
                 WHERE d2.webhook = d.webhook AND d2.status = 'pending' AND d2.event_seq < d.event_seq \
                 AND (e2.user_id = e.user_id OR e2.user_id = e.other_user_id \
                      OR e2.other_user_id = e.user_id OR e2.other_user_id = e.other_user_id)) \
             ORDER BY d.event_seq LIMIT ?"
        ));
        let rows = sqlx::query(&q)
            .bind(webhook)
            .bind(now)
            .bind(now)
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?;
        let take = self.db.sql(
            "UPDATE event_deliveries SET claimed_until = ?, claim = ? \
             WHERE webhook = ? AND event_seq = ? AND status = 'pending' AND claimed_until <= ?",
        );
        let mut claimed = Vec::new();
        for row in &rows {
            let event = event_from_row(row)?;
            let claim = uuid::Uuid::new_v4().simple().to_string();
            let won = sqlx::query(&take)
                .bind(now + lease_ms)
                .bind(&claim)
                .bind(webhook)
                .bind(event.seq)
                .bind(now)
                .execute(self.db.pool())
                .await?
                .rows_affected()
                == 1;
            if won {
                claimed.push(Claimed {
                    webhook: webhook.to_string(),
                    attempts: row.try_get("attempts")?,
                    event,
                    claim,
                });
            }
        }
        Ok(claimed)
    }

    /// Records a delivery the receiver accepted. `false` when the claim was lost (its lease ran
    /// out and another replica took it): the receiver may then see the event twice.
    pub async fn delivered(&self, c: &Claimed, now: i64) -> Result<bool, sqlx::Error> {
        let q = self.db.sql(
            "UPDATE event_deliveries SET status = 'delivered', delivered_at = ?, \
             attempts = attempts + 1, claimed_until = 0, last_error = NULL \
             WHERE webhook = ? AND event_seq = ? AND claim = ?",
        );
        let n = sqlx::query(&q)
            .bind(now)
            .bind(&c.webhook)
            .bind(c.event.seq)
            .bind(&c.claim)
            .execute(self.db.pool())
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Records a failed attempt: tried again at `retry_at`, or parked as failed when `None`.
    pub async fn attempt_failed(
        &self,
        c: &Claimed,
        retry_at: Option<i64>,
        error: &str,
    ) -> Result<bool, sqlx::Error> {
        let q = self.db.sql(
            "UPDATE event_deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, \
             claimed_until = 0, last_error = ? WHERE webhook = ? AND event_seq = ? AND claim = ?",
        );
        let error: String = error.chars().take(500).collect();
        let n = sqlx::query(&q)
            .bind(if retry_at.is_some() {
                "pending"
            } else {
                "failed"
            })
            .bind(retry_at.unwrap_or(0))
            .bind(error)
            .bind(&c.webhook)
            .bind(c.event.seq)
            .bind(&c.claim)
            .execute(self.db.pool())
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Pending and failed counts and the oldest pending event, per webhook with any delivery.
    pub async fn stats(&self) -> Result<Vec<WebhookStats>, sqlx::Error> {
        let q = "SELECT d.webhook, \
                 COUNT(CASE WHEN d.status = 'pending' THEN 1 END) AS pending, \
                 COUNT(CASE WHEN d.status = 'failed' THEN 1 END) AS failed, \
                 MIN(CASE WHEN d.status = 'pending' THEN e.created_at END) AS oldest \
                 FROM event_deliveries d JOIN identity_events e ON e.seq = d.event_seq \
                 WHERE d.status <> 'delivered' GROUP BY d.webhook ORDER BY d.webhook";
        let rows = sqlx::query(q).fetch_all(self.db.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(WebhookStats {
                    webhook: r.try_get("webhook")?,
                    pending: r.try_get("pending")?,
                    failed: r.try_get("failed")?,
                    oldest_pending: r.try_get::<Option<i64>, _>("oldest")?,
                })
            })
            .collect()
    }

    /// The newest events (or only those with a failed delivery), with their deliveries.
    pub async fn list(
        &self,
        failed_only: bool,
        limit: i64,
    ) -> Result<Vec<(Event, Vec<DeliveryState>)>, sqlx::Error> {
        let filter = if failed_only {
            "WHERE EXISTS (SELECT 1 FROM event_deliveries f WHERE f.event_seq = e.seq AND f.status = 'failed')"
        } else {
            ""
        };
        let q = self.db.sql_owned(format!(
            "SELECT {EVENT_COLUMNS} FROM identity_events e {filter} ORDER BY e.seq DESC LIMIT ?"
        ));
        let rows = sqlx::query(&q)
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?;
        let per_event = self.db.sql(
            "SELECT webhook, status, attempts, next_attempt_at, last_error, delivered_at \
             FROM event_deliveries WHERE event_seq = ? ORDER BY webhook",
        );
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let event = event_from_row(row)?;
            let states = sqlx::query(&per_event)
                .bind(event.seq)
                .fetch_all(self.db.pool())
                .await?
                .iter()
                .map(|r| {
                    Ok(DeliveryState {
                        webhook: r.try_get("webhook")?,
                        status: r.try_get("status")?,
                        attempts: r.try_get("attempts")?,
                        next_attempt_at: r.try_get("next_attempt_at")?,
                        last_error: r.try_get("last_error")?,
                        delivered_at: r.try_get("delivered_at")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            out.push((event, states));
        }
        Ok(out)
    }

    /// Makes the chosen events due again for every webhook in `subs` that wants them (also one
    /// added after the event was written). Returns how many deliveries were queued.
    pub async fn replay(
        &self,
        which: &Replay,
        subs: &[Subscription],
        now: i64,
    ) -> Result<u64, sqlx::Error> {
        let rows = match which {
            Replay::Id(id) => {
                let q = self
                    .db
                    .sql("SELECT seq, kind FROM identity_events WHERE id = ?");
                sqlx::query(&q).bind(id).fetch_all(self.db.pool()).await?
            }
            Replay::Since(t) => {
                let q = self.db.sql(
                    "SELECT seq, kind FROM identity_events WHERE created_at >= ? ORDER BY seq",
                );
                sqlx::query(&q).bind(*t).fetch_all(self.db.pool()).await?
            }
        };
        let reset = self.db.sql(
            "UPDATE event_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, \
             claimed_until = 0, claim = NULL, last_error = NULL, delivered_at = NULL \
             WHERE webhook = ? AND event_seq = ?",
        );
        let insert = self.db.sql(
            "INSERT INTO event_deliveries (webhook, event_seq, status, attempts, next_attempt_at, claimed_until) \
             VALUES (?, ?, 'pending', 0, ?, 0)",
        );
        let mut queued = 0;
        for row in &rows {
            let seq: i64 = row.try_get("seq")?;
            let kind: String = row.try_get("kind")?;
            let Some(t) = super::EventType::parse(&kind) else {
                continue;
            };
            for sub in subs.iter().filter(|s| s.wants(t)) {
                let n = sqlx::query(&reset)
                    .bind(now)
                    .bind(&sub.webhook)
                    .bind(seq)
                    .execute(self.db.pool())
                    .await?
                    .rows_affected();
                if n == 0 {
                    sqlx::query(&insert)
                        .bind(&sub.webhook)
                        .bind(seq)
                        .bind(now)
                        .execute(self.db.pool())
                        .await?;
                }
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// Forgets events older than `before` (ms) that have nothing left to deliver.
    pub async fn prune(&self, before: i64) -> Result<u64, sqlx::Error> {
        let q = self.db.sql(
            "DELETE FROM event_deliveries WHERE status <> 'pending' AND event_seq IN \
             (SELECT seq FROM identity_events WHERE created_at < ?)",
        );
        sqlx::query(&q).bind(before).execute(self.db.pool()).await?;
        let q = self.db.sql(
            "DELETE FROM identity_events WHERE created_at < ? AND NOT EXISTS \
             (SELECT 1 FROM event_deliveries d WHERE d.event_seq = identity_events.seq)",
        );
        Ok(sqlx::query(&q)
            .bind(before)
            .execute(self.db.pool())
            .await?
            .rows_affected())
    }
}
