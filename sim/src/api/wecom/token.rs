//! Corp access_tokens: `/cgi-bin/gettoken`, and the check every token-authenticated WeCom API
//! runs.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use super::wire::{self, CallerIp, WeComError};
use crate::api::Params;
use crate::ids;
use crate::wecom::CorpToken;
use crate::world::{Shared, World};

/// A corp token lives 7200 s.
pub(crate) const TOKEN_TTL: i64 = 7200;

/// The app a token was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CorpAppId {
    pub(crate) corp_id: String,
    pub(crate) agent_id: i64,
}

pub(crate) async fn gettoken(
    State(shared): State<Arc<Shared>>,
    CallerIp(caller): CallerIp,
    params: Params,
) -> Response {
    let now = shared.clock.now();
    wire::reply(issue(&mut shared.world(), &params, now), now, caller)
}

/// Within a token's life a repeat call returns the same token with what is left of its
/// 7200 s (WeCom: 有效期内重复获取返回相同结果); once it has expired, a new one.
fn issue(world: &mut World, params: &Params, now: i64) -> Result<Value, WeComError> {
    let corp_id = params.get("corpid").ok_or(WeComError(41002))?;
    let secret = params.get("corpsecret").ok_or(WeComError(41004))?;
    let corp = world.wecom.corps.get(corp_id).ok_or(WeComError(40013))?;
    // The secret picks the app: one secret per agent.
    let agent_id = corp.agent_with_secret(secret).ok_or(WeComError(40001))?;
    let live = world
        .wecom
        .tokens
        .iter()
        .find(|(_, t)| t.corp_id == corp_id && t.agent_id == agent_id && t.expires_at > now);
    if let Some((token, t)) = live {
        return Ok(json!({"access_token": token, "expires_in": t.expires_at - now}));
    }
    let token = ids::corp_token();
    world.wecom.tokens.insert(
        token.clone(),
        CorpToken {
            corp_id: corp_id.to_owned(),
            agent_id,
            expires_at: now + TOKEN_TTL,
        },
    );
    Ok(json!({"access_token": token, "expires_in": TOKEN_TTL}))
}

/// The app behind the request's `access_token`: missing 41001, unknown 40014, expired 42001.
pub(crate) fn authenticate(
    world: &World,
    params: &Params,
    now: i64,
) -> Result<CorpAppId, WeComError> {
    let token = params.get("access_token").ok_or(WeComError(41001))?;
    let record = world.wecom.tokens.get(token).ok_or(WeComError(40014))?;
    if now >= record.expires_at {
        return Err(WeComError(42001));
    }
    Ok(CorpAppId {
        corp_id: record.corp_id.clone(),
        agent_id: record.agent_id,
    })
}
