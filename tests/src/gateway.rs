//! Runs the real `wxgate` binary against a temporary config, with an echo upstream on loopback.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wxgate_core::auth::AuthService;
use wxgate_core::clock::{SharedClock, SystemClock};
use wxgate_core::identity::Resolver;
use wxgate_core::policy::IdentityPolicy;
use wxgate_core::store::Db;
use wxgate_core::token::{Sessions, TokenService};

pub use crate::builder::{Channel, GatewayBuilder, OidcClient, Route, Webhook};

/// The `wxgate` binary next to this test executable (`target/<profile>/wxgate`); cargo builds
/// it for the gateway crate's own integration tests in the same `cargo test` run.
pub fn gateway_bin() -> PathBuf {
    if let Ok(path) = std::env::var("WXGATE_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("wxgate")
}

/// Runs `wxgate ARGS --config CONFIG` (an operator's command) to its end; a command that
/// does not succeed fails the test with what it printed.
pub fn cli(args: &[&str], config: &std::path::Path) -> String {
    let out = Command::new(gateway_bin())
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap_or_else(|e| panic!("run wxgate {args:?}: {e}"));
    assert!(
        out.status.success(),
        "wxgate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A loopback port that was free a moment ago. Another test may take it before it is used:
/// whoever binds it must notice and retry ([`TestGateway::start`] does).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A start to try again on another port.
struct Retry(String);

pub struct TestGateway {
    child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub db_url: String,
    pub keys_dir: PathBuf,
    pub log: PathBuf,
    /// A client for its HTTPS listener, when it has one (it trusts the test CA).
    pub https: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl TestGateway {
    /// A gateway on the database at `db_url`, its files in `dir`: add sections, channels and
    /// routes, then `start` it.
    pub fn builder(db_url: &str, dir: &std::path::Path) -> GatewayBuilder {
        GatewayBuilder::new(db_url, dir)
    }

    /// Starts the binary with `b`'s config and waits until `/_auth/healthz` answers.
    pub(crate) fn start_from(b: &GatewayBuilder) -> Self {
        // A port found free may be taken by another test before the gateway binds it: the
        // start is then retried on another port, and "ready" must be this gateway answering.
        for _ in 0..5 {
            match Self::try_start(b) {
                Ok(gw) => return gw,
                Err(Retry(why)) => eprintln!("note: gateway start retried: {why}"),
            }
        }
        panic!("the gateway could not start on a free port in 5 tries");
    }

    fn try_start(b: &GatewayBuilder) -> Result<Self, Retry> {
        let port = free_port();
        let dir = b.dir();
        let keys_dir = dir.join("gw-keys");
        let config = b.config(port, &keys_dir);
        let path = dir.join(format!("gateway-{port}.toml"));
        std::fs::write(&path, config).expect("write config");
        let log = dir.join(format!("gateway-{port}.log"));
        let child = Command::new(gateway_bin())
            .arg("--config")
            .arg(&path)
            .arg("--threads")
            .arg("1")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::from(std::fs::File::create(&log).expect("log")))
            .stderr(Stdio::from(
                std::fs::File::create(dir.join(format!("gateway-{port}.err"))).expect("log"),
            ))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", gateway_bin().display()));
        let mut gw = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir: dir.to_path_buf(),
            db_url: b.db_url().to_string(),
            keys_dir,
            log,
            https: b.https_ca().map(client_trusting),
        };
        gw.wait_ready()?;
        Ok(gw)
    }

    /// One request, over HTTPS (as `localhost`) when the gateway serves it.
    pub fn request(&self, request: &str) -> std::io::Result<RawResponse> {
        match &self.https {
            Some(config) => crate::tls::https_raw(config.clone(), self.addr, "localhost", request)
                .map(|(r, _)| r),
            None => raw(self.addr, request),
        }
    }

    /// The config file this gateway runs with.
    pub fn config_path(&self) -> std::path::PathBuf {
        self.dir.join(format!("gateway-{}.toml", self.addr.port()))
    }

    /// Waits until this gateway answers: its `/healthz` is 200 and its JWKS holds the keys of
    /// its own `keys_dir` (not another test's gateway that won the port).
    fn wait_ready(&mut self) -> Result<(), Retry> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let logs = self.logs();
                if logs.contains("Address already in use") || logs.contains("BindError") {
                    return Err(Retry(format!("port {} was taken", self.addr.port())));
                }
                panic!("the gateway exited: {logs}");
            }
            if let Ok(r) = self.request("GET /_auth/healthz HTTP/1.1\r\nHost: t\r\n\r\n") {
                if r.status == 200 {
                    return if self.serves_own_keys() {
                        Ok(())
                    } else {
                        let _ = self.child.kill();
                        let _ = self.child.wait();
                        Err(Retry(format!(
                            "port {} answers for another gateway",
                            self.addr.port()
                        )))
                    };
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("gateway did not become ready: {}", self.logs());
    }

    fn serves_own_keys(&self) -> bool {
        let Ok(keys) = wxgate_core::token::keys::KeySet::load(&self.keys_dir) else {
            return false;
        };
        let Ok(r) = self.request("GET /_auth/jwks.json HTTP/1.1\r\nHost: t\r\n\r\n") else {
            return false;
        };
        let served: Vec<String> = serde_json::from_slice::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v["keys"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|k| k["kid"].as_str().map(str::to_string))
            .collect();
        keys.assertion.iter().all(|k| served.contains(&k.kid))
    }

    /// Everything the gateway process wrote to its logs so far.
    pub fn logs(&self) -> String {
        let out = std::fs::read_to_string(&self.log).unwrap_or_default();
        let err =
            std::fs::read_to_string(self.dir.join(format!("gateway-{}.err", self.addr.port())))
                .unwrap_or_default();
        out + &err
    }

    /// An auth service on the gateway's database and keys: tests log users in through it.
    pub async fn auth(&self) -> AuthService {
        let clock: SharedClock = Arc::new(SystemClock);
        let db = Db::connect(&self.db_url).await.expect("db");
        let tokens = Arc::new(
            TokenService::open(
                "wxgate".into(),
                Duration::from_secs(900),
                self.keys_dir.clone(),
                clock.clone(),
            )
            .expect("keys"),
        );
        let resolver = Resolver::new(db.clone(), IdentityPolicy::default(), clock.clone());
        let sessions = Sessions::new(db.clone(), clock, Duration::from_secs(86_400));
        AuthService::new(db, resolver, sessions, tokens)
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A panic in a background task kills only that task: the requests still pass, so the
        // test that ran the gateway fails here instead.
        if !std::thread::panicking() {
            let logs = self.logs();
            if let Some(at) = logs.find("panicked at") {
                let end = (at + 400).min(logs.len());
                let end = (end..logs.len())
                    .find(|&i| logs.is_char_boundary(i))
                    .unwrap_or(logs.len());
                panic!("the gateway panicked: {}", &logs[at..end]);
            }
        }
    }
}

/// A JSON request with an optional bearer token, sent with [`raw`].
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    bearer: Option<&str>,
) -> RawResponse {
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    raw(addr, &req).expect("request")
}

/// A TLS client trusting only the CA certificate(s) in `ca_file`.
pub fn client_trusting(ca_file: &std::path::Path) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca_file).expect("CA file") {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    // Every request a full handshake: a resumed session shows no certificate to check.
    config.resumption = rustls::client::Resumption::disabled();
    std::sync::Arc::new(config)
}

/// A response read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends `request` byte for byte (so tests control header case, duplicates and framing) and
/// reads one response.
pub fn raw(addr: SocketAddr, request: &str) -> std::io::Result<RawResponse> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    raw_over(stream, request)
}

/// [`raw`] over any connected stream (a TLS one, say).
pub fn raw_over(
    mut stream: impl std::io::Read + std::io::Write,
    request: &str,
) -> std::io::Result<RawResponse> {
    stream.write_all(request.as_bytes())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed before headers",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[header_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}
