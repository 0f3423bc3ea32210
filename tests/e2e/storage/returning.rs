//! The returning person's short path (no transaction when nothing new is proved), on SQLite,
//! PostgreSQL and MariaDB: it finds the same user, records the login on the binding once an
//! hour, and hands everything it cannot vouch for (a unionid the binding lacks, a deleted or
//! merged user) to the full resolution.

use sqlx::Row;
use wxgate_core::identity::history::{audit_events_for, count_live_users};
use wxgate_core::model::Profile;
use wxgate_core::policy::IdentityPolicy;
use wxgate_tests::TestDb;

conformance!(
    a_return_records_nothing_but_an_hourly_last_login,
    a_return_with_a_unionid_the_binding_lacks_records_it,
    a_return_after_deletion_is_somebody_new,
    a_return_after_an_operator_merge_is_the_survivor,
    a_return_writes_the_profile_only_when_it_changed,
);

use super::support::*;

/// What the binding holds: (user_id, unionid, last_login_at).
async fn binding_row(t: &TestDb, openid: &str) -> (String, Option<String>, i64) {
    let q =
        t.db.sql("SELECT user_id, unionid, last_login_at FROM identities WHERE openid = ?");
    let row = sqlx::query(&q)
        .bind(openid)
        .fetch_one(t.db.pool())
        .await
        .unwrap();
    (
        row.try_get("user_id").unwrap(),
        row.try_get("unionid").unwrap(),
        row.try_get("last_login_at").unwrap(),
    )
}

async fn a_return_records_nothing_but_an_hourly_last_login(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let first = r
        .resolve(&wechat("mp", MP, "oA", Some("oU")))
        .await
        .unwrap();
    let (_, _, first_seen) = binding_row(&t, "oA").await;
    t.clock.advance_ms(5_000);
    let mut again = wechat("mp", MP, "oA", Some("oU"));
    again.profile = Some(Profile {
        nickname: Some("阿青".into()),
        avatar_url: None,
    });
    let second = r.resolve(&again).await.unwrap();
    assert!(!second.is_new);
    assert_eq!(second.user.id, first.user.id);
    assert!(second.changes.is_empty(), "{:?}", second.changes);
    assert_eq!(second.user.nickname.as_deref(), Some("阿青"));
    let (owner, unionid, seen) = binding_row(&t, "oA").await;
    assert_eq!(owner, first.user.id.as_str());
    assert_eq!(unionid.as_deref(), Some("oU"));
    assert_eq!(
        seen, first_seen,
        "within the hour the binding is not written"
    );
    t.clock.advance_ms(60 * 60 * 1000);
    r.resolve(&wechat("mp", MP, "oA", Some("oU")))
        .await
        .unwrap();
    let (_, _, seen) = binding_row(&t, "oA").await;
    assert_eq!(
        seen,
        first_seen + 5_000 + 60 * 60 * 1000,
        "an hour on, the login is recorded on the binding"
    );
    let auth = t.auth(IdentityPolicy::default());
    let stored = auth.user(&first.user.id).await.unwrap().unwrap();
    assert_eq!(
        stored.nickname.as_deref(),
        Some("阿青"),
        "the profile is stored"
    );
    let events = audit_events_for(&t.db, first.user.id.as_str())
        .await
        .unwrap();
    assert_eq!(
        kinds(&events),
        ["user_created", "bind"],
        "a return is no change"
    );
}

async fn a_return_with_a_unionid_the_binding_lacks_records_it(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let user = r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap().user;
    // A second app proves the unionid onto the same user: the user holds it, oA's binding not.
    let bound = r
        .bind(&user.id, &wechat("mp2", MP2, "oB", Some("oU")))
        .await
        .unwrap();
    assert_eq!(bound.user.unionid.as_deref(), Some("oU"));
    assert_eq!(binding_row(&t, "oA").await.1, None);
    let back = r
        .resolve(&wechat("mp", MP, "oA", Some("oU")))
        .await
        .unwrap();
    assert_eq!(back.user.id, user.id);
    assert_eq!(
        binding_row(&t, "oA").await.1.as_deref(),
        Some("oU"),
        "the full path wrote what the short one could not vouch for"
    );
}

async fn a_return_after_deletion_is_somebody_new(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let gone = r
        .resolve(&wechat("mp", MP, "oA", Some("oU")))
        .await
        .unwrap();
    let auth = t.auth(IdentityPolicy::default());
    auth.accounts().delete(&gone.user.id, "self").await.unwrap();
    let next = r
        .resolve(&wechat("mp", MP, "oA", Some("oU")))
        .await
        .unwrap();
    assert!(next.is_new);
    assert_ne!(next.user.id, gone.user.id);
    assert_eq!(count_live_users(&t.db).await.unwrap(), 1);
}

async fn a_return_after_an_operator_merge_is_the_survivor(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let a = r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap().user;
    let b = r
        .resolve(&wechat("mp2", MP2, "oB", None))
        .await
        .unwrap()
        .user;
    let auth = t.auth(IdentityPolicy::default());
    auth.accounts().merge(&a.id, &b.id, "ops").await.unwrap();
    let back = r.resolve(&wechat("mp2", MP2, "oB", None)).await.unwrap();
    assert_eq!(
        back.user.id, a.id,
        "the absorbed user's identity returns as the survivor"
    );
    assert!(!back.is_new);
}

async fn a_return_writes_the_profile_only_when_it_changed(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let with_name = |name: &str| {
        let mut a = wechat("oa", MP, "oA", None);
        a.profile = Some(Profile {
            nickname: Some(name.into()),
            avatar_url: None,
        });
        a
    };
    let user = r.resolve(&with_name("阿青")).await.unwrap().user;
    let updated_at = |t: &TestDb| {
        let q = t.db.sql("SELECT updated_at FROM users WHERE id = ?");
        let (pool, id) = (t.db.pool().clone(), user.id.as_str().to_string());
        async move {
            sqlx::query(&q)
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
                .try_get::<i64, _>("updated_at")
                .unwrap()
        }
    };
    let before = updated_at(&t).await;
    t.clock.advance_ms(1_000);
    let same = r.resolve(&with_name("阿青")).await.unwrap();
    assert_eq!(same.user.nickname.as_deref(), Some("阿青"));
    assert_eq!(
        updated_at(&t).await,
        before,
        "the same profile is not written again"
    );
    t.clock.advance_ms(1_000);
    let renamed = r.resolve(&with_name("青青")).await.unwrap();
    assert_eq!(renamed.user.nickname.as_deref(), Some("青青"));
    assert_eq!(updated_at(&t).await, before + 2_000, "a new one is");
}
