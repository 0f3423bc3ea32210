//! Mini-program scan-to-login end to end: a browser opens a ticket and shows the mini-program
//! code, the test plays the mini-program (the simulator hands it `wx.login` codes) and confirms,
//! and the browser picks its session up, once. On SQLite, PostgreSQL and MariaDB, with a second
//! replica, and against tickets that are expired, cancelled, replayed, confirmed with a reused
//! code or an openid, or asked about by another browser.

use serde_json::{json, Value};
use std::time::Duration;
use wxgate_core::identity::history::count_live_users;
use wxgate_tests::control;
use wxgate_tests::gateway::{call, Channel, GatewayBuilder, RawResponse, Route, TestGateway};
use wxgate_tests::web::Browser;
use wxgate_tests::world::World;
use wxgate_tests::{Backend, TestDb};

const MP: &str = "wx00000000000000f1";
const SECRET: &str = "CANARY_APPSECRET_mp_f1";

struct Setup {
    gw: TestGateway,
    gateway: GatewayBuilder,
    sim: wxgate_sim::SimHandle,
    http: reqwest::Client,
    db: TestDb,
    _upstream: wxgate_sim::SimHandle,
}

async fn setup(
    backend: Backend,
    scan: &str,
    shape: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
) -> Option<Setup> {
    let db = TestDb::new(backend).await?;
    let world = World::start().await;
    world.mini_program(MP, SECRET, Some("op1")).await;
    for name in ["alice", "bob"] {
        world.person(name, None).await;
    }
    let s = world.base();
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let gateway = shape(TestGateway::builder(&db.url, &db.dir))
        .channel(Channel::mini_program("mp", MP, SECRET, &s).with(&format!(
            "scan_login = {{ page = \"pages/login/scan\"{scan} }}"
        )))
        .route(Route::required("/api/", upstream.addr));
    let gw = tokio::task::block_in_place(|| gateway.start());
    let World { sim, http } = world;
    Some(Setup {
        gw,
        gateway,
        sim,
        http,
        db,
        _upstream: upstream,
    })
}

const JSON: [(&str, &str); 1] = [("accept", "application/json")];

impl Setup {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gw.addr)
    }

    /// A browser opens a ticket: its JSON answer.
    async fn open(&self, b: &mut Browser) -> Value {
        let page = b
            .request(&self.url("/_auth/mp/scan?return_to=%2Fapi%2Fx"), &JSON)
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.json()
    }

    async fn status(&self, b: &mut Browser) -> (u16, Value, Vec<String>) {
        let page = b.request(&self.url("/_auth/mp/scan/status"), &JSON).await;
        let body = serde_json::from_str(&page.body).unwrap_or(Value::Null);
        (page.status, body, page.set_cookies)
    }

    /// The scene the browser's code carries, read off its image as a phone reads it.
    async fn scene_on_screen(&self, b: &mut Browser, opened: &Value) -> String {
        let (status, content_type, png) = b.bytes(&self.url(opened["qr"].as_str().unwrap())).await;
        assert_eq!(status, 200);
        assert_eq!(content_type.as_deref(), Some("image/png"));
        wxgate_sim::scene_of_code(&png).expect("a code that carries its scene")
    }

    async fn wx_login_code(&self, user: &str) -> String {
        let v = control::post(
            &self.http,
            &self.sim.base_url(),
            "/_sim/login_code",
            json!({"appid": MP, "user": user}),
        )
        .await;
        v["code"].as_str().unwrap().to_string()
    }

    /// What the mini-program page posts about a ticket.
    fn act(&self, on: &TestGateway, action: &str, body: Value) -> RawResponse {
        let body = body.to_string();
        tokio::task::block_in_place(|| {
            call(
                on.addr,
                "POST",
                &format!("/_auth/mp/scan/{action}"),
                &body,
                None,
            )
        })
    }

    async fn users(&self) -> i64 {
        count_live_users(&self.db.db).await.unwrap()
    }
}

