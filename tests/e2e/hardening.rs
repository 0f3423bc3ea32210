//! What the review of browser sessions and the proxy found, each as an attack: a forged flow
//! cookie, a copied cookie pair, key rotations under a live session, an upstream's look-alike
//! cookies, header names upstreams misread, and floods of code exchanges.

use crate::browser::{as_person, setup_with, HOST};
use std::time::{Duration, Instant};
use wxgate_tests::gateway::{call, raw, TestGateway};
use wxgate_tests::web::Browser;
use wxgate_tests::Backend;

/// Another site can set a cookie under a sibling domain; with the flow cookie's name (derived
/// from `state`, which travels in URLs) and a wrong nonce, it must not spend the victim's flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_flow_cookie_does_not_spend_the_victims_login() {
    let s = setup_with(Backend::Sqlite, "").await.unwrap();
    let mut victim = Browser::new();
    let start = victim
        .get(&s.gw("/_auth/web/authorize?return_to=%2Fapi%2Fx"))
        .await;
    let to_callback = victim
        .get(&as_person(start.location().unwrap(), "alice"))
        .await;
    let callback = to_callback.location().unwrap().to_string();
    let flow_cookie = victim
        .cookie_names(HOST)
        .into_iter()
        .find(|n| n.starts_with("wxgate_state_"))
        .unwrap();
    let mut attacker = Browser::new();
    attacker.put_cookie(HOST, &flow_cookie, "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ");
    let forged = attacker.get(&callback).await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert!(forged.body.contains("invalid_state"));
    let done = victim.get(&callback).await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(done.location(), Some("/api/x"));
    assert_eq!(s.users().await, 1);
}

/// A copied cookie pair may ride along only within the grace that racing tabs need (20 s):
/// replayed later, it is a reuse, and the whole session ends, the victim's renewed cookies too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_cookie_pair_replayed_after_the_grace_ends_the_session() {
    // 25 s of access life: longer than the grace, so the old rule (grace = access_ttl) would
    // still hand the copy the victim's new refresh token.
    let s = setup_with(Backend::Sqlite, "access_ttl = \"25s\"\n")
        .await
        .unwrap();
    let mut victim = Browser::new();
    s.sign_in(&mut victim, "web", "alice", "/api/x").await;
    let mut copy = Browser::new();
    for name in ["wxgate", "wxgate_refresh"] {
        copy.put_cookie(HOST, name, victim.cookie(HOST, name).unwrap());
    }
    // Past the access token's life and the verifier's 5 s leeway: the victim renews.
    tokio::time::sleep(Duration::from_secs(31)).await;
    let renewed = victim.get(&s.gw("/api/x")).await;
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    assert!(renewed.set_cookie("wxgate_refresh").is_some());
    let renewed_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(21).saturating_sub(renewed_at.elapsed())).await;
    let replay = copy.get(&s.gw("/api/x")).await;
    assert_eq!(replay.status, 302, "the copy is refused: {}", replay.body);
    assert!(replay.location().unwrap().starts_with("/_auth/login"));
    // The family is revoked: the victim's own renewed session has ended as well (seen within
    // revocation_sync, which the tests set to 1 s).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let victim_after = victim.get(&s.gw("/api/x")).await;
    assert_eq!(victim_after.status, 302, "{}", victim_after.body);
}

