//! A real browser: headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`). It opens a protected page, lands on the login page, signs in with the
//! QR flow on the simulator's page, comes back and sees its identity; then, as WeChat's in-app
//! browser, it signs in through the official account and is the same user. It signs in with the
//! phone form (number, then the texted code, no script), and by scanning the mini-program code
//! while the test plays the mini-program, and by following the official account while the test
//! plays WeChat, and with WeCom SSO as a member of a corp; a screenshot of the login page is
//! kept for CI.
//!
//! Without Chromium the test says it skipped; under `CI=true` (where `.ci/run` installs it) a
//! missing browser fails the run.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wxgate_tests::gateway::{Channel, Route, TestGateway};
use wxgate_tests::in_ci;

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

/// Clicks the element `css` finds, waiting up to 20 s for it to appear.
async fn click(client: &Client, css: &str) {
    wait_for(client, Locator::Css(css))
        .await
        .click()
        .await
        .unwrap();
}

/// Types `text` into the field with this id, waiting for it to appear.
async fn type_into(client: &Client, id: &str, text: &str) {
    wait_for(client, Locator::Id(id))
        .await
        .send_keys(text)
        .await
        .unwrap();
}

/// The element, once it appears (pages are form posts and redirects: they take a moment).
async fn wait_for(client: &Client, what: Locator<'_>) -> fantoccini::elements::Element {
    let said = format!("{what:?}");
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(what)
        .await
        .unwrap_or_else(|e| panic!("{said} never appeared: {e}"))
}

/// A desktop browser sent from the protected `/api/page` to the login page. Returns it with the
/// page's URL.
async fn at_the_login_page(driver: &Driver, gw: &TestGateway) -> (Client, String) {
    let base = format!("http://{}", gw.addr);
    let page = format!("{base}/api/page");
    let desktop = browser(driver, None).await;
    desktop.goto(&page).await.unwrap();
    arrive(
        &desktop,
        &format!("{base}/_auth/login?return_to=%2Fapi%2Fpage"),
    )
    .await;
    (desktop, page)
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
    click(&desktop, "a[href^='/_auth/web/authorize']").await;
    wait_for(&desktop, Locator::LinkText("Scan as alice"))
        .await
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
    wait_for(&phone, Locator::LinkText("Allow as alice"))
        .await
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

/// An app signing people in through wxgate's OpenID Connect provider: the browser without a
/// session lands on the login page, signs in by QR, and the authorization resumes by itself
/// and returns to the app with a code that redeems.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_signs_in_for_an_openid_connect_client_and_the_authorization_resumes() {
    let Some(driver) = start_driver() else {
        return;
    };
    let w = crate::oidc::world().await;
    let (url, r) = w.authorize_url("app", "openid profile", &[]);
    let client = browser(&driver, None).await;
    client.goto(&url).await.unwrap();
    click(&client, "a[href^='/_auth/web/authorize']").await;
    wait_for(&client, Locator::LinkText("Scan as alice"))
        .await
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let back = loop {
        let now = client.current_url().await.expect("current url").to_string();
        if now.starts_with(&w.redirect_uri) {
            break now;
        }
        assert!(Instant::now() < deadline, "stuck at {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    client.close().await.unwrap();
    assert_eq!(
        crate::oidc::param(&back, "state").as_deref(),
        Some(r.state.as_str())
    );
    let code = crate::oidc::param(&back, "code").expect("a code");
    let (status, tokens) = w.redeem(&code, &r).await;
    assert_eq!(status, 200, "{tokens}");
    let id = w
        .verify_id_token(tokens["id_token"].as_str().unwrap(), "app")
        .await;
    assert_eq!(id["nonce"], r.nonce.as_str());
    assert_eq!(id["name"], "爱丽丝");
}

/// The login page with every way in: the website QR, the mini-program's code, the official
/// account (inside WeChat, and by following it), and the phone form.
async fn every_way_in() -> (
    wxgate_tests::TestDb,
    TestGateway,
    wxgate_sim::SimHandle,
    wxgate_sim::SimHandle,
    reqwest::Client,
) {
    use super::browser::{secret, simulator, MP, OA, WEB};
    let db = wxgate_tests::TestDb::new(wxgate_tests::Backend::Sqlite)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let sim = simulator(&http).await;
    let s = sim.base_url();
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .login_page("order = [\"web\", \"mp\", \"oa\", \"sms\"]")
            .channel(Channel::open_qr("web", WEB, secret(WEB), &s))
            .channel(
                Channel::mini_program("mp", MP, secret(MP), &s)
                    .with("scan_login = { page = \"pages/login/scan\" }"),
            )
            .channel(
                Channel::official_account("oa", OA, secret(OA), "snsapi_userinfo", &s).with(
                    &format!(
                        "mp_base = \"{s}\"\nmessage = {{ token = \"shotToken1\" }}\nfollow_login = {{}}"
                    ),
                ),
            )
            .channel(Channel::phone_sms("sms", &s))
            .route(Route::required("/api/", upstream.addr))
            .start()
    });
    (db, gw, sim, upstream, http)
}

