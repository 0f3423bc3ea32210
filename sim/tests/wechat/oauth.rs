//! OA web OAuth and website QR login: pages, exchange, refresh, userinfo, auth.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;

const CALLBACK: &str = "http%3A%2F%2F127.0.0.1%3A8080%2F_auth%2Foa%2Fcallback";

fn page_url(page: &str, appid: &str, scope: &str, extra: &str) -> String {
    format!(
        "/connect/{page}?appid={appid}&redirect_uri={CALLBACK}&response_type=code&scope={scope}&state=abc123{extra}"
    )
}

/// Opens an authorisation page and returns the redirect's Location.
async fn authorize(sim: &Sim, page: &str, appid: &str, scope: &str, extra: &str) -> String {
    let response = sim.get_raw(&page_url(page, appid, scope, extra)).await;
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "{page} {appid} {scope}"
    );
    let location = response.headers().get("location").expect("Location");
    location.to_str().expect("ASCII Location").to_owned()
}

fn code_of(location: &str) -> String {
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let code = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("code="))
        .unwrap_or_else(|| panic!("no code in {location}"));
    code.to_owned()
}

async fn exchange(sim: &Sim, appid: &str, secret: &str, code: &str) -> Value {
    sim.get(&format!(
        "/sns/oauth2/access_token?appid={appid}&secret={secret}&code={code}&grant_type=authorization_code"
    ))
    .await
}

async fn userinfo(sim: &Sim, grant: &Value) -> Value {
    let (token, openid) = (string(&grant["access_token"]), string(&grant["openid"]));
    sim.get(&format!(
        "/sns/userinfo?access_token={token}&openid={openid}&lang=zh_CN"
    ))
    .await
}

async fn auth(sim: &Sim, token: &Value, openid: &Value) -> Value {
    let (token, openid) = (string(token), string(openid));
    sim.get(&format!("/sns/auth?access_token={token}&openid={openid}"))
        .await
}

#[tokio::test]
async fn userinfo_scope_redirect_exchange_and_profile() {
    let sim = Sim::start().await;
    let location = authorize(
        &sim,
        "oauth2/authorize",
        OA,
        "snsapi_userinfo",
        "&sim_user=alice",
    )
    .await;
    let code = code_of(&location);
    assert_eq!(
        location,
        format!("http://127.0.0.1:8080/_auth/oa/callback?code={code}&state=abc123")
    );
    assert_eq!(code.len(), 32);

    let grant = exchange(&sim, OA, OA_SECRET, &code).await;
    assert!(grant.get("errcode").is_none(), "{grant}");
    let identity = sim.identity(OA, "alice").await;
    assert_eq!(grant["openid"], identity["openid"]);
    assert_eq!(grant["unionid"], identity["unionid"]);
    assert_eq!(grant["scope"], "snsapi_userinfo");
    assert_eq!(grant["expires_in"], 7200);
    assert!(grant.get("is_snapshotuser").is_none());
    assert_err(&exchange(&sim, OA, OA_SECRET, &code).await, 40163);

    let profile = userinfo(&sim, &grant).await;
    assert!(profile.get("errcode").is_none(), "{profile}");
    assert_eq!(profile["openid"], grant["openid"]);
    assert_eq!(profile["nickname"], "alice");
    assert_eq!(profile["sex"], 0);
    assert_eq!(profile["country"], "");
    assert_eq!(profile["privilege"], json!([]));
    assert_eq!(profile["unionid"], identity["unionid"]);
    assert!(string(&profile["headimgurl"]).ends_with("/132"));

    assert_eq!(
        auth(&sim, &grant["access_token"], &grant["openid"]).await,
        json!({"errcode": 0, "errmsg": "ok"})
    );
    let other = sim.identity(MP, "alice").await;
    assert_err(
        &auth(&sim, &grant["access_token"], &other["openid"]).await,
        40003,
    );
    let wrong_openid = json!({"access_token": grant["access_token"], "openid": other["openid"]});
    assert_err(&userinfo(&sim, &wrong_openid).await, 40003);

    sim.advance(7200).await;
    assert_err(&userinfo(&sim, &grant).await, 42001);
    assert_err(
        &auth(&sim, &grant["access_token"], &grant["openid"]).await,
        42001,
    );
    let unknown = json!({"access_token": "86_unknown", "openid": grant["openid"]});
    assert_err(&userinfo(&sim, &unknown).await, 40001);
}

