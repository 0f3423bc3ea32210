//! Phone + SMS login end to end: the gateway binary, the simulator's SMS sink (the `webhook`
//! sender) and its mini-program side, on SQLite; limits across two replicas on every backend.

use serde_json::{json, Value};
use wxgate_core::identity::history::count_live_users;
use wxgate_tests::control;
use wxgate_tests::gateway::{raw, Channel, GatewayBuilder, RawResponse, TestGateway};
use wxgate_tests::world::World;
use wxgate_tests::{Backend, TestDb};

pub(crate) const MP: &str = "wx00000000000000d1";
const MP_SECRET: &str = "CANARY_APPSECRET_mp_d1";

pub(crate) struct Setup {
    pub(crate) gw: TestGateway,
    /// What started `gw`: another replica starts from it.
    pub(crate) gateway: GatewayBuilder,
    pub(crate) sim: wxgate_sim::SimHandle,
    pub(crate) http: reqwest::Client,
    pub(crate) db: TestDb,
    /// Every code the test saw texted: none may reach the gateway's log.
    codes: std::sync::Mutex<Vec<String>>,
}

/// The `sms` channel (its table plus `sms_keys`) and the `mp` mini-program, both on the
/// simulator, on a gateway `shape` adds to (its sections: identity, server, limits).
pub(crate) async fn setup_with(
    backend: Backend,
    sms_keys: &str,
    shape: impl FnOnce(GatewayBuilder) -> GatewayBuilder,
) -> Option<Setup> {
    let db = TestDb::new(backend).await?;
    let world = World::start().await;
    world.mini_program(MP, MP_SECRET, Some("op1")).await;
    for (name, phone) in [("alice", "13800138000"), ("bob", "13900139000")] {
        world.person(name, Some(phone)).await;
    }
    let s = world.base();
    let gateway = shape(TestGateway::builder(&db.url, &db.dir))
        .channel(Channel::phone_sms("sms", &s).with(sms_keys))
        .channel(Channel::mini_program("mp", MP, MP_SECRET, &s));
    let gw = tokio::task::block_in_place(|| gateway.start());
    let World { sim, http } = world;
    Some(Setup {
        gw,
        gateway,
        sim,
        http,
        db,
        codes: Default::default(),
    })
}

async fn setup() -> Setup {
    setup_with(Backend::Sqlite, "", |b| b).await.unwrap()
}

pub(crate) fn post_to(
    addr: std::net::SocketAddr,
    path: &str,
    body: &Value,
    extra: &str,
) -> RawResponse {
    let body = body.to_string();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::task::block_in_place(|| raw(addr, &req).unwrap())
}

impl Setup {
    pub(crate) fn post(&self, path: &str, body: Value) -> RawResponse {
        post_to(self.gw.addr, path, &body, "")
    }

    pub(crate) fn send(&self, phone: &str) -> RawResponse {
        self.post("/_auth/sms/send_code", json!({ "phone": phone }))
    }

    pub(crate) fn login(&self, phone: &str, code: &str) -> RawResponse {
        self.post("/_auth/sms/login", json!({ "phone": phone, "code": code }))
    }

    /// The newest code the simulated phone received.
    pub(crate) async fn texted(&self, phone: &str) -> String {
        let v = control::get(
            &self.http,
            &self.sim.base_url(),
            &format!("/_sim/sms/last?phone={phone}"),
        )
        .await;
        let code = v["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"))
            .to_string();
        self.codes.lock().unwrap().push(code.clone());
        code
    }

    pub(crate) async fn users(&self) -> i64 {
        count_live_users(&self.db.db).await.unwrap()
    }

    fn assert_no_code_logged(&self) {
        let logs = self.gw.logs();
        for code in self.codes.lock().unwrap().iter() {
            assert!(
                !logs.contains(&format!("\"{code}\"")) && !logs.contains(&format!("={code}")),
                "code {code} in the log"
            );
        }
    }

    pub(crate) async fn mini_program(&self, user: &str, with_phone: bool) -> Value {
        let base = self.sim.base_url();
        let code = control::post(
            &self.http,
            &base,
            "/_sim/login_code",
            json!({"appid": MP, "user": user}),
        )
        .await;
        let mut body = json!({ "code": code["code"] });
        if with_phone {
            let phone = control::post(
                &self.http,
                &base,
                "/_sim/phone_code",
                json!({"appid": MP, "user": user}),
            )
            .await;
            body["phone_code"] = phone["code"].clone();
        }
        let r = self.post("/_auth/mp/login", body);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    }
}

