//! Two gateway processes on one database and one keys_dir, on SQLite, PostgreSQL and MariaDB:
//! a login on one is refreshed on the other, a logout on one is refused on the other within
//! `revocation_sync`, WeChat's access_token is fetched once between them (also after a 40001),
//! and a key rotation while both serve loses no request. (OAuth flows across replicas are in
//! `browser`, SMS codes and limits in `sms`.)

use serde_json::json;
use std::time::{Duration, Instant};
use wxgate_tests::control;
use wxgate_tests::gateway::{call, RawResponse, TestGateway};
use wxgate_tests::gateway::{Channel, Route};
use wxgate_tests::world::World;
use wxgate_tests::{Backend, TestDb};

const MP: &str = "wx00000000000000b1";
const SECRET: &str = "sec";

struct Pair {
    a: TestGateway,
    b: TestGateway,
    sim: wxgate_sim::SimHandle,
    http: reqwest::Client,
    db: TestDb,
    _upstream: wxgate_sim::SimHandle,
}

fn send(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    bearer: Option<&str>,
) -> RawResponse {
    tokio::task::block_in_place(|| call(addr, method, path, body, bearer))
}

async fn pair(backend: Backend, tokens_toml: &str) -> Option<Pair> {
    let db = TestDb::new(backend).await?;
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let world = World::start().await;
    world.mini_program(MP, SECRET, Some("op")).await;
    let s = world.base();
    let World { sim, http } = world;
    // One test client logs many people in from loopback: no per-network cap here.
    let gateway = TestGateway::builder(&db.url, &db.dir)
        .tokens(tokens_toml)
        .limits("wechat_logins_per_minute = 100000")
        .channel(Channel::mini_program("mp", MP, SECRET, &s))
        .route(Route::required("/api/", upstream.addr));
    let (a, b) = tokio::task::block_in_place(|| (gateway.start(), gateway.start()));
    Some(Pair {
        a,
        b,
        sim,
        http,
        db,
        _upstream: upstream,
    })
}

impl Pair {
    async fn person(&self, name: &str, phone: &str) {
        control::post(
            &self.http,
            &self.sim.base_url(),
            "/_sim/users",
            json!({"name": name, "phone": phone}),
        )
        .await;
    }

    /// A mini-program login body for `name`, with a getPhoneNumber code when `phone`.
    async fn login_body(&self, name: &str, phone: bool) -> String {
        let s = self.sim.base_url();
        let code = control::post(
            &self.http,
            &s,
            "/_sim/login_code",
            json!({"appid": MP, "user": name}),
        )
        .await;
        let mut body = json!({ "code": code["code"] });
        if phone {
            let p = control::post(
                &self.http,
                &s,
                "/_sim/phone_code",
                json!({"appid": MP, "user": name}),
            )
            .await;
            body["phone_code"] = p["code"].clone();
        }
        body.to_string()
    }

    async fn stable_token_calls(&self) -> u64 {
        let calls = control::get(&self.http, &self.sim.base_url(), "/_sim/calls").await;
        calls["/cgi-bin/stable_token"].as_u64().unwrap_or(0)
    }
}

async fn tokens_refreshes_and_revocations_are_shared(backend: Backend) {
    let Some(p) = pair(backend, "").await else {
        return;
    };
    p.person("alice", "13800138000").await;
    p.person("bob", "13900139000").await;
    let alice = send(
        p.a.addr,
        "POST",
        "/_auth/mp/login",
        &p.login_body("alice", false).await,
        None,
    )
    .json();
    let bob = send(
        p.b.addr,
        "POST",
        "/_auth/mp/login",
        &p.login_body("bob", false).await,
        None,
    )
    .json();
    let token = alice["access_token"].as_str().unwrap().to_string();

    // A login on A works on B, and is refreshed there.
    assert_eq!(
        send(p.b.addr, "GET", "/api/x", "", Some(&token)).status,
        200
    );
    let body = json!({ "refresh_token": alice["refresh_token"] }).to_string();
    let refreshed = send(p.b.addr, "POST", "/_auth/token/refresh", &body, None);
    assert_eq!(
        refreshed.status,
        200,
        "{}",
        String::from_utf8_lossy(&refreshed.body)
    );
    assert_eq!(refreshed.json()["user"]["id"], alice["user"]["id"]);

    // A logout on A is refused on A at once and on B within revocation_sync (1 s here).
    assert_eq!(
        send(p.a.addr, "POST", "/_auth/logout", "", Some(&token)).status,
        204
    );
    assert_eq!(
        send(p.a.addr, "GET", "/api/x", "", Some(&token)).status,
        401
    );
    let started = Instant::now();
    while send(p.b.addr, "GET", "/api/x", "", Some(&token)).status != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "replica B still accepts a revoked session"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Other sessions are untouched.
    let bob_token = bob["access_token"].as_str().unwrap();
    assert_eq!(
        send(p.b.addr, "GET", "/api/x", "", Some(bob_token)).status,
        200
    );
    assert_eq!(p.db.backend, backend);
}

