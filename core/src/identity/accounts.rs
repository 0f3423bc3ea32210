//! Changes to accounts that are not logins: an operator's unbind and merge (the admin CLI), and
//! account deletion (by the user, or an operator). Each is one transaction, re-run on conflict,
//! and each writes audit events naming who made it.

use super::repo::{Audit, Tx, TxResult};
use super::{history, AuditEvent, PhoneHistoryEntry};
use crate::clock::SharedClock;
use crate::error::{CoreError, CoreResult};
use crate::model::{Binding, Phone, User, UserId};
use crate::phone::Region;
use crate::store::{retry, Db};
use sqlx::Row;

/// What an operator looks a user up by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserKey {
    Id(UserId),
    Phone(Phone),
    /// An openid of any app, or a unionid: WeChat's identifiers look alike.
    WechatId(String),
}

impl UserKey {
    /// `u_…` is a user id, anything that parses as a phone is a phone, the rest a WeChat id.
    pub fn parse(key: &str, default_region: Region) -> Self {
        let key = key.trim();
        if key.starts_with("u_") {
            return Self::Id(UserId(key.to_string()));
        }
        match Phone::parse(key, default_region) {
            Ok(parsed) => Self::Phone(parsed.phone),
            Err(_) => Self::WechatId(key.to_string()),
        }
    }
}

/// Everything an operator sees of a user.
#[derive(Debug, Clone)]
pub struct Report {
    pub user: User,
    pub identities: Vec<Binding>,
    pub phones: Vec<PhoneHistoryEntry>,
    /// The most recent audit events that name the user, oldest first.
    pub events: Vec<AuditEvent>,
}

/// What an unbind removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unbind {
    /// One `(appid, openid)`; the unionid goes with the last identity that carries it.
    Identity { appid: String, openid: String },
    /// The whole WeChat person: every identity carrying this unionid, and the unionid.
    Unionid(String),
    /// The phone; the sessions started by proving it (SMS logins) end.
    Phone(Phone),
}

#[derive(Clone)]
pub struct Accounts {
    db: Db,
    clock: SharedClock,
}

/// How many audit events a report shows.
const RECENT_EVENTS: usize = 20;

