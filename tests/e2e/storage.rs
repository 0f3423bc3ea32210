//! The storage conformance suite: the same identity, session and concurrency tests against
//! SQLite, PostgreSQL and MariaDB.

use wxgate_core::error::CoreError;
use wxgate_core::identity::history::{audit_events_for, count_live_users, phone_history};
use wxgate_core::identity::{Change, LoginAttempt, Resolver};
use wxgate_core::model::{Phone, User, UserId, WechatIdentity};
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
    refresh_rotates_and_reuse_revokes_the_family,
    parallel_refreshes_have_one_winner,
    a_retried_refresh_gets_the_same_token_within_the_grace_window,
    logout_revokes_the_session,
    concurrent_logins_from_two_apps_make_one_user,
    concurrent_logins_of_one_openid_make_one_binding,
    concurrent_sms_logins_of_one_phone_make_one_user,
    bind_puts_a_phone_on_the_sessions_user,
    bind_follows_the_conflict_policy,
    bind_onto_a_user_that_is_gone_is_refused,
    profiles_are_kept_and_updated_for_display,
    a_rotation_for_another_session_is_refused_untouched,
    a_browser_renewal_may_be_replayed_for_longer,
    concurrent_reuse_of_a_spent_token_revokes_the_family_and_never_fails,
    a_session_for_a_user_merged_away_goes_to_the_survivor,
    a_late_unionid_nobody_holds_is_recorded_and_returned,
    phone_anchor_late_unionid_keeps_two_phoned_users_apart,
    phone_anchor_late_unionid_joins_a_phoned_and_an_unphoned_user,
    wechat_anchor_late_unionid_merges_two_phoned_users,
    phone_conflict_merge_gives_the_phone_to_an_older_survivor,
    phone_conflict_merge_gives_the_proved_phone_to_a_survivor_with_another,
    phone_anchor_bind_gives_a_phoneless_user_a_free_phone_once,
    phone_anchor_bind_of_another_phone_is_refused,
);

const MP: &str = "wx0000000000000001";
const MP2: &str = "wx0000000000000004";

fn wechat(channel: &str, appid: &str, openid: &str, unionid: Option<&str>) -> LoginAttempt {
    LoginAttempt {
        channel: channel.into(),
        wechat: Some(WechatIdentity {
            appid: appid.into(),
            openid: openid.into(),
            unionid: unionid.map(str::to_string),
        }),
        verified_phone: None,
        profile: None,
    }
}

fn with_phone(mut a: LoginAttempt, phone: &str) -> LoginAttempt {
    a.verified_phone = Some(phone_of(phone));
    a
}

fn phone_of(p: &str) -> Phone {
    Phone::parse(p, wxgate_core::phone::Region::CN)
        .expect("valid phone")
        .phone
}

fn sms(phone: &str) -> LoginAttempt {
    LoginAttempt {
        channel: "sms".into(),
        wechat: None,
        verified_phone: Some(phone_of(phone)),
        profile: None,
    }
}

fn policy(anchor: Anchor, on_phone_conflict: OnPhoneConflict) -> IdentityPolicy {
    IdentityPolicy {
        anchor,
        on_phone_conflict,
    }
}

fn kinds(events: &[wxgate_core::identity::AuditEvent]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

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

async fn refresh_rotates_and_reuse_revokes_the_family(t: TestDb) {
    let auth = t.auth(IdentityPolicy::default());
    let login = auth.login(&wechat("mp", MP, "oA", None)).await.unwrap();
    let r1 = login.refresh_token.expose().to_string();
    let second = auth.refresh(&r1).await.unwrap();
    let r2 = second.refresh_token.expose().to_string();
    assert_ne!(r1, r2);
    assert_eq!(second.user.id, login.user.id);
    assert_eq!(second.claims.sid, login.claims.sid, "same family");
    // R1 again, after the grace window: theft. The family dies, R2 included, and the caller
    // learns which session to drop from its fast path.
    t.clock.advance_ms(21_000);
    assert!(matches!(
        auth.refresh(&r1).await,
        Err(CoreError::RefreshReused { session }) if session == login.claims.sid
    ));
    assert!(matches!(
        auth.refresh(&r2).await,
        Err(CoreError::InvalidRefreshToken)
    ));
    let session = auth
        .sessions()
        .get(&login.claims.sid)
        .await
        .unwrap()
        .unwrap();
    assert!(session.revoked_at.is_some());
    // Unknown and malformed tokens are plain rejections.
    assert!(matches!(
        auth.refresh("rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .await,
        Err(CoreError::InvalidRefreshToken)
    ));
    assert!(matches!(
        auth.refresh(login.access_token.expose()).await,
        Err(CoreError::InvalidRefreshToken)
    ));
    // An expired refresh token is refused too.
    let other = auth.login(&wechat("mp", MP, "oB", None)).await.unwrap();
    t.clock.advance_ms(31 * 86_400_000);
    assert!(matches!(
        auth.refresh(other.refresh_token.expose()).await,
        Err(CoreError::InvalidRefreshToken)
    ));
}

async fn parallel_refreshes_have_one_winner(t: TestDb) {
    let auth = t.auth(IdentityPolicy::default());
    let login = auth.login(&wechat("mp", MP, "oA", None)).await.unwrap();
    let token = login.refresh_token.expose().to_string();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        // Each racer has its own pool, as a separate replica would.
        let db = TestDb::connect(&t.url, 1).await;
        let sessions = wxgate_core::token::Sessions::new(
            db,
            t.shared_clock(),
            std::time::Duration::from_secs(86_400),
        );
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            sessions.rotate(&token).await.is_ok()
        }));
    }
    let wins = futures::future::join_all(tasks)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(wins, 1, "exactly one concurrent refresh may win");
}

