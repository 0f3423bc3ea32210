//! Upstream pools: several backends share a route's load; one that dies is left out at its
//! first refused connection (the request retried on another, so no 5xx), an active check
//! leaves out one that answers its check badly, a route with every backend down answers 502
//! at once, a name that moves is followed without a restart, and `balance = "user"` keeps a
//! user on one backend.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use wxgate_tests::backends::NamedBackend;
use wxgate_tests::dns::TestDns;
use wxgate_tests::gateway::{free_port, raw, Route, TestGateway};
use wxgate_tests::{Backend, TestDb};

/// Status and body of `GET path` on a fresh connection.
fn get(gw: &TestGateway, path: &str, extra: &str) -> (u16, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}Connection: close\r\n\r\n");
    let r = tokio::task::block_in_place(|| raw(gw.addr, &req)).expect("request");
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

fn metrics(port: u16) -> String {
    let r = tokio::task::block_in_place(|| {
        raw(
            ([127, 0, 0, 1], port).into(),
            "GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n",
        )
    })
    .expect("metrics");
    String::from_utf8_lossy(&r.body).into_owned()
}

/// Who answered `n` requests, by backend name (or `status NNN`).
fn tally(gw: &TestGateway, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        let (status, body) = get(gw, "/pool/x", "");
        let key = if status == 200 {
            body
        } else {
            format!("status {status}")
        };
        *seen.entry(key).or_default() += 1;
    }
    seen
}

fn pool_route(backends: &[&NamedBackend], keys: &str) -> Route {
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    Route::pool("/pool/", &addrs, "public").with(keys)
}

/// Waits up to `within` for `done`.
async fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_backends_share_the_load_and_a_killed_one_is_left_out_without_a_5xx() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let mut a = NamedBackend::start("127.0.0.1:0".parse().unwrap(), "a").await;
    let b = NamedBackend::start("127.0.0.1:0".parse().unwrap(), "b").await;
    let metrics_port = free_port();
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .server(&format!("metrics_listen = \"127.0.0.1:{metrics_port}\""))
            .route(pool_route(&[&a, &b], "eject_for = \"5s\""))
            .start()
    });

    let shared = tally(&gw, 20);
    assert_eq!(shared.get("a"), Some(&10), "round-robin: {shared:?}");
    assert_eq!(shared.get("b"), Some(&10), "round-robin: {shared:?}");

    a.kill().await;
    let after = tally(&gw, 30);
    assert_eq!(
        after.get("b"),
        Some(&30),
        "every request served by b: {after:?}"
    );
    let m = metrics(metrics_port);
    let a_label = format!("backend=\"{}\",route=\"/pool/\"", a.addr);
    assert!(
        m.contains(&format!("wxgate_upstream_ejections_total{{{a_label}}} 1")),
        "one ejection of a: {m}"
    );
    assert!(
        m.contains(&format!("wxgate_upstream_backend_up{{{a_label}}} 0")),
        "a is down: {m}"
    );
    assert!(gw.logs().contains("refused a connection; left out"));

    // Back after `eject_for`, once it listens again.
    a.revive().await;
    let back = eventually(Duration::from_secs(10), || tally(&gw, 4).contains_key("a")).await;
    assert!(back, "a serves again after its ejection ends");
}