impl Accounts {
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self { db, clock }
    }

    /// The live users `key` names (an openid may be bound in several apps; a merged-away id
    /// names its survivor).
    pub async fn find(&self, key: &UserKey) -> CoreResult<Vec<User>> {
        let mut conn = self.db.pool().acquire().await?;
        let ids: Vec<String> = match key {
            UserKey::Id(id) => vec![id.0.clone()],
            UserKey::Phone(phone) => {
                let q = self.db.sql("SELECT id FROM users WHERE phone = ?");
                column(&mut conn, &q, phone.as_str(), "id").await?
            }
            UserKey::WechatId(wx) => {
                let q = self
                    .db
                    .sql("SELECT user_id FROM identities WHERE openid = ?");
                let mut ids = column(&mut conn, &q, wx, "user_id").await?;
                let q = self.db.sql("SELECT id FROM users WHERE unionid = ?");
                ids.extend(column(&mut conn, &q, wx, "id").await?);
                ids
            }
        };
        let mut users: Vec<User> = Vec::new();
        for id in ids {
            if let Some(user) = super::repo::read_user(&mut conn, &self.db, &UserId(id)).await? {
                if !users.iter().any(|u| u.id == user.id) {
                    users.push(user);
                }
            }
        }
        Ok(users)
    }

    /// The user with its identities, phone history and recent audit events.
    pub async fn report(&self, user: &User) -> CoreResult<Report> {
        let identities = history::bindings_of(&self.db, &user.id).await?;
        let mut events = history::audit_events_for(&self.db, user.id.as_str()).await?;
        let skip = events.len().saturating_sub(RECENT_EVENTS);
        events.drain(..skip);
        Ok(Report {
            user: user.clone(),
            identities,
            phones: history::phones_of_user(&self.db, user.id.as_str()).await?,
            events,
        })
    }

    /// Detaches an identity, the WeChat person (its unionid) or the phone from `user`, with the
    /// sessions started through what is detached. The next login through it starts afresh: it
    /// finds this user only through a phone it proves there and then. Returns the revoked
    /// session ids.
    pub async fn unbind(
        &self,
        user: &UserId,
        what: &Unbind,
        actor: &str,
    ) -> CoreResult<Vec<String>> {
        let (db, clock) = (self.db.clone(), self.clock.clone());
        let (user, what, actor) = (user.clone(), what.clone(), actor.to_string());
        retry::transaction(&self.db, move |conn| {
            let (db, clock) = (db.clone(), clock.clone());
            let (user, what, actor) = (user.clone(), what.clone(), actor.clone());
            Box::pin(async move {
                let mut tx = admin_tx(conn, &db, &clock, &actor);
                let holder = tx
                    .user(&user)
                    .await?
                    .ok_or(retry::Stop::Abort(CoreError::UserNotFound))?;
                let not_bound = || retry::Stop::Abort(CoreError::NotBound);
                match &what {
                    Unbind::Identity { appid, openid } => {
                        if !tx.remove_binding(appid, openid, &holder.id).await? {
                            return Err(not_bound());
                        }
                        let revoked = tx
                            .revoke_identity_sessions(&holder.id, appid, openid, "unbound")
                            .await?;
                        // A unionid no identity of the user carries any more would join the
                        // person's next login straight back to this user.
                        if let Some(unionid) = &holder.unionid {
                            if tx
                                .identities_with_unionid(&holder.id, unionid)
                                .await?
                                .is_empty()
                            {
                                tx.release_unionid(&holder.id, unionid).await?;
                            }
                        }
                        Ok(revoked)
                    }
                    Unbind::Unionid(unionid) => {
                        if holder.unionid.as_deref() != Some(unionid.as_str()) {
                            return Err(not_bound());
                        }
                        let mut revoked = Vec::new();
                        for (appid, openid) in
                            tx.identities_with_unionid(&holder.id, unionid).await?
                        {
                            tx.remove_binding(&appid, &openid, &holder.id).await?;
                            revoked.extend(
                                tx.revoke_identity_sessions(&holder.id, &appid, &openid, "unbound")
                                    .await?,
                            );
                        }
                        tx.release_unionid(&holder.id, unionid).await?;
                        Ok(revoked)
                    }
                    Unbind::Phone(phone) => {
                        if holder.phone.as_ref() != Some(phone) {
                            return Err(not_bound());
                        }
                        tx.release_phone(&holder.id, phone, "unbound").await?;
                        Ok(tx
                            .revoke_phone_sessions(&holder.id, phone, "unbound")
                            .await?)
                    }
                }
            })
        })
        .await
        .map_err(CoreError::from)
    }

    /// Folds `absorbed` into `survivor`, as a late unionid would, but with the survivor chosen by
    /// the operator. Two users holding two different unionids are two WeChat people: refused.
    pub async fn merge(
        &self,
        survivor: &UserId,
        absorbed: &UserId,
        actor: &str,
    ) -> CoreResult<(User, Vec<String>)> {
        let (db, clock) = (self.db.clone(), self.clock.clone());
        let (survivor, absorbed, actor) = (survivor.clone(), absorbed.clone(), actor.to_string());
        retry::transaction(&self.db, move |conn| {
            let (db, clock) = (db.clone(), clock.clone());
            let (survivor, absorbed, actor) = (survivor.clone(), absorbed.clone(), actor.clone());
            Box::pin(async move {
                let mut tx = admin_tx(conn, &db, &clock, &actor);
                let gone = || retry::Stop::Abort(CoreError::UserNotFound);
                let s = tx.user(&survivor).await?.ok_or_else(gone)?;
                let a = tx.user(&absorbed).await?.ok_or_else(gone)?;
                if s.id == a.id {
                    return Err(retry::Stop::Abort(CoreError::Refused(
                        "these ids name the same user already",
                    )));
                }
                if s.unionid.is_some() && a.unionid.is_some() && s.unionid != a.unionid {
                    return Err(retry::Stop::Abort(CoreError::Refused(
                        "the two users hold different unionids: they are two WeChat people",
                    )));
                }
                let revoked = tx.merge_into(&s, &a).await?;
                let merged = tx.user(&s.id).await?.ok_or_else(gone)?;
                Ok((merged, revoked))
            })
        })
        .await
        .map_err(CoreError::from)
    }

    /// Deletes an account: its identities, unionid and phone are released (the same WeChat
    /// person or phone can sign up again, as somebody new), its profile is erased, every session
    /// ends, and the audit trail keeps what happened with phones masked. Returns the revoked
    /// session ids.
    pub async fn delete(&self, user: &UserId, actor: &str) -> CoreResult<Vec<String>> {
        let (db, clock) = (self.db.clone(), self.clock.clone());
        let (user, actor) = (user.clone(), actor.to_string());
        retry::transaction(&self.db, move |conn| {
            let (db, clock) = (db.clone(), clock.clone());
            let (user, actor) = (user.clone(), actor.clone());
            Box::pin(async move {
                let mut tx = admin_tx(conn, &db, &clock, &actor);
                let doomed = tx
                    .user(&user)
                    .await?
                    .ok_or(retry::Stop::Abort(CoreError::UserNotFound))?;
                Ok(tx.delete_user(&doomed).await?)
            })
        })
        .await
        .map_err(CoreError::from)
    }
}

