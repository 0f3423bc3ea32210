//! `GET /wxa/checksession` and `/wxa/resetusersessionkey`: proving and replacing a session_key.
//! The proof is `hex(HMAC-SHA256(key = session_key string, msg = ""))`, so a gateway holding a
//! rotated key gets 87009.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::params::Params;
use super::token::authenticate;
use crate::ids;
use crate::wire::{self, Flavor, WxError};
use crate::world::{SessionKey, Shared};

pub(crate) async fn checksession(State(shared): State<Arc<Shared>>, params: Params) -> Response {
    let outcome = verify(&shared, &params).map(|_| json!({"errcode": 0, "errmsg": "ok"}));
    wire::reply(Flavor::Json, outcome)
}

pub(crate) async fn resetusersessionkey(
    State(shared): State<Arc<Shared>>,
    params: Params,
) -> Response {
    wire::reply(Flavor::Json, reset(&shared, &params))
}

/// Checks the token and the signature; returns the (appid, user) whose key was proven.
fn verify(shared: &Shared, params: &Params) -> Result<(String, String), WxError> {
    let token = params.require("access_token", 41001)?;
    let openid = params.require("openid", 41009)?;
    let signature = params.require("signature", 87009)?;
    if params.get("sig_method") != Some("hmac_sha256") {
        return Err(WxError(87008));
    }
    let now = shared.clock.now();
    let world = shared.world();
    let appid = authenticate(&world, token, now)?;
    let user = world.user_by_openid(&appid, openid).ok_or(WxError(87007))?;
    let key = world
        .session_keys
        .get(&(appid.clone(), user.clone()))
        .ok_or(WxError(87007))?;
    if signature.eq_ignore_ascii_case(&sign(&key.key)) {
        Ok((appid, user))
    } else {
        Err(WxError(87009))
    }
}

fn reset(shared: &Shared, params: &Params) -> Result<Value, WxError> {
    let (appid, user) = verify(shared, params)?;
    let now = shared.clock.now();
    let mut world = shared.world();
    let key = ids::session_key();
    world.session_keys.insert(
        (appid.clone(), user.clone()),
        SessionKey {
            key: key.clone(),
            issued_at: now,
        },
    );
    Ok(json!({
        "errcode": 0,
        "errmsg": "ok",
        "openid": world.openid(&appid, &user),
        "session_key": key,
    }))
}

/// The signature WeChat expects, keyed by the session_key's UTF-8 bytes (as WxJava does).
fn sign(session_key: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(session_key.as_bytes()) {
        Ok(mac) => mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        // HMAC takes keys of any length; unreachable, and an empty signature never matches.
        Err(_) => String::new(),
    }
}
