//! The mini-program channel end to end: the gateway binary, the WeChat simulator and an echo
//! upstream on loopback.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wxgate_core::identity::history::count_live_users;
use wxgate_tests::control;
use wxgate_tests::gateway::{call, raw, RawResponse, TestGateway};
use wxgate_tests::gateway::{Channel, Route};
use wxgate_tests::world::World;
use wxgate_tests::{Backend, TestDb};

const MP: &str = "wx00000000000000a1";
const MP2: &str = "wx00000000000000a2";
const SECRET: &str = "CANARY_APPSECRET_mp_9f3kq";
const SECRET2: &str = "CANARY_APPSECRET_mp2_x7t2";

struct Setup {
    gw: TestGateway,
    sim: wxgate_sim::SimHandle,
    http: reqwest::Client,
    db: TestDb,
    _upstream: wxgate_sim::SimHandle,
}

async fn setup() -> Setup {
    setup_with("").await
}

/// A gateway whose `[tokens]` table also holds `tokens_toml`; WeChat calls time out at 1 s.
async fn setup_with(tokens_toml: &str) -> Setup {
    setup_timing_out(tokens_toml, "1s").await
}

/// As [`setup_with`], WeChat calls timing out at `timeout`.
async fn setup_timing_out(tokens_toml: &str, timeout: &str) -> Setup {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let world = World::start().await;
    for (appid, secret) in [(MP, SECRET), (MP2, SECRET2)] {
        world.mini_program(appid, secret, Some("op1")).await;
    }
    world.person("alice", Some("13800138000")).await;
    world.person("bob", Some("13900139000")).await;
    let s = world.base();
    let World { sim, http } = world;
    let gw = tokio::task::block_in_place(|| {
        TestGateway::builder(&db.url, &db.dir)
            .tokens(tokens_toml)
            .channel(
                Channel::mini_program("mp", MP, SECRET, &s)
                    .with(&format!("timeout = \"{timeout}\"")),
            )
            .channel(
                Channel::mini_program("mp2", MP2, SECRET2, &s)
                    .with(&format!("timeout = \"{timeout}\"")),
            )
            .route(Route::required("/api/", upstream.addr))
            .start()
    });
    Setup {
        gw,
        sim,
        http,
        db,
        _upstream: upstream,
    }
}

impl Setup {
    async fn code(&self, appid: &str, user: &str) -> String {
        let v = control::post(
            &self.http,
            &self.sim.base_url(),
            "/_sim/login_code",
            json!({"appid": appid, "user": user}),
        )
        .await;
        v["code"].as_str().unwrap().to_string()
    }

    async fn phone_code(&self, appid: &str, user: &str) -> String {
        let v = control::post(
            &self.http,
            &self.sim.base_url(),
            "/_sim/phone_code",
            json!({"appid": appid, "user": user}),
        )
        .await;
        v["code"].as_str().unwrap().to_string()
    }

    async fn calls(&self, path: &str) -> u64 {
        let v = control::get(&self.http, &self.sim.base_url(), "/_sim/calls").await;
        v[path].as_u64().unwrap_or(0)
    }

    async fn fault(&self, body: Value) {
        control::post(&self.http, &self.sim.base_url(), "/_sim/faults", body).await;
    }

    fn send(&self, path: &str, body: &str, bearer: Option<&str>) -> RawResponse {
        tokio::task::block_in_place(|| call(self.gw.addr, "POST", path, body, bearer))
    }

    fn login(&self, channel: &str, body: Value) -> RawResponse {
        self.send(&format!("/_auth/{channel}/login"), &body.to_string(), None)
    }

