//! Fault injection, call counters, the SMS receiver and the clock.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn an_errcode_fault_fires_the_given_number_of_times() {
    let sim = Sim::start().await;
    sim.control(
        "/_sim/faults",
        json!({"path": "/sns/jscode2session", "errcode": -1, "times": 1}),
    )
    .await;
    let code = sim.login_code(MP, "alice").await;
    assert_err(&sim.code2session(MP, MP_SECRET, &code).await, -1);
    // The fault answered before the real handler: the code is still fresh.
    assert_eq!(errcode(&sim.code2session(MP, MP_SECRET, &code).await), 0);
}

#[tokio::test]
async fn faults_without_times_persist_until_cleared() {
    let sim = Sim::start().await;
    sim.control(
        "/_sim/faults",
        json!({"path": "/cgi-bin/stable_token", "errcode": 45009}),
    )
    .await;
    for _ in 0..3 {
        assert_err(&sim.stable_token(MP, MP_SECRET, false).await, 45009);
    }
    let listed = sim.control_get("/_sim/faults").await.1;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));

    let response = sim
        .client
        .delete(sim.url("/_sim/faults"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(errcode(&sim.stable_token(MP, MP_SECRET, false).await), 0);
}

#[tokio::test]
async fn a_delay_fault_slows_the_answer_then_serves_normally() {
    let sim = Sim::start().await;
    sim.control(
        "/_sim/faults",
        json!({"path": "/sns/jscode2session", "delay_ms": 300, "times": 3}),
    )
    .await;
    let code = sim.login_code(MP, "alice").await;

    // A client that gives up first, as a gateway with a short timeout would. WeChat still did the
    // exchange, so a retry finds the code spent: why code exchanges are never retried.
    let timed_out = sim
        .client
        .get(sim.url(&format!(
            "/sns/jscode2session?appid={MP}&secret={MP_SECRET}&js_code={code}&grant_type=authorization_code"
        )))
        .timeout(Duration::from_millis(50))
        .send()
        .await;
    assert!(timed_out.is_err_and(|e| e.is_timeout()));
    assert_err(&sim.code2session(MP, MP_SECRET, &code).await, 40163);

    let started = Instant::now();
    let other = sim.login_code(MP, "bob").await;
    let body = sim.code2session(MP, MP_SECRET, &other).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(errcode(&body), 0, "a delay alone serves normally");
}

#[tokio::test]
async fn calls_are_counted_per_path_errors_included() {
    let sim = Sim::start().await;
    let code = sim.login_code(MP, "alice").await;
    sim.code2session(MP, MP_SECRET, &code).await;
    sim.code2session(MP, MP_SECRET, &code).await;
    sim.code2session(MP, "wrong", "x").await;
    sim.stable_token(MP, MP_SECRET, false).await;
    sim.get("/sns/jsCode2Session").await;

    let (status, calls) = sim.control_get("/_sim/calls").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(calls["/sns/jscode2session"], 3);
    assert_eq!(calls["/cgi-bin/stable_token"], 1);
    assert_eq!(calls["/sns/jsCode2Session"], 1);
    assert!(
        calls.get("/_sim/login_code").is_none(),
        "control calls are not WeChat calls"
    );

    sim.client
        .delete(sim.url("/_sim/calls"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(sim.control_get("/_sim/calls").await.1, json!({}));
}

#[tokio::test]
async fn sms_webhook_records_messages() {
    let sim = Sim::start().await;
    for (phone, code) in [
        ("+8613800138000", "111111"),
        ("+8613900139000", "222222"),
        ("+8613800138000", "333333"),
    ] {
        let response = sim
            .client
            .post(sim.url("/sms"))
            .json(&json!({"phone": phone, "code": code, "purpose": "login", "channel": "sms"}))
            .send()
            .await
            .expect("POST /sms");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.json::<serde_json::Value>().await.ok(),
            Some(json!({"ok": true}))
        );
    }
    let (_, all) = sim.control_get("/_sim/sms").await;
    assert_eq!(all.as_array().map(Vec::len), Some(3));
    assert_eq!(all[1]["phone"], "+8613900139000");
    assert_eq!(all[1]["purpose"], "login");

    let (status, last) = sim
        .control_get("/_sim/sms/last?phone=%2B8613800138000")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(last["code"], "333333");
    // An unescaped `+` arrives as a space; it still matches.
    assert_eq!(
        sim.control_get("/_sim/sms/last?phone=+8613900139000")
            .await
            .1["code"],
        "222222"
    );
    assert_eq!(
        sim.control_get("/_sim/sms/last?phone=13700137000").await.0,
        StatusCode::NOT_FOUND
    );

    let malformed = sim
        .client
        .post(sim.url("/sms"))
        .body("{}")
        .send()
        .await
        .expect("POST");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn sms_faults_answer_500() {
    let sim = Sim::start().await;
    sim.control(
        "/_sim/faults",
        json!({"path": "/sms", "errcode": -1, "times": 1}),
    )
    .await;
    let send = || {
        sim.client
            .post(sim.url("/sms"))
            .json(&json!({"phone": "+8613800138000", "code": "123456", "purpose": "login", "channel": "sms"}))
            .send()
    };
    assert_eq!(
        send().await.expect("POST").status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(send().await.expect("POST").status(), StatusCode::OK);
    let (_, all) = sim.control_get("/_sim/sms").await;
    assert_eq!(
        all.as_array().map(Vec::len),
        Some(1),
        "the failed send was not delivered"
    );
}

#[tokio::test]
async fn the_clock_only_moves_when_told() {
    let sim = Sim::start().await;
    let before = sim.control_get("/_sim/clock").await.1["now"]
        .as_i64()
        .unwrap_or_default();
    let after = sim
        .control("/_sim/clock/advance", json!({"seconds": 86_400}))
        .await["now"]
        .as_i64()
        .unwrap_or_default();
    assert!(after - before >= 86_400);
    sim.sim.advance_clock(60);
    let later = sim.control_get("/_sim/clock").await.1["now"]
        .as_i64()
        .unwrap_or_default();
    assert!(later - after >= 60);
}
