//! WeChat state shared by replicas: interface access_tokens with the lease that elects the one
//! replica that fetches a new one, and sealed mini-program session_keys.

use super::{Db, Dialect};
use crate::error::CoreResult;
use sqlx::Row;

/// The stored token and its expiry (ms), if a token is stored.
pub async fn load(db: &Db, appid: &str) -> CoreResult<Option<(String, i64)>> {
    let q = db.sql("SELECT access_token, expires_at FROM wechat_access_tokens WHERE appid = ?");
    let row = sqlx::query(&q)
        .bind(appid)
        .fetch_optional(db.pool())
        .await?;
    Ok(match row {
        Some(r) => r
            .try_get::<Option<String>, _>("access_token")?
            .map(|t| (t, r.try_get("expires_at").unwrap_or(0))),
        None => None,
    })
}

/// Takes the fetch lease for `appid` until `until_ms`, unless a live lease is held by someone
/// else. One conditional UPDATE decides, so at most one caller wins per lease period.
pub async fn try_lease(
    db: &Db,
    appid: &str,
    owner: &str,
    now_ms: i64,
    until_ms: i64,
) -> CoreResult<bool> {
    let insert = match db.dialect() {
        Dialect::Sqlite => "INSERT OR IGNORE INTO wechat_access_tokens (appid, expires_at, lease_until) VALUES (?, 0, 0)",
        Dialect::Postgres => {
            "INSERT INTO wechat_access_tokens (appid, expires_at, lease_until) VALUES (?, 0, 0) ON CONFLICT DO NOTHING"
        }
        Dialect::Mysql => "INSERT IGNORE INTO wechat_access_tokens (appid, expires_at, lease_until) VALUES (?, 0, 0)",
    };
    sqlx::query(&db.sql(insert))
        .bind(appid)
        .execute(db.pool())
        .await?;
    let q = db.sql(
        "UPDATE wechat_access_tokens SET lease_owner = ?, lease_until = ? WHERE appid = ? AND lease_until < ?",
    );
    let won = sqlx::query(&q)
        .bind(owner)
        .bind(until_ms)
        .bind(appid)
        .bind(now_ms)
        .execute(db.pool())
        .await?
        .rows_affected()
        == 1;
    Ok(won)
}

/// Stores a fresh token and releases the lease.
pub async fn store(db: &Db, appid: &str, token: &str, expires_at_ms: i64) -> CoreResult<()> {
    let q = db.sql(
        "UPDATE wechat_access_tokens SET access_token = ?, expires_at = ?, lease_owner = NULL, lease_until = 0 \
         WHERE appid = ?",
    );
    sqlx::query(&q)
        .bind(token)
        .bind(expires_at_ms)
        .bind(appid)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Stores the sealed session_key of a mini-program identity (replacing the previous one).
pub async fn put_session_key(
    db: &Db,
    appid: &str,
    openid: &str,
    sealed: &str,
    now_ms: i64,
) -> CoreResult<()> {
    let q = match db.dialect() {
        Dialect::Sqlite | Dialect::Postgres => {
            "INSERT INTO wechat_sessions (appid, openid, sealed_key, updated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (appid, openid) DO UPDATE SET sealed_key = excluded.sealed_key, updated_at = excluded.updated_at"
        }
        Dialect::Mysql => {
            "INSERT INTO wechat_sessions (appid, openid, sealed_key, updated_at) VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE sealed_key = VALUES(sealed_key), updated_at = VALUES(updated_at)"
        }
    };
    sqlx::query(&db.sql(q))
        .bind(appid)
        .bind(openid)
        .bind(sealed)
        .bind(now_ms)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The sealed session_key of a mini-program identity, if one was stored.
pub async fn session_key(db: &Db, appid: &str, openid: &str) -> CoreResult<Option<String>> {
    let q = db.sql("SELECT sealed_key FROM wechat_sessions WHERE appid = ? AND openid = ?");
    let row = sqlx::query(&q)
        .bind(appid)
        .bind(openid)
        .fetch_optional(db.pool())
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("sealed_key")?),
        None => None,
    })
}
