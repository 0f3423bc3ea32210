//! Browser logins end to end: the gateway binary, the WeChat simulator's authorize and QR pages,
//! and an echo upstream, driven by a cookie-keeping test browser.

use serde_json::{json, Value};
use wxgate_core::identity::history::count_live_users;
use wxgate_tests::control;
use wxgate_tests::gateway::{raw, Channel, GatewayBuilder, Route, TestGateway};
use wxgate_tests::web::{Browser, Page};
use wxgate_tests::{Backend, TestDb};

pub(crate) const MP: &str = "wx00000000000000c1";
pub(crate) const OA: &str = "wx00000000000000c2";
const OAB: &str = "wx00000000000000c3";
pub(crate) const WEB: &str = "wx00000000000000c4";
const SECRETS: [(&str, &str); 4] = [
    (MP, "CANARY_APPSECRET_mp_c1"),
    (OA, "CANARY_APPSECRET_oa_c2"),
    (OAB, "CANARY_APPSECRET_oab_c3"),
    (WEB, "CANARY_APPSECRET_web_c4"),
];
pub(crate) const HOST: &str = "127.0.0.1";

pub(crate) struct Setup {
    pub(crate) gw: TestGateway,
    /// What started `gw`: another replica starts from it.
    pub(crate) gateway: GatewayBuilder,
    pub(crate) sim: wxgate_sim::SimHandle,
    http: reqwest::Client,
    db: TestDb,
    _upstream: wxgate_sim::SimHandle,
}

pub(crate) fn secret(appid: &str) -> &'static str {
    SECRETS.iter().find(|(a, _)| *a == appid).unwrap().1
}

