//! `GET /_sim/officialaccount/scan`: a page for a person trying `wxgate dev` with an official
//! account: the live QR codes, each with a "scan as …" button per user, and what the last scan
//! pushed and got back.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{Html, IntoResponse};

use super::officialaccount::PAGE;
use super::{escape, ControlResult};
use crate::world::Shared;

/// Codes listed, newest first.
const SHOWN: usize = 10;

pub(crate) async fn page(State(shared): State<Arc<Shared>>) -> ControlResult {
    let now = shared.clock.now();
    let world = shared.world();
    let mut users: Vec<&String> = world.users.keys().collect();
    users.sort();
    let mut rows = String::new();
    for code in world
        .qr_codes
        .iter()
        .rev()
        .filter(|c| c.live(now))
        .take(SHOWN)
    {
        let mut buttons = String::new();
        for user in &users {
            buttons.push_str(&format!(
                "<form method=\"post\" action=\"{PAGE}\" style=\"display:inline\">\
                 <input type=\"hidden\" name=\"appid\" value=\"{a}\">\
                 <input type=\"hidden\" name=\"ticket\" value=\"{t}\">\
                 <input type=\"hidden\" name=\"user\" value=\"{u}\">\
                 <input type=\"hidden\" name=\"page\" value=\"1\">\
                 <button>scan as {u} · {u} 扫码</button></form> ",
                a = escape(&code.appid),
                t = escape(&code.ticket),
                u = escape(user),
            ));
        }
        let expiry = code.expires_at.map_or_else(
            || "permanent".to_owned(),
            |at| format!("{} s left", at - now),
        );
        rows.push_str(&format!(
            "<li><code>{}</code> ({}, {expiry})<br>{buttons}</li>",
            escape(&code.scene),
            escape(&code.appid),
        ));
    }
    if rows.is_empty() {
        rows.push_str("<li>No live QR code: open a follow-to-login page first.</li>");
    }
    let last = world
        .last_oa_scan
        .as_ref()
        .map(|result| {
            let pretty = serde_json::to_string_pretty(result).unwrap_or_default();
            format!(
                "<h2>上次扫码 · Last scan</h2><pre>{}</pre>",
                escape(&pretty)
            )
        })
        .unwrap_or_default();
    Ok(Html(format!(
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <title>模拟公众号扫码 · Simulated scan</title></head><body>\
         <h1>模拟公众号扫码 · Scan an official-account code</h1>\
         <p>The live QR codes, newest first. A person who does not follow the account yet \
         follows it (<code>subscribe</code>); one who does gets <code>SCAN</code>.</p>\
         <ul>{rows}</ul>{last}</body></html>"
    ))
    .into_response())
}
