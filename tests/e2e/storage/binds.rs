//! Binds and profiles on SQLite, PostgreSQL and MariaDB: facts a signed-in user proves later
//! (a phone) land on the session's user by the conflict policy; display facts are kept.

use super::support::*;
use wxgate_core::error::CoreError;
use wxgate_core::identity::history::count_live_users;
use wxgate_core::model::{Phone, UserId};
use wxgate_core::policy::{Anchor, IdentityPolicy, OnPhoneConflict};
use wxgate_tests::TestDb;

conformance!(
    bind_puts_a_phone_on_the_sessions_user,
    bind_follows_the_conflict_policy,
    bind_onto_a_user_that_is_gone_is_refused,
    profiles_are_kept_and_updated_for_display,
    phone_anchor_bind_gives_a_phoneless_user_a_free_phone_once,
    phone_anchor_bind_of_another_phone_is_refused,
);

async fn bind_puts_a_phone_on_the_sessions_user(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let a = r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    let out = r
        .bind(
            &a.user.id,
            &with_phone(wechat("mp", MP, "oA", None), "13800138000"),
        )
        .await
        .unwrap();
    assert_eq!(out.user.id, a.user.id);
    assert_eq!(
        out.user.phone.as_ref().map(Phone::as_str),
        Some("+8613800138000")
    );
    // A phone-only user (SMS) proving a WeChat identity keeps it: the identity is bound to
    // the session's user, not resolved to a new one.
    let s = r.resolve(&sms("13900139000")).await.unwrap();
    let out = r
        .bind(&s.user.id, &wechat("mp2", MP2, "oS", None))
        .await
        .unwrap();
    assert_eq!(out.user.id, s.user.id);
    assert_eq!(
        r.resolve(&wechat("mp2", MP2, "oS", None))
            .await
            .unwrap()
            .user
            .id,
        s.user.id
    );
    assert_eq!(count_live_users(&t.db).await.unwrap(), 2);
}

async fn bind_follows_the_conflict_policy(t: TestDb) {
    let reject = t.resolver(IdentityPolicy::default());
    let holder = reject.resolve(&sms("13800138000")).await.unwrap();
    t.clock.advance_ms(1000);
    let a = reject.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    let err = reject
        .bind(
            &a.user.id,
            &with_phone(wechat("mp", MP, "oA", None), "13800138000"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::PhoneConflict { .. }), "{err:?}");
    let merge = t.resolver(policy(Anchor::Wechat, OnPhoneConflict::Merge));
    let out = merge
        .bind(
            &a.user.id,
            &with_phone(wechat("mp", MP, "oA", None), "13800138000"),
        )
        .await
        .unwrap();
    assert_eq!(
        out.user.id, holder.user.id,
        "the older account survives the merge"
    );
    assert_eq!(
        out.user.phone.as_ref().map(Phone::as_str),
        Some("+8613800138000")
    );
    assert_eq!(count_live_users(&t.db).await.unwrap(), 1);
}

async fn bind_onto_a_user_that_is_gone_is_refused(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let err = r
        .bind(&UserId("u_nobody".into()), &sms("13800138000"))
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::UserNotFound), "{err:?}");
    assert_eq!(count_live_users(&t.db).await.unwrap(), 0);
}

async fn profiles_are_kept_and_updated_for_display(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let auth = t.auth(IdentityPolicy::default());
    let with_profile = |nickname: &str, avatar: Option<&str>| {
        let mut a = wechat("oa", MP, "oA", Some("oU"));
        a.profile = Some(wxgate_core::model::Profile {
            nickname: Some(nickname.into()),
            avatar_url: avatar.map(str::to_string),
        });
        a
    };
    let first = r
        .resolve(&with_profile("Band", Some("https://x/1/132")))
        .await
        .unwrap();
    assert_eq!(first.user.nickname.as_deref(), Some("Band"));
    let again = r.resolve(&with_profile("Band 2", None)).await.unwrap();
    assert_eq!(again.user.nickname.as_deref(), Some("Band 2"));
    assert_eq!(
        again.user.avatar_url.as_deref(),
        Some("https://x/1/132"),
        "an absent avatar keeps the old one"
    );
    let stored = auth.user(&first.user.id).await.unwrap().unwrap();
    assert_eq!(stored.nickname.as_deref(), Some("Band 2"));
    assert_eq!(stored.avatar_url.as_deref(), Some("https://x/1/132"));
}

async fn phone_anchor_bind_gives_a_phoneless_user_a_free_phone_once(t: TestDb) {
    let r = t.resolver(policy(Anchor::Phone, OnPhoneConflict::Reject));
    let wx = r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    let bound = r.bind(&wx.user.id, &sms("13800138000")).await.unwrap();
    assert_eq!(bound.user.id, wx.user.id);
    assert_eq!(bound.user.phone, Some(phone_of("13800138000")));
    assert_eq!(
        stored_phone(&t, &wx.user.id).await,
        Some(phone_of("13800138000"))
    );
    // Proving the same phone again changes nothing (it is not a conflict with itself).
    let again = r.bind(&wx.user.id, &sms("13800138000")).await.unwrap();
    assert_eq!(again.user.id, wx.user.id);
    assert_eq!(again.user.phone, Some(phone_of("13800138000")));
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(count_live_users(&t.db).await.unwrap(), 1);
}

async fn phone_anchor_bind_of_another_phone_is_refused(t: TestDb) {
    let r = t.resolver(policy(Anchor::Phone, OnPhoneConflict::Reject));
    let user = r.resolve(&sms("13800138000")).await.unwrap();
    // Under anchor = "phone" a user is its phone: a second, free phone is not taken on.
    let err = r
        .bind(&user.user.id, &sms("13900139000"))
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::Refused(_)), "{err:?}");
    assert_eq!(
        stored_phone(&t, &user.user.id).await,
        Some(phone_of("13800138000"))
    );
    assert!(r.resolve(&sms("13900139000")).await.unwrap().is_new);
}
