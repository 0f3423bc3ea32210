//! Identity resolution on SQLite, PostgreSQL and MariaDB: bindings, unionids, verified phones,
//! merges, both anchors, binds, and concurrent logins of one person.

use wxgate_core::error::CoreError;
use wxgate_core::identity::history::{audit_events_for, count_live_users, phone_history};
use wxgate_core::identity::{Change, LoginAttempt, Resolver};
use wxgate_core::model::{User, UserId};
use wxgate_core::policy::{Anchor, IdentityPolicy, OnPhoneConflict};
use wxgate_tests::TestDb;

conformance!(
    first_login_creates_then_finds,
    unionid_joins_apps_of_one_open_platform,
    verified_phone_links_a_new_wechat_identity,
    unverified_phone_links_nothing,
    late_unionid_merges_users_older_survives,
    phone_change_under_wechat_anchor_keeps_history,
    phone_conflict_reject_changes_nothing,
    phone_conflict_move_takes_the_phone,
    phone_conflict_merge_joins_the_accounts,
    phone_anchor_user_without_phone_takes_it,
    phone_anchor_rebind_moves_identity_to_the_phone_user,
    phone_anchor_empty_user_merges_into_receiver,
    sms_login_creates_then_finds,
    concurrent_logins_from_two_apps_make_one_user,
    concurrent_logins_of_one_openid_make_one_binding,
    concurrent_sms_logins_of_one_phone_make_one_user,
    a_late_unionid_nobody_holds_is_recorded_and_returned,
    phone_anchor_late_unionid_keeps_two_phoned_users_apart,
    phone_anchor_late_unionid_joins_a_phoned_and_an_unphoned_user,
    wechat_anchor_late_unionid_merges_two_phoned_users,
    phone_conflict_merge_gives_the_phone_to_an_older_survivor,
    phone_conflict_merge_gives_the_proved_phone_to_a_survivor_with_another,
);

use super::support::*;

async fn first_login_creates_then_finds(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let first = r.resolve(&wechat("mp", MP, "oA1", None)).await.unwrap();
    assert!(first.is_new);
    assert!(first
        .changes
        .contains(&Change::UserCreated(first.user.id.clone())));
    t.clock.advance_ms(1000);
    let second = r.resolve(&wechat("mp", MP, "oA1", None)).await.unwrap();
    assert!(!second.is_new);
    assert_eq!(second.user.id, first.user.id);
    assert!(second.changes.is_empty(), "{:?}", second.changes);
    assert_eq!(count_live_users(&t.db).await.unwrap(), 1);
    let events = audit_events_for(&t.db, first.user.id.as_str())
        .await
        .unwrap();
    assert_eq!(kinds(&events), ["user_created", "bind"]);
    assert_eq!(events[1].appid.as_deref(), Some(MP));
    assert_eq!(events[1].openid.as_deref(), Some("oA1"));
}

async fn unionid_joins_apps_of_one_open_platform(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let a = r
        .resolve(&wechat("mp", MP, "oA", Some("oU1")))
        .await
        .unwrap();
    let b = r
        .resolve(&wechat("mp2", MP2, "oB", Some("oU1")))
        .await
        .unwrap();
    assert!(a.is_new && !b.is_new);
    assert_eq!(a.user.id, b.user.id);
    assert_eq!(b.user.unionid.as_deref(), Some("oU1"));
    // Same openid string from another app is another identity (openids are per appid).
    let c = r.resolve(&wechat("mp2", MP2, "oA", None)).await.unwrap();
    assert_ne!(c.user.id, a.user.id);
    assert_eq!(count_live_users(&t.db).await.unwrap(), 2);
}

