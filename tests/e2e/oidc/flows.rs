//! The flows a client runs: code + PKCE + nonce after a QR login, the id_token checked via
//! discovery and JWKS, userinfo three ways, refresh, pairwise subjects, two replicas.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_signs_a_person_in_with_code_pkce_and_nonce_and_sees_the_same_user() {
    let w = world().await;
    let mut b = Browser::new();
    let (url, r) = w.authorize_url("app", "openid profile phone wechat", &[]);
    let (back, trail) = w.through_login(&mut b, &url, "alice").await;
    // No session: the login page with every channel first, then back to the authorization.
    assert!(
        trail[0].contains("/_auth/login?return_to=%2F_auth%2Foidc%2Fauthorize"),
        "{trail:?}"
    );
    assert_eq!(param(&back, "state").as_deref(), Some(r.state.as_str()));
    assert_eq!(
        param(&back, "iss").as_deref(),
        Some(w.gw("/_auth").as_str())
    );
    let code = param(&back, "code").unwrap();
    let user = w.me(&mut b).await.json()["user"].clone();

    let (status, tokens) = w.redeem(&code, &r).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"]
        .as_str()
        .unwrap()
        .starts_with("ort_"));
    let access = tokens["access_token"].as_str().unwrap();
    let id = w
        .verify_id_token(tokens["id_token"].as_str().unwrap(), "app")
        .await;
    assert_eq!(
        id["iss"],
        w.gw("/_auth"),
        "byte-identical to discovery's issuer"
    );
    assert_eq!(
        id["sub"], user["id"],
        "the person's user id, as upstreams see it"
    );
    assert_eq!(id["aud"], "app");
    assert_eq!(id["azp"], "app");
    assert_eq!(id["nonce"], r.nonce.as_str());
    assert_eq!(id["at_hash"], at_hash(access).as_str());
    assert!(id["auth_time"].as_i64().unwrap() <= id["iat"].as_i64().unwrap());
    assert_eq!(id["name"], "爱丽丝");
    // A QR sign-in proves no phone: none is claimed (nor invented), though the scope asks.
    assert!(id.get("phone_number").is_none(), "{id}");
    assert_eq!(user["phone"], Value::Null);

    // userinfo: GET with the header, POST with the header, POST with the token in the body.
    let (status, info) = w.userinfo(access).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["sub"], id["sub"], "userinfo's sub is the id_token's");
    assert!(info["wechat_unionid"].is_string(), "{info}");
    let posted = w
        .http
        .post(w.gw("/_auth/oidc/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let in_body = w
        .http
        .post(w.gw("/_auth/oidc/userinfo"))
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(in_body.status(), 200);
    assert_eq!(in_body.json::<Value>().await.unwrap()["sub"], id["sub"]);

    // Refresh: a new pair and a new id_token for the same person, with the same auth_time.
    let (status, again) = w.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{again}");
    assert_ne!(again["refresh_token"], tokens["refresh_token"]);
    let id2 = w
        .verify_id_token(again["id_token"].as_str().unwrap(), "app")
        .await;
    assert_eq!(id2["sub"], id["sub"]);
    assert_eq!(id2["auth_time"], id["auth_time"]);
    assert!(
        id2.get("nonce").is_none(),
        "a refreshed id_token carries no nonce"
    );
    assert_eq!(
        w.userinfo(again["access_token"].as_str().unwrap()).await.0,
        200
    );
    // A narrower scope for one answer; a wider one is refused.
    let (status, narrow) = w
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", again["refresh_token"].as_str().unwrap()),
                ("scope", "openid"),
            ],
            Some(&basic("app", APP_SECRET)),
        )
        .await
        .into_pair();
    assert_eq!(
        (status, narrow["scope"].as_str()),
        (200, Some("openid")),
        "{narrow}"
    );
    let (_, info) = w.userinfo(narrow["access_token"].as_str().unwrap()).await;
    assert!(info.get("name").is_none(), "{info}");
    let (status, wide) = w
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", narrow["refresh_token"].as_str().unwrap()),
                ("scope", "openid offline_access"),
            ],
            Some(&basic("app", APP_SECRET)),
        )
        .await
        .into_pair();
    assert_eq!(
        (status, wide["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    // Only the granted scopes' claims: spa may have openid and profile.
    let (code, r) = w.code(&mut b, "spa", "openid profile phone", "alice").await;
    let (status, body, _) = w
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &w.redirect_uri),
                ("code_verifier", &r.verifier),
                ("client_id", "spa"),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "openid profile");
    let (_, info) = w.userinfo(body["access_token"].as_str().unwrap()).await;
    assert!(info.get("phone_number").is_none(), "{info}");

    let metrics = reqwest::get(w.gw("/_auth/healthz")).await.unwrap().status();
    assert_eq!(metrics, 200);
    let log = w.gw.logs();
    assert!(
        !log.contains(&code) && !log.contains(access),
        "codes and tokens are never logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairwise_client_sees_its_own_stable_sub_and_userinfo_agrees() {
    let w = world().await;
    let mut b = Browser::new();
    let pairwise = |code: String, r: Request| {
        let w = &w;
        async move {
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
            assert_eq!(status, 200, "{body}");
            let id = w
                .verify_id_token(body["id_token"].as_str().unwrap(), "pw")
                .await;
            let (_, info) = w.userinfo(body["access_token"].as_str().unwrap()).await;
            assert_eq!(
                info["sub"], id["sub"],
                "Gitea requires userinfo's sub to be the id_token's"
            );
            id["sub"].as_str().unwrap().to_string()
        }
    };
    let (code, r) = w.code(&mut b, "pw", "openid", "alice").await;
    let first = pairwise(code, r).await;
    let (code, r) = w.code(&mut b, "app", "openid", "alice").await;
    let (_, public) = w.redeem(&code, &r).await;
    let public = w
        .verify_id_token(public["id_token"].as_str().unwrap(), "app")
        .await["sub"]
        .clone();
    assert_ne!(
        first,
        public.as_str().unwrap(),
        "pw cannot join its users with app's by sub"
    );
    // A new sign-in (another browser) is the same person: the same pairwise sub.
    let mut other = Browser::new();
    let (code, r) = w.code(&mut other, "pw", "openid", "alice").await;
    assert_eq!(pairwise(code, r).await, first);
    let mut bob = Browser::new();
    let (code, r) = w.code(&mut bob, "pw", "openid", "bob").await;
    assert_ne!(pairwise(code, r).await, first);
}

/// One address in front of several replicas, as a load balancer: each new connection goes to
/// the next. Replicas share `public_url` (this address), so they share the issuer.
async fn front() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<std::net::SocketAddr>>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let targets = std::sync::Arc::new(std::sync::Mutex::new(Vec::<std::net::SocketAddr>::new()));
    let shared = targets.clone();
    tokio::spawn(async move {
        let mut next = 0usize;
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = {
                let t = shared.lock().unwrap();
                next += 1;
                t.get(next % t.len().max(1)).copied()
            };
            let Some(target) = target else { continue };
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    (addr, targets)
}

/// Two replicas on one database and keys behind one address: the browser's requests alternate
/// between them; a code minted by one is redeemed on the other; userinfo and refresh are
/// answered by either; a code reuse seen by one is refused by the other at once.
async fn the_flows_run_across_two_replicas(backend: Backend) {
    let (front, targets) = front().await;
    let Some(w) = world_with(backend, |b| {
        b.server(&format!("public_url = \"http://{front}\""))
    })
    .await
    else {
        return;
    };
    let second = tokio::task::block_in_place(|| w.builder.start());
    targets.lock().unwrap().extend([w.gw.addr, second.addr]);
    let on = |gw: &TestGateway, path: &str| format!("http://{}{path}", gw.addr);
    let mut b = Browser::new();
    let (code, r) = w.code(&mut b, "app", "openid profile", "alice").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", w.redirect_uri.as_str()),
        ("code_verifier", r.verifier.as_str()),
    ];
    let tokens: Value = w
        .http
        .post(on(&second, "/_auth/oidc/token"))
        .header("authorization", basic("app", APP_SECRET))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(tokens["id_token"].is_string(), "{tokens}");
    // The first replica knows the code is spent.
    let (status, body) = w.redeem(&code, &r).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let info = w
        .http
        .get(on(&second, "/_auth/oidc/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    // The reuse revoked the family: the second replica, which did not see it happen, says so.
    assert_eq!(info.status(), 401);

    let (code, r) = w.code(&mut b, "app", "openid profile", "alice").await;
    let (_, tokens) = w.redeem(&code, &r).await;
    let refreshed: Value = w
        .http
        .post(on(&second, "/_auth/oidc/token"))
        .header("authorization", basic("app", APP_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(refreshed["refresh_token"].is_string(), "{refreshed}");
    assert_eq!(
        w.userinfo(refreshed["access_token"].as_str().unwrap())
            .await
            .0,
        200
    );
    // Discovery and JWKS are the same documents on both.
    for path in [
        "/_auth/.well-known/openid-configuration",
        "/_auth/oidc/jwks.json",
    ] {
        let a = w
            .http
            .get(w.gw(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let b2 = w
            .http
            .get(on(&second, path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(a, b2, "{path}");
    }
}

per_backend!(the_flows_run_across_two_replicas);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_id_token_key_is_published_before_it_signs_and_the_old_one_still_verifies() {
    let w = world_with(Backend::Sqlite, |b| b.tokens("key_activation = \"5s\""))
        .await
        .unwrap();
    let mut b = Browser::new();
    let (code, r) = w.code(&mut b, "app", "openid", "alice").await;
    let (_, tokens) = w.redeem(&code, &r).await;
    let old_token = tokens["id_token"].as_str().unwrap().to_string();
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    let first = kid(&old_token);

    let rotated_at = std::time::Instant::now();
    tokio::task::block_in_place(|| {
        wxgate_tests::gateway::cli(&["keys", "rotate"], &w.gw.config_path())
    });
    // Published within a reload period (half the activation)...
    let published = loop {
        let jwks: Value = w
            .http
            .get(w.gw("/_auth/oidc/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if jwks["keys"].as_array().unwrap().len() == 2 {
            break rotated_at.elapsed();
        }
        assert!(
            rotated_at.elapsed() < std::time::Duration::from_secs(4),
            "{jwks}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // ...while the previous key still signs.
    let (_, again) = w.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    if rotated_at.elapsed() < std::time::Duration::from_millis(4900) {
        assert_eq!(
            kid(again["id_token"].as_str().unwrap()),
            first,
            "published at {published:?}"
        );
    }
    tokio::time::sleep(
        std::time::Duration::from_secs(5).saturating_sub(rotated_at.elapsed())
            + std::time::Duration::from_millis(500),
    )
    .await;
    let (_, later) = w.refresh(again["refresh_token"].as_str().unwrap()).await;
    let new = later["id_token"].as_str().unwrap();
    assert_ne!(kid(new), first, "the new key signs once active");
    w.verify_id_token(new, "app").await;
    // A client holding the old id_token still finds its key.
    w.verify_id_token(&old_token, "app").await;
}
