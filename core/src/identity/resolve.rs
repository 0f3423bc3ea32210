//! The resolution rules, run inside one transaction and re-run on conflict.

use super::repo::{Tx, TxResult};
use super::{Change, LoginAttempt, Outcome};
use crate::clock::SharedClock;
use crate::error::{CoreError, CoreResult};
use crate::model::{Phone, User, UserId, WechatIdentity};
use crate::policy::{Anchor, IdentityPolicy, OnPhoneConflict};
use crate::store::{retry, Db};

/// Applies the identity rules of one [`IdentityPolicy`] against the shared database.
#[derive(Clone)]
pub struct Resolver {
    db: Db,
    policy: IdentityPolicy,
    clock: SharedClock,
}

/// Why one run of the transaction stopped: a database error (maybe retryable) or a decision.
enum Stop {
    Db(sqlx::Error),
    PhoneConflict(User),
    /// The session's user no longer exists (deleted, or never did).
    UserGone,
    /// A change the rules refuse; the text says why.
    Refused(&'static str),
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Stop::Db(e)
    }
}

impl Resolver {
    pub fn new(db: Db, policy: IdentityPolicy, clock: SharedClock) -> Self {
        Self { db, policy, clock }
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Resolves a login attempt to one user, creating, binding, moving or merging as the rules
    /// say. Safe under any concurrency: a lost race re-runs the transaction, which then sees the
    /// winner's rows. A returning person who proves nothing new takes the short path of
    /// `returning.rs` (one read, no transaction) instead.
    pub async fn resolve(&self, attempt: &LoginAttempt) -> CoreResult<Outcome> {
        let now = self.clock.now_ms();
        if let Some(outcome) = super::returning::returning(&self.db, now, attempt).await? {
            return Ok(outcome);
        }
        self.run(attempt, None).await
    }

    /// Attaches what a channel verified (a phone proved later, a WeChat identity) to `user`,
    /// the *current session's* user, instead of to whoever the facts resolve to. A phone
    /// follows the same rules as at login (`anchor`, `on_phone_conflict`); an identity not yet
    /// bound is bound to `user`; one already bound stays with its user, which is the user the
    /// facts are then about (under `anchor = "phone"` an identity follows its phone).
    pub async fn bind(&self, user: &UserId, attempt: &LoginAttempt) -> CoreResult<Outcome> {
        self.run(attempt, Some(user)).await
    }

    async fn run(&self, attempt: &LoginAttempt, onto: Option<&UserId>) -> CoreResult<Outcome> {
        if attempt.wechat.is_none() && attempt.verified_phone.is_none() {
            return Err(CoreError::EmptyAttempt);
        }
        let (db, policy, clock) = (self.db.clone(), self.policy, self.clock.clone());
        let (attempt, onto) = (attempt.clone(), onto.cloned());
        retry::transaction(&self.db, move |conn| {
            let (db, clock) = (db.clone(), clock.clone());
            let (attempt, onto) = (attempt.clone(), onto.clone());
            Box::pin(async move {
                let mut run = Run {
                    tx: Tx {
                        conn,
                        db: &db,
                        now: clock.now_ms(),
                        channel: &attempt.channel,
                        actor: None,
                    },
                    policy,
                    changes: Vec::new(),
                    revoked: Vec::new(),
                };
                let result = match &onto {
                    None => run.resolve(&attempt).await,
                    Some(user) => run.bind(user, &attempt).await,
                };
                match result {
                    Ok((user, is_new)) => Ok(Outcome {
                        user,
                        is_new,
                        changes: run.changes,
                        revoked_sessions: run.revoked,
                    }),
                    Err(Stop::Db(e)) => Err(retry::Stop::Db(e)),
                    Err(Stop::PhoneConflict(holder)) => {
                        Err(retry::Stop::Abort(CoreError::PhoneConflict {
                            holder: holder.id,
                        }))
                    }
                    Err(Stop::UserGone) => Err(retry::Stop::Abort(CoreError::UserNotFound)),
                    Err(Stop::Refused(why)) => Err(retry::Stop::Abort(CoreError::Refused(why))),
                }
            })
        })
        .await
        .map_err(CoreError::from)
    }
}

/// One run of the resolution transaction, collecting what it changed.
struct Run<'a> {
    tx: Tx<'a>,
    policy: IdentityPolicy,
    changes: Vec<Change>,
    revoked: Vec<String>,
}