async fn verified_phone_links_a_new_wechat_identity(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let by_sms = r.resolve(&sms("13800138000")).await.unwrap();
    let by_wx = r
        .resolve(&with_phone(
            wechat("mp", MP, "oA", Some("oU")),
            "13800138000",
        ))
        .await
        .unwrap();
    assert_eq!(by_wx.user.id, by_sms.user.id);
    assert!(!by_wx.is_new);
    assert_eq!(
        by_wx.user.unionid.as_deref(),
        Some("oU"),
        "the unionid is recorded on the user"
    );
    // From now on the binding alone finds the user.
    let again = r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    assert_eq!(again.user.id, by_sms.user.id);
}

async fn unverified_phone_links_nothing(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let by_sms = r.resolve(&sms("13800138000")).await.unwrap();
    // A WeChat login without a verified phone never reaches the phone holder.
    let by_wx = r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    assert_ne!(by_wx.user.id, by_sms.user.id);
    assert!(by_wx.user.phone.is_none());
}

async fn late_unionid_merges_users_older_survives(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let auth = t.auth(IdentityPolicy::default());
    // Two identities, unionid unknown at first: two users.
    let older = auth.login(&wechat("mp", MP, "oA", None)).await.unwrap();
    t.clock.advance_ms(1000);
    let younger = auth
        .login(&wechat("mp2", MP2, "oB", Some("oU")))
        .await
        .unwrap();
    assert_ne!(older.user.id, younger.user.id);
    t.clock.advance_ms(1000);
    // The first app now reports the unionid: same person.
    let out = r
        .resolve(&wechat("mp", MP, "oA", Some("oU")))
        .await
        .unwrap();
    assert_eq!(out.user.id, older.user.id, "the older user survives");
    assert_eq!(out.user.unionid.as_deref(), Some("oU"));
    assert!(out.changes.contains(&Change::Merged {
        survivor: older.user.id.clone(),
        absorbed: younger.user.id.clone()
    }));
    assert_eq!(out.revoked_sessions, vec![younger.claims.sid.clone()]);
    // The absorbed id stays resolvable, to the survivor.
    let alias = auth.user(&younger.user.id).await.unwrap().unwrap();
    assert_eq!(alias.id, older.user.id);
    // Both identities now find the survivor; the absorbed user's refresh token is dead.
    let b = r
        .resolve(&wechat("mp2", MP2, "oB", Some("oU")))
        .await
        .unwrap();
    assert_eq!(b.user.id, older.user.id);
    assert!(matches!(
        auth.refresh(younger.refresh_token.expose()).await,
        Err(CoreError::InvalidRefreshToken)
    ));
    assert!(auth.refresh(older.refresh_token.expose()).await.is_ok());
    let events = audit_events_for(&t.db, younger.user.id.as_str())
        .await
        .unwrap();
    assert!(kinds(&events).contains(&"merge"), "{:?}", kinds(&events));
    assert_eq!(count_live_users(&t.db).await.unwrap(), 1);
    let identities = auth.bindings(&older.user.id).await.unwrap();
    assert_eq!(identities.len(), 2);
}

async fn phone_change_under_wechat_anchor_keeps_history(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let first = r
        .resolve(&with_phone(wechat("mp", MP, "oA", None), "13800138000"))
        .await
        .unwrap();
    assert_eq!(first.user.phone, Some(phone_of("13800138000")));
    t.clock.advance_ms(1000);
    let changed = r
        .resolve(&with_phone(wechat("mp", MP, "oA", None), "13900139000"))
        .await
        .unwrap();
    assert_eq!(changed.user.id, first.user.id);
    assert_eq!(changed.user.phone, Some(phone_of("13900139000")));
    assert!(changed.changes.contains(&Change::PhoneSet {
        user: first.user.id.clone(),
        phone: phone_of("13900139000"),
        previous: Some(phone_of("13800138000")),
    }));
    let old = phone_history(&t.db, &phone_of("13800138000"))
        .await
        .unwrap();
    assert_eq!(old.len(), 1);
    assert!(old[0].unbound_at.is_some(), "P1 went to history");
    assert_eq!(old[0].reason.as_deref(), Some("replaced"));
    // The old phone is free again: an SMS login with it is somebody new.
    let sms_user = r.resolve(&sms("13800138000")).await.unwrap();
    assert!(sms_user.is_new);
    assert_ne!(sms_user.user.id, first.user.id);
}

