//! Sessions on SQLite, PostgreSQL and MariaDB: refresh rotation, reuse detection and its grace,
//! logouts, and sessions of users merged away.

use super::support::*;
use wxgate_core::error::CoreError;
use wxgate_core::policy::IdentityPolicy;
use wxgate_tests::TestDb;

conformance!(
    refresh_rotates_and_reuse_revokes_the_family,
    parallel_refreshes_have_one_winner,
    a_retried_refresh_gets_the_same_token_within_the_grace_window,
    logout_revokes_the_session,
    a_rotation_for_another_session_is_refused_untouched,
    a_browser_renewal_may_be_replayed_for_longer,
    concurrent_reuse_of_a_spent_token_revokes_the_family_and_never_fails,
    a_session_for_a_user_merged_away_goes_to_the_survivor,
);

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
        client: None,
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
