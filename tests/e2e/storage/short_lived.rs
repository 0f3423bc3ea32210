//! The short-lived store's conformance: put-if-absent, take-once and counting within a window
//! behave the same on SQLite, PostgreSQL and MariaDB, across two pools (two replicas), and
//! expired rows are swept by writers without a cron.

use futures::future::join_all;
use sqlx::Row;
use std::time::Duration;
use wxgate_core::store::short_lived::ShortLived;
use wxgate_tests::TestDb;

conformance!(
    put_if_absent_has_one_winner_until_expiry,
    take_gives_the_value_to_exactly_one_taker_across_replicas,
    hits_count_within_the_window_across_replicas,
    many_hits_in_one_statement_count_like_single_ones,
    expired_rows_are_swept_by_writers,
    a_swap_has_one_winner_and_keeps_the_expiry,
);

fn store(t: &TestDb) -> ShortLived {
    ShortLived::new(t.db.clone(), t.shared_clock())
}

/// The same store as a second replica sees it: its own pool on the same database.
async fn replica(t: &TestDb) -> ShortLived {
    ShortLived::new(TestDb::connect(&t.url, 4).await, t.shared_clock())
}

async fn rows(t: &TestDb) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM short_lived")
        .fetch_one(t.db.pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

async fn put_if_absent_has_one_winner_until_expiry(t: TestDb) {
    let (a, b) = (store(&t), replica(&t).await);
    let ttl = Duration::from_secs(60);
    assert!(a.put_if_absent("ns", "k", "first", ttl).await.unwrap());
    assert!(!b.put_if_absent("ns", "k", "second", ttl).await.unwrap());
    assert_eq!(b.get("ns", "k").await.unwrap().as_deref(), Some("first"));
    // Namespaces are separate.
    assert!(b.put_if_absent("other", "k", "x", ttl).await.unwrap());
    // An expired entry is invisible and can be replaced.
    t.clock.advance_ms(60_000);
    assert_eq!(a.get("ns", "k").await.unwrap(), None);
    assert_eq!(a.take("ns", "k").await.unwrap(), None);
    assert!(b.put_if_absent("ns", "k", "third", ttl).await.unwrap());
    assert_eq!(a.get("ns", "k").await.unwrap().as_deref(), Some("third"));
}

async fn take_gives_the_value_to_exactly_one_taker_across_replicas(t: TestDb) {
    let (a, b) = (store(&t), replica(&t).await);
    for round in 0..3 {
        let key = format!("state{round}");
        assert!(a
            .put_if_absent("oauth_state", &key, "record", Duration::from_secs(600))
            .await
            .unwrap());
        let takers = (0..16).map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            let key = key.clone();
            async move { s.take("oauth_state", &key).await.unwrap() }
        });
        let got: Vec<_> = join_all(takers).await.into_iter().flatten().collect();
        assert_eq!(got, vec!["record".to_string()], "round {round}");
        assert_eq!(a.get("oauth_state", &key).await.unwrap(), None);
    }
}

async fn hits_count_within_the_window_across_replicas(t: TestDb) {
    let (a, b) = (store(&t), replica(&t).await);
    let window = Duration::from_secs(3600);
    assert_eq!(a.hit("sends", "p1", window).await.unwrap(), 1);
    assert_eq!(b.hit("sends", "p1", window).await.unwrap(), 2);
    assert_eq!(a.count("sends", "p1").await.unwrap(), 2);
    assert_eq!(a.count("sends", "p2").await.unwrap(), 0);
    // Concurrent hits on both replicas are all counted.
    let hits = (0..20).map(|i| {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move { s.hit("sends", "p1", window).await.unwrap() }
    });
    let counts = join_all(hits).await;
    assert!(counts.iter().all(|&n| (3..=22).contains(&n)), "{counts:?}");
    assert_eq!(a.count("sends", "p1").await.unwrap(), 22);
    // A new window opens once the old one has closed.
    t.clock.advance_ms(3_600_000);
    assert_eq!(a.count("sends", "p1").await.unwrap(), 0);
    assert_eq!(b.hit("sends", "p1", window).await.unwrap(), 1);
}