async fn phone_conflict_reject_changes_nothing(t: TestDb) {
    let r = t.resolver(policy(Anchor::Wechat, OnPhoneConflict::Reject));
    let holder = r.resolve(&sms("13800138000")).await.unwrap();
    let wx = r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    let err = r
        .resolve(&with_phone(wechat("mp", MP, "oA", None), "13800138000"))
        .await
        .unwrap_err();
    match err {
        CoreError::PhoneConflict { holder: h } => assert_eq!(h, holder.user.id),
        other => panic!("expected a phone conflict, got {other:?}"),
    }
    let again = r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    assert_eq!(again.user.id, wx.user.id);
    assert!(again.user.phone.is_none());
    let still = r.resolve(&sms("13800138000")).await.unwrap();
    assert_eq!(still.user.id, holder.user.id);
}

async fn phone_conflict_move_takes_the_phone(t: TestDb) {
    let r = t.resolver(policy(Anchor::Wechat, OnPhoneConflict::Move));
    let holder = r.resolve(&sms("13800138000")).await.unwrap();
    r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    let moved = r
        .resolve(&with_phone(wechat("mp", MP, "oA", None), "13800138000"))
        .await
        .unwrap();
    assert_ne!(moved.user.id, holder.user.id);
    assert_eq!(moved.user.phone, Some(phone_of("13800138000")));
    assert!(moved
        .changes
        .iter()
        .any(|c| matches!(c, Change::PhoneMoved { from, .. } if *from == holder.user.id)));
    let history = phone_history(&t.db, &phone_of("13800138000"))
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].user_id, holder.user.id.0);
    assert_eq!(history[0].reason.as_deref(), Some("moved"));
    assert_eq!(history[1].user_id, moved.user.id.0);
    assert_eq!(count_live_users(&t.db).await.unwrap(), 2);
}

async fn phone_conflict_merge_joins_the_accounts(t: TestDb) {
    let r = t.resolver(policy(Anchor::Wechat, OnPhoneConflict::Merge));
    let old_account = r.resolve(&sms("13800138000")).await.unwrap();
    t.clock.advance_ms(1000);
    let newcomer = r
        .resolve(&wechat("mp", MP, "oA", Some("oU")))
        .await
        .unwrap();
    t.clock.advance_ms(1000);
    let merged = r
        .resolve(&with_phone(
            wechat("mp", MP, "oA", Some("oU")),
            "13800138000",
        ))
        .await
        .unwrap();
    assert_eq!(
        merged.user.id, old_account.user.id,
        "the older user survives"
    );
    assert_eq!(merged.user.phone, Some(phone_of("13800138000")));
    assert_eq!(
        merged.user.unionid.as_deref(),
        Some("oU"),
        "the unionid moved over"
    );
    assert!(merged.changes.contains(&Change::Merged {
        survivor: old_account.user.id.clone(),
        absorbed: newcomer.user.id.clone()
    }));
    assert_eq!(count_live_users(&t.db).await.unwrap(), 1);
    let by_sms = r.resolve(&sms("13800138000")).await.unwrap();
    assert_eq!(by_sms.user.id, old_account.user.id);
}

async fn phone_anchor_user_without_phone_takes_it(t: TestDb) {
    let r = t.resolver(policy(Anchor::Phone, OnPhoneConflict::Reject));
    let wx = r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    let with = r
        .resolve(&with_phone(wechat("mp", MP, "oA", None), "13800138000"))
        .await
        .unwrap();
    assert_eq!(with.user.id, wx.user.id);
    assert_eq!(with.user.phone, Some(phone_of("13800138000")));
}