/// D3: a retry after a lost response, or a second tab, presents the same refresh token again
/// within seconds. It gets the same child back (no new branch), while the child is unused.
async fn a_retried_refresh_gets_the_same_token_within_the_grace_window(t: TestDb) {
    let auth = t.auth(IdentityPolicy::default());
    let login = auth.login(&wechat("mp", MP, "oA", None)).await.unwrap();
    let r1 = login.refresh_token.expose().to_string();
    let r2 = auth.refresh(&r1).await.unwrap().refresh_token;
    t.clock.advance_ms(1_000);
    let again = auth.refresh(&r1).await.unwrap();
    assert_eq!(again.refresh_token.expose(), r2.expose(), "the same child");
    assert_eq!(again.claims.sid, login.claims.sid);

    // Racing retries, each on its own pool as separate replicas would be: all get that child.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let db = TestDb::connect(&t.url, 1).await;
        let clock = t.shared_clock();
        let racer = wxgate_core::auth::AuthService::new(
            db.clone(),
            wxgate_core::identity::Resolver::new(
                db.clone(),
                IdentityPolicy::default(),
                clock.clone(),
            ),
            wxgate_core::token::Sessions::new(db, clock, std::time::Duration::from_secs(86_400)),
            t.tokens(),
        );
        let r1 = r1.clone();
        tasks.push(tokio::spawn(async move {
            racer
                .refresh(&r1)
                .await
                .map(|g| g.refresh_token.expose().to_string())
        }));
    }
    for result in futures::future::join_all(tasks).await {
        assert_eq!(result.unwrap().unwrap(), r2.expose());
    }

    // Once the child is used, the parent is two generations back: presenting it is theft.
    let r3 = auth.refresh(r2.expose()).await.unwrap().refresh_token;
    assert!(matches!(
        auth.refresh(&r1).await,
        Err(CoreError::RefreshReused { .. })
    ));
    assert!(matches!(
        auth.refresh(r3.expose()).await,
        Err(CoreError::InvalidRefreshToken)
    ));

    // And past the window the retry is refused and ends the family too.
    let other = auth.login(&wechat("mp", MP, "oB", None)).await.unwrap();
    let o1 = other.refresh_token.expose().to_string();
    let o2 = auth.refresh(&o1).await.unwrap().refresh_token;
    t.clock.advance_ms(21_000);
    assert!(auth.refresh(&o1).await.is_err());
    assert!(auth.refresh(o2.expose()).await.is_err());
}

async fn logout_revokes_the_session(t: TestDb) {
    let auth = t.auth(IdentityPolicy::default());
    let a = auth.login(&wechat("mp", MP, "oA", None)).await.unwrap();
    let b = auth.login(&wechat("mp", MP, "oA", None)).await.unwrap();
    assert_ne!(
        a.claims.sid, b.claims.sid,
        "every login starts a new session"
    );
    let before = wxgate_core::clock::Clock::now_ms(&t.clock);
    auth.logout(&a.claims.sid).await.unwrap();
    assert!(matches!(
        auth.refresh(a.refresh_token.expose()).await,
        Err(CoreError::InvalidRefreshToken)
    ));
    assert!(
        auth.refresh(b.refresh_token.expose()).await.is_ok(),
        "other sessions live on"
    );
    let revoked = auth.sessions().revoked_since(before).await.unwrap();
    assert_eq!(
        revoked
            .iter()
            .map(|(sid, _)| sid.clone())
            .collect::<Vec<_>>(),
        vec![a.claims.sid.clone()]
    );
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

async fn a_rotation_for_another_session_is_refused_untouched(t: TestDb) {
    use wxgate_core::token::Rotation;
    let auth = t.auth(IdentityPolicy::default());
    let a = auth.login(&wechat("mp", MP, "oA", None)).await.unwrap();
    let b = auth.login(&wechat("mp", MP, "oB", None)).await.unwrap();
    let how = Rotation {
        session: Some(a.claims.sid.clone()),
        ..Rotation::default()
    };
    let err = auth
        .refresh_with(b.refresh_token.expose(), how)
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::InvalidRefreshToken), "{err:?}");
    // b's token was neither spent nor counted as reused.
    let next = auth.refresh(b.refresh_token.expose()).await.unwrap();
    assert_eq!(next.claims.sid, b.claims.sid);
}