#[tokio::test]
async fn base_scope_has_no_unionid_and_no_profile() {
    let sim = Sim::start().await;
    sim.control("/_sim/next_user", json!({"user": "bob"})).await;
    let code = code_of(&authorize(&sim, "oauth2/authorize", OA, "snsapi_base", "").await);
    let grant = exchange(&sim, OA, OA_SECRET, &code).await;
    assert_eq!(grant["openid"], sim.identity(OA, "bob").await["openid"]);
    assert_eq!(grant["scope"], "snsapi_base");
    assert!(grant.get("unionid").is_none(), "{grant}");
    assert_err(&userinfo(&sim, &grant).await, 48001);
    assert_eq!(
        errcode(&auth(&sim, &grant["access_token"], &grant["openid"]).await),
        0
    );

    // Configurable: some apps do get unionid for base.
    sim.control(
        "/_sim/apps",
        json!({"appid": OA, "secret": OA_SECRET, "kind": "official_account", "open_platform": "demo-open",
               "redirect_domain": "127.0.0.1", "unionid_for_base": true}),
    )
    .await;
    let code = code_of(&authorize(&sim, "oauth2/authorize", OA, "snsapi_base", "").await);
    let grant = exchange(&sim, OA, OA_SECRET, &code).await;
    assert_eq!(grant["unionid"], sim.identity(OA, "bob").await["unionid"]);
}

#[tokio::test]
async fn oa_code_errors() {
    let sim = Sim::start().await;
    let code = code_of(
        &authorize(
            &sim,
            "oauth2/authorize",
            OA,
            "snsapi_userinfo",
            "&sim_user=alice",
        )
        .await,
    );
    assert_err(&exchange(&sim, WEB, WEB_SECRET, &code).await, 40029);
    assert_err(&exchange(&sim, OA, "wrong", &code).await, 40125);
    assert_err(
        &sim.get(&format!(
            "/sns/oauth2/access_token?appid={OA}&secret={OA_SECRET}&grant_type=authorization_code"
        ))
        .await,
        41008,
    );
    sim.advance(301).await;
    assert_err(&exchange(&sim, OA, OA_SECRET, &code).await, 40029);
}

#[tokio::test]
async fn page_errors() {
    let sim = Sim::start().await;
    let cases = [
        (page_url("oauth2/authorize", WEB, "snsapi_userinfo", "&sim_user=alice"), "10016"),
        (page_url("oauth2/authorize", OA, "snsapi_login", "&sim_user=alice"), "10005"),
        (page_url("qrconnect", WEB, "snsapi_userinfo", "&sim_user=alice"), "10005"),
        (page_url("qrconnect", OA, "snsapi_login", "&sim_user=alice"), "website"),
        (
            format!("/connect/oauth2/authorize?appid={OA}&redirect_uri=http%3A%2F%2Fevil.example%2Fcb&response_type=code&scope=snsapi_base&sim_user=alice"),
            "10003",
        ),
        (page_url("oauth2/authorize", OA, "snsapi_base", "&state=bad-state&sim_user=alice"), "state"),
        (page_url("oauth2/authorize", OA, "snsapi_base", &format!("&state={}&sim_user=alice", "a".repeat(129))), "state"),
        (page_url("oauth2/authorize", OA, "snsapi_base", "&sim_user=nobody"), "unknown simulated user"),
    ];
    for (url, needle) in cases {
        let response = sim.get_raw(&url).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
        let html = response.text().await.expect("page");
        assert!(html.contains(needle), "{url}: expected {needle} in {html}");
    }
    // No user chosen at all: a page offering the seeded users, and a refusal.
    for (page, app, scope, verb) in [
        ("oauth2/authorize", OA, "snsapi_base", "Allow as"),
        ("qrconnect", WEB, "snsapi_login", "Scan as"),
    ] {
        let url = page_url(page, app, scope, "");
        let response = sim.get_raw(&url).await;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let html = response.text().await.expect("page");
        assert!(
            html.contains("sim_user=alice") && html.contains(&format!("{verb} alice")),
            "{html}"
        );
        assert!(html.contains("sim_deny=1"), "{html}");
    }
}

