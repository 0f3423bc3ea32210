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
pub(crate) struct Recorder {
    pub(crate) addr: SocketAddr,
    pub(crate) seen: Arc<Mutex<Vec<u8>>>,
}

pub(crate) fn recorder() -> Recorder {
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
pub(crate) fn exchange(gw: SocketAddr, request: &[u8]) -> String {
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

/// The h2 desync classes and the corpus above, over HTTP/2: each is refused (a stream or
/// connection error, or a 400/431) and no byte of it reaches the HTTP/1.1 upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_desync_requests_are_refused_and_never_reach_the_upstream() {
    use wxgate_tests::h2raw::{Outcome, H2};
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let upstream = recorder();
    let pki = wxgate_tests::tls::Pki::new(&db.dir, "gw");
    let cert = pki.issue("gw", &["localhost"], 30);
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .https(&cert, &pki.ca_file, "")
            .route(Route::public("/pub/", upstream.addr))
            .start()
    });
    type Field = (&'static [u8], Vec<u8>);
    let base = |method: &'static str, path: &'static str| -> Vec<Field> {
        vec![
            (b":method", method.as_bytes().to_vec()),
            (b":scheme", b"https".to_vec()),
            (b":authority", b"localhost".to_vec()),
            (b":path", path.as_bytes().to_vec()),
        ]
    };
    let with = |mut fields: Vec<Field>, more: &[(&'static [u8], &[u8])]| {
        fields.extend(more.iter().map(|(n, v)| (*n, v.to_vec())));
        fields
    };
    let huge = "a".repeat(8000);
    // What, the header fields, the DATA frames (the last ends the stream).
    type Case = (&'static str, Vec<Field>, Vec<&'static [u8]>);
    let cases: Vec<Case> = vec![
        (
            "content-length above the DATA",
            with(base("POST", "/pub/x"), &[(b"content-length", b"10")]),
            vec![b"hello"],
        ),
        (
            "content-length below the DATA",
            with(base("POST", "/pub/x"), &[(b"content-length", b"3")]),
            vec![b"hel", b"lo"],
        ),
        (
            "two content-length values",
            with(
                base("POST", "/pub/x"),
                &[(b"content-length", b"5"), (b"content-length", b"6")],
            ),
            vec![b"hello!"],
        ),
        (
            "transfer-encoding in h2",
            with(
                base("POST", "/pub/x"),
                &[(b"transfer-encoding", b"chunked")],
            ),
            vec![b"0\r\n\r\n"],
        ),
        (
            "content-length and transfer-encoding",
            with(
                base("POST", "/pub/x"),
                &[
                    (b"content-length", b"5"),
                    (b"transfer-encoding", b"chunked"),
                ],
            ),
            vec![b"0\r\n\r\n"],
        ),
        (
            "transfer_encoding with an underscore",
            with(
                base("POST", "/pub/x"),
                &[(b"transfer_encoding", b"chunked")],
            ),
            vec![b"0\r\n\r\n"],
        ),
        (
            "content_length with an underscore",
            with(base("POST", "/pub/x"), &[(b"content_length", b"5")]),
            vec![b"hello"],
        ),
        (
            "connection-specific header",
            with(base("GET", "/pub/x"), &[(b"connection", b"keep-alive")]),
            vec![],
        ),
        (
            "te other than trailers",
            with(base("GET", "/pub/x"), &[(b"te", b"gzip")]),
            vec![],
        ),
        (
            "an uppercase header name",
            with(base("GET", "/pub/x"), &[(b"X-Upper", b"1")]),
            vec![],
        ),
        (
            "CR/LF in a header value",
            with(base("GET", "/pub/x"), &[(b"x-a", b"1\r\nx-injected: 1")]),
            vec![],
        ),
        (
            "LF in a header name",
            with(base("GET", "/pub/x"), &[(b"x-a\nx-b", b"1")]),
            vec![],
        ),
        (
            "a space in a header name",
            with(base("POST", "/pub/x"), &[(b"content-length ", b"5")]),
            vec![b"hello"],
        ),
        (
            "a NUL in a header value",
            with(base("GET", "/pub/x"), &[(b"x-nul", b"a\0b")]),
            vec![],
        ),
        ("a :path without /", base("GET", "pub/x"), vec![]),
        ("an empty :path", base("GET", ""), vec![]),
        (
            "a duplicated :authority",
            with(base("GET", "/pub/x"), &[(b":authority", b"evil.example")]),
            vec![],
        ),
        (
            ":authority and host disagreeing",
            with(base("GET", "/pub/x"), &[(b"host", b"evil.example")]),
            vec![],
        ),
        (
            "a pseudo-header after a regular one",
            {
                let mut f = base("GET", "/pub/x");
                let path = f.pop().unwrap();
                f.push((b"x-a", b"1".to_vec()));
                f.push(path);
                f
            },
            vec![],
        ),
        (
            "an unknown pseudo-header",
            with(base("GET", "/pub/x"), &[(b":protocol", b"websocket")]),
            vec![],
        ),
        ("no :path", base("GET", "/pub/x")[..3].to_vec(), vec![]),
        (
            "an over-long header block",
            with(
                base("GET", "/pub/x"),
                // Past Pingora's 64 KiB decoded header-list limit.
                &(0..10)
                    .map(|_| (&b"x-filler"[..], huge.as_bytes()))
                    .collect::<Vec<_>>(),
            ),
            vec![],
        ),
    ];
    for (what, fields, data) in cases {
        let outcome = tokio::task::block_in_place(|| {
            let mut h2 = H2::connect(gw.addr, &pki.ca_file);
            let refs: Vec<(&[u8], &[u8])> = fields.iter().map(|(n, v)| (*n, &v[..])).collect();
            h2.headers(1, &refs, data.is_empty());
            for (i, chunk) in data.iter().enumerate() {
                h2.data(1, chunk, i + 1 == data.len());
            }
            h2.outcome(1)
        });
        assert!(
            matches!(
                outcome,
                Outcome::Reset(_) | Outcome::GoAway(_) | Outcome::Answered(Some(400 | 431))
            ),
            "{what}: {outcome:?}"
        );
        // Give a forwarded request time to arrive before calling it absent.
        std::thread::sleep(Duration::from_millis(50));
        let seen = upstream.seen.lock().unwrap().clone();
        assert!(
            seen.is_empty(),
            "{what} ({outcome:?}) reached the upstream: {}",
            String::from_utf8_lossy(&seen)
        );
    }

    // The control: the same client's well-formed request is forwarded and answered, so the
    // refusals above are the gateway's, not the client's mistakes.
    let outcome = tokio::task::block_in_place(|| {
        let mut h2 = H2::connect(gw.addr, &pki.ca_file);
        let fields = base("POST", "/pub/h2");
        let mut refs: Vec<(&[u8], &[u8])> = fields.iter().map(|(n, v)| (*n, &v[..])).collect();
        refs.push((b"content-length", b"5"));
        h2.headers(1, &refs, false);
        h2.data(1, b"hello", true);
        h2.outcome(1)
    });
    assert_eq!(outcome, Outcome::Answered(Some(200)));
    let seen = String::from_utf8_lossy(&upstream.seen.lock().unwrap()).into_owned();
    assert!(seen.starts_with("POST /pub/h2 HTTP/1.1\r\n"), "{seen}");
    assert!(
        seen.to_ascii_lowercase().contains("content-length: 5\r\n"),
        "{seen}"
    );
    assert!(seen.ends_with("\r\n\r\nhello"), "{seen}");
}
