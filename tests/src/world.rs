//! The simulated WeChat a test starts from: a simulator on loopback, its apps and its people,
//! set up through the control API.

use crate::control;
use serde_json::{json, Value};
use wxgate_sim::SimHandle;

/// A running simulator and the client that set it up.
pub struct World {
    pub sim: SimHandle,
    pub http: reqwest::Client,
}

impl World {
    /// A simulator with no apps and no people yet.
    pub async fn start() -> Self {
        let sim = wxgate_sim::Simulator::new()
            .serve("127.0.0.1:0".parse().unwrap())
            .await
            .expect("the simulator starts");
        Self {
            sim,
            http: reqwest::Client::new(),
        }
    }

    /// Where channels reach it (`api_base`, `open_base`).
    pub fn base(&self) -> String {
        self.sim.base_url()
    }

    /// An app of any kind, as `/_sim/apps` takes it.
    pub async fn app(&self, fields: Value) {
        control::post(&self.http, &self.base(), "/_sim/apps", fields).await;
    }

    /// A mini-program; under an open platform its logins carry a unionid.
    pub async fn mini_program(&self, appid: &str, secret: &str, open_platform: Option<&str>) {
        let mut app = json!({"appid": appid, "secret": secret, "kind": "miniprogram"});
        if let Some(platform) = open_platform {
            app["open_platform"] = json!(platform);
        }
        self.app(app).await;
    }

    /// A WeChat user, with the phone WeChat knows for them if any.
    pub async fn person(&self, name: &str, phone: Option<&str>) {
        let mut user = json!({ "name": name });
        if let Some(phone) = phone {
            user["phone"] = json!(phone);
        }
        control::post(&self.http, &self.base(), "/_sim/users", user).await;
    }
}
