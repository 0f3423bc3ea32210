//! The demo upstream: answers every request with what it received, so a newcomer sees exactly the
//! identity headers the gateway gives their backend. Each `set_cookie` query parameter becomes a
//! `Set-Cookie` of its answer, as a misbehaving backend would send.

use std::collections::BTreeMap;

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;

/// Request bodies are read and dropped; past this size the rest is left to the connection.
const MAX_DRAIN: usize = 16 * 1024 * 1024;

pub(crate) fn router() -> Router {
    Router::new().fallback(echo)
}

async fn echo(request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // Draining keeps keep-alive connections usable; the content does not matter.
    let _ = to_bytes(Body::new(body), MAX_DRAIN).await;

    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let query = parts.uri.query().unwrap_or("");
    let mut response = Json(json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": query,
        "headers": headers,
    }))
    .into_response();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name == "set_cookie" {
            if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
                response
                    .headers_mut()
                    .append(axum::http::header::SET_COOKIE, value);
            }
        }
    }
    response
}