/// The last ready backend is never left out by a refusal: with the other already out, its
/// first request after coming back is served, not refused for `eject_for`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_ready_backend_is_tried_until_it_is_back() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let mut a = NamedBackend::start("127.0.0.1:0".parse().unwrap(), "a").await;
    let mut b = NamedBackend::start("127.0.0.1:0".parse().unwrap(), "b").await;
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .route(pool_route(&[&a, &b], "eject_for = \"5m\""))
            .start()
    });
    a.kill().await;
    assert_eq!(tally(&gw, 4).get("b"), Some(&4), "a left out, b serves");
    b.kill().await;
    assert_eq!(get(&gw, "/pool/x", "").0, 502);
    b.revive().await;
    assert_eq!(get(&gw, "/pool/x", ""), (200, "b".to_owned()));
    let ejections = gw.logs().matches("refused a connection; left out").count();
    assert_eq!(ejections, 1, "only a was left out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_down_is_a_502_at_once() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let mut a = NamedBackend::start("127.0.0.1:0".parse().unwrap(), "a").await;
    let mut b = NamedBackend::start("127.0.0.1:0".parse().unwrap(), "b").await;
    let metrics_port = free_port();
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .server(&format!("metrics_listen = \"127.0.0.1:{metrics_port}\""))
            .route(pool_route(
                &[&a, &b],
                "health_check = \"tcp\"\nhealth_interval = \"1s\"",
            ))
            .start()
    });
    assert_eq!(get(&gw, "/pool/x", "").0, 200);
    a.kill().await;
    b.kill().await;
    // Two failed checks each, a second apart.
    let down = eventually(Duration::from_secs(8), || {
        gw.logs()
            .matches("failed its health check; left out")
            .count()
            == 2
    })
    .await;
    assert!(down, "both reported down: {}", gw.logs());
    let (status, body) = get(&gw, "/pool/x", "");
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("\"error\""), "a JSON error: {body}");
    // No backend is tried at all.
    let started = Instant::now();
    let (status, body) = get(&gw, "/pool/x", "");
    assert_eq!(status, 502, "{body}");
    assert!(started.elapsed() < Duration::from_millis(500));
    let m = metrics(metrics_port);
    assert!(
        m.contains("wxgate_upstream_unavailable_total{route=\"/pool/\"}"),
        "counted: {m}"
    );
}

/// A pool of one (a single name, or one address with a check) never leaves its backend out
/// passively: the first request after it comes back is served, not refused for `eject_for`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_backend_is_never_left_out_by_a_refusal() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let mut a = NamedBackend::start("127.0.0.1:0".parse().unwrap(), "a").await;
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .route(pool_route(
                &[&a],
                "health_check = \"tcp\"\nhealth_interval = \"5m\"\neject_for = \"5m\"",
            ))
            .start()
    });
    assert_eq!(get(&gw, "/pool/x", "").0, 200);
    a.kill().await;
    assert_eq!(get(&gw, "/pool/x", "").0, 502);
    a.revive().await;
    let (status, body) = get(&gw, "/pool/x", "");
    assert_eq!((status, body.as_str()), (200, "a"));
    assert!(!gw.logs().contains("left out"), "{}", gw.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_check_leaves_out_a_backend_that_fails_it() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let a = NamedBackend::start("127.0.0.1:0".parse().unwrap(), "a").await;
    let b = NamedBackend::start("127.0.0.1:0".parse().unwrap(), "b").await;
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .route(pool_route(
                &[&a, &b],
                "health_check = \"/healthz\"\nhealth_interval = \"1s\"",
            ))
            .start()
    });
    assert!(
        eventually(Duration::from_secs(5), || a.health_checks() > 0
            && b.health_checks() > 0)
        .await,
        "both are checked"
    );
    a.set_healthy(false);
    // Two failed checks a second apart.
    let gone = eventually(Duration::from_secs(6), || {
        gw.logs().contains("failed its health check; left out")
    })
    .await;
    assert!(gone, "a is reported down: {}", gw.logs());
    let served = tally(&gw, 10);
    assert_eq!(served.get("b"), Some(&10), "only b serves: {served:?}");

    a.set_healthy(true);
    let back = eventually(Duration::from_secs(5), || tally(&gw, 4).contains_key("a")).await;
    assert!(back, "a serves again once it passes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_moved_to_another_address_is_followed_without_a_restart() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let dns = TestDns::start(1).await;
    let a = NamedBackend::start("127.0.0.1:0".parse().unwrap(), "a").await;
    // The same port on another loopback address: only the name's address changes.
    let second: SocketAddr = (Ipv4Addr::new(127, 0, 0, 2), a.addr.port()).into();
    let b = NamedBackend::start(second, "b").await;
    dns.set("api.wxgate.test", Ipv4Addr::new(127, 0, 0, 1));
    let port = a.addr.port();
    let began = Instant::now();
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .server(&format!(
                "dns = {{ nameservers = [\"{}\"], min_ttl = \"1s\", max_ttl = \"2s\" }}",
                dns.addr
            ))
            .route(Route::public("/pool/", format!("api.wxgate.test:{port}")))
            .start()
    });
    assert_eq!(tally(&gw, 5).get("a"), Some(&5));

    dns.set("api.wxgate.test", Ipv4Addr::new(127, 0, 0, 2));
    let moved = eventually(Duration::from_secs(6), || {
        tally(&gw, 2).get("b") == Some(&2)
    })
    .await;
    assert!(moved, "requests follow the name to b");
    // a still listens: the move is the name's, not a failover.
    let a_before = a.served();
    assert_eq!(tally(&gw, 4).get("b"), Some(&4));
    assert_eq!(a.served(), a_before);
    assert!(b.served() >= 6, "b served {}", b.served());
    assert!(gw.logs().contains("upstream name resolved"));
    // Asked again as the 1 s records expire (about once a second), not per request (there
    // were dozens).
    let asked = dns.queries("api.wxgate.test");
    let seconds = began.elapsed().as_secs() as usize;
    assert!(
        (2..=seconds + 3).contains(&asked),
        "asked {asked} times in {seconds} s"
    );

    // A name that stops resolving keeps its last answer rather than emptying the pool.
    dns.remove("api.wxgate.test");
    let kept = eventually(Duration::from_secs(6), || {
        gw.logs()
            .contains("did not resolve; keeping the last answer")
    })
    .await;
    assert!(kept, "the failed lookup is logged: {}", gw.logs());
    assert_eq!(tally(&gw, 4).get("b"), Some(&4));
}

