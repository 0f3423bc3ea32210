//! HTTPS at both ends: the listener's certificates (by SNI, renewed in place), its protocol
//! versions and HTTP/2, HSTS and the plain redirect listener; routes to HTTPS upstreams,
//! verified against a private CA, with a client certificate, or refused with a wrong CA.

use std::process::Command;
use std::time::{Duration, Instant};

use wxgate_tests::gateway::{Route, TestGateway};
use wxgate_tests::tls::{https_raw, serve_https_relay, Pki};
use wxgate_tests::{Backend, TestDb};

const GET_PUB: &str = "GET /pub/hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// curl against the gateway as `localhost`, trusting the test CA; its exit status and output.
fn curl(gw: &TestGateway, ca: &std::path::Path, args: &[&str], path: &str) -> (bool, String) {
    let url = format!("https://localhost:{}{path}", gw.addr.port());
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args([
            "--resolve",
            &format!("localhost:{}:127.0.0.1", gw.addr.port()),
        ])
        .args(args)
        .arg(&url)
        .output()
        .expect("curl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn serial_of(der: &[u8]) -> String {
    let (_, cert) = x509_parser::parse_x509_certificate(der).expect("a certificate");
    cert.raw_serial_as_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_h2_and_http1_with_tls_1_2_and_1_3_only_and_hsts() {
    let test = "https_serves_h2_and_http1_with_tls_1_2_and_1_3_only_and_hsts";
    if !wxgate_tests::have_tool("curl", test) || !wxgate_tests::have_tool("openssl", test) {
        return;
    }
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let pki = Pki::new(&db.dir, "gw");
    let cert = pki.issue("gw", &["localhost", "127.0.0.1"], 90);
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .https(&cert, &pki.ca_file, "hsts = \"365d\"")
            .route(Route::public("/pub/", upstream.addr))
            .start()
    });

    let r = tokio::task::block_in_place(|| gw.request(GET_PUB)).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    assert_eq!(r.json()["headers"]["x-forwarded-proto"], "https");
    // The gateway's own answers carry it too.
    let r = tokio::task::block_in_place(|| {
        gw.request("GET /_auth/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    })
    .unwrap();
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );

    // A real client negotiates HTTP/2 by ALPN; the upstream still gets HTTP/1.1.
    for (flag, expected) in [("--http2", "2 200"), ("--http1.1", "1.1 200")] {
        let (ok, out) = tokio::task::block_in_place(|| {
            curl(
                &gw,
                &pki.ca_file,
                &[
                    flag,
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_version} %{http_code}",
                ],
                "/pub/hello",
            )
        });
        assert!(ok, "{out}");
        assert_eq!(out.trim(), expected);
    }

    // TLS 1.0 and 1.1 are refused by the gateway at the handshake: the client, told to allow
    // old suites so that the refusal is not its own, sends its hello and reads the server's
    // alert (handshake_failure 40 or protocol_version 70). 1.2 and 1.3 are served.
    for (version, served) in [
        ("-tls1", false),
        ("-tls1_1", false),
        ("-tls1_2", true),
        ("-tls1_3", true),
    ] {
        let out = tokio::task::block_in_place(|| {
            let mut cmd = Command::new("openssl");
            cmd.args(["s_client", "-connect"])
                .arg(gw.addr.to_string())
                .args(["-servername", "localhost", version, "-CAfile"])
                .arg(&pki.ca_file);
            if !served {
                cmd.args(["-cipher", "DEFAULT:@SECLEVEL=0"]);
            }
            cmd.stdin(std::process::Stdio::null())
                .output()
                .expect("openssl runs")
        });
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if served {
            assert!(
                text.contains("Verify return code: 0 (ok)") && !text.contains("Cipher is (NONE)"),
                "{version}: {text}"
            );
        } else {
            let server_alert =
                text.contains("SSL alert number 40") || text.contains("SSL alert number 70");
            assert!(
                server_alert && text.contains("Cipher is (NONE)"),
                "{version}: {text}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_chosen_by_sni_and_renewed_in_place() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let pki = Pki::new(&db.dir, "gw");
    let main = pki.issue("main", &["localhost"], 90);
    let other = pki.issue("other", &["*.example.test"], 90);
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .https(
                &main,
                &pki.ca_file,
                &format!(
                    "more = [{{ cert = {:?}, key = {:?} }}]",
                    other.cert.display().to_string(),
                    other.key.display().to_string()
                ),
            )
            .start()
    });
    let client = gw.https.clone().unwrap();
    let healthz = "GET /_auth/healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let leaf = |name: &str| {
        let (r, der) =
            tokio::task::block_in_place(|| https_raw(client.clone(), gw.addr, name, healthz))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.status, 200);
        serial_of(&der)
    };
    let first = leaf("localhost");
    let by_wildcard = leaf("api.example.test");
    assert_ne!(
        first, by_wildcard,
        "the wildcard name gets its own certificate"
    );

    // A renewal rewrites both files; new handshakes get the new certificate within seconds.
    let renewed = pki.issue("main", &["localhost"], 90);
    assert_eq!(renewed.cert, main.cert);
    let deadline = Instant::now() + Duration::from_secs(10);
    while leaf("localhost") == first {
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let second = leaf("localhost");

    // A broken file keeps what is served and says why.
    std::fs::write(&main.cert, "-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gw
        .logs()
        .contains("still serving the previous certificates")
    {
        assert!(
            Instant::now() < deadline,
            "no error for the broken file: {}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(leaf("localhost"), second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstreams_are_verified_against_their_ca_and_a_wrong_one_is_a_502() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let backend_ca = Pki::new(&db.dir, "backend");
    let stranger_ca = Pki::new(&db.dir, "stranger");
    let clients_ca = Pki::new(&db.dir, "clients");
    let backend_cert = backend_ca.issue("backend", &["api.internal"], 30);
    let gateway_client = clients_ca.issue("gateway-client", &["wxgate"], 30);
    let echo = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (https, _relay) = serve_https_relay(&backend_cert, echo.addr, None).await;
    let (mtls, _relay2) =
        serve_https_relay(&backend_cert, echo.addr, Some(&clients_ca.ca_file)).await;
    let path = |p: &std::path::Path| p.display().to_string();
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .route(
                Route::public(
                    "/private-ca/",
                    format!("https://127.0.0.1:{}", https.port()),
                )
                .with(&format!(
                    "ca_file = {:?}\nsni = \"api.internal\"\nhost_header = \"upstream\"",
                    path(&backend_ca.ca_file)
                )),
            )
            .route(
                Route::public("/wrong-ca/", format!("https://127.0.0.1:{}", https.port())).with(
                    &format!(
                        "ca_file = {:?}\nsni = \"api.internal\"",
                        path(&stranger_ca.ca_file)
                    ),
                ),
            )
            .route(
                Route::public("/mtls/", format!("https://127.0.0.1:{}", mtls.port())).with(
                    &format!(
                    "ca_file = {:?}\nsni = \"api.internal\"\nclient_cert = {:?}\nclient_key = {:?}",
                    path(&backend_ca.ca_file),
                    path(&gateway_client.cert),
                    path(&gateway_client.key)
                ),
                ),
            )
            .start()
    });
    let get = |p: &str| {
        tokio::task::block_in_place(|| {
            gw.request(&format!("GET {p} HTTP/1.1\r\nHost: gw.example\r\n\r\n"))
        })
        .unwrap()
    };
    let r = get("/private-ca/x");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["headers"]["host"],
        format!("127.0.0.1:{}", https.port()),
        "host_header = upstream sends the upstream's own name"
    );
    let r = get("/mtls/x");
    assert_eq!(r.status, 200, "mTLS: {}", String::from_utf8_lossy(&r.body));

    let r = get("/wrong-ca/x");
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["error"], "bad_gateway");
    let logs = gw.logs();
    assert!(
        logs.contains("TLS with the upstream failed") && logs.contains("api.internal"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plain_listener_only_redirects_to_public_url() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let pki = Pki::new(&db.dir, "gw");
    let cert = pki.issue("gw", &["localhost"], 90);
    let plain = wxgate_tests::gateway::free_port();
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .https(
                &cert,
                &pki.ca_file,
                &format!("redirect_listen = \"127.0.0.1:{plain}\""),
            )
            .start()
    });
    let r = tokio::task::block_in_place(|| {
        wxgate_tests::gateway::raw(
            ([127, 0, 0, 1], plain).into(),
            "GET /api/x?y=1 HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        )
    })
    .unwrap();
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location").unwrap(),
        format!("https://localhost:{}/api/x?y=1", gw.addr.port())
    );
}

