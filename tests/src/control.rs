//! The simulator's control API (`/_sim/…`), as tests call it.

use serde_json::Value;

/// POSTs `body` to the simulator's control endpoint `path` and returns its JSON answer; a
/// failure is a broken test setup, so it panics with the simulator's message.
pub async fn post(http: &reqwest::Client, base: &str, path: &str, body: Value) -> Value {
    let r = http
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// GETs the simulator's control endpoint `path` (`/_sim/calls`, `/_sim/sms`, …) as JSON.
pub async fn get(http: &reqwest::Client, base: &str, path: &str) -> Value {
    let r = http
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}
