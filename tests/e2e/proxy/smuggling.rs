//! A request-smuggling corpus, sent byte for byte: each ambiguous request is refused (400, or
//! 431 for an over-long header block) and nothing of it reaches the upstream, which here
//! records every byte it receives. A bare-LF request may pass only re-framed with CRLF.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wxgate_tests::gateway::Route;
use wxgate_tests::gateway::TestGateway;
use wxgate_tests::{Backend, TestDb};

/// An upstream that records what arrives and answers every request with a small 200.
struct Recorder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
}

fn recorder() -> Recorder {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let sink = sink.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().unwrap().extend_from_slice(&buf[..n]);
                    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if stream.write_all(ok).is_err() {
                        break;
                    }
                }
            });
        }
    });
    Recorder { addr, seen }
}

/// Sends raw bytes and reads whatever comes back until the gateway closes or goes quiet.
fn exchange(gw: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(gw).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_requests_are_refused_and_never_reach_the_upstream() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let upstream = recorder();
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .route(Route::public("/pub/", upstream.addr))
            .start()
    });
    let long = format!("X-Filler: {}\r\n", "a".repeat(8000)).repeat(160);
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        (
            "CL + TE",
            b"POST /pub/x HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /pub/smuggled HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "Transfer_Encoding with an underscore",
            b"POST /pub/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer_Encoding: chunked\r\n\r\nhello".to_vec(),
            &[400],
        ),
        (
            "Content_Length with an underscore",
            b"POST /pub/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent_Length: 5\r\n\r\n0\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "two Content-Length values",
            b"POST /pub/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec(),
            &[400],
        ),
        (
            "Transfer-Encoding: xchunked",
            b"POST /pub/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "obs-fold",
            b"GET /pub/x HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n Transfer-Encoding: chunked\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "a space before the colon",
            b"POST /pub/x HTTP/1.1\r\nHost: t\r\nContent-Length : 5\r\n\r\nhello".to_vec(),
            &[400],
        ),
        (
            "a NUL in a header",
            b"GET /pub/x HTTP/1.1\r\nHost: t\r\nX-Nul: a\x00b\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "an over-long header block",
            format!("GET /pub/x HTTP/1.1\r\nHost: t\r\n{long}\r\n").into_bytes(),
            &[400, 431],
        ),
    ];
    for (what, request, allowed) in cases {
        let answer = tokio::task::block_in_place(|| exchange(gw.addr, &request));
        let got = status(&answer);
        assert!(
            allowed.contains(&got),
            "{what}: answered {got}: {}",
            answer.lines().next().unwrap_or("(nothing)")
        );
        let seen = upstream.seen.lock().unwrap().clone();
        assert!(
            seen.is_empty(),
            "{what} reached the upstream: {}",
            String::from_utf8_lossy(&seen)
        );
    }

    // A bare LF request line and headers may pass, but only re-framed with CRLF.
    let answer = tokio::task::block_in_place(|| {
        exchange(
            gw.addr,
            b"GET /pub/lf HTTP/1.1\nHost: t\nConnection: close\n\n",
        )
    });
    match status(&answer) {
        200 => {
            let seen = upstream.seen.lock().unwrap().clone();
            let text = String::from_utf8_lossy(&seen);
            assert!(text.starts_with("GET /pub/lf HTTP/1.1\r\n"), "{text}");
            let bare_lf = seen
                .iter()
                .enumerate()
                .any(|(i, &b)| b == b'\n' && (i == 0 || seen[i - 1] != b'\r'));
            assert!(!bare_lf, "forwarded with a bare LF: {text}");
        }
        400 => assert!(upstream.seen.lock().unwrap().is_empty()),
        other => panic!("bare LF answered {other}: {answer}"),
    }

    // A chunked body passes whole, still framed as chunked.
    upstream.seen.lock().unwrap().clear();
    let answer = tokio::task::block_in_place(|| {
        exchange(
            gw.addr,
            b"POST /pub/chunks HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
    });
    assert_eq!(status(&answer), 200, "{answer}");
    let seen = String::from_utf8_lossy(&upstream.seen.lock().unwrap()).to_ascii_lowercase();
    assert!(seen.contains("transfer-encoding: chunked\r\n"), "{seen}");
    assert!(!seen.contains("content-length"), "{seen}");
    let body = seen.split("\r\n\r\n").nth(1).unwrap_or("");
    let mut decoded = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        decoded.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
    assert_eq!(decoded, "hello world", "{seen}");

    // The control: a plain request does reach the recorder, so the silences above mean refusal.
    upstream.seen.lock().unwrap().clear();
    let answer = tokio::task::block_in_place(|| {
        exchange(
            gw.addr,
            b"GET /pub/plain HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
    });
    assert_eq!(status(&answer), 200, "{answer}");
    let seen = upstream.seen.lock().unwrap().clone();
    assert!(
        String::from_utf8_lossy(&seen).starts_with("GET /pub/plain HTTP/1.1\r\n"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
}
