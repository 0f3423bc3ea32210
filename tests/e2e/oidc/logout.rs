//! Ending things: RP-initiated logout ends the wxgate session and the client's; deleting the
//! account, or unbinding the identity a sign-in used, revokes the client's grant.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rp_initiated_logout_ends_the_wxgate_session_and_the_clients_grant() {
    let w = world().await;
    let mut b = Browser::new();
    let (code, r) = w.code(&mut b, "app", "openid", "alice").await;
    let (_, tokens) = w.redeem(&code, &r).await;
    let id_token = tokens["id_token"].as_str().unwrap();

    // Without a hint, a GET asks first and ends nothing (a cross-site link signs no one out).
    let page = b.get(&w.gw("/_auth/oidc/logout")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<form method=\"post\""), "{}", page.body);
    assert_eq!(w.me(&mut b).await.status, 200);
    // A hint this provider cannot read (its signature tampered with) proves nothing: asked too.
    let last = if id_token.ends_with('A') { "B" } else { "A" };
    let forged = format!("{}{last}", &id_token[..id_token.len() - 1]);
    let page = b
        .get(&w.gw(&format!("/_auth/oidc/logout?id_token_hint={forged}")))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<form method=\"post\""), "{}", page.body);
    assert_eq!(w.me(&mut b).await.status, 200);
    // An unregistered post_logout_redirect_uri is an error page, never a redirect.
    let page = b
        .get(&w.gw(&format!(
            "/_auth/oidc/logout?id_token_hint={id_token}&post_logout_redirect_uri={}",
            enc("https://evil.example/")
        )))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.location().is_none());
    assert_eq!(w.me(&mut b).await.status, 200, "an error page ends nothing");

    let page = b
        .get(&w.gw(&format!(
            "/_auth/oidc/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye-1",
            enc(&w.bye_uri)
        )))
        .await;
    assert_eq!(page.status, 302, "{}", page.body);
    assert_eq!(
        page.location().unwrap(),
        format!("{}?state=bye-1", w.bye_uri)
    );
    assert!(
        page.set_cookie("wxgate")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "{:?}",
        page.set_cookies
    );
    // The wxgate session is over (even with the old cookie), and so is the client's grant.
    assert_eq!(w.me(&mut b).await.status, 401);
    let (status, _) = w.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(
        w.userinfo(tokens["access_token"].as_str().unwrap()).await.0,
        401
    );
    // The next authorization asks the person to sign in again.
    let (url, _) = w.authorize_url("app", "openid", &[]);
    let (_, trail) = b.open(&url).await;
    assert!(trail.last().unwrap().contains("/_auth/login?"), "{trail:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_account_revokes_its_oidc_grants() {
    let w = world().await;
    let mut b = Browser::new();
    let (code, r) = w.code(&mut b, "app", "openid profile", "alice").await;
    let (_, tokens) = w.redeem(&code, &r).await;
    let access = b.cookie("127.0.0.1", "wxgate").unwrap().to_string();
    let deleted = w
        .http
        .delete(w.gw("/_auth/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_the_grant_is_over(&w, &tokens).await;
}

/// The client's refresh token is refused as `invalid_grant` and its access token at once.
async fn assert_the_grant_is_over(w: &World, tokens: &Value) {
    let (status, body) = w.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert_eq!(
        w.userinfo(tokens["access_token"].as_str().unwrap()).await.0,
        401
    );
}

/// docs/oidc.md: unbinding the WeChat identity a sign-in used ends the client's grant too (its
/// session carries the browser session's identity, which the unbind's revocation matches).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbinding_the_identity_a_sign_in_used_ends_the_clients_grant() {
    let w = world().await;
    let mut b = Browser::new();
    let (code, r) = w.code(&mut b, "app", "openid profile", "alice").await;
    let (_, tokens) = w.redeem(&code, &r).await;
    let me: Value = serde_json::from_str(&w.me(&mut b).await.body).unwrap();
    let user = me["user"]["id"].as_str().unwrap();
    let identity = &me["user"]["identities"][0];
    let binding = format!(
        "{}:{}",
        identity["appid"].as_str().unwrap(),
        identity["openid"].as_str().unwrap()
    );
    let out = tokio::task::block_in_place(|| {
        wxgate_tests::gateway::cli(
            &["user", "unbind", user, &binding, "--by", "ops"],
            &w.gw.config_path(),
        )
    });
    assert!(
        out.contains("2 session(s) ended"),
        "browser and client: {out}"
    );
    assert_the_grant_is_over(&w, &tokens).await;
}
