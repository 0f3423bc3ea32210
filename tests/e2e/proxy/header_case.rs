//! `[server] preserve_header_case`, read off the bytes an upstream receives: by default every
//! header name arrives in lower case (the client's, and the identity headers the gateway adds),
//! `true` keeps each spelling; either way the identity is the gateway's and the request intact.

use super::requests::login;
use super::smuggling::{exchange, recorder};
use wxgate_tests::gateway::{Route, TestGateway};
use wxgate_tests::{Backend, TestDb};

/// What the upstream received for one bearer request sent with mixed-case names.
async fn upstream_bytes(preserve: Option<bool>) -> String {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let upstream = recorder();
    let gw = tokio::task::block_in_place(|| {
        let mut b =
            TestGateway::builder(&db.url, &db.dir).route(Route::required("/api/", upstream.addr));
        if let Some(p) = preserve {
            b = b.server(&format!("preserve_header_case = {p}"));
        }
        b.start()
    });
    let grant = login(&gw).await;
    let token = grant.access_token.expose();
    let request = format!(
        "GET /api/orders?page=2&q=%E4%B8%AD HTTP/1.1\r\nHost: t\r\nX-Trace-Thing: 7\r\n\
         X-Auth-User: forged\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    let answer = tokio::task::block_in_place(|| exchange(gw.addr, request.as_bytes()));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = upstream.seen.lock().unwrap().clone();
    String::from_utf8(seen).unwrap()
}

fn header_line<'a>(seen: &'a str, lower_name: &str) -> Vec<&'a str> {
    seen.lines()
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.eq_ignore_ascii_case(lower_name))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_names_arrive_in_lower_case_and_the_identity_is_the_gateways() {
    let seen = upstream_bytes(None).await;
    assert!(
        seen.starts_with("GET /api/orders?page=2&q=%E4%B8%AD HTTP/1.1\r\n"),
        "the target is intact: {seen}"
    );
    assert_eq!(header_line(&seen, "x-trace-thing"), ["x-trace-thing: 7"]);
    let users = header_line(&seen, "x-auth-user");
    assert_eq!(users.len(), 1, "{seen}");
    assert!(users[0].starts_with("x-auth-user: u_"), "{seen}");
    assert_eq!(header_line(&seen, "x-auth-channel"), ["x-auth-channel: mp"]);
    assert_eq!(
        header_line(&seen, "x-forwarded-for"),
        ["x-forwarded-for: 127.0.0.1"]
    );
    assert!(header_line(&seen, "authorization").is_empty(), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preserving_case_keeps_each_spelling() {
    let seen = upstream_bytes(Some(true)).await;
    assert_eq!(header_line(&seen, "x-trace-thing"), ["X-Trace-Thing: 7"]);
    let users = header_line(&seen, "x-auth-user");
    assert_eq!(users.len(), 1, "{seen}");
    assert!(users[0].starts_with("X-Auth-User: u_"), "{seen}");
    assert_eq!(
        header_line(&seen, "x-forwarded-for"),
        ["X-Forwarded-For: 127.0.0.1"]
    );
}
