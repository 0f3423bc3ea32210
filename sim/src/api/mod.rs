//! The WeChat-side routes: api.weixin.qq.com paths, the open.weixin.qq.com pages, and WeCom's
//! (qyapi.weixin.qq.com and its login pages).

mod followers;
mod jsapi;
mod login;
mod pages;
mod params;
mod phone;
pub(crate) mod qrcode;
mod session;
mod sns;
mod token;
pub(crate) mod wecom;
pub(crate) mod wxacode;

use std::sync::Arc;

use axum::http::Uri;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

pub(crate) use login::JS_CODE_TTL;
pub(crate) use params::Params;
pub(crate) use phone::phone_json;

use crate::wire::{self, Flavor, WxError};
use crate::world::Shared;

/// Routes are case-sensitive, like WeChat's; query-string APIs accept GET and POST.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/sns/jscode2session",
            get(login::jscode2session).post(login::jscode2session),
        )
        .route("/cgi-bin/token", get(token::token).post(token::token))
        .route(
            "/cgi-bin/stable_token",
            post(token::stable_token).fallback(token::require_post),
        )
        .route(
            "/wxa/business/getuserphonenumber",
            post(phone::getuserphonenumber).fallback(token::require_post),
        )
        .route(
            "/wxa/checksession",
            get(session::checksession).post(session::checksession),
        )
        .route(
            "/wxa/resetusersessionkey",
            get(session::resetusersessionkey).post(session::resetusersessionkey),
        )
        .route("/connect/oauth2/authorize", get(pages::authorize))
        .route("/connect/qrconnect", get(pages::qrconnect))
        .route(
            "/sns/oauth2/access_token",
            get(sns::access_token).post(sns::access_token),
        )
        .route(
            "/sns/oauth2/refresh_token",
            get(sns::refresh_token).post(sns::refresh_token),
        )
        .route("/sns/userinfo", get(sns::userinfo).post(sns::userinfo))
        .route("/sns/auth", get(sns::auth).post(sns::auth))
        .route(
            "/wxa/getwxacodeunlimit",
            post(wxacode::getwxacodeunlimit).fallback(token::require_post),
        )
        .route(
            "/cgi-bin/qrcode/create",
            post(qrcode::create).fallback(token::require_post),
        )
        .route("/cgi-bin/showqrcode", get(qrcode::show))
        .route(
            "/cgi-bin/user/info",
            get(followers::user_info).post(followers::user_info),
        )
        .route(
            "/cgi-bin/ticket/getticket",
            get(jsapi::getticket).post(jsapi::getticket),
        )
        .merge(wecom::routes())
}

/// Any path WeChat does not serve, wrong case included.
pub(crate) async fn invalid_url(uri: Uri) -> Response {
    wire::reply(Flavor::for_path(uri.path()), Err(WxError(40066)))
}