fn admin_tx<'a>(
    conn: &'a mut sqlx::AnyConnection,
    db: &'a Db,
    clock: &SharedClock,
    actor: &'a str,
) -> Tx<'a> {
    Tx {
        conn,
        db,
        now: clock.now_ms(),
        channel: "admin",
        actor: Some(actor),
    }
}

async fn column(
    conn: &mut sqlx::AnyConnection,
    query: &str,
    value: &str,
    name: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query(query).bind(value).fetch_all(&mut *conn).await?;
    rows.iter().map(|r| r.try_get::<String, _>(name)).collect()
}

// === impl Tx: the SQL of these changes ===

impl Tx<'_> {
    /// Removes `(appid, openid)` if it is `user`'s; `false` when it is not.
    pub(crate) async fn remove_binding(
        &mut self,
        appid: &str,
        openid: &str,
        user: &UserId,
    ) -> TxResult<bool> {
        let q = self
            .db
            .sql("DELETE FROM identities WHERE appid = ? AND openid = ? AND user_id = ?");
        let removed = sqlx::query(&q)
            .bind(appid)
            .bind(openid)
            .bind(user.as_str())
            .execute(&mut *self.conn)
            .await?
            .rows_affected()
            == 1;
        if removed {
            self.audit(Audit {
                kind: "unbind",
                user: Some(user),
                appid: Some(appid),
                openid: Some(openid),
                ..Audit::default()
            })
            .await?;
        }
        Ok(removed)
    }

    /// Ends the sessions started through one identity of `user`.
    pub(crate) async fn revoke_identity_sessions(
        &mut self,
        user: &UserId,
        appid: &str,
        openid: &str,
        reason: &str,
    ) -> TxResult<Vec<String>> {
        self.revoke_sessions(
            "SELECT id FROM sessions \
             WHERE user_id = ? AND appid = ? AND openid = ? AND revoked_at IS NULL",
            "UPDATE sessions SET revoked_at = ?, revoke_reason = ? \
             WHERE user_id = ? AND appid = ? AND openid = ? AND revoked_at IS NULL",
            &[user.as_str(), appid, openid],
            reason,
        )
        .await
    }

    /// The `(appid, openid)` of `user`'s identities that carry `unionid`.
    pub(crate) async fn identities_with_unionid(
        &mut self,
        user: &UserId,
        unionid: &str,
    ) -> TxResult<Vec<(String, String)>> {
        let q = self
            .db
            .sql("SELECT appid, openid FROM identities WHERE user_id = ? AND unionid = ?");
        let rows = sqlx::query(&q)
            .bind(user.as_str())
            .bind(unionid)
            .fetch_all(&mut *self.conn)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("appid")?, r.try_get("openid")?)))
            .collect()
    }

    /// Ends the sessions started by proving `phone` (SMS logins) of `user`.
    pub(crate) async fn revoke_phone_sessions(
        &mut self,
        user: &UserId,
        phone: &Phone,
        reason: &str,
    ) -> TxResult<Vec<String>> {
        self.revoke_sessions(
            "SELECT id FROM sessions WHERE user_id = ? AND phone = ? AND revoked_at IS NULL",
            "UPDATE sessions SET revoked_at = ?, revoke_reason = ? \
             WHERE user_id = ? AND phone = ? AND revoked_at IS NULL",
            &[user.as_str(), phone.as_str()],
            reason,
        )
        .await
    }

    /// The body of an account deletion (see [`Accounts::delete`]).
    pub(crate) async fn delete_user(&mut self, user: &User) -> TxResult<Vec<String>> {
        let q = self
            .db
            .sql("SELECT appid, openid FROM identities WHERE user_id = ?");
        let rows = sqlx::query(&q)
            .bind(user.id.as_str())
            .fetch_all(&mut *self.conn)
            .await?;
        for row in &rows {
            let (appid, openid): (String, String) = (row.try_get("appid")?, row.try_get("openid")?);
            self.remove_binding(&appid, &openid, &user.id).await?;
        }
        if let Some(phone) = &user.phone {
            self.release_phone(&user.id, phone, "deleted").await?;
        }
        if user.unionid.is_some() {
            self.set_unionid(&user.id, None).await?;
        }
        let q = self.db.sql(
            "UPDATE users SET nickname = NULL, avatar_url = NULL, deleted_at = ?, updated_at = ? WHERE id = ?",
        );
        sqlx::query(&q)
            .bind(self.now)
            .bind(self.now)
            .bind(user.id.as_str())
            .execute(&mut *self.conn)
            .await?;
        let revoked = self.revoke_user_sessions(&user.id, "deleted").await?;
        self.mask_phones_of(&user.id).await?;
        // Sessions outlive the account as records; the phone they proved does not.
        let q = self
            .db
            .sql("UPDATE sessions SET phone = NULL WHERE user_id = ?");
        sqlx::query(&q)
            .bind(user.id.as_str())
            .execute(&mut *self.conn)
            .await?;
        self.audit(Audit {
            kind: "user_deleted",
            user: Some(&user.id),
            ..Audit::default()
        })
        .await?;
        Ok(revoked)
    }

    /// The audit trail and phone history of a deleted user keep what happened, not the numbers.
    async fn mask_phones_of(&mut self, user: &UserId) -> TxResult<()> {
        let q = self.db.sql(
            "SELECT id, phone, detail FROM audit_events WHERE user_id = ? OR other_user_id = ?",
        );
        let rows = sqlx::query(&q)
            .bind(user.as_str())
            .bind(user.as_str())
            .fetch_all(&mut *self.conn)
            .await?;
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let phone: Option<String> = row.try_get("phone")?;
            let detail: Option<String> = row.try_get("detail")?;
            let masked = |v: Option<String>| v.map(|p| mask_if_phone(&p));
            let q = self
                .db
                .sql("UPDATE audit_events SET phone = ?, detail = ? WHERE id = ?");
            sqlx::query(&q)
                .bind(masked(phone))
                .bind(masked(detail))
                .bind(id)
                .execute(&mut *self.conn)
                .await?;
        }
        let q = self
            .db
            .sql("SELECT id, phone FROM phone_history WHERE user_id = ?");
        let rows = sqlx::query(&q)
            .bind(user.as_str())
            .fetch_all(&mut *self.conn)
            .await?;
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let phone: String = row.try_get("phone")?;
            let q = self
                .db
                .sql("UPDATE phone_history SET phone = ? WHERE id = ?");
            sqlx::query(&q)
                .bind(mask_if_phone(&phone))
                .bind(id)
                .execute(&mut *self.conn)
                .await?;
        }
        Ok(())
    }
}

/// `+8613800138000` → `+86*******8000`; anything that is not an E.164 number stays.
fn mask_if_phone(value: &str) -> String {
    let digits = value.strip_prefix('+').unwrap_or("");
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        Phone::from_stored(value.to_string()).masked()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_told_apart() {
        assert_eq!(
            UserKey::parse("u_abc", Region::CN),
            UserKey::Id(UserId("u_abc".into()))
        );
        assert_eq!(
            UserKey::parse("138 0013 8000", Region::CN),
            UserKey::Phone(Phone::parse("+8613800138000", Region::CN).unwrap().phone)
        );
        assert_eq!(
            UserKey::parse("oGZUI0egBJY1zhBYw2KhdUfwVJJE", Region::CN),
            UserKey::WechatId("oGZUI0egBJY1zhBYw2KhdUfwVJJE".into())
        );
    }

    #[test]
    fn only_phones_are_masked() {
        assert_eq!(mask_if_phone("+8613800138000"), "+86*******8000");
        assert_eq!(mask_if_phone("oUnionid"), "oUnionid");
        assert_eq!(mask_if_phone("merged"), "merged");
    }
}
