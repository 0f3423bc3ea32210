//! The demo echo upstream.

use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn echoes_method_path_query_and_every_header() {
    let handle = wxgate_sim::serve_echo_upstream("127.0.0.1:0".parse().expect("address"))
        .await
        .expect("bind");
    let response = reqwest::Client::new()
        .put(format!(
            "{}/api/orders/7?expand=items&x=1",
            handle.base_url()
        ))
        .header("X-Auth-User", "u_123")
        .header("x-multi", "one")
        .header("X-Multi", "two")
        .body("a body that must be drained")
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["method"], "PUT");
    assert_eq!(body["path"], "/api/orders/7");
    assert_eq!(body["query"], "expand=items&x=1");
    assert_eq!(body["headers"]["x-auth-user"], "u_123");
    assert_eq!(body["headers"]["x-multi"], "one, two");
    assert_eq!(body["headers"]["content-length"], json!("27"));
    assert!(body["headers"]["host"].is_string());
}
