//! Fault injection and the per-path call counter, applied in front of every WeChat path and `/sms`.
//!
//! Faults queue per path: the first matching fault fires, and one with `times` is dropped once spent,
//! so "-1 once, then a slow answer" is two faults added in that order. An errcode on a WeCom API
//! path is answered in WeCom's shape (errmsg with hint and caller IP).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api;
use crate::wire::{self, Flavor, WxError};
use crate::world::Shared;

/// The SMS webhook's path; it takes faults but is not a WeChat call.
pub(crate) const SMS_PATH: &str = "/sms";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Fault {
    pub(crate) path: String,
    /// Answer this errcode instead of serving (HTTP 500 on `/sms`).
    #[serde(default)]
    pub(crate) errcode: Option<i64>,
    /// How many calls the fault affects; absent means every call.
    #[serde(default)]
    pub(crate) times: Option<u32>,
    /// Answer this much later, to exercise client timeouts. Without `errcode` the request is
    /// served first and the answer held back.
    #[serde(default)]
    pub(crate) delay_ms: Option<u64>,
    /// Answer with something broken instead of WeChat's JSON (nothing is served).
    #[serde(default)]
    pub(crate) broken: Option<Broken>,
}

/// What a broken answer looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Broken {
    /// HTTP 200 and a body that is not JSON (a cut-off answer).
    Malformed,
    /// A proxy's HTML error page (HTTP 502), as WeChat's edge sometimes answers.
    Html,
    /// The connection is dropped before the answer is complete.
    Reset,
    /// A 302 back to the same URL: a client that follows it gets a real answer the second
    /// time (the fault is spent), so following redirects shows as success.
    Redirect,
    /// A well-formed answer padded past 2 MiB: a client that reads it whole gets a real one.
    Huge,
    /// A JSON error (45009) sent as `image/png`: a client that trusts the type alone saves
    /// it as the picture.
    JsonAsImage,
}

#[derive(Debug, Default)]
pub(crate) struct Faults(Vec<Fault>);

impl Faults {
    pub(crate) fn add(&mut self, fault: Fault) {
        self.0.push(fault);
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    pub(crate) fn list(&self) -> &[Fault] {
        &self.0
    }

    /// Fires the first fault registered for `path`, spending one of its `times`.
    fn fire(&mut self, path: &str) -> Option<Fault> {
        let index = self.0.iter().position(|f| f.path == path)?;
        let fault = self.0.get_mut(index)?;
        let fired = fault.clone();
        if let Some(times) = fault.times.as_mut() {
            *times = times.saturating_sub(1);
            if *times == 0 {
                self.0.remove(index);
            }
        }
        Some(fired)
    }
}

/// Middleware: counts WeChat calls, then applies any fault before the real handler runs.
pub(crate) async fn intercept(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    if path == "/_sim" || path.starts_with("/_sim/") {
        return next.run(req).await;
    }
    let fault = {
        let mut world = shared.world();
        if path != SMS_PATH {
            *world.calls.entry(path.clone()).or_default() += 1;
        }
        world.faults.fire(&path)
    };
    let Some(fault) = fault else {
        return next.run(req).await;
    };
    let delay = Duration::from_millis(fault.delay_ms.unwrap_or(0));
    if let Some(broken) = fault.broken {
        tokio::time::sleep(delay).await;
        return match broken {
            Broken::Redirect => {
                let here = req.uri().to_string();
                (StatusCode::FOUND, [(axum::http::header::LOCATION, here)]).into_response()
            }
            Broken::Huge => padded(next.run(req).await).await,
            other => broken_answer(other),
        };
    }
    let Some(errcode) = fault.errcode else {
        // A slow success: WeChat does the work (a code is spent) and only the answer is late, so
        // a client that times out and retries meets 40163, as in production.
        let response = next.run(req).await;
        tokio::time::sleep(delay).await;
        return response;
    };
    tokio::time::sleep(delay).await;
    if path == SMS_PATH {
        let body = Json(json!({"ok": false, "errcode": errcode}));
        return (StatusCode::INTERNAL_SERVER_ERROR, body).into_response();
    }
    if api::wecom::is_api_path(&path) {
        let caller = api::wecom::caller_ip(req.extensions());
        return api::wecom::error_response(errcode, shared.clock.now(), caller);
    }
    wire::respond(Flavor::for_path(&path), &WxError(errcode).body())
}

/// `answer` (a JSON object) with a field of 2 MiB added.
async fn padded(answer: Response) -> Response {
    let (parts, body) = answer.into_parts();
    let bytes = axum::body::to_bytes(body, 1024 * 1024)
        .await
        .unwrap_or_default();
    let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(json!({}));
    value["padding"] = json!("x".repeat(2 * 1024 * 1024));
    let mut out = Json(value).into_response();
    *out.status_mut() = parts.status;
    out
}

fn broken_answer(broken: Broken) -> Response {
    use axum::body::Body;
    use axum::http::header::CONTENT_TYPE;
    match broken {
        Broken::Malformed => (
            StatusCode::OK,
            [(CONTENT_TYPE, "text/plain")],
            r#"{"openid":"oGZUI0egBJY1zhBYw2Kh"#,
        )
            .into_response(),
        Broken::Html => (
            StatusCode::BAD_GATEWAY,
            [(CONTENT_TYPE, "text/html")],
            "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>",
        )
            .into_response(),
        Broken::Reset => {
            // The body fails before its first byte: the server drops the connection mid-answer.
            let failing = futures::stream::once(async {
                Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated reset",
                ))
            });
            (StatusCode::OK, Body::from_stream(failing)).into_response()
        }
        Broken::JsonAsImage => (
            StatusCode::OK,
            [(CONTENT_TYPE, "image/png")],
            WxError(45009).body().to_string(),
        )
            .into_response(),
        // Answered in `intercept`, which has the request.
        Broken::Redirect | Broken::Huge => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(path: &str, errcode: i64, times: Option<u32>) -> Fault {
        Fault {
            path: path.to_owned(),
            errcode: Some(errcode),
            times,
            delay_ms: None,
            broken: None,
        }
    }

    #[test]
    fn faults_fire_in_order_and_are_spent() {
        let mut faults = Faults::default();
        faults.add(fault("/a", -1, Some(2)));
        faults.add(fault("/a", 45011, None));
        let fired: Vec<_> = (0..4)
            .map(|_| faults.fire("/a").and_then(|f| f.errcode))
            .collect();
        assert_eq!(fired, [Some(-1), Some(-1), Some(45011), Some(45011)]);
        assert!(faults.fire("/b").is_none());
    }
}
