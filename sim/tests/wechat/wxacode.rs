//! `/wxa/getwxacodeunlimit`: a PNG that carries its scene, or WeChat's JSON errors under the
//! documented conditions; and the simulated person who scans it.

use serde_json::{json, Value};

use crate::harness::*;

async fn code(sim: &Sim, token: &str, body: &str) -> reqwest::Response {
    sim.client
        .post(sim.url(&format!("/wxa/getwxacodeunlimit?access_token={token}")))
        .body(body.to_string())
        .send()
        .await
        .expect("POST")
}

#[tokio::test]
async fn a_code_is_a_png_that_carries_its_scene_and_is_remembered() {
    let sim = Sim::start().await;
    let token = sim.stable_token(MP, MP_SECRET, false).await;
    let token = string(&token["access_token"]);
    let body = json!({"scene": "Zx8pQ2mN4vT7kL1aB3cD5eF6gH9jK0sR", "page": "pages/login/scan"});
    let r = code(&sim, &token, &body.to_string()).await;
    assert_eq!(r.headers()["content-type"].to_str().unwrap(), "image/png");
    let png = r.bytes().await.unwrap();
    assert_eq!(
        wxgate_sim::scene_of_code(&png).as_deref(),
        Some("Zx8pQ2mN4vT7kL1aB3cD5eF6gH9jK0sR")
    );
    let made: Value = sim.get_raw("/_sim/wxacodes").await.json().await.unwrap();
    assert_eq!(made[0]["scene"], "Zx8pQ2mN4vT7kL1aB3cD5eF6gH9jK0sR");
    assert_eq!(made[0]["appid"], MP);
}

#[tokio::test]
async fn errors_come_as_json_under_the_documented_conditions() {
    let sim = Sim::start().await;
    let token = sim.stable_token(MP, MP_SECRET, false).await;
    let token = string(&token["access_token"]);
    let cases = [
        (
            token.clone(),
            json!({"scene": "x".repeat(33)}).to_string(),
            40169,
        ),
        (token.clone(), json!({"scene": "a%20b"}).to_string(), 40129),
        (
            token.clone(),
            json!({"scene": "ok", "page": "pages/nope"}).to_string(),
            41030,
        ),
        (
            token.clone(),
            json!({"scene": "ok", "page": "/pages/login/scan"}).to_string(),
            41030,
        ),
        (
            token.clone(),
            "scene=ok&page=pages%2Flogin%2Fscan".to_string(),
            47001,
        ),
        (
            "not-a-token".to_string(),
            json!({"scene": "ok"}).to_string(),
            40001,
        ),
    ];
    for (token, body, expected) in cases {
        let r = code(&sim, &token, &body).await;
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .contains("json"),
            "{body}"
        );
        assert_err(&wechat_body(r).await, expected);
    }
    // check_path = false lets a page not released yet be used.
    let r = code(
        &sim,
        &token,
        &json!({"scene": "ok", "page": "pages/nope", "check_path": false}).to_string(),
    )
    .await;
    assert_eq!(r.headers()["content-type"].to_str().unwrap(), "image/png");
}