async fn phone_anchor_rebind_moves_identity_to_the_phone_user(t: TestDb) {
    let r = t.resolver(policy(Anchor::Phone, OnPhoneConflict::Reject));
    let p1 = r
        .resolve(&with_phone(wechat("mp", MP, "oA", None), "13800138000"))
        .await
        .unwrap();
    // The WeChat account now proves another phone nobody holds: a new user for P2 receives
    // the identity; the old user keeps P1.
    let p2 = r
        .resolve(&with_phone(wechat("mp", MP, "oA", None), "13900139000"))
        .await
        .unwrap();
    assert_ne!(p2.user.id, p1.user.id);
    assert!(p2.is_new);
    assert_eq!(p2.user.phone, Some(phone_of("13900139000")));
    assert!(p2
        .changes
        .iter()
        .any(|c| matches!(c, Change::Moved { from, .. } if *from == p1.user.id)));
    let old = r.resolve(&sms("13800138000")).await.unwrap();
    assert_eq!(old.user.id, p1.user.id, "the old user keeps P1");
    let now = r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    assert_eq!(now.user.id, p2.user.id, "the binding follows the phone");
    // Back to P1 (held by the old user): the identity moves back to it.
    let back = r
        .resolve(&with_phone(wechat("mp", MP, "oA", None), "13800138000"))
        .await
        .unwrap();
    assert_eq!(back.user.id, p1.user.id);
    let events = audit_events_for(&t.db, p1.user.id.as_str()).await.unwrap();
    assert!(kinds(&events).contains(&"move"));
}

async fn phone_anchor_empty_user_merges_into_receiver(t: TestDb) {
    let r = t.resolver(policy(Anchor::Phone, OnPhoneConflict::Reject));
    let holder = r.resolve(&sms("13800138000")).await.unwrap();
    let wx = r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    assert_ne!(wx.user.id, holder.user.id);
    let out = r
        .resolve(&with_phone(wechat("mp", MP, "oA", None), "13800138000"))
        .await
        .unwrap();
    assert_eq!(out.user.id, holder.user.id);
    assert!(out.changes.contains(&Change::Merged {
        survivor: holder.user.id.clone(),
        absorbed: wx.user.id.clone()
    }));
    assert_eq!(count_live_users(&t.db).await.unwrap(), 1);
}

async fn sms_login_creates_then_finds(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let a = r.resolve(&sms("13800138000")).await.unwrap();
    let b = r.resolve(&sms("+8613800138000")).await.unwrap();
    assert!(a.is_new && !b.is_new);
    assert_eq!(a.user.id, b.user.id);
    let history = phone_history(&t.db, &phone_of("13800138000"))
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert!(history[0].unbound_at.is_none());
    let events = audit_events_for(&t.db, a.user.id.as_str()).await.unwrap();
    assert_eq!(kinds(&events), ["user_created", "phone_set"]);
}

/// Races `n` resolves, each on its own single-connection pool (a replica of its own).
async fn race(t: &TestDb, n: usize, attempt: impl Fn(usize) -> LoginAttempt) -> Vec<UserId> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let db = TestDb::connect(&t.url, 1).await;
        let resolver =
            wxgate_core::identity::Resolver::new(db, IdentityPolicy::default(), t.shared_clock());
        let a = attempt(i);
        tasks.push(tokio::spawn(async move { resolver.resolve(&a).await }));
    }
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task").expect("resolve succeeds").user.id)
        .collect()
}

async fn concurrent_logins_from_two_apps_make_one_user(t: TestDb) {
    let ids = race(&t, 20, |i| {
        if i % 2 == 0 {
            wechat("mp", MP, "oA", Some("oU"))
        } else {
            wechat("mp2", MP2, "oB", Some("oU"))
        }
    })
    .await;
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    assert_eq!(count_live_users(&t.db).await.unwrap(), 1);
    let auth = t.auth(IdentityPolicy::default());
    assert_eq!(auth.bindings(&ids[0]).await.unwrap().len(), 2);
}

async fn concurrent_logins_of_one_openid_make_one_binding(t: TestDb) {
    let ids = race(&t, 20, |_| wechat("mp", MP, "oA", None)).await;
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    assert_eq!(count_live_users(&t.db).await.unwrap(), 1);
    let events = audit_events_for(&t.db, ids[0].as_str()).await.unwrap();
    assert_eq!(
        kinds(&events),
        ["user_created", "bind"],
        "one creation, one binding"
    );
}