impl Run<'_> {
    async fn resolve(&mut self, attempt: &LoginAttempt) -> Result<(User, bool), Stop> {
        let phone = attempt.verified_phone.as_ref();
        let profile = attempt.profile.clone().unwrap_or_default();
        let (nickname, avatar) = (profile.nickname.as_deref(), profile.avatar_url.as_deref());
        let Some(wechat) = &attempt.wechat else {
            // Phone-only login (SMS): the phone is the key in both anchors.
            let phone = phone.expect("checked by the caller");
            if let Some(user) = self.tx.user_by_phone(phone).await? {
                return Ok((user, false));
            }
            let user = self
                .create_user(None, Some(phone), nickname, avatar)
                .await?;
            return Ok((user, true));
        };

        let (mut user, bound) = match self
            .tx
            .user_by_identity(&wechat.appid, &wechat.openid)
            .await?
        {
            Some(user) => (Some(user), true),
            None => (None, false),
        };
        if let Some(unionid) = wechat.unionid.as_deref() {
            user = self.join_by_unionid(user, unionid).await?;
        }
        if user.is_none() {
            if let Some(phone) = phone {
                user = self.tx.user_by_phone(phone).await?;
                if let (Some(found), Some(unionid)) = (&mut user, wechat.unionid.as_deref()) {
                    if found.unionid.is_none() {
                        self.set_unionid(found, unionid).await?;
                        found.unionid = Some(unionid.to_string());
                    }
                }
            }
        }
        let (mut user, mut is_new) = match user {
            Some(user) => (user, false),
            None => {
                // The phone is attached below, by the same rules as for an existing user.
                let user = self
                    .create_user(wechat.unionid.as_deref(), None, nickname, avatar)
                    .await?;
                (user, true)
            }
        };
        if bound {
            self.tx
                .touch_binding(&wechat.appid, &wechat.openid, wechat.unionid.as_deref())
                .await?;
        } else {
            self.bind_identity(wechat, &user).await?;
        }
        if !is_new {
            self.tx.update_profile(&user.id, nickname, avatar).await?;
            user.nickname = nickname.map(str::to_string).or(user.nickname);
            user.avatar_url = avatar.map(str::to_string).or(user.avatar_url);
        }
        if let Some(phone) = phone {
            let (after, created) = match self.policy.anchor {
                Anchor::Wechat => (self.phone_follows_wechat(user, phone).await?, false),
                Anchor::Phone => self.wechat_follows_phone(user, wechat, phone).await?,
            };
            user = after;
            is_new |= created;
        }
        Ok((user, is_new))
    }

    /// [`Resolver::bind`]: the facts go onto the session's user.
    async fn bind(&mut self, onto: &UserId, attempt: &LoginAttempt) -> Result<(User, bool), Stop> {
        let mut user = self.tx.user(onto).await?.ok_or(Stop::UserGone)?;
        if let Some(wechat) = &attempt.wechat {
            match self
                .tx
                .user_by_identity(&wechat.appid, &wechat.openid)
                .await?
            {
                Some(owner) => {
                    self.tx
                        .touch_binding(&wechat.appid, &wechat.openid, wechat.unionid.as_deref())
                        .await?;
                    user = owner;
                }
                None => self.bind_identity(wechat, &user).await?,
            }
            if let Some(unionid) = wechat.unionid.as_deref() {
                if let Some(joined) = self.join_by_unionid(Some(user.clone()), unionid).await? {
                    user = joined;
                }
            }
        }
        let Some(phone) = attempt.verified_phone.as_ref() else {
            return Ok((user, false));
        };
        match (self.policy.anchor, &attempt.wechat) {
            (Anchor::Wechat, _) => Ok((self.phone_follows_wechat(user, phone).await?, false)),
            (Anchor::Phone, Some(wechat)) => {
                Ok(self.wechat_follows_phone(user, wechat, phone).await?)
            }
            (Anchor::Phone, None) => {
                // A user is its phone: one without a phone may take a free one; anything else
                // would make one user two people.
                if user.phone.as_ref() == Some(phone) {
                    return Ok((user, false));
                }
                match self.tx.user_by_phone(phone).await? {
                    None if user.phone.is_none() => {
                        self.set_phone(&user, phone).await?;
                        Ok((
                            User {
                                phone: Some(phone.clone()),
                                ..user
                            },
                            false,
                        ))
                    }
                    Some(holder) => Err(Stop::PhoneConflict(holder)),
                    None => Err(Stop::Refused(
                        "under anchor = \"phone\" a user is its phone: sign in with the new phone instead",
                    )),
                }
            }
        }
    }

    /// Binds a WeChat identity seen for the first time to `user`.
    async fn bind_identity(&mut self, wechat: &WechatIdentity, user: &User) -> TxResult<()> {
        self.tx
            .insert_binding(
                &wechat.appid,
                &wechat.openid,
                &user.id,
                wechat.unionid.as_deref(),
            )
            .await?;
        self.changes.push(Change::Bound {
            appid: wechat.appid.clone(),
            openid: wechat.openid.clone(),
            user: user.id.clone(),
        });
        Ok(())
    }

    /// The user holding this unionid is the same person: bind to it, or merge when the
    /// identity's user is a different one.
    async fn join_by_unionid(
        &mut self,
        user: Option<User>,
        unionid: &str,
    ) -> TxResult<Option<User>> {
        // The user already holds this unionid (unique): nobody else can; no query needed.
        if let Some(a) = &user {
            if a.unionid.as_deref() == Some(unionid) {
                return Ok(user);
            }
        }
        let holder = self.tx.user_by_unionid(unionid).await?;
        Ok(match (user, holder) {
            (Some(a), Some(u)) if a.id != u.id => {
                // Under anchor = "phone" two users with two different phones are two people
                // by definition; the unionid stays on its holder and nothing merges.
                let both_phoned = a.phone.is_some() && u.phone.is_some() && a.phone != u.phone;
                if self.policy.anchor == Anchor::Phone && both_phoned {
                    Some(a)
                } else {
                    Some(self.merge(a, u).await?)
                }
            }
            (Some(a), None) => {
                if a.unionid.is_none() {
                    self.set_unionid(&a, unionid).await?;
                    Some(User {
                        unionid: Some(unionid.to_string()),
                        ..a
                    })
                } else {
                    Some(a)
                }
            }
            (Some(a), Some(_)) => Some(a),
            (None, holder) => holder,
        })
    }

    /// `anchor = "wechat"`: the user keeps its WeChat identities and takes the new phone.
    async fn phone_follows_wechat(&mut self, user: User, phone: &Phone) -> Result<User, Stop> {
        if user.phone.as_ref() == Some(phone) {
            return Ok(user);
        }
        let holder = self.tx.user_by_phone(phone).await?;
        match holder {
            None => {
                self.set_phone(&user, phone).await?;
                Ok(User {
                    phone: Some(phone.clone()),
                    ..user
                })
            }
            Some(holder) => match self.policy.on_phone_conflict {
                OnPhoneConflict::Reject => Err(Stop::PhoneConflict(holder)),
                OnPhoneConflict::Move => {
                    self.tx.release_phone(&holder.id, phone, "moved").await?;
                    self.set_phone(&user, phone).await?;
                    self.changes.push(Change::PhoneMoved {
                        phone: phone.clone(),
                        from: holder.id,
                        to: user.id.clone(),
                    });
                    Ok(User {
                        phone: Some(phone.clone()),
                        ..user
                    })
                }
                OnPhoneConflict::Merge => {
                    let survivor = self.merge(user, holder).await?;
                    if survivor.phone.as_ref() == Some(phone) {
                        return Ok(survivor);
                    }
                    // The absorbed holder released the phone during the merge.
                    self.set_phone(&survivor, phone).await?;
                    Ok(User {
                        phone: Some(phone.clone()),
                        ..survivor
                    })
                }
            },
        }
    }

    /// `anchor = "phone"`: a user is its phone; the WeChat identity follows the phone it proved.
    /// Returns the user the identity now belongs to, and whether that user was just created.
    async fn wechat_follows_phone(
        &mut self,
        user: User,
        wechat: &WechatIdentity,
        phone: &Phone,
    ) -> TxResult<(User, bool)> {
        if user.phone.as_ref() == Some(phone) {
            return Ok((user, false));
        }
        let holder = self.tx.user_by_phone(phone).await?;
        if user.phone.is_none() && holder.is_none() {
            self.set_phone(&user, phone).await?;
            let user = User {
                phone: Some(phone.clone()),
                ..user
            };
            return Ok((user, false));
        }
        let (target, created) = match holder {
            Some(holder) => (holder, false),
            None => (self.create_user(None, Some(phone), None, None).await?, true),
        };
        self.tx
            .move_binding(&wechat.appid, &wechat.openid, &user.id, &target.id)
            .await?;
        self.changes.push(Change::Moved {
            appid: wechat.appid.clone(),
            openid: wechat.openid.clone(),
            from: user.id.clone(),
            to: target.id.clone(),
        });
        // A user left with neither identities nor a phone is the same person as the receiver.
        if user.phone.is_none() && self.tx.count_identities(&user.id).await? == 0 {
            let revoked = self.tx.merge_into(&target, &user).await?;
            self.revoked.extend(revoked);
            self.changes.push(Change::Merged {
                survivor: target.id.clone(),
                absorbed: user.id.clone(),
            });
            let target = self.tx.user(&target.id).await?.unwrap_or(target);
            return Ok((target, created));
        }
        Ok((target, created))
    }

    /// Merges two users; the older one (then the smaller id) survives.
    async fn merge(&mut self, a: User, b: User) -> TxResult<User> {
        let (survivor, absorbed) = if (a.created_at, &a.id) <= (b.created_at, &b.id) {
            (a, b)
        } else {
            (b, a)
        };
        let revoked = self.tx.merge_into(&survivor, &absorbed).await?;
        self.revoked.extend(revoked);
        self.changes.push(Change::Merged {
            survivor: survivor.id.clone(),
            absorbed: absorbed.id.clone(),
        });
        // Re-read: the survivor may have taken the absorbed user's unionid or phone.
        Ok(self.tx.user(&survivor.id).await?.unwrap_or(survivor))
    }

    async fn create_user(
        &mut self,
        unionid: Option<&str>,
        phone: Option<&Phone>,
        nickname: Option<&str>,
        avatar: Option<&str>,
    ) -> TxResult<User> {
        let user = self
            .tx
            .create_user(unionid, phone, nickname, avatar)
            .await?;
        self.changes.push(Change::UserCreated(user.id.clone()));
        if let Some(phone) = phone {
            self.changes.push(Change::PhoneSet {
                user: user.id.clone(),
                phone: phone.clone(),
                previous: None,
            });
        }
        Ok(user)
    }

    async fn set_phone(&mut self, user: &User, phone: &Phone) -> TxResult<()> {
        self.tx
            .set_phone(&user.id, phone, user.phone.as_ref())
            .await?;
        self.changes.push(Change::PhoneSet {
            user: user.id.clone(),
            phone: phone.clone(),
            previous: user.phone.clone(),
        });
        Ok(())
    }

    async fn set_unionid(&mut self, user: &User, unionid: &str) -> TxResult<()> {
        self.tx.set_unionid(&user.id, Some(unionid)).await?;
        self.changes.push(Change::UnionidSet {
            user: user.id.clone(),
            unionid: unionid.to_string(),
        });
        Ok(())
    }
}