#[tokio::test]
async fn deny_redirects_with_state_only_once() {
    let sim = Sim::start().await;
    sim.control("/_sim/next_user", json!({"user": "alice", "deny": true}))
        .await;
    let denied = authorize(&sim, "oauth2/authorize", OA, "snsapi_userinfo", "").await;
    assert_eq!(
        denied,
        "http://127.0.0.1:8080/_auth/oa/callback?state=abc123"
    );
    let allowed = authorize(&sim, "oauth2/authorize", OA, "snsapi_userinfo", "").await;
    assert_eq!(code_of(&allowed).len(), 32);
}

#[tokio::test]
async fn snapshot_users_get_virtual_identities() {
    let sim = Sim::start().await;
    sim.control("/_sim/users/alice/flags", json!({"snapshot": true}))
        .await;
    let code = code_of(
        &authorize(
            &sim,
            "oauth2/authorize",
            OA,
            "snsapi_userinfo",
            "&sim_user=alice",
        )
        .await,
    );
    let grant = exchange(&sim, OA, OA_SECRET, &code).await;
    assert_eq!(grant["is_snapshotuser"], 1);
    let real = sim.identity(OA, "alice").await;
    assert_ne!(grant["openid"], real["openid"]);
    assert_ne!(grant["unionid"], real["unionid"]);
    assert_err(&userinfo(&sim, &grant).await, 48001);
}

#[tokio::test]
async fn qrconnect_login_with_unionid_and_ten_minute_codes() {
    let sim = Sim::start().await;
    let first =
        code_of(&authorize(&sim, "qrconnect", WEB, "snsapi_login", "&sim_user=alice").await);
    let second =
        code_of(&authorize(&sim, "qrconnect", WEB, "snsapi_login", "&sim_user=alice").await);
    sim.advance(540).await;
    let grant = exchange(&sim, WEB, WEB_SECRET, &first).await;
    assert_eq!(grant["scope"], "snsapi_login");
    assert_eq!(grant["openid"], sim.identity(WEB, "alice").await["openid"]);
    assert_ne!(grant["openid"], sim.identity(OA, "alice").await["openid"]);
    assert_eq!(
        grant["unionid"],
        sim.identity(MP, "alice").await["unionid"],
        "one open platform"
    );
    assert_eq!(userinfo(&sim, &grant).await["unionid"], grant["unionid"]);

    sim.advance(61).await;
    assert_err(&exchange(&sim, WEB, WEB_SECRET, &second).await, 40029);
}

#[tokio::test]
async fn refresh_keeps_a_live_token_and_expires_after_30_days() {
    let sim = Sim::start().await;
    let code = code_of(&authorize(&sim, "qrconnect", WEB, "snsapi_login", "&sim_user=bob").await);
    let grant = exchange(&sim, WEB, WEB_SECRET, &code).await;
    let refresh_url = format!(
        "/sns/oauth2/refresh_token?appid={WEB}&grant_type=refresh_token&refresh_token={}",
        string(&grant["refresh_token"])
    );

    let live = sim.get(&refresh_url).await;
    assert!(live.get("errcode").is_none(), "{live}");
    assert_eq!(
        live["access_token"], grant["access_token"],
        "still valid: same token"
    );
    assert_eq!(live["openid"], grant["openid"]);
    assert_eq!(live["refresh_token"], grant["refresh_token"]);

    sim.advance(7200).await;
    let renewed = sim.get(&refresh_url).await;
    assert_ne!(
        renewed["access_token"], grant["access_token"],
        "expired: a new token"
    );
    assert_err(&userinfo(&sim, &grant).await, 42001);
    assert_eq!(errcode(&userinfo(&sim, &renewed).await), 0);

    assert_err(
        &sim.get(&format!(
            "/sns/oauth2/refresh_token?appid={WEB}&grant_type=refresh_token&refresh_token=86_nope"
        ))
        .await,
        40030,
    );
    assert_err(
        &sim.get(&format!(
            "/sns/oauth2/refresh_token?appid={OA}&grant_type=refresh_token&refresh_token={}",
            string(&grant["refresh_token"])
        ))
        .await,
        40030,
    );
    sim.advance(30 * 86_400).await;
    assert_err(&sim.get(&refresh_url).await, 42002);
}
