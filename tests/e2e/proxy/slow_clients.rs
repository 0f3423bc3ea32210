//! Clients too slow to be anything but an attack on the connection table: a header trickled a
//! line at a time is cut at `header_timeout` with a 408, an idle first connection at
//! `idle_timeout`, and a body below `min_body_rate`; other clients are served throughout. A cap
//! per client network refuses connections beyond it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use wxgate_tests::gateway::{Route, TestGateway};
use wxgate_tests::{Backend, TestDb};

/// A gateway with `server` keys and a public route to an echo upstream (kept in the tuple).
async fn gateway_with(db: &TestDb, server: &str) -> (TestGateway, wxgate_sim::SimHandle) {
    let echo = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .server(server)
            .route(Route::public("/pub/", echo.addr))
            .start()
    });
    (gw, echo)
}

/// Reads until the server closes (or 15 s pass); what it sent.
fn read_to_close(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_header_is_cut_at_the_deadline_while_others_are_served() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let (gw, _echo) = gateway_with(&db, "header_timeout = \"2s\"\nidle_timeout = \"3s\"").await;
    let addr = gw.addr;
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let started = Instant::now();
        s.write_all(b"GET /pub/x HTTP/1.1\r\nHost: t\r\n").unwrap();
        // One header line every 500 ms: each read is quick, the header never ends.
        for i in 0..20 {
            std::thread::sleep(Duration::from_millis(500));
            if s.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .is_err()
            {
                break;
            }
        }
        (read_to_close(&mut s), started.elapsed())
    });
    // Normal requests go on meanwhile.
    for _ in 0..5 {
        let r =
            tokio::task::block_in_place(|| gw.request("GET /pub/x HTTP/1.1\r\nHost: t\r\n\r\n"))
                .unwrap();
        assert_eq!(r.status, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (answer, took) = tokio::task::block_in_place(|| slow.join().unwrap());
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "cut after {took:?}"
    );

    // A connection that never says anything is closed at idle_timeout, quietly.
    let mut idle = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    let said = tokio::task::block_in_place(|| read_to_close(&mut idle));
    assert_eq!(said, "");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(8),
        "{took:?}"
    );

    let metrics = tokio::task::block_in_place(|| {
        gw.request("GET /_auth/healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    })
    .unwrap();
    assert_eq!(metrics.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_slower_than_the_floor_is_cut_and_a_network_over_its_cap_is_refused() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let (gw, _echo) = gateway_with(
        &db,
        "header_timeout = \"1s\"\nmin_body_rate = 1000\nmax_connections_per_network = 3",
    )
    .await;
    let addr = gw.addr;
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let started = Instant::now();
        s.write_all(b"POST /pub/x HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
            .unwrap();
        for _ in 0..40 {
            std::thread::sleep(Duration::from_millis(250));
            if s.write_all(b"xxxxxxxxxx").is_err() {
                break;
            }
        }
        let _ = read_to_close(&mut s);
        started.elapsed()
    });
    let took = tokio::task::block_in_place(|| slow.join().unwrap());
    // Not before the floor applies: 1 s of grace, then 1000 B owed after one more second.
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "a 40 B/s body ran for {took:?}"
    );

    // Three open connections fill the network's place; a fourth is closed unanswered, and a
    // place frees when one closes.
    let held: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut fourth = TcpStream::connect(addr).unwrap();
    fourth
        .write_all(b"GET /pub/x HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let said = tokio::task::block_in_place(|| read_to_close(&mut fourth));
    assert_eq!(said, "", "a connection beyond the cap was served");
    drop(held);
    // The places free as the gateway notices the closed connections.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r =
            tokio::task::block_in_place(|| gw.request("GET /pub/x HTTP/1.1\r\nHost: t\r\n\r\n"));
        if r.as_ref().is_ok_and(|r| r.status == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "no place freed: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// On HTTPS the handshake is held to `header_timeout` too: a connection that never says hello
/// is closed at the deadline and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_handshake_that_never_comes_is_cut_at_the_header_deadline() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let pki = wxgate_tests::tls::Pki::new(&db.dir, "gw");
    let cert = pki.issue("gw", &["localhost"], 30);
    let metrics = wxgate_tests::gateway::free_port();
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .https(&cert, &pki.ca_file, "")
            .server(&format!(
                "header_timeout = \"2s\"\nidle_timeout = \"30s\"\nmetrics_listen = \"127.0.0.1:{metrics}\""
            ))
            .start()
    });
    let started = Instant::now();
    let said = tokio::task::block_in_place(|| {
        let mut silent = TcpStream::connect(gw.addr).unwrap();
        read_to_close(&mut silent)
    });
    let lived = started.elapsed();
    assert!(said.is_empty(), "{said}");
    assert!(
        (Duration::from_millis(1900)..Duration::from_secs(10)).contains(&lived),
        "closed after {lived:?}"
    );
    let counted = tokio::task::block_in_place(|| {
        wxgate_tests::gateway::raw(
            ([127, 0, 0, 1], metrics).into(),
            "GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n",
        )
    })
    .unwrap();
    let text = String::from_utf8_lossy(&counted.body).into_owned();
    assert!(
        text.contains("wxgate_connections_refused_total{reason=\"tls_handshake_timeout\"} 1"),
        "{text}"
    );
}
