//! `GET /sns/jscode2session`: a mini-program's wx.login code becomes openid + session_key.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use super::params::Params;
use crate::ids;
use crate::wire::{self, Flavor, WxError};
use crate::world::{SessionKey, Shared};

/// A wx.login code lives 5 minutes.
pub(crate) const JS_CODE_TTL: i64 = 300;
/// WeChat allows 100 code2Session calls per user per minute.
const PER_USER_PER_MINUTE: usize = 100;

pub(crate) async fn jscode2session(State(shared): State<Arc<Shared>>, params: Params) -> Response {
    wire::reply(Flavor::TextPlain, exchange(&shared, &params))
}

fn exchange(shared: &Shared, params: &Params) -> Result<Value, WxError> {
    let appid = params.require("appid", 41002)?;
    let secret = params.require("secret", 41004)?;
    let code = params.require("js_code", 41008)?;
    params.grant_type("authorization_code")?;
    let now = shared.clock.now();
    let mut world = shared.world();
    let rotate_after = world
        .authenticate_app(appid, secret)?
        .session_key_rotate_after;

    // A code minted for another appid is invisible to this one, hence 40029 rather than 40163.
    let issued = world
        .login_codes
        .get(code)
        .filter(|c| c.appid == appid)
        .ok_or(WxError(40029))?;
    if issued.used {
        return Err(WxError(40163));
    }
    if issued.expired(now) {
        return Err(WxError(40029));
    }
    let user = issued.user.clone();

    // The rate limit counts calls that reach a user, in a sliding minute so that a burst is never
    // split by a minute boundary.
    let calls = world.login_calls.entry(user.clone()).or_default();
    while calls.front().is_some_and(|&t| t <= now - 60) {
        calls.pop_front();
    }
    if calls.len() >= PER_USER_PER_MINUTE {
        return Err(WxError(45011));
    }
    calls.push_back(now);

    if world.users.get(&user).is_some_and(|u| u.high_risk) {
        return Err(WxError(40226));
    }
    if let Some(issued) = world.login_codes.get_mut(code) {
        issued.used = true;
    }

    let session_key = rotate_session_key(&mut world.session_keys, appid, &user, rotate_after, now);
    let mut body = json!({
        "openid": world.openid(appid, &user),
        "session_key": session_key,
    });
    if let Some(unionid) = world.unionid(appid, &user) {
        body["unionid"] = Value::String(unionid);
    }
    Ok(body)
}

/// One valid session_key per (appid, user); a login replaces it unless it is younger than
/// `rotate_after` seconds (0: every login rotates).
fn rotate_session_key(
    keys: &mut std::collections::HashMap<(String, String), SessionKey>,
    appid: &str,
    user: &str,
    rotate_after: u64,
    now: i64,
) -> String {
    let slot = (appid.to_owned(), user.to_owned());
    let min_age = i64::try_from(rotate_after).unwrap_or(i64::MAX);
    match keys.get(&slot) {
        Some(current) if rotate_after > 0 && now - current.issued_at < min_age => {
            current.key.clone()
        }
        _ => {
            let key = ids::session_key();
            keys.insert(
                slot,
                SessionKey {
                    key: key.clone(),
                    issued_at: now,
                },
            );
            key
        }
    }
}
