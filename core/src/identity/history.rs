//! Reading the audit log and phone history (operators' look-ups and tests).

use super::{AuditEvent, PhoneHistoryEntry};
use crate::error::{CoreError, CoreResult};
use crate::model::{Binding, Phone, UserId};
use crate::store::Db;
use sqlx::Row;

/// Audit events that name `user_id` on either side, oldest first.
pub async fn audit_events_for(db: &Db, user_id: &str) -> CoreResult<Vec<AuditEvent>> {
    let q = db.sql(
        "SELECT at, kind, user_id, other_user_id, channel, appid, openid, phone, actor FROM audit_events \
         WHERE user_id = ? OR other_user_id = ? ORDER BY id",
    );
    let rows = sqlx::query(&q)
        .bind(user_id)
        .bind(user_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(AuditEvent {
                at: r.try_get("at")?,
                kind: r.try_get("kind")?,
                user_id: r.try_get("user_id")?,
                other_user_id: r.try_get("other_user_id")?,
                channel: r.try_get("channel")?,
                appid: r.try_get("appid")?,
                openid: r.try_get("openid")?,
                phone: r.try_get("phone")?,
                actor: r.try_get("actor")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(CoreError::from)
}

/// Every phone a user has held, oldest first.
pub async fn phones_of_user(db: &Db, user_id: &str) -> CoreResult<Vec<PhoneHistoryEntry>> {
    let q = db.sql(
        "SELECT phone, user_id, bound_at, unbound_at, reason FROM phone_history WHERE user_id = ? ORDER BY id",
    );
    let rows = sqlx::query(&q).bind(user_id).fetch_all(db.pool()).await?;
    rows.iter()
        .map(phone_entry)
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(CoreError::from)
}

fn phone_entry(r: &sqlx::any::AnyRow) -> Result<PhoneHistoryEntry, sqlx::Error> {
    Ok(PhoneHistoryEntry {
        phone: r.try_get("phone")?,
        user_id: r.try_get("user_id")?,
        bound_at: r.try_get("bound_at")?,
        unbound_at: r.try_get("unbound_at")?,
        reason: r.try_get("reason")?,
    })
}

/// Every owner a phone has had, oldest first.
pub async fn phone_history(db: &Db, phone: &Phone) -> CoreResult<Vec<PhoneHistoryEntry>> {
    let q = db.sql(
        "SELECT phone, user_id, bound_at, unbound_at, reason FROM phone_history WHERE phone = ? ORDER BY id",
    );
    let rows = sqlx::query(&q)
        .bind(phone.as_str())
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(phone_entry)
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(CoreError::from)
}

/// The WeChat identities bound to a user, oldest first.
pub async fn bindings_of(db: &Db, user: &UserId) -> CoreResult<Vec<Binding>> {
    let q = db.sql(
        "SELECT channel, appid, openid, unionid FROM identities WHERE user_id = ? ORDER BY created_at, appid",
    );
    let rows = sqlx::query(&q)
        .bind(user.as_str())
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Binding {
                channel: r.try_get("channel")?,
                appid: r.try_get("appid")?,
                openid: r.try_get("openid")?,
                unionid: r.try_get("unionid")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(CoreError::from)
}

/// Users that are neither merge aliases nor deleted.
pub async fn count_live_users(db: &Db) -> CoreResult<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM users WHERE merged_into IS NULL AND deleted_at IS NULL",
    )
    .fetch_one(db.pool())
    .await?;
    Ok(row.try_get("n")?)
}

/// Live users whose stored phone is not what today's parser makes of it (a trunk prefix kept,
/// a number no numbering plan has): `(user id, stored value)`, and how many phones were read.
/// Such a phone still works as stored, but the same number typed today parses to another
/// string, so it would not find this user. Read in pages: a large table is never held whole.
pub async fn noncanonical_phones(db: &Db) -> CoreResult<(u64, Vec<(String, String)>)> {
    const PAGE: i64 = 1000;
    let q = db
        .sql("SELECT id, phone FROM users WHERE phone IS NOT NULL AND id > ? ORDER BY id LIMIT ?");
    let (mut after, mut checked, mut odd) = (String::new(), 0u64, Vec::new());
    loop {
        let rows = sqlx::query(&q)
            .bind(&after)
            .bind(PAGE)
            .fetch_all(db.pool())
            .await?;
        for row in &rows {
            let (id, phone): (String, String) = (row.try_get("id")?, row.try_get("phone")?);
            checked += 1;
            if !Phone::stored_is_canonical(&phone) {
                odd.push((id.clone(), phone));
            }
            after = id;
        }
        if rows.len() < PAGE as usize {
            return Ok((checked, odd));
        }
    }
}
