//! The simulated person and an official account: scanning its QR code (follow-to-login), and
//! any push a test needs, both sent to the account's server URL as WeChat sends them.
//!
//! `POST /_sim/officialaccount/scan` `{appid, user, ticket | scene}`: a non-follower starts
//! following (`Event=subscribe`, `EventKey=qrscene_<scene>`), a follower gets `Event=SCAN`
//! (`EventKey=<scene>`). `POST /_sim/officialaccount/push`: any event or a text message, with
//! the envelope under the test's control. `GET /_sim/qrcodes`: the codes made so far.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse, parse_either, ControlError, ControlResult};
use crate::ids;
use crate::push::{self, Content, Envelope, Message, PushError, Tamper, Target};
use crate::world::{App, AppKind, Follow, MessageMode, Shared, World};

/// Where the scan page lives; its form posts come back to it.
pub(crate) const PAGE: &str = "/_sim/officialaccount/scan";

impl From<PushError> for ControlError {
    fn from(err: PushError) -> Self {
        ControlError::bad_request(err.0)
    }
}

/// The official account `appid` and the existing user `user`.
fn account_and_user<'w>(
    world: &'w World,
    appid: &str,
    user: &str,
) -> Result<&'w App, ControlError> {
    let app = world
        .apps
        .get(appid)
        .ok_or_else(|| ControlError::not_found(format!("no app {appid}")))?;
    if app.kind != AppKind::OfficialAccount {
        return Err(ControlError::bad_request(format!(
            "{appid} is not an official account"
        )));
    }
    if !world.users.contains_key(user) {
        return Err(ControlError::not_found(format!("no user {user}")));
    }
    Ok(app)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scan {
    appid: String,
    user: String,
    #[serde(default)]
    ticket: Option<String>,
    /// The newest live code with this scene, when no ticket is given.
    #[serde(default)]
    scene: Option<String>,
    /// Set by the page: answer with the page again, not JSON.
    #[serde(default)]
    page: Option<String>,
}

