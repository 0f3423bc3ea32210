//! The simulated person with the mini-program open: scan-to-login from the phone's side.
//!
//! `POST /_sim/miniprogram/scan` (JSON `{appid, scene, user, action}` or the page's form) plays
//! what the mini-program's scan page does once WeChat opened it with `options.scene`: it tells
//! its server (the app's `backend`, a gateway channel) the code was scanned, then confirms with
//! a fresh `wx.login` code of `user`, or cancels. `GET /_sim/miniprogram/scan` is a page for a
//! person trying `wxgate dev`: the codes made lately, each with "confirm as …" buttons.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::codes::issue_login_code;
use super::{escape, ControlError, ControlResult};
use crate::world::Shared;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Act {
    appid: String,
    scene: String,
    user: String,
    /// `confirm` (default), `cancel`, or `scan` (only report the scan).
    #[serde(default = "confirm")]
    action: String,
    /// Set by the page: answer with the page again, not JSON.
    #[serde(default)]
    page: Option<String>,
}

fn confirm() -> String {
    "confirm".to_owned()
}

/// What the backend answered one call.
async fn call(http: &reqwest::Client, url: String, body: Value) -> Value {
    match http.post(&url).json(&body).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            json!({"status": status, "body": body})
        }
        Err(e) => json!({"status": 0, "error": e.to_string()}),
    }
}

pub(crate) async fn act(
    State(shared): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> ControlResult {
    let act: Act = super::parse_either(&headers, &body)?;
    let backend = shared
        .world()
        .apps
        .get(&act.appid)
        .and_then(|a| a.backend.clone())
        .ok_or_else(|| {
            ControlError::bad_request(format!("app {} has no backend to call", act.appid))
        })?;
    let http = reqwest::Client::new();
    let base = backend.trim_end_matches('/');
    let scanned = call(
        &http,
        format!("{base}/scan/scanned"),
        json!({"scene": act.scene}),
    )
    .await;
    let result = match act.action.as_str() {
        "scan" => Value::Null,
        "cancel" => {
            call(
                &http,
                format!("{base}/scan/cancel"),
                json!({"scene": act.scene}),
            )
            .await
        }
        "confirm" => {
            let code = issue_login_code(&shared, act.appid.clone(), act.user.clone())?;
            call(
                &http,
                format!("{base}/scan/confirm"),
                json!({"scene": act.scene, "code": code}),
            )
            .await
        }
        other => return Err(ControlError::bad_request(format!("unknown action {other}"))),
    };
    if act.page.is_some() {
        return Ok(Redirect::to("/_sim/miniprogram/scan").into_response());
    }
    Ok(Json(json!({"scanned": scanned, "result": result})).into_response())
}

pub(crate) async fn page(State(shared): State<Arc<Shared>>) -> ControlResult {
    let world = shared.world();
    let mut users: Vec<&String> = world.users.keys().collect();
    users.sort();
    let mut rows = String::new();
    for code in world.wxa_codes.iter().rev().take(10) {
        let mut buttons = String::new();
        for user in &users {
            buttons.push_str(&format!(
                "<form method=\"post\"><input type=\"hidden\" name=\"appid\" value=\"{a}\">\
                 <input type=\"hidden\" name=\"scene\" value=\"{s}\">\
                 <input type=\"hidden\" name=\"user\" value=\"{u}\">\
                 <input type=\"hidden\" name=\"page\" value=\"1\">\
                 <button name=\"action\" value=\"confirm\">{u} 确认登录 · confirm</button>\
                 <button name=\"action\" value=\"cancel\">{u} 取消 · cancel</button></form>",
                a = escape(&code.appid),
                s = escape(&code.scene),
                u = escape(user),
            ));
        }
        rows.push_str(&format!(
            "<li><code>{}</code> ({}, {})<br>{buttons}</li>",
            escape(&code.scene),
            escape(&code.appid),
            escape(&code.page)
        ));
    }
    if rows.is_empty() {
        rows.push_str("<li>No mini-program code made yet: open a scan-to-login page first.</li>");
    }
    Ok(Html(format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <title>模拟小程序扫码 · Simulated scan</title></head><body>\
         <h1>模拟小程序扫码 · Scan as someone</h1>\
         <p>The codes the simulator made lately, newest first. Pick who scans it in the mini-program.</p>\
         <ul>{rows}</ul></body></html>"
    ))
    .into_response())
}
