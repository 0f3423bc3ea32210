//! The demo upstream's receiving end for wxgate's identity events (`POST /_wxgate/events`): it
//! checks `Wxgate-Signature` as any receiver should (HMAC-SHA256 over `"<t>.<body>"`, compared
//! in constant time, `t` within 5 minutes), prints each event, and shows the last ones at
//! `GET /_wxgate/events`. Written apart from the gateway's signer, as a receiver would be.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const KEEP: usize = 100;
const TOLERANCE_SECS: i64 = 300;

#[derive(Clone)]
struct Receiver {
    secret: Arc<Vec<u8>>,
    seen: Arc<Mutex<VecDeque<Value>>>,
}

pub(crate) fn router(secret: Vec<u8>) -> Router {
    let receiver = Receiver {
        secret: Arc::new(secret),
        seen: Arc::new(Mutex::new(VecDeque::new())),
    };
    Router::new()
        .route("/_wxgate/events", post(receive).get(recent))
        .with_state(receiver)
}

/// Whether `header` (`t=…,v1=…`) signs `body` with `secret` at a time near `now`.
pub(crate) fn signature_ok(secret: &[u8], header: &str, body: &[u8], now: i64) -> bool {
    let mut t = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => tags.push(v.to_owned()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now - t).abs() > TOLERANCE_SECS {
        return false;
    }
    tags.iter().any(|tag| {
        let Some(tag) = decode_hex(tag) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
            return false;
        };
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(&tag).is_ok()
    })
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn now_secs() -> i64 {
    // A receiver checks against its own wall clock, not the simulator's movable one.
    #[allow(clippy::disallowed_methods)]
    let now = SystemTime::now();
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    let signature = headers
        .get("wxgate-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !signature_ok(&r.secret, signature, &body, now_secs()) {
        println!("demo upstream: REJECTED an identity event with a bad or missing signature");
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    println!(
        "demo upstream: identity event {} {} {} (signature ok)",
        event["type"].as_str().unwrap_or("?"),
        event["id"].as_str().unwrap_or("?"),
        event["data"]
    );
    let mut seen = r.seen.lock().unwrap_or_else(|p| p.into_inner());
    if seen.len() == KEEP {
        seen.pop_front();
    }
    seen.push_back(event);
    StatusCode::NO_CONTENT.into_response()
}

async fn recent(State(r): State<Receiver>) -> Response {
    let seen = r.seen.lock().unwrap_or_else(|p| p.into_inner());
    Json(json!({ "events": seen.iter().collect::<Vec<_>>() })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_the_readme_example_and_nothing_else() {
        let body = br#"{"id":"evt_1"}"#;
        let header =
            "t=1796040000,v1=43d53d23322a3442f566a64d3b725aff4f86eeca4147141dffa2a38ad6f84dbc";
        assert!(signature_ok(b"whsec_demo", header, body, 1_796_040_100));
        assert!(!signature_ok(b"whsec_other", header, body, 1_796_040_100));
        assert!(!signature_ok(b"whsec_demo", header, b"{}", 1_796_040_100));
        assert!(!signature_ok(b"whsec_demo", header, body, 1_796_041_000));
        assert!(!signature_ok(b"whsec_demo", "v1=00", body, 1_796_040_000));
    }
}
