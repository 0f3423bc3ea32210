//! WeCom (企业微信) for self-built apps: the `qyapi.weixin.qq.com` APIs a login needs and the
//! two login pages (wechat-api.md §14). Served at the same base URL as the WeChat side.

mod auth;
mod pages;
mod token;
mod wire;

use std::net::IpAddr;
use std::sync::Arc;

use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

pub(crate) use pages::in_app as in_app_page;
pub(crate) use wire::caller_ip;

use crate::world::Shared;

/// The WeCom API paths: their errors, faults included, take WeCom's errmsg shape.
const API_PATHS: [&str; 3] = [
    "/cgi-bin/gettoken",
    "/cgi-bin/auth/getuserinfo",
    "/cgi-bin/auth/getuserdetail",
];

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/wwlogin/sso/login", get(pages::sso))
        .route(
            "/cgi-bin/gettoken",
            get(token::gettoken).post(token::gettoken),
        )
        .route(
            "/cgi-bin/auth/getuserinfo",
            get(auth::getuserinfo).post(auth::getuserinfo),
        )
        .route(
            "/cgi-bin/auth/getuserdetail",
            post(auth::getuserdetail).fallback(auth::require_post),
        )
}

/// Whether `path` is one of the WeCom APIs served here.
pub(crate) fn is_api_path(path: &str) -> bool {
    API_PATHS.contains(&path)
}

/// A WeCom error answer, for the fault layer.
pub(crate) fn error_response(errcode: i64, now: i64, caller: IpAddr) -> Response {
    wire::respond(&wire::WeComError(errcode).body(now, caller))
}
