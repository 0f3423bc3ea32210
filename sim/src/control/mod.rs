//! The control API under `/_sim/`: how tests and the quick start shape the simulated world.
//! Plain JSON with real HTTP statuses, unlike the WeChat side.

mod codes;
mod oa_page;
mod officialaccount;
mod ops;
mod people;
mod scan;
mod wecom;

use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;

pub(crate) use people::{add_app, AppSpec};
pub(crate) use wecom::{add_corp_app, add_member, CorpAppSpec, MemberSpec};

use crate::world::Shared;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sim/health", get(ops::health))
        .route("/_sim/apps", post(people::apps))
        .route("/_sim/users", post(people::users))
        .route("/_sim/users/{name}/phone", post(people::phone))
        .route("/_sim/users/{name}/flags", post(people::flags))
        .route("/_sim/login_code", post(codes::login_code))
        .route("/_sim/phone_code", post(codes::phone_code))
        .route("/_sim/encrypted_phone", post(codes::encrypted_phone))
        .route("/_sim/identity", get(codes::identity))
        .route("/_sim/next_user", post(codes::next_user))
        .route(
            "/_sim/faults",
            get(ops::list_faults)
                .post(ops::add_fault)
                .delete(ops::clear_faults),
        )
        .route("/_sim/calls", get(ops::calls).delete(ops::reset_calls))
        .route("/_sim/sms", get(ops::sms))
        .route("/_sim/sms/last", get(ops::last_sms))
        .route("/_sim/clock", get(ops::clock))
        .route("/_sim/clock/advance", post(ops::advance_clock))
        .route("/_sim/miniprogram/scan", get(scan::page).post(scan::act))
        .route("/_sim/wxacodes", get(ops::wxa_codes))
        .route("/_sim/qrcodes", get(officialaccount::qr_codes))
        .route("/_sim/jsapi_tickets", get(officialaccount::jsapi_tickets))
        .route(
            "/_sim/officialaccount/scan",
            get(oa_page::page).post(officialaccount::scan),
        )
        .route("/_sim/officialaccount/push", post(officialaccount::push))
        .route("/_sim/wecom/apps", post(wecom::apps))
        .route("/_sim/wecom/members", post(wecom::members))
        .route("/_sim/wecom/next", post(wecom::next))
}

/// A control-API failure: a status and a message naming what is wrong.
#[derive(Debug)]
pub(crate) struct ControlError(StatusCode, String);

impl ControlError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self(StatusCode::BAD_REQUEST, message.into())
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self(StatusCode::NOT_FOUND, message.into())
    }

    fn conflict(message: impl Into<String>) -> Self {
        Self(StatusCode::CONFLICT, message.into())
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

type ControlResult = Result<Response, ControlError>;

/// Parses a JSON body, reporting serde's message (it names the offending field).
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ControlError> {
    serde_json::from_slice(body).map_err(|e| ControlError::bad_request(format!("bad body: {e}")))
}

/// Whether a body was posted by an HTML form rather than as JSON.
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// A form body read into the same struct as the JSON body (string fields only).
fn parse_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, ControlError> {
    let fields: serde_json::Map<String, serde_json::Value> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
        .collect();
    serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| ControlError::bad_request(format!("bad form: {e}")))
}

/// A JSON body, or the same fields posted by one of the simulator's pages.
fn parse_either<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ControlError> {
    if is_form(headers) {
        parse_form(body)
    } else {
        parse(body)
    }
}

/// Text made safe for the simulator's HTML pages.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn ok() -> ControlResult {
    Ok(Json(json!({"ok": true})).into_response())
}

/// Unknown `/_sim/...` paths.
pub(crate) fn unknown(path: &str) -> Response {
    ControlError::not_found(format!("no control endpoint {path}")).into_response()
}
