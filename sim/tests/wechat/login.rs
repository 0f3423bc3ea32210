//! `/sns/jscode2session`.

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn success_has_openid_session_key_unionid_and_no_errcode() {
    let sim = Sim::start().await;
    let code = sim.login_code(MP, "alice").await;
    assert_eq!(code.len(), 32);
    let response = sim
        .get_raw(&format!(
            "/sns/jscode2session?appid={MP}&secret={MP_SECRET}&js_code={code}&grant_type=authorization_code"
        ))
        .await;
    let content_type = response.headers().get("content-type").cloned();
    assert_eq!(
        content_type.as_ref().map(|v| v.as_bytes()),
        Some(&b"text/plain"[..])
    );
    let body = wechat_body(response).await;

    assert!(body.get("errcode").is_none(), "{body}");
    let openid = string(&body["openid"]);
    assert_eq!(openid.len(), 28);
    assert!(openid.starts_with('o'));
    assert_eq!(string(&body["session_key"]).len(), 24);
    let identity = sim.identity(MP, "alice").await;
    assert_eq!(body["openid"], identity["openid"]);
    assert_eq!(body["unionid"], identity["unionid"]);
}

#[tokio::test]
async fn openids_differ_per_app_and_unionid_follows_the_open_platform() {
    let sim = Sim::start().await;
    sim.control(
        "/_sim/apps",
        json!({"appid": "wx00000000000000aa", "secret": "s", "kind": "miniprogram"}),
    )
    .await;
    let mut bodies = Vec::new();
    for (appid, secret) in [
        (MP, MP_SECRET),
        (MP2, MP2_SECRET),
        ("wx00000000000000aa", "s"),
    ] {
        let code = sim.login_code(appid, "alice").await;
        bodies.push(sim.code2session(appid, secret, &code).await);
    }
    let [mp, mp2, unbound] = bodies.as_slice() else {
        unreachable!("three exchanges")
    };
    assert_ne!(mp["openid"], mp2["openid"]);
    assert_ne!(mp["openid"], unbound["openid"]);
    assert_eq!(
        mp["unionid"], mp2["unionid"],
        "same open platform, same unionid"
    );
    assert!(unbound.get("unionid").is_none(), "unbound app: {unbound}");

    // A second login of the same user keeps the openid; another user gets another one.
    let again = sim.login_code(MP, "alice").await;
    assert_eq!(
        sim.code2session(MP, MP_SECRET, &again).await["openid"],
        mp["openid"]
    );
    let bob = sim.login_code(MP, "bob").await;
    let bob = sim.code2session(MP, MP_SECRET, &bob).await;
    assert_ne!(bob["openid"], mp["openid"]);
    assert_ne!(bob["unionid"], mp["unionid"]);
}

#[tokio::test]
async fn code_errors() {
    let sim = Sim::start().await;

    let used = sim.login_code(MP, "alice").await;
    assert_eq!(errcode(&sim.code2session(MP, MP_SECRET, &used).await), 0);
    assert_err(&sim.code2session(MP, MP_SECRET, &used).await, 40163);

    let other_app = sim.login_code(MP2, "alice").await;
    assert_err(&sim.code2session(MP, MP_SECRET, &other_app).await, 40029);
    // Still good for its own app afterwards.
    assert_eq!(
        errcode(&sim.code2session(MP2, MP2_SECRET, &other_app).await),
        0
    );

    assert_err(
        &sim.code2session(MP, MP_SECRET, "001OWsKC0kQWLc2tpINC0j7lKC0OWsKC")
            .await,
        40029,
    );

    let expired = sim.login_code(MP, "alice").await;
    let fresh_enough = sim.login_code(MP, "bob").await;
    sim.advance(301).await;
    assert_err(&sim.code2session(MP, MP_SECRET, &expired).await, 40029);
    assert_err(&sim.code2session(MP, MP_SECRET, &fresh_enough).await, 40029);
}

#[tokio::test]
async fn parameter_checks() {
    let sim = Sim::start().await;
    let code = sim.login_code(MP, "alice").await;
    let cases = [
        (
            format!("secret={MP_SECRET}&js_code={code}&grant_type=authorization_code"),
            41002,
        ),
        (
            format!("appid={MP}&js_code={code}&grant_type=authorization_code"),
            41004,
        ),
        (
            format!("appid={MP}&secret={MP_SECRET}&grant_type=authorization_code"),
            41008,
        ),
        (
            format!("appid={MP}&secret={MP_SECRET}&js_code={code}&grant_type=password"),
            40002,
        ),
        (
            format!("appid={MP}&secret={MP_SECRET}&js_code={code}"),
            40002,
        ),
        (
            format!(
                "appid=wx9999999999999999&secret=x&js_code={code}&grant_type=authorization_code"
            ),
            40013,
        ),
        (
            format!("appid={MP}&secret=wrong&js_code={code}&grant_type=authorization_code"),
            40125,
        ),
    ];
    for (query, expected) in cases {
        let body = sim.get(&format!("/sns/jscode2session?{query}")).await;
        assert_err(&body, expected);
    }
    // None of the rejected calls spent the code.
    assert_eq!(errcode(&sim.code2session(MP, MP_SECRET, &code).await), 0);
}

