//! The identity-event outbox on SQLite, PostgreSQL and MariaDB: every change writes its event in
//! its own transaction (none for a change refused or rolled back, one for a change retried after
//! a conflict), deliveries are queued per subscribed webhook, and claims are exclusive across
//! replicas, ordered per user, leased, retried and parked.

use serde_json::json;
use wxgate_core::events::deliveries::{Deliveries, Replay};
use wxgate_core::events::{Event, EventType, Subscription};
use wxgate_core::identity::Resolver;
use wxgate_core::model::Phone;
use wxgate_core::policy::{Anchor, IdentityPolicy, OnPhoneConflict};
use wxgate_tests::TestDb;

use super::support::{sms, wechat, MP, MP2};

conformance!(
    each_change_writes_its_event_and_a_repeat_login_none,
    a_merge_is_one_event_about_both_users,
    a_refused_change_writes_no_event,
    racing_logins_leave_one_event_per_change,
    deliveries_are_queued_for_the_webhooks_that_want_them,
    claims_are_exclusive_across_replicas_and_ordered_per_user,
    a_lapsed_claim_is_taken_over_and_the_late_sender_loses,
    failures_back_off_then_park_and_replay_queues_again,
);

/// Every event in the outbox, oldest first.
async fn all_events(t: &TestDb) -> Vec<Event> {
    let mut events: Vec<Event> = Deliveries::new(t.db.clone())
        .list(false, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    events.reverse();
    events
}

fn now(t: &TestDb) -> i64 {
    wxgate_core::clock::Clock::now_ms(&t.clock)
}

fn kinds(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

fn subscriptions() -> Vec<Subscription> {
    vec![
        Subscription {
            webhook: "all".into(),
            types: None,
        },
        Subscription {
            webhook: "merges".into(),
            types: Some(vec![EventType::UserMerged]),
        },
    ]
}

async fn each_change_writes_its_event_and_a_repeat_login_none(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let first = r
        .resolve(&wechat("mp", MP, "oA", Some("oU")))
        .await
        .unwrap();
    let events = all_events(&t).await;
    assert_eq!(kinds(&events), ["user.created", "identity.bound"]);
    let user = first.user.id.as_str();
    assert_eq!(events[0].data, json!({ "user": user }));
    assert_eq!(
        events[1].data,
        json!({ "user": user, "channel": "mp", "appid": MP, "openid": "oA" })
    );
    assert!(events
        .iter()
        .all(|e| e.user_id == user && e.actor.is_none()));
    assert!(events[0].seq < events[1].seq);
    assert_ne!(events[0].id, events[1].id);

    t.clock.advance_ms(1000);
    r.resolve(&wechat("mp", MP, "oA", Some("oU")))
        .await
        .unwrap();
    assert_eq!(
        all_events(&t).await.len(),
        2,
        "a repeat login changes nothing"
    );

    let by_sms = r.resolve(&sms("13800138000")).await.unwrap();
    let events = all_events(&t).await;
    assert_eq!(
        kinds(&events[2..]),
        ["user.created", "phone.changed"],
        "{events:?}"
    );
    assert_eq!(
        events[3].data,
        json!({ "user": by_sms.user.id.as_str(), "old": null, "new": "+86*******8000" }),
        "phones are masked"
    );
}

async fn a_merge_is_one_event_about_both_users(t: TestDb) {
    let r = t.resolver(IdentityPolicy::default());
    let older = r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    t.clock.advance_ms(1000);
    let younger = r
        .resolve(&wechat("mp2", MP2, "oB", Some("oU")))
        .await
        .unwrap();
    let before = all_events(&t).await.len();
    t.clock.advance_ms(1000);
    r.resolve(&wechat("mp", MP, "oA", Some("oU")))
        .await
        .unwrap();
    let events = all_events(&t).await;
    let merged: Vec<&Event> = events[before..]
        .iter()
        .filter(|e| e.kind == "user.merged")
        .collect();
    assert_eq!(merged.len(), 1, "{:?}", kinds(&events[before..]));
    let m = merged[0];
    assert_eq!(m.user_id, older.user.id.as_str());
    assert_eq!(m.other_user_id.as_deref(), Some(younger.user.id.as_str()));
    assert_eq!(
        m.data,
        json!({ "survivor": older.user.id.as_str(), "absorbed": younger.user.id.as_str() })
    );
}

async fn a_refused_change_writes_no_event(t: TestDb) {
    let r = t.resolver(IdentityPolicy {
        anchor: Anchor::Wechat,
        on_phone_conflict: OnPhoneConflict::Reject,
    });
    r.resolve(&sms("13800138000")).await.unwrap();
    r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    let before = all_events(&t).await;
    let mut with_phone = wechat("mp", MP, "oA", None);
    with_phone.verified_phone = Some(
        Phone::parse("13800138000", wxgate_core::phone::Region::CN)
            .unwrap()
            .phone,
    );
    assert!(r.resolve(&with_phone).await.is_err(), "phone conflict");
    assert_eq!(all_events(&t).await, before);
    // A login that writes first (a new binding through the unionid, on another app) and then
    // meets the conflict: the binding and its event roll back together.
    r.resolve(&wechat("mp", MP, "oC", Some("oUC")))
        .await
        .unwrap();
    let before = all_events(&t).await;
    let mut late = wechat("mp2", MP2, "oC2", Some("oUC"));
    late.verified_phone = Some(
        Phone::parse("13800138000", wxgate_core::phone::Region::CN)
            .unwrap()
            .phone,
    );
    assert!(r.resolve(&late).await.is_err());
    assert_eq!(all_events(&t).await, before);
}

async fn racing_logins_leave_one_event_per_change(t: TestDb) {
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let db = TestDb::connect(&t.url, 1).await;
        let r = Resolver::new(db, IdentityPolicy::default(), t.shared_clock());
        tasks.push(tokio::spawn(async move {
            r.resolve(&wechat("mp", MP, "oRace", Some("oURace"))).await
        }));
    }
    let users: Vec<String> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap().user.id.0)
        .collect();
    assert!(users.windows(2).all(|w| w[0] == w[1]), "{users:?}");
    assert_eq!(
        kinds(&all_events(&t).await),
        ["user.created", "identity.bound"]
    );
}