async fn the_access_token_is_fetched_once_between_them_also_after_a_40001(backend: Backend) {
    let Some(p) = pair(backend, "").await else {
        return;
    };
    // 20 phone logins spread over both replicas at once: one fetch between them.
    let mut logins = Vec::new();
    for i in 0..20 {
        let name = format!("p{i}");
        p.person(&name, &format!("1360000{i:04}")).await;
        let addr = if i % 2 == 0 { p.a.addr } else { p.b.addr };
        logins.push((addr, p.login_body(&name, true).await));
    }
    let tasks: Vec<_> = logins
        .into_iter()
        .map(|(addr, body)| {
            tokio::task::spawn_blocking(move || call(addr, "POST", "/_auth/mp/login", &body, None))
        })
        .collect();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(
        p.stable_token_calls().await,
        1,
        "one fetch for both replicas"
    );

    // Somebody (another system on the same app) forces a new token: the one both replicas
    // hold is dead. Each replica meets a 40001; only the first to meet it may force.
    let forced = p
        .http
        .post(format!("{}/cgi-bin/stable_token", p.sim.base_url()))
        .json(&json!({"grant_type": "client_credential", "appid": MP, "secret": SECRET, "force_refresh": true}))
        .send()
        .await
        .unwrap();
    assert!(forced.status().is_success());
    let before = p.stable_token_calls().await;
    for (i, addr) in [p.a.addr, p.b.addr, p.a.addr, p.b.addr]
        .into_iter()
        .enumerate()
    {
        let name = format!("q{i}");
        p.person(&name, &format!("1370000{i:04}")).await;
        let r = send(
            addr,
            "POST",
            "/_auth/mp/login",
            &p.login_body(&name, true).await,
            None,
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert!(r.json()["user"]["phone"].as_str().is_some());
    }
    assert_eq!(
        p.stable_token_calls().await - before,
        1,
        "one replica replaced the dead token; the other took the replacement"
    );
}

async fn a_key_rotation_while_both_serve_loses_no_request(backend: Backend) {
    let Some(p) = pair(backend, "key_activation = \"2s\"\n").await else {
        return;
    };
    // WeChat allows 100 code exchanges a minute per person: spread the logins over ten.
    for i in 0..10 {
        p.person(&format!("r{i}"), &format!("1350000{i:04}")).await;
    }
    let config = p.a.dir.join(format!("gateway-{}.toml", p.a.addr.port()));
    let (a, b) = (p.a.addr, p.b.addr);
    let rotated_at = Instant::now() + Duration::from_secs(1);
    let mut rotated = false;
    let mut kids = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(7);
    let mut served = 0;
    while Instant::now() < deadline {
        if !rotated && Instant::now() >= rotated_at {
            wxgate_tests::gateway::cli(&["keys", "rotate"], &config);
            rotated = true;
        }
        // A login on one replica, used at once on the other and refreshed there.
        let (first, second) = if served % 2 == 0 { (a, b) } else { (b, a) };
        let who = format!("r{}", served % 10);
        let login = send(
            first,
            "POST",
            "/_auth/mp/login",
            &p.login_body(&who, false).await,
            None,
        );
        assert_eq!(
            login.status,
            200,
            "{}",
            String::from_utf8_lossy(&login.body)
        );
        let v = login.json();
        let token = v["access_token"].as_str().unwrap();
        kids.insert(jsonwebtoken::decode_header(token).unwrap().kid.unwrap());
        let used = send(second, "GET", "/api/x", "", Some(token));
        assert_eq!(
            used.status, 200,
            "a token from one replica refused by the other during a rotation"
        );
        let body = json!({ "refresh_token": v["refresh_token"] }).to_string();
        assert_eq!(
            send(second, "POST", "/_auth/token/refresh", &body, None).status,
            200
        );
        served += 1;
    }
    assert!(rotated);
    assert_eq!(kids.len(), 2, "both keys signed during the run: {kids:?}");
    assert!(served > 10, "{served}");
}

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { $name(Backend::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { $name(Backend::Postgres).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() { $name(Backend::Mysql).await }
        })*
    };
}

on_every_backend!(
    tokens_refreshes_and_revocations_are_shared,
    the_access_token_is_fetched_once_between_them_also_after_a_40001,
    a_key_rotation_while_both_serve_loses_no_request,
);
