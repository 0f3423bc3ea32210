//! Operating the simulator: faults, call counters, received SMS, the clock.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{ok, parse, ControlError, ControlResult};
use crate::api::Params;
use crate::faults::Fault;
use crate::sms::same_phone;
use crate::world::Shared;

pub(crate) async fn health() -> ControlResult {
    ok()
}

/// `POST /_sim/faults`: queue a fault for one path.
pub(crate) async fn add_fault(State(shared): State<Arc<Shared>>, body: Bytes) -> ControlResult {
    let fault: Fault = parse(&body)?;
    if !fault.path.starts_with('/') {
        return Err(ControlError::bad_request("path must start with /"));
    }
    if fault.errcode.is_none() && fault.broken.is_none() && fault.delay_ms.unwrap_or(0) == 0 {
        return Err(ControlError::bad_request(
            "a fault needs an errcode, a broken answer or a delay_ms",
        ));
    }
    if fault.times == Some(0) {
        return Err(ControlError::bad_request(
            "times must be at least 1 (omit it for always)",
        ));
    }
    shared.world().faults.add(fault);
    ok()
}

pub(crate) async fn clear_faults(State(shared): State<Arc<Shared>>) -> ControlResult {
    shared.world().faults.clear();
    ok()
}

pub(crate) async fn list_faults(State(shared): State<Arc<Shared>>) -> ControlResult {
    Ok(Json(shared.world().faults.list().to_vec()).into_response())
}

/// `GET /_sim/calls`: WeChat-side calls per path, errors and faults included.
pub(crate) async fn calls(State(shared): State<Arc<Shared>>) -> ControlResult {
    Ok(Json(shared.world().calls.clone()).into_response())
}

pub(crate) async fn reset_calls(State(shared): State<Arc<Shared>>) -> ControlResult {
    shared.world().calls.clear();
    ok()
}

/// `GET /_sim/sms`: every message received, oldest first.
pub(crate) async fn sms(State(shared): State<Arc<Shared>>) -> ControlResult {
    Ok(Json(shared.world().sms.clone()).into_response())
}

/// `GET /_sim/sms/last?phone=`: the newest code sent to that phone.
pub(crate) async fn last_sms(State(shared): State<Arc<Shared>>, params: Params) -> ControlResult {
    let phone = params
        .get("phone")
        .ok_or_else(|| ControlError::bad_request("phone is required"))?;
    let world = shared.world();
    let last = world
        .sms
        .iter()
        .rev()
        .find(|m| same_phone(&m.phone, phone))
        .ok_or_else(|| ControlError::not_found(format!("no SMS for {}", phone.trim())))?;
    Ok(Json(json!({"code": last.code, "phone": last.phone})).into_response())
}

pub(crate) async fn clock(State(shared): State<Arc<Shared>>) -> ControlResult {
    Ok(Json(json!({"now": shared.clock.now()})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: u64,
}

/// `POST /_sim/clock/advance`: time only moves forward.
pub(crate) async fn advance_clock(State(shared): State<Arc<Shared>>, body: Bytes) -> ControlResult {
    let advance: Advance = parse(&body)?;
    let now = shared.clock.advance(advance.seconds);
    Ok(Json(json!({"now": now})).into_response())
}

/// `GET /_sim/wxacodes`: the mini-program codes made lately, oldest first.
pub(crate) async fn wxa_codes(State(shared): State<Arc<Shared>>) -> ControlResult {
    Ok(Json(shared.world().wxa_codes.clone()).into_response())
}
