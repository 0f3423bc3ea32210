//! `POST /wxa/business/getuserphonenumber`: a getPhoneNumber code becomes the user's phone.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use super::params::{json_object, str_field, Params};
use super::token::authenticate;
use crate::wire::{self, Flavor, WxError};
use crate::world::Shared;

/// A phone code lives 5 minutes.
pub(crate) const PHONE_CODE_TTL: i64 = 300;
/// Errcode for an `openid` that does not match the code's user: undocumented ([U] in the
/// reference), so the simulator picks "invalid openid".
const OPENID_MISMATCH: i64 = 40003;

pub(crate) async fn getuserphonenumber(
    State(shared): State<Arc<Shared>>,
    params: Params,
    body: Bytes,
) -> Response {
    wire::reply(Flavor::Json, exchange(&shared, &params, &body))
}

fn exchange(shared: &Shared, params: &Params, body: &[u8]) -> Result<Value, WxError> {
    let token = params.require("access_token", 41001)?;
    let now = shared.clock.now();
    let mut world = shared.world();
    let appid = authenticate(&world, token, now)?;
    let body = json_object(body)?;
    let code = str_field(&body, "code").ok_or(WxError(41008))?;

    let issued = world.phone_codes.get(code).ok_or(WxError(40029))?.clone();
    if issued.appid != appid {
        return Err(WxError(40013));
    }
    // Reuse is reported as 40029, not 40163, for this API (wechat-api.md §3.1).
    if issued.used || now >= issued.issued_at + PHONE_CODE_TTL {
        return Err(WxError(40029));
    }
    if let Some(openid) = str_field(&body, "openid") {
        if openid != world.openid(&appid, &issued.user) {
            return Err(WxError(OPENID_MISMATCH));
        }
    }
    if let Some(record) = world.phone_codes.get_mut(code) {
        record.used = true;
    }

    Ok(json!({
        "errcode": 0,
        "errmsg": "ok",
        "phone_info": phone_json(&issued.phone, &issued.country_code, issued.issued_at, &appid),
    }))
}

/// The phone object shared by the code flow and the legacy encrypted payload. Mainland numbers
/// come without a prefix; others carry `+<country code>` in `phoneNumber`.
pub(crate) fn phone_json(pure: &str, country_code: &str, timestamp: i64, appid: &str) -> Value {
    let full = if country_code == "86" {
        pure.to_owned()
    } else {
        format!("+{country_code}{pure}")
    };
    json!({
        "phoneNumber": full,
        "purePhoneNumber": pure,
        "countryCode": country_code,
        "watermark": {"timestamp": timestamp, "appid": appid},
    })
}