/// The whole way: open, show the code, scanned (where it was started, shown on the phone),
/// confirmed with a fresh code, the session picked up once, the same person as the
/// mini-program's own login. Polling costs WeChat nothing.
async fn a_scan_login(backend: Backend) {
    let Some(s) = setup(backend, "", |b| b).await else {
        return;
    };
    let mut browser = Browser::new();
    let opened = s.open(&mut browser).await;
    let scene = opened["scene"].as_str().unwrap().to_string();
    assert_eq!(scene.len(), 32);
    assert!(opened["expires_in"].as_u64().unwrap() > 100);
    assert_eq!(s.scene_on_screen(&mut browser, &opened).await, scene);
    let calls = control::get(&s.http, &s.sim.base_url(), "/_sim/calls").await;
    for _ in 0..5 {
        let (status, body, _) = s.status(&mut browser).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("waiting")));
    }
    // The code image, shown once already, comes from the gateway's copy.
    let (status, _, image) = browser.bytes(&s.url(opened["qr"].as_str().unwrap())).await;
    assert_eq!(status, 200);
    assert!(image.starts_with(b"\x89PNG"));
    assert_eq!(
        control::get(&s.http, &s.sim.base_url(), "/_sim/calls").await,
        calls,
        "polling and showing the code again call nobody"
    );

    let scanned = s.act(&s.gw, "scanned", json!({ "scene": scene }));
    assert_eq!(
        scanned.status,
        200,
        "{}",
        String::from_utf8_lossy(&scanned.body)
    );
    let from = &scanned.json()["started_from"];
    assert_eq!(from["ip"], "127.0.*.*", "masked");
    assert!(
        from["user_agent"].as_str().unwrap().contains("Chrome"),
        "{from}"
    );
    assert_eq!(s.status(&mut browser).await.1["status"], "scanned");

    let code = s.wx_login_code("alice").await;
    let confirmed = s.act(&s.gw, "confirm", json!({ "scene": scene, "code": code }));
    assert_eq!(
        confirmed.status,
        200,
        "{}",
        String::from_utf8_lossy(&confirmed.body)
    );
    assert_eq!(confirmed.json()["status"], "confirmed");

    // A copy of the ticket cookie, taken before the pick-up, for the replay below.
    let mut copy = Browser::new();
    let ticket_cookie = browser
        .cookie("127.0.0.1", "wxgate_ticket_mp")
        .unwrap()
        .to_string();
    copy.put_cookie("127.0.0.1", "wxgate_ticket_mp", &ticket_cookie);
    let (status, body, cookies) = s.status(&mut browser).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "confirmed", "return_to": "/api/x"}));
    assert!(
        cookies.iter().any(|c| c.starts_with("wxgate=ey")),
        "{cookies:?}"
    );
    let page = browser.get(&s.url("/api/x")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let user = page.json()["headers"]["x-auth-user"].clone();
    assert_eq!(page.json()["headers"]["x-auth-channel"], "mp");
    // Delivered once: its cookie is gone, and a copy of it picks up nothing.
    let (status, _, cookies) = s.status(&mut browser).await;
    assert_eq!(status, 400);
    assert!(!cookies.iter().any(|c| c.starts_with("wxgate=ey")));
    let (status, replayed, cookies) = s.status(&mut copy).await;
    assert_eq!((status, &replayed["status"]), (200, &json!("expired")));
    assert!(
        !cookies.iter().any(|c| c.starts_with("wxgate=ey")),
        "{cookies:?}"
    );
    // The mini-program's own login finds the same person.
    let code = s.wx_login_code("alice").await;
    let body = json!({ "code": code }).to_string();
    let direct =
        tokio::task::block_in_place(|| call(s.gw.addr, "POST", "/_auth/mp/login", &body, None));
    assert_eq!(direct.json()["user"]["id"], user);
    assert_eq!(s.users().await, 1);
}

/// The ticket lives in the shared database: confirmed through replica B, picked up on A.
async fn a_ticket_confirmed_on_one_replica_is_picked_up_on_another(backend: Backend) {
    let Some(s) = setup(backend, "", |b| b).await else {
        return;
    };
    let b_replica = tokio::task::block_in_place(|| s.gateway.start());
    let mut browser = Browser::new();
    let opened = s.open(&mut browser).await;
    let scene = opened["scene"].as_str().unwrap();
    assert_eq!(
        s.act(&b_replica, "scanned", json!({ "scene": scene }))
            .status,
        200
    );
    let code = s.wx_login_code("bob").await;
    let confirmed = s.act(
        &b_replica,
        "confirm",
        json!({ "scene": scene, "code": code }),
    );
    assert_eq!(
        confirmed.status,
        200,
        "{}",
        String::from_utf8_lossy(&confirmed.body)
    );
    let (status, body, _) = s.status(&mut browser).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("confirmed")),
        "{body}"
    );
    assert_eq!(browser.get(&s.url("/api/x")).await.status, 200);
}