/// `wxgate check` reads every certificate the config names: one expiring soon is a warning, an
/// expired one or a key of another certificate an error (and a failed check); the running
/// gateway publishes each expiry as a metric.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_judges_the_tls_files_and_the_expiry_is_a_metric() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let pki = Pki::new(&db.dir, "gw");
    let soon = pki.issue("soon", &["localhost"], 5);
    let expired = pki.issue("expired", &["localhost"], -1);
    let other = pki.issue("other", &["localhost"], 90);
    let metrics_port = wxgate_tests::gateway::free_port();
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .https(&soon, &pki.ca_file, "")
            .server(&format!("metrics_listen = \"127.0.0.1:{metrics_port}\""))
            .start()
    });

    let metrics = tokio::task::block_in_place(|| {
        wxgate_tests::gateway::raw(
            ([127, 0, 0, 1], metrics_port).into(),
            "GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n",
        )
    })
    .unwrap();
    let der = std::fs::read(&soon.cert).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&der).unwrap();
    let not_after = pem.parse_x509().unwrap().validity().not_after.timestamp();
    let line = format!(
        "wxgate_tls_certificate_expiry_timestamp_seconds{{cert=\"{}\"}} {not_after}",
        soon.cert.display()
    );
    assert!(
        String::from_utf8_lossy(&metrics.body).contains(&line),
        "no {line:?} in the metrics"
    );

    let config = gw.config_path();
    let out = tokio::task::block_in_place(|| wxgate_tests::gateway::cli(&["check"], &config));
    assert!(
        out.contains("warning: server.tls:") && out.contains("day(s); renew it"),
        "{out}"
    );

    let text = std::fs::read_to_string(&config).unwrap();
    let swap = |cert: &std::path::Path, key: &std::path::Path, name: &str| {
        let path = db.dir.join(name);
        let changed = text
            .replace(
                &soon.cert.display().to_string(),
                &cert.display().to_string(),
            )
            .replace(&soon.key.display().to_string(), &key.display().to_string());
        std::fs::write(&path, changed).unwrap();
        let out = Command::new(wxgate_tests::gateway::gateway_bin())
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), said)
    };
    let (ok, said) = swap(&expired.cert, &expired.key, "expired.toml");
    assert!(!ok && said.contains("expired 1 day(s) ago"), "{said}");
    let (ok, said) = swap(&soon.cert, &other.key, "mismatch.toml");
    assert!(
        !ok && said.contains("the key does not match the certificate"),
        "{said}"
    );
}
