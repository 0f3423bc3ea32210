//! A real browser: headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`). It opens a protected page, lands on the login page, signs in with the
//! QR flow on the simulator's page, comes back and sees its identity; then, as WeChat's in-app
//! browser, it signs in through the official account and is the same user.
//!
//! Without Chromium the test says it skipped; under `CI=true` (where `.ci/run` installs it) a
//! missing browser fails the run.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const WECHAT_UA: &str = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/130.0 Mobile Safari/537.36 MicroMessenger/8.0.50.2701 NetType/WIFI Language/zh_CN";

struct Driver {
    child: Child,
    addr: SocketAddr,
    profiles: std::path::PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profiles);
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Chromedriver on a free local port, or `None` (said out loud) when Chromium is missing.
fn start_driver() -> Option<Driver> {
    let missing: Vec<_> = [CHROMEDRIVER, CHROMIUM]
        .into_iter()
        .filter(|p| !std::path::Path::new(p).exists())
        .collect();
    if !missing.is_empty() {
        assert!(
            !in_ci(),
            "{missing:?} missing: .ci/run installs chromium and chromium-driver"
        );
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the real-browser test: {missing:?} not installed (apt-get install chromium chromium-driver)"
        );
        return None;
    }
    let port = wxgate_tests::gateway::free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let profiles =
        std::env::temp_dir().join(format!("wxgate-chromium-{}", uuid::Uuid::new_v4().simple()));
    Some(Driver {
        child,
        addr,
        profiles,
    })
}

/// A fresh headless browser session with its own profile.
async fn browser(driver: &Driver, user_agent: Option<&str>) -> Client {
    let profile = driver
        .profiles
        .join(uuid::Uuid::new_v4().simple().to_string());
    let mut args = vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    if let Some(ua) = user_agent {
        args.push(format!("--user-agent={ua}"));
    }
    let caps = json!({"goog:chromeOptions": {"binary": CHROMIUM, "args": args}});
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    // Two rustls crypto backends are linked into this binary; WebDriver speaks plain HTTP here,
    // but the client still wants one chosen.
    let _ = rustls::crypto::ring::default_provider().install_default();
    ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&format!("http://{}", driver.addr))
        .await
        .expect("a WebDriver session")
}

/// Waits until the browser is at `url` (redirect chains take a moment).
async fn arrive(client: &Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = client.current_url().await.expect("current url");
        if now.as_str() == url {
            return;
        }
        assert!(Instant::now() < deadline, "stuck at {now}, expected {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The identity headers the echo upstream shows on the page.
async fn identity_on_page(client: &Client) -> Value {
    let text = client
        .find(Locator::Css("body"))
        .await
        .expect("a body")
        .text()
        .await
        .expect("its text");
    let page: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    page["headers"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_signs_in_by_qr_then_through_the_official_account_as_the_same_user() {
    let Some(driver) = start_driver() else {
        return;
    };
    let s = super::browser::setup().await;
    let page = s.gw("/api/page");

    // Desktop: protected page → login page → QR flow → back, signed in.
    let desktop = browser(&driver, None).await;
    desktop.goto(&page).await.unwrap();
    arrive(&desktop, &s.gw("/_auth/login?return_to=%2Fapi%2Fpage")).await;
    desktop
        .find(Locator::Css("a[href^='/_auth/web/authorize']"))
        .await
        .expect("the QR option on the login page")
        .click()
        .await
        .unwrap();
    desktop
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::LinkText("Scan as alice"))
        .await
        .expect("the simulator's QR page")
        .click()
        .await
        .unwrap();
    arrive(&desktop, &page).await;
    let seen = identity_on_page(&desktop).await;
    let user = seen["x-auth-user"]
        .as_str()
        .expect("an identity")
        .to_string();
    assert_eq!(seen["x-auth-channel"], "web");
    assert!(
        seen.get("cookie").is_none(),
        "no gateway cookie upstream: {seen}"
    );
    desktop.close().await.unwrap();

    // Inside WeChat: the login page goes straight to the official-account flow.
    let phone = browser(&driver, Some(WECHAT_UA)).await;
    phone.goto(&page).await.unwrap();
    phone
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::LinkText("Allow as alice"))
        .await
        .expect("the simulator's authorize page")
        .click()
        .await
        .unwrap();
    arrive(&phone, &page).await;
    let seen = identity_on_page(&phone).await;
    assert_eq!(
        seen["x-auth-user"],
        user.as_str(),
        "the same person is the same user"
    );
    assert_eq!(seen["x-auth-channel"], "oa");
    phone.close().await.unwrap();
    assert_eq!(s.users().await, 1);
}
