//! What reaches an upstream and what comes back, against an upstream or client that misleads:
//! an upstream's look-alike cookies, and header names upstreams misread.

use wxgate_tests::gateway::{call, raw, Route, TestGateway};
use wxgate_tests::Backend;

/// A gateway with one public route to `upstream`.
fn echo_gateway(dir: &std::path::Path, db: &str, upstream: std::net::SocketAddr) -> TestGateway {
    TestGateway::builder(db, dir)
        .route(Route::public("/pub/", upstream))
        .start()
}

/// A browser stores `=wxgate=x` as a nameless cookie and sends it back as `wxgate=x`: every
/// upstream `Set-Cookie` that comes back as one of ours is dropped, the rest kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_cannot_set_a_cookie_that_reads_as_ours() {
    let t = wxgate_tests::TestDb::new(Backend::Sqlite).await.unwrap();
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let gw = tokio::task::block_in_place(|| echo_gateway(&t.dir, &t.url, upstream.addr));
    let set = [
        "=wxgate=x",
        "wxgate",
        "=__Host-wxgate_refresh=y",
        "WXGATE=z",
        "wxgate_state_ab=n",
        "sid=1; Path=/",
        "=theme=dark",
    ];
    let query: String = set
        .iter()
        .map(|c| {
            format!(
                "set_cookie={}",
                url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let r =
        tokio::task::block_in_place(|| call(gw.addr, "GET", &format!("/pub/x?{query}"), "", None));
    assert_eq!(r.status, 200);
    let kept: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(kept, ["sid=1; Path=/", "=theme=dark"]);
}

/// Names that are legal tokens but no client sends (`Transfer.Encoding`): upstreams that fold
/// `.` into `-` read them as other headers, so they never arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_names_beyond_letters_digits_and_dashes_never_reach_the_upstream() {
    let t = wxgate_tests::TestDb::new(Backend::Sqlite).await.unwrap();
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let gw = tokio::task::block_in_place(|| echo_gateway(&t.dir, &t.url, upstream.addr));
    let r = tokio::task::block_in_place(|| {
        raw(
            gw.addr,
            "GET /pub/x HTTP/1.1\r\nHost: t\r\nTransfer.Encoding: chunked\r\nX!Y: 1\r\nX~Y: 1\r\nX-Fine: 1\r\nConnection: close\r\n\r\n",
        )
        .unwrap()
    });
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let headers = &r.json()["headers"];
    for gone in ["transfer.encoding", "x!y", "x~y"] {
        assert!(
            headers.get(gone).is_none(),
            "{gone} reached the upstream: {headers}"
        );
    }
    assert_eq!(headers["x-fine"], "1");
}