fn refused(r: &RawResponse, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"], code);
}

/// Everything that must not work, and creates nothing when it does not.
async fn tickets_that_must_not_log_anyone_in(backend: Backend) {
    let Some(s) = setup(backend, ", ttl = \"30s\"", |b| b).await else {
        return;
    };
    // Expired: opened first, judged last, after its 30 s.
    let mut late = Browser::new();
    let stale = s.open(&mut late).await["scene"]
        .as_str()
        .unwrap()
        .to_string();
    let waited = tokio::time::Instant::now();

    // Cancelled: the ticket ends, the browser is told, a confirmation after it is refused.
    let mut browser = Browser::new();
    let scene = s.open(&mut browser).await["scene"]
        .as_str()
        .unwrap()
        .to_string();
    let cancelled = s.act(&s.gw, "cancel", json!({ "scene": scene }));
    assert_eq!(cancelled.json()["status"], "cancelled");
    assert_eq!(s.status(&mut browser).await.1["status"], "cancelled");
    let code = s.wx_login_code("alice").await;
    refused(
        &s.act(&s.gw, "confirm", json!({ "scene": scene, "code": code })),
        400,
        "invalid_state",
    );

    // A confirmation with an openid (or anything but a fresh code) is never believed.
    let mut browser = Browser::new();
    let scene = s.open(&mut browser).await["scene"]
        .as_str()
        .unwrap()
        .to_string();
    let openid = control::get(
        &s.http,
        &s.sim.base_url(),
        &format!("/_sim/identity?appid={MP}&user=alice"),
    )
    .await["openid"]
        .clone();
    refused(
        &s.act(
            &s.gw,
            "confirm",
            json!({ "scene": scene, "openid": openid }),
        ),
        400,
        "invalid_request",
    );
    refused(
        &s.act(
            &s.gw,
            "confirm",
            json!({ "scene": scene, "user_id": "u_x", "code": "abc" }),
        ),
        400,
        "invalid_request",
    );
    // A code already spent (on the mini-program's own login) is refused, and the ticket waits.
    let spent = s.wx_login_code("alice").await;
    let body = json!({ "code": spent }).to_string();
    let first =
        tokio::task::block_in_place(|| call(s.gw.addr, "POST", "/_auth/mp/login", &body, None));
    assert_eq!(first.status, 200);
    refused(
        &s.act(&s.gw, "confirm", json!({ "scene": scene, "code": spent })),
        401,
        "invalid_code",
    );
    assert_eq!(s.status(&mut browser).await.1["status"], "waiting");

    // Another browser, without the ticket's cookie or with a forged one, learns nothing.
    let mut other = Browser::new();
    let (status, _, _) = s.status(&mut other).await;
    assert_eq!(status, 400);
    other.put_cookie(
        "127.0.0.1",
        "wxgate_ticket_mp",
        &format!("{scene}.ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"),
    );
    assert_eq!(s.status(&mut other).await.0, 400);
    let (qr_status, _, _) = other.bytes(&s.url("/_auth/mp/scan/qr")).await;
    assert_eq!(qr_status, 400);
    // The owner still can: confirmed, delivered once, then replayed in vain.
    let code = s.wx_login_code("bob").await;
    assert_eq!(
        s.act(&s.gw, "confirm", json!({ "scene": scene, "code": code }))
            .status,
        200
    );
    assert_eq!(
        s.status(&mut other).await.0,
        400,
        "not even once it is confirmed"
    );
    assert_eq!(s.status(&mut browser).await.1["status"], "confirmed");
    let users_after = s.users().await;
    let code = s.wx_login_code("alice").await;
    refused(
        &s.act(&s.gw, "confirm", json!({ "scene": scene, "code": code })),
        400,
        "invalid_state",
    );
    refused(
        &s.act(&s.gw, "scanned", json!({ "scene": scene })),
        400,
        "invalid_state",
    );
    refused(
        &s.act(
            &s.gw,
            "scanned",
            json!({ "scene": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }),
        ),
        400,
        "invalid_state",
    );

    // Expired: gone for its browser and for the mini-program alike.
    tokio::time::sleep(Duration::from_secs(31).saturating_sub(waited.elapsed())).await;
    assert_eq!(s.status(&mut late).await.1["status"], "expired");
    let code = s.wx_login_code("bob").await;
    refused(
        &s.act(&s.gw, "confirm", json!({ "scene": stale, "code": code })),
        400,
        "invalid_state",
    );
    assert_eq!(
        s.users().await,
        users_after,
        "nothing created by any refusal"
    );
}

