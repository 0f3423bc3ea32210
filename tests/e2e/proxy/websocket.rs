//! WebSocket through a `required` route: judged as any request (token verified, identity
//! headers injected, the bearer token never forwarded), then frames both ways; refused with
//! 401 before anything reaches the upstream when there is no token. A real client library
//! (tungstenite) on both ends.

use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;
use wxgate_tests::gateway::{Route, TestGateway};
use wxgate_tests::{Backend, TestDb};

/// The headers of each handshake an upstream received.
type Handshakes = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// A WebSocket echo server that records each handshake's headers.
// tungstenite's handshake callback returns its own (large) error type.
#[allow(clippy::result_large_err)]
async fn ws_upstream() -> (std::net::SocketAddr, Handshakes) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Handshakes = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let callback = |req: &Request, resp: Response| {
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect();
                    record.lock().unwrap().push(headers);
                    Ok(resp)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_on_a_required_route_carries_the_verified_identity() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let (upstream, seen) = ws_upstream().await;
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .route(Route::required("/live/", upstream))
            .start()
    });
    let grant = crate::proxy::requests::login(&gw).await;
    let url = format!("ws://{}/live/orders", gw.addr);

    // Without a token: 401, and the upstream never sees a handshake.
    let err = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 401),
        other => panic!("expected 401, got {other}"),
    }
    assert!(seen.lock().unwrap().is_empty());

    // With one: the handshake goes through and frames flow both ways.
    let mut request = url.as_str().into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "authorization",
        format!("Bearer {}", grant.access_token.expose())
            .parse()
            .unwrap(),
    );
    headers.insert("x-auth-user", "someone-else".parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(resp.status(), 101);
    for text in ["hello", "你好"] {
        ws.send(Message::text(text)).await.unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), text);
    }
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap().into_data().as_ref(),
        &[0u8, 1, 2, 255]
    );
    ws.close(None).await.unwrap();

    let handshakes = seen.lock().unwrap().clone();
    assert_eq!(handshakes.len(), 1);
    let h = &handshakes[0];
    let value = |name: &str| {
        h.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(value("x-auth-user"), [grant.user.id.as_str()], "{h:?}");
    assert_eq!(value("x-auth-channel"), ["mp"]);
    assert_eq!(value("x-auth-assertion").len(), 1);
    assert!(
        value("authorization").is_empty(),
        "the token went upstream: {h:?}"
    );
    assert_eq!(value("upgrade"), ["websocket"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_to_anything_but_websocket_is_not_forwarded() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let echo = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .route(Route::public("/pub/", echo.addr))
            .start()
    });
    let r = tokio::task::block_in_place(|| {
        gw.request(
            "GET /pub/x HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
        )
    })
    .unwrap();
    assert_eq!(r.status, 200);
    let headers = &r.json()["headers"];
    for gone in ["upgrade", "connection", "http2-settings"] {
        assert!(headers.get(gone).is_none(), "{gone} forwarded: {headers}");
    }
}

/// `max_connection_age` ends a WebSocket that long after its handshake (its client then
/// reconnects and is judged again), while it works normally until then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connection_age_ends_a_websocket_so_it_is_judged_again() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let (upstream, seen) = ws_upstream().await;
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .server("max_connection_age = \"2s\"")
            .route(Route::required("/live/", upstream))
            .start()
    });
    let grant = crate::proxy::requests::login(&gw).await;
    let mut request = format!("ws://{}/live/orders", gw.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", grant.access_token.expose())
            .parse()
            .unwrap(),
    );
    let started = std::time::Instant::now();
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(Message::text("before")).await.unwrap();
    let echoed = ws.next().await.unwrap().unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), "before");
    // Quiet until the gateway ends it: the next read is the end of the stream.
    let end = tokio::time::timeout(std::time::Duration::from_secs(8), ws.next())
        .await
        .expect("the socket ends within its age");
    let lived = started.elapsed();
    assert!(
        !matches!(end, Some(Ok(Message::Text(_)))),
        "no frame came: {end:?}"
    );
    assert!(
        lived >= std::time::Duration::from_millis(1900),
        "ended after {lived:?}, before its age"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}
