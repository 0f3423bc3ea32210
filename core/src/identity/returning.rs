//! The returning person: a WeChat identity already bound to a live user, nothing new proved.
//!
//! Most logins are this one, and the full resolution would spend a serializable transaction
//! (BEGIN, reads, writes, COMMIT) to change nothing but a timestamp. Here it is one read of the
//! binding with its user; a write of the binding's last login only when that is over an hour
//! old, and of the display profile only when the channel reported a different one.
//! Anything that is not plainly a return (a unionid the binding or user lacks, a merged or
//! deleted user, a phone to attach) takes the full transaction instead. A merge or deletion
//! committed between the two statements is what any login can meet between its resolution and
//! its session, and is handled there: the session is started for the survivor, or refused.

use super::repo::Tx;
use super::{LoginAttempt, Outcome};
use crate::store::{retry, Db};

/// How stale a binding's `last_login_at` may grow before a return writes it again. Nothing reads
/// it on a login path, and every login is recorded exactly by its session row; an hour spares
/// the database a write per login for people who open a mini-program many times a day (as
/// GitLab and Discourse throttle their last-activity columns).
pub(crate) const TOUCH_EVERY_MS: i64 = 60 * 60 * 1000;

/// The returning person's outcome, or `None` when the full resolution must decide.
pub(super) async fn returning(
    db: &Db,
    now: i64,
    attempt: &LoginAttempt,
) -> Result<Option<Outcome>, sqlx::Error> {
    let Some(wechat) = &attempt.wechat else {
        return Ok(None);
    };
    if attempt.verified_phone.is_some() {
        return Ok(None);
    }
    let mut conn = db.pool().acquire().await?;
    let mut tx = Tx {
        conn: &mut conn,
        db,
        now,
        channel: &attempt.channel,
        actor: None,
    };
    let found = quiet(tx.binding(&wechat.appid, &wechat.openid).await)?;
    let Some(Some(binding)) = found else {
        return Ok(None);
    };
    let unionid = wechat.unionid.as_deref();
    let nothing_new = binding.merged_into.is_none()
        && !binding.deleted
        && unionid.is_none_or(|u| {
            binding.unionid.as_deref() == Some(u) && binding.user.unionid.as_deref() == Some(u)
        });
    if !nothing_new {
        return Ok(None);
    }
    let stale = now.saturating_sub(binding.last_login_at) >= TOUCH_EVERY_MS;
    if stale && quiet(tx.touch_binding(&wechat.appid, &wechat.openid, None).await)?.is_none() {
        return Ok(None);
    }
    let mut user = binding.user;
    if let Some(profile) = &attempt.profile {
        let (nickname, avatar) = (profile.nickname.as_deref(), profile.avatar_url.as_deref());
        // A reported field that is absent or already stored changes nothing (`COALESCE`).
        let differs = |new: Option<&str>, old: &Option<String>| {
            new.is_some_and(|n| Some(n) != old.as_deref())
        };
        let changed = differs(nickname, &user.nickname) || differs(avatar, &user.avatar_url);
        if changed && quiet(tx.update_profile(&user.id, nickname, avatar).await)?.is_none() {
            return Ok(None);
        }
        user.nickname = nickname.map(str::to_string).or(user.nickname);
        user.avatar_url = avatar.map(str::to_string).or(user.avatar_url);
    }
    Ok(Some(Outcome {
        user,
        is_new: false,
        changes: Vec::new(),
        revoked_sessions: Vec::new(),
    }))
}

/// A conflict (a busy SQLite, a lock timeout) is not this path's to retry: `Ok(None)` sends the
/// login to the full transaction, whose loop does.
fn quiet<T>(result: Result<T, sqlx::Error>) -> Result<Option<T>, sqlx::Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if retry::is_retryable(&e) => Ok(None),
        Err(e) => Err(e),
    }
}
