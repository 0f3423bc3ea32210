//! OAuth (网页授权 and website login) server calls: code exchange, refresh, userinfo and auth.
//! OA and website apps share these endpoints.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use super::params::Params;
use crate::ids;
use crate::wire::{self, Flavor, WxError};
use crate::world::{Shared, SnsAccess, SnsGrant, World};

/// User access tokens live 7200 s.
const ACCESS_TTL: i64 = 7200;
/// Refresh tokens live 30 days from the grant and are never extended.
const REFRESH_TTL: i64 = 30 * 86_400;

pub(crate) async fn access_token(State(shared): State<Arc<Shared>>, params: Params) -> Response {
    wire::reply(Flavor::TextPlain, exchange(&shared, &params))
}

pub(crate) async fn refresh_token(State(shared): State<Arc<Shared>>, params: Params) -> Response {
    wire::reply(Flavor::TextPlain, refresh(&shared, &params))
}

pub(crate) async fn userinfo(State(shared): State<Arc<Shared>>, params: Params) -> Response {
    wire::reply(Flavor::TextPlain, profile(&shared, &params))
}

pub(crate) async fn auth(State(shared): State<Arc<Shared>>, params: Params) -> Response {
    wire::reply(Flavor::TextPlain, check(&shared, &params))
}

fn exchange(shared: &Shared, params: &Params) -> Result<Value, WxError> {
    let appid = params.require("appid", 41002)?;
    let secret = params.require("secret", 41004)?;
    let code = params.require("code", 41008)?;
    params.grant_type("authorization_code")?;
    let now = shared.clock.now();
    let mut world = shared.world();
    let unionid_for_base = world.authenticate_app(appid, secret)?.unionid_for_base;

    let issued = world
        .oauth_codes
        .get(code)
        .filter(|c| c.appid == appid)
        .ok_or(WxError(40029))?
        .clone();
    if issued.used {
        return Err(WxError(40163));
    }
    if issued.expired(now) {
        return Err(WxError(40029));
    }
    if let Some(record) = world.oauth_codes.get_mut(code) {
        record.used = true;
    }

    let (openid, unionid) = if issued.snapshot {
        // Snapshot-page identities are virtual: never the user's real openid or unionid.
        let (openid, unionid) = world.snapshot_ids(appid, &issued.user);
        (openid, world.unionid(appid, &issued.user).map(|_| unionid))
    } else {
        (
            world.openid(appid, &issued.user),
            world.unionid(appid, &issued.user),
        )
    };
    // Documented: unionid only for snsapi_userinfo (and website logins); base only if configured.
    let unionid = unionid.filter(|_| issued.scope != "snsapi_base" || unionid_for_base);

    let access_token = ids::sns_token();
    let refresh_token = ids::sns_token();
    let grant = world.grants.len();
    world.grants.push(SnsGrant {
        appid: appid.to_owned(),
        user: issued.user,
        scope: issued.scope,
        openid,
        unionid,
        snapshot: issued.snapshot,
        access_token: access_token.clone(),
        refresh_token: refresh_token.clone(),
        refresh_expires: now + REFRESH_TTL,
    });
    world.sns_access.insert(
        access_token,
        SnsAccess {
            grant,
            expires_at: now + ACCESS_TTL,
        },
    );
    world.sns_refresh.insert(refresh_token, grant);
    Ok(token_body(&world, grant))
}

/// The shape shared by the exchange and the refresh.
fn token_body(world: &World, grant: usize) -> Value {
    let Some(g) = world.grants.get(grant) else {
        return WxError(-1).body();
    };
    let mut body = json!({
        "access_token": g.access_token,
        "expires_in": ACCESS_TTL,
        "refresh_token": g.refresh_token,
        "openid": g.openid,
        "scope": g.scope,
    });
    if let Some(unionid) = &g.unionid {
        body["unionid"] = json!(unionid);
    }
    if g.snapshot {
        body["is_snapshotuser"] = json!(1);
    }
    body
}

/// No secret needed. A live access token is kept and extended; an expired one is replaced.
fn refresh(shared: &Shared, params: &Params) -> Result<Value, WxError> {
    let appid = params.require("appid", 41002)?;
    params.grant_type("refresh_token")?;
    let refresh_token = params.require("refresh_token", 41003)?;
    let now = shared.clock.now();
    let mut world = shared.world();
    if !world.apps.contains_key(appid) {
        return Err(WxError(40013));
    }
    let grant = *world.sns_refresh.get(refresh_token).ok_or(WxError(40030))?;
    let current = match world.grants.get(grant) {
        Some(g) if g.appid == appid => {
            if now >= g.refresh_expires {
                return Err(WxError(42002));
            }
            g.access_token.clone()
        }
        _ => return Err(WxError(40030)),
    };
    let live = world
        .sns_access
        .get(&current)
        .is_some_and(|a| now < a.expires_at);
    let token = if live {
        current
    } else {
        let fresh = ids::sns_token();
        if let Some(g) = world.grants.get_mut(grant) {
            g.access_token = fresh.clone();
        }
        fresh
    };
    world.sns_access.insert(
        token,
        SnsAccess {
            grant,
            expires_at: now + ACCESS_TTL,
        },
    );
    Ok(token_body(&world, grant))
}

/// Resolves a user token for userinfo and auth: unknown → `unknown`, expired → 42001, wrong
/// openid → 40003.
fn resolve(world: &World, params: &Params, now: i64, unknown: i64) -> Result<usize, WxError> {
    let token = params.require("access_token", 41001)?;
    let openid = params.require("openid", 41009)?;
    let access = world.sns_access.get(token).ok_or(WxError(unknown))?;
    if now >= access.expires_at {
        return Err(WxError(42001));
    }
    match world.grants.get(access.grant) {
        Some(g) if g.openid == openid => Ok(access.grant),
        _ => Err(WxError(40003)),
    }
}

fn profile(shared: &Shared, params: &Params) -> Result<Value, WxError> {
    let now = shared.clock.now();
    let mut world = shared.world();
    let grant = resolve(&world, params, now, 40001)?;
    let Some(g) = world.grants.get(grant).cloned() else {
        return Err(WxError(40001));
    };
    if g.snapshot || g.scope == "snsapi_base" {
        return Err(WxError(48001));
    }
    let (nickname, avatar) = world
        .users
        .get(&g.user)
        .map(|u| (u.nickname.clone(), u.avatar_id.clone()))
        .unwrap_or_default();
    // Since 2021-10-20 sex and region are always blank.
    let mut body = json!({
        "openid": g.openid,
        "nickname": nickname,
        "sex": 0,
        "province": "",
        "city": "",
        "country": "",
        "headimgurl": format!("https://thirdwx.qlogo.cn/mmopen/vi_32/{avatar}/132"),
        "privilege": [],
    });
    if let Some(unionid) = world.unionid(&g.appid, &g.user) {
        body["unionid"] = json!(unionid);
    }
    Ok(body)
}

fn check(shared: &Shared, params: &Params) -> Result<Value, WxError> {
    let now = shared.clock.now();
    let world = shared.world();
    // The reference documents 40003 for any invalid pair, unknown tokens included.
    resolve(&world, params, now, 40003)?;
    Ok(json!({"errcode": 0, "errmsg": "ok"}))
}
