//! The SQL of identity resolution. Every function runs inside the caller's transaction (or, on
//! the returning person's path, on a connection in autocommit).

use crate::events::outbox::{self, NewEvent};
use crate::events::EventType;
use crate::model::{Phone, User, UserId};
use crate::store::Db;
use serde_json::json;
use sqlx::{AnyConnection, Row};

pub(crate) type TxResult<T> = Result<T, sqlx::Error>;

/// A transaction in progress, with the facts every write records.
pub(crate) struct Tx<'a> {
    pub conn: &'a mut AnyConnection,
    pub db: &'a Db,
    pub now: i64,
    pub channel: &'a str,
    /// Who made the change when it is not the person logging in (`--by` of the admin CLI, or
    /// `self` for an account deletion); recorded on every audit event.
    pub actor: Option<&'a str>,
}

/// An identity's binding as [`Tx::binding`] reads it.
pub(crate) struct Binding {
    pub user: User,
    /// The user this one was merged into, if it was.
    pub merged_into: Option<String>,
    pub deleted: bool,
    /// The unionid recorded on the binding itself.
    pub unionid: Option<String>,
    pub last_login_at: i64,
}

/// An audit event before it is written.
#[derive(Default)]
pub(crate) struct Audit<'a> {
    pub kind: &'a str,
    pub user: Option<&'a UserId>,
    pub other: Option<&'a UserId>,
    pub appid: Option<&'a str>,
    pub openid: Option<&'a str>,
    pub phone: Option<&'a Phone>,
    pub detail: Option<&'a str>,
}

fn user_from_row(row: &sqlx::any::AnyRow) -> TxResult<(User, Option<String>)> {
    let user = User {
        id: UserId(row.try_get("id")?),
        unionid: row.try_get("unionid")?,
        phone: row
            .try_get::<Option<String>, _>("phone")?
            .map(Phone::from_stored),
        nickname: row.try_get("nickname")?,
        avatar_url: row.try_get("avatar_url")?,
        created_at: row.try_get("created_at")?,
    };
    Ok((user, row.try_get("merged_into")?))
}

/// A user by id on any connection, following merge aliases to the surviving user.
pub(crate) async fn read_user(
    conn: &mut AnyConnection,
    db: &Db,
    id: &UserId,
) -> TxResult<Option<User>> {
    let mut id = id.0.clone();
    // Merges re-point older aliases, so a chain is at most a couple of hops; the bound only
    // guards against a corrupted cycle.
    for _ in 0..8 {
        let q = db.sql(
            "SELECT id, unionid, phone, nickname, avatar_url, created_at, merged_into, deleted_at FROM users WHERE id = ?",
        );
        let Some(row) = sqlx::query(&q).bind(&id).fetch_optional(&mut *conn).await? else {
            return Ok(None);
        };
        let (user, merged_into) = user_from_row(&row)?;
        // A deleted account is gone for every purpose but the audit log.
        if row.try_get::<Option<i64>, _>("deleted_at")?.is_some() {
            return Ok(None);
        }
        match merged_into {
            Some(next) => id = next,
            None => return Ok(Some(user)),
        }
    }
    Ok(None)
}

