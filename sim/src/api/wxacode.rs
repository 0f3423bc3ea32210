//! `POST /wxa/getwxacodeunlimit`: a mini-program code for a scene. The answer is a real PNG
//! whose text chunks carry the scene, page and AppID (tests read them back, as a phone would
//! read the code); errors are JSON, as WeChat sends them (an SDK that trusts the Content-Type
//! alone saves them as images).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::params::{json_object, str_field, Params};
use super::token::authenticate;
use crate::code_png::{code_png, text_of_png};
use crate::wire::{self, Flavor, WxError};
use crate::world::{AppKind, Shared, WxaCode};

/// Characters a scene may hold (wechat-api.md §11).
const SCENE_CHARS: &str = "!#$&'()*+,/:;=?@-._~";
const MAX_SCENE: usize = 32;
/// Codes the world remembers for the scan page.
const KEPT: usize = 100;

pub(crate) async fn getwxacodeunlimit(
    State(shared): State<Arc<Shared>>,
    params: Params,
    body: Bytes,
) -> Response {
    match make(&shared, &params, &body) {
        Ok(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        Err(e) => wire::reply(Flavor::Json, Err(e)),
    }
}

fn make(shared: &Shared, params: &Params, body: &[u8]) -> Result<Vec<u8>, WxError> {
    let token = params.require("access_token", 41001)?;
    let now = shared.clock.now();
    let mut world = shared.world();
    let appid = authenticate(&world, token, now)?;
    // A form body, or anything not a JSON object, is 47001.
    let body = json_object(body).map_err(|_| WxError(47001))?;
    let scene = str_field(&body, "scene").unwrap_or_default().to_owned();
    if scene.chars().count() > MAX_SCENE {
        return Err(WxError(40169));
    }
    if scene.is_empty()
        || !scene
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || SCENE_CHARS.contains(c))
    {
        return Err(WxError(40129));
    }
    let page = str_field(&body, "page").unwrap_or("").to_owned();
    let check_path = body
        .get("check_path")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let app = world.apps.get(&appid).ok_or(WxError(40013))?;
    if app.kind != AppKind::MiniProgram {
        return Err(WxError(48001));
    }
    let page_ok = page.is_empty() || app.pages.contains(&page);
    if page.starts_with('/') || (check_path && !page_ok) {
        return Err(WxError(41030));
    }
    let png = png_with_scene(&appid, &scene, &page).map_err(|_| WxError(-1))?;
    world.wxa_codes.push_back(WxaCode {
        appid,
        scene,
        page,
        made_at: now,
    });
    while world.wxa_codes.len() > KEPT {
        world.wxa_codes.pop_front();
    }
    Ok(png)
}

/// A code drawn from the scene, with `scene`, `page` and `appid` as text chunks.
pub(crate) fn png_with_scene(
    appid: &str,
    scene: &str,
    page: &str,
) -> Result<Vec<u8>, png::EncodingError> {
    code_png(scene, &[("scene", scene), ("page", page), ("appid", appid)])
}

/// The scene a code from [`png_with_scene`] carries.
pub fn scene_of_png(png_bytes: &[u8]) -> Option<String> {
    text_of_png(png_bytes, "scene")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_carries_its_scene() {
        let png = png_with_scene(
            "wx1",
            "Zx8pQ2mN4vT7kL1aB3cD5eF6gH9jK0sR",
            "pages/login/scan",
        )
        .unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(
            scene_of_png(&png).as_deref(),
            Some("Zx8pQ2mN4vT7kL1aB3cD5eF6gH9jK0sR")
        );
        assert_eq!(scene_of_png(b"{\"errcode\":40001}"), None);
    }
}