async fn deliveries_are_queued_for_the_webhooks_that_want_them(t: TestDb) {
    let db = t.db.clone().with_subscriptions(subscriptions());
    let r = Resolver::new(db, IdentityPolicy::default(), t.shared_clock());
    let start = now(&t);
    r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    t.clock.advance_ms(1000);
    r.resolve(&wechat("mp2", MP2, "oB", Some("oU")))
        .await
        .unwrap();
    t.clock.advance_ms(1000);
    r.resolve(&wechat("mp", MP, "oA", Some("oU")))
        .await
        .unwrap();
    let listed = Deliveries::new(t.db.clone())
        .list(false, 100)
        .await
        .unwrap();
    for (event, deliveries) in &listed {
        let hooks: Vec<&str> = deliveries.iter().map(|d| d.webhook.as_str()).collect();
        if event.kind == "user.merged" {
            assert_eq!(hooks, ["all", "merges"]);
        } else {
            assert_eq!(hooks, ["all"], "{}", event.kind);
        }
        assert!(deliveries
            .iter()
            .all(|d| d.status == "pending" && d.attempts == 0));
    }
    let stats = Deliveries::new(t.db.clone()).stats().await.unwrap();
    assert_eq!(stats.len(), 2);
    assert_eq!(stats[0].pending, listed.len() as i64);
    assert_eq!(stats[1].pending, 1);
    assert_eq!(stats[0].oldest_pending, Some(start));
}

/// Two users with two events each, queued for webhook "all".
async fn two_users_two_events_each(t: &TestDb) -> Vec<Event> {
    let db = t.db.clone().with_subscriptions(subscriptions());
    let r = Resolver::new(db, IdentityPolicy::default(), t.shared_clock());
    r.resolve(&wechat("mp", MP, "oA", None)).await.unwrap();
    r.resolve(&wechat("mp", MP, "oB", None)).await.unwrap();
    all_events(t).await
}

async fn claims_are_exclusive_across_replicas_and_ordered_per_user(t: TestDb) {
    let events = two_users_two_events_each(&t).await;
    assert_eq!(events.len(), 4);
    let now = now(&t);
    let a = Deliveries::new(t.db.clone());
    let b = Deliveries::new(TestDb::connect(&t.url, 2).await);
    let (ca, cb) = tokio::join!(
        a.claim("all", now, 10_000, 10),
        b.claim("all", now, 10_000, 10)
    );
    let (ca, cb) = (ca.unwrap(), cb.unwrap());
    let mut seqs: Vec<i64> = ca.iter().chain(&cb).map(|c| c.event.seq).collect();
    seqs.sort();
    // Each user's first event, once between both replicas; the second events wait for them.
    assert_eq!(seqs, [events[0].seq, events[2].seq], "{seqs:?}");
    assert!(a.claim("all", now, 10_000, 10).await.unwrap().is_empty());
    // Delivering user A's first event frees its second, and only that.
    let first_a = ca
        .iter()
        .chain(&cb)
        .find(|c| c.event.seq == events[0].seq)
        .unwrap();
    let owner = if ca.iter().any(|c| c.event.seq == events[0].seq) {
        &a
    } else {
        &b
    };
    assert!(owner.delivered(first_a, now).await.unwrap());
    let next = b.claim("all", now, 10_000, 10).await.unwrap();
    assert_eq!(
        next.iter().map(|c| c.event.seq).collect::<Vec<_>>(),
        [events[1].seq]
    );
    assert_eq!(next[0].event.kind, "identity.bound");
}

