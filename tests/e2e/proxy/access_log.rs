//! The access log and request ids: one id per request (a trusted proxy's kept, a client's
//! replaced) in the upstream's request, the answer, error bodies and the log line; W3C
//! `traceparent` passed through untouched; no token, cookie or query in the log.

use super::requests::{get, login, seen};
use wxgate_tests::gateway::{Route, TestGateway};
use wxgate_tests::{Backend, TestDb};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The access line of request `id`, waiting a moment for the writer thread.
async fn line_of(gw: &TestGateway, id: &str) -> serde_json::Value {
    for _ in 0..50 {
        if let Some(line) = gw
            .logs()
            .lines()
            .find(|l| l.starts_with('{') && l.contains(&format!("\"request_id\":\"{id}\"")))
        {
            return serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no access line for {id} in\n{}", gw.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_has_one_id_everywhere_and_one_access_line_without_secrets() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .route(Route::required("/api/", upstream.addr))
            .start()
    });
    let grant = login(&gw).await;
    let token = grant.access_token.expose().to_string();
    let bearer = format!("Authorization: Bearer {token}");
    let r = get(
        gw.addr,
        "/api/x?secret=query-canary",
        &[
            &bearer,
            "X-Request-Id: planted-by-client",
            &format!("traceparent: {TRACEPARENT}"),
        ],
    );
    let id = r
        .header("x-request-id")
        .expect("an id on the answer")
        .to_string();
    assert_ne!(id, "planted-by-client", "a client's id is not believed");
    assert_eq!(id.len(), 32);
    let h = seen(&r);
    assert_eq!(
        h["x-request-id"],
        id.as_str(),
        "the upstream gets the same id"
    );
    assert_eq!(h["traceparent"], TRACEPARENT, "passed through untouched");

    let line = line_of(&gw, &id).await;
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/api/x", "no query");
    assert_eq!(line["route"], "/api/");
    assert_eq!(line["status"], 200);
    assert_eq!(line["user"], grant.user.id.as_str());
    assert_eq!(line["channel"], "mp");
    assert_eq!(line["client"], "127.0.0.1/32");
    assert!(line["upstream_us"].as_u64().is_some() && line["bytes"].as_u64().unwrap() > 0);
    assert!(line["duration_us"].as_u64().unwrap() >= line["upstream_us"].as_u64().unwrap());
    // (The test gateways also log at debug level, which shows requests whole: only the
    // access lines are the access log's.)
    let access: String = gw.logs().lines().filter(|l| l.starts_with('{')).collect();
    for secret in [token.as_str(), "query-canary", grant.refresh_token.expose()] {
        assert!(!access.contains(secret), "{secret} reached the access log");
    }

    // An error answer (the gateway's own) carries it in its body too.
    let denied = get(gw.addr, "/api/x", &[]);
    assert_eq!(denied.status, 401);
    let id = denied.header("x-request-id").unwrap().to_string();
    assert_eq!(denied.json()["request_id"], id.as_str());
    let line = line_of(&gw, &id).await;
    assert_eq!(
        (line["status"].as_u64(), line.get("user")),
        (Some(401), None)
    );
    let own = get(gw.addr, "/_auth/healthz", &[]);
    assert_eq!(
        line_of(&gw, own.header("x-request-id").unwrap()).await["route"],
        "/_auth"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxys_id_is_kept_and_the_log_can_be_logfmt_or_off() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .behind_a_trusted_proxy()
            .server("access_log = \"logfmt\"")
            .route(Route::public("/pub/", upstream.addr))
            .start()
    });
    let r = get(gw.addr, "/pub/x", &["X-Request-Id: lb-7f3a"]);
    assert_eq!(r.header("x-request-id"), Some("lb-7f3a"));
    assert_eq!(seen(&r)["x-request-id"], "lb-7f3a");
    // Even from a trusted proxy, a value that could forge a log line is replaced.
    let r = get(gw.addr, "/pub/x", &["X-Request-Id: a\" status=500"]);
    assert_ne!(r.header("x-request-id"), Some("a\" status=500"));
    let mut found = false;
    for _ in 0..50 {
        if gw
            .logs()
            .lines()
            .any(|l| l.contains(" request_id=lb-7f3a ") && l.contains(" route=/pub/ status=200 "))
        {
            found = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(found, "a logfmt line:\n{}", gw.logs());

    let quiet = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .server("access_log = \"off\"")
            .route(Route::public("/pub/", upstream.addr))
            .start()
    });
    let r = get(quiet.addr, "/pub/x", &[]);
    let id = r.header("x-request-id").unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !quiet
            .logs()
            .lines()
            .any(|l| (l.starts_with('{') || l.starts_with("ts=")) && l.contains(&id)),
        "no access line when off"
    );
}
