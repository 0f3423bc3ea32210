//! `/cgi-bin/stable_token` and `/cgi-bin/token`.

use serde_json::{json, Value};

use crate::harness::*;

/// Whether a token-authenticated endpoint accepts `token`: a bogus phone code is rejected with
/// 40029 only after the token passed, so 40029 means "token fine".
async fn probe(sim: &Sim, token: &Value) -> i64 {
    let token = string(token);
    let body = sim
        .post(
            &format!("/wxa/business/getuserphonenumber?access_token={token}"),
            &json!({"code": "0".repeat(64)}),
        )
        .await;
    match errcode(&body) {
        40029 => 0,
        other => other,
    }
}

async fn plain_token(sim: &Sim, appid: &str, secret: &str) -> Value {
    sim.get(&format!(
        "/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}"
    ))
    .await
}

#[tokio::test]
async fn stable_token_is_reused_then_renewed_in_its_last_five_minutes() {
    let sim = Sim::start().await;
    let first = sim.stable_token(MP, MP_SECRET, false).await;
    assert!(first.get("errcode").is_none(), "{first}");
    assert_eq!(first["expires_in"], 7200);
    let token = string(&first["access_token"]);
    assert_eq!(token.len(), 136);
    assert!(token.starts_with("86_"));

    sim.advance(100).await;
    let same = sim.stable_token(MP, MP_SECRET, false).await;
    assert_eq!(same["access_token"], first["access_token"]);
    let left = same["expires_in"].as_i64().unwrap_or_default();
    assert!((300..=7100).contains(&left), "remaining life: {left}");

    // 6901 s after issue, 299 s are left: a new token, the old one still works until its expiry.
    sim.advance(6801).await;
    let renewed = sim.stable_token(MP, MP_SECRET, false).await;
    assert_ne!(renewed["access_token"], first["access_token"]);
    assert_eq!(renewed["expires_in"], 7200);
    assert_eq!(probe(&sim, &first["access_token"]).await, 0);
    assert_eq!(probe(&sim, &renewed["access_token"]).await, 0);

    sim.advance(300).await;
    assert_eq!(probe(&sim, &first["access_token"]).await, 42001);
    assert_eq!(probe(&sim, &renewed["access_token"]).await, 0);
}

#[tokio::test]
async fn force_refresh_revokes_at_once_at_most_every_30_seconds() {
    let sim = Sim::start().await;
    let first = sim.stable_token(MP, MP_SECRET, false).await;
    let forced = sim.stable_token(MP, MP_SECRET, true).await;
    assert_ne!(forced["access_token"], first["access_token"]);
    assert_eq!(probe(&sim, &first["access_token"]).await, 40001);
    assert_eq!(probe(&sim, &forced["access_token"]).await, 0);

    // Too soon: nothing is refreshed, the current token comes back.
    sim.advance(10).await;
    let too_soon = sim.stable_token(MP, MP_SECRET, true).await;
    assert_eq!(too_soon["access_token"], forced["access_token"]);
    assert_eq!(probe(&sim, &forced["access_token"]).await, 0);

    sim.advance(30).await;
    let again = sim.stable_token(MP, MP_SECRET, true).await;
    assert_ne!(again["access_token"], forced["access_token"]);
    assert_eq!(probe(&sim, &forced["access_token"]).await, 40001);
}

#[tokio::test]
async fn stable_token_request_errors() {
    let sim = Sim::start().await;
    assert_err(&sim.get("/cgi-bin/stable_token").await, 43002);
    let cases = [
        (
            json!({"grant_type": "client_credential", "secret": MP_SECRET}),
            41002,
        ),
        (
            json!({"grant_type": "client_credential", "appid": MP}),
            41004,
        ),
        (
            json!({"grant_type": "password", "appid": MP, "secret": MP_SECRET}),
            40002,
        ),
        (
            json!({"grant_type": "client_credential", "appid": "wx9999999999999999", "secret": "x"}),
            40013,
        ),
        (
            json!({"grant_type": "client_credential", "appid": MP, "secret": "wrong"}),
            40125,
        ),
    ];
    for (body, expected) in cases {
        assert_err(&sim.post("/cgi-bin/stable_token", &body).await, expected);
    }
    let empty = sim
        .client
        .post(sim.url("/cgi-bin/stable_token"))
        .send()
        .await
        .expect("POST");
    assert_err(&wechat_body(empty).await, 44002);
}

#[tokio::test]
async fn plain_token_hands_over_for_300_seconds() {
    let sim = Sim::start().await;
    let first = plain_token(&sim, MP, MP_SECRET).await;
    assert!(first.get("errcode").is_none(), "{first}");
    assert_eq!(first["expires_in"], 7200);
    sim.advance(10).await;
    let second = plain_token(&sim, MP, MP_SECRET).await;
    assert_ne!(second["access_token"], first["access_token"]);

    sim.advance(299).await;
    assert_eq!(
        probe(&sim, &first["access_token"]).await,
        0,
        "inside the overlap"
    );
    sim.advance(1).await;
    assert_eq!(
        probe(&sim, &first["access_token"]).await,
        40001,
        "superseded"
    );
    assert_eq!(probe(&sim, &second["access_token"]).await, 0);

    sim.advance(7200).await;
    assert_eq!(probe(&sim, &second["access_token"]).await, 42001, "expired");
    assert_eq!(probe(&sim, &json!("86_not-a-token")).await, 40001);
}

#[tokio::test]
async fn stable_and_plain_pools_are_independent() {
    let sim = Sim::start().await;
    let stable = sim.stable_token(MP, MP_SECRET, false).await;
    let plain = plain_token(&sim, MP, MP_SECRET).await;
    for _ in 0..2 {
        plain_token(&sim, MP, MP_SECRET).await;
    }
    sim.stable_token(MP, MP_SECRET, true).await;
    sim.advance(301).await;
    assert_eq!(
        probe(&sim, &stable["access_token"]).await,
        40001,
        "forced out"
    );
    assert_eq!(
        probe(&sim, &plain["access_token"]).await,
        40001,
        "superseded twice"
    );

    let stable = sim.stable_token(MP, MP_SECRET, false).await;
    plain_token(&sim, MP, MP_SECRET).await;
    sim.advance(301).await;
    assert_eq!(
        probe(&sim, &stable["access_token"]).await,
        0,
        "plain calls never touch it"
    );
}

#[tokio::test]
async fn plain_token_daily_quota() {
    let sim = Sim::start().await;
    sim.control(
        "/_sim/apps",
        json!({"appid": "wx00000000000000bb", "secret": "s", "kind": "miniprogram", "token_daily_quota": 2}),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(
            errcode(&plain_token(&sim, "wx00000000000000bb", "s").await),
            0
        );
    }
    assert_err(&plain_token(&sim, "wx00000000000000bb", "s").await, 45009);
    sim.advance(86_400).await;
    assert_eq!(
        errcode(&plain_token(&sim, "wx00000000000000bb", "s").await),
        0
    );

    let cases = [
        ("grant_type=client_credential&secret=s", 41002),
        (
            "grant_type=client_credential&appid=wx00000000000000bb",
            41004,
        ),
        ("appid=wx00000000000000bb&secret=s", 40002),
        (
            "grant_type=client_credential&appid=wx00000000000000bb&secret=x",
            40125,
        ),
    ];
    for (query, expected) in cases {
        assert_err(&sim.get(&format!("/cgi-bin/token?{query}")).await, expected);
    }
}
