//! `POST /sms`: the receiving end of the gateway's `webhook` SMS sender (contract.md), standing in
//! for a phone so tests and newcomers can read the code that was "texted".

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::world::{Shared, SmsRecord};

/// The webhook body; extra fields are tolerated, as a real receiver would.
#[derive(Debug, Deserialize)]
struct Incoming {
    phone: String,
    code: String,
    purpose: Option<String>,
    channel: Option<String>,
}

pub(crate) async fn receive(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let incoming: Incoming = match serde_json::from_slice(&body) {
        Ok(incoming) => incoming,
        Err(err) => {
            let error = format!("expected {{\"phone\",\"code\",\"purpose\",\"channel\"}}: {err}");
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"ok": false, "error": error})),
            )
                .into_response();
        }
    };
    let received_at = shared.clock.now();
    tracing::info!(phone = %incoming.phone, "sim: SMS received");
    shared.world().sms.push(SmsRecord {
        phone: incoming.phone,
        code: incoming.code,
        purpose: incoming.purpose,
        channel: incoming.channel,
        received_at,
    });
    Json(json!({"ok": true})).into_response()
}

/// Compares phones in any of the forms a test may write: `+8613800138000`, `8613800138000`,
/// `13800138000`, or ` 8613800138000` (a `+` decoded from a query string as a space).
pub(crate) fn same_phone(a: &str, b: &str) -> bool {
    let canonical = |phone: &str| {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        // An 11-digit number starting with 1 is a mainland mobile without its country code.
        if digits.len() == 11 && digits.starts_with('1') {
            format!("86{digits}")
        } else {
            digits
        }
    };
    let (a, b) = (canonical(a), canonical(b));
    !a.is_empty() && a == b
}

#[cfg(test)]
mod tests {
    use super::same_phone;

    #[test]
    fn phone_forms_compare_equal() {
        let cases = [
            ("+8613800138000", "+8613800138000", true),
            ("+8613800138000", " 8613800138000", true),
            ("+8613800138000", "13800138000", true),
            ("+8613800138000", "+8613900139000", false),
            ("+12025550123", "12025550123", true),
            ("", "", false),
        ];
        for (a, b, expected) in cases {
            assert_eq!(same_phone(a, b), expected, "{a} vs {b}");
        }
    }
}
