//! `GET /cgi-bin/user/info`: what an official account learns about one of its users (wechat-api.md
//! §12.1). The follow-to-login flow calls it for the unionid, which the push does not carry.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use super::params::Params;
use super::token::authenticate;
use crate::wire::{self, Flavor, WxError};
use crate::world::{AppKind, Shared};

pub(crate) async fn user_info(State(shared): State<Arc<Shared>>, params: Params) -> Response {
    wire::reply(Flavor::Json, lookup(&shared, &params))
}

fn lookup(shared: &Shared, params: &Params) -> Result<Value, WxError> {
    let token = params.require("access_token", 41001)?;
    let openid = params.require("openid", 41009)?;
    let now = shared.clock.now();
    let mut world = shared.world();
    let appid = authenticate(&world, token, now)?;
    if world.apps.get(&appid).map(|a| a.kind) != Some(AppKind::OfficialAccount) {
        return Err(WxError(48001));
    }
    // Only openids of this account are known to it.
    let user = world.user_by_openid(&appid, openid).ok_or(WxError(40003))?;
    let unionid = world.unionid(&appid, &user);
    let mut body = match world.follow(&appid, &user) {
        None => json!({"subscribe": 0, "openid": openid}),
        // Since 2021-12-27 nickname and avatar are blank, since 2021-10-20 sex and region.
        Some(follow) => json!({
            "subscribe": 1,
            "openid": openid,
            "nickname": "",
            "sex": 0,
            "language": "zh_CN",
            "city": "",
            "province": "",
            "country": "",
            "headimgurl": "",
            "subscribe_time": follow.since,
            "remark": "",
            "groupid": 0,
            "tagid_list": [],
            "subscribe_scene": if follow.scene.is_some() { "ADD_SCENE_QR_CODE" } else { "ADD_SCENE_OTHERS" },
            "qr_scene": follow.scene_id.unwrap_or(0),
            "qr_scene_str": if follow.scene_id.is_some() { "" } else { follow.scene.as_deref().unwrap_or("") },
        }),
    };
    if let Some(unionid) = unionid {
        body["unionid"] = json!(unionid);
    }
    Ok(body)
}