/// Where the screenshot of the login page goes: `artifacts/` at the top of the project, which
/// `.ci/run` keeps.
fn artifact(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_signs_in_with_the_phone_form_without_script() {
    let Some(driver) = start_driver() else {
        return;
    };
    let (_db, gw, sim, _upstream, http) = every_way_in().await;
    let (desktop, page) = at_the_login_page(&driver, &gw).await;
    let shot = desktop.screenshot().await.expect("a screenshot");
    assert!(shot.starts_with(b"\x89PNG"));
    std::fs::write(artifact("login-page.png"), &shot).unwrap();
    // Every way in is offered on a desktop; the official account as the one for inside WeChat.
    for href in [
        "/_auth/web/authorize",
        "/_auth/mp/scan",
        "/_auth/oa/follow",
        "/_auth/oa/authorize",
    ] {
        wait_for(&desktop, Locator::Css(&format!("a[href^='{href}']"))).await;
    }
    type_into(&desktop, "phone", "138 0013 8000").await;
    click(&desktop, "#phone-form button[type=submit]").await;
    wait_for(&desktop, Locator::Id("code")).await;
    let texted =
        wxgate_tests::control::get(&http, &sim.base_url(), "/_sim/sms/last?phone=13800138000")
            .await;
    // A wrong code first: the page says so, in Chinese first, and keeps the number.
    let wrong = if texted["code"] == "000000" {
        "111111"
    } else {
        "000000"
    };
    type_into(&desktop, "code", wrong).await;
    click(&desktop, "#code-form button[type=submit]").await;
    let notice = wait_for(&desktop, Locator::Id("notice"))
        .await
        .text()
        .await
        .unwrap();
    assert!(notice.starts_with("验证码不正确"), "{notice}");
    type_into(&desktop, "code", texted["code"].as_str().unwrap()).await;
    click(&desktop, "#code-form button[type=submit]").await;
    arrive(&desktop, &page).await;
    let seen = identity_on_page(&desktop).await;
    assert_eq!(seen["x-auth-channel"], "sms");
    assert_eq!(seen["x-auth-phone"], "+8613800138000");
    desktop.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_signs_in_by_scanning_the_mini_program_code() {
    let Some(driver) = start_driver() else {
        return;
    };
    let (_db, gw, sim, _upstream, http) = every_way_in().await;
    let (desktop, page) = at_the_login_page(&driver, &gw).await;
    click(&desktop, "a[href^='/_auth/mp/scan']").await;
    wait_for(&desktop, Locator::Id("code")).await;
    // The image loaded in the browser (its natural width is the PNG's, 168).
    let width = desktop
        .execute(
            "return document.getElementById('code').naturalWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(width, json!(168), "the code's image did not load");
    // The phone reads the code: the simulator made it, so it knows the scene.
    let codes = wxgate_tests::control::get(&http, &sim.base_url(), "/_sim/wxacodes").await;
    let scene = codes.as_array().unwrap().last().unwrap()["scene"]
        .as_str()
        .unwrap()
        .to_string();
    let wx_code = wxgate_tests::control::post(
        &http,
        &sim.base_url(),
        "/_sim/login_code",
        json!({"appid": super::browser::MP, "user": "alice"}),
    )
    .await;
    for (action, body) in [
        ("scanned", json!({ "scene": scene })),
        (
            "confirm",
            json!({ "scene": scene, "code": wx_code["code"] }),
        ),
    ] {
        let body = body.to_string();
        let r = tokio::task::block_in_place(|| {
            wxgate_tests::gateway::call(
                gw.addr,
                "POST",
                &format!("/_auth/mp/scan/{action}"),
                &body,
                None,
            )
        });
        assert_eq!(
            r.status,
            200,
            "{action}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // The waiting page reloads itself (no script) and lands back on the page, signed in.
    arrive(&desktop, &page).await;
    let seen = identity_on_page(&desktop).await;
    assert_eq!(seen["x-auth-channel"], "mp");
    desktop.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_signs_in_by_following_the_official_account() {
    let Some(driver) = start_driver() else {
        return;
    };
    let s = super::follow::setup(wxgate_tests::Backend::Sqlite, Default::default())
        .await
        .unwrap();
    let (desktop, page) = at_the_login_page(&driver, &s.gw).await;
    click(&desktop, "a[href^='/_auth/oa/follow']").await;
    wait_for(&desktop, Locator::Id("code")).await;
    let width = desktop
        .execute(
            "return document.getElementById('code').naturalWidth",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        width.as_u64().unwrap_or(0) > 0,
        "the code's image did not load"
    );
    // The phone scans the code on the screen: the simulator made it, so it knows its ticket.
    let codes = wxgate_tests::control::get(&s.world.http, &s.world.base(), "/_sim/qrcodes").await;
    let ticket = codes.as_array().unwrap().last().unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let report = s.scan("alice", &ticket).await;
    assert_eq!(report["reply"]["kind"], "text", "{report}");
    // The waiting page reloads itself and lands back on the page, signed in.
    arrive(&desktop, &page).await;
    let seen = identity_on_page(&desktop).await;
    assert_eq!(seen["x-auth-channel"], "oa");
    desktop.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_signs_in_with_wecom_sso() {
    let Some(driver) = start_driver() else {
        return;
    };
    let s = super::wecom::setup(wxgate_tests::Backend::Sqlite, "")
        .await
        .unwrap();
    let (desktop, page) = at_the_login_page(&driver, &s.gw).await;
    click(&desktop, "a[href^='/_auth/wecom/authorize']").await;
    // WeCom's SSO page (the simulator's): the member scans it with the WeCom app.
    wait_for(&desktop, Locator::LinkText("scan as zhangsan (张三)"))
        .await
        .click()
        .await
        .unwrap();
    arrive(&desktop, &page).await;
    let seen = identity_on_page(&desktop).await;
    assert_eq!(seen["x-auth-channel"], "wecom");
    assert_eq!(seen["x-auth-openid"], "zhangsan");
    desktop.close().await.unwrap();
}
