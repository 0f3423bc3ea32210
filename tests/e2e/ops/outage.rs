//! A database outage, on each networked backend: the proxied path never touches the database,
//! so authenticated traffic keeps flowing with its identity; readiness and refresh answer 503
//! promptly and consume nothing; when the database returns, so does everything else.

use crate::proxy::requests::{get, login, seen};
use std::time::{Duration, Instant};
use wxgate_tests::gateway::Route;
use wxgate_tests::gateway::{raw, RawResponse, TestGateway};
use wxgate_tests::relay::{target_of, Relay};
use wxgate_tests::{Backend, TestDb};

fn refresh(gw: &TestGateway, token: &str) -> RawResponse {
    let body = format!("{{\"refresh_token\":\"{token}\"}}");
    let req = format!(
        "POST /_auth/token/refresh HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::task::block_in_place(|| raw(gw.addr, &req)).expect("refresh request")
}

async fn survives_an_outage(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let mut relay = Relay::start(target_of(&db.url)).await;
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let db_url = relay.rewrite(&db.url);
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db_url, &db.dir)
            .route(Route::required("/api/", upstream.addr))
            .start()
    });
    let grant = login(&gw).await;
    let bearer = format!("Authorization: Bearer {}", grant.access_token.expose());
    // A browser session is checked in memory too: its access cookie holds the same JWT.
    let cookie = format!("Cookie: wxgate={}", grant.access_token.expose());
    assert_eq!(get(gw.addr, "/_auth/readyz", &[]).status, 200);

    relay.cut().await;

    for _ in 0..10 {
        let r = get(gw.addr, "/api/x", &[&bearer]);
        assert_eq!(seen(&r)["x-auth-user"], grant.user.id.as_str());
        let r = get(gw.addr, "/api/x", &[&cookie]);
        assert_eq!(
            seen(&r)["x-auth-user"],
            grant.user.id.as_str(),
            "cookie session during the outage"
        );
    }
    let started = Instant::now();
    let ready = get(gw.addr, "/_auth/readyz", &[]);
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["error"], "storage_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "readiness must answer within its bound, took {:?}",
        started.elapsed()
    );
    let r = refresh(&gw, grant.refresh_token.expose());
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"], "storage_unavailable");
    assert_eq!(get(gw.addr, "/_auth/healthz", &[]).status, 200);
    assert_eq!(
        seen(&get(gw.addr, "/api/x", &[&bearer]))["x-auth-user"],
        grant.user.id.as_str(),
        "still serving after the failed database calls"
    );

    relay.restore().await;

    let deadline = Instant::now() + Duration::from_secs(15);
    while get(gw.addr, "/_auth/readyz", &[]).status != 200 {
        assert!(Instant::now() < deadline, "readiness did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The refresh token the failed call carried was not consumed.
    let r = refresh(&gw, grant.refresh_token.expose());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let fresh = r.json()["access_token"].as_str().unwrap().to_string();
    let r = get(
        gw.addr,
        "/api/x",
        &[&format!("Authorization: Bearer {fresh}")],
    );
    assert_eq!(seen(&r)["x-auth-user"], grant.user.id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_keeps_authenticated_traffic_flowing() {
    survives_an_outage(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_outage_keeps_authenticated_traffic_flowing() {
    survives_an_outage(Backend::Mysql).await;
}
