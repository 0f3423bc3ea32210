//! What the WeChat client would hand the user's mini-program or browser: login and phone codes,
//! the legacy encrypted phone, the identity a user has under an app, and who authorises next.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use super::{ok, parse, ControlError, ControlResult};
use crate::api::{phone_json, Params, JS_CODE_TTL};
use crate::world::{AppKind, IssuedCode, PhoneCode, Shared, World};
use crate::{crypto, ids};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppUser {
    appid: String,
    user: String,
    /// encrypted_phone only: a different appid to put in the watermark (negative tests).
    #[serde(default)]
    watermark_appid: Option<String>,
}

/// Both must exist, and the app must be a mini-program (only they have wx.login and the phone button).
fn check_mini_program(world: &World, who: &AppUser) -> Result<(), ControlError> {
    let app = world
        .apps
        .get(&who.appid)
        .ok_or_else(|| ControlError::not_found(format!("no app {}", who.appid)))?;
    if app.kind != AppKind::MiniProgram {
        return Err(ControlError::bad_request(format!(
            "{} is not a mini-program",
            who.appid
        )));
    }
    if !world.users.contains_key(&who.user) {
        return Err(ControlError::not_found(format!("no user {}", who.user)));
    }
    Ok(())
}

/// `POST /_sim/login_code`: what `wx.login()` returns.
pub(crate) async fn login_code(State(shared): State<Arc<Shared>>, body: Bytes) -> ControlResult {
    let who: AppUser = parse(&body)?;
    let code = issue_login_code(&shared, who.appid, who.user)?;
    Ok(Json(json!({"code": code})).into_response())
}

/// A `wx.login()` code of `user` in mini-program `appid`.
pub(crate) fn issue_login_code(
    shared: &Shared,
    appid: String,
    user: String,
) -> Result<String, ControlError> {
    let who = AppUser {
        appid,
        user,
        watermark_appid: None,
    };
    let now = shared.clock.now();
    let mut world = shared.world();
    check_mini_program(&world, &who)?;
    let code = ids::auth_code();
    world.login_codes.insert(
        code.clone(),
        IssuedCode {
            appid: who.appid,
            user: who.user,
            issued_at: now,
            ttl: JS_CODE_TTL,
            used: false,
            scope: String::new(),
            snapshot: false,
        },
    );
    Ok(code)
}

/// `POST /_sim/phone_code`: what the getPhoneNumber button returns. The phone is taken now, so a
/// later phone change does not alter a code already issued.
pub(crate) async fn phone_code(State(shared): State<Arc<Shared>>, body: Bytes) -> ControlResult {
    let who: AppUser = parse(&body)?;
    let now = shared.clock.now();
    let mut world = shared.world();
    check_mini_program(&world, &who)?;
    let (phone, country_code) = user_phone(&world, &who.user)?;
    let code = ids::phone_code();
    world.phone_codes.insert(
        code.clone(),
        PhoneCode {
            appid: who.appid,
            user: who.user,
            issued_at: now,
            used: false,
            phone,
            country_code,
        },
    );
    Ok(Json(json!({"code": code})).into_response())
}

fn user_phone(world: &World, name: &str) -> Result<(String, String), ControlError> {
    let user = world
        .users
        .get(name)
        .ok_or_else(|| ControlError::not_found(format!("no user {name}")))?;
    let phone = user.phone.clone().ok_or_else(|| {
        ControlError::conflict(format!(
            "{name} has no phone: the phone button yields no code"
        ))
    })?;
    Ok((phone, user.country_code.clone()))
}

/// `POST /_sim/encrypted_phone`: the legacy `encryptedData`/`iv` pair, sealed with the user's
/// current session_key, so a stale key on the gateway's side fails as it would in production.
pub(crate) async fn encrypted_phone(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> ControlResult {
    let who: AppUser = parse(&body)?;
    let now = shared.clock.now();
    let world = shared.world();
    check_mini_program(&world, &who)?;
    let (phone, country_code) = user_phone(&world, &who.user)?;
    let session_key = world
        .session_keys
        .get(&(who.appid.clone(), who.user.clone()))
        .map(|k| k.key.clone())
        .ok_or_else(|| ControlError::conflict("no session_key yet: exchange a login code first"))?;
    let watermark = who.watermark_appid.as_deref().unwrap_or(&who.appid);
    let plaintext = phone_json(&phone, &country_code, now, watermark).to_string();
    let iv = ids::random_16();
    let encrypted = crypto::encrypt(&session_key, &iv, plaintext.as_bytes())
        .map_err(|_| ControlError::conflict("stored session_key is malformed"))?;
    Ok(Json(json!({"encryptedData": encrypted, "iv": B64.encode(iv)})).into_response())
}

/// `GET /_sim/identity?appid=&user=`: the openid and unionid WeChat would report.
pub(crate) async fn identity(State(shared): State<Arc<Shared>>, params: Params) -> ControlResult {
    let (Some(appid), Some(user)) = (params.get("appid"), params.get("user")) else {
        return Err(ControlError::bad_request("appid and user are required"));
    };
    let mut world = shared.world();
    if !world.apps.contains_key(appid) {
        return Err(ControlError::not_found(format!("no app {appid}")));
    }
    if !world.users.contains_key(user) {
        return Err(ControlError::not_found(format!("no user {user}")));
    }
    let openid = world.openid(appid, user);
    let unionid = world.unionid(appid, user);
    Ok(Json(json!({"openid": openid, "unionid": unionid})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NextUser {
    /// Stays chosen for every later page until changed; `null` clears it.
    user: Option<String>,
    /// Deny the next authorisation only.
    #[serde(default)]
    deny: bool,
}

/// `POST /_sim/next_user`: who authorises OAuth pages that carry no `sim_user`.
pub(crate) async fn next_user(State(shared): State<Arc<Shared>>, body: Bytes) -> ControlResult {
    let next: NextUser = parse(&body)?;
    let mut world = shared.world();
    if let Some(user) = &next.user {
        if !world.users.contains_key(user) {
            return Err(ControlError::not_found(format!("no user {user}")));
        }
    }
    world.next_user = next.user;
    world.deny_next = next.deny;
    ok()
}