impl Tx<'_> {
    /// A user by id, following merge aliases to the surviving user.
    pub async fn user(&mut self, id: &UserId) -> TxResult<Option<User>> {
        read_user(self.conn, self.db, id).await
    }

    /// The user an identity is bound to: one query for the binding and its user, a second only
    /// when that user was merged away (a repeat login is the hot path).
    pub async fn user_by_identity(&mut self, appid: &str, openid: &str) -> TxResult<Option<User>> {
        let Some(binding) = self.binding(appid, openid).await? else {
            return Ok(None);
        };
        match (binding.deleted, binding.merged_into) {
            (true, _) => Ok(None),
            (false, Some(survivor)) => self.user(&UserId(survivor)).await,
            (false, None) => Ok(Some(binding.user)),
        }
    }

    /// A binding as stored, with its user's row as stored (no merge followed).
    pub async fn binding(&mut self, appid: &str, openid: &str) -> TxResult<Option<Binding>> {
        let q = self.db.sql(
            "SELECT u.id, u.unionid, u.phone, u.nickname, u.avatar_url, u.created_at, u.merged_into, u.deleted_at, \
             i.unionid AS binding_unionid, i.last_login_at \
             FROM identities i JOIN users u ON u.id = i.user_id WHERE i.appid = ? AND i.openid = ?",
        );
        let Some(row) = sqlx::query(&q)
            .bind(appid)
            .bind(openid)
            .fetch_optional(&mut *self.conn)
            .await?
        else {
            return Ok(None);
        };
        let (user, merged_into) = user_from_row(&row)?;
        Ok(Some(Binding {
            user,
            merged_into,
            deleted: row.try_get::<Option<i64>, _>("deleted_at")?.is_some(),
            unionid: row.try_get("binding_unionid")?,
            last_login_at: row.try_get("last_login_at")?,
        }))
    }

    pub async fn user_by_unionid(&mut self, unionid: &str) -> TxResult<Option<User>> {
        self.user_where("unionid", unionid).await
    }

    pub async fn user_by_phone(&mut self, phone: &Phone) -> TxResult<Option<User>> {
        self.user_where("phone", phone.as_str()).await
    }

    async fn user_where(&mut self, column: &'static str, value: &str) -> TxResult<Option<User>> {
        let q = match column {
            "unionid" => self.db.sql(
                "SELECT id, unionid, phone, nickname, avatar_url, created_at, merged_into, deleted_at FROM users WHERE unionid = ?",
            ),
            _ => self.db.sql(
                "SELECT id, unionid, phone, nickname, avatar_url, created_at, merged_into, deleted_at FROM users WHERE phone = ?",
            ),
        };
        let row = sqlx::query(&q)
            .bind(value)
            .fetch_optional(&mut *self.conn)
            .await?;
        Ok(match row {
            Some(row) => Some(user_from_row(&row)?.0),
            None => None,
        })
    }

    pub async fn create_user(
        &mut self,
        unionid: Option<&str>,
        phone: Option<&Phone>,
        nickname: Option<&str>,
        avatar_url: Option<&str>,
    ) -> TxResult<User> {
        let id = UserId::generate();
        let q = self.db.sql(
            "INSERT INTO users (id, created_at, updated_at, unionid, phone, nickname, avatar_url) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        );
        sqlx::query(&q)
            .bind(id.as_str())
            .bind(self.now)
            .bind(self.now)
            .bind(unionid)
            .bind(phone.map(Phone::as_str))
            .bind(nickname)
            .bind(avatar_url)
            .execute(&mut *self.conn)
            .await?;
        self.audit(Audit {
            kind: "user_created",
            user: Some(&id),
            ..Audit::default()
        })
        .await?;
        if let Some(phone) = phone {
            self.open_phone_history(&id, phone).await?;
            self.audit(Audit {
                kind: "phone_set",
                user: Some(&id),
                phone: Some(phone),
                ..Audit::default()
            })
            .await?;
        }
        Ok(User {
            id,
            unionid: unionid.map(str::to_string),
            phone: phone.cloned(),
            nickname: nickname.map(str::to_string),
            avatar_url: avatar_url.map(str::to_string),
            created_at: self.now,
        })
    }

    pub async fn insert_binding(
        &mut self,
        appid: &str,
        openid: &str,
        user: &UserId,
        unionid: Option<&str>,
    ) -> TxResult<()> {
        let q = self.db.sql(
            "INSERT INTO identities (appid, openid, user_id, channel, unionid, created_at, last_login_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        );
        sqlx::query(&q)
            .bind(appid)
            .bind(openid)
            .bind(user.as_str())
            .bind(self.channel)
            .bind(unionid)
            .bind(self.now)
            .bind(self.now)
            .execute(&mut *self.conn)
            .await?;
        self.audit(Audit {
            kind: "bind",
            user: Some(user),
            appid: Some(appid),
            openid: Some(openid),
            ..Audit::default()
        })
        .await
    }

    /// Records a login through an existing binding, and the unionid when WeChat now reports one.
    pub async fn touch_binding(
        &mut self,
        appid: &str,
        openid: &str,
        unionid: Option<&str>,
    ) -> TxResult<()> {
        let q = self.db.sql(
            "UPDATE identities SET last_login_at = ?, unionid = COALESCE(?, unionid) \
             WHERE appid = ? AND openid = ?",
        );
        sqlx::query(&q)
            .bind(self.now)
            .bind(unionid)
            .bind(appid)
            .bind(openid)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    pub async fn move_binding(
        &mut self,
        appid: &str,
        openid: &str,
        from: &UserId,
        to: &UserId,
    ) -> TxResult<()> {
        let q = self
            .db
            .sql("UPDATE identities SET user_id = ? WHERE appid = ? AND openid = ?");
        sqlx::query(&q)
            .bind(to.as_str())
            .bind(appid)
            .bind(openid)
            .execute(&mut *self.conn)
            .await?;
        self.audit(Audit {
            kind: "move",
            user: Some(to),
            other: Some(from),
            appid: Some(appid),
            openid: Some(openid),
            ..Audit::default()
        })
        .await
    }

    pub async fn count_identities(&mut self, user: &UserId) -> TxResult<i64> {
        let q = self
            .db
            .sql("SELECT COUNT(*) AS n FROM identities WHERE user_id = ?");
        let row = sqlx::query(&q)
            .bind(user.as_str())
            .fetch_one(&mut *self.conn)
            .await?;
        row.try_get("n")
    }

    pub async fn set_unionid(&mut self, user: &UserId, unionid: Option<&str>) -> TxResult<()> {
        let q = self
            .db
            .sql("UPDATE users SET unionid = ?, updated_at = ? WHERE id = ?");
        sqlx::query(&q)
            .bind(unionid)
            .bind(self.now)
            .bind(user.as_str())
            .execute(&mut *self.conn)
            .await?;
        if let Some(unionid) = unionid {
            self.audit(Audit {
                kind: "unionid_set",
                user: Some(user),
                detail: Some(unionid),
                ..Audit::default()
            })
            .await?;
        }
        Ok(())
    }

    /// Takes `unionid` from `user`: the WeChat person it names is no longer this user, and
    /// its next login links by nothing but what it proves then.
    pub async fn release_unionid(&mut self, user: &UserId, unionid: &str) -> TxResult<()> {
        let q = self
            .db
            .sql("UPDATE users SET unionid = NULL, updated_at = ? WHERE id = ? AND unionid = ?");
        sqlx::query(&q)
            .bind(self.now)
            .bind(user.as_str())
            .bind(unionid)
            .execute(&mut *self.conn)
            .await?;
        self.audit(Audit {
            kind: "unionid_released",
            user: Some(user),
            detail: Some(unionid),
            ..Audit::default()
        })
        .await
    }

    /// Gives `user` the phone, closing the history of the one it had.
    pub async fn set_phone(
        &mut self,
        user: &UserId,
        phone: &Phone,
        previous: Option<&Phone>,
    ) -> TxResult<()> {
        if let Some(previous) = previous {
            self.close_phone_history(user, previous, "replaced").await?;
        }
        self.write_phone(user, Some(phone)).await?;
        self.open_phone_history(user, phone).await?;
        self.audit(Audit {
            kind: "phone_set",
            user: Some(user),
            phone: Some(phone),
            detail: previous.map(Phone::as_str),
            ..Audit::default()
        })
        .await
    }

    /// Takes the phone away from `user` (it moved to someone else, or the user was merged).
    pub async fn release_phone(
        &mut self,
        user: &UserId,
        phone: &Phone,
        reason: &str,
    ) -> TxResult<()> {
        self.write_phone(user, None).await?;
        self.close_phone_history(user, phone, reason).await?;
        self.audit(Audit {
            kind: "phone_unset",
            user: Some(user),
            phone: Some(phone),
            detail: Some(reason),
            ..Audit::default()
        })
        .await
    }

    async fn write_phone(&mut self, user: &UserId, phone: Option<&Phone>) -> TxResult<()> {
        let q = self
            .db
            .sql("UPDATE users SET phone = ?, updated_at = ? WHERE id = ?");
        sqlx::query(&q)
            .bind(phone.map(Phone::as_str))
            .bind(self.now)
            .bind(user.as_str())
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn open_phone_history(&mut self, user: &UserId, phone: &Phone) -> TxResult<()> {
        let q = self
            .db
            .sql("INSERT INTO phone_history (phone, user_id, bound_at) VALUES (?, ?, ?)");
        sqlx::query(&q)
            .bind(phone.as_str())
            .bind(user.as_str())
            .bind(self.now)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn close_phone_history(
        &mut self,
        user: &UserId,
        phone: &Phone,
        reason: &str,
    ) -> TxResult<()> {
        let q = self.db.sql(
            "UPDATE phone_history SET unbound_at = ?, reason = ? \
             WHERE phone = ? AND user_id = ? AND unbound_at IS NULL",
        );
        sqlx::query(&q)
            .bind(self.now)
            .bind(reason)
            .bind(phone.as_str())
            .bind(user.as_str())
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Folds `absorbed` into `survivor`: identities, unionid and phone move over, the absorbed
    /// id stays as an alias, and its sessions are revoked. Returns the revoked session ids.
    pub async fn merge_into(&mut self, survivor: &User, absorbed: &User) -> TxResult<Vec<String>> {
        let (s, x) = (&survivor.id, &absorbed.id);
        let q = self
            .db
            .sql("UPDATE identities SET user_id = ? WHERE user_id = ?");
        sqlx::query(&q)
            .bind(s.as_str())
            .bind(x.as_str())
            .execute(&mut *self.conn)
            .await?;

        // Unique columns must be vacated on the absorbed row before the survivor takes them.
        if let Some(unionid) = &absorbed.unionid {
            self.set_unionid(x, None).await?;
            if survivor.unionid.is_none() {
                self.set_unionid(s, Some(unionid)).await?;
            }
        }
        if let Some(phone) = &absorbed.phone {
            self.release_phone(x, phone, "merged").await?;
            if survivor.phone.is_none() {
                self.set_phone(s, phone, None).await?;
            }
        }

        let q = self.db.sql(
            "UPDATE users SET merged_into = ?, updated_at = ? WHERE id = ? OR merged_into = ?",
        );
        sqlx::query(&q)
            .bind(s.as_str())
            .bind(self.now)
            .bind(x.as_str())
            .bind(x.as_str())
            .execute(&mut *self.conn)
            .await?;

        let revoked = self.revoke_user_sessions(x, "merged").await?;
        self.audit(Audit {
            kind: "merge",
            user: Some(s),
            other: Some(x),
            ..Audit::default()
        })
        .await?;
        Ok(revoked)
    }

    pub(crate) async fn revoke_user_sessions(
        &mut self,
        user: &UserId,
        reason: &str,
    ) -> TxResult<Vec<String>> {
        self.revoke_sessions(
            "SELECT id FROM sessions WHERE user_id = ? AND revoked_at IS NULL",
            "UPDATE sessions SET revoked_at = ?, revoke_reason = ? \
             WHERE user_id = ? AND revoked_at IS NULL",
            &[user.as_str()],
            reason,
        )
        .await
    }

    /// Revokes the live sessions `select` names; `update` ends the same ones, taking the time
    /// and `reason` before `keys`. Returns their ids (for the replicas' fast path).
    pub(crate) async fn revoke_sessions(
        &mut self,
        select: &'static str,
        update: &'static str,
        keys: &[&str],
        reason: &str,
    ) -> TxResult<Vec<String>> {
        let q = self.db.sql(select);
        let mut query = sqlx::query(&q);
        for key in keys {
            query = query.bind(*key);
        }
        let ids = query
            .fetch_all(&mut *self.conn)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>("id"))
            .collect::<Result<Vec<_>, _>>()?;
        let q = self.db.sql(update);
        let mut query = sqlx::query(&q).bind(self.now).bind(reason);
        for key in keys {
            query = query.bind(*key);
        }
        query.execute(&mut *self.conn).await?;
        Ok(ids)
    }

    pub async fn update_profile(
        &mut self,
        user: &UserId,
        nickname: Option<&str>,
        avatar: Option<&str>,
    ) -> TxResult<()> {
        if nickname.is_none() && avatar.is_none() {
            return Ok(());
        }
        let q = self.db.sql(
            "UPDATE users SET nickname = COALESCE(?, nickname), avatar_url = COALESCE(?, avatar_url), \
             updated_at = ? WHERE id = ?",
        );
        sqlx::query(&q)
            .bind(nickname)
            .bind(avatar)
            .bind(self.now)
            .bind(user.as_str())
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    pub async fn audit(&mut self, e: Audit<'_>) -> TxResult<()> {
        let q = self.db.sql(
            "INSERT INTO audit_events (at, kind, user_id, other_user_id, channel, appid, openid, phone, detail, actor) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        sqlx::query(&q)
            .bind(self.now)
            .bind(e.kind)
            .bind(e.user.map(UserId::as_str))
            .bind(e.other.map(UserId::as_str))
            .bind(self.channel)
            .bind(e.appid)
            .bind(e.openid)
            .bind(e.phone.map(Phone::as_str))
            .bind(e.detail)
            .bind(self.actor)
            .execute(&mut *self.conn)
            .await?;
        for event in events_of(&e, self.channel) {
            outbox::record(&mut *self.conn, self.db, self.now, self.actor, event).await?;
        }
        Ok(())
    }
}

/// The identity events an audited change means for upstream services (none for bookkeeping
/// such as a unionid learnt): the one place where changes become events, so every change that
/// is audited and matters upstream has its event, in the same transaction.
fn events_of<'a>(e: &Audit<'a>, channel: &'a str) -> Vec<NewEvent<'a>> {
    let user = e.user.map(UserId::as_str).unwrap_or_default();
    let other = e.other.map(UserId::as_str);
    let masked = |p: Option<&str>| p.map(|p| Phone::from_stored(p.to_string()).masked());
    let one = |kind, data| {
        vec![NewEvent {
            kind,
            user,
            other: None,
            data,
        }]
    };
    match e.kind {
        "user_created" => one(EventType::UserCreated, json!({ "user": user })),
        "bind" => one(
            EventType::IdentityBound,
            json!({ "user": user, "channel": channel, "appid": e.appid, "openid": e.openid }),
        ),
        "unbind" => one(
            EventType::IdentityUnbound,
            json!({ "user": user, "appid": e.appid, "openid": e.openid }),
        ),
        // A binding that followed its phone to another user: gone from one, new on the other.
        "move" => vec![
            NewEvent {
                kind: EventType::IdentityUnbound,
                user: other.unwrap_or_default(),
                other: None,
                data: json!({ "user": other, "appid": e.appid, "openid": e.openid }),
            },
            NewEvent {
                kind: EventType::IdentityBound,
                user,
                other: None,
                data: json!({ "user": user, "channel": channel, "appid": e.appid, "openid": e.openid }),
            },
        ],
        "merge" => vec![NewEvent {
            kind: EventType::UserMerged,
            user,
            other,
            data: json!({ "survivor": user, "absorbed": other }),
        }],
        "phone_set" => one(
            EventType::PhoneChanged,
            json!({ "user": user, "old": masked(e.detail), "new": masked(e.phone.map(Phone::as_str)) }),
        ),
        "phone_unset" => one(
            EventType::PhoneChanged,
            json!({ "user": user, "old": masked(e.phone.map(Phone::as_str)), "new": null, "reason": e.detail }),
        ),
        "unionid_released" => one(
            EventType::UnionidReleased,
            json!({ "user": user, "unionid": e.detail }),
        ),
        "user_deleted" => one(EventType::UserDeleted, json!({ "user": user })),
        _ => Vec::new(),
    }
}