async fn concurrent_sms_logins_of_one_phone_make_one_user(t: TestDb) {
    let ids = race(&t, 20, |_| sms("13800138000")).await;
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    assert_eq!(count_live_users(&t.db).await.unwrap(), 1);
}

async fn a_late_unionid_nobody_holds_is_recorded_and_returned(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let first = r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    assert_eq!(first.user.unionid, None);
    let later = r
        .resolve(&wechat("mp", MP, "oA", Some("oU")))
        .await
        .unwrap();
    assert_eq!(later.user.id, first.user.id);
    assert_eq!(
        later.user.unionid.as_deref(),
        Some("oU"),
        "returned with it"
    );
    assert!(later.changes.contains(&Change::UnionidSet {
        user: first.user.id.clone(),
        unionid: "oU".into()
    }));
    let stored = t
        .auth(IdentityPolicy::default())
        .user(&first.user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.unionid.as_deref(), Some("oU"), "and stored");
    // Another app of the same platform now finds the same user by it.
    let other = r
        .resolve(&wechat("mp2", MP2, "oB", Some("oU")))
        .await
        .unwrap();
    assert_eq!(other.user.id, first.user.id);
}

/// Two users, each with its own phone, and a unionid that would join them.
async fn two_phoned_users(r: &Resolver, t: &TestDb) -> (User, User) {
    let a = r
        .resolve(&with_phone(wechat("mp", MP, "oA", None), "13800138000"))
        .await
        .unwrap();
    t.clock.advance_ms(1000);
    let b = r
        .resolve(&with_phone(
            wechat("mp2", MP2, "oB", Some("oU")),
            "13900139000",
        ))
        .await
        .unwrap();
    assert_ne!(a.user.id, b.user.id);
    t.clock.advance_ms(1000);
    (a.user, b.user)
}

async fn phone_anchor_late_unionid_keeps_two_phoned_users_apart(t: TestDb) {
    let r = t.resolver(policy(Anchor::Phone, OnPhoneConflict::Reject));
    let (a, b) = two_phoned_users(&r, &t).await;
    // A's app now reports B's unionid. Under anchor = "phone" two phones are two people.
    let out = r
        .resolve(&wechat("mp", MP, "oA", Some("oU")))
        .await
        .unwrap();
    assert_eq!(out.user.id, a.id);
    assert_eq!(out.user.phone, Some(phone_of("13800138000")));
    assert!(
        !out.changes
            .iter()
            .any(|c| matches!(c, Change::Merged { .. })),
        "{:?}",
        out.changes
    );
    assert_eq!(count_live_users(&t.db).await.unwrap(), 2);
    let auth = t.auth(IdentityPolicy::default());
    let holder = auth.user(&b.id).await.unwrap().unwrap();
    assert_eq!(holder.id, b.id, "B was not absorbed");
    assert_eq!(
        holder.unionid.as_deref(),
        Some("oU"),
        "the unionid stays with B"
    );
    assert_eq!(holder.phone, Some(phone_of("13900139000")));
    let again = r
        .resolve(&wechat("mp2", MP2, "oB", Some("oU")))
        .await
        .unwrap();
    assert_eq!(again.user.id, b.id);
}