async fn expired_rows_are_swept_by_writers(t: TestDb) {
    let s = store(&t);
    for i in 0..5 {
        s.put_if_absent("seen", &format!("c{i}"), "1", Duration::from_secs(10))
            .await
            .unwrap();
    }
    s.hit("sends", "p", Duration::from_secs(10)).await.unwrap();
    assert_eq!(rows(&t).await, 6);
    // Past every expiry and the sweep interval: the next write starts a sweep in the
    // background, no cron involved.
    t.clock.advance_ms(61_000);
    s.put_if_absent("seen", "fresh", "1", Duration::from_secs(600))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rows(&t).await != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "expired rows were not swept"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A value too long for the table is an error, never a silent truncation.
    assert!(
        s.put_if_absent("seen", "long", &"x".repeat(5000), Duration::from_secs(60))
            .await
            .is_err()
            || s.get("seen", "long").await.unwrap().map(|v| v.len()) == Some(5000)
    );
}

/// A ticket moves by swapping the value it was read with: of racing movers, on two replicas,
/// one wins; a value no longer there, or expired, is not swapped.
async fn a_swap_has_one_winner_and_keeps_the_expiry(t: TestDb) {
    let (a, b) = (store(&t), replica(&t).await);
    let ttl = Duration::from_secs(60);
    assert!(a
        .put_if_absent("ticket", "k", "waiting", ttl)
        .await
        .unwrap());
    let expires = a.expires_at("ticket", "k").await.unwrap();
    let movers = (0..16).map(|i| {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            s.swap("ticket", "k", "waiting", &format!("confirmed by {i}"))
                .await
                .unwrap()
        }
    });
    let won = join_all(movers).await.into_iter().filter(|w| *w).count();
    assert_eq!(won, 1);
    let now = a.get("ticket", "k").await.unwrap().unwrap();
    assert!(now.starts_with("confirmed by"), "{now}");
    assert_eq!(
        a.expires_at("ticket", "k").await.unwrap(),
        expires,
        "expiry kept"
    );
    // Value and expiry in one read, as tickets are read.
    assert_eq!(
        b.get_expiring("ticket", "k").await.unwrap(),
        Some((now.clone(), expires.unwrap()))
    );
    assert!(
        !a.swap("ticket", "k", "waiting", "again").await.unwrap(),
        "not what it holds"
    );
    assert!(
        !a.swap("ticket", "nope", "waiting", "x").await.unwrap(),
        "nothing there"
    );
    t.clock.advance_ms(61_000);
    assert!(
        !a.swap("ticket", "k", &now, "late").await.unwrap(),
        "expired"
    );
    assert_eq!(a.get_expiring("ticket", "k").await.unwrap(), None);
}

/// `hit_many` (one statement for an SMS send's five limits) counts exactly as `hit` does: per
/// key, within each key's own window, across replicas, and takes back with `unhit_many`.
async fn many_hits_in_one_statement_count_like_single_ones(t: TestDb) {
    let (a, b) = (store(&t), replica(&t).await);
    let hour = Duration::from_secs(3600);
    let day = Duration::from_secs(86_400);
    let hits = [
        ("ip", "n1", hour),
        ("phone", "p1", hour),
        ("all", "p1", day),
    ];
    assert_eq!(a.hit_many(&hits).await.unwrap(), [1, 1, 1]);
    assert_eq!(b.hit_many(&hits).await.unwrap(), [2, 2, 2]);
    // A single hit on one key and a batch agree.
    assert_eq!(a.hit("phone", "p1", hour).await.unwrap(), 3);
    assert_eq!(b.hit_many(&hits).await.unwrap(), [3, 4, 3]);
    b.unhit_many(&[("ip", "n1"), ("phone", "p1")])
        .await
        .unwrap();
    assert_eq!(
        (
            a.count("ip", "n1").await.unwrap(),
            a.count("phone", "p1").await.unwrap()
        ),
        (2, 3)
    );
    // Each key keeps its own window: the hour's close, the day's goes on.
    t.clock.advance_ms(3_600_000);
    assert_eq!(a.hit_many(&hits).await.unwrap(), [1, 1, 4]);
    // Concurrent batches on two replicas: every event counted once.
    let (x, y) = tokio::join!(a.hit_many(&hits), b.hit_many(&hits));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x[2].max(y[2]), 6, "{x:?} {y:?}");
    assert_eq!(a.count("all", "p1").await.unwrap(), 6);
}
