//! Sessions and their refresh tokens. A refresh token is 256 random bits, handed out once and
//! stored only as its SHA-256. Every use rotates it; presenting a used token again is treated as
//! theft and revokes the whole family (the session), as RFC 9700 §4.14.2 advises.

use crate::clock::SharedClock;
use crate::error::{CoreError, CoreResult};
use crate::model::UserId;
use crate::secret::Secret;
use crate::store::{retry, Db};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;

use super::TokenService;

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: UserId,
    pub channel: String,
    pub appid: Option<String>,
    pub openid: Option<String>,
    /// The phone the login proved, when it proved nothing else (an SMS login): unbinding the
    /// phone ends the session.
    pub phone: Option<String>,
    /// When the session started (the login), ms.
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The OpenID Connect client whose session this is; `None` for the gateway's own.
    pub client_id: Option<String>,
    /// The scopes granted to that client, space-separated.
    pub scope: Option<String>,
    /// When the person last proved who they are (ms), for a client's session.
    pub auth_time: Option<i64>,
}

/// A successful rotation: the session and the new refresh token.
#[derive(Debug)]
pub struct RefreshGrant {
    pub session: SessionRecord,
    pub refresh_token: Secret,
}

#[derive(Clone)]
pub struct Sessions {
    db: Db,
    clock: SharedClock,
    refresh_ttl: Duration,
    /// Seals each rotated token's child for the grace window; without it there is no grace.
    sealer: Option<Arc<TokenService>>,
}

/// How long a rotated refresh token may be presented again (a retry after a lost response, a
/// second tab) and get the same child back, provided that child is still unused.
pub const REFRESH_GRACE: Duration = Duration::from_secs(20);

/// What a rotation may also require.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The session the token must belong to: a browser's two cookies must be of one session,
    /// and a token of another is refused untouched.
    pub session: Option<String>,
    /// How long after its use a token may be presented again and get its unused child back.
    pub grace: Duration,
    /// The OpenID Connect client the token must have been issued to; `None`: a gateway
    /// token. A token of another client, or of the other kind, is refused untouched.
    pub client: Option<String>,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            session: None,
            grace: REFRESH_GRACE,
            client: None,
        }
    }
}

/// Refresh tokens look like `rt_<43 base64url chars>` (the gateway's) or `ort_…` (an OpenID
/// Connect client's); anything else is refused unparsed, and one kind never passes as the other.
const PREFIX: &str = "rt_";
const CLIENT_PREFIX: &str = "ort_";

fn new_token_with(prefix: &str) -> Secret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