/// `POST /_sim/officialaccount/scan`.
pub(crate) async fn scan(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> ControlResult {
    let request: Scan = parse_either(&headers, &body)?;
    let from_page = request.page.is_some();
    let outcome = scan_code(&shared, request).await;
    if from_page {
        let shown = match &outcome {
            Ok(report) => report.clone(),
            Err(err) => json!({"error": err.1}),
        };
        shared.world().last_oa_scan = Some(shown);
        return Ok(Redirect::to(PAGE).into_response());
    }
    outcome.map(|report| Json(report).into_response())
}

async fn scan_code(shared: &Shared, request: Scan) -> Result<Value, ControlError> {
    if request.ticket.is_none() && request.scene.is_none() {
        return Err(ControlError::bad_request("give the code's ticket or scene"));
    }
    let now = shared.clock.now();
    let (target, sealed) = {
        let mut world = shared.world();
        let app = account_and_user(&world, &request.appid, &request.user)?;
        let target = Target::of_app(&request.appid, app, None, None)?;
        let code = world
            .live_qr_code(
                &request.appid,
                request.ticket.as_deref(),
                request.scene.as_deref(),
                now,
            )
            .cloned()
            .ok_or_else(|| {
                ControlError::conflict(
                    "no live QR code of this account matches: unknown or expired \
                     (WeChat shows the person an expired page and pushes nothing)",
                )
            })?;
        let following = world.follow(&request.appid, &request.user).is_some();
        let (event, key) = if following {
            ("SCAN", code.scene.clone())
        } else {
            ("subscribe", format!("qrscene_{}", code.scene))
        };
        let message = Message {
            to: ids::original_id(&request.appid),
            from: world.openid(&request.appid, &request.user),
            create_time: now,
            content: Content::Event {
                event: event.to_owned(),
                key: Some(key),
                ticket: Some(code.ticket.clone()),
            },
        };
        let envelope = Envelope {
            timestamp: now,
            nonce: None,
            tamper: None,
        };
        let sealed = push::seal(&target, &message, &envelope)?;
        // The person follows whatever the server answers.
        world.start_following(
            &request.appid,
            &request.user,
            Follow {
                since: now,
                scene: Some(code.scene),
                scene_id: code.scene_id,
            },
        );
        (target, sealed)
    };
    Ok(push::deliver(&target, sealed).await)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PushRequest {
    appid: String,
    user: String,
    /// `subscribe`, `SCAN`, `unsubscribe`, `CLICK`, … (or `text` instead).
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    event_key: Option<String>,
    #[serde(default)]
    ticket: Option<String>,
    /// A text message with this content instead of an event.
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    create_time: Option<i64>,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    mode: Option<MessageMode>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    tamper: Option<Tamper>,
}

/// `POST /_sim/officialaccount/push`.
pub(crate) async fn push(State(shared): State<Arc<Shared>>, body: Bytes) -> ControlResult {
    let request: PushRequest = parse(&body)?;
    let content = match (request.event.clone(), request.text.clone()) {
        (Some(event), None) if !event.is_empty() => Content::Event {
            event,
            key: request.event_key.clone(),
            ticket: request.ticket.clone(),
        },
        (None, Some(text)) => Content::Text(text),
        _ => {
            return Err(ControlError::bad_request(
                "give either a non-empty event or a text",
            ))
        }
    };
    let now = shared.clock.now();
    let (target, sealed) = {
        let mut world = shared.world();
        let app = account_and_user(&world, &request.appid, &request.user)?;
        let target = Target::of_app(&request.appid, app, request.mode, request.url.clone())?;
        let message = Message {
            to: ids::original_id(&request.appid),
            from: world.openid(&request.appid, &request.user),
            create_time: request.create_time.unwrap_or(now),
            content,
        };
        let envelope = Envelope {
            timestamp: request.timestamp.unwrap_or(now),
            nonce: request.nonce.clone(),
            tamper: request.tamper,
        };
        let sealed = push::seal(&target, &message, &envelope)?;
        // A tampered push is a forgery: the person did nothing.
        if request.tamper.is_none() {
            follow_effect(&mut world, &request, now);
        }
        (target, sealed)
    };
    Ok(Json(push::deliver(&target, sealed).await).into_response())
}

/// What a genuine `subscribe` or `unsubscribe` push means for the world.
fn follow_effect(world: &mut World, request: &PushRequest, now: i64) {
    match request.event.as_deref() {
        Some("subscribe") => {
            let code = request.ticket.as_deref().and_then(|ticket| {
                world
                    .qr_codes
                    .iter()
                    .find(|c| c.appid == request.appid && c.ticket == ticket)
                    .cloned()
            });
            let scene = code.as_ref().map(|c| c.scene.clone()).or_else(|| {
                request
                    .event_key
                    .as_deref()
                    .and_then(|key| key.strip_prefix("qrscene_"))
                    .map(str::to_owned)
            });
            let follow = Follow {
                since: now,
                scene,
                scene_id: code.and_then(|c| c.scene_id),
            };
            world.start_following(&request.appid, &request.user, follow);
        }
        Some("unsubscribe") => world.stop_following(&request.appid, &request.user),
        _ => {}
    }
}

/// `GET /_sim/jsapi_tickets`: the JS-SDK tickets issued so far, oldest first.
pub(crate) async fn jsapi_tickets(State(shared): State<Arc<Shared>>) -> ControlResult {
    let world = shared.world();
    let tickets: Vec<Value> = world
        .jsapi_tickets
        .iter()
        .map(|(appid, ticket)| json!({ "appid": appid, "ticket": ticket }))
        .collect();
    Ok(Json(tickets).into_response())
}

/// `GET /_sim/qrcodes`: the official-account codes made so far, oldest first (`expires_at` is
/// null for permanent codes).
pub(crate) async fn qr_codes(State(shared): State<Arc<Shared>>) -> ControlResult {
    let world = shared.world();
    let codes: Vec<Value> = world
        .qr_codes
        .iter()
        .map(|code| {
            json!({
                "appid": code.appid,
                "ticket": code.ticket,
                "scene": code.scene,
                "expires_at": code.expires_at,
            })
        })
        .collect();
    Ok(Json(codes).into_response())
}
