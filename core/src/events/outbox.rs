//! Writing events: inside the transaction of the change, with one pending delivery per webhook
//! that wants it. Nothing here commits; the change and its events stand or fall together.

use super::EventType;
use crate::store::Db;
use serde_json::Value;
use sqlx::AnyConnection;

/// An event about to be written.
pub(crate) struct NewEvent<'a> {
    pub kind: EventType,
    pub user: &'a str,
    pub other: Option<&'a str>,
    pub data: Value,
}

/// Writes `event` and its deliveries on the caller's transaction.
pub(crate) async fn record(
    conn: &mut AnyConnection,
    db: &Db,
    now: i64,
    actor: Option<&str>,
    event: NewEvent<'_>,
) -> Result<(), sqlx::Error> {
    let id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    let q = db.sql(
        "INSERT INTO identity_events (id, kind, user_id, other_user_id, actor, payload, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    sqlx::query(&q)
        .bind(&id)
        .bind(event.kind.as_str())
        .bind(event.user)
        .bind(event.other)
        .bind(actor)
        .bind(event.data.to_string())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    // By id rather than by the new seq: MySQL has no RETURNING.
    let q = db.sql(
        "INSERT INTO event_deliveries (webhook, event_seq, status, attempts, next_attempt_at, claimed_until) \
         SELECT ?, seq, 'pending', 0, ?, 0 FROM identity_events WHERE id = ?",
    );
    for sub in db.subscriptions().iter().filter(|s| s.wants(event.kind)) {
        sqlx::query(&q)
            .bind(&sub.webhook)
            .bind(now)
            .bind(&id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