#[cfg(test)]
fn new_token() -> Secret {
    new_token_with(PREFIX)
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn well_formed_with(token: &str, prefix: &str) -> bool {
    token.len() == prefix.len() + 43
        && token.starts_with(prefix)
        && token[prefix.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
fn well_formed(token: &str) -> bool {
    well_formed_with(token, PREFIX)
}

/// The refresh-token prefix of a family: a client's or the gateway's.
fn prefix_of(client: Option<&str>) -> &'static str {
    if client.is_some() {
        CLIENT_PREFIX
    } else {
        PREFIX
    }
}

/// The columns [`session_from_row`] reads.
const SESSION_COLUMNS: &str = "id, user_id, channel, appid, openid, phone, created_at, \
     expires_at, revoked_at, client_id, scope, auth_time";

fn session_from_row(row: &sqlx::any::AnyRow) -> Result<SessionRecord, sqlx::Error> {
    Ok(SessionRecord {
        id: row.try_get("id")?,
        user_id: UserId(row.try_get("user_id")?),
        channel: row.try_get("channel")?,
        appid: row.try_get("appid")?,
        openid: row.try_get("openid")?,
        phone: row.try_get("phone")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        client_id: row.try_get("client_id")?,
        scope: row.try_get("scope")?,
        auth_time: row.try_get("auth_time")?,
    })
}

enum RotateStop {
    Db(sqlx::Error),
    Rejected,
    /// A used token came back: the family (this session) is revoked inside the transaction,
    /// which must commit.
    Reused(String),
}

impl From<sqlx::Error> for RotateStop {
    fn from(e: sqlx::Error) -> Self {
        RotateStop::Db(e)
    }
}

impl Sessions {
    pub fn new(db: Db, clock: SharedClock, refresh_ttl: Duration) -> Self {
        Self {
            db,
            clock,
            refresh_ttl,
            sealer: None,
        }
    }

    /// Enables the [`REFRESH_GRACE`] window: children are kept sealed under the vault keys.
    pub fn with_grace(mut self, sealer: Arc<TokenService>) -> Self {
        self.sealer = Some(sealer);
        self
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.refresh_ttl.as_millis()).unwrap_or(i64::MAX)
    }

    /// Starts a session (a new refresh family) for a fresh login: through `channel`, proving
    /// the WeChat identity `(appid, openid)`, or else `phone`.
    pub async fn create(
        &self,
        user: &UserId,
        channel: &str,
        appid: Option<&str>,
        openid: Option<&str>,
        phone: Option<&str>,
    ) -> CoreResult<RefreshGrant> {
        let now = self.clock.now_ms();
        let session = SessionRecord {
            id: format!("s_{}", uuid::Uuid::new_v4().simple()),
            user_id: user.clone(),
            channel: channel.to_string(),
            appid: appid.map(str::to_string),
            openid: openid.map(str::to_string),
            phone: phone.map(str::to_string),
            created_at: now,
            expires_at: now.saturating_add(self.ttl_ms()),
            revoked_at: None,
            client_id: None,
            scope: None,
            auth_time: None,
        };
        self.insert_family(session, now).await
    }

    /// Starts an OpenID Connect client's session (its own refresh family) for the person of
    /// the browser session `from`: it carries that session's proof (channel, identity or
    /// phone), so whatever ends sessions started through it (an unbind) ends this one too.
    pub async fn create_for_client(
        &self,
        from: &SessionRecord,
        client_id: &str,
        scope: &str,
        auth_time_ms: i64,
    ) -> CoreResult<RefreshGrant> {
        let now = self.clock.now_ms();
        let session = SessionRecord {
            id: format!("s_{}", uuid::Uuid::new_v4().simple()),
            user_id: from.user_id.clone(),
            channel: from.channel.clone(),
            appid: from.appid.clone(),
            openid: from.openid.clone(),
            phone: from.phone.clone(),
            created_at: now,
            expires_at: now.saturating_add(self.ttl_ms()),
            revoked_at: None,
            client_id: Some(client_id.to_string()),
            scope: Some(scope.to_string()),
            auth_time: Some(auth_time_ms),
        };
        self.insert_family(session, now).await
    }

    async fn insert_family(&self, session: SessionRecord, now: i64) -> CoreResult<RefreshGrant> {
        let token = new_token_with(prefix_of(session.client_id.as_deref()));
        // Two inserts, but SERIALIZABLE (PostgreSQL) can still fail them at commit when they
        // read-write-depend on a concurrent login's transaction: re-run, as everywhere else.
        let (this, record, secret) = (self.clone(), session, token.clone());
        let session = retry::transaction(&self.db, move |conn| {
            let (this, mut record, secret) = (this.clone(), record.clone(), secret.clone());
            Box::pin(async move {
                // The user may have been merged away (or deleted) since the login resolved it:
                // the session goes to the survivor, read in this same transaction so that a
                // concurrent merge conflicts with it instead of slipping past. The common case
                // (the user is live) is one statement that reads and inserts.
                if !this
                    .insert_session_for_live_user(conn, &record, now)
                    .await?
                {
                    let owner = crate::identity::repo::read_user(conn, &this.db, &record.user_id)
                        .await?
                        .ok_or(retry::Stop::Abort(CoreError::UserNotFound))?;
                    record.user_id = owner.id;
                    this.insert_session_row(conn, &record, now).await?;
                }
                this.insert_token(conn, &secret, &record.id, None, now)
                    .await?;
                Ok(record)
            })
        })
        .await?;
        Ok(RefreshGrant {
            session,
            refresh_token: token,
        })
    }

    /// Inserts the session if its user is live (not merged away, not deleted); `false` when it
    /// is not, and nothing was written.
    async fn insert_session_for_live_user(
        &self,
        conn: &mut sqlx::AnyConnection,
        session: &SessionRecord,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let q = self.db.sql(
            "INSERT INTO sessions (id, user_id, channel, appid, openid, phone, created_at, \
             expires_at, client_id, scope, auth_time) \
             SELECT ?, id, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM users \
             WHERE id = ? AND merged_into IS NULL AND deleted_at IS NULL",
        );
        let inserted = sqlx::query(&q)
            .bind(&session.id)
            .bind(&session.channel)
            .bind(session.appid.as_deref())
            .bind(session.openid.as_deref())
            .bind(session.phone.as_deref())
            .bind(now)
            .bind(session.expires_at)
            .bind(session.client_id.as_deref())
            .bind(session.scope.as_deref())
            .bind(session.auth_time)
            .bind(session.user_id.as_str())
            .execute(&mut *conn)
            .await?
            .rows_affected();
        Ok(inserted == 1)
    }

    async fn insert_session_row(
        &self,
        conn: &mut sqlx::AnyConnection,
        session: &SessionRecord,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let q = self.db.sql(
            "INSERT INTO sessions (id, user_id, channel, appid, openid, phone, created_at, \
             expires_at, client_id, scope, auth_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        sqlx::query(&q)
            .bind(&session.id)
            .bind(session.user_id.as_str())
            .bind(&session.channel)
            .bind(session.appid.as_deref())
            .bind(session.openid.as_deref())
            .bind(session.phone.as_deref())
            .bind(now)
            .bind(session.expires_at)
            .bind(session.client_id.as_deref())
            .bind(session.scope.as_deref())
            .bind(session.auth_time)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn insert_token(
        &self,
        conn: &mut sqlx::AnyConnection,
        token: &Secret,
        session_id: &str,
        parent: Option<&str>,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let q = self.db.sql(
            "INSERT INTO refresh_tokens (hash, session_id, parent_hash, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        );
        sqlx::query(&q)
            .bind(hash(token.expose()))
            .bind(session_id)
            .bind(parent)
            .bind(now)
            .bind(now.saturating_add(self.ttl_ms()))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Exchanges a refresh token for a new one. Exactly one of any number of concurrent
    /// presentations of the same token wins (one conditional UPDATE). Within [`REFRESH_GRACE`]
    /// of that, presenting it again returns the same child while the child is unused; any
    /// other presentation of a used token revokes the family.
    pub async fn rotate(&self, presented: &str) -> CoreResult<RefreshGrant> {
        self.rotate_with(presented, Rotation::default()).await
    }

    /// [`Sessions::rotate`] with the caller's conditions (see [`Rotation`]).
    pub async fn rotate_with(&self, presented: &str, how: Rotation) -> CoreResult<RefreshGrant> {
        if !well_formed_with(presented, prefix_of(how.client.as_deref())) {
            return Err(CoreError::InvalidRefreshToken);
        }
        let presented_hash = hash(presented);
        let this = self.clone();
        retry::transaction(&self.db, move |conn| {
            let (this, presented_hash, how) = (this.clone(), presented_hash.clone(), how.clone());
            Box::pin(async move {
                match this.rotate_once(conn, &presented_hash, &how).await {
                    Ok(grant) => Ok(grant),
                    Err(RotateStop::Db(e)) => Err(retry::Stop::Db(e)),
                    Err(RotateStop::Rejected) => {
                        Err(retry::Stop::Abort(CoreError::InvalidRefreshToken))
                    }
                    // The family's revocation must stand even though the caller is refused;
                    // a commit that conflicts re-runs the detection, which revokes again.
                    Err(RotateStop::Reused(session)) => {
                        Err(retry::Stop::CommitThen(CoreError::RefreshReused {
                            session,
                        }))
                    }
                }
            })
        })
        .await
        .map_err(CoreError::from)
    }

    async fn rotate_once(
        &self,
        conn: &mut sqlx::AnyConnection,
        presented_hash: &str,
        how: &Rotation,
    ) -> Result<RefreshGrant, RotateStop> {
        let now = self.clock.now_ms();
        if let Some(expected) = &how.session {
            // A token of another session is refused before it is touched: it neither rotates
            // nor counts as reused.
            let q = self
                .db
                .sql("SELECT session_id FROM refresh_tokens WHERE hash = ?");
            let owner: Option<String> = sqlx::query(&q)
                .bind(presented_hash)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get("session_id"))
                .transpose()?;
            if owner.as_deref() != Some(expected.as_str()) {
                return Err(RotateStop::Rejected);
            }
        }
        if let Some(client) = &how.client {
            // A client's token presented by another client is refused before it is touched.
            let q = self.db.sql(
                "SELECT s.client_id FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
                 WHERE t.hash = ?",
            );
            let owner: Option<Option<String>> = sqlx::query(&q)
                .bind(presented_hash)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get("client_id"))
                .transpose()?;
            if owner.flatten().as_deref() != Some(client.as_str()) {
                return Err(RotateStop::Rejected);
            }
        }
        let child = new_token_with(prefix_of(how.client.as_deref()));
        // Bound to the parent's hash: a sealed child copied to another row does not open.
        let sealed = self
            .sealer
            .as_ref()
            .and_then(|s| s.seal(&child, presented_hash));
        let q = self.db.sql(
            "UPDATE refresh_tokens SET used_at = ?, child_sealed = ? \
             WHERE hash = ? AND used_at IS NULL AND expires_at > ?",
        );
        let won = sqlx::query(&q)
            .bind(now)
            .bind(sealed.as_deref())
            .bind(presented_hash)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1;

        let q = self.db.sql(
            "SELECT session_id, used_at, parent_hash, child_sealed FROM refresh_tokens WHERE hash = ?",
        );
        let Some(row) = sqlx::query(&q)
            .bind(presented_hash)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Err(RotateStop::Rejected);
        };
        let session_id: String = row.try_get("session_id")?;
        if !won {
            let Some(used) = row.try_get::<Option<i64>, _>("used_at")? else {
                return Err(RotateStop::Rejected); // Expired.
            };
            let stored: Option<String> = row.try_get("child_sealed")?;
            if let Some(grant) = self
                .replay(
                    conn,
                    presented_hash,
                    &session_id,
                    used,
                    stored,
                    now,
                    how.grace,
                )
                .await?
            {
                return Ok(grant);
            }
            tracing::warn!(session = %session_id, "refresh token reused; revoking its family");
            self.revoke_in(conn, &session_id, "refresh_reuse", now)
                .await?;
            return Err(RotateStop::Reused(session_id));
        }

        let Some(session) = self.live_session(conn, &session_id, now).await? else {
            return Err(RotateStop::Rejected);
        };
        self.insert_token(conn, &child, &session.id, Some(presented_hash), now)
            .await?;
        // The parent's child was only kept for its grace window, which this use closes.
        let parent: Option<String> = row.try_get("parent_hash")?;
        if let Some(parent) = parent {
            let q = self
                .db
                .sql("UPDATE refresh_tokens SET child_sealed = NULL WHERE hash = ?");
            sqlx::query(&q).bind(parent).execute(&mut *conn).await?;
        }
        Ok(RefreshGrant {
            session,
            refresh_token: child,
        })
    }

    /// The grace window: a token used moments ago, whose child nobody has used yet, gets that
    /// same child again. `None` when any condition fails (the caller then revokes).
    #[allow(clippy::too_many_arguments)] // One transaction's facts, passed as they were read.
    async fn replay(
        &self,
        conn: &mut sqlx::AnyConnection,
        presented_hash: &str,
        session_id: &str,
        used_at: i64,
        stored: Option<String>,
        now: i64,
        grace: Duration,
    ) -> Result<Option<RefreshGrant>, RotateStop> {
        let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        let (Some(sealer), Some(stored)) = (&self.sealer, stored) else {
            return Ok(None);
        };
        if now.saturating_sub(used_at) > grace_ms {
            return Ok(None);
        }
        let Some(child) = sealer.unseal(&stored, presented_hash) else {
            return Ok(None);
        };
        let q = self.db.sql(
            "SELECT used_at FROM refresh_tokens \
             WHERE hash = ? AND parent_hash = ? AND expires_at > ?",
        );
        let Some(row) = sqlx::query(&q)
            .bind(hash(child.expose()))
            .bind(presented_hash)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        if row.try_get::<Option<i64>, _>("used_at")?.is_some() {
            return Ok(None); // The child moved on: this is an older generation.
        }
        let Some(session) = self.live_session(conn, session_id, now).await? else {
            return Ok(None);
        };
        tracing::debug!(session = %session_id, "refresh retried within the grace window");
        Ok(Some(RefreshGrant {
            session,
            refresh_token: child,
        }))
    }

    /// The session, unless it is revoked or expired.
    async fn live_session(
        &self,
        conn: &mut sqlx::AnyConnection,
        session_id: &str,
        now: i64,
    ) -> Result<Option<SessionRecord>, sqlx::Error> {
        let q = self.db.sql_owned(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?"
        ));
        let Some(row) = sqlx::query(&q)
            .bind(session_id)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        let session = session_from_row(&row)?;
        Ok((session.revoked_at.is_none() && session.expires_at > now).then_some(session))
    }

    /// Revokes a session (logout): its refresh tokens stop working at once, its access tokens as
    /// soon as each replica's revocation list catches up.
    pub async fn revoke(&self, session_id: &str, reason: &str) -> CoreResult<()> {
        let now = self.clock.now_ms();
        let mut conn = self.db.pool().acquire().await?;
        self.revoke_in(&mut conn, session_id, reason, now).await?;
        Ok(())
    }

    async fn revoke_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        session_id: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let q = self.db.sql(
            "UPDATE sessions SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL",
        );
        sqlx::query(&q)
            .bind(now)
            .bind(reason)
            .bind(session_id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// The scope granted to the client session a refresh token belongs to, without touching
    /// the token: a request to narrow it is judged before anything rotates.
    pub async fn granted_scope(&self, presented: &str) -> CoreResult<Option<String>> {
        if !well_formed_with(presented, CLIENT_PREFIX) {
            return Ok(None);
        }
        let q = self.db.sql(
            "SELECT s.scope FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
             WHERE t.hash = ?",
        );
        let row = sqlx::query(&q)
            .bind(hash(presented))
            .fetch_optional(self.db.pool())
            .await?;
        Ok(match row {
            Some(row) => row.try_get("scope")?,
            None => None,
        })
    }

    pub async fn get(&self, session_id: &str) -> CoreResult<Option<SessionRecord>> {
        let q = self.db.sql_owned(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?"
        ));
        let row = sqlx::query(&q)
            .bind(session_id)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(match row {
            Some(row) => Some(session_from_row(&row)?),
            None => None,
        })
    }

    /// Sessions revoked at or after `since_ms` and not yet expired: what a replica's revocation
    /// list polls for.
    pub async fn revoked_since(&self, since_ms: i64) -> CoreResult<Vec<(String, i64)>> {
        let q = self
            .db
            .sql("SELECT id, revoked_at FROM sessions WHERE revoked_at >= ? AND expires_at > ?");
        let rows = sqlx::query(&q)
            .bind(since_ms)
            .bind(self.clock.now_ms())
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("revoked_at")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(CoreError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_well_formed_and_distinct() {
        let a = new_token();
        let b = new_token();
        assert!(well_formed(a.expose()), "{}", a.expose().len());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(hash(a.expose()).len(), 64);
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_lookup() {
        for bad in [
            "",
            "rt_",
            "rt_short",
            "eyJhbGciOiJIUzI1NiJ9.e30.x",
            "rt_'; DROP TABLE users;--aaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
    }
}
