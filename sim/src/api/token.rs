//! Interface access_tokens: `/cgi-bin/token` and `/cgi-bin/stable_token`, two independent pools,
//! and the check every token-authenticated endpoint runs.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use super::params::{json_object, str_field, Params};
use crate::clock::{beijing_day, minute};
use crate::ids;
use crate::wire::{self, Flavor, WxError};
use crate::world::{InterfaceToken, Shared, World};

/// An interface token lives 7200 s.
pub(crate) const TOKEN_TTL: i64 = 7200;
/// Old and new `/cgi-bin/token` tokens overlap for 5 minutes; a stable token is renewed in its
/// last 5 minutes.
const HANDOVER: i64 = 300;
/// Forced stable refreshes closer together than this do not refresh.
const FORCE_MIN_GAP: i64 = 30;
const FORCE_PER_DAY: u32 = 20;
const STABLE_PER_MINUTE: u32 = 10_000;
const STABLE_PER_DAY: u32 = 500_000;

/// Validates an interface token and returns the appid it belongs to.
pub(crate) fn authenticate(world: &World, token: &str, now: i64) -> Result<String, WxError> {
    let record = world.tokens.get(token).ok_or(WxError(40001))?;
    if now >= record.expires_at {
        return Err(WxError(42001));
    }
    if record.revoked_at.is_some_and(|at| now >= at) {
        return Err(WxError(40001));
    }
    Ok(record.appid.clone())
}

fn mint(world: &mut World, appid: &str, now: i64) -> String {
    let token = ids::interface_token();
    world.tokens.insert(
        token.clone(),
        InterfaceToken {
            appid: appid.to_owned(),
            expires_at: now + TOKEN_TTL,
            revoked_at: None,
        },
    );
    token
}

fn revoke(world: &mut World, token: &str, at: i64) {
    if let Some(record) = world.tokens.get_mut(token) {
        record.revoked_at = Some(record.revoked_at.map_or(at, |earlier| earlier.min(at)));
    }
}

// === /cgi-bin/token ===

pub(crate) async fn token(State(shared): State<Arc<Shared>>, params: Params) -> Response {
    wire::reply(Flavor::Json, issue_plain(&shared, &params))
}

/// Every call mints a token; the previous one keeps working for the hand-over period only.
fn issue_plain(shared: &Shared, params: &Params) -> Result<Value, WxError> {
    let appid = params.require("appid", 41002)?;
    let secret = params.require("secret", 41004)?;
    params.grant_type("client_credential")?;
    let now = shared.clock.now();
    let mut world = shared.world();
    let quota = world.authenticate_app(appid, secret)?.token_daily_quota;
    let day = beijing_day(now);
    if world.counted(appid, "token", day) >= quota {
        return Err(WxError(45009));
    }
    world.count(appid, "token", day);

    let token = mint(&mut world, appid, now);
    if let Some(previous) = world.plain_latest.insert(appid.to_owned(), token.clone()) {
        revoke(&mut world, &previous, now + HANDOVER);
    }
    Ok(json!({"access_token": token, "expires_in": TOKEN_TTL}))
}

// === /cgi-bin/stable_token ===

pub(crate) async fn stable_token(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    wire::reply(Flavor::Json, issue_stable(&shared, &body))
}

/// Any other method than POST.
pub(crate) async fn require_post() -> Response {
    wire::reply(Flavor::Json, Err(WxError(43002)))
}

fn issue_stable(shared: &Shared, body: &[u8]) -> Result<Value, WxError> {
    let body = json_object(body)?;
    let appid = str_field(&body, "appid").ok_or(WxError(41002))?;
    let secret = str_field(&body, "secret").ok_or(WxError(41004))?;
    if str_field(&body, "grant_type") != Some("client_credential") {
        return Err(WxError(40002));
    }
    let force = body
        .get("force_refresh")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let now = shared.clock.now();
    let mut world = shared.world();
    world.authenticate_app(appid, secret)?;

    let (this_minute, today) = (minute(now), beijing_day(now));
    if world.counted(appid, "stable/min", this_minute) >= STABLE_PER_MINUTE {
        return Err(WxError(45011));
    }
    if world.counted(appid, "stable/day", today) >= STABLE_PER_DAY {
        return Err(WxError(45009));
    }
    world.count(appid, "stable/min", this_minute);
    world.count(appid, "stable/day", today);

    let slot = world.stable.entry(appid.to_owned()).or_default().clone();
    let current = slot.current.as_deref().and_then(|token| {
        authenticate(&world, token, now)
            .ok()
            .map(|_| (token.to_owned(), remaining(&world, token, now)))
    });

    if force {
        let too_soon = slot.last_force.is_some_and(|at| now - at < FORCE_MIN_GAP);
        if let (true, Some((token, left))) = (too_soon, &current) {
            // "否则不会刷新": a refresh inside the gap leaves the current token in place.
            return Ok(json!({"access_token": token, "expires_in": left}));
        }
        if world.counted(appid, "stable/force", today) >= FORCE_PER_DAY {
            return Err(WxError(45009));
        }
        world.count(appid, "stable/force", today);
        if let Some((token, _)) = &current {
            revoke(&mut world, token, now);
        }
        let token = mint(&mut world, appid, now);
        let slot = world.stable.entry(appid.to_owned()).or_default();
        slot.current = Some(token.clone());
        slot.last_force = Some(now);
        return Ok(json!({"access_token": token, "expires_in": TOKEN_TTL}));
    }

    if let Some((token, left)) = current.filter(|(_, left)| *left > HANDOVER) {
        return Ok(json!({"access_token": token, "expires_in": left}));
    }
    // In its last 5 minutes (or gone) the token is replaced; the old one lives to its own expiry.
    let token = mint(&mut world, appid, now);
    world.stable.entry(appid.to_owned()).or_default().current = Some(token.clone());
    Ok(json!({"access_token": token, "expires_in": TOKEN_TTL}))
}

fn remaining(world: &World, token: &str, now: i64) -> i64 {
    world
        .tokens
        .get(token)
        .map_or(0, |record| record.expires_at - now)
}
