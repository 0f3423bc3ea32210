//! The rules a provider must hold: codes single use (a second redemption revokes what the first
//! issued), exact redirect URIs (an unknown one is never redirected to), PKCE, `prompt`,
//! client authentication, and tokens that never cross between the gateway and its clients.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_redeemed_twice_revokes_what_the_first_redemption_issued() {
    let w = world().await;
    let mut b = Browser::new();
    let (code, r) = w.code(&mut b, "app", "openid", "alice").await;
    let (status, first) = w.redeem(&code, &r).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        w.userinfo(first["access_token"].as_str().unwrap()).await.0,
        200
    );

    let (status, again) = w.redeem(&code, &r).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant")),
        "{again}"
    );
    // What the first redemption issued is revoked: its access token and its refresh token.
    let (status, info) = w.userinfo(first["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401, "{info}");
    assert_eq!(info["error"], "invalid_token");
    let (status, body) = w.refresh(first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The person's own wxgate session is untouched.
    assert_eq!(w.me(&mut b).await.status, 200);
    // An expired or invented code is refused the same way, and revokes nothing.
    let (status, body) = w
        .redeem("oc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &r)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_state_of_any_characters_comes_back_whole_after_the_sign_in() {
    let w = world().await;
    let mut b = Browser::new();
    // ASP.NET's encrypted states run to hundreds of characters; RFC 6749 allows any visible
    // ASCII, a backslash and a literal %20 included.
    let state = format!("{}\\a%20b{{\"k\":1}}", "s".repeat(900));
    let (url, r) = w.authorize_url("app", "openid", &[]);
    let url = url.replace(
        &format!("state={}", r.state),
        &format!("state={}", enc(&state)),
    );
    let (back, _) = w.through_login(&mut b, &url, "alice").await;
    assert_eq!(param(&back, "state").as_deref(), Some(state.as_str()));
    assert!(param(&back, "code").is_some(), "{back}");
    // A client cannot forge the gateway's "signed in after" mark to skip prompt=login.
    let (url, _) = w.authorize_url(
        "app",
        "openid",
        &[("prompt", "login"), ("wxgate_login_after", "0")],
    );
    let (_, trail) = b.open(&url).await;
    assert!(trail.last().unwrap().contains("/_auth/login?"), "{trail:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_redirect_uri_or_client_gets_an_error_page_never_a_redirect() {
    let w = world().await;
    let mut b = Browser::new();
    for (client, redirect) in [
        ("app", "https://evil.example/cb".to_string()),
        ("app", format!("{}/", w.redirect_uri)),
        ("app", w.redirect_uri.to_uppercase()),
        ("nobody", w.redirect_uri.clone()),
    ] {
        let url = format!(
            "{}?response_type=code&client_id={client}&redirect_uri={}&scope=openid&state=s",
            w.gw("/_auth/oidc/authorize"),
            enc(&redirect)
        );
        let page = b.get(&url).await;
        assert_eq!(page.status, 400, "{client} {redirect}");
        assert!(
            page.location().is_none(),
            "never a redirect: {client} {redirect}"
        );
        assert!(page.body.contains("<html"), "an error page");
    }
    // At the token endpoint, a redirect_uri other than the authorization's is invalid_grant,
    // and the code stays good for the rightful request.
    let (code, r) = w.code(&mut b, "app", "openid", "alice").await;
    let (status, body, _) = w
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://evil.example/cb"),
                ("code_verifier", &r.verifier),
            ],
            Some(&basic("app", APP_SECRET)),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(w.redeem(&code, &r).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_is_required_of_public_clients_s256_only_and_checked_at_the_token_endpoint() {
    let w = world().await;
    let mut b = Browser::new();
    w.code(&mut b, "app", "openid", "alice").await; // signed in
    let base = format!(
        "{}?response_type=code&client_id=spa&redirect_uri={}&scope=openid&state=st",
        w.gw("/_auth/oidc/authorize"),
        enc(&w.redirect_uri)
    );
    let challenge = s256(&random());
    for (extra, why) in [
        (String::new(), "no PKCE from a public client"),
        (
            format!("&code_challenge={challenge}&code_challenge_method=plain"),
            "plain",
        ),
        (
            format!("&code_challenge={challenge}"),
            "no method means plain",
        ),
        (
            "&code_challenge=short&code_challenge_method=S256".to_string(),
            "too short",
        ),
    ] {
        let page = b.get(&format!("{base}{extra}")).await;
        assert_eq!(page.status, 302, "{why}");
        let to = page.location().unwrap();
        assert!(to.starts_with(&w.redirect_uri), "{why}: {to}");
        assert_eq!(
            param(to, "error").as_deref(),
            Some("invalid_request"),
            "{why}: {to}"
        );
        assert_eq!(param(to, "state").as_deref(), Some("st"), "{why}");
        assert!(param(to, "code").is_none());
    }
    // A wrong verifier, or none, is invalid_grant; the code is not burnt by it.
    let (code, r) = w.code(&mut b, "spa", "openid", "alice").await;
    let spa = |code: &str, verifier: Option<&str>| {
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", w.redirect_uri.clone()),
            ("client_id", "spa".to_string()),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v.to_string()));
        }
        form
    };
    for verifier in [Some(random()), None] {
        let form = spa(&code, verifier.as_deref());
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body, _) = w.token(&form, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{body}"
        );
    }
    let form = spa(&code, Some(&r.verifier));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body, _) = w.token(&form, None).await;
    assert_eq!(status, 200, "{body}");
    // A confidential client that skipped PKCE may not add a verifier later (a downgrade).
    let page = b
        .get(&format!(
            "{}?response_type=code&client_id=app&redirect_uri={}&scope=openid&state=x",
            w.gw("/_auth/oidc/authorize"),
            enc(&w.redirect_uri)
        ))
        .await;
    let code = param(page.location().unwrap(), "code").expect("a code without PKCE");
    let (status, body, _) = w
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &w.redirect_uri),
                ("code_verifier", &random()),
            ],
            Some(&basic("app", APP_SECRET)),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_none_answers_login_required_without_a_session_and_prompt_login_asks_again() {
    let w = world().await;
    let mut b = Browser::new();
    let (url, r) = w.authorize_url("app", "openid", &[("prompt", "none")]);
    let page = b.get(&url).await;
    assert_eq!(page.status, 302);
    let to = page.location().unwrap();
    assert!(to.starts_with(&w.redirect_uri), "{to}");
    assert_eq!(param(to, "error").as_deref(), Some("login_required"));
    assert_eq!(param(to, "state").as_deref(), Some(r.state.as_str()));

    // Signed in: prompt=none gets a code at once.
    w.code(&mut b, "app", "openid", "alice").await;
    let (url, _) = w.authorize_url("app", "openid", &[("prompt", "none")]);
    let page = b.get(&url).await;
    assert!(
        param(page.location().unwrap(), "code").is_some(),
        "{:?}",
        page.location()
    );

    // prompt=login: back to the login page although signed in; after signing in again, a
    // code whose id_token says the person signed in just now.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let asked_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (url, r) = w.authorize_url("app", "openid", &[("prompt", "login")]);
    let (back, trail) = w.through_login(&mut b, &url, "alice").await;
    assert!(trail[0].contains("/_auth/login?"), "{trail:?}");
    let (status, tokens) = w.redeem(&param(&back, "code").unwrap(), &r).await;
    assert_eq!(status, 200);
    let id = w
        .verify_id_token(tokens["id_token"].as_str().unwrap(), "app")
        .await;
    assert!(id["auth_time"].as_i64().unwrap() >= asked_at, "{id}");

    // max_age=0 with prompt=none: the session is too old, so login_required.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (url, _) = w.authorize_url("app", "openid", &[("prompt", "none"), ("max_age", "0")]);
    let page = b.get(&url).await;
    assert_eq!(
        param(page.location().unwrap(), "error").as_deref(),
        Some("login_required")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_credentials_are_understood_encoded_and_as_sent_and_a_wrong_secret_is_a_401() {
    let w = world().await;
    let mut b = Browser::new();
    let raw = format!("Basic {}", STANDARD.encode(format!("app:{APP_SECRET}")));
    let encoded = basic("app", APP_SECRET);
    assert_ne!(
        raw, encoded,
        "the secret has characters that encoding changes"
    );
    for authorization in [encoded.as_str(), raw.as_str()] {
        let (code, r) = w.code(&mut b, "app", "openid", "alice").await;
        let (status, body, headers) = w
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &w.redirect_uri),
                    ("code_verifier", &r.verifier),
                ],
                Some(authorization),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["cache-control"], "no-store");
    }
    // client_secret_post.
    let (code, r) = w.code(&mut b, "app", "openid", "alice").await;
    let (status, body, _) = w
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &w.redirect_uri),
                ("code_verifier", &r.verifier),
                ("client_id", "app"),
                ("client_secret", APP_SECRET),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // A wrong secret, an unknown client, a confidential client without its secret: 401 with
    // the challenge.
    let (code, r) = w.code(&mut b, "app", "openid", "alice").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", w.redirect_uri.as_str()),
        ("code_verifier", r.verifier.as_str()),
    ];
    for authorization in [
        basic("app", "wrong-secret-0123456789"),
        basic("nobody", APP_SECRET),
    ] {
        let (status, body, headers) = w.token(&form, Some(&authorization)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        assert_eq!(headers["www-authenticate"], "Basic realm=\"wxgate\"");
    }
    let mut no_secret = form.to_vec();
    no_secret.push(("client_id", "app"));
    let (status, _, _) = w.token(&no_secret, None).await;
    assert_eq!(status, 401);
    // Two methods at once is a malformed request.
    let mut both = form.to_vec();
    both.push(("client_secret", APP_SECRET));
    let (status, body, _) = w.token(&both, Some(&basic("app", APP_SECRET))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // None of it spent the code.
    assert_eq!(w.redeem(&code, &r).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_cross_between_the_gateway_and_its_clients() {
    let w = world().await;
    let mut b = Browser::new();
    let (code, r) = w.code(&mut b, "app", "openid", "alice").await;
    let (_, oidc) = w.redeem(&code, &r).await;
    let oidc_access = oidc["access_token"].as_str().unwrap();
    // The OIDC access token on a gateway route: refused.
    let api = w
        .http
        .get(w.gw("/api/x"))
        .bearer_auth(oidc_access)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    // The id_token neither.
    let api = w
        .http
        .get(w.gw("/api/x"))
        .bearer_auth(oidc["id_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    // A gateway session's access token at userinfo: refused.
    let gateway_access = b.cookie("127.0.0.1", "wxgate").unwrap().to_string();
    let (status, body) = w.userinfo(&gateway_access).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    // Refresh tokens: an OIDC one at the gateway's refresh, the gateway's at the token
    // endpoint; each refused.
    let refreshed = w
        .http
        .post(w.gw("/_auth/token/refresh"))
        .json(&serde_json::json!({"refresh_token": oidc["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 401);
    let gateway_refresh = b.cookie("127.0.0.1", "wxgate_refresh").unwrap().to_string();
    let (status, body) = w.refresh(&gateway_refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Another client presenting app's refresh token: refused, and app's token still works.
    let (status, body, _) = w
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", oidc["refresh_token"].as_str().unwrap()),
            ],
            Some(&basic("pw", PAIRWISE_SECRET)),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        w.refresh(oidc["refresh_token"].as_str().unwrap()).await.0,
        200
    );
    // The gateway session still serves its routes.
    assert_eq!(w.me(&mut b).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_lists_exactly_what_is_supported_and_metrics_count_per_client() {
    let metrics_port = wxgate_tests::gateway::free_port();
    let w = world_with(Backend::Sqlite, |b| {
        b.server(&format!("metrics_listen = \"127.0.0.1:{metrics_port}\""))
    })
    .await
    .unwrap();
    let d: Value = w
        .http
        .get(w.gw("/_auth/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], w.gw("/_auth"));
    assert_eq!(d["authorization_endpoint"], w.gw("/_auth/oidc/authorize"));
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
    );
    let jwks: Value = w
        .http
        .get(d["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert!(
        !keys.is_empty()
            && keys
                .iter()
                .all(|k| k["kty"] == "RSA" && k["kid"].is_string())
    );
    assert!(
        keys.iter().all(|k| k.get("d").is_none()),
        "public parts only"
    );

    let mut b = Browser::new();
    let (code, r) = w.code(&mut b, "app", "openid", "alice").await;
    assert_eq!(w.redeem(&code, &r).await.0, 200);
    assert_eq!(w.redeem(&code, &r).await.0, 400);
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "wxgate_oidc_requests_total{client=\"app\",endpoint=\"token\",outcome=\"ok\"} 1",
        "wxgate_oidc_requests_total{client=\"app\",endpoint=\"token\",outcome=\"invalid_grant\"} 1",
        "wxgate_oidc_requests_total{client=\"app\",endpoint=\"authorize\",outcome=\"login\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_request_resumes_only_in_its_own_browser_and_parking_is_capped() {
    let w = world_with(Backend::Sqlite, |b| {
        b.limits("browser_logins_per_minute = 5")
    })
    .await
    .unwrap();
    // The victim's browser parks a request; its resume URL leaks (history, a screenshot).
    let mut victim = Browser::new();
    let (url, _) = w.authorize_url("app", "openid", &[]);
    let (_, trail) = victim.open(&url).await;
    let resume = param(trail.last().unwrap(), "return_to").unwrap();
    assert!(resume.contains("resume=ar_"), "{resume}");
    // The attacker, signed in as themselves, opens it: an error page, no code.
    let mut attacker = Browser::new();
    w.code(&mut attacker, "app", "openid", "bob").await;
    let page = attacker.get(&w.gw(&resume)).await;
    assert_eq!(page.status, 400, "{:?}", page.location());
    assert!(page.location().is_none());
    // The victim's own browser resumes it after signing in; once a code is issued, the id
    // resumes nothing more.
    let start = victim
        .get(&w.gw(&format!("/_auth/web/authorize?return_to={}", enc(&resume))))
        .await;
    let (_, more) = victim
        .open(&crate::login::browser::as_person(
            start.location().unwrap(),
            "alice",
        ))
        .await;
    assert!(
        more.iter()
            .any(|u| u.starts_with(&w.redirect_uri) && u.contains("code=")),
        "{more:?}"
    );
    assert_eq!(victim.get(&w.gw(&resume)).await.status, 400, "spent");
    // Parking costs a row: per network, no more than browser logins may start.
    let mut stranger = Browser::new();
    let mut refused = 0;
    for _ in 0..3 {
        let (url, _) = w.authorize_url("app", "openid", &[]);
        let page = stranger.get(&url).await;
        if let Some(to) = page.location().filter(|l| l.starts_with(&w.redirect_uri)) {
            assert_eq!(
                param(to, "error").as_deref(),
                Some("temporarily_unavailable"),
                "{to}"
            );
            refused += 1;
        }
    }
    assert!(refused >= 1, "the cap holds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_client_or_a_used_refresh_token_gets_nothing_and_reuse_ends_the_family() {
    let w = world().await;
    let mut b = Browser::new();
    let (code, r) = w.code(&mut b, "app", "openid", "alice").await;
    let (_, first) = w.redeem(&code, &r).await;
    // Another client presenting app's code: refused, and app's grant stands.
    let (status, body, _) = w
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &w.redirect_uri),
                ("code_verifier", &r.verifier),
            ],
            Some(&basic("pw", PAIRWISE_SECRET)),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        w.userinfo(first["access_token"].as_str().unwrap()).await.0,
        200
    );
    // Rotation A → B → C, then A again: past its grace (its child moved on), so the family ends.
    let a = first["refresh_token"].as_str().unwrap().to_string();
    let (_, second) = w.refresh(&a).await;
    let (_, third) = w.refresh(second["refresh_token"].as_str().unwrap()).await;
    assert!(third["refresh_token"].is_string(), "{third}");
    let (status, body) = w.refresh(&a).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = w.refresh(third["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "the whole family is revoked");
    assert_eq!(
        w.userinfo(third["access_token"].as_str().unwrap()).await.0,
        401
    );
    // userinfo without any token: a bare Bearer challenge (RFC 6750 §3.1).
    let bare = w
        .http
        .get(w.gw("/_auth/oidc/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
    assert_eq!(
        bare.headers()["www-authenticate"],
        "Bearer realm=\"wxgate\""
    );
}
