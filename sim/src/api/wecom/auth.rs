//! Who signed in: `/cgi-bin/auth/getuserinfo` turns a page's code into a member (or an
//! outsider), and `/cgi-bin/auth/getuserdetail` turns a user_ticket into the member's private
//! fields.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use super::token::{authenticate, CorpAppId};
use super::wire::{self, CallerIp, WeComError};
use crate::api::params::{json_object, str_field};
use crate::api::Params;
use crate::ids;
use crate::wecom::{Person, Scope, UserTicket};
use crate::world::{Shared, World};

/// A user_ticket lives 1800 s.
const TICKET_TTL: i64 = 1800;

pub(crate) async fn getuserinfo(
    State(shared): State<Arc<Shared>>,
    CallerIp(caller): CallerIp,
    params: Params,
) -> Response {
    let now = shared.clock.now();
    wire::reply(redeem(&mut shared.world(), &params, now), now, caller)
}

pub(crate) async fn getuserdetail(
    State(shared): State<Arc<Shared>>,
    CallerIp(caller): CallerIp,
    params: Params,
    body: Bytes,
) -> Response {
    let now = shared.clock.now();
    let outcome = detail(&shared.world(), &params, &body, now);
    wire::reply(outcome, now, caller)
}

/// Any other method than POST on getuserdetail.
pub(crate) async fn require_post(
    State(shared): State<Arc<Shared>>,
    CallerIp(caller): CallerIp,
) -> Response {
    wire::reply(Err(WeComError(43002)), shared.clock.now(), caller)
}

/// Spends the code and says who it stands for.
fn redeem(world: &mut World, params: &Params, now: i64) -> Result<Value, WeComError> {
    let app = authenticate(world, params, now)?;
    let code = params.get("code").ok_or(WeComError(41008))?;
    // Another corp's or app's code reads as unknown and is left unspent for its own app.
    let issued = world
        .wecom
        .codes
        .get_mut(code)
        .filter(|c| c.redeemable_by(&app.corp_id, app.agent_id))
        .ok_or(WeComError(40029))?;
    if issued.used || now >= issued.expires_at {
        return Err(WeComError(40029));
    }
    // Spent by this first use whatever follows, a visibility refusal included.
    issued.used = true;
    let (person, scope) = (issued.person.clone(), issued.scope);

    match person {
        Person::Member(userid) => member_identity(world, &app, &userid, scope, now),
        Person::Outsider(user) => {
            let ids = world.wecom.outsider_ids(&app.corp_id, &user);
            Ok(json!({"openid": ids.openid, "external_userid": ids.external_userid}))
        }
    }
}

/// A member's answer: the userid as stored, plus a user_ticket under `snsapi_privateinfo`.
fn member_identity(
    world: &mut World,
    app: &CorpAppId,
    userid: &str,
    scope: Scope,
    now: i64,
) -> Result<Value, WeComError> {
    let member = world
        .wecom
        .corps
        .get(&app.corp_id)
        .and_then(|corp| corp.member(userid))
        // Members cannot be removed, so this is a bug rather than a request's fault.
        .ok_or(WeComError(-1))?;
    if !member.visible {
        return Err(WeComError(60011));
    }
    let userid = member.userid.clone();
    if scope == Scope::Base {
        return Ok(json!({"userid": userid}));
    }
    let ticket = ids::user_ticket();
    world.wecom.tickets.insert(
        ticket.clone(),
        UserTicket {
            corp_id: app.corp_id.clone(),
            agent_id: app.agent_id,
            userid: userid.clone(),
            expires_at: now + TICKET_TTL,
        },
    );
    Ok(json!({"userid": userid, "user_ticket": ticket, "expires_in": TICKET_TTL}))
}

/// The member's private fields. A ticket that is missing, unknown, expired or issued to another
/// app answers 40029 ("invalid code"), the code WeCom gives for OAuth credentials it rejects.
fn detail(world: &World, params: &Params, body: &[u8], now: i64) -> Result<Value, WeComError> {
    let app = authenticate(world, params, now)?;
    let body = json_object(body).map_err(|err| WeComError(err.0))?;
    let ticket = str_field(&body, "user_ticket")
        .and_then(|t| world.wecom.tickets.get(t))
        .filter(|t| t.corp_id == app.corp_id && t.agent_id == app.agent_id)
        .filter(|t| now < t.expires_at)
        .ok_or(WeComError(40029))?;
    let member = world
        .wecom
        .corps
        .get(&ticket.corp_id)
        .and_then(|corp| corp.member(&ticket.userid))
        .ok_or(WeComError(-1))?;
    if !member.visible {
        return Err(WeComError(60011));
    }
    let or_blank = |field: &Option<String>| field.clone().unwrap_or_default();
    Ok(json!({
        "userid": member.userid,
        "gender": "0",
        "avatar": or_blank(&member.avatar),
        "qr_code": "",
        "mobile": or_blank(&member.mobile),
        "email": or_blank(&member.email),
        "biz_mail": "",
        "address": "",
    }))
}