pub(crate) fn wrong(code: &str) -> &'static str {
    if code == "000000" {
        "111111"
    } else {
        "000000"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_texted_code_logs_in_once_and_a_wrong_one_is_refused() {
    let s = setup().await;
    let sent = s.send("13800138000");
    assert_eq!(sent.status, 202);
    assert_eq!(sent.json(), json!({"retry_after": 60}));
    let code = s.texted("13800138000").await;
    let bad = s.login("13800138000", wrong(&code));
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json()["error"], "invalid_code");
    let ok = s.login("+8613800138000", &code);
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let v = ok.json();
    assert_eq!(v["user"]["phone"], "+8613800138000");
    assert_eq!(v["user"]["is_new"], true);
    assert_eq!(v["token_type"], "Bearer");
    let again = s.login("13800138000", &code);
    assert_eq!(again.status, 401, "a code is used once");
    s.assert_no_code_logged();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_max_attempts_even_the_right_code_is_refused() {
    let s = setup().await;
    s.send("13800138000");
    let code = s.texted("13800138000").await;
    for _ in 0..5 {
        assert_eq!(s.login("13800138000", wrong(&code)).status, 401);
    }
    assert_eq!(s.login("13800138000", &code).status, 401);
    assert_eq!(s.users().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_within_the_cooldown_is_429_with_retry_after() {
    let s = setup().await;
    assert_eq!(s.send("13800138000").status, 202);
    let again = s.send("+8613800138000");
    assert_eq!(again.status, 429);
    assert_eq!(again.json()["error"], "rate_limited");
    // What is left of the 60 s cooldown, which began a moment ago.
    let secs: u64 = again.header("retry-after").unwrap().parse().unwrap();
    assert!((50..=60).contains(&secs), "{secs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_forwarded_for_does_not_escape_the_per_address_cap() {
    let s = setup().await;
    let mut statuses = Vec::new();
    for i in 0..21u32 {
        let spoofed = format!(
            "X-Forwarded-For: {}.{}.{}.{}\r\n",
            i * 7 % 250 + 1,
            i * 13 % 250,
            i * 29 % 250,
            i * 31 % 250
        );
        let phone = format!("1370013{i:04}");
        statuses.push(
            post_to(
                s.gw.addr,
                "/_auth/sms/send_code",
                &json!({ "phone": phone }),
                &spoofed,
            )
            .status,
        );
    }
    assert!(statuses[..20].iter().all(|&c| c == 202), "{statuses:?}");
    assert_eq!(statuses[20], 429, "the 21st send from one client");
}

/// Behind a trusted proxy the client is the right-most address the proxy did not add itself:
/// whatever a client writes to the left of it moves nothing, and other clients of the same
/// proxy are not held back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_per_address_cap_follows_the_forwarded_client() {
    let s = setup_with(Backend::Sqlite, "", GatewayBuilder::behind_a_trusted_proxy)
        .await
        .unwrap();
    let send_via_proxy = |i: u32, forwarded: &str| {
        post_to(
            s.gw.addr,
            "/_auth/sms/send_code",
            &json!({ "phone": format!("1370013{i:04}") }),
            &format!("X-Forwarded-For: {forwarded}\r\n"),
        )
        .status
    };
    // One client, each time with a different spoofed address in front of the proxy's entry.
    let statuses: Vec<u16> = (0..21u32)
        .map(|i| send_via_proxy(i, &format!("10.9.{i}.1, 198.51.100.9")))
        .collect();
    assert!(statuses[..20].iter().all(|&c| c == 202), "{statuses:?}");
    assert_eq!(statuses[20], 429, "the 21st send from 198.51.100.9");
    // Another client of the same proxy (the same TCP peer) still gets its codes.
    assert_eq!(send_via_proxy(21, "198.51.100.10"), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_phones_are_400() {
    let s = setup().await;
    for bad in [
        "",
        "12800138000",
        "1380013800",
        "1380013800a",
        "+86 138",
        "tel:13800138000",
    ] {
        let r = s.send(bad);
        assert_eq!(r.status, 400, "{bad:?}");
        assert_eq!(r.json()["error"], "invalid_request");
    }
    assert_eq!(
        s.post("/_auth/sms/send_code", json!({"phone": 13800138000u64}))
            .status,
        400
    );
    assert_eq!(
        s.post(
            "/_auth/sms/login",
            json!({"phone": "13800138000", "code": "12ab56"})
        )
        .status,
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_send_is_502_and_retryable_at_once() {
    let s = setup().await;
    control::post(
        &s.http,
        &s.sim.base_url(),
        "/_sim/faults",
        json!({"path": "/sms", "errcode": 1, "times": 1}),
    )
    .await;
    let failed = s.send("13800138000");
    assert_eq!(failed.status, 502);
    assert_eq!(failed.json()["error"], "upstream_unavailable");
    let retried = s.send("13800138000");
    assert_eq!(retried.status, 202, "no cooldown was used up");
    let code = s.texted("13800138000").await;
    assert_eq!(s.login("13800138000", &code).status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_proved_through_the_mini_program_is_found_and_an_unproved_one_links_nothing() {
    let s = setup().await;
    let alice = s.mini_program("alice", true).await;
    s.send("13800138000");
    let code = s.texted("13800138000").await;
    let by_sms = s.login("13800138000", &code).json();
    assert_eq!(by_sms["user"]["id"], alice["user"]["id"]);
    assert_eq!(by_sms["user"]["is_new"], false);

    // bob logs in through the mini-program without proving a phone: his number links nothing.
    let bob = s.mini_program("bob", false).await;
    s.send("13900139000");
    let code = s.texted("13900139000").await;
    let by_sms = s.login("13900139000", &code).json();
    assert_ne!(by_sms["user"]["id"], bob["user"]["id"]);
    assert_eq!(by_sms["user"]["is_new"], true);
    s.assert_no_code_logged();
}

/// The old account is a phone account; a WeChat newcomer proves that phone by an SMS code sent
/// for binding, while logged in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_a_phone_by_sms_follows_on_phone_conflict() {
    for policy in ["reject", "move", "merge"] {
        let identity = format!("on_phone_conflict = \"{policy}\"");
        let s = setup_with(Backend::Sqlite, "resend_after = \"1s\"", |b| {
            b.identity(&identity)
        })
        .await
        .unwrap();
        s.send("13800138000");
        let code = s.texted("13800138000").await;
        let old = s.login("13800138000", &code).json();
        let newcomer = s.mini_program("bob", false).await;
        let bearer = newcomer["access_token"].as_str().unwrap().to_string();
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let sent = s.post(
            "/_auth/sms/send_code",
            json!({"phone": "13800138000", "purpose": "bind"}),
        );
        assert_eq!(sent.status, 202, "{}", String::from_utf8_lossy(&sent.body));
        let code = s.texted("13800138000").await;
        let body = json!({"phone": "13800138000", "code": code});
        // Without a session there is nobody to bind to.
        assert_eq!(s.post("/_auth/sms/bind", body.clone()).status, 401);
        let r = post_to(
            s.gw.addr,
            "/_auth/sms/bind",
            &body,
            &format!("Authorization: Bearer {bearer}\r\n"),
        );
        let (old_id, new_id) = (old["user"]["id"].clone(), newcomer["user"]["id"].clone());
        match policy {
            "reject" => {
                assert_eq!(r.status, 409, "{policy}");
                assert_eq!(r.json()["error"], "phone_conflict");
                assert_eq!(s.users().await, 2);
            }
            "move" => {
                assert_eq!(
                    r.status,
                    200,
                    "{policy}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                assert_eq!(r.json()["user"]["id"], new_id);
                assert_eq!(r.json()["user"]["phone"], "+8613800138000");
                assert_eq!(s.users().await, 2, "the phone moved; both users remain");
            }
            _ => {
                assert_eq!(
                    r.status,
                    200,
                    "{policy}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                assert_eq!(r.json()["user"]["id"], old_id, "the older account survives");
                assert_eq!(r.json()["user"]["phone"], "+8613800138000");
                assert_eq!(s.users().await, 1);
            }
        }
        s.assert_no_code_logged();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_account_frees_its_phone_for_a_new_user() {
    let s = setup_with(Backend::Sqlite, "resend_after = \"1s\"", |b| b)
        .await
        .unwrap();
    s.send("13800138000");
    let code = s.texted("13800138000").await;
    let first = s.login("13800138000", &code).json();
    let token = first["access_token"].as_str().unwrap().to_string();
    let wrong_method = post_to(
        s.gw.addr,
        "/_auth/me",
        &json!({}),
        &format!("Authorization: Bearer {token}\r\n"),
    );
    assert_eq!(wrong_method.status, 405, "deletion is a DELETE");
    assert_eq!(wrong_method.header("allow"), Some("GET, DELETE"));
    let req = format!(
        "DELETE /_auth/me HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n"
    );
    let deleted = tokio::task::block_in_place(|| raw(s.gw.addr, &req).unwrap());
    assert_eq!(
        deleted.status,
        204,
        "{}",
        String::from_utf8_lossy(&deleted.body)
    );
    let me = tokio::task::block_in_place(|| {
        wxgate_tests::gateway::call(s.gw.addr, "GET", "/_auth/me", "", Some(&token))
    });
    assert_eq!(me.status, 401, "every session ended");
    assert_eq!(s.users().await, 0);

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(s.send("13800138000").status, 202);
    let code = s.texted("13800138000").await;
    let again = s.login("13800138000", &code).json();
    assert_eq!(again["user"]["is_new"], true);
    assert_ne!(again["user"]["id"], first["user"]["id"]);
    // The audit trail kept what happened, without the number in clear.
    let events = wxgate_core::identity::history::audit_events_for(
        &s.db.db,
        first["user"]["id"].as_str().unwrap(),
    )
    .await
    .unwrap();
    assert!(events
        .iter()
        .any(|e| e.kind == "user_deleted" && e.actor.as_deref() == Some("self")));
    assert!(
        events
            .iter()
            .all(|e| e.phone.as_deref().is_none_or(|p| p.contains('*'))),
        "{events:?}"
    );
}

/// A session older than the freshness window (5 minutes) cannot delete the account, even with
/// a freshly refreshed access token: freshness is the login's age, not the token's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_account_needs_a_recent_login() {
    let s = setup().await;
    s.send("13800138000");
    let code = s.texted("13800138000").await;
    let login = s.login("13800138000", &code).json();
    // Logged in ten minutes ago, as far as the database knows.
    sqlx::query("UPDATE sessions SET created_at = created_at - 600000")
        .execute(s.db.db.pool())
        .await
        .unwrap();
    let refreshed = s.post(
        "/_auth/token/refresh",
        json!({ "refresh_token": login["refresh_token"] }),
    );
    assert_eq!(
        refreshed.status,
        200,
        "{}",
        String::from_utf8_lossy(&refreshed.body)
    );
    let token = refreshed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let call = |method: &str| {
        tokio::task::block_in_place(|| {
            wxgate_tests::gateway::call(s.gw.addr, method, "/_auth/me", "", Some(&token))
        })
    };
    assert_eq!(call("GET").status, 200, "the token itself is good");
    let refused = call("DELETE");
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"], "unauthorized");
    assert_eq!(s.users().await, 1, "the account is still there");
    assert_eq!(call("GET").status, 200, "and its session too");
}

/// Limits and codes live in the shared database: a code texted through A logs in through B,
/// and A's cooldown holds on B.
async fn limits_and_codes_hold_across_replicas(backend: Backend) {
    let Some(s) = setup_with(backend, "", |b| b).await else {
        return;
    };
    let b = tokio::task::block_in_place(|| s.gateway.start());
    assert_eq!(s.send("13800138000").status, 202);
    let on_b = post_to(
        b.addr,
        "/_auth/sms/send_code",
        &json!({"phone": "13800138000"}),
        "",
    );
    assert_eq!(on_b.status, 429, "A's cooldown holds on B");
    let code = s.texted("13800138000").await;
    let login_b = post_to(
        b.addr,
        "/_auth/sms/login",
        &json!({"phone": "13800138000", "code": code}),
        "",
    );
    assert_eq!(
        login_b.status,
        200,
        "{}",
        String::from_utf8_lossy(&login_b.body)
    );
    let replay_a = s.login("13800138000", &code);
    assert_eq!(replay_a.status, 401, "used once, whichever replica");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_codes_hold_across_replicas_on_postgres() {
    limits_and_codes_hold_across_replicas(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_codes_hold_across_replicas_on_mariadb() {
    limits_and_codes_hold_across_replicas(Backend::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_codes_hold_across_replicas_on_sqlite() {
    limits_and_codes_hold_across_replicas(Backend::Sqlite).await;
}
