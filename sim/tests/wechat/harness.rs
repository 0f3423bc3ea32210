//! A seeded simulator on port 0 and a client that reads WeChat bodies whatever their content type.

use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use wxgate_sim::{SimHandle, Simulator};

pub const MP: &str = "wx0000000000000001";
pub const MP_SECRET: &str = "demo-mp-secret";
pub const MP2: &str = "wx0000000000000004";
pub const MP2_SECRET: &str = "demo-mp2-secret";
pub const OA: &str = "wx0000000000000002";
pub const OA_SECRET: &str = "demo-oa-secret";
pub const WEB: &str = "wx0000000000000003";
pub const WEB_SECRET: &str = "demo-web-secret";

pub struct Sim {
    pub sim: Simulator,
    pub handle: SimHandle,
    pub client: Client,
}

impl Sim {
    /// The demo world on a fresh port.
    pub async fn start() -> Self {
        let sim = Simulator::new();
        sim.seed_demo();
        let handle = sim
            .clone()
            .serve("127.0.0.1:0".parse().expect("address"))
            .await
            .expect("bind port 0");
        let client = Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("client");
        Self {
            sim,
            handle,
            client,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.base_url())
    }

    pub async fn get_raw(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// A WeChat GET: always HTTP 200, JSON body.
    pub async fn get(&self, path: &str) -> Value {
        wechat_body(self.get_raw(path).await).await
    }

    /// A WeChat POST with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Value {
        let response = self
            .client
            .post(self.url(path))
            .body(body.to_string())
            .send()
            .await
            .expect("POST");
        wechat_body(response).await
    }

    /// A control call that must succeed.
    pub async fn control(&self, path: &str, body: Value) -> Value {
        let (status, body) = self.control_status(path, body).await;
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    pub async fn control_status(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("control POST");
        let status = response.status();
        (status, response.json().await.expect("control JSON"))
    }

    pub async fn control_get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.get_raw(path).await;
        let status = response.status();
        (status, response.json().await.expect("control JSON"))
    }

    pub async fn advance(&self, seconds: u64) {
        self.control("/_sim/clock/advance", json!({"seconds": seconds}))
            .await;
    }

    pub async fn login_code(&self, appid: &str, user: &str) -> String {
        let body = self
            .control("/_sim/login_code", json!({"appid": appid, "user": user}))
            .await;
        string(&body["code"])
    }

    pub async fn phone_code(&self, appid: &str, user: &str) -> String {
        let body = self
            .control("/_sim/phone_code", json!({"appid": appid, "user": user}))
            .await;
        string(&body["code"])
    }

    pub async fn code2session(&self, appid: &str, secret: &str, code: &str) -> Value {
        self.get(&format!(
            "/sns/jscode2session?appid={appid}&secret={secret}&js_code={code}&grant_type=authorization_code"
        ))
        .await
    }

    pub async fn stable_token(&self, appid: &str, secret: &str, force: bool) -> Value {
        self.post(
            "/cgi-bin/stable_token",
            &json!({"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": force}),
        )
        .await
    }

    pub async fn identity(&self, appid: &str, user: &str) -> Value {
        let (status, body) = self
            .control_get(&format!("/_sim/identity?appid={appid}&user={user}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// WeChat answers 200 even on errors, and sometimes labels JSON as text/plain.
pub async fn wechat_body(response: Response) -> Value {
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "WeChat always answers 200"
    );
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

pub fn string(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_owned()
}

/// The errcode of a body; success bodies without `errcode` read as 0.
pub fn errcode(body: &Value) -> i64 {
    body.get("errcode").and_then(Value::as_i64).unwrap_or(0)
}

/// Asserts an error body of the documented shape.
pub fn assert_err(body: &Value, expected: i64) {
    assert_eq!(errcode(body), expected, "{body}");
    let msg = body["errmsg"].as_str().unwrap_or_default();
    let rid = msg.rsplit(", rid: ").next().unwrap_or_default();
    assert!(
        msg.contains(", rid: ") && rid.len() == 26,
        "errmsg without rid: {msg}"
    );
}