async fn phone_anchor_late_unionid_joins_a_phoned_and_an_unphoned_user(t: TestDb) {
    let r = t.resolver(policy(Anchor::Phone, OnPhoneConflict::Reject));
    let a = r
        .resolve(&with_phone(wechat("mp", MP, "oA", None), "13800138000"))
        .await
        .unwrap();
    t.clock.advance_ms(1000);
    let b = r
        .resolve(&wechat("mp2", MP2, "oB", Some("oU")))
        .await
        .unwrap();
    assert_ne!(a.user.id, b.user.id);
    t.clock.advance_ms(1000);
    // One phone between them: nothing says two people, so the unionid joins them.
    let out = r
        .resolve(&wechat("mp", MP, "oA", Some("oU")))
        .await
        .unwrap();
    assert_eq!(out.user.id, a.user.id, "the older user survives");
    assert_eq!(out.user.phone, Some(phone_of("13800138000")));
    assert_eq!(out.user.unionid.as_deref(), Some("oU"));
    assert!(out.changes.contains(&Change::Merged {
        survivor: a.user.id.clone(),
        absorbed: b.user.id.clone()
    }));
    assert_eq!(count_live_users(&t.db).await.unwrap(), 1);
}

async fn wechat_anchor_late_unionid_merges_two_phoned_users(t: TestDb) {
    let r = t.resolver(policy(Anchor::Wechat, OnPhoneConflict::Reject));
    let (a, b) = two_phoned_users(&r, &t).await;
    // Under anchor = "wechat" the unionid is the person, whatever phones they proved.
    let out = r
        .resolve(&wechat("mp", MP, "oA", Some("oU")))
        .await
        .unwrap();
    assert_eq!(out.user.id, a.id, "the older user survives");
    assert_eq!(
        out.user.phone,
        Some(phone_of("13800138000")),
        "the survivor keeps its own phone"
    );
    assert_eq!(out.user.unionid.as_deref(), Some("oU"));
    assert!(out.changes.contains(&Change::Merged {
        survivor: a.id.clone(),
        absorbed: b.id.clone()
    }));
    assert_eq!(count_live_users(&t.db).await.unwrap(), 1);
    // The absorbed user's phone was released: an SMS login with it is a new person.
    let by_sms = r.resolve(&sms("13900139000")).await.unwrap();
    assert!(by_sms.is_new);
}

/// Under `merge`, an older WeChat user (with `own_phone`, or none) proves a phone a newer user
/// holds: the older user survives, with the phone it just proved, stored and returned.
async fn an_older_wechat_user_proves_a_held_phone(t: &TestDb, own_phone: Option<&str>) {
    let r = t.resolver(policy(Anchor::Wechat, OnPhoneConflict::Merge));
    let first = wechat("mp", MP, "oA", Some("oU"));
    let first = match own_phone {
        Some(p) => with_phone(first, p),
        None => first,
    };
    let wx = r.resolve(&first).await.unwrap();
    t.clock.advance_ms(1000);
    let holder = r.resolve(&sms("13800138000")).await.unwrap();
    t.clock.advance_ms(1000);
    let merged = r
        .resolve(&with_phone(
            wechat("mp", MP, "oA", Some("oU")),
            "13800138000",
        ))
        .await
        .unwrap();
    assert_eq!(merged.user.id, wx.user.id, "the older user survives");
    assert_eq!(
        merged.user.phone,
        Some(phone_of("13800138000")),
        "with the phone it just proved"
    );
    assert!(merged.changes.contains(&Change::Merged {
        survivor: wx.user.id.clone(),
        absorbed: holder.user.id.clone()
    }));
    assert_eq!(
        stored_phone(t, &wx.user.id).await,
        Some(phone_of("13800138000"))
    );
    let by_sms = r.resolve(&sms("13800138000")).await.unwrap();
    assert_eq!(by_sms.user.id, wx.user.id);
    assert_eq!(count_live_users(&t.db).await.unwrap(), 1);
    if let Some(old) = own_phone {
        // Its old phone is free again: an SMS login with it is somebody new.
        assert!(r.resolve(&sms(old)).await.unwrap().is_new);
    }
}

async fn phone_conflict_merge_gives_the_phone_to_an_older_survivor(t: TestDb) {
    an_older_wechat_user_proves_a_held_phone(&t, None).await;
}

async fn phone_conflict_merge_gives_the_proved_phone_to_a_survivor_with_another(t: TestDb) {
    an_older_wechat_user_proves_a_held_phone(&t, Some("13700137000")).await;
}