    async fn users(&self) -> i64 {
        count_live_users(&self.db.db).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_login_creates_second_finds_and_the_upstream_sees_the_openid() {
    let s = setup().await;
    let first = s.login("mp", json!({"code": s.code(MP, "alice").await}));
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let a = first.json();
    assert_eq!(a["token_type"], "Bearer");
    assert_eq!(a["user"]["is_new"], true);
    assert!(a["user"]["unionid"].as_str().unwrap().starts_with('o'));
    assert_eq!(a["user"]["phone"], Value::Null, "no phone was proved");
    let second = s
        .login("mp", json!({"code": s.code(MP, "alice").await}))
        .json();
    assert_eq!(second["user"]["is_new"], false);
    assert_eq!(second["user"]["id"], a["user"]["id"]);
    let identity: Value = s
        .http
        .get(format!(
            "{}/_sim/identity?appid={MP}&user=alice",
            s.sim.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = second["access_token"].as_str().unwrap();
    let req = format!("GET /api/x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\r\n");
    let seen = tokio::task::block_in_place(|| raw(s.gw.addr, &req))
        .unwrap()
        .json();
    assert_eq!(seen["headers"]["x-auth-openid"], identity["openid"]);
    assert_eq!(seen["headers"]["x-auth-channel"], "mp");
    assert_eq!(s.users().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_unionid_through_two_mini_programs_is_one_user() {
    let s = setup().await;
    let a = s
        .login("mp", json!({"code": s.code(MP, "bob").await}))
        .json();
    let b = s
        .login("mp2", json!({"code": s.code(MP2, "bob").await}))
        .json();
    assert_eq!(a["user"]["id"], b["user"]["id"]);
    assert_eq!(b["user"]["is_new"], false);
    let me = s.send("/_auth/me", "", None);
    assert_eq!(me.status, 405, "me is a GET");
    assert_eq!(
        me.header("allow"),
        Some("GET, DELETE"),
        "RFC 9110 wants Allow"
    );
    let req = format!(
        "GET /_auth/me HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\r\n",
        b["access_token"].as_str().unwrap()
    );
    let me = tokio::task::block_in_place(|| raw(s.gw.addr, &req))
        .unwrap()
        .json();
    assert_eq!(me["user"]["identities"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_and_invalid_codes_are_refused_and_create_nothing() {
    let s = setup().await;
    let code = s.code(MP, "alice").await;
    assert_eq!(s.login("mp", json!({"code": code})).status, 200);
    let users = s.users().await;
    let again = s.login("mp", json!({"code": code}));
    assert_eq!(again.status, 401);
    assert_eq!(again.json()["error"], "invalid_code");
    assert_eq!(
        s.calls("/sns/jscode2session").await,
        1,
        "the replay was refused before calling WeChat"
    );
    let unknown = s.login("mp", json!({"code": "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"}));
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.json()["error"], "invalid_code");
    // A code minted for the other mini-program is refused by WeChat too.
    let other = s.login("mp", json!({"code": s.code(MP2, "alice").await}));
    assert_eq!(other.json()["error"], "invalid_code");
    assert_eq!(s.users().await, users, "no user was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_clear_400s() {
    let s = setup().await;
    for body in [
        "",
        "{",
        "[]",
        "{}",
        "{\"code\":42}",
        "{\"code\":\"a b\"}",
        "{\"code\":\"abc\",\"admin\":true}",
    ] {
        let r = s.send("/_auth/mp/login", body, None);
        assert_eq!(r.status, 400, "{body:?}");
        assert_eq!(r.json()["error"], "invalid_request", "{body:?}");
    }
    assert_eq!(
        s.send("/_auth/mp/authorize", "{}", None).json()["error"],
        "invalid_request"
    );
    assert_eq!(s.send("/_auth/nope/login", "{}", None).status, 404);
    assert_eq!(s.calls("/sns/jscode2session").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_wechat_is_retried_then_reported() {
    let s = setup().await;
    s.fault(json!({"path": "/sns/jscode2session", "errcode": -1, "times": 1}))
        .await;
    let ok = s.login("mp", json!({"code": s.code(MP, "alice").await}));
    assert_eq!(ok.status, 200, "-1 once: the retry succeeds");
    s.fault(json!({"path": "/sns/jscode2session", "errcode": -1}))
        .await;
    let started = Instant::now();
    let busy = s.login("mp", json!({"code": s.code(MP, "alice").await}));
    assert_eq!(busy.status, 502);
    assert_eq!(busy.json()["error"], "upstream_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_risk_control_map_to_429_and_403() {
    let s = setup().await;
    s.fault(json!({"path": "/sns/jscode2session", "errcode": 45011, "times": 1}))
        .await;
    let limited = s.login("mp", json!({"code": s.code(MP, "alice").await}));
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json()["error"], "rate_limited");
    assert!(limited.header("retry-after").is_some());
    control::post(
        &s.http,
        &s.sim.base_url(),
        "/_sim/users/bob/flags",
        json!({"high_risk": true}),
    )
    .await;
    let blocked = s.login("mp", json!({"code": s.code(MP, "bob").await}));
    assert_eq!(blocked.status, 403);
    assert_eq!(blocked.json()["error"], "login_blocked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_wechat_call_is_cut_by_the_timeout_and_not_retried() {
    let s = setup().await;
    s.fault(json!({"path": "/sns/jscode2session", "delay_ms": 4000, "times": 1}))
        .await;
    let started = Instant::now();
    let r = s.login("mp", json!({"code": s.code(MP, "alice").await}));
    assert_eq!(r.status, 502);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        s.calls("/sns/jscode2session").await,
        1,
        "a timed-out code exchange is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_login_binds_the_verified_phone() {
    let s = setup().await;
    let r = s.login(
        "mp",
        json!({"code": s.code(MP, "alice").await, "phone_code": s.phone_code(MP, "alice").await}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let a = r.json();
    assert_eq!(a["user"]["phone"], "+8613800138000");
    // Later, bob logs in without a phone, then proves it through /phone.
    let b = s
        .login("mp", json!({"code": s.code(MP, "bob").await}))
        .json();
    assert_eq!(b["user"]["phone"], Value::Null);
    let token = b["access_token"].as_str().unwrap();
    let bound = s.send(
        "/_auth/mp/phone",
        &json!({"code": s.phone_code(MP, "bob").await}).to_string(),
        Some(token),
    );
    assert_eq!(
        bound.status,
        200,
        "{}",
        String::from_utf8_lossy(&bound.body)
    );
    assert_eq!(bound.json()["user"]["phone"], "+8613900139000");
    assert_eq!(bound.json()["user"]["id"], b["user"]["id"]);
    // Without a session, /phone is refused; a phone code is single-use.
    let code = s.phone_code(MP, "bob").await;
    assert_eq!(
        s.send("/_auth/mp/phone", &json!({"code": code}).to_string(), None)
            .status,
        401
    );
    // A phone code issued to alice is not bob's to use (WeChat checks it against bob's openid).
    let alice_code = s.phone_code(MP, "alice").await;
    let stolen = s.send(
        "/_auth/mp/phone",
        &json!({"code": alice_code}).to_string(),
        Some(token),
    );
    assert_eq!(stolen.status, 401);
    assert_eq!(stolen.json()["error"], "invalid_code");
    // alice's WeChat now reports bob's number: under the default policy that is a 409.
    control::post(
        &s.http,
        &s.sim.base_url(),
        "/_sim/users/alice/phone",
        json!({"phone": "13900139000"}),
    )
    .await;
    let alice_token = a["access_token"].as_str().unwrap();
    let code = s.phone_code(MP, "alice").await;
    let conflict = s.send(
        "/_auth/mp/phone",
        &json!({"code": code}).to_string(),
        Some(alice_token),
    );
    assert_eq!(
        conflict.status,
        409,
        "{}",
        String::from_utf8_lossy(&conflict.body)
    );
    assert_eq!(conflict.json()["error"], "phone_conflict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_phone_logins_fetch_one_access_token() {
    // Twenty logins at once on the harness's one debug-logging worker: a 1 s WeChat timeout
    // measured the machine's speed (it failed on a 2-core runner), not the token lease.
    let s = setup_timing_out("", "5s").await;
    let mut bodies = Vec::new();
    for i in 0..20 {
        let name = format!("u{i}");
        control::post(
            &s.http,
            &s.sim.base_url(),
            "/_sim/users",
            json!({"name": name, "phone": format!("1370000{:04}", i)}),
        )
        .await;
        bodies.push(
            json!({"code": s.code(MP, &name).await, "phone_code": s.phone_code(MP, &name).await})
                .to_string(),
        );
    }
    let addr = s.gw.addr;
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            tokio::task::spawn_blocking(move || {
                let req = format!("POST /_auth/mp/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                let r = raw(addr, &req).unwrap();
                (r.status, String::from_utf8_lossy(&r.body).into_owned())
            })
        })
        .collect();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    assert!(
        s.calls("/cgi-bin/stable_token").await <= 1,
        "at most one access_token fetch"
    );
    assert_eq!(s.users().await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_access_token_is_refreshed_once() {
    let s = setup().await;
    let first = s.login(
        "mp",
        json!({"code": s.code(MP, "alice").await, "phone_code": s.phone_code(MP, "alice").await}),
    );
    assert_eq!(first.status, 200);
    s.fault(json!({"path": "/wxa/business/getuserphonenumber", "errcode": 40001, "times": 1}))
        .await;
    let second = s.login(
        "mp",
        json!({"code": s.code(MP, "bob").await, "phone_code": s.phone_code(MP, "bob").await}),
    );
    assert_eq!(
        second.status,
        200,
        "{}",
        String::from_utf8_lossy(&second.body)
    );
    assert_eq!(second.json()["user"]["phone"], "+8613900139000");
    assert_eq!(
        s.calls("/cgi-bin/stable_token").await,
        2,
        "one fetch, one forced refresh"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_responses_or_logs() {
    let s = setup().await;
    let mut bodies = Vec::new();
    bodies.push(s.login("mp", json!({"code": s.code(MP, "alice").await, "phone_code": s.phone_code(MP, "alice").await})).body);
    s.fault(json!({"path": "/sns/jscode2session", "errcode": 40125, "times": 1}))
        .await;
    bodies.push(
        s.login("mp", json!({"code": s.code(MP, "alice").await}))
            .body,
    );
    s.fault(json!({"path": "/sns/jscode2session", "delay_ms": 3000, "times": 1}))
        .await;
    bodies.push(
        s.login("mp", json!({"code": s.code(MP, "alice").await}))
            .body,
    );
    let logs = s.gw.logs();
    assert!(
        logs.contains("jscode2session"),
        "the logs are captured at debug level"
    );
    for text in bodies
        .iter()
        .map(|b| String::from_utf8_lossy(b).to_string())
        .chain([logs])
    {
        assert!(
            !text.contains("CANARY_APPSECRET"),
            "app secret leaked: {text}"
        );
        assert!(!text.contains("session_key"), "session_key leaked: {text}");
        assert!(!text.contains("js_code="), "a WeChat URL leaked: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_encrypted_phone_payload_is_accepted_and_checked() {
    let s = setup().await;
    let login = s
        .login("mp", json!({"code": s.code(MP, "bob").await}))
        .json();
    let token = login["access_token"].as_str().unwrap();
    let sealed: Vec<(String,)> = sqlx::query_as("SELECT sealed_key FROM wechat_sessions")
        .fetch_all(s.db.db.pool())
        .await
        .unwrap();
    assert_eq!(sealed.len(), 1);
    assert!(
        sealed[0].0.starts_with("v1."),
        "the session_key rests sealed"
    );
    // A payload made for another mini-program is refused by its watermark.
    let forged = control::post(
        &s.http,
        &s.sim.base_url(),
        "/_sim/encrypted_phone",
        json!({"appid": MP, "user": "bob", "watermark_appid": MP2}),
    )
    .await;
    let r = s.send("/_auth/mp/phone", &forged.to_string(), Some(token));
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"], "invalid_code");
    let good = control::post(
        &s.http,
        &s.sim.base_url(),
        "/_sim/encrypted_phone",
        json!({"appid": MP, "user": "bob"}),
    )
    .await;
    let r = s.send("/_auth/mp/phone", &good.to_string(), Some(token));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["user"]["phone"], "+8613900139000");
    // After another login the key rotated: an old payload no longer decrypts.
    s.login("mp", json!({"code": s.code(MP, "bob").await}));
    let stale = s.send("/_auth/mp/phone", &good.to_string(), Some(token));
    assert_eq!(stale.json()["error"], "invalid_code");
    // Half a payload is a 400.
    let half = s.send(
        "/_auth/mp/phone",
        &json!({"encryptedData": "AAAA"}).to_string(),
        Some(token),
    );
    assert_eq!(half.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_retry_after_wechat_was_unreachable_is_not_refused() {
    let s = setup().await;
    // jscode2session busy through every bounded retry: 502, and neither code is burnt here.
    s.fault(json!({"path": "/sns/jscode2session", "errcode": -1, "times": 3}))
        .await;
    let (code, phone_code) = (s.code(MP, "alice").await, s.phone_code(MP, "alice").await);
    let body = json!({"code": code, "phone_code": phone_code});
    assert_eq!(s.login("mp", body.clone()).status, 502);
    let retried = s.login("mp", body);
    assert_eq!(
        retried.status,
        200,
        "{}",
        String::from_utf8_lossy(&retried.body)
    );
    assert_eq!(retried.json()["user"]["phone"], "+8613800138000");

    // The phone exchange busy: the wx.login code was spent at WeChat, the phone code was not.
    s.fault(json!({"path": "/wxa/business/getuserphonenumber", "errcode": -1, "times": 3}))
        .await;
    let phone_code = s.phone_code(MP, "bob").await;
    let busy = s.login(
        "mp",
        json!({"code": s.code(MP, "bob").await, "phone_code": phone_code}),
    );
    assert_eq!(busy.status, 502);
    let retried = s.login(
        "mp",
        json!({"code": s.code(MP, "bob").await, "phone_code": phone_code}),
    );
    assert_eq!(
        retried.status,
        200,
        "{}",
        String::from_utf8_lossy(&retried.body)
    );
    assert_eq!(retried.json()["user"]["phone"], "+8613900139000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_revoked_for_reuse_is_refused_at_once_where_the_reuse_was_seen() {
    // Other replicas' revocations arrive every 5 minutes here: only a local revocation can
    // explain an immediate refusal.
    let s = setup_with("revocation_sync = \"5m\"\n").await;
    let login = s
        .login("mp", json!({"code": s.code(MP, "alice").await}))
        .json();
    let access = login["access_token"].as_str().unwrap().to_string();
    let r1 = login["refresh_token"].as_str().unwrap().to_string();
    let refresh = |token: &str| {
        s.send(
            "/_auth/token/refresh",
            &json!({ "refresh_token": token }).to_string(),
            None,
        )
    };
    let r2 = refresh(&r1).json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(refresh(&r2).status, 200);
    let api = |token: &str| {
        tokio::task::block_in_place(|| {
            wxgate_tests::gateway::call(s.gw.addr, "GET", "/api/x", "", Some(token))
        })
        .status
    };
    assert_eq!(api(&access), 200);
    // r1 is two generations old: theft. The family dies, and its access tokens with it, here.
    assert_eq!(refresh(&r1).status, 401);
    assert_eq!(api(&access), 401, "refused at once, not at the next poll");
}