fn enc(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// The world every test starts from: one open platform with a mini-program, two official
/// accounts (`oa` asks for the profile, `oab` is silent) and a website app; users alice, bob
/// and carol (carol's official-account visits land on the snapshot page).
pub(crate) async fn simulator(http: &reqwest::Client) -> wxgate_sim::SimHandle {
    let sim = wxgate_sim::Simulator::new()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let s = sim.base_url();
    for (appid, kind) in [
        (MP, "miniprogram"),
        (OA, "official_account"),
        (OAB, "official_account"),
        (WEB, "website"),
    ] {
        control::post(http, &s, "/_sim/apps", json!({"appid": appid, "secret": secret(appid), "kind": kind, "open_platform": "op1", "redirect_domain": HOST})).await;
    }
    for (name, phone, nickname) in [
        ("alice", "13800138000", "爱丽丝"),
        ("bob", "13900139000", "Bob"),
        ("carol", "13700137000", "Carol"),
    ] {
        control::post(
            http,
            &s,
            "/_sim/users",
            json!({"name": name, "phone": phone, "nickname": nickname}),
        )
        .await;
    }
    control::post(
        http,
        &s,
        "/_sim/users/carol/flags",
        json!({"snapshot": true}),
    )
    .await;
    sim
}

/// The four channels and three routes every browser test starts from.
fn gateway(db: &TestDb, sim: &str, upstream: std::net::SocketAddr) -> GatewayBuilder {
    TestGateway::builder(&db.url, &db.dir)
        .channel(Channel::mini_program("mp", MP, secret(MP), sim))
        .channel(Channel::official_account(
            "oa",
            OA,
            secret(OA),
            "snsapi_userinfo",
            sim,
        ))
        .channel(Channel::official_account(
            "oab",
            OAB,
            secret(OAB),
            "snsapi_base",
            sim,
        ))
        .channel(Channel::open_qr("web", WEB, secret(WEB), sim))
        .route(Route::required("/api/", upstream))
        .route(Route::required("/qr/", upstream).login_channel("web"))
        .route(Route::optional("/opt/", upstream))
}

/// A browser-test world on `backend`; `shape` adds to the gateway (its tokens, more channels).
pub(crate) async fn setup_with(
    backend: Backend,
    shape: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
) -> Option<Setup> {
    let db = TestDb::new(backend).await?;
    let http = reqwest::Client::new();
    let sim = simulator(&http).await;
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let gateway = shape(gateway(&db, &sim.base_url(), upstream.addr));
    let gw = tokio::task::block_in_place(|| gateway.start());
    Some(Setup {
        gw,
        gateway,
        sim,
        http,
        db,
        _upstream: upstream,
    })
}

pub(crate) async fn setup() -> Setup {
    setup_with(Backend::Sqlite, |b| b).await.expect("sqlite")
}

/// WeChat's page URL with the simulated person who scans or allows.
pub(crate) fn as_person(wechat_page: &str, user: &str) -> String {
    let mut url = reqwest::Url::parse(wechat_page).unwrap();
    url.query_pairs_mut().append_pair("sim_user", user);
    url.to_string()
}

impl Setup {
    pub(crate) fn gw(&self, path: &str) -> String {
        format!("http://{}{path}", self.gw.addr)
    }

    pub(crate) async fn users(&self) -> i64 {
        count_live_users(&self.db.db).await.unwrap()
    }

    /// Starts `channel`'s flow and lets `user` through WeChat's page; the final page and the
    /// redirects on the way.
    pub(crate) async fn sign_in(
        &self,
        b: &mut Browser,
        channel: &str,
        user: &str,
        return_to: &str,
    ) -> (Page, Vec<String>) {
        let start = b
            .get(&self.gw(&format!(
                "/_auth/{channel}/authorize?return_to={}",
                enc(return_to)
            )))
            .await;
        assert_eq!(start.status, 302, "{}", start.body);
        b.open(&as_person(start.location().unwrap(), user)).await
    }

    async fn me(&self, b: &mut Browser) -> Value {
        let page = b.get(&self.gw("/_auth/me")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.json()["user"].clone()
    }

    /// A mini-program login of `user` (JSON), for cross-channel identity checks.
    async fn mini_program_login(&self, user: &str) -> Value {
        let code = control::post(
            &self.http,
            &self.sim.base_url(),
            "/_sim/login_code",
            json!({"appid": MP, "user": user}),
        )
        .await;
        let body = json!({"code": code["code"]}).to_string();
        let r = tokio::task::block_in_place(|| {
            wxgate_tests::gateway::call(self.gw.addr, "POST", "/_auth/mp/login", &body, None)
        });
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qr_login_starts_a_cookie_session_and_returns_to_the_page() {
    let s = setup().await;
    let mut b = Browser::new();
    // An unauthenticated browser on a protected page lands on the login page.
    let (login, trail) = b.open(&s.gw("/api/page?tab=2")).await;
    assert_eq!(
        trail,
        [s.gw("/_auth/login?return_to=%2Fapi%2Fpage%3Ftab%3D2")]
    );
    assert_eq!(login.status, 200);
    assert!(login
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(login
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'none'"));
    assert_eq!(login.header("x-frame-options"), Some("DENY"));
    let qr_link = "/_auth/web/authorize?return_to=%2Fapi%2Fpage%3Ftab%3D2";
    let oa_link = "/_auth/oa/authorize?return_to=%2Fapi%2Fpage%3Ftab%3D2";
    let (qr_at, oa_at) = (login.body.find(qr_link), login.body.find(oa_link));
    assert!(qr_at.is_some() && oa_at.is_some(), "{}", login.body);
    assert!(qr_at < oa_at, "a desktop is offered the QR login first");

    // The QR flow: the gateway's state and callback go to WeChat's page.
    let start = b.get(&s.gw(qr_link)).await;
    assert_eq!(start.status, 302);
    let wechat = reqwest::Url::parse(start.location().unwrap()).unwrap();
    assert_eq!(wechat.path(), "/connect/qrconnect");
    assert_eq!(wechat.fragment(), Some("wechat_redirect"));
    let q: std::collections::HashMap<_, _> = wechat.query_pairs().into_owned().collect();
    assert_eq!(q["appid"], WEB);
    assert_eq!(q["scope"], "snsapi_login");
    assert_eq!(q["redirect_uri"], s.gw("/_auth/web/callback"));
    let state = &q["state"];
    assert!(state.len() == 32 && state.bytes().all(|c| c.is_ascii_alphanumeric()));
    let state_cookie = start
        .set_cookies
        .iter()
        .find(|c| c.starts_with("wxgate_state_"))
        .unwrap();
    assert!(state_cookie.contains("HttpOnly") && state_cookie.contains("SameSite=Lax"));
    assert!(
        !state_cookie.contains(state.as_str()),
        "the cookie is not the state"
    );

    let (page, trail) = b.open(&as_person(start.location().unwrap(), "alice")).await;
    assert_eq!(trail.len(), 2, "{trail:?}");
    assert!(trail[0].starts_with(&s.gw("/_auth/web/callback?code=")));
    assert_eq!(trail[1], s.gw("/api/page?tab=2"));
    for hop in &trail {
        assert!(!hop.contains("token"), "no token in a URL: {hop}");
    }
    assert_eq!(page.status, 200, "{}", page.body);
    let seen = page.json();
    let user_id = seen["headers"]["x-auth-user"].as_str().unwrap().to_string();
    assert_eq!(seen["headers"]["x-auth-channel"], "web");
    assert!(seen["headers"]["x-auth-unionid"].as_str().is_some());
    assert!(
        seen["headers"].get("cookie").is_none(),
        "no gateway cookie reaches the upstream: {seen}"
    );

    // Both session cookies, and the flow's cookie gone.
    let names = b.cookie_names(HOST);
    assert!(
        names.contains(&"wxgate".to_string()) && names.contains(&"wxgate_refresh".to_string()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("wxgate_state_")),
        "{names:?}"
    );

    // /me shows the profile WeChat reported.
    let me = s.me(&mut b).await;
    assert_eq!(me["id"], user_id.as_str());
    assert_eq!(me["nickname"], "爱丽丝");
    assert!(me["avatar_url"].as_str().unwrap().starts_with("https://"));
    assert_eq!(me["identities"][0]["channel"], "web");

    // Logout clears both cookies; the page is protected again.
    let out = b.request(&s.gw("/_auth/logout"), &[]).await;
    assert_eq!(out.status, 405, "logout is a POST");
    assert_eq!(out.header("allow"), Some("POST"));
    let cookie = format!(
        "wxgate={}; wxgate_refresh={}",
        b.cookie(HOST, "wxgate").unwrap(),
        b.cookie(HOST, "wxgate_refresh").unwrap()
    );
    let cross_site = tokio::task::block_in_place(|| {
        raw(
            s.gw.addr,
            &format!("POST /_auth/logout HTTP/1.1\r\nHost: t\r\nCookie: {cookie}\r\nOrigin: https://evil.example\r\nContent-Length: 0\r\n\r\n"),
        )
        .unwrap()
    });
    assert_eq!(cross_site.status, 403);
    assert!(
        cross_site.header("set-cookie").is_none(),
        "a cross-site form cannot log the user out"
    );
    let origin = format!("http://{}", s.gw.addr);
    let r = tokio::task::block_in_place(|| {
        raw(
            s.gw.addr,
            &format!("POST /_auth/logout HTTP/1.1\r\nHost: t\r\nCookie: {cookie}\r\nOrigin: {origin}\r\nContent-Length: 0\r\n\r\n"),
        )
        .unwrap()
    });
    assert_eq!(r.status, 204);
    let cleared: Vec<_> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("wxgate=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("wxgate_refresh=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    let after = b.get(&s.gw("/api/page")).await;
    assert_eq!(after.status, 302, "{}", after.body);

    // Neither the AppSecrets nor any session token reached the log.
    let logs = s.gw.logs();
    for (_, secret) in SECRETS {
        assert!(!logs.contains(secret), "{secret} leaked into the log");
    }
    assert!(!logs.contains(cookie.split('=').nth(1).unwrap().split(';').next().unwrap()));
}

/// The same QR login on an HTTPS listener: every cookie is `__Host-` with `Secure`, `Path=/`
/// and no `Domain`; the session cookie then carries the browser to the protected page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qr_login_over_https_sets_host_prefixed_secure_cookies() {
    const WEB_TLS: &str = "wx00000000000000c9";
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let http = reqwest::Client::new();
    let sim = simulator(&http).await;
    // WeChat checks the redirect domain: this site is `localhost`.
    control::post(&http, &sim.base_url(), "/_sim/apps", json!({"appid": WEB_TLS, "secret": "CANARY_APPSECRET_web_c9", "kind": "website", "open_platform": "op1", "redirect_domain": "localhost"})).await;
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let pki = wxgate_tests::tls::Pki::new(&db.dir, "gw");
    let cert = pki.issue("gw", &["localhost"], 30);
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .https(&cert, &pki.ca_file, "")
            .channel(Channel::open_qr(
                "web",
                WEB_TLS,
                "CANARY_APPSECRET_web_c9",
                &sim.base_url(),
            ))
            .route(Route::required("/qr/", upstream.addr).login_channel("web"))
            .start()
    });
    let site = format!("https://localhost:{}", gw.addr.port());
    let mut b = Browser::trusting(&pki.ca_file, "localhost", gw.addr);
    let host_only = |c: &str| {
        c.starts_with("__Host-")
            && c.contains("; Secure")
            && c.contains("Path=/")
            && !c.to_ascii_lowercase().contains("domain=")
    };

    let page = b.get(&format!("{site}/qr/orders")).await;
    assert_eq!(page.status, 302, "{}", page.body);
    let authorize = page.location().unwrap().to_string();
    let start = b.get(&format!("{site}{authorize}")).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let wechat = reqwest::Url::parse(start.location().unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = wechat.query_pairs().into_owned().collect();
    assert_eq!(q["redirect_uri"], format!("{site}/_auth/web/callback"));
    let state_cookie = start
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-wxgate_state_"))
        .unwrap_or_else(|| panic!("a __Host- state cookie: {:?}", start.set_cookies));
    assert!(host_only(state_cookie), "{state_cookie}");

    // WeChat's page sends the browser back to the HTTPS callback.
    let back = b.get(&as_person(start.location().unwrap(), "alice")).await;
    assert_eq!(back.status, 302, "{}", back.body);
    let callback = back.location().unwrap().to_string();
    assert!(
        callback.starts_with(&format!("{site}/_auth/web/callback?code=")),
        "{callback}"
    );
    let signed_in = b.get(&callback).await;
    assert_eq!(signed_in.status, 302, "{}", signed_in.body);
    assert_eq!(signed_in.location(), Some("/qr/orders"));
    let session: Vec<&String> = signed_in
        .set_cookies
        .iter()
        .filter(|c| c.starts_with("__Host-wxgate=") || c.starts_with("__Host-wxgate_refresh="))
        .collect();
    assert_eq!(session.len(), 2, "{:?}", signed_in.set_cookies);
    for c in &session {
        assert!(host_only(c) && c.contains("HttpOnly"), "{c}");
    }
    assert!(
        !signed_in
            .set_cookies
            .iter()
            .any(|c| c.starts_with("wxgate")),
        "no plain-named cookie over https: {:?}",
        signed_in.set_cookies
    );

    let page = b.get(&format!("{site}/qr/orders")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let seen = page.json();
    assert_eq!(seen["headers"]["x-auth-channel"], "web");
    assert_eq!(seen["headers"]["x-forwarded-proto"], "https");
    assert!(seen["headers"]["x-auth-user"].as_str().is_some());
    assert!(seen["headers"].get("cookie").is_none(), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_person_through_the_mini_program_the_official_account_and_qr_is_one_user() {
    let s = setup().await;
    let mp = s.mini_program_login("alice").await;
    let id = mp["user"]["id"].as_str().unwrap().to_string();

    let mut desktop = Browser::new();
    let (page, _) = s.sign_in(&mut desktop, "web", "alice", "/api/qr").await;
    assert_eq!(page.json()["headers"]["x-auth-user"], id.as_str());
    // Signing in again in the same browser starts a new session and ends the old one.
    let old_access = desktop.cookie(HOST, "wxgate").unwrap().to_string();
    let (again, _) = s.sign_in(&mut desktop, "web", "alice", "/api/qr").await;
    assert_eq!(again.json()["headers"]["x-auth-user"], id.as_str());
    assert_ne!(desktop.cookie(HOST, "wxgate").unwrap(), old_access);
    let refused = tokio::task::block_in_place(|| {
        wxgate_tests::gateway::call(s.gw.addr, "GET", "/api/qr", "", Some(&old_access))
    });
    assert_eq!(refused.status, 401, "the replaced session has ended");

    let mut phone =
        Browser::with_user_agent("Mozilla/5.0 (iPhone) AppleWebKit MicroMessenger/8.0.50");
    let (page, _) = s.sign_in(&mut phone, "oa", "alice", "/api/oa").await;
    assert_eq!(page.json()["headers"]["x-auth-user"], id.as_str());
    assert_eq!(page.json()["headers"]["x-auth-channel"], "oa");

    assert_eq!(s.users().await, 1);
    let me = s.me(&mut phone).await;
    let mut channels: Vec<_> = me["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["channel"].as_str().unwrap().to_string())
        .collect();
    channels.sort();
    assert_eq!(channels, ["mp", "oa", "web"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_silent_scope_gives_an_openid_only_and_the_userinfo_scope_a_profile() {
    let s = setup().await;
    let mut b = Browser::new();
    let (page, trail) = s.sign_in(&mut b, "oab", "bob", "/api/base").await;
    assert!(trail[0].contains("/_auth/oab/callback"), "{trail:?}");
    let wechat = s.gw("/_auth/oab/authorize?return_to=%2F");
    let start = Browser::new().get(&wechat).await;
    let q: std::collections::HashMap<_, _> = reqwest::Url::parse(start.location().unwrap())
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["scope"], "snsapi_base");
    let headers = &page.json()["headers"];
    assert!(
        headers.get("x-auth-unionid").is_none(),
        "snsapi_base gives no unionid"
    );
    let me = s.me(&mut b).await;
    assert_eq!(me["nickname"], Value::Null, "no profile without consent");
    assert_eq!(me["unionid"], Value::Null);

    let mut b2 = Browser::new();
    let (page, _) = s.sign_in(&mut b2, "oa", "bob", "/api/info").await;
    assert!(page.json()["headers"]["x-auth-unionid"].as_str().is_some());
    let me = s.me(&mut b2).await;
    assert_eq!(me["nickname"], "Bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_page_identity_creates_nothing_and_asks_for_the_full_page() {
    let s = setup().await;
    let mut b = Browser::with_user_agent("Mozilla/5.0 (iPhone) MicroMessenger/8.0.50");
    let before = s.users().await;
    let (page, trail) = s.sign_in(&mut b, "oa", "carol", "/api/x").await;
    assert_eq!(
        trail.len(),
        1,
        "the callback answers with a page: {trail:?}"
    );
    assert_eq!(page.status, 200);
    assert!(page.body.contains("使用完整服务"), "{}", page.body);
    assert!(page
        .body
        .contains("/_auth/oa/authorize?return_to=%2Fapi%2Fx"));
    assert!(page.set_cookie("wxgate").is_none(), "no session");
    assert!(b.cookie(HOST, "wxgate").is_none());
    assert_eq!(s.users().await, before, "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_consent_creates_nothing_and_returns_to_the_login_page_with_a_reason() {
    let s = setup().await;
    let mut b = Browser::new();
    let start = b
        .get(&s.gw("/_auth/oa/authorize?return_to=%2Fapi%2Fx"))
        .await;
    let mut refusal = reqwest::Url::parse(&as_person(start.location().unwrap(), "alice")).unwrap();
    refusal.query_pairs_mut().append_pair("sim_deny", "1");
    let (page, trail) = b.open(refusal.as_str()).await;
    assert_eq!(
        trail[1],
        s.gw("/_auth/login?return_to=%2Fapi%2Fx&error=declined"),
        "{trail:?}"
    );
    assert_eq!(page.status, 200);
    assert!(page.body.contains("declined"), "{}", page.body);
    assert!(b.cookie(HOST, "wxgate").is_none());
    assert_eq!(s.users().await, 0);
    // The refused flow's state is spent: replaying its callback finds nothing.
    let replay = b.get(&trail[0]).await;
    assert_eq!(replay.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_replayed_and_other_browsers_states_are_refused_and_create_nothing() {
    let s = setup().await;
    let mut b = Browser::new();
    let start = b
        .get(&s.gw("/_auth/web/authorize?return_to=%2Fapi%2Fx"))
        .await;
    let to_callback = b.get(&as_person(start.location().unwrap(), "alice")).await;
    let callback = to_callback.location().unwrap().to_string();

    // The callback in another browser (no flow cookie): refused, and the flow survives.
    let mut other = Browser::new();
    let stolen = other.get(&callback).await;
    assert_eq!(stolen.status, 400);
    assert!(stolen.body.contains("invalid_state"), "{}", stolen.body);
    assert_eq!(s.users().await, 0);

    // Without a state at all (as JSON for an API client).
    let no_state = tokio::task::block_in_place(|| {
        wxgate_tests::gateway::call(s.gw.addr, "GET", "/_auth/web/callback?code=abc", "", None)
    });
    assert_eq!(no_state.status, 400);
    assert_eq!(no_state.json()["error"], "invalid_state");

    // The real browser completes; replaying the same callback creates nothing more.
    let done = b.get(&callback).await;
    assert_eq!(done.status, 302);
    assert_eq!(done.location(), Some("/api/x"));
    assert_eq!(s.users().await, 1);
    let sessions_before = sessions(&s).await;
    let replay = b.get(&callback).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(replay.body.contains("invalid_state"));
    assert_eq!(s.users().await, 1);
    assert_eq!(
        sessions(&s).await,
        sessions_before,
        "a replayed callback starts no session"
    );
}

async fn sessions(s: &Setup) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) AS n FROM sessions")
        .fetch_one(s.db.db.pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_uri_comes_from_public_url_never_from_request_headers() {
    let s = setup().await;
    let r = tokio::task::block_in_place(|| {
        raw(
            s.gw.addr,
            "GET /_auth/web/authorize?return_to=/x HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nForwarded: host=evil.example\r\n\r\n",
        )
        .unwrap()
    });
    assert_eq!(r.status, 302);
    let location = reqwest::Url::parse(r.header("location").unwrap()).unwrap();
    let redirect_uri = location
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(redirect_uri, s.gw("/_auth/web/callback"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_return_paths_end_at_the_root() {
    let s = setup().await;
    for hostile in [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "/%2F%2Fevil.example",
    ] {
        let mut b = Browser::new();
        let (_, trail) = s.sign_in(&mut b, "web", "alice", hostile).await;
        assert_eq!(trail.last().unwrap(), &s.gw("/"), "{hostile}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_send_browsers_to_their_channel_or_the_login_page_and_api_clients_get_401() {
    let s = setup().await;
    let mut b = Browser::new();
    let direct = b.get(&s.gw("/qr/dash")).await;
    assert_eq!(direct.status, 302);
    assert_eq!(
        direct.location(),
        Some("/_auth/web/authorize?return_to=%2Fqr%2Fdash")
    );
    let api = tokio::task::block_in_place(|| {
        wxgate_tests::gateway::call(s.gw.addr, "GET", "/api/x", "", None)
    });
    assert_eq!(api.status, 401);
    assert_eq!(api.json()["error"], "unauthorized");

    // Inside WeChat the login page goes straight to the official account.
    let mut wechat = Browser::with_user_agent("Mozilla/5.0 (iPhone) MicroMessenger/8.0.50");
    let login = wechat.get(&s.gw("/_auth/login?return_to=%2Fapi%2Fx")).await;
    assert_eq!(login.status, 302);
    assert_eq!(
        login.location(),
        Some("/_auth/oa/authorize?return_to=%2Fapi%2Fx")
    );
    // …unless it is back from a refusal.
    let back = wechat
        .get(&s.gw("/_auth/login?return_to=%2Fapi%2Fx&error=declined"))
        .await;
    assert_eq!(back.status, 200);
    // A hostile return_to is never reflected.
    let page = b
        .get(&s.gw("/_auth/login?return_to=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E"))
        .await;
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(page.body.contains("return_to=%2F\""), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_utf8_sibling_cookie_neither_hides_the_session_nor_lets_it_through() {
    let s = setup().await;
    let mut b = Browser::new();
    let (page, _) = s.sign_in(&mut b, "web", "alice", "/api/x").await;
    let id = page.json()["headers"]["x-auth-user"]
        .as_str()
        .unwrap()
        .to_string();
    let access = b.cookie(HOST, "wxgate").unwrap().to_string();
    let refresh = b.cookie(HOST, "wxgate_refresh").unwrap().to_string();
    let request = format!(
        "GET /api/x HTTP/1.1\r\nHost: t\r\nCookie: theme=暗色; wxgate={access}; lang=中文; wxgate_refresh={refresh}\r\n\r\n"
    );
    let r = tokio::task::block_in_place(|| raw(s.gw.addr, &request).unwrap());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let seen = r.json();
    assert_eq!(seen["headers"]["x-auth-user"], id.as_str());
    assert_eq!(seen["headers"]["cookie"], "theme=暗色; lang=中文");
}
