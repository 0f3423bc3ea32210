//! Official-account QR codes (wechat-api.md §12.1): `POST /cgi-bin/qrcode/create` and the image
//! at `GET /cgi-bin/showqrcode?ticket=` (served by mp.weixin.qq.com in production, here at the
//! same base URL). The image is a real PNG whose text chunks carry the ticket, as a phone would
//! read it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::params::{json_object, Params};
use super::token::authenticate;
use crate::code_png::{code_png, text_of_png};
use crate::ids;
use crate::wire::{self, Flavor, WxError};
use crate::world::{AppKind, QrCode, Shared};

/// Temporary codes live 60 s unless asked otherwise, 30 days at most.
const DEFAULT_EXPIRE: i64 = 60;
const MAX_EXPIRE: i64 = 2_592_000;
const MAX_SCENE_STR: usize = 64;
/// `QR_LIMIT_SCENE` ids are 1..=100000; temporary `QR_SCENE` ids any positive 32-bit number.
const MAX_LIMIT_SCENE_ID: u64 = 100_000;
const MAX_SCENE_ID: u64 = u32::MAX as u64;

pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    params: Params,
    body: Bytes,
) -> Response {
    wire::reply(Flavor::Json, make(&shared, &params, &body))
}

/// What `action_name` asks for.
struct Action {
    permanent: bool,
    /// `scene_id` codes (`QR_SCENE`, `QR_LIMIT_SCENE`) rather than `scene_str` ones.
    numeric: bool,
}

fn action(name: Option<&str>) -> Result<Action, WxError> {
    let (permanent, numeric) = match name {
        Some("QR_SCENE") => (false, true),
        Some("QR_STR_SCENE") => (false, false),
        Some("QR_LIMIT_SCENE") => (true, true),
        Some("QR_LIMIT_STR_SCENE") => (true, false),
        _ => return Err(WxError(40097)),
    };
    Ok(Action { permanent, numeric })
}

/// The scene as the push's EventKey will carry it, and its id for numeric codes.
fn scene(body: &Map<String, Value>, action: &Action) -> Result<(String, Option<u64>), WxError> {
    let scene = body
        .get("action_info")
        .and_then(|info| info.get("scene"))
        .ok_or(WxError(40097))?;
    if action.numeric {
        let max = if action.permanent {
            MAX_LIMIT_SCENE_ID
        } else {
            MAX_SCENE_ID
        };
        let id = scene
            .get("scene_id")
            .and_then(Value::as_u64)
            .filter(|id| (1..=max).contains(id))
            .ok_or(WxError(40097))?;
        return Ok((id.to_string(), Some(id)));
    }
    let text = scene
        .get("scene_str")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.chars().count() <= MAX_SCENE_STR)
        .ok_or(WxError(40097))?;
    Ok((text.to_owned(), None))
}

/// Missing means the default; larger than 30 days is capped; anything else is invalid.
fn expire_seconds(body: &Map<String, Value>) -> Result<i64, WxError> {
    match body.get("expire_seconds") {
        None | Some(Value::Null) => Ok(DEFAULT_EXPIRE),
        Some(value) => value
            .as_i64()
            .filter(|s| *s > 0)
            .map(|s| s.min(MAX_EXPIRE))
            .ok_or(WxError(40097)),
    }
}

fn make(shared: &Shared, params: &Params, body: &[u8]) -> Result<Value, WxError> {
    let token = params.require("access_token", 41001)?;
    let now = shared.clock.now();
    let mut world = shared.world();
    let appid = authenticate(&world, token, now)?;
    let app = world.apps.get(&appid).ok_or(WxError(40013))?;
    // The API is granted to service accounts (服务号) only.
    if app.kind != AppKind::OfficialAccount || !app.official.service_account {
        return Err(WxError(48001));
    }
    let body = json_object(body).map_err(|_| WxError(47001))?;
    let action = action(body.get("action_name").and_then(Value::as_str))?;
    let (scene, scene_id) = scene(&body, &action)?;
    let ticket = ids::qr_ticket();
    let url = format!("http://weixin.qq.com/q/{}", ids::qr_url_id());
    let mut answer = json!({"ticket": ticket, "url": url});
    let expires_at = if action.permanent {
        None
    } else {
        let seconds = expire_seconds(&body)?;
        answer["expire_seconds"] = json!(seconds);
        Some(now + seconds)
    };
    world.add_qr_code(QrCode {
        appid,
        ticket,
        scene,
        scene_id,
        expires_at,
    });
    Ok(answer)
}

/// `GET /cgi-bin/showqrcode?ticket=`: the image of a live code, a bare 404 otherwise.
pub(crate) async fn show(State(shared): State<Arc<Shared>>, params: Params) -> Response {
    let now = shared.clock.now();
    let code = params.get("ticket").and_then(|ticket| {
        let world = shared.world();
        world
            .qr_codes
            .iter()
            .find(|code| code.ticket == ticket && code.live(now))
            .cloned()
    });
    let Some(code) = code else {
        return (
            StatusCode::NOT_FOUND,
            "404 Not Found: unknown or expired ticket",
        )
            .into_response();
    };
    match png_with_ticket(&code) {
        Ok(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot draw the code").into_response(),
    }
}

fn png_with_ticket(code: &QrCode) -> Result<Vec<u8>, png::EncodingError> {
    code_png(
        &code.ticket,
        &[("ticket", &code.ticket), ("appid", &code.appid)],
    )
}

/// The ticket a code from `showqrcode` carries.
pub(crate) fn ticket_of_png(png_bytes: &[u8]) -> Option<String> {
    text_of_png(png_bytes, "ticket")
}