/// Keys rotated while a browser session lives: once its expired access cookie's key is gone
/// from every replica, the refresh cookie alone renews it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_outlives_the_key_of_its_access_cookie() {
    let s = setup_with(
        Backend::Sqlite,
        "key_activation = \"0s\"\naccess_ttl = \"1s\"\n",
    )
    .await
    .unwrap();
    let mut b = Browser::new();
    let (page, _) = s.sign_in(&mut b, "web", "alice", "/api/x").await;
    let id = page.json()["headers"]["x-auth-user"].clone();
    let config = s.gw.dir.join(format!("gateway-{}.toml", s.gw.addr.port()));
    let old_kid = kid(b.cookie(HOST, "wxgate").unwrap());
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let out = std::process::Command::new(wxgate_tests::gateway::gateway_bin())
            .args(["keys", "rotate", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let access_dir = s.gw.keys_dir.join("access");
    let left: Vec<String> = std::fs::read_dir(&access_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.iter().all(|f| !f.contains(&old_kid)),
        "the cookie's key is gone: {left:?}"
    );
    // Past the access cookie's life and the verifier's 5 s leeway; with key_activation = 0s
    // the gateway re-reads its keys every second, so by then the cookie's key is gone there too.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let after = b.get(&s.gw("/api/x")).await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(after.json()["headers"]["x-auth-user"], id);
    assert!(after.set_cookie("wxgate").is_some(), "renewed");
    assert_ne!(kid(b.cookie(HOST, "wxgate").unwrap()), old_kid);
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn echo_gateway(
    dir: &std::path::Path,
    db: &str,
    upstream: std::net::SocketAddr,
    extra: &str,
) -> TestGateway {
    let body = format!(
        "{extra}\n[[route]]\nprefix = \"/pub/\"\nupstream = \"{upstream}\"\nauth = \"public\"\n"
    );
    TestGateway::start(db, dir, &body)
}

/// A browser stores `=wxgate=x` as a nameless cookie and sends it back as `wxgate=x`: every
/// upstream `Set-Cookie` that comes back as one of ours is dropped, the rest kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_cannot_set_a_cookie_that_reads_as_ours() {
    let t = wxgate_tests::TestDb::new(Backend::Sqlite).await.unwrap();
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let gw = tokio::task::block_in_place(|| echo_gateway(&t.dir, &t.url, upstream.addr, ""));
    let set = [
        "=wxgate=x",
        "wxgate",
        "=__Host-wxgate_refresh=y",
        "WXGATE=z",
        "wxgate_state_ab=n",
        "sid=1; Path=/",
        "=theme=dark",
    ];
    let query: String = set
        .iter()
        .map(|c| {
            format!(
                "set_cookie={}",
                url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let r =
        tokio::task::block_in_place(|| call(gw.addr, "GET", &format!("/pub/x?{query}"), "", None));
    assert_eq!(r.status, 200);
    let kept: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(kept, ["sid=1; Path=/", "=theme=dark"]);
}

/// Names that are legal tokens but no client sends (`Transfer.Encoding`): upstreams that fold
/// `.` into `-` read them as other headers, so they never arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_names_beyond_letters_digits_and_dashes_never_reach_the_upstream() {
    let t = wxgate_tests::TestDb::new(Backend::Sqlite).await.unwrap();
    let upstream = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let gw = tokio::task::block_in_place(|| echo_gateway(&t.dir, &t.url, upstream.addr, ""));
    let r = tokio::task::block_in_place(|| {
        raw(
            gw.addr,
            "GET /pub/x HTTP/1.1\r\nHost: t\r\nTransfer.Encoding: chunked\r\nX!Y: 1\r\nX~Y: 1\r\nX-Fine: 1\r\nConnection: close\r\n\r\n",
        )
        .unwrap()
    });
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let headers = &r.json()["headers"];
    for gone in ["transfer.encoding", "x!y", "x~y"] {
        assert!(
            headers.get(gone).is_none(),
            "{gone} reached the upstream: {headers}"
        );
    }
    assert_eq!(headers["x-fine"], "1");
}

/// Each code exchange costs a row and a WeChat call before anything is proved: a network that
/// floods `/mp/login` with made-up codes is stopped before WeChat hears of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_exchanges_are_capped_per_client_network() {
    let s = crate::sms::setup_behind(
        Backend::Sqlite,
        "",
        "\n[limits]\nwechat_logins_per_minute = 3\n",
        "",
    )
    .await
    .unwrap();
    for i in 0..3 {
        let r = s.post(
            "/_auth/mp/login",
            serde_json::json!({ "code": format!("madeup{i}") }),
        );
        assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    }
    let r = s.post("/_auth/mp/login", serde_json::json!({ "code": "madeup4" }));
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"], "rate_limited");
    assert_eq!(r.header("retry-after"), Some("60"));
    let calls: serde_json::Value = s
        .http
        .get(format!("{}/_sim/calls", s.sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["/sns/jscode2session"], 3, "{calls}");
}
