//! `GET /cgi-bin/ticket/getticket`: the JS-SDK tickets of an official account (wechat-api.md §13).
//! Every call issues a fresh ticket; nothing in the simulator checks tickets, so an earlier one
//! stays as good as it was, which is what WeChat does until it expires.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use super::params::Params;
use super::token::authenticate;
use crate::ids;
use crate::wire::{self, Flavor, WxError};
use crate::world::{AppKind, Shared};

const TICKET_TTL: i64 = 7200;

pub(crate) async fn getticket(State(shared): State<Arc<Shared>>, params: Params) -> Response {
    wire::reply(Flavor::Json, issue(&shared, &params))
}

/// How many issued tickets `/_sim/jsapi_tickets` remembers.
const KEPT: usize = 100;

fn issue(shared: &Shared, params: &Params) -> Result<Value, WxError> {
    let token = params.require("access_token", 41001)?;
    let now = shared.clock.now();
    let mut world = shared.world();
    let appid = authenticate(&world, token, now)?;
    if !matches!(params.get("type"), Some("jsapi" | "wx_card")) {
        return Err(WxError(40097));
    }
    if world.apps.get(&appid).map(|a| a.kind) != Some(AppKind::OfficialAccount) {
        return Err(WxError(48001));
    }
    let ticket = ids::js_ticket();
    world.jsapi_tickets.push_back((appid, ticket.clone()));
    while world.jsapi_tickets.len() > KEPT {
        world.jsapi_tickets.pop_front();
    }
    Ok(json!({
        "errcode": 0,
        "errmsg": "ok",
        "ticket": ticket,
        "expires_in": TICKET_TTL,
    }))
}