per_backend!(
    a_scan_login,
    a_ticket_confirmed_on_one_replica_is_picked_up_on_another,
    tickets_that_must_not_log_anyone_in,
);

/// A waiting page reloads every 2 s without script; its polls are capped per ticket, and polls
/// that find no ticket of theirs per network: a stranger behind the same address spending the
/// network's polls does not stop another waiting page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_page_refreshes_itself_and_polls_are_capped() {
    let s = setup(Backend::Sqlite, "", |b| {
        b.limits("ticket_polls_per_minute = 3")
    })
    .await
    .unwrap();
    let mut browser = Browser::new();
    let page = browser
        .get(&s.url("/_auth/mp/scan?return_to=%2Fapi%2Fx"))
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("http-equiv=\"refresh\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("/_auth/mp/scan/status"));
    assert!(page
        .body
        .contains("<img id=\"code\" src=\"/_auth/mp/scan/qr?v="));
    assert!(!page.body.contains("<script"));
    for _ in 0..3 {
        assert_eq!(
            browser.get(&s.url("/_auth/mp/scan/status")).await.status,
            200
        );
    }
    let capped = browser.get(&s.url("/_auth/mp/scan/status")).await;
    assert_eq!(capped.status, 429);
    assert!(capped.header("retry-after").is_some());

    let mut stranger = Browser::new();
    for _ in 0..3 {
        let r = stranger.get(&s.url("/_auth/mp/scan/status")).await;
        assert_ne!(r.status, 429, "{}", r.body);
    }
    assert_eq!(
        stranger.get(&s.url("/_auth/mp/scan/status")).await.status,
        429,
        "ticketless polls are capped per network"
    );
    let mut neighbour = Browser::new();
    let page = neighbour
        .get(&s.url("/_auth/mp/scan?return_to=%2Fapi%2Fx"))
        .await;
    assert_eq!(page.status, 200);
    for _ in 0..3 {
        assert_eq!(
            neighbour.get(&s.url("/_auth/mp/scan/status")).await.status,
            200,
            "the neighbour's own ticket is not the stranger's to spend"
        );
    }
}

/// WeChat's refusals to make the code, judged by the body as well as the type: 502, nothing
/// shown; a stale access_token is replaced once and the code made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_wechat_refuses_to_make_is_a_502() {
    let s = setup(Backend::Sqlite, "", |b| b).await.unwrap();
    let path = "/wxa/getwxacodeunlimit";
    for fault in [
        json!({"path": path, "errcode": 41030, "times": 1}),
        json!({"path": path, "errcode": 40169, "times": 1}),
        json!({"path": path, "broken": "json_as_image", "times": 1}),
    ] {
        let mut browser = Browser::new();
        let opened = s.open(&mut browser).await;
        control::post(&s.http, &s.sim.base_url(), "/_sim/faults", fault.clone()).await;
        let (status, _, body) = browser.bytes(&s.url(opened["qr"].as_str().unwrap())).await;
        assert_eq!(status, 502, "{fault}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "upstream_unavailable", "{fault}");
    }
    assert!(
        s.gw.logs().contains("errcode 41030"),
        "the errcode is logged"
    );
    let mut browser = Browser::new();
    let opened = s.open(&mut browser).await;
    control::post(
        &s.http,
        &s.sim.base_url(),
        "/_sim/faults",
        json!({"path": path, "errcode": 40001, "times": 1}),
    )
    .await;
    assert_eq!(
        s.scene_on_screen(&mut browser, &opened).await,
        opened["scene"]
    );
}