/// `balance = "user"`: each user stays on one backend, users spread over all of them, and when
/// a backend dies only its users move (consistent hashing), the others keep theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balance_by_user_keeps_each_user_on_one_backend() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let mut a = NamedBackend::start("127.0.0.1:0".parse().unwrap(), "a").await;
    let b = NamedBackend::start("127.0.0.1:0".parse().unwrap(), "b").await;
    let c = NamedBackend::start("127.0.0.1:0".parse().unwrap(), "c").await;
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .route(
                Route::pool("/pool/", &[a.addr, b.addr, c.addr], "required")
                    .with("balance = \"user\""),
            )
            .start()
    });
    let auth = gw.auth().await;
    let mut users = Vec::new();
    for i in 0..24 {
        let grant = auth
            .login(&wxgate_core::identity::LoginAttempt {
                channel: "mp".into(),
                wechat: Some(wxgate_core::model::WechatIdentity {
                    appid: "wx0000000000000001".into(),
                    openid: format!("oUser{i}"),
                    unionid: None,
                }),
                verified_phone: None,
                profile: None,
            })
            .await
            .expect("login");
        let bearer = format!("Authorization: Bearer {}\r\n", grant.access_token.expose());
        let answers: Vec<String> = (0..4)
            .map(|_| {
                let (status, body) = get(&gw, "/pool/x", &bearer);
                assert_eq!(status, 200, "{body}");
                body
            })
            .collect();
        assert!(
            answers.iter().all(|x| *x == answers[0]),
            "user {i} moved between backends: {answers:?}"
        );
        users.push((bearer, answers[0].clone()));
    }
    for name in ["a", "b", "c"] {
        let n = users.iter().filter(|(_, home)| home == name).count();
        assert!(
            n > 0,
            "24 users spread over all three backends (none on {name})"
        );
    }

    a.kill().await;
    for (bearer, home) in &users {
        let (status, now) = get(&gw, "/pool/x", bearer);
        assert_eq!(status, 200, "{now}");
        if home == "a" {
            assert_ne!(now, "a", "a's users move");
        } else {
            assert_eq!(&now, home, "a user of {home} stays there when a dies");
        }
    }
}

/// A pool whose names resolve to nothing at start-up is a start-up error naming the route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_without_any_address_stops_start_up() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let dns = TestDns::start(1).await;
    let builder = TestGateway::builder(&db.url, &db.dir)
        .server(&format!("dns = {{ nameservers = [\"{}\"] }}", dns.addr))
        .route(Route::public("/pool/", "nowhere.wxgate.test:8080"));
    let failed = tokio::task::block_in_place(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.start()))
    });
    let said = match failed {
        Ok(_) => panic!("the gateway started without a backend"),
        Err(panic) => panic.downcast_ref::<String>().cloned().unwrap_or_default(),
    };
    assert!(
        said.contains("route[0].upstream") && said.contains("no backend address"),
        "{said}"
    );
}
