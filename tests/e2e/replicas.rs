//! Two gateway processes on one database and one keys_dir: they accept each other's tokens,
//! share revocations within `revocation_sync`, and fetch WeChat's access_token once between them.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wxgate_tests::gateway::TestGateway;
use wxgate_tests::{Backend, TestDb};

const MP: &str = "wx00000000000000b1";

async fn post(http: &reqwest::Client, url: String, body: Value) -> Value {
    let r = http.post(url).json(&body).send().await.unwrap();
    assert!(r.status().is_success());
    r.json().await.unwrap()
}

fn send(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    bearer: Option<&str>,
) -> wxgate_tests::gateway::RawResponse {
    wxgate_tests::gateway::call(addr, method, path, body, bearer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_tokens_revocations_and_the_access_token() {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let sim = wxgate_sim::Simulator::new()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let s = sim.base_url();
    post(
        &http,
        format!("{s}/_sim/apps"),
        json!({"appid": MP, "secret": "sec", "kind": "miniprogram", "open_platform": "op"}),
    )
    .await;
    let body = format!(
        "[[channel]]\nid = \"mp\"\nkind = \"wechat_miniprogram\"\nappid = \"{MP}\"\nsecret = \"sec\"\napi_base = \"{s}\"\n\n\
         [[route]]\nprefix = \"/api/\"\nupstream = \"{}\"\nauth = \"required\"\n",
        upstream.addr
    );
    let (a, b) = tokio::task::block_in_place(|| {
        let a = TestGateway::start(&db.url, &db.dir, &body);
        let b = TestGateway::start(&db.url, &db.dir, &body);
        (a, b)
    });

    // 20 phone logins spread over both replicas: one access_token fetch between them.
    let mut logins = Vec::new();
    for i in 0..20 {
        let name = format!("p{i}");
        post(
            &http,
            format!("{s}/_sim/users"),
            json!({"name": name, "phone": format!("1360000{i:04}")}),
        )
        .await;
        let code = post(
            &http,
            format!("{s}/_sim/login_code"),
            json!({"appid": MP, "user": name}),
        )
        .await;
        let phone = post(
            &http,
            format!("{s}/_sim/phone_code"),
            json!({"appid": MP, "user": name}),
        )
        .await;
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        logins.push((
            addr,
            json!({"code": code["code"], "phone_code": phone["code"]}).to_string(),
        ));
    }
    let tasks: Vec<_> = logins
        .into_iter()
        .map(|(addr, body)| {
            tokio::task::spawn_blocking(move || send(addr, "POST", "/_auth/mp/login", &body, None))
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        tokens.push(r.json()["access_token"].as_str().unwrap().to_string());
    }
    let calls: Value = http
        .get(format!("{s}/_sim/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        calls["/cgi-bin/stable_token"].as_u64().unwrap_or(0) <= 1,
        "{calls}"
    );

    // A token from A works on B; a logout on A reaches B within revocation_sync (1s here).
    let token = tokens[0].clone();
    let on_b = tokio::task::block_in_place(|| send(b.addr, "GET", "/api/x", "", Some(&token)));
    assert_eq!(on_b.status, 200);
    let out =
        tokio::task::block_in_place(|| send(a.addr, "POST", "/_auth/logout", "", Some(&token)));
    assert_eq!(out.status, 204);
    assert_eq!(
        tokio::task::block_in_place(|| send(a.addr, "GET", "/api/x", "", Some(&token))).status,
        401
    );
    let started = Instant::now();
    loop {
        let status =
            tokio::task::block_in_place(|| send(b.addr, "GET", "/api/x", "", Some(&token))).status;
        if status == 401 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "replica B still accepts a revoked session"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Other sessions are untouched.
    assert_eq!(
        tokio::task::block_in_place(|| send(b.addr, "GET", "/api/x", "", Some(&tokens[1]))).status,
        200
    );
}
