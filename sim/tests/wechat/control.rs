//! The control API's own validation.

use reqwest::StatusCode;
use serde_json::json;
use wxgate_sim::Simulator;

use crate::harness::*;

#[tokio::test]
async fn invalid_control_requests_are_rejected_with_reasons() {
    let sim = Sim::start().await;
    let cases = [
        (
            "/_sim/apps",
            json!({"appid": "wx1", "secret": "s", "kind": "app"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/apps",
            json!({"appid": "wx1", "secret": "s", "kind": "website"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/apps",
            json!({"appid": "wx1", "secret": "s", "kind": "miniprogram", "typo": 1}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/users",
            json!({"name": "dave", "phone": "+86 138"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/users/nobody/phone",
            json!({"phone": "13800138000"}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/_sim/users/nobody/flags",
            json!({"high_risk": true}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/_sim/login_code",
            json!({"appid": OA, "user": "alice"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/login_code",
            json!({"appid": MP, "user": "nobody"}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/_sim/login_code",
            json!({"appid": "wx9", "user": "alice"}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/_sim/next_user",
            json!({"user": "nobody"}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/_sim/faults",
            json!({"path": "/sms"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/faults",
            json!({"path": "sms", "errcode": -1}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/faults",
            json!({"path": "/sms", "errcode": -1, "times": 0}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/_sim/clock/advance",
            json!({"seconds": -5}),
            StatusCode::BAD_REQUEST,
        ),
        ("/_sim/nope", json!({}), StatusCode::NOT_FOUND),
    ];
    for (path, body, expected) in cases {
        let (status, reply) = sim.control_status(path, body.clone()).await;
        assert_eq!(status, expected, "{path} {body}: {reply}");
        assert!(reply["error"].is_string(), "{path}: {reply}");
    }
}

#[tokio::test]
async fn identities_of_unbound_apps_have_no_unionid() {
    let sim = Sim::start().await;
    sim.control(
        "/_sim/apps",
        json!({"appid": "wx00000000000000cc", "secret": "s", "kind": "official_account", "redirect_domain": "127.0.0.1"}),
    )
    .await;
    let identity = sim.identity("wx00000000000000cc", "alice").await;
    assert_eq!(identity["unionid"], json!(null));
    assert_eq!(string(&identity["openid"]).len(), 28);
    assert_eq!(
        sim.control_get("/_sim/identity?appid=wx00000000000000cc&user=zed")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_new_simulator_is_empty() {
    let handle = Simulator::new()
        .serve("127.0.0.1:0".parse().expect("address"))
        .await
        .expect("bind");
    assert!(handle.base_url().starts_with("http://127.0.0.1:"));
    let response = reqwest::Client::new()
        .post(format!("{}/_sim/login_code", handle.base_url()))
        .json(&json!({"appid": MP, "user": "alice"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "no demo apps unless seeded"
    );
}
