//! Browser sessions against an attacker: a forged flow cookie, a copied cookie pair, keys
//! rotated under a live session, and a flood of made-up code exchanges.

use crate::login::browser::{as_person, setup_with, HOST};
use std::time::{Duration, Instant};
use wxgate_tests::web::Browser;
use wxgate_tests::Backend;

/// Another site can set a cookie under a sibling domain; with the flow cookie's name (derived
/// from `state`, which travels in URLs) and a wrong nonce, it must not spend the victim's flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_flow_cookie_does_not_spend_the_victims_login() {
    let s = setup_with(Backend::Sqlite, |b| b).await.unwrap();
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
    let s = setup_with(Backend::Sqlite, |b| b.tokens("access_ttl = \"25s\""))
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
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let victim_after = victim.get(&s.gw("/api/x")).await;
        if victim_after.status == 302 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the victim's session lives on: {}",
            victim_after.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Keys rotated while a browser session lives: once its expired access cookie's key is gone
/// from every replica, the refresh cookie alone renews it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_outlives_the_key_of_its_access_cookie() {
    let s = setup_with(Backend::Sqlite, |b| {
        b.tokens("key_activation = \"0s\"\naccess_ttl = \"1s\"")
    })
    .await
    .unwrap();
    let mut b = Browser::new();
    let (page, _) = s.sign_in(&mut b, "web", "alice", "/api/x").await;
    let id = page.json()["headers"]["x-auth-user"].clone();
    let config = s.gw.config_path();
    let old_kid = kid(b.cookie(HOST, "wxgate").unwrap());
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        wxgate_tests::gateway::cli(&["keys", "rotate"], &config);
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

/// Each code exchange costs a row and a WeChat call before anything is proved: a network that
/// floods `/mp/login` with made-up codes is stopped before WeChat hears of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_exchanges_are_capped_per_client_network() {
    let s = crate::login::sms::setup_with(Backend::Sqlite, "", |b| {
        b.limits("wechat_logins_per_minute = 3")
    })
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
    let calls = wxgate_tests::control::get(&s.http, &s.sim.base_url(), "/_sim/calls").await;
    assert_eq!(calls["/sns/jscode2session"], 3, "{calls}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_cookie_is_renewed_once_and_racing_tabs_share_the_renewal() {
    let s = setup_with(Backend::Sqlite, |b| b.tokens("access_ttl = \"1s\""))
        .await
        .unwrap();
    let mut b = Browser::new();
    let (page, _) = s.sign_in(&mut b, "web", "alice", "/api/x").await;
    let id = page.json()["headers"]["x-auth-user"]
        .as_str()
        .unwrap()
        .to_string();
    let old_refresh = b.cookie(HOST, "wxgate_refresh").unwrap().to_string();
    let old_access = b.cookie(HOST, "wxgate").unwrap().to_string();
    // Two more sessions, for the refusals below.
    let mut bob = Browser::new();
    s.sign_in(&mut bob, "web", "bob", "/api/x").await;
    let mut stale = Browser::new();
    s.sign_in(&mut stale, "web", "alice", "/opt/x").await;
    // Past the access tokens' life and the verifier's 5 s leeway.
    tokio::time::sleep(Duration::from_millis(7_000)).await;

    // Two tabs fire at once with the same expired cookies.
    let mut tab2 = Browser::new();
    for name in ["wxgate", "wxgate_refresh"] {
        tab2.put_cookie(HOST, name, b.cookie(HOST, name).unwrap());
    }
    let url = s.gw("/api/x");
    let (one, two) = tokio::join!(b.get(&url), tab2.get(&url));
    for page in [&one, &two] {
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.json()["headers"]["x-auth-user"], id.as_str());
        assert!(
            page.set_cookie("wxgate").is_some(),
            "a renewed access cookie"
        );
    }
    let (r1, r2) = (
        b.cookie(HOST, "wxgate_refresh").unwrap().to_string(),
        tab2.cookie(HOST, "wxgate_refresh").unwrap().to_string(),
    );
    assert_ne!(r1, old_refresh, "the refresh token rotated");
    assert_eq!(r1, r2, "racing tabs get the same new refresh token");

    // The renewed session goes on without another renewal.
    let next = b.get(&s.gw("/api/x")).await;
    assert_eq!(next.status, 200);
    assert!(
        next.set_cookies.is_empty(),
        "no renewal while the access part is fresh"
    );

    // A renewed answer is never stored by a shared cache.
    assert_eq!(one.header("cache-control"), Some("private, no-store"));

    // Another session's refresh cookie beside this access cookie is refused, and that other
    // session's token is not spent: bob's own browser still renews with it.
    let mut mixed = Browser::new();
    mixed.put_cookie(HOST, "wxgate", &old_access);
    mixed.put_cookie(
        HOST,
        "wxgate_refresh",
        bob.cookie(HOST, "wxgate_refresh").unwrap(),
    );
    let ended = mixed.get(&s.gw("/api/x")).await;
    assert_eq!(ended.status, 302);
    assert!(ended.location().unwrap().starts_with("/_auth/login"));
    assert!(
        mixed.cookie(HOST, "wxgate").is_none(),
        "{:?}",
        ended.set_cookies
    );
    let bob_page = bob.get(&s.gw("/api/x")).await;
    assert_eq!(bob_page.status, 200, "{}", bob_page.body);
    assert!(bob_page.set_cookie("wxgate").is_some(), "bob renewed");
    assert_ne!(bob_page.json()["headers"]["x-auth-user"], id.as_str());

    // On an optional route, a session that cannot be renewed is served anonymously.
    stale.put_cookie(
        HOST,
        "wxgate_refresh",
        "rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    );
    let anonymous = stale.get(&s.gw("/opt/x")).await;
    assert_eq!(anonymous.status, 200, "{}", anonymous.body);
    assert!(anonymous.json()["headers"].get("x-auth-user").is_none());
    assert!(
        stale.cookie(HOST, "wxgate").is_none(),
        "its cookies are cleared"
    );
}

/// A flow started on one replica completes on another: its state lives in the shared database.
async fn a_callback_on_another_replica_completes(backend: Backend) {
    let Some(s) = setup_with(backend, |b| b).await else {
        return;
    };
    let b_replica = tokio::task::block_in_place(|| s.gateway.start());
    let mut b = Browser::new();
    let start = b
        .get(&s.gw("/_auth/web/authorize?return_to=%2Fapi%2Fx"))
        .await;
    let to_callback = b.get(&as_person(start.location().unwrap(), "alice")).await;
    let mut callback = reqwest::Url::parse(to_callback.location().unwrap()).unwrap();
    callback.set_port(Some(b_replica.addr.port())).unwrap();
    let done = b.get(callback.as_str()).await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert_eq!(done.location(), Some("/api/x"));
    // The session works on both replicas.
    for addr in [s.gw.addr, b_replica.addr] {
        let page = b.get(&format!("http://{addr}/api/x")).await;
        assert_eq!(page.status, 200, "{addr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_on_another_replica_completes_on_sqlite() {
    a_callback_on_another_replica_completes(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_on_another_replica_completes_on_postgres() {
    a_callback_on_another_replica_completes(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_on_another_replica_completes_on_mariadb() {
    a_callback_on_another_replica_completes(Backend::Mysql).await;
}