#[tokio::test]
async fn paths_are_case_sensitive() {
    let sim = Sim::start().await;
    for path in [
        "/sns/jsCode2Session?appid=x",
        "/sns/jscode2session/",
        "/nope",
        "/",
    ] {
        assert_err(&sim.get(path).await, 40066);
    }
}

#[tokio::test]
async fn rate_limit_is_100_per_user_per_minute() {
    let sim = Sim::start().await;
    for _ in 0..100 {
        let code = sim.login_code(MP, "alice").await;
        assert_eq!(errcode(&sim.code2session(MP, MP_SECRET, &code).await), 0);
    }
    let code = sim.login_code(MP, "alice").await;
    assert_err(&sim.code2session(MP, MP_SECRET, &code).await, 45011);

    // Per user: bob is unaffected.
    let bob = sim.login_code(MP, "bob").await;
    assert_eq!(errcode(&sim.code2session(MP, MP_SECRET, &bob).await), 0);

    // The limited call did not spend the code; a minute later it works.
    sim.advance(61).await;
    let retry = sim.login_code(MP, "alice").await;
    assert_eq!(errcode(&sim.code2session(MP, MP_SECRET, &retry).await), 0);
}

#[tokio::test]
async fn high_risk_users_are_blocked() {
    let sim = Sim::start().await;
    sim.control("/_sim/users/bob/flags", json!({"high_risk": true}))
        .await;
    let code = sim.login_code(MP, "bob").await;
    assert_err(&sim.code2session(MP, MP_SECRET, &code).await, 40226);

    sim.control("/_sim/users/bob/flags", json!({"high_risk": false}))
        .await;
    let code = sim.login_code(MP, "bob").await;
    assert_eq!(errcode(&sim.code2session(MP, MP_SECRET, &code).await), 0);
}

#[tokio::test]
async fn session_key_rotation_is_configurable() {
    let sim = Sim::start().await;
    let mut keys = Vec::new();
    for _ in 0..2 {
        let code = sim.login_code(MP, "alice").await;
        keys.push(sim.code2session(MP, MP_SECRET, &code).await["session_key"].clone());
    }
    assert_ne!(keys[0], keys[1], "default: every login rotates");

    sim.control(
        "/_sim/apps",
        json!({"appid": MP, "secret": MP_SECRET, "kind": "miniprogram",
               "open_platform": "demo-open", "session_key_rotate_after": 3600}),
    )
    .await;
    let mut kept = Vec::new();
    for advance in [0, 60, 3600] {
        sim.advance(advance).await;
        let code = sim.login_code(MP, "alice").await;
        kept.push(sim.code2session(MP, MP_SECRET, &code).await["session_key"].clone());
    }
    assert_eq!(kept[0], kept[1], "younger than an hour: kept");
    assert_ne!(kept[1], kept[2], "an hour old: rotated");
}

fn signature(session_key: &str) -> String {
    use hmac::{Hmac, Mac};
    let mac = Hmac::<sha2::Sha256>::new_from_slice(session_key.as_bytes()).expect("any key length");
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn checksession_and_reset_follow_the_current_key() {
    let sim = Sim::start().await;
    let token = string(&sim.stable_token(MP, MP_SECRET, false).await["access_token"]);
    let code = sim.login_code(MP, "alice").await;
    let login = sim.code2session(MP, MP_SECRET, &code).await;
    let (openid, key) = (string(&login["openid"]), string(&login["session_key"]));
    let sim = &sim;
    let check = |path: &'static str, key: String, method: &'static str| {
        let url = format!(
            "{path}?access_token={token}&openid={openid}&signature={}&sig_method={method}",
            signature(&key)
        );
        async move { sim.get(&url).await }
    };

    let ok = check("/wxa/checksession", key.clone(), "hmac_sha256").await;
    assert_eq!(ok, json!({"errcode": 0, "errmsg": "ok"}));
    assert_err(&check("/wxa/checksession", key.clone(), "md5").await, 87008);
    assert_err(
        &check(
            "/wxa/checksession",
            "bm90IHRoZSBrZXk=".into(),
            "hmac_sha256",
        )
        .await,
        87009,
    );

    let reset = check("/wxa/resetusersessionkey", key.clone(), "hmac_sha256").await;
    assert_eq!(reset["errcode"], 0, "{reset}");
    assert_eq!(reset["openid"], openid.as_str());
    let new_key = string(&reset["session_key"]);
    assert_ne!(new_key, key);
    assert_err(&check("/wxa/checksession", key, "hmac_sha256").await, 87009);
    assert_eq!(
        errcode(&check("/wxa/checksession", new_key, "hmac_sha256").await),
        0
    );
}