async fn a_lapsed_claim_is_taken_over_and_the_late_sender_loses(t: TestDb) {
    two_users_two_events_each(&t).await;
    let now = now(&t);
    let a = Deliveries::new(t.db.clone());
    let b = Deliveries::new(TestDb::connect(&t.url, 2).await);
    let held = a.claim("all", now, 1_000, 1).await.unwrap();
    assert_eq!(held.len(), 1);
    assert!(
        b.claim("all", now + 999, 1_000, 1)
            .await
            .unwrap()
            .iter()
            .all(|c| c.event.seq != held[0].event.seq),
        "still leased"
    );
    // A crashed sender's lease runs out; another replica takes the delivery over.
    let taken = b.claim("all", now + 1_000, 1_000, 10).await.unwrap();
    assert!(taken.iter().any(|c| c.event.seq == held[0].event.seq));
    assert!(
        !a.delivered(&held[0], now + 1_500).await.unwrap(),
        "the old claim is void"
    );
    let mine = taken
        .iter()
        .find(|c| c.event.seq == held[0].event.seq)
        .unwrap();
    assert!(b.delivered(mine, now + 1_500).await.unwrap());
    let listed = a.list(false, 10).await.unwrap();
    let (_, states) = listed
        .iter()
        .find(|(e, _)| e.seq == held[0].event.seq)
        .unwrap();
    let all = states.iter().find(|d| d.webhook == "all").unwrap();
    assert_eq!((all.status.as_str(), all.attempts), ("delivered", 1));
}

async fn failures_back_off_then_park_and_replay_queues_again(t: TestDb) {
    let events = two_users_two_events_each(&t).await;
    let now = now(&t);
    let d = Deliveries::new(t.db.clone());
    let c = d.claim("all", now, 5_000, 1).await.unwrap().remove(0);
    assert_eq!(c.event.seq, events[0].seq);
    assert!(d
        .attempt_failed(&c, Some(now + 2_000), "HTTP 500")
        .await
        .unwrap());
    // Not due yet; user B's first event is.
    let due = d.claim("all", now + 1_999, 5_000, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|c| c.event.seq).collect::<Vec<_>>(),
        [events[2].seq]
    );
    let again = d.claim("all", now + 2_000, 5_000, 10).await.unwrap();
    let c = again.iter().find(|c| c.event.seq == events[0].seq).unwrap();
    assert_eq!(c.attempts, 1, "the same event, attempted before");
    assert!(d.attempt_failed(c, None, "HTTP 503").await.unwrap());
    // Parked: reported, no longer blocking the user's later events.
    let stats = d.stats().await.unwrap();
    let all = stats.iter().find(|s| s.webhook == "all").unwrap();
    assert_eq!(all.failed, 1);
    let failed = d.list(true, 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0.id, events[0].id);
    let state = &failed[0].1[0];
    assert_eq!((state.status.as_str(), state.attempts), ("failed", 2));
    assert_eq!(state.last_error.as_deref(), Some("HTTP 503"));
    let next = d.claim("all", now + 3_000, 5_000, 10).await.unwrap();
    assert!(next.iter().any(|c| c.event.seq == events[1].seq));
    // A replay queues it again, for every subscription that wants it (also a new one).
    let subs = vec![
        Subscription {
            webhook: "all".into(),
            types: None,
        },
        Subscription {
            webhook: "late".into(),
            types: None,
        },
    ];
    let queued = d
        .replay(&Replay::Id(events[0].id.clone()), &subs, now + 4_000)
        .await
        .unwrap();
    assert_eq!(queued, 2);
    let late = d.claim("late", now + 4_000, 5_000, 10).await.unwrap();
    assert_eq!(
        late.iter().map(|c| c.event.seq).collect::<Vec<_>>(),
        [events[0].seq]
    );
    assert_eq!(late[0].attempts, 0);
    let by_time = d
        .replay(&Replay::Since(now), &subs[1..], now + 5_000)
        .await
        .unwrap();
    assert_eq!(by_time, 4);
}