async fn a_browser_renewal_may_be_replayed_for_longer(t: TestDb) {
    use wxgate_core::token::Rotation;
    let auth = t.auth(IdentityPolicy::default());
    let login = auth.login(&wechat("mp", MP, "oA", None)).await.unwrap();
    let token = login.refresh_token.expose().to_string();
    let browser = || Rotation {
        session: Some(login.claims.sid.clone()),
        grace: std::time::Duration::from_secs(900),
    };
    let first = auth.refresh_with(&token, browser()).await.unwrap();
    // A minute later (past the 20 s default), the lost answer is asked for again.
    t.clock.advance_ms(60_000);
    let again = auth.refresh_with(&token, browser()).await.unwrap();
    assert_eq!(again.refresh_token.expose(), first.refresh_token.expose());
    // With the default window the same replay is theft: the family is revoked.
    let err = auth.refresh(&token).await.unwrap_err();
    assert!(matches!(err, CoreError::RefreshReused { .. }), "{err:?}");
    assert!(auth.refresh(first.refresh_token.expose()).await.is_err());
}

async fn concurrent_reuse_of_a_spent_token_revokes_the_family_and_never_fails(t: TestDb) {
    // Many presentations of a spent token at once, on two pools (two replicas): every one is
    // refused as reuse or as a dead token, none fails on a conflict, and the family is dead.
    let auth = t.auth(IdentityPolicy::default());
    let replica = {
        let db = TestDb::connect(&t.url, 4).await;
        wxgate_core::auth::AuthService::new(
            db.clone(),
            wxgate_core::identity::Resolver::new(
                db.clone(),
                IdentityPolicy::default(),
                t.shared_clock(),
            ),
            wxgate_core::token::Sessions::new(
                db,
                t.shared_clock(),
                std::time::Duration::from_secs(86_400),
            ),
            t.tokens(),
        )
    };
    let login = auth.login(&wechat("mp", MP, "oA", None)).await.unwrap();
    let r1 = login.refresh_token.expose().to_string();
    let r2 = auth.refresh(&r1).await.unwrap().refresh_token;
    t.clock.advance_ms(21_000);
    let attempts = (0..12).map(|i| {
        let service = if i % 2 == 0 {
            auth.clone()
        } else {
            replica.clone()
        };
        let r1 = r1.clone();
        async move { service.refresh(&r1).await }
    });
    let results = futures::future::join_all(attempts).await;
    for r in &results {
        assert!(
            matches!(
                r,
                Err(CoreError::RefreshReused { .. } | CoreError::InvalidRefreshToken)
            ),
            "{r:?}"
        );
    }
    assert!(results
        .iter()
        .any(|r| matches!(r, Err(CoreError::RefreshReused { .. }))));
    assert!(
        auth.refresh(r2.expose()).await.is_err(),
        "the family is revoked"
    );
    let session = auth
        .sessions()
        .get(&login.claims.sid)
        .await
        .unwrap()
        .unwrap();
    assert!(session.revoked_at.is_some());
}

async fn a_session_for_a_user_merged_away_goes_to_the_survivor(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let older = r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    t.clock.advance_ms(1000);
    let younger = r
        .resolve(&wechat("mp2", MP2, "oB", Some("oU")))
        .await
        .unwrap();
    t.clock.advance_ms(1000);
    r.resolve(&wechat("mp", MP, "oA", Some("oU")))
        .await
        .unwrap();
    // A login that resolved `younger` just before the merge now starts its session.
    let grant = t
        .sessions()
        .create(&younger.user.id, "mp2", Some(MP2), Some("oB"), None)
        .await
        .unwrap();
    assert_eq!(
        grant.session.user_id, older.user.id,
        "the survivor's session"
    );
    // A deleted user gets none.
    let auth = t.auth(IdentityPolicy::default());
    auth.accounts().delete(&older.user.id, "ops").await.unwrap();
    let err = t
        .sessions()
        .create(&older.user.id, "mp", Some(MP), Some("oA"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::UserNotFound), "{err:?}");
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

/// What the database holds as `user`'s phone.
async fn stored_phone(t: &TestDb, user: &UserId) -> Option<Phone> {
    let auth = t.auth(IdentityPolicy::default());
    auth.user(user).await.unwrap().unwrap().phone
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
